//! Plain data, no I/O: the cluster as the cockpit sees it (compact records of nodes,
//! pods, budgets, workloads, Services and warning events, fed by watches), the four
//! signals and availability computed from it, their time series and the event log.

pub mod availability;
pub mod baseline;
pub mod campaign;
pub mod component;
pub mod health;
pub mod journal;
pub mod karpenter;
pub mod log;
pub mod node;
pub mod nodepools;
pub mod pod;
pub mod rollout;
pub mod series;
pub mod service;
pub mod signals;
pub mod support;
pub mod volume;
pub mod workload;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use crate::units::Minor;

pub use component::{Category, ComponentInfo, PdbInfo};
pub use health::Health;
pub use log::{EventLog, Level, LogEntry};
pub use node::NodeInfo;
pub use pod::PodInfo;
pub use rollout::RolloutState;
pub use series::{Series, SeriesSet};
pub use signals::Signals;

pub use crate::units::Timestamp;

/// Shares one allocation among the many records that repeat a string (namespaces,
/// node names on pods, owners, zones), which keeps 150,000 pods small.
#[derive(Default, Debug)]
pub struct Interner(HashSet<Arc<str>>);

impl Interner {
    pub fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.0.insert(a.clone());
        a
    }

    /// Forgets strings no record uses any more.
    pub fn prune(&mut self) {
        self.0.retain(|a| Arc::strong_count(a) > 1);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What the cockpit watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Nodes,
    Pods,
    Events,
    Pdbs,
    Deployments,
    DaemonSets,
    StatefulSets,
    ReplicaSets,
    Services,
    EndpointSlices,
    /// Karpenter's NodePools (`karpenter.sh/v1`): in the model only where the CRD is served.
    NodePools,
    /// Karpenter's NodeClaims (`karpenter.sh/v1`): in the model only where the CRD is served.
    NodeClaims,
    PersistentVolumeClaims,
    PersistentVolumes,
}

impl Source {
    pub const ALL: [Source; 12] = [
        Source::Nodes,
        Source::Pods,
        Source::Events,
        Source::Pdbs,
        Source::Deployments,
        Source::DaemonSets,
        Source::StatefulSets,
        Source::ReplicaSets,
        Source::Services,
        Source::EndpointSlices,
        Source::PersistentVolumeClaims,
        Source::PersistentVolumes,
    ];

    /// What a user would call it: `pods`, `poddisruptionbudgets`, ...
    pub fn resource(self) -> &'static str {
        match self {
            Source::Nodes => "nodes",
            Source::Pods => "pods",
            Source::Events => "events",
            Source::Pdbs => "poddisruptionbudgets",
            Source::Deployments => "deployments",
            Source::DaemonSets => "daemonsets",
            Source::StatefulSets => "statefulsets",
            Source::ReplicaSets => "replicasets",
            Source::Services => "services",
            Source::EndpointSlices => "endpointslices",
            Source::NodePools => "nodepools",
            Source::NodeClaims => "nodeclaims",
            Source::PersistentVolumeClaims => "persistentvolumeclaims",
            Source::PersistentVolumes => "persistentvolumes",
        }
    }
}

/// How a watch stands.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", content = "detail", rename_all = "lowercase")]
pub enum SourceState {
    /// Listing the current objects.
    Syncing,
    /// Listed; following changes.
    Synced,
    /// Not allowed to see it (RBAC).
    Forbidden(String),
    /// Failing; the watch retries with back-off.
    Failing(String),
    /// The server does not serve the kind (a CRD not installed): the source leaves the
    /// model, and what it feeds is off.
    Absent,
}

/// One change from a watch, already projected.
#[derive(Clone, Debug)]
pub enum Change<T> {
    /// A (re)list begins: objects not listed again before `InitDone` are gone.
    InitStart,
    Upsert(String, T),
    Delete(String),
    InitDone,
}

/// A batch of changes from the watches, as sent to the cockpit's loop.
#[derive(Clone, Debug)]
pub enum Delta {
    Nodes(Vec<Change<NodeInfo>>),
    Pods(Vec<Change<PodInfo>>),
    Pdbs(Vec<Change<PdbInfo>>),
    Components(Vec<Change<ComponentInfo>>),
    Events(Vec<Change<LogEntry>>),
    /// Deployments, StatefulSets, DaemonSets, ReplicaSets (critical components among them).
    Workloads(workload::Kind, Vec<Change<workload::WorkloadInfo>>),
    Services(Vec<Change<service::ServiceInfo>>),
    EndpointSlices(Vec<Change<service::SliceInfo>>),
    NodePools(Vec<Change<karpenter::NodePoolInfo>>),
    NodeClaims(Vec<Change<karpenter::NodeClaimInfo>>),
    PersistentVolumeClaims(Vec<Change<volume::ClaimInfo>>),
    PersistentVolumes(Vec<Change<volume::VolumeInfo>>),
    /// Pods Karpenter nominated for a NodeClaim: (pod key, claim).
    Nominations(Vec<(String, String)>),
    Source(Source, SourceState),
    ServerVersion(String),
    /// The rollout a lead publishes (None: the ConfigMap is gone or unreadable).
    Rollout(Option<Box<rollout::Published>>),
}

/// A keyed table fed by one watch, with the relist bookkeeping of a reflector: what
/// the watch reflected of the cluster.
#[derive(Debug)]
pub struct Reflected<T> {
    pub items: HashMap<String, T>,
    relisting: Option<HashSet<String>>,
}

impl<T> Default for Reflected<T> {
    fn default() -> Self {
        Reflected {
            items: HashMap::new(),
            relisting: None,
        }
    }
}

impl<T> Reflected<T> {
    /// Applies one change; returns what left the table: the value an upsert
    /// replaced, the deleted one, or those a finished relist did not see again.
    pub fn apply(&mut self, change: Change<T>) -> Vec<(String, T)> {
        match change {
            Change::InitStart => {
                self.relisting = Some(HashSet::new());
                Vec::new()
            }
            Change::Upsert(key, value) => {
                if let Some(seen) = &mut self.relisting {
                    seen.insert(key.clone());
                }
                match self.items.insert(key.clone(), value) {
                    Some(old) => vec![(key, old)],
                    None => Vec::new(),
                }
            }
            Change::Delete(key) => {
                if let Some(seen) = &mut self.relisting {
                    seen.remove(&key);
                }
                self.items.remove(&key).map(|old| (key, old)).into_iter().collect()
            }
            Change::InitDone => {
                let Some(seen) = self.relisting.take() else {
                    return Vec::new();
                };
                let gone: Vec<String> = self.items.keys().filter(|k| !seen.contains(*k)).cloned().collect();
                gone.into_iter()
                    .filter_map(|k| self.items.remove(&k).map(|old| (k, old)))
                    .collect()
            }
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// What is bound to one node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodePods {
    pub pods: u32,
    /// Pods (not of a DaemonSet) being deleted or evicted: the node is draining.
    pub leaving: u32,
}

/// Aggregates over all pods, kept up to date change by change, so that the
/// signals never walk 150,000 pods.
#[derive(Debug, Default)]
pub struct PodIndex {
    pub by_node: HashMap<Arc<str>, NodePods>,
    /// Keys of pods waiting for a node.
    pub unscheduled: HashSet<String>,
    /// Keys of pods in an error state.
    pub errors: HashSet<String>,
    /// Container restarts summed over all pods.
    pub restarts: u64,
    /// Keys of pods with no controller (lost if their node goes), not finished.
    pub ownerless: HashSet<String>,
    /// Keys of pods that mount PersistentVolumeClaims, not finished.
    pub with_claims: HashSet<String>,
}

impl PodIndex {
    fn leaving(p: &PodInfo) -> bool {
        p.deleting && p.owner_kind != pod::OwnerKind::DaemonSet
    }

    fn add(&mut self, key: &str, p: &PodInfo) {
        if let Some(n) = &p.node {
            let e = self.by_node.entry(n.clone()).or_default();
            e.pods += 1;
            e.leaving += u32::from(Self::leaving(p));
        }
        if p.is_unscheduled() {
            self.unscheduled.insert(key.to_string());
        }
        if p.error.is_some() {
            self.errors.insert(key.to_string());
        }
        self.restarts += u64::from(p.restarts);
        if p.is_ownerless() {
            self.ownerless.insert(key.to_string());
        }
        if p.volumes.is_some() && !matches!(p.phase, pod::PodPhase::Succeeded | pod::PodPhase::Failed) {
            self.with_claims.insert(key.to_string());
        }
    }

    fn remove(&mut self, key: &str, p: &PodInfo) {
        if let Some(n) = &p.node
            && let Some(e) = self.by_node.get_mut(n)
        {
            e.pods = e.pods.saturating_sub(1);
            e.leaving = e.leaving.saturating_sub(u32::from(Self::leaving(p)));
            if e.pods == 0 {
                self.by_node.remove(n);
            }
        }
        self.unscheduled.remove(key);
        self.errors.remove(key);
        self.restarts = self.restarts.saturating_sub(u64::from(p.restarts));
        self.ownerless.remove(key);
        self.with_claims.remove(key);
    }
}

/// The cluster as the cockpit knows it.
#[derive(Debug)]
pub struct ClusterModel {
    pub nodes: Reflected<NodeInfo>,
    pub pods: Reflected<PodInfo>,
    /// Aggregates over `pods`.
    pub pod_index: PodIndex,
    pub pdbs: Reflected<PdbInfo>,
    pub components: Reflected<ComponentInfo>,
    /// Every workload's availability.
    pub workloads: workload::Workloads,
    /// Services and their ready endpoints.
    pub services: service::Services,
    /// Karpenter's NodePools, NodeClaims, launch failures and nominations.
    pub karpenter: karpenter::Karpenter,
    /// PersistentVolumeClaims and the zones of their volumes.
    pub volumes: volume::Volumes,
    pub sources: BTreeMap<Source, SourceState>,
    /// The API server's version, e.g. `v1.30.5-eks-ce1d5eb`.
    pub server_version: Option<String>,
    /// The minor a driven rollout goes to: nodes below it are "old".
    pub rollout_target: Option<String>,
    /// When the cockpit started watching: nodes created after it count as new.
    pub started: Timestamp,
    /// Bumped on every change: the screen redraws when it moves.
    pub generation: u64,
    /// The cockpit's clock when the last batch came in: when a workload's availability changed.
    pub now: Timestamp,
}

impl ClusterModel {
    pub fn new(started: Timestamp) -> ClusterModel {
        ClusterModel {
            nodes: Reflected::default(),
            pods: Reflected::default(),
            pod_index: PodIndex::default(),
            pdbs: Reflected::default(),
            components: Reflected::default(),
            workloads: workload::Workloads::default(),
            services: service::Services::default(),
            karpenter: karpenter::Karpenter::default(),
            volumes: volume::Volumes::default(),
            sources: Source::ALL.iter().map(|s| (*s, SourceState::Syncing)).collect(),
            server_version: None,
            rollout_target: None,
            started,
            generation: 0,
            now: started,
        }
    }

    /// Applies a batch of changes; events go to the log.
    pub fn apply(&mut self, delta: Delta, log: &mut EventLog) {
        self.generation += 1;
        match delta {
            Delta::Nodes(changes) => changes.into_iter().for_each(|c| {
                self.nodes.apply(c);
            }),
            Delta::Pods(changes) => {
                for c in changes {
                    let upserted = match &c {
                        Change::Upsert(k, _) => Some(k.clone()),
                        _ => None,
                    };
                    for (k, old) in self.pods.apply(c) {
                        self.pod_index.remove(&k, &old);
                    }
                    if let Some(k) = upserted
                        && let Some(new) = self.pods.items.get(&k)
                    {
                        self.pod_index.add(&k, new);
                    }
                }
            }
            Delta::Pdbs(changes) => changes.into_iter().for_each(|c| {
                self.pdbs.apply(c);
            }),
            Delta::Components(changes) => changes.into_iter().for_each(|c| {
                self.components.apply(c);
            }),
            Delta::Workloads(kind, changes) => {
                for c in changes {
                    for (key, component) in self.workloads.apply(kind, c, self.now) {
                        match component {
                            Some(info) => self.components.apply(Change::Upsert(key, info)),
                            None => self.components.apply(Change::Delete(key)),
                        };
                    }
                }
            }
            Delta::Services(changes) => changes.into_iter().for_each(|c| {
                self.services.services.apply(c);
            }),
            Delta::EndpointSlices(changes) => changes.into_iter().for_each(|c| self.services.apply_slice(c)),
            Delta::NodePools(changes) => changes.into_iter().for_each(|c| {
                self.karpenter.nodepools.apply(c);
            }),
            Delta::NodeClaims(changes) => changes.into_iter().for_each(|c| {
                self.karpenter.nodeclaims.apply(c);
            }),
            Delta::PersistentVolumeClaims(changes) => changes.into_iter().for_each(|c| {
                self.volumes.claims.apply(c);
            }),
            Delta::PersistentVolumes(changes) => changes.into_iter().for_each(|c| {
                self.volumes.volumes.apply(c);
            }),
            Delta::Nominations(list) => {
                self.karpenter.nominated.extend(list);
                if self.karpenter.nominated.len() > 4 * self.pod_index.unscheduled.len() + 1024 {
                    let pods = &self.pods.items;
                    self.karpenter.prune_nominations(|k| pods.contains_key(k));
                }
            }
            Delta::Events(changes) => {
                for c in changes {
                    if let Change::Upsert(_, entry) = c {
                        if entry.level == Level::Warning
                            && let Some(claim) = entry.object.strip_prefix("NodeClaim/")
                        {
                            self.karpenter
                                .failure(claim, &entry.reason, &entry.message, entry.at, entry.count);
                        }
                        log.push(entry);
                    }
                }
            }
            Delta::Source(source, SourceState::Absent) => {
                self.sources.remove(&source);
            }
            Delta::Source(source, state) => {
                let old = self.sources.insert(source, state.clone());
                if old.as_ref() != Some(&state) {
                    match &state {
                        SourceState::Forbidden(why) => log.push(LogEntry::local(
                            Level::Warning,
                            "CannotSee",
                            format!("cannot watch {}: {why}", source.resource()),
                        )),
                        SourceState::Failing(why) => log.push(LogEntry::local(
                            Level::Warning,
                            "WatchFailing",
                            format!("watch on {} failing, retrying: {why}", source.resource()),
                        )),
                        SourceState::Synced if matches!(old, Some(SourceState::Failing(_))) => {
                            log.push(LogEntry::local(
                                Level::Info,
                                "WatchRecovered",
                                format!("watch on {} recovered", source.resource()),
                            ))
                        }
                        _ => {}
                    }
                }
            }
            Delta::ServerVersion(v) => {
                if self.server_version.as_deref() != Some(v.as_str()) {
                    if let Some(old) = &self.server_version {
                        log.push(LogEntry::local(
                            Level::Info,
                            "ControlPlaneVersion",
                            format!("API server version changed: {old} → {v}"),
                        ));
                    }
                    self.server_version = Some(v);
                }
            }
            // the cockpit keeps the rollout; the cluster model has no part of it
            Delta::Rollout(_) => {}
        }
    }

    /// Every watch has listed what it may see (forbidden ones count as done), and at
    /// least one listed something.
    pub fn synced(&self) -> bool {
        self.sources
            .values()
            .all(|s| matches!(s, SourceState::Synced | SourceState::Forbidden(_)))
            // a view that could list nothing at all is not a view of the cluster
            && self.sources.values().any(|s| matches!(s, SourceState::Synced))
    }

    /// The control plane's minor version, else the newest kubelet's.
    pub fn target_minor(&self) -> Option<String> {
        if let Some(t) = &self.rollout_target {
            return Some(t.clone());
        }
        let server = self.server_version.as_deref().and_then(Minor::parse);
        server.map(|m| m.to_string()).or_else(|| {
            self.nodes
                .items
                .values()
                .map(|n| n.minor.to_string())
                .filter(|m| !m.is_empty())
                .max_by_key(|m| Minor::key(m))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::pod::{ErrorKind, OwnerKind, PodPhase};

    fn pod(name: &str, node: Option<&str>, error: Option<ErrorKind>, restarts: u32, deleting: bool) -> PodInfo {
        PodInfo {
            namespace: Arc::from("ns"),
            name: name.to_string(),
            node: node.map(Arc::from),
            phase: if node.is_some() {
                PodPhase::Running
            } else {
                PodPhase::Pending
            },
            owner_kind: OwnerKind::ReplicaSet,
            owner: Some(Arc::from("web-abcde")),
            ready: error.is_none(),
            deleting,
            restarts,
            error,
            reason: None,
            unschedulable: None,
            empty_dir: false,
            created: None,
            volumes: None,
        }
    }

    /// The index rebuilt from scratch, to compare with the one kept change by change.
    fn rebuilt(m: &ClusterModel) -> PodIndex {
        let mut ix = PodIndex::default();
        for (k, p) in &m.pods.items {
            ix.add(k, p);
        }
        ix
    }

    fn same(a: &PodIndex, b: &PodIndex) -> bool {
        a.by_node == b.by_node
            && a.unscheduled == b.unscheduled
            && a.errors == b.errors
            && a.restarts == b.restarts
            && a.ownerless == b.ownerless
            && a.with_claims == b.with_claims
    }

    #[test]
    fn the_pod_index_follows_upserts_deletes_and_relists() {
        let mut m = ClusterModel::new(Timestamp::UNIX_EPOCH);
        let mut log = EventLog::new(10);
        let up = |k: &str, p: PodInfo| Change::Upsert(format!("ns/{k}"), p);
        m.apply(
            Delta::Pods(vec![
                Change::InitStart,
                up("a", pod("a", Some("n1"), None, 0, false)),
                up("b", pod("b", None, None, 0, false)),
                up("c", pod("c", Some("n2"), Some(ErrorKind::CrashLoopBackOff), 4, false)),
                Change::InitDone,
            ]),
            &mut log,
        );
        assert!(same(&m.pod_index, &rebuilt(&m)));
        assert_eq!(m.pod_index.restarts, 4);
        assert_eq!(m.pod_index.unscheduled.len(), 1);
        // b gets a node; c restarts more; a is being evicted; then c is deleted
        m.apply(
            Delta::Pods(vec![
                up("b", pod("b", Some("n1"), None, 0, false)),
                up("c", pod("c", Some("n2"), Some(ErrorKind::CrashLoopBackOff), 9, false)),
                up("a", pod("a", Some("n1"), None, 0, true)),
            ]),
            &mut log,
        );
        assert!(same(&m.pod_index, &rebuilt(&m)));
        assert_eq!(
            m.pod_index.by_node[&Arc::<str>::from("n1")],
            NodePods { pods: 2, leaving: 1 }
        );
        assert_eq!(m.pod_index.restarts, 9);
        assert!(m.pod_index.unscheduled.is_empty());
        m.apply(Delta::Pods(vec![Change::Delete("ns/c".into())]), &mut log);
        assert!(same(&m.pod_index, &rebuilt(&m)));
        assert!(
            !m.pod_index.by_node.contains_key("n2"),
            "an empty node leaves the index"
        );
        // a relist that no longer sees a: a leaves the index too
        m.apply(
            Delta::Pods(vec![
                Change::InitStart,
                up("b", pod("b", Some("n1"), Some(ErrorKind::OOMKilled), 1, false)),
                Change::InitDone,
            ]),
            &mut log,
        );
        assert!(same(&m.pod_index, &rebuilt(&m)));
        assert_eq!(m.pods.len(), 1);
        assert_eq!(
            m.pod_index.by_node[&Arc::<str>::from("n1")],
            NodePods { pods: 1, leaving: 0 }
        );
        assert_eq!(m.pod_index.errors.len(), 1);
        let s = Signals::compute(&m);
        assert_eq!(s.errors.pods, 1);
        assert_eq!(s.errors.by_kind.get("OOMKilled"), Some(&1));
        assert_eq!(s.errors.restarts, 1);
    }
}
