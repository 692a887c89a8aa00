//! Plain data, no I/O: the cluster as the cockpit sees it (compact records of nodes,
//! pods, budgets, critical workloads and warning events, fed by watches), the four
//! signals computed from it, their time series and the event log.

pub mod component;
pub mod log;
pub mod node;
pub mod pod;
pub mod series;
pub mod signals;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

pub use component::{Category, ComponentInfo, PdbInfo};
pub use log::{EventLog, Level, LogEntry};
pub use node::NodeInfo;
pub use pod::PodInfo;
pub use series::{Series, SeriesSet};
pub use signals::Signals;

pub type Timestamp = jiff::Timestamp;

/// `v1.30.4-eks-a737599` or `1.30` → `1.30`
pub fn minor_of(version: &str) -> Option<String> {
    let v = version.trim_start_matches('v');
    let mut parts = v.split(['.', '-', '+']);
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.trim_end_matches('+').parse().ok()?;
    Some(format!("{major}.{minor}"))
}

/// Orders minor versions numerically (`1.9` < `1.10`).
pub fn minor_key(minor: &str) -> (u32, u32) {
    let mut parts = minor.split('.');
    let major = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor)
}

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
}

impl Source {
    pub const ALL: [Source; 6] = [
        Source::Nodes,
        Source::Pods,
        Source::Events,
        Source::Pdbs,
        Source::Deployments,
        Source::DaemonSets,
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
    Source(Source, SourceState),
    ServerVersion(String),
}

/// A keyed table fed by one watch, with the relist bookkeeping of a reflector.
#[derive(Debug)]
pub struct Table<T> {
    pub items: HashMap<String, T>,
    relisting: Option<HashSet<String>>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            items: HashMap::new(),
            relisting: None,
        }
    }
}

impl<T> Table<T> {
    /// Applies one change; returns the keys that a finished relist removed.
    pub fn apply(&mut self, change: Change<T>) -> Vec<String> {
        match change {
            Change::InitStart => {
                self.relisting = Some(HashSet::new());
                Vec::new()
            }
            Change::Upsert(key, value) => {
                if let Some(seen) = &mut self.relisting {
                    seen.insert(key.clone());
                }
                self.items.insert(key, value);
                Vec::new()
            }
            Change::Delete(key) => {
                if let Some(seen) = &mut self.relisting {
                    seen.remove(&key);
                }
                self.items.remove(&key);
                vec![key]
            }
            Change::InitDone => {
                let Some(seen) = self.relisting.take() else {
                    return Vec::new();
                };
                let gone: Vec<String> = self.items.keys().filter(|k| !seen.contains(*k)).cloned().collect();
                for k in &gone {
                    self.items.remove(k);
                }
                gone
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

/// The cluster as the cockpit knows it.
#[derive(Debug)]
pub struct ClusterModel {
    pub nodes: Table<NodeInfo>,
    pub pods: Table<PodInfo>,
    pub pdbs: Table<PdbInfo>,
    pub components: Table<ComponentInfo>,
    pub sources: BTreeMap<Source, SourceState>,
    /// The API server's version, e.g. `v1.30.5-eks-ce1d5eb`.
    pub server_version: Option<String>,
    /// When the cockpit started watching: nodes created after it count as new.
    pub started: Timestamp,
    /// Bumped on every change: the screen redraws when it moves.
    pub generation: u64,
}

impl ClusterModel {
    pub fn new(started: Timestamp) -> ClusterModel {
        ClusterModel {
            nodes: Table::default(),
            pods: Table::default(),
            pdbs: Table::default(),
            components: Table::default(),
            sources: Source::ALL.iter().map(|s| (*s, SourceState::Syncing)).collect(),
            server_version: None,
            started,
            generation: 0,
        }
    }

    /// Applies a batch of changes; events go to the log.
    pub fn apply(&mut self, delta: Delta, log: &mut EventLog) {
        self.generation += 1;
        match delta {
            Delta::Nodes(changes) => changes.into_iter().for_each(|c| {
                self.nodes.apply(c);
            }),
            Delta::Pods(changes) => changes.into_iter().for_each(|c| {
                self.pods.apply(c);
            }),
            Delta::Pdbs(changes) => changes.into_iter().for_each(|c| {
                self.pdbs.apply(c);
            }),
            Delta::Components(changes) => changes.into_iter().for_each(|c| {
                self.components.apply(c);
            }),
            Delta::Events(changes) => {
                for c in changes {
                    if let Change::Upsert(_, entry) = c {
                        log.push(entry);
                    }
                }
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
        }
    }

    /// Every watch has listed what it may see (forbidden ones count as done).
    pub fn synced(&self) -> bool {
        self.sources
            .values()
            .all(|s| matches!(s, SourceState::Synced | SourceState::Forbidden(_)))
    }

    /// The control plane's minor version, else the newest kubelet's.
    pub fn target_minor(&self) -> Option<String> {
        self.server_version.as_deref().and_then(minor_of).or_else(|| {
            self.nodes
                .items
                .values()
                .map(|n| n.minor.to_string())
                .filter(|m| !m.is_empty())
                .max_by_key(|m| minor_key(m))
        })
    }
}
