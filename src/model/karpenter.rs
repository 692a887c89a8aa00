//! Karpenter as the cockpit sees it: compact projections of `karpenter.sh/v1`
//! NodePools and NodeClaims (read as untyped objects: the CRDs may be absent), the
//! NodeClaims that failed to launch (from their warning events) and the pods Karpenter
//! nominated for each claim. EKS Auto Mode runs the same kinds, on its own NodeClass.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;

use super::node::Tri;
use super::{Interner, Reflected, Timestamp};

/// The label Karpenter puts on its nodes and NodeClaims.
pub const NODEPOOL_LABEL: &str = "karpenter.sh/nodepool";
/// The taint Karpenter puts on a node it is disrupting.
pub const DISRUPTED_TAINT: &str = "karpenter.sh/disrupted";
/// The annotation that keeps Karpenter from disrupting a pod's node (or a node).
pub const DO_NOT_DISRUPT: &str = "karpenter.sh/do-not-disrupt";
/// The API group of EKS Auto Mode's NodeClass.
pub const AUTO_MODE_GROUP: &str = "eks.amazonaws.com";
/// How many launch failures the cockpit remembers.
const FAILURES_KEPT: usize = 20;

/// A `spec.disruption.budgets` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Budget {
    /// `10%` or a count such as `2`.
    pub nodes: String,
    /// The disruption reasons it limits (empty: all of them).
    pub reasons: Vec<String>,
    /// A cron schedule it is active on, with its duration.
    pub schedule: Option<String>,
    pub duration: Option<String>,
}

impl Budget {
    /// `nodes 10%`, `nodes 0 for Drifted`, `nodes 0 for Drifted at 0 9 * * 1-5 for 8h`
    pub fn describe(&self) -> String {
        let mut s = format!("nodes {}", self.nodes);
        if !self.reasons.is_empty() {
            s.push_str(&format!(" for {}", self.reasons.join(",")));
        }
        if let Some(c) = &self.schedule {
            s.push_str(&format!(" at {c:?}"));
            if let Some(d) = &self.duration {
                s.push_str(&format!(" for {d}"));
            }
        }
        s
    }
}

/// Where a NodePool's (or NodeClaim's) nodes come from: `EC2NodeClass default`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ClassRef {
    pub group: String,
    pub kind: String,
    pub name: String,
}

impl ClassRef {
    fn from(v: Option<&Value>) -> ClassRef {
        let s = |k: &str| {
            v.and_then(|v| v.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        ClassRef {
            group: s("group"),
            kind: s("kind"),
            name: s("name"),
        }
    }

    /// EKS Auto Mode's built-in NodeClass kind.
    pub fn is_auto_mode(&self) -> bool {
        self.group == AUTO_MODE_GROUP
    }
}

/// A NodePool: where its nodes come from and how they may be disrupted.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct NodePoolInfo {
    pub name: String,
    pub node_class: ClassRef,
    /// `spec.disruption.budgets`; Karpenter defaults an absent list to `nodes: 10%`.
    pub budgets: Vec<Budget>,
    /// `spec.disruption.budgets` was absent (the default applies).
    pub budgets_absent: bool,
    /// `spec.template.spec.expireAfter`: `720h`, `Never`.
    pub expire_after: Option<String>,
    /// `spec.template.spec.terminationGracePeriod`: `24h0m0s`.
    pub termination_grace_period: Option<String>,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k)).and_then(Value::as_str)
}

impl NodePoolInfo {
    /// Projects a NodePool's JSON (`metadata`, `spec`).
    pub fn from_json(v: &Value) -> NodePoolInfo {
        let spec = v.get("spec").unwrap_or(&Value::Null);
        let template = spec.pointer("/template/spec").unwrap_or(&Value::Null);
        let budgets = spec.pointer("/disruption/budgets").and_then(Value::as_array);
        NodePoolInfo {
            name: str_at(v, &["metadata", "name"]).unwrap_or("").to_string(),
            node_class: ClassRef::from(template.get("nodeClassRef")),
            budgets_absent: budgets.is_none(),
            budgets: budgets
                .map(|b| {
                    b.iter()
                        .map(|b| Budget {
                            nodes: str_at(b, &["nodes"]).unwrap_or("10%").to_string(),
                            reasons: b
                                .get("reasons")
                                .and_then(Value::as_array)
                                .map(|r| r.iter().filter_map(Value::as_str).map(str::to_string).collect())
                                .unwrap_or_default(),
                            schedule: str_at(b, &["schedule"]).map(str::to_string),
                            duration: str_at(b, &["duration"]).map(str::to_string),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            expire_after: str_at(template, &["expireAfter"]).map(str::to_string),
            termination_grace_period: str_at(template, &["terminationGracePeriod"]).map(str::to_string),
        }
    }

    /// The budgets are the one Karpenter writes when none is given: `nodes: 10%` for
    /// every reason, always.
    pub fn default_budget(&self) -> bool {
        self.budgets_absent
            || (self.budgets.len() == 1
                && self.budgets[0].nodes == "10%"
                && self.budgets[0].reasons.is_empty()
                && self.budgets[0].schedule.is_none())
    }
}

/// A NodeClaim: one node Karpenter asked for, from launch to termination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeClaimInfo {
    pub name: String,
    pub nodepool: Arc<str>,
    /// The node it became, once registered.
    pub node: Option<String>,
    pub launched: Tri,
    pub registered: Tri,
    /// Condition `Drifted` is True, with its reason (`NodeClassDrifted`, `AMIDrift`…).
    pub drifted: Option<String>,
    pub deleting: bool,
    pub created: Option<Timestamp>,
    pub auto_mode: bool,
    /// `spec.expireAfter` as the claim was created with it.
    pub expire_after: Option<String>,
}

impl NodeClaimInfo {
    /// Projects a NodeClaim's JSON (`metadata`, `spec`, `status`).
    pub fn from_json(v: &Value, strings: &mut Interner) -> NodeClaimInfo {
        let name = str_at(v, &["metadata", "name"]).unwrap_or("").to_string();
        let pool = v
            .pointer("/metadata/labels")
            .and_then(|l| l.get(NODEPOOL_LABEL))
            .and_then(Value::as_str)
            .map_or_else(|| pool_of_claim(&name).to_string(), str::to_string);
        let conditions = v.pointer("/status/conditions").and_then(Value::as_array);
        let condition = |t: &str| {
            conditions
                .into_iter()
                .flatten()
                .find(|c| c.get("type").and_then(Value::as_str) == Some(t))
        };
        let state = |t: &str| match condition(t).and_then(|c| c.get("status")).and_then(Value::as_str) {
            Some("True") => Tri::True,
            Some("False") => Tri::False,
            _ => Tri::Unknown,
        };
        let drifted = (state("Drifted") == Tri::True).then(|| {
            condition("Drifted")
                .and_then(|c| c.get("reason"))
                .and_then(Value::as_str)
                .unwrap_or("Drifted")
                .to_string()
        });
        let spec = v.get("spec").unwrap_or(&Value::Null);
        NodeClaimInfo {
            nodepool: strings.get(&pool),
            node: str_at(v, &["status", "nodeName"])
                .filter(|n| !n.is_empty())
                .map(str::to_string),
            launched: state("Launched"),
            registered: state("Registered"),
            drifted,
            deleting: v.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null()),
            created: str_at(v, &["metadata", "creationTimestamp"]).and_then(|t| t.parse().ok()),
            auto_mode: ClassRef::from(spec.get("nodeClassRef")).is_auto_mode(),
            expire_after: str_at(spec, &["expireAfter"]).map(str::to_string),
            name,
        }
    }

    /// Asked for but not yet a node: not launched, or launched and not registered.
    pub fn pending_launch(&self) -> bool {
        !self.deleting && (self.launched != Tri::True || self.registered != Tri::True)
    }
}

/// Karpenter names a NodeClaim `<nodepool>-<5 characters>`.
pub fn pool_of_claim(claim: &str) -> &str {
    match claim.rsplit_once('-') {
        Some((pool, suffix)) if suffix.len() == 5 && !pool.is_empty() => pool,
        _ => claim,
    }
}

/// A NodeClaim Karpenter could not launch (it deletes the claim and tries again).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LaunchFailure {
    pub claim: String,
    pub nodepool: String,
    /// `InsufficientCapacityError`, `NodeClassNotReady`…
    pub reason: String,
    pub message: String,
    pub at: Option<Timestamp>,
    pub count: u32,
}

/// The pods Karpenter nominated for a NodeClaim, from its `Nominated` events
/// (`Pod should schedule on: nodeclaim/general-x7k2p`): pod key → claim.
pub fn nominated_claim(message: &str) -> Option<&str> {
    message
        .split("nodeclaim/")
        .nth(1)
        .map(|rest| rest.split([' ', ',', ')']).next().unwrap_or(rest))
        .filter(|c| !c.is_empty())
}

/// What the cockpit knows of Karpenter.
#[derive(Debug, Default)]
pub struct Karpenter {
    pub nodepools: Reflected<NodePoolInfo>,
    pub nodeclaims: Reflected<NodeClaimInfo>,
    /// Pod key → the NodeClaim Karpenter last nominated it for.
    pub nominated: HashMap<String, String>,
    /// The latest launch failures, oldest first.
    pub failures: VecDeque<LaunchFailure>,
}

impl Karpenter {
    /// Whether Karpenter (or Auto Mode) shows at all.
    pub fn present(&self) -> bool {
        !self.nodepools.is_empty() || !self.nodeclaims.is_empty()
    }

    /// Notes a NodeClaim's warning event when it says the launch failed.
    pub fn failure(&mut self, claim: &str, reason: &str, message: &str, at: Option<Timestamp>, count: u32) {
        if !launch_failure(reason) {
            return;
        }
        let nodepool = self
            .nodeclaims
            .items
            .get(claim)
            .map_or_else(|| pool_of_claim(claim).to_string(), |c| c.nodepool.to_string());
        let message = message
            .strip_prefix(&format!("NodeClaim {claim} event: "))
            .unwrap_or(message)
            .to_string();
        self.failures.retain(|f| f.claim != claim || f.reason != reason);
        self.failures.push_back(LaunchFailure {
            claim: claim.to_string(),
            nodepool,
            reason: reason.to_string(),
            message,
            at,
            count,
        });
        while self.failures.len() > FAILURES_KEPT {
            self.failures.pop_front();
        }
    }

    /// Forgets nominations of pods that are gone (called when the map grows).
    pub fn prune_nominations(&mut self, alive: impl Fn(&str) -> bool) {
        self.nominated.retain(|k, _| alive(k));
    }
}

/// The reasons Karpenter gives a NodeClaim's event when its launch failed.
fn launch_failure(reason: &str) -> bool {
    matches!(
        reason,
        "InsufficientCapacityError" | "NodeClassNotReady" | "LaunchFailed" | "FailedLaunch" | "NodeClaimNotLaunched"
    ) || reason.contains("Launch")
}

/// A Go duration as Karpenter writes them (`720h`, `24h0m0s`, `90m`, `30s`), in
/// seconds; None for `Never` or what does not parse.
pub fn go_duration_secs(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() || s == "Never" {
        return None;
    }
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push('s');
            chars.next();
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
    }
    if !num.is_empty() {
        return None;
    }
    Some(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_parse_as_go_writes_them() {
        assert_eq!(go_duration_secs("720h"), Some(720 * 3600));
        assert_eq!(go_duration_secs("24h0m0s"), Some(24 * 3600));
        assert_eq!(go_duration_secs("1h30m"), Some(5400));
        assert_eq!(go_duration_secs("Never"), None);
        assert_eq!(go_duration_secs("12"), None);
        assert_eq!(go_duration_secs("3d"), None);
    }

    #[test]
    fn a_nodepool_projects_its_class_budgets_and_deadlines() {
        let p = NodePoolInfo::from_json(&json!({
            "metadata": {"name": "general"},
            "spec": {
                "template": {"spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                                      "expireAfter": "720h", "terminationGracePeriod": "24h"}},
                "disruption": {"budgets": [{"nodes": "0", "reasons": ["Drifted"], "schedule": "0 9 * * *", "duration": "8h"}, {"nodes": "2"}]}
            }
        }));
        assert_eq!(p.name, "general");
        assert_eq!(p.node_class.kind, "EC2NodeClass");
        assert_eq!(p.node_class.name, "default");
        assert_eq!(p.expire_after.as_deref(), Some("720h"));
        assert_eq!(p.termination_grace_period.as_deref(), Some("24h"));
        assert_eq!(p.budgets.len(), 2);
        assert_eq!(p.budgets[0].describe(), "nodes 0 for Drifted at \"0 9 * * *\" for 8h");
        assert!(!p.default_budget());
        let bare = NodePoolInfo::from_json(&json!({"metadata": {"name": "x"}, "spec": {}}));
        assert!(bare.budgets_absent && bare.default_budget());
        let ten = NodePoolInfo::from_json(
            &json!({"metadata": {"name": "x"}, "spec": {"disruption": {"budgets": [{"nodes": "10%"}]}}}),
        );
        assert!(!ten.budgets_absent && ten.default_budget());
    }

    #[test]
    fn a_nodeclaim_projects_its_launch_drift_and_node() {
        let mut s = Interner::default();
        let c = NodeClaimInfo::from_json(
            &json!({
                "metadata": {"name": "general-x7k2p", "labels": {"karpenter.sh/nodepool": "general"}, "creationTimestamp": "2026-12-01T10:00:00Z"},
                "spec": {"nodeClassRef": {"group": "eks.amazonaws.com", "kind": "NodeClass", "name": "default"}},
                "status": {"nodeName": "i-0abc", "conditions": [
                    {"type": "Launched", "status": "True"}, {"type": "Registered", "status": "True"},
                    {"type": "Drifted", "status": "True", "reason": "NodeClassDrifted"}
                ]}
            }),
            &mut s,
        );
        assert_eq!(&*c.nodepool, "general");
        assert_eq!(c.node.as_deref(), Some("i-0abc"));
        assert_eq!(c.drifted.as_deref(), Some("NodeClassDrifted"));
        assert!(c.auto_mode && !c.pending_launch() && !c.deleting);
        let fresh = NodeClaimInfo::from_json(
            &json!({"metadata": {"name": "critical-ab12c"}, "status": {"conditions": [{"type": "Launched", "status": "Unknown"}]}}),
            &mut s,
        );
        assert_eq!(
            &*fresh.nodepool, "critical",
            "the pool from the claim's name when unlabelled"
        );
        assert!(fresh.pending_launch() && fresh.drifted.is_none() && !fresh.auto_mode);
    }

    #[test]
    fn launch_failures_are_kept_per_claim_and_nominations_parse() {
        let mut k = Karpenter::default();
        k.failure(
            "general-x7k2p",
            "InsufficientCapacityError",
            "NodeClaim general-x7k2p event: creating instance, insufficient capacity",
            None,
            1,
        );
        k.failure(
            "general-x7k2p",
            "InsufficientCapacityError",
            "NodeClaim general-x7k2p event: again",
            None,
            2,
        );
        k.failure("general-x7k2p", "DisruptionBlocked", "not a launch", None, 1);
        assert_eq!(k.failures.len(), 1);
        assert_eq!(k.failures[0].nodepool, "general");
        assert_eq!(k.failures[0].message, "again");
        assert_eq!(
            nominated_claim("Pod should schedule on: nodeclaim/general-x7k2p"),
            Some("general-x7k2p")
        );
        assert_eq!(
            nominated_claim("Pod should schedule on: nodeclaim/general-x7k2p, node/ip-1"),
            Some("general-x7k2p")
        );
        assert_eq!(nominated_claim("Pod should schedule on: node/ip-1"), None);
    }
}
