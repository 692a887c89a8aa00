//! Fault injection on the Kubernetes API (`/sim/faults`, a scenario's `apiFaults:`):
//! for each request, whether it waits, is answered with a 5xx, or — a write that
//! succeeded — loses its reply to a closed connection. Decisions come from the seed,
//! the rule and how many requests of the same verb and resource the rule has seen,
//! so a run repeats whatever else runs beside it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use super::status::ApiError;
use crate::sim::scenario::api_faults::{ApiFaults, WRITES};

/// What was injected so far.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Injected {
    pub errors: u64,
    pub dropped_replies: u64,
    pub delayed: u64,
}

/// The faults in force and the state their decisions need.
#[derive(Default)]
pub struct FaultState {
    config: ApiFaults,
    /// (kind, rule, verb, resource) → matching requests seen.
    seen: HashMap<(u8, usize, String, String), u64>,
    pub injected: Injected,
}

/// What happens to one request.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Decision {
    pub delay: Option<Duration>,
    pub error: Option<u16>,
    /// If the request writes and succeeds, its reply is dropped.
    pub drop_reply: bool,
}

fn matches(verbs: &[String], resources: &[String], verb: &str, resource: &str) -> bool {
    (verbs.is_empty() || verbs.iter().any(|v| v == verb))
        && (resources.is_empty() || resources.iter().any(|r| r == resource))
}

/// A number in [0, 1) from the seed and what identifies a decision (splitmix64).
fn draw(seed: u64, kind: u8, rule: usize, verb: &str, resource: &str, n: u64) -> f64 {
    let mut h = seed ^ 0x9e37_79b9_7f4a_7c15;
    for part in [
        u64::from(kind),
        rule as u64,
        u64::from(crate::sim::world::fnv(verb.as_bytes())),
        u64::from(crate::sim::world::fnv(resource.as_bytes())),
        n,
    ] {
        h = h.wrapping_add(part).wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        h = z ^ (z >> 31);
    }
    (h >> 11) as f64 / (1u64 << 53) as f64
}

impl FaultState {
    pub fn new(config: ApiFaults) -> Self {
        FaultState {
            config,
            ..Default::default()
        }
    }

    pub fn config(&self) -> &ApiFaults {
        &self.config
    }

    /// Replaces the faults in force (decisions start over).
    pub fn set(&mut self, config: ApiFaults) {
        self.config = config;
        self.seen.clear();
    }

    fn hit(&mut self, kind: u8, rule: usize, rate: f64, verb: &str, resource: &str) -> (bool, f64) {
        let n = self
            .seen
            .entry((kind, rule, verb.to_string(), resource.to_string()))
            .or_default();
        *n += 1;
        let x = draw(self.config.seed, kind, rule, verb, resource, *n);
        (x < rate, draw(self.config.seed, kind + 10, rule, verb, resource, *n))
    }

    /// Decides the fate of a request of `verb` on `resource`.
    pub fn decide(&mut self, verb: &str, resource: &str) -> Decision {
        let mut d = Decision::default();
        if self.config.is_empty() {
            return d;
        }
        let latency = self.config.latency.clone();
        for (i, r) in latency.iter().enumerate() {
            if matches(&r.verbs, &r.resources, verb, resource) {
                let (hit, x) = self.hit(0, i, r.rate, verb, resource);
                if hit {
                    let (min, max) = r.range();
                    let ms = min + ((max - min) as f64 * x).round() as u64;
                    d.delay = Some(Duration::from_millis(ms));
                    self.injected.delayed += 1;
                    break;
                }
            }
        }
        let errors = self.config.errors.clone();
        for (i, r) in errors.iter().enumerate() {
            if matches(&r.verbs, &r.resources, verb, resource) && self.hit(1, i, r.rate, verb, resource).0 {
                d.error = Some(r.code);
                self.injected.errors += 1;
                return d;
            }
        }
        if WRITES.contains(&verb) {
            let drops = self.config.dropped_replies.clone();
            for (i, r) in drops.iter().enumerate() {
                if matches(&r.verbs, &r.resources, verb, resource) && self.hit(2, i, r.rate, verb, resource).0 {
                    d.drop_reply = true;
                    break;
                }
            }
        }
        d
    }

    /// A reply was dropped as decided.
    pub fn dropped(&mut self) {
        self.injected.dropped_replies += 1;
    }
}

/// The error a server answers with for `code`, as the real API server words it.
pub fn error_for(code: u16) -> ApiError {
    let note = "(injected by the simulator: see /sim/faults)";
    match code {
        503 => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            format!("the server is currently unable to handle the request {note}"),
        ),
        504 => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "Timeout",
            format!(
                "the server was unable to return a response in the time allotted, but may still be processing the request {note}"
            ),
        ),
        502 => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "InternalError",
            format!("Internal error occurred: bad gateway {note}"),
        ),
        _ => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("Internal error occurred: etcdserver: request timed out {note}"),
        ),
    }
}

/// Marks a response whose connection must close before it is sent.
#[derive(Clone, Copy, Debug)]
pub struct DropReply;

/// The error that makes the HTTP server close a connection without answering.
#[derive(Debug, thiserror::Error)]
#[error("reply dropped on purpose (/sim/faults)")]
pub struct DroppedReply;

/// Wraps the server's service: a response marked [`DropReply`] is never written,
/// its connection closed instead.
#[derive(Clone)]
pub struct DropReplies<S>(pub S);

impl<S, R> hyper::service::Service<R> for DropReplies<S>
where
    S: hyper::service::Service<R, Response = Response>,
    S::Error: std::error::Error + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Self::Error>> + Send>>;

    fn call(&self, req: R) -> Self::Future {
        let fut = self.0.call(req);
        Box::pin(async move {
            let resp = fut.await.map_err(|e| -> Self::Error { Box::new(e) })?;
            if resp.extensions().get::<DropReply>().is_some() {
                let e: Self::Error = Box::new(DroppedReply);
                return Err(e);
            }
            Ok(resp)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scenario::api_faults::{DropRule, ErrorRule, LatencyRule};

    fn faults(rate: f64) -> ApiFaults {
        ApiFaults {
            seed: 42,
            errors: vec![ErrorRule {
                rate,
                code: 503,
                verbs: vec!["list".into()],
                resources: vec!["pods".into()],
            }],
            dropped_replies: vec![DropRule {
                rate: 1.0,
                verbs: vec![],
                resources: vec!["pods/eviction".into()],
            }],
            latency: vec![LatencyRule {
                ms: None,
                min_ms: Some(10),
                max_ms: Some(20),
                rate: 1.0,
                verbs: vec!["get".into()],
                resources: vec![],
            }],
        }
    }

    #[test]
    fn decisions_repeat_with_the_seed_and_follow_the_rules() {
        let run = || {
            let mut s = FaultState::new(faults(0.3));
            (0..200)
                .map(|_| s.decide("list", "pods").error.is_some())
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run(), "the same seed, the same decisions");
        let hits = a.iter().filter(|h| **h).count();
        assert!((30..=90).contains(&hits), "about 30% of 200: {hits}");
        let mut s = FaultState::new(faults(1.0));
        assert_eq!(
            s.decide("list", "nodes"),
            Decision::default(),
            "other resources are spared"
        );
        assert_eq!(s.decide("list", "pods").error, Some(503));
        let d = s.decide("create", "pods/eviction");
        assert!(d.drop_reply && d.error.is_none());
        assert!(!s.decide("get", "pods/eviction").drop_reply, "only writes lose replies");
        let delay = s.decide("get", "nodes").delay.unwrap();
        assert!((10..=20).contains(&delay.as_millis()), "{delay:?}");
        assert_eq!(s.injected.errors, 1);
        assert_eq!(s.injected.delayed, 2);
        s.set(ApiFaults::default());
        assert_eq!(s.decide("list", "pods"), Decision::default());
    }
}
