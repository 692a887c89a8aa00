//! Faults of the Kubernetes API, as a scenario's `apiFaults:` section and the body
//! of `POST /sim/faults` write them: rates of 5xx answers and of dropped write
//! replies, and added latency, each limited to some verbs and resources, all
//! decided from one seed.

use serde::{Deserialize, Serialize};

/// The verbs a rule may name (as `/sim/requests` counts them).
pub const VERBS: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

/// The verbs that write.
pub const WRITES: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];

/// Longest added latency, in milliseconds.
pub const MAX_LATENCY_MS: u64 = 60_000;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiFaults {
    /// Every decision derives from it (and from the request's verb, resource and
    /// how many such requests came before), so a run can be repeated.
    #[serde(default)]
    pub seed: u64,
    /// Answer with a 5xx instead of serving (nothing is applied).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ErrorRule>,
    /// Apply the write, then close the connection before answering.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped_replies: Vec<DropRule>,
    /// Wait before serving.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latency: Vec<LatencyRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ErrorRule {
    /// Share of the matching requests answered with the error, 0 to 1.
    pub rate: f64,
    /// 500 (InternalError), 502, 503 (ServiceUnavailable) or 504 (Timeout).
    #[serde(default = "internal")]
    pub code: u16,
    /// Only these verbs (`get`, `list`, `watch`, `create`, …); all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verbs: Vec<String>,
    /// Only these resources (`pods`, `pods/eviction`, `nodes`, …); all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
}

fn internal() -> u16 {
    500
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DropRule {
    /// Share of the matching successful writes whose reply is dropped, 0 to 1.
    pub rate: f64,
    /// Only these writing verbs; every write when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verbs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LatencyRule {
    /// A fixed delay in (real) milliseconds; or give `minMs` and `maxMs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ms: Option<u64>,
    /// Share of the matching requests delayed, 0 to 1 (default all).
    #[serde(default = "all")]
    pub rate: f64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verbs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
}

fn all() -> f64 {
    1.0
}

impl LatencyRule {
    /// The delay's bounds in milliseconds.
    pub fn range(&self) -> (u64, u64) {
        match (self.ms, self.min_ms, self.max_ms) {
            (Some(ms), _, _) => (ms, ms),
            (None, min, max) => {
                let min = min.unwrap_or(0);
                (min, max.unwrap_or(min))
            }
        }
    }
}

fn check_rate(rate: f64, at: &str) -> Result<(), (String, String)> {
    if (0.0..=1.0).contains(&rate) {
        Ok(())
    } else {
        Err((format!("{at}.rate"), format!("{rate} is not between 0 and 1")))
    }
}

fn check_verbs(verbs: &[String], allowed: &[&str], at: &str) -> Result<(), (String, String)> {
    for (i, v) in verbs.iter().enumerate() {
        if !allowed.contains(&v.as_str()) {
            return Err((
                format!("{at}.verbs[{i}]"),
                format!("{v:?} is not one of {}", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

impl ApiFaults {
    /// Checks what the types cannot; the error is the field's path and what is wrong.
    pub fn check(&self) -> Result<(), (String, String)> {
        for (i, r) in self.errors.iter().enumerate() {
            let at = format!("errors[{i}]");
            check_rate(r.rate, &at)?;
            if !matches!(r.code, 500 | 502 | 503 | 504) {
                return Err((
                    format!("{at}.code"),
                    format!(
                        "{} is not a server error the simulator answers: 500, 502, 503 or 504",
                        r.code
                    ),
                ));
            }
            check_verbs(&r.verbs, VERBS, &at)?;
        }
        for (i, r) in self.dropped_replies.iter().enumerate() {
            let at = format!("droppedReplies[{i}]");
            check_rate(r.rate, &at)?;
            check_verbs(&r.verbs, WRITES, &at)?;
        }
        for (i, r) in self.latency.iter().enumerate() {
            let at = format!("latency[{i}]");
            check_rate(r.rate, &at)?;
            check_verbs(&r.verbs, VERBS, &at)?;
            if r.ms.is_some() && (r.min_ms.is_some() || r.max_ms.is_some()) {
                return Err((at, "give ms, or minMs and maxMs, not both".into()));
            }
            if r.ms.is_none() && r.min_ms.is_none() && r.max_ms.is_none() {
                return Err((at, "give ms (a fixed delay) or minMs and maxMs (a range)".into()));
            }
            let (min, max) = r.range();
            if min > max {
                return Err((format!("{at}.maxMs"), format!("maxMs {max} is below minMs {min}")));
            }
            if max > MAX_LATENCY_MS {
                return Err((
                    at,
                    format!("{max} ms is more than the {MAX_LATENCY_MS} ms the simulator adds at most"),
                ));
            }
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty() && self.dropped_replies.is_empty() && self.latency.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_checked_and_name_their_field() {
        let f: ApiFaults = serde_json::from_str(
            r#"{"seed": 3, "errors": [{"rate": 0.1, "verbs": ["list"], "resources": ["pods"]}],
                "droppedReplies": [{"rate": 0.5, "verbs": ["create"], "resources": ["pods/eviction"]}],
                "latency": [{"minMs": 5, "maxMs": 20}]}"#,
        )
        .unwrap();
        assert!(f.check().is_ok());
        assert_eq!(f.errors[0].code, 500);
        assert_eq!(f.latency[0].range(), (5, 20));
        assert_eq!(f.latency[0].rate, 1.0);
        let bad: ApiFaults = serde_json::from_str(r#"{"droppedReplies": [{"rate": 0.5, "verbs": ["get"]}]}"#).unwrap();
        assert_eq!(bad.check().unwrap_err().0, "droppedReplies[0].verbs[0]");
        let bad: ApiFaults = serde_json::from_str(r#"{"errors": [{"rate": 2}]}"#).unwrap();
        assert_eq!(bad.check().unwrap_err().0, "errors[0].rate");
        let bad: ApiFaults = serde_json::from_str(r#"{"errors": [{"rate": 1, "code": 404}]}"#).unwrap();
        assert_eq!(bad.check().unwrap_err().0, "errors[0].code");
        let bad: ApiFaults = serde_json::from_str(r#"{"latency": [{"minMs": 50, "maxMs": 10}]}"#).unwrap();
        assert_eq!(bad.check().unwrap_err().0, "latency[0].maxMs");
        assert!(serde_json::from_str::<ApiFaults>(r#"{"error": []}"#).is_err());
    }
}
