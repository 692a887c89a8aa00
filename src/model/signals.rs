//! The four signals the team watches during a rollout, computed from the model by
//! pure functions: node state across all nodes, node health, unscheduled pods and
//! pod error activity; plus the critical components and the budgets that block drains.

use std::collections::{BTreeMap, HashMap};

use super::component::{Category, ComponentInfo, PdbInfo};
use super::node::{NodeInfo, Tri};
use super::pod::{ErrorKind, PodInfo};
use super::{ClusterModel, Source, SourceState, Timestamp};
use crate::units::Minor;

/// How many rows of detail a signal keeps (counts always cover everything).
const TOP: usize = 50;

/// One node's line in the node-state pane.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeRow {
    pub name: String,
    pub group: String,
    pub minor: String,
    pub kubelet: String,
    pub zone: String,
    pub instance_type: String,
    pub ready: bool,
    pub cordoned: bool,
    pub draining: bool,
    pub terminating: bool,
    pub new: bool,
    pub old: bool,
    pub pods: u32,
    pub created: Option<Timestamp>,
}

impl NodeRow {
    /// The state word shown for the node, the most telling first.
    pub fn state(&self) -> &'static str {
        if self.terminating {
            "Terminating"
        } else if !self.ready {
            "NotReady"
        } else if self.draining {
            "Draining"
        } else if self.cordoned {
            "Cordoned"
        } else {
            "Ready"
        }
    }
}

/// A node group's counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupState {
    pub name: String,
    pub total: usize,
    pub ready: usize,
    pub not_ready: usize,
    pub cordoned: usize,
    pub draining: usize,
    pub terminating: usize,
    pub new: usize,
    /// Below the target (control plane) minor.
    pub old: usize,
    /// Nodes per kubelet minor.
    pub versions: BTreeMap<String, usize>,
}

impl GroupState {
    fn add(&mut self, r: &NodeRow) {
        self.total += 1;
        self.ready += usize::from(r.ready);
        self.not_ready += usize::from(!r.ready);
        self.cordoned += usize::from(r.cordoned);
        self.draining += usize::from(r.draining);
        self.terminating += usize::from(r.terminating);
        self.new += usize::from(r.new);
        self.old += usize::from(r.old);
        *self.versions.entry(r.minor.clone()).or_default() += 1;
    }
}

/// Node state across all nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeState {
    /// The minor version nodes should be on (the control plane's).
    pub target: Option<String>,
    #[serde(flatten)]
    pub all: GroupState,
    pub groups: Vec<GroupState>,
    /// Every node, by group then name.
    #[serde(skip)]
    pub rows: Vec<NodeRow>,
}

impl std::ops::Deref for NodeState {
    type Target = GroupState;
    fn deref(&self) -> &GroupState {
        &self.all
    }
}

/// A node whose conditions are not healthy.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeProblem {
    pub node: String,
    pub group: String,
    pub condition: String,
    pub status: Tri,
    pub reason: String,
    pub message: String,
    pub since: Option<Timestamp>,
}

/// Node health: conditions and pressures.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeHealth {
    pub healthy: usize,
    pub not_ready: usize,
    /// Nodes per condition that is not as it should be.
    pub conditions: BTreeMap<String, usize>,
    /// The first problems, NotReady first, then oldest first.
    pub problems: Vec<NodeProblem>,
}

/// Unscheduled pods and why.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Unscheduled {
    pub count: usize,
    pub oldest: Option<Timestamp>,
    /// The scheduler's reasons, with how many pods give each.
    pub reasons: Vec<(String, usize)>,
    /// The first pods (oldest first) with the scheduler's message.
    pub pods: Vec<(String, String)>,
}

/// A workload with pods in error.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Offender {
    pub workload: String,
    pub kind: ErrorKind,
    pub pods: usize,
    pub restarts: u64,
    pub reason: String,
}

/// Pod error activity.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PodErrors {
    /// Pods in any error state now.
    pub pods: usize,
    pub by_kind: BTreeMap<String, usize>,
    /// Container restarts summed over all current pods.
    pub restarts: u64,
    /// Workloads with the most pods in error.
    pub top: Vec<Offender>,
}

/// Critical components and the budgets that allow no disruption.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Components {
    pub items: Vec<ComponentInfo>,
    /// Categories with no workload found.
    pub missing: Vec<Category>,
    pub blocking_pdbs: Vec<PdbInfo>,
    pub pdbs: usize,
}

/// Everything the panes and gates read, computed at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Signals {
    pub synced: bool,
    pub pods_total: usize,
    pub nodes: NodeState,
    pub health: NodeHealth,
    pub unscheduled: Unscheduled,
    pub errors: PodErrors,
    pub components: Components,
    /// Workloads down or degraded, Services without ready endpoints.
    pub availability: super::availability::Availability,
    /// Watches the cockpit may not use, with why.
    pub blind: Vec<(String, String)>,
    /// Karpenter's NodePools, when the cluster has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodepools: Option<super::nodepools::NodePools>,
    /// Running pods with volumes bound to one zone (what a drain must leave room for).
    #[serde(skip)]
    pub zonal: Vec<super::volume::ZonalPod>,
}

impl Signals {
    /// Computes every signal from the model. It walks the nodes, the pods that are
    /// unscheduled or in error, and the small tables; never all pods (their
    /// aggregates are kept by the model as changes arrive).
    pub fn compute(m: &ClusterModel) -> Signals {
        let ix = &m.pod_index;
        let unscheduled: Vec<&PodInfo> = ix.unscheduled.iter().filter_map(|k| m.pods.items.get(k)).collect();
        let mut errors = PodErrors {
            restarts: ix.restarts,
            ..PodErrors::default()
        };
        let mut offenders: HashMap<(String, ErrorKind), Offender> = HashMap::new();
        for p in ix.errors.iter().filter_map(|k| m.pods.items.get(k)) {
            if let Some(kind) = p.error {
                errors.pods += 1;
                *errors.by_kind.entry(kind.label().to_string()).or_default() += 1;
                let workload = p.workload();
                let o = offenders.entry((workload.clone(), kind)).or_insert_with(|| Offender {
                    workload,
                    kind,
                    pods: 0,
                    restarts: 0,
                    reason: p.reason.as_deref().unwrap_or("").to_string(),
                });
                o.pods += 1;
                o.restarts += u64::from(p.restarts);
            }
        }
        let mut top: Vec<Offender> = offenders.into_values().collect();
        top.sort_by(|a, b| {
            b.pods
                .cmp(&a.pods)
                .then(b.restarts.cmp(&a.restarts))
                .then(a.workload.cmp(&b.workload))
        });
        top.truncate(TOP);
        errors.top = top;

        let target = m.target_minor();
        let nodepools = super::nodepools::NodePools::compute(m, target.as_deref());
        let nodes = node_state(m, target);
        let mut unscheduled = unscheduled_pods(unscheduled);
        if let Some(k) = &nodepools {
            // a pod Karpenter nominated for a NodeClaim waits for that claim
            for (pod, why) in &mut unscheduled.pods {
                if let Some(w) = k.why_waiting(m, pod) {
                    *why = w;
                }
            }
        }
        // a pod whose volume's zone has no node for it: the zone is named
        for (key, why) in &mut unscheduled.pods {
            if let Some(p) = m.pods.items.get(key)
                && let Some(w) = super::volume::why_waiting(p, &m.volumes, &m.nodes.items)
            {
                *why = w;
            }
        }
        Signals {
            zonal: super::volume::zonal_pods(m),
            synced: m.synced(),
            pods_total: m.pods.len(),
            health: node_health(m.nodes.items.values()),
            unscheduled,
            nodepools,
            errors,
            components: components(m),
            availability: super::availability::Availability::compute(m),
            blind: m
                .sources
                .iter()
                .filter_map(|(s, st)| match st {
                    SourceState::Forbidden(why) => Some((s.resource().to_string(), why.clone())),
                    _ => None,
                })
                .collect(),
            nodes,
        }
    }

    /// Whether the cockpit can see this source at all.
    pub fn can_see(&self, source: Source) -> bool {
        !self.blind.iter().any(|(r, _)| r == source.resource())
    }
}

fn node_state(m: &ClusterModel, target: Option<String>) -> NodeState {
    let target_key = target.as_deref().map(Minor::key);
    let mut rows: Vec<NodeRow> = m
        .nodes
        .items
        .values()
        .map(|n| {
            let here = m.pod_index.by_node.get(n.name.as_str());
            NodeRow {
                name: n.name.clone(),
                group: n.group.to_string(),
                minor: n.minor.to_string(),
                kubelet: n.kubelet.to_string(),
                zone: n.zone.to_string(),
                instance_type: n.instance_type.to_string(),
                ready: n.ready == Tri::True,
                cordoned: n.unschedulable,
                draining: n.unschedulable && here.is_some_and(|h| h.leaving > 0),
                terminating: n.terminating(),
                new: n.created.is_some_and(|c| c > m.started),
                old: target_key.is_some_and(|t| Minor::key(&n.minor) < t),
                pods: here.map_or(0, |h| h.pods),
                created: n.created,
            }
        })
        .collect();
    rows.sort_by(|a, b| a.group.cmp(&b.group).then_with(|| a.name.cmp(&b.name)));
    let mut all = GroupState {
        name: "all".into(),
        ..GroupState::default()
    };
    let mut groups: Vec<GroupState> = Vec::new();
    for r in &rows {
        all.add(r);
        if groups.last().is_none_or(|g| g.name != r.group) {
            groups.push(GroupState {
                name: r.group.clone(),
                ..GroupState::default()
            });
        }
        if let Some(g) = groups.last_mut() {
            g.add(r);
        }
    }
    NodeState {
        target,
        all,
        groups,
        rows,
    }
}

fn node_health<'a>(nodes: impl Iterator<Item = &'a NodeInfo>) -> NodeHealth {
    let mut h = NodeHealth::default();
    for n in nodes {
        if n.problems.is_empty() {
            h.healthy += 1;
        }
        if n.ready != Tri::True {
            h.not_ready += 1;
        }
        for p in &n.problems {
            *h.conditions.entry(p.condition.clone()).or_default() += 1;
            h.problems.push(NodeProblem {
                node: n.name.clone(),
                group: n.group.to_string(),
                condition: p.condition.clone(),
                status: p.status,
                reason: p.reason.clone(),
                message: p.message.clone(),
                since: p.since,
            });
        }
    }
    h.problems.sort_by(|a, b| {
        (a.condition != "Ready")
            .cmp(&(b.condition != "Ready"))
            .then(a.since.cmp(&b.since))
            .then_with(|| a.node.cmp(&b.node))
    });
    h.problems.truncate(TOP);
    h
}

/// `0/12 nodes are available: 3 node(s) were unschedulable, 9 Insufficient cpu. preemption: ...`
/// → `["node(s) were unschedulable", "Insufficient cpu"]`
pub fn scheduler_reasons(message: &str) -> Vec<String> {
    let body = message.split_once(": ").map_or(message, |(_, rest)| rest);
    let body = body.split(". preemption").next().unwrap_or(body).trim_end_matches('.');
    let reasons: Vec<String> = body
        .split(", ")
        .map(|part| {
            let part = part.trim();
            match part.split_once(' ') {
                Some((n, rest)) if n.parse::<u32>().is_ok() => rest.to_string(),
                _ => part.to_string(),
            }
        })
        .filter(|r| !r.is_empty())
        .collect();
    if reasons.is_empty() {
        vec!["waiting for the scheduler".to_string()]
    } else {
        reasons
    }
}

fn unscheduled_pods(mut pods: Vec<&PodInfo>) -> Unscheduled {
    pods.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.name.cmp(&b.name)));
    let mut reasons: HashMap<String, usize> = HashMap::new();
    for p in &pods {
        match p.unschedulable.as_deref() {
            Some(msg) => {
                for r in scheduler_reasons(msg) {
                    *reasons.entry(r).or_default() += 1;
                }
            }
            None => *reasons.entry("waiting for the scheduler".to_string()).or_default() += 1,
        }
    }
    let mut reasons: Vec<(String, usize)> = reasons.into_iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Unscheduled {
        count: pods.len(),
        oldest: pods.first().and_then(|p| p.created),
        reasons,
        pods: pods
            .iter()
            .take(TOP)
            .map(|p| (p.key(), p.unschedulable.as_deref().unwrap_or("").to_string()))
            .collect(),
    }
}

fn components(m: &ClusterModel) -> Components {
    let mut items: Vec<ComponentInfo> = m.components.items.values().cloned().collect();
    items.sort_by(|a, b| a.category.cmp(&b.category).then_with(|| a.key().cmp(&b.key())));
    let missing = [
        Category::Dns,
        Category::PodNetworking,
        Category::Ingress,
        Category::Autoscaling,
    ]
    .into_iter()
    .filter(|c| !items.iter().any(|i| i.category == *c))
    .collect();
    let mut blocking_pdbs: Vec<PdbInfo> = m.pdbs.items.values().filter(|p| p.blocks()).cloned().collect();
    blocking_pdbs.sort_by_key(PdbInfo::key);
    Components {
        items,
        missing,
        blocking_pdbs,
        pdbs: m.pdbs.len(),
    }
}

#[cfg(test)]
mod tests;
