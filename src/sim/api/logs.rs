//! The `pods/log` subresource as the API server and kubelet serve it: the container
//! named (or the pod's only one), the current or `previous` run, `tailLines`,
//! `sinceSeconds`/`sinceTime`, `timestamps`, `limitBytes`, and `follow` streaming new
//! lines as virtual time passes until the container stops — with the real servers'
//! errors, word for word, when there is nothing to read.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use k8s_openapi::api::core::v1::Pod;
use tokio::sync::mpsc;

use super::status::{ApiError, ApiResult};
use super::{App, Target, channel_body};
use crate::sim::world::logs::{self, Line, Run, Select, Which};

/// How often a follow looks for new lines (real time).
const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// The options of a log request (`PodLogOptions` as query parameters).
#[derive(Debug, Default)]
struct Options {
    container: Option<String>,
    previous: bool,
    follow: bool,
    timestamps: bool,
    tail_lines: Option<i64>,
    since_seconds: Option<i64>,
    since_time: Option<jiff::Timestamp>,
    limit_bytes: Option<i64>,
}

fn options(raw: &str) -> ApiResult<Options> {
    let mut o = Options::default();
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        let flag = v == "true" || v == "1";
        let int = |name: &str| {
            v.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("{name}: Invalid value: {v:?}: must be an integer")))
        };
        match k.as_ref() {
            "container" => o.container = Some(v.to_string()).filter(|c| !c.is_empty()),
            "previous" => o.previous = flag,
            "follow" => o.follow = flag,
            "timestamps" => o.timestamps = flag,
            "tailLines" => o.tail_lines = Some(int("tailLines")?),
            "sinceSeconds" => o.since_seconds = Some(int("sinceSeconds")?),
            "limitBytes" => o.limit_bytes = Some(int("limitBytes")?),
            "sinceTime" => {
                o.since_time = Some(v.parse().map_err(|_| {
                    ApiError::bad_request(format!("sinceTime: Invalid value: {v:?}: must be an RFC 3339 time"))
                })?)
            }
            _ => {}
        }
    }
    let invalid = |m: String| ApiError::invalid("PodLogOptions", "", m);
    if o.since_seconds.is_some() && o.since_time.is_some() {
        return Err(invalid(
            "at most one of sinceTime or sinceSeconds may be specified".into(),
        ));
    }
    if let Some(s) = o.since_seconds
        && s < 1
    {
        return Err(invalid(format!(
            "sinceSeconds: Invalid value: {s}: must be greater than 0"
        )));
    }
    if let Some(t) = o.tail_lines
        && t < 0
    {
        return Err(invalid(format!(
            "tailLines: Invalid value: {t}: must be greater than or equal to 0"
        )));
    }
    if let Some(b) = o.limit_bytes
        && b < 1
    {
        return Err(invalid(format!(
            "limitBytes: Invalid value: {b}: must be greater than 0"
        )));
    }
    Ok(o)
}

/// The container a request reads: the one named (it must be the pod's), or the
/// pod's only container.
fn container_of(pod: &Pod, asked: Option<&str>) -> ApiResult<String> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let spec = pod.spec.as_ref();
    let containers: Vec<&str> = spec
        .map(|s| s.containers.iter().map(|c| c.name.as_str()).collect())
        .unwrap_or_default();
    let all: Vec<&str> = spec
        .map(|s| {
            s.init_containers
                .iter()
                .flatten()
                .map(|c| c.name.as_str())
                .chain(containers.iter().copied())
                .collect()
        })
        .unwrap_or_default();
    match asked {
        Some(c) if all.contains(&c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {name}"
        ))),
        None => match containers.as_slice() {
            [one] => Ok(one.to_string()),
            [] => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}"
            ))),
            _ => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                all.join(" ")
            ))),
        },
    }
}

fn text_response(body: axum::body::Body) -> Response {
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}

/// `GET …/pods/NAME/log`.
pub fn serve(app: &Arc<App>, raw_query: &str, t: &Target) -> ApiResult<Response> {
    let o = options(raw_query)?;
    let (run, lines, now) = {
        let w = app.world.lock();
        let pod = w
            .pods
            .get(&t.key())
            .cloned()
            .ok_or_else(|| ApiError::not_found("pods", t.name.as_deref().unwrap_or_default()))?;
        let container = container_of(&pod, o.container.as_deref())?;
        if pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_none_or(str::is_empty)
        {
            // a pod on no node has no kubelet to ask: an empty answer
            return Ok(text_response(axum::body::Body::empty()));
        }
        let which = if o.previous { Which::Previous } else { Which::Current };
        let run = logs::run_of(&pod, &container, which).map_err(ApiError::bad_request)?;
        let lines = logs::lines(&run, w.now);
        (run, lines, w.now)
    };
    let since = o.since_time.or_else(|| {
        o.since_seconds
            .map(|s| now.checked_sub(jiff::SignedDuration::from_secs(s)).unwrap_or(now))
    });
    let select = Select {
        since,
        tail: o.tail_lines.map(|n| n as usize),
        limit_bytes: o.limit_bytes.map(|n| n as usize),
        timestamps: o.timestamps,
    };
    let first = logs::render(&lines, &select);
    if !o.follow || run.ended.is_some() {
        return Ok(text_response(axum::body::Body::from(first)));
    }
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let last = lines.last().map(|l| l.at).unwrap_or(run.started);
    let pod_key = t.key();
    tokio::spawn(follow(app.clone(), pod_key, run, last, first, select, tx));
    Ok(text_response(channel_body(rx)))
}

/// Sends what was already written, then each new line of the run as it is written,
/// until the run ends (its last lines sent), the pod goes, or the client leaves.
async fn follow(
    app: Arc<App>,
    pod_key: String,
    run: Run,
    mut last: jiff::Timestamp,
    first: String,
    select: Select,
    tx: mpsc::Sender<Bytes>,
) {
    let mut budget = select.limit_bytes.map(|l| l.saturating_sub(first.len()));
    if !first.is_empty() && tx.send(Bytes::from(first)).await.is_err() {
        return;
    }
    let each = Select {
        limit_bytes: None,
        tail: None,
        since: None,
        timestamps: select.timestamps,
    };
    loop {
        if budget == Some(0) {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_POLL) => {}
            _ = tx.closed() => return,
        }
        let (fresh, done): (Vec<Line>, bool) = {
            let w = app.world.lock();
            match w.pods.get(&pod_key).cloned() {
                None => (Vec::new(), true),
                Some(pod) => {
                    // the same run, still going or just ended
                    let now_run = [Which::Current, Which::Previous]
                        .into_iter()
                        .filter_map(|which| logs::run_of(&pod, &run.container, which).ok())
                        .find(|r| r.id == run.id);
                    match now_run {
                        None => (Vec::new(), true),
                        Some(r) => {
                            let done = r.ended.is_some();
                            let fresh = logs::lines_between(&r, Some(last), w.now);
                            (fresh, done)
                        }
                    }
                }
            }
        };
        if let Some(l) = fresh.last() {
            last = l.at;
        }
        let mut text = logs::render(&fresh, &each);
        if let Some(b) = budget.as_mut() {
            if text.len() > *b {
                let mut cut = *b;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
            }
            *b -= text.len();
        }
        if !text.is_empty() && tx.send(Bytes::from(text)).await.is_err() {
            return;
        }
        if done {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(containers: &[&str]) -> Pod {
        let cs: Vec<_> = containers.iter().map(|c| json!({"name": c})).collect();
        serde_json::from_value(json!({"metadata": {"name": "web-0"}, "spec": {"containers": cs}})).unwrap()
    }

    #[test]
    fn the_container_is_named_or_the_only_one() {
        assert_eq!(container_of(&pod(&["web"]), None).unwrap(), "web");
        let e = container_of(&pod(&["web", "proxy"]), None).unwrap_err();
        assert_eq!(
            e.message,
            "a container name must be specified for pod web-0, choose one of: [web proxy]"
        );
        assert_eq!(e.code, StatusCode::BAD_REQUEST);
        let e = container_of(&pod(&["web"]), Some("db")).unwrap_err();
        assert_eq!(e.message, "container db is not valid for pod web-0");
        assert_eq!(container_of(&pod(&["web", "proxy"]), Some("proxy")).unwrap(), "proxy");
    }

    #[test]
    fn options_are_checked_like_the_api_server() {
        let o = options("container=web&previous=true&tailLines=5&timestamps=true&follow=1").unwrap();
        assert_eq!(o.container.as_deref(), Some("web"));
        assert!(o.previous && o.follow && o.timestamps);
        assert_eq!(o.tail_lines, Some(5));
        assert!(options("sinceSeconds=0").is_err());
        assert!(options("tailLines=-1").is_err());
        assert!(options("sinceSeconds=5&sinceTime=2026-01-01T00:00:00Z").is_err());
        assert!(options("sinceTime=2026-01-01T00:00:00Z").unwrap().since_time.is_some());
    }
}
