//! The one HTTP client the sinks share: hyper's pooled client over rustls (ring), with
//! the operating system's trust store through the platform verifier — the same TLS
//! setup kube uses for clusters whose kubeconfig names no CA. A time limit per request,
//! answers read up to a size limit, and the words a sink needs to decide what to do
//! next: delivered, wait and retry (with the service's `Retry-After`), or give up.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER, USER_AGENT};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Answers longer than this are cut (no service we call sends more than a few hundred bytes).
const MAX_ANSWER: usize = 64 * 1024;
/// A `Retry-After` longer than this is taken as this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// The request can never succeed as it is (bad token, unknown channel, payload refused).
    Never,
    /// A transient failure: back off (exponentially, with jitter) and try again.
    Backoff,
    /// The service asked us to wait this long (HTTP 429 or Slack's `ratelimited`, or a
    /// 503 with `Retry-After`). Does not count as an attempt.
    After(Duration),
}

/// A failed attempt: what went wrong (no secrets in it) and what to do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub retry: Retry,
}

impl Failure {
    pub fn new(message: impl Into<String>, retry: Retry) -> Failure {
        Failure {
            message: message.into(),
            retry,
        }
    }
}

/// A service's answer.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub retry_after: Option<Duration>,
    /// The body as text (lossy), cut at 64 KiB.
    pub body: String,
}

impl Answer {
    /// What a non-2xx status means for retrying, per HTTP: 408, 425, 429 and 5xx are
    /// transient (429 and 503 honour `Retry-After`); every other 4xx is final.
    pub fn retry(&self) -> Retry {
        let s = self.status.as_u16();
        match (s, self.retry_after) {
            (429, Some(d)) | (503, Some(d)) => Retry::After(d),
            // A 429 without a Retry-After: wait one second, as Slack's docs suggest for bursts.
            (429, None) => Retry::After(Duration::from_secs(1)),
            (408 | 425, _) => Retry::Backoff,
            (500..=599, _) => Retry::Backoff,
            _ => Retry::Never,
        }
    }

    /// The body's first line, trimmed and cut to `max` characters, for an error message.
    pub fn snippet(&self, max: usize) -> String {
        let line = self.body.trim();
        let mut out: String = line.chars().take(max).collect();
        if line.chars().count() > max {
            out.push('…');
        }
        out
    }
}

/// The shared client.
#[derive(Clone, Debug)]
pub struct Http {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
    /// Why HTTPS cannot work on this machine (no CA certificates found), if so: plain
    /// HTTP to this machine still does, and each HTTPS request says why it cannot.
    tls_unavailable: Option<String>,
}

impl Http {
    /// A client whose requests each get `timeout` (connect, send and read the answer).
    pub fn new(timeout: Duration) -> Result<Http, String> {
        use rustls_platform_verifier::BuilderVerifierExt;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = || {
            rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS setup: {e}"))
        };
        let (tls, tls_unavailable) = match builder()?.with_platform_verifier() {
            Ok(b) => (b.with_no_client_auth(), None),
            Err(e) => (
                builder()?
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
                Some(format!(
                    "HTTPS is not available: the system's trust store could not be read ({e}); install the CA certificates (the ca-certificates package)"
                )),
            ),
        };
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(Http {
            client,
            timeout,
            tls_unavailable,
        })
    }

    /// POSTs `body`. Errors say what failed without the URL's path or query (which may
    /// be the secret); the caller adds which sink it was.
    pub async fn post(
        &self,
        url: &str,
        content_type: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Answer, Failure> {
        let shown = super::secret::redact_url(url);
        if let Some(why) = &self.tls_unavailable
            && url.starts_with("https:")
        {
            return Err(Failure::new(format!("POST {shown}: {why}"), Retry::Never));
        }
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(url)
            .header(CONTENT_TYPE, content_type)
            .header(USER_AGENT, concat!("upshift/", env!("CARGO_PKG_VERSION")));
        for (name, value) in headers {
            let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) else {
                return Err(Failure::new(format!("header {name} is not valid"), Retry::Never));
            };
            req = req.header(n, v);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| Failure::new(format!("{shown} is not a valid URL"), Retry::Never))?;
        let exchange = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| Failure::new(format!("POST {shown}: {}", error_chain(&e)), Retry::Backoff))?;
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            let body = match Limited::new(resp.into_body(), MAX_ANSWER).collect().await {
                Ok(b) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
                Err(e) => format!("(answer unreadable: {e})"),
            };
            Ok(Answer {
                status,
                retry_after,
                body,
            })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(Failure::new(
                format!("POST {shown}: no answer within {} s", self.timeout.as_secs()),
                Retry::Backoff,
            )),
        }
    }
}

/// An error and its causes on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cause = c.source();
    }
    out
}

/// `Retry-After: 2` or `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT` (RFC 9110 §10.2.3),
/// as a wait from `now`, at most [`MAX_RETRY_AFTER`]. A date in the past is no wait.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else if let Ok(secs) = value.parse::<f64>() {
        // Not in the RFC, but some services send fractions.
        if !secs.is_finite() || secs < 0.0 {
            return None;
        }
        Duration::from_secs_f64(secs.min(MAX_RETRY_AFTER.as_secs_f64()))
    } else {
        let when = httpdate::parse_http_date(value).ok()?;
        when.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").expect("date");
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("1.5", now), Some(Duration::from_millis(1500)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("86400", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    fn answer(status: u16, retry_after: Option<u64>) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).expect("status"),
            retry_after: retry_after.map(Duration::from_secs),
            body: String::new(),
        }
    }

    #[test]
    fn statuses_decide_whether_to_retry() {
        assert_eq!(answer(429, Some(2)).retry(), Retry::After(Duration::from_secs(2)));
        assert_eq!(answer(429, None).retry(), Retry::After(Duration::from_secs(1)));
        assert_eq!(answer(503, Some(7)).retry(), Retry::After(Duration::from_secs(7)));
        assert_eq!(answer(502, None).retry(), Retry::Backoff);
        assert_eq!(answer(408, None).retry(), Retry::Backoff);
        assert_eq!(answer(404, None).retry(), Retry::Never);
        assert_eq!(answer(413, None).retry(), Retry::Never);
    }

    #[tokio::test]
    async fn a_refused_connection_is_transient_and_names_no_path() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let http = Http::new(Duration::from_secs(5)).expect("client");
        let err = http
            .post(
                &format!("http://127.0.0.1:{port}/hook/SECRET"),
                "application/json",
                &[],
                b"{}".to_vec(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.retry, Retry::Backoff);
        assert!(!err.message.contains("SECRET"), "{}", err.message);
        assert!(err.message.contains(&format!("127.0.0.1:{port}")), "{}", err.message);
    }
}
