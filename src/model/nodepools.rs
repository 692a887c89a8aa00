//! The NodePool view, computed from the model by a pure function: per Karpenter
//! NodePool, its nodes old and new, drifted, being disrupted, still launching and
//! failed to launch, those that expire soon; the NodeClaims that failed to launch
//! with the pods they were for; and whether the cluster is in EKS Auto Mode.

use std::collections::{BTreeMap, HashMap};

use super::karpenter::{DISRUPTED_TAINT, NodeClaimInfo, go_duration_secs};
use super::{ClusterModel, Timestamp};
use crate::units::Minor;

/// EKS Auto Mode replaces a node after 21 days, whatever its NodePool says.
pub const AUTO_MODE_MAX_LIFETIME_SECS: i64 = 21 * 24 * 3600;
/// How far ahead the cockpit counts nodes whose lifetime ends (expireAfter, Auto Mode's 21 days).
pub const EXPIRY_HORIZON_SECS: i64 = 24 * 3600;
/// How many pods a failure lists.
const PODS_SHOWN: usize = 20;

/// One NodePool's counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PoolState {
    pub name: String,
    pub nodes: usize,
    /// Below the target (control plane) minor.
    pub old: usize,
    /// Created since the cockpit started.
    pub new: usize,
    /// NodeClaim condition Drifted=True.
    pub drifted: usize,
    /// Tainted `karpenter.sh/disrupted`, or being deleted.
    pub disrupting: usize,
    /// NodeClaims not yet Launched and Registered.
    pub pending_launch: usize,
    /// NodeClaims of this pool among the latest launch failures.
    pub failed: usize,
    /// Nodes whose lifetime (expireAfter, or Auto Mode's 21 days) ends within
    /// [`EXPIRY_HORIZON_SECS`]: budgets cannot hold them.
    pub expiring: usize,
}

/// A NodeClaim that failed to launch, and the unscheduled pods Karpenter had nominated for it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FailedLaunch {
    pub claim: String,
    pub nodepool: String,
    pub reason: String,
    pub message: String,
    pub at: Option<Timestamp>,
    pub count: u32,
    pub pods: Vec<String>,
}

/// Karpenter's part of the cluster, when there is one.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct NodePools {
    /// NodePools on EKS Auto Mode's NodeClass: EKS runs Karpenter.
    pub auto_mode: bool,
    pub pools: Vec<PoolState>,
    /// The latest launch failures, newest first.
    pub failures: Vec<FailedLaunch>,
}

impl NodePools {
    /// The view; None when the cluster shows no NodePool and no NodeClaim.
    pub fn compute(m: &ClusterModel, target: Option<&str>) -> Option<NodePools> {
        let k = &m.karpenter;
        if !k.present() {
            return None;
        }
        let target_key = target.map(Minor::key);
        let by_node: HashMap<&str, &NodeClaimInfo> = k
            .nodeclaims
            .items
            .values()
            .filter_map(|c| c.node.as_deref().map(|n| (n, c)))
            .collect();
        let mut pools: BTreeMap<String, PoolState> = k
            .nodepools
            .items
            .values()
            .map(|p| {
                (
                    p.name.clone(),
                    PoolState {
                        name: p.name.clone(),
                        ..PoolState::default()
                    },
                )
            })
            .collect();
        let auto_mode = k.nodepools.items.values().any(|p| p.node_class.is_auto_mode())
            || k.nodeclaims.items.values().any(|c| c.auto_mode);
        for n in m.nodes.items.values() {
            let claim = by_node.get(n.name.as_str()).copied();
            let pool = match (claim, &n.nodepool) {
                (Some(c), _) => c.nodepool.to_string(),
                (None, Some(p)) => p.to_string(),
                (None, None) => continue,
            };
            let p = pools.entry(pool.clone()).or_insert_with(|| PoolState {
                name: pool.clone(),
                ..PoolState::default()
            });
            p.nodes += 1;
            p.old += usize::from(target_key.is_some_and(|t| Minor::key(&n.minor) < t));
            p.new += usize::from(n.created.is_some_and(|c| c > m.started));
            p.drifted += usize::from(claim.is_some_and(|c| c.drifted.is_some()));
            let tainted = n
                .taints
                .iter()
                .any(|t| t.split([':', '=']).next() == Some(DISRUPTED_TAINT));
            p.disrupting += usize::from(tainted || n.deleting || claim.is_some_and(|c| c.deleting));
            let expire = claim
                .and_then(|c| c.expire_after.clone())
                .or_else(|| k.nodepools.items.get(&pool).and_then(|p| p.expire_after.clone()));
            if let Some(end) = node_end(
                n.created.or(claim.and_then(|c| c.created)),
                expire.as_deref(),
                auto_mode,
            ) && end.as_second() - m.now.as_second() <= EXPIRY_HORIZON_SECS
            {
                p.expiring += 1;
            }
        }
        for c in k.nodeclaims.items.values().filter(|c| c.pending_launch()) {
            let p = pools.entry(c.nodepool.to_string()).or_insert_with(|| PoolState {
                name: c.nodepool.to_string(),
                ..PoolState::default()
            });
            p.pending_launch += 1;
        }
        let mut nominated: HashMap<&str, Vec<String>> = HashMap::new();
        for key in &m.pod_index.unscheduled {
            if let Some(claim) = k.nominated.get(key) {
                nominated.entry(claim.as_str()).or_default().push(key.clone());
            }
        }
        let failures: Vec<FailedLaunch> = k
            .failures
            .iter()
            .rev()
            .map(|f| {
                let mut pods = nominated.get(f.claim.as_str()).cloned().unwrap_or_default();
                pods.sort();
                pods.truncate(PODS_SHOWN);
                FailedLaunch {
                    claim: f.claim.clone(),
                    nodepool: f.nodepool.clone(),
                    reason: f.reason.clone(),
                    message: f.message.clone(),
                    at: f.at,
                    count: f.count,
                    pods,
                }
            })
            .collect();
        for f in &failures {
            if let Some(p) = pools.get_mut(&f.nodepool) {
                p.failed += 1;
            }
        }
        Some(NodePools {
            auto_mode,
            pools: pools.into_values().collect(),
            failures,
        })
    }

    /// Why an unscheduled pod waits, when Karpenter nominated it for a NodeClaim.
    pub fn why_waiting(&self, m: &ClusterModel, pod: &str) -> Option<String> {
        let claim = m.karpenter.nominated.get(pod)?;
        if let Some(f) = self.failures.iter().find(|f| &f.claim == claim) {
            return Some(format!(
                "nodeclaim {claim} (NodePool {}) failed to launch: {}: {}",
                f.nodepool, f.reason, f.message
            ));
        }
        let c = m.karpenter.nodeclaims.items.get(claim)?;
        c.pending_launch().then(|| {
            format!(
                "waiting for nodeclaim {claim} (NodePool {}) to launch and register",
                c.nodepool
            )
        })
    }
}

/// When a node's lifetime ends: its creation plus `expireAfter`, and on Auto Mode at
/// most 21 days.
pub fn node_end(created: Option<Timestamp>, expire_after: Option<&str>, auto_mode: bool) -> Option<Timestamp> {
    let created = created?;
    let expire = expire_after.and_then(go_duration_secs);
    let lifetime = match (expire, auto_mode) {
        (Some(e), true) => Some(e.min(AUTO_MODE_MAX_LIFETIME_SECS)),
        (None, true) => Some(AUTO_MODE_MAX_LIFETIME_SECS),
        (e, false) => e,
    }?;
    Timestamp::from_second(created.as_second().saturating_add(lifetime)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::karpenter::{NodeClaimInfo, NodePoolInfo};
    use crate::model::{Change, Delta, EventLog, Interner, NodeInfo};
    use serde_json::json;

    fn node(name: &str, group: &str, minor: &str, taints: &[&str], created: i64) -> NodeInfo {
        let n: k8s_openapi::api::core::v1::Node = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"karpenter.sh/nodepool": group},
                         "creationTimestamp": Timestamp::from_second(created).unwrap().to_string()},
            "spec": {"taints": taints.iter().map(|t| json!({"key": t, "effect": "NoSchedule"})).collect::<Vec<_>>()},
            "status": {"nodeInfo": {"kubeletVersion": format!("v{minor}.4-eks-1"), "machineID": "", "systemUUID": "", "bootID": "",
                        "kernelVersion": "", "osImage": "", "containerRuntimeVersion": "", "kubeProxyVersion": "",
                        "operatingSystem": "linux", "architecture": "amd64"},
                       "conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap();
        NodeInfo::from_node(&n, &mut Interner::default())
    }

    fn claim(name: &str, pool: &str, node: Option<&str>, conditions: serde_json::Value) -> NodeClaimInfo {
        NodeClaimInfo::from_json(
            &json!({"metadata": {"name": name, "labels": {"karpenter.sh/nodepool": pool}},
                    "spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"}},
                    "status": {"nodeName": node, "conditions": conditions}}),
            &mut Interner::default(),
        )
    }

    #[test]
    fn pools_count_old_drifted_disrupting_pending_failed_and_expiring() {
        let day = 24 * 3600;
        let now = 100 * day;
        let mut m = ClusterModel::new(Timestamp::from_second(now - 3600).unwrap());
        m.now = Timestamp::from_second(now).unwrap();
        let mut log = EventLog::new(10);
        let launched = json!([{"type": "Launched", "status": "True"}, {"type": "Registered", "status": "True"}]);
        let drifted = json!([{"type": "Launched", "status": "True"}, {"type": "Registered", "status": "True"},
                             {"type": "Drifted", "status": "True", "reason": "AMIDrift"}]);
        let pool = |name: &str, expire: &str| {
            NodePoolInfo::from_json(&json!({"metadata": {"name": name},
                "spec": {"template": {"spec": {"expireAfter": expire}}}}))
        };
        m.apply(
            Delta::NodePools(vec![
                Change::Upsert("general".into(), pool("general", "720h")),
                Change::Upsert("critical".into(), pool("critical", "Never")),
            ]),
            &mut log,
        );
        m.apply(
            Delta::NodeClaims(vec![
                Change::Upsert(
                    "general-aaaaa".into(),
                    claim("general-aaaaa", "general", Some("n1"), drifted.clone()),
                ),
                Change::Upsert(
                    "general-bbbbb".into(),
                    claim("general-bbbbb", "general", Some("n2"), drifted),
                ),
                Change::Upsert(
                    "general-ccccc".into(),
                    claim("general-ccccc", "general", Some("n3"), launched),
                ),
                Change::Upsert(
                    "general-ddddd".into(),
                    claim(
                        "general-ddddd",
                        "general",
                        None,
                        json!([{"type": "Launched", "status": "Unknown"}]),
                    ),
                ),
            ]),
            &mut log,
        );
        m.apply(
            Delta::Nodes(vec![
                // created 29.5 days ago under expireAfter 720h: ends within the day
                Change::Upsert(
                    "n1".into(),
                    node(
                        "n1",
                        "general",
                        "1.30",
                        &["karpenter.sh/disrupted"],
                        now - 29 * day - day / 2,
                    ),
                ),
                Change::Upsert("n2".into(), node("n2", "general", "1.30", &[], now - day)),
                Change::Upsert("n3".into(), node("n3", "general", "1.31", &[], now - 60)),
                Change::Upsert("c1".into(), node("c1", "critical", "1.30", &[], now - 90 * day)),
            ]),
            &mut log,
        );
        let ev = |claim: &str, reason: &str| crate::model::LogEntry {
            at: None,
            level: crate::model::Level::Warning,
            object: format!("NodeClaim/{claim}"),
            reason: reason.into(),
            message: format!("NodeClaim {claim} event: creating instance, insufficient capacity"),
            count: 1,
        };
        m.apply(
            Delta::Events(vec![Change::Upsert(
                "e1".into(),
                ev("general-zzzzz", "InsufficientCapacityError"),
            )]),
            &mut log,
        );
        m.apply(
            Delta::Nominations(vec![
                ("shop/web-1".into(), "general-zzzzz".into()),
                ("shop/web-2".into(), "general-ddddd".into()),
            ]),
            &mut log,
        );
        m.pod_index
            .unscheduled
            .extend(["shop/web-1".to_string(), "shop/web-2".to_string()]);
        let v = NodePools::compute(&m, Some("1.31")).expect("Karpenter is present");
        assert!(!v.auto_mode);
        let general = v.pools.iter().find(|p| p.name == "general").unwrap();
        assert_eq!(
            (
                general.nodes,
                general.old,
                general.new,
                general.drifted,
                general.disrupting
            ),
            (3, 2, 1, 2, 1)
        );
        assert_eq!((general.pending_launch, general.failed, general.expiring), (1, 1, 1));
        let critical = v.pools.iter().find(|p| p.name == "critical").unwrap();
        assert_eq!(
            (critical.nodes, critical.old, critical.expiring),
            (1, 1, 0),
            "Never does not expire"
        );
        assert_eq!(v.failures.len(), 1);
        assert_eq!(v.failures[0].pods, vec!["shop/web-1".to_string()]);
        assert_eq!(v.failures[0].message, "creating instance, insufficient capacity");
        let why = v.why_waiting(&m, "shop/web-1").unwrap();
        assert!(
            why.contains("general-zzzzz") && why.contains("failed to launch"),
            "{why}"
        );
        let why = v.why_waiting(&m, "shop/web-2").unwrap();
        assert!(why.contains("waiting for nodeclaim general-ddddd"), "{why}");
        assert!(v.why_waiting(&m, "shop/other").is_none());
    }

    #[test]
    fn no_karpenter_no_view_and_auto_mode_caps_lifetimes_at_21_days() {
        let m = ClusterModel::new(Timestamp::UNIX_EPOCH);
        assert!(NodePools::compute(&m, Some("1.31")).is_none());
        let t0 = Timestamp::from_second(1_000_000).unwrap();
        let end = |e: Option<&str>, auto| node_end(Some(t0), e, auto).map(|t| (t.as_second() - t0.as_second()) / 86400);
        assert_eq!(end(Some("336h"), true), Some(14));
        assert_eq!(end(Some("2000h"), true), Some(21));
        assert_eq!(end(None, true), Some(21));
        assert_eq!(end(Some("Never"), false), None);
        assert_eq!(end(Some("720h"), false), Some(30));
    }
}
