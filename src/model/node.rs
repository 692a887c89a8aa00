//! A node as the cockpit sees it: the few fields the screens and gates need,
//! projected from a `k8s_openapi` Node as it arrives from a watch.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use super::{Interner, Timestamp};
use crate::units::{Minor, quantity};

/// Labels that name a node's group, most specific first.
pub const GROUP_LABELS: [&str; 4] = [
    "eks.amazonaws.com/nodegroup",
    "alpha.eksctl.io/nodegroup-name",
    "karpenter.sh/nodepool",
    "eks.amazonaws.com/compute-type",
];

/// What the node group of a node without any group label is called.
pub const NO_GROUP: &str = "(no group)";

/// Taints that say a node is on its way out.
const LEAVING_TAINTS: [&str; 3] = [
    "ToBeDeletedByClusterAutoscaler",
    "karpenter.sh/disrupted",
    "node.kubernetes.io/out-of-service",
];

/// A node condition's state (`True`, `False`, `Unknown`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Tri {
    True,
    False,
    #[default]
    Unknown,
}

impl Tri {
    fn parse(s: &str) -> Tri {
        match s {
            "True" => Tri::True,
            "False" => Tri::False,
            _ => Tri::Unknown,
        }
    }
}

/// A condition that is not as it should be (Ready not True, a pressure True).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// `Ready`, `MemoryPressure`, `DiskPressure`, `PIDPressure`, `NetworkUnavailable`
    pub condition: String,
    pub status: Tri,
    pub reason: String,
    pub message: String,
    pub since: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NodeInfo {
    pub name: String,
    pub group: Arc<str>,
    /// The Karpenter NodePool that launched it (`karpenter.sh/nodepool`).
    pub nodepool: Option<Arc<str>>,
    pub zone: Arc<str>,
    pub instance_type: Arc<str>,
    /// `v1.30.4-eks-a737599`
    pub kubelet: Arc<str>,
    /// `1.30`
    pub minor: Arc<str>,
    pub ready: Tri,
    /// Since when the Ready condition has had its current status.
    pub ready_since: Option<Timestamp>,
    pub unschedulable: bool,
    pub deleting: bool,
    /// A taint that says the node is being removed.
    pub leaving_taint: bool,
    pub taints: Vec<String>,
    /// Conditions that are not healthy, Ready included.
    pub problems: Vec<Problem>,
    pub created: Option<Timestamp>,
    pub cpu_millis: u64,
    pub memory: u64,
    pub max_pods: u32,
    pub provider_id: Option<String>,
}

impl NodeInfo {
    pub fn from_node(node: &Node, strings: &mut Interner) -> NodeInfo {
        let meta = &node.metadata;
        let labels = meta.labels.as_ref();
        let label = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
        let group = GROUP_LABELS.iter().find_map(|k| label(k)).unwrap_or(NO_GROUP);
        let status = node.status.as_ref();
        let kubelet = status
            .and_then(|s| s.node_info.as_ref())
            .map(|i| i.kubelet_version.as_str())
            .unwrap_or("");
        let mut ready = Tri::Unknown;
        let mut ready_since = None;
        let mut problems = Vec::new();
        for c in status.and_then(|s| s.conditions.as_deref()).unwrap_or_default() {
            let st = Tri::parse(&c.status);
            let since = c.last_transition_time.as_ref().map(|t| t.0);
            let bad = match c.type_.as_str() {
                "Ready" => {
                    ready = st;
                    ready_since = since;
                    st != Tri::True
                }
                _ => st == Tri::True,
            };
            if bad {
                problems.push(Problem {
                    condition: c.type_.clone(),
                    status: st,
                    reason: c.reason.clone().unwrap_or_default(),
                    message: c.message.clone().unwrap_or_default(),
                    since,
                });
            }
        }
        if status.and_then(|s| s.conditions.as_ref()).is_none() {
            problems.push(Problem {
                condition: "Ready".into(),
                status: Tri::Unknown,
                reason: "NoConditions".into(),
                message: "the node has not reported its conditions yet".into(),
                since: None,
            });
        }
        let spec = node.spec.as_ref();
        let taints: Vec<String> = spec
            .and_then(|s| s.taints.as_deref())
            .unwrap_or_default()
            .iter()
            .map(|t| match &t.value {
                Some(v) if !v.is_empty() => format!("{}={}:{}", t.key, v, t.effect),
                _ => format!("{}:{}", t.key, t.effect),
            })
            .collect();
        let leaving_taint = spec
            .and_then(|s| s.taints.as_deref())
            .unwrap_or_default()
            .iter()
            .any(|t| LEAVING_TAINTS.contains(&t.key.as_str()));
        let alloc = status.and_then(|s| s.allocatable.as_ref());
        let allocatable = |k: &str| alloc.and_then(|a| a.get(k)).map(|q| q.0.as_str());
        NodeInfo {
            name: meta.name.clone().unwrap_or_default(),
            group: strings.get(group),
            nodepool: label(crate::model::karpenter::NODEPOOL_LABEL).map(|p| strings.get(p)),
            zone: strings.get(label("topology.kubernetes.io/zone").unwrap_or("")),
            instance_type: strings.get(label("node.kubernetes.io/instance-type").unwrap_or("")),
            kubelet: strings.get(kubelet),
            minor: strings.get(&Minor::parse(kubelet).map(|m| m.to_string()).unwrap_or_default()),
            ready,
            ready_since,
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            deleting: meta.deletion_timestamp.is_some(),
            leaving_taint,
            taints,
            problems,
            created: meta.creation_timestamp.as_ref().map(|t| t.0),
            cpu_millis: allocatable("cpu").and_then(quantity::cpu_millis).unwrap_or(0),
            memory: allocatable("memory").and_then(quantity::bytes).unwrap_or(0),
            max_pods: allocatable("pods").and_then(|p| p.parse().ok()).unwrap_or(0),
            provider_id: spec.and_then(|s| s.provider_id.clone()),
        }
    }

    /// Being removed: deleted, or tainted for removal.
    pub fn terminating(&self) -> bool {
        self.deleting || self.leaving_taint
    }
}
