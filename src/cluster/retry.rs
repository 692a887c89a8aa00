//! Transient answers of the API server retried before anyone sees them: a request
//! answered 500, 502, 503 or 504, or 429 (too many requests), is sent again after a
//! jittered, doubling backoff (honouring `Retry-After`), at most [`Retries::tries`]
//! times in all. Only what a retry cannot change its meaning is retried:
//!
//! - reads (`GET`, `HEAD`) and the idempotent writes (`PUT`, `PATCH`, `DELETE`) on
//!   any of those answers;
//! - a `POST` only when it creates nothing twice: an eviction on a 5xx (evicting a
//!   pod twice evicts it once; a gone pod is a `404`), and the reviews that only ask
//!   (`selfsubjectreviews`, `selfsubjectaccessreviews`); other creates are never
//!   sent again;
//! - never an eviction's `429`: that is a PodDisruptionBudget refusing it, which the
//!   drain shows the operator as a held pod.
//!
//! An answer still failing after the last try reaches the caller with its `Status`
//! message saying so ("… (tried 5 times over 7s)").

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use kube::client::Body;
use rand::Rng;
use tokio::sync::Mutex;
use tower::{BoxError, Service};

/// The boxed body kube's client stack answers with.
type DynBody = Box<kube::client::DynBody>;
type Inner = tower::util::BoxService<Request<Body>, Response<DynBody>, BoxError>;

/// How often and how long to retry.
#[derive(Clone, Copy, Debug)]
pub struct Retries {
    /// Attempts in all, the first included.
    pub tries: u32,
    /// The first wait; each next one doubles (with jitter: between half and all of it).
    pub first_wait: Duration,
    /// No single wait is longer, `Retry-After` included.
    pub max_wait: Duration,
}

impl Default for Retries {
    /// 5 tries over at most 7.5 s of waits (0.5, 1, 2 and 4 s, each jittered down to half).
    fn default() -> Self {
        Retries {
            tries: 5,
            first_wait: Duration::from_millis(500),
            max_wait: Duration::from_secs(4),
        }
    }
}

impl Retries {
    /// The wait before try `n + 1` after `n` failed ones, `Retry-After` (seconds) first.
    fn wait(&self, n: u32, retry_after: Option<u64>) -> Duration {
        if let Some(s) = retry_after {
            return Duration::from_secs(s).min(self.max_wait);
        }
        let full = self
            .first_wait
            .saturating_mul(1u32 << n.saturating_sub(1).min(16))
            .min(self.max_wait);
        let half = full / 2;
        half + full.saturating_sub(half).mul_f64(jitter())
    }
}

/// A number in [0, 1), different for each wait.
fn jitter() -> f64 {
    use rand::SeedableRng;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    rand::rngs::SmallRng::seed_from_u64(seed).random()
}

/// Whether an answer of `status` to `method` on `path` may be retried.
pub fn retryable(method: &Method, path: &str, status: StatusCode) -> bool {
    let server = matches!(status.as_u16(), 500 | 502 | 503 | 504);
    let throttled = status == StatusCode::TOO_MANY_REQUESTS;
    if !server && !throttled {
        return false;
    }
    let eviction = path.ends_with("/eviction");
    match *method {
        Method::GET | Method::HEAD | Method::PUT | Method::PATCH | Method::DELETE => true,
        Method::POST if eviction => server,
        Method::POST => path.ends_with("/selfsubjectreviews") || path.ends_with("/selfsubjectaccessreviews"),
        _ => false,
    }
}

/// The client stack with retries in front of it: see the module's documentation.
pub struct Retrying {
    inner: Arc<Mutex<Inner>>,
    retries: Retries,
}

impl Retrying {
    pub fn new(inner: Inner, retries: Retries) -> Self {
        Retrying {
            inner: Arc::new(Mutex::new(inner)),
            retries,
        }
    }
}

async fn send(inner: &Mutex<Inner>, req: Request<Body>) -> Result<Response<DynBody>, BoxError> {
    let fut = {
        let mut s = inner.lock().await;
        std::future::poll_fn(|cx| s.poll_ready(cx)).await?;
        s.call(req)
    };
    fut.await
}

/// A copy of `req` to send again, when its body can be copied.
fn copy(req: &Request<Body>) -> Option<Request<Body>> {
    let mut r = Request::new(req.body().try_clone()?);
    *r.method_mut() = req.method().clone();
    *r.uri_mut() = req.uri().clone();
    *r.version_mut() = req.version();
    *r.headers_mut() = req.headers().clone();
    *r.extensions_mut() = req.extensions().clone();
    Some(r)
}

fn retry_after(r: &Response<DynBody>) -> Option<u64> {
    r.headers()
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The answer that ended the tries, its `Status` message saying how many there were.
async fn tell_tries(r: Response<DynBody>, tries: u32, took: Duration) -> Response<DynBody> {
    let (mut parts, body) = r.into_parts();
    let bytes = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let note = format!(" (tried {tries} times over {}s)", took.as_secs_f64().round() as u64);
    let bytes = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(mut v) if v.get("message").is_some_and(|m| m.is_string()) => {
            if let Some(serde_json::Value::String(m)) = v.get_mut("message") {
                m.push_str(&note);
            }
            Bytes::from(serde_json::to_vec(&v).unwrap_or_else(|_| bytes.to_vec()))
        }
        _ => bytes,
    };
    parts.headers.remove(http::header::CONTENT_LENGTH);
    let body: DynBody = Box::new(http_body_util::Full::new(bytes).map_err(|never| match never {}));
    Response::from_parts(parts, body)
}

impl Service<Request<Body>> for Retrying {
    type Response = Response<DynBody>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<DynBody>, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let inner = self.inner.clone();
        let retries = self.retries;
        Box::pin(async move {
            let path = req.uri().path().to_string();
            let method = req.method().clone();
            let started = Instant::now();
            let mut next = Some(req);
            let mut tries = 0;
            loop {
                let Some(req) = next.take() else {
                    return Err("a request to send again was lost".into());
                };
                let again = copy(&req);
                tries += 1;
                let answer = send(&inner, req).await?;
                if !retryable(&method, &path, answer.status()) {
                    return Ok(answer);
                }
                if tries >= retries.tries || again.is_none() {
                    return Ok(if tries > 1 {
                        tell_tries(answer, tries, started.elapsed()).await
                    } else {
                        answer
                    });
                }
                let wait = retries.wait(tries, retry_after(&answer));
                tracing::debug!(%method, %path, status = answer.status().as_u16(), tries, ?wait, "retrying");
                drop(answer);
                tokio::time::sleep(wait).await;
                next = again;
            }
        })
    }
}

/// A client for `config` whose transient answers are retried (and `config`'s own
/// retrying off: it retries an eviction's `429`, the budget's answer, for minutes).
pub fn client(
    mut config: kube::Config,
    retries: Retries,
    clock: super::ServerClock,
) -> Result<kube::Client, kube::Error> {
    config.default_retry = false;
    let builder = kube::client::ClientBuilder::try_from(config)?;
    Ok(builder
        .with_layer(&tower::layer::layer_fn(move |inner| {
            tower::util::BoxService::new(super::clock::Dated::new(inner, clock.clone()))
        }))
        .with_layer(&tower::layer::layer_fn(|inner| Retrying::new(inner, retries)))
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_retried() {
        let s503 = StatusCode::SERVICE_UNAVAILABLE;
        let s429 = StatusCode::TOO_MANY_REQUESTS;
        let evict = "/api/v1/namespaces/a/pods/p/eviction";
        assert!(retryable(&Method::GET, "/api/v1/pods", s503));
        assert!(retryable(&Method::GET, "/api/v1/pods", s429));
        assert!(retryable(
            &Method::PATCH,
            "/api/v1/nodes/n",
            StatusCode::INTERNAL_SERVER_ERROR
        ));
        assert!(retryable(&Method::POST, evict, s503));
        assert!(
            !retryable(&Method::POST, evict, s429),
            "a budget's refusal is an answer"
        );
        assert!(
            !retryable(&Method::POST, "/api/v1/namespaces/a/pods", s503),
            "a create is not sent twice"
        );
        assert!(!retryable(&Method::GET, "/api/v1/pods", StatusCode::NOT_FOUND));
        assert!(!retryable(&Method::GET, "/api/v1/pods", StatusCode::UNAUTHORIZED));
    }

    #[test]
    fn waits_double_with_jitter_and_stay_bounded() {
        let r = Retries::default();
        for n in 1..=4 {
            let full = Duration::from_millis(500 * (1 << (n - 1)));
            let w = r.wait(n, None);
            assert!(w >= full / 2 && w <= full, "try {n}: {w:?}");
        }
        assert_eq!(r.wait(1, Some(2)), Duration::from_secs(2));
        assert_eq!(r.wait(1, Some(600)), r.max_wait, "Retry-After is capped");
        let total: Duration = (1..r.tries).map(|n| r.wait(n, None)).sum();
        assert!(total <= Duration::from_millis(7500), "{total:?}");
    }
}
