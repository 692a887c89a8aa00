//! Availability of workloads: every Deployment, StatefulSet, DaemonSet and
//! ReplicaSet without an owner, with its desired, ready and available replicas as
//! its controller reports them, projected from the API objects on arrival. The
//! model keeps the set of workloads that are not fully available change by change
//! ([`Workloads`]), so that nothing walks every workload, let alone every pod, per frame.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::component::ComponentInfo;
use super::pod::{OwnerKind, PodInfo};
use super::{Change, Interner, Reflected, Timestamp};

/// The kinds of workload whose availability the cockpit follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Deployment, Kind::StatefulSet, Kind::DaemonSet, Kind::ReplicaSet];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
            Kind::ReplicaSet => "ReplicaSet",
        }
    }
}

/// How available a workload is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Wants pods and has none available.
    Down,
    /// Fewer available than wanted.
    Degraded,
    /// Every wanted pod available (or none wanted).
    Available,
}

impl Level {
    pub fn of(desired: u32, available: u32) -> Level {
        if desired > 0 && available == 0 {
            Level::Down
        } else if available < desired {
            Level::Degraded
        } else {
            Level::Available
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Down => "down",
            Level::Degraded => "degraded",
            Level::Available => "available",
        }
    }
}

/// A workload as the cockpit sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadInfo {
    pub kind: Kind,
    pub namespace: Arc<str>,
    pub name: String,
    pub desired: u32,
    pub ready: u32,
    pub available: u32,
    /// A ReplicaSet's controlling Deployment; its pods count as the Deployment's.
    pub owner: Option<Arc<str>>,
    /// The pod template's labels (what a PodDisruptionBudget selects by).
    pub labels: Vec<(String, String)>,
    /// A critical component (DNS, pod networking, ingress, autoscaling), if it is one.
    pub component: Option<ComponentInfo>,
}

fn count(v: Option<i32>) -> u32 {
    v.map_or(0, |n| u32::try_from(n).unwrap_or(0))
}

fn labels(t: Option<&ObjectMeta>) -> Vec<(String, String)> {
    t.and_then(|m| m.labels.as_ref())
        .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

fn controller(meta: &ObjectMeta) -> Option<(&str, &str)> {
    meta.owner_references
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|o| o.controller == Some(true))
        .map(|o| (o.kind.as_str(), o.name.as_str()))
}

impl WorkloadInfo {
    fn base(kind: Kind, meta: &ObjectMeta, strings: &mut Interner) -> WorkloadInfo {
        WorkloadInfo {
            kind,
            namespace: strings.get(meta.namespace.as_deref().unwrap_or("")),
            name: meta.name.clone().unwrap_or_default(),
            desired: 0,
            ready: 0,
            available: 0,
            owner: None,
            labels: Vec::new(),
            component: None,
        }
    }

    pub fn from_deployment(d: &Deployment, strings: &mut Interner) -> Option<WorkloadInfo> {
        let s = d.status.as_ref();
        let spec = d.spec.as_ref();
        Some(WorkloadInfo {
            desired: count(spec.and_then(|s| s.replicas).or(Some(1))),
            ready: count(s.and_then(|s| s.ready_replicas)),
            available: count(s.and_then(|s| s.available_replicas)),
            labels: labels(spec.and_then(|s| s.template.metadata.as_ref())),
            component: ComponentInfo::from_deployment(d),
            ..WorkloadInfo::base(Kind::Deployment, &d.metadata, strings)
        })
    }

    pub fn from_statefulset(d: &StatefulSet, strings: &mut Interner) -> Option<WorkloadInfo> {
        let s = d.status.as_ref();
        let spec = d.spec.as_ref();
        Some(WorkloadInfo {
            desired: count(spec.and_then(|s| s.replicas).or(Some(1))),
            ready: count(s.and_then(|s| s.ready_replicas)),
            available: count(s.and_then(|s| s.available_replicas)),
            labels: labels(spec.and_then(|s| s.template.metadata.as_ref())),
            ..WorkloadInfo::base(Kind::StatefulSet, &d.metadata, strings)
        })
    }

    pub fn from_daemonset(d: &DaemonSet, strings: &mut Interner) -> Option<WorkloadInfo> {
        let s = d.status.as_ref();
        Some(WorkloadInfo {
            desired: s.map_or(0, |s| count(Some(s.desired_number_scheduled))),
            ready: s.map_or(0, |s| count(Some(s.number_ready))),
            available: s.map_or(0, |s| count(s.number_available)),
            labels: labels(d.spec.as_ref().and_then(|s| s.template.metadata.as_ref())),
            component: ComponentInfo::from_daemonset(d),
            ..WorkloadInfo::base(Kind::DaemonSet, &d.metadata, strings)
        })
    }

    /// Every ReplicaSet is kept (a Deployment's tell whose its pods are); only those
    /// without a controlling Deployment are workloads of their own.
    pub fn from_replicaset(d: &ReplicaSet, strings: &mut Interner) -> Option<WorkloadInfo> {
        let s = d.status.as_ref();
        let spec = d.spec.as_ref();
        let owner = controller(&d.metadata).map(|(_, name)| strings.get(name));
        Some(WorkloadInfo {
            desired: count(spec.and_then(|s| s.replicas).or(Some(1))),
            ready: count(s.and_then(|s| s.ready_replicas)),
            available: count(s.and_then(|s| s.available_replicas)),
            labels: if owner.is_some() {
                Vec::new()
            } else {
                labels(spec.and_then(|s| s.template.as_ref()).and_then(|t| t.metadata.as_ref()))
            },
            owner,
            ..WorkloadInfo::base(Kind::ReplicaSet, &d.metadata, strings)
        })
    }

    pub fn level(&self) -> Level {
        Level::of(self.desired, self.available)
    }

    /// `Deployment shop/recommendations`: the name gates, journals and the verdict use.
    pub fn id(&self) -> String {
        id(self.kind, &format!("{}/{}", self.namespace, self.name))
    }

    /// Whether the cockpit counts it as a workload (a ReplicaSet a Deployment
    /// controls is part of that Deployment).
    pub fn counted(&self) -> bool {
        self.kind != Kind::ReplicaSet || self.owner.is_none()
    }
}

/// `Deployment shop/recommendations` from a kind and `namespace/name`.
pub fn id(kind: Kind, key: &str) -> String {
    format!("{} {key}", kind.as_str())
}

/// Every workload, one table per kind, with the ones not fully available kept
/// change by change, and since when each has been so (by the model's clock).
#[derive(Debug, Default)]
pub struct Workloads {
    pub tables: HashMap<Kind, Reflected<WorkloadInfo>>,
    /// Ids of counted workloads that are not fully available.
    pub unavailable: HashSet<String>,
    /// Since when each workload in `unavailable` has been at its level.
    pub since: HashMap<String, (Level, Timestamp)>,
    /// Counted workloads, of every kind.
    pub counted: usize,
}

impl Workloads {
    pub fn table(&self, kind: Kind) -> Option<&Reflected<WorkloadInfo>> {
        self.tables.get(&kind)
    }

    fn forget(&mut self, w: &WorkloadInfo) {
        if w.counted() {
            self.counted = self.counted.saturating_sub(1);
            self.unavailable.remove(&w.id());
        }
    }

    fn note(&mut self, w: &WorkloadInfo, now: Timestamp) {
        if !w.counted() {
            return;
        }
        self.counted += 1;
        let id = w.id();
        let level = w.level();
        if level == Level::Available {
            self.since.remove(&id);
        } else {
            self.unavailable.insert(id.clone());
            match self.since.get(&id) {
                Some((l, _)) if *l == level => {}
                _ => {
                    self.since.insert(id, (level, now));
                }
            }
        }
    }

    /// Applies one change to the table of `kind`; returns the components to upsert
    /// (Some) or remove (None) by `namespace/name`.
    pub fn apply(
        &mut self,
        kind: Kind,
        change: Change<WorkloadInfo>,
        now: Timestamp,
    ) -> Vec<(String, Option<ComponentInfo>)> {
        let upserted = match &change {
            Change::Upsert(k, _) => Some(k.clone()),
            _ => None,
        };
        let table = self.tables.entry(kind).or_default();
        let gone = table.apply(change);
        let new = upserted.as_ref().and_then(|k| table.items.get(k)).cloned();
        let mut components = Vec::new();
        for (k, old) in &gone {
            self.forget(old);
            if new.is_none() && old.component.is_some() {
                components.push((k.clone(), None));
            }
            if new.is_none() && old.counted() {
                self.since.remove(&old.id());
            }
        }
        if let (Some(k), Some(w)) = (upserted, new) {
            self.note(&w, now);
            if w.component.is_some() || gone.iter().any(|(_, o)| o.component.is_some()) {
                components.push((k, w.component.clone()));
            }
        }
        components
    }

    /// A counted workload by id.
    pub fn get(&self, id: &str) -> Option<&WorkloadInfo> {
        let (kind, key) = id.split_once(' ')?;
        let kind = Kind::ALL.into_iter().find(|k| k.as_str() == kind)?;
        self.tables.get(&kind)?.items.get(key)
    }

    /// The id of the workload a pod belongs to: a ReplicaSet's pods are their
    /// Deployment's when a Deployment controls it.
    pub fn of_pod(&self, p: &PodInfo) -> Option<String> {
        let owner = p.owner.as_deref()?;
        let key = format!("{}/{owner}", p.namespace);
        let kind = match p.owner_kind {
            OwnerKind::ReplicaSet => {
                let rs = self.tables.get(&Kind::ReplicaSet).and_then(|t| t.items.get(&key));
                return Some(match rs.and_then(|r| r.owner.as_deref()) {
                    Some(d) => id(Kind::Deployment, &format!("{}/{d}", p.namespace)),
                    None => id(Kind::ReplicaSet, &key),
                });
            }
            OwnerKind::StatefulSet => Kind::StatefulSet,
            OwnerKind::DaemonSet => Kind::DaemonSet,
            _ => return None,
        };
        Some(id(kind, &key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(kind: Kind, name: &str, desired: u32, available: u32, owner: Option<&str>) -> WorkloadInfo {
        WorkloadInfo {
            kind,
            namespace: Arc::from("shop"),
            name: name.into(),
            desired,
            ready: available,
            available,
            owner: owner.map(Arc::from),
            labels: Vec::new(),
            component: None,
        }
    }

    fn rebuilt(ws: &Workloads) -> (HashSet<String>, usize) {
        let mut set = HashSet::new();
        let mut n = 0;
        for t in ws.tables.values() {
            for x in t.items.values().filter(|x| x.counted()) {
                n += 1;
                if x.level() != Level::Available {
                    set.insert(x.id());
                }
            }
        }
        (set, n)
    }

    #[test]
    fn levels_follow_available_against_desired() {
        assert_eq!(Level::of(6, 0), Level::Down);
        assert_eq!(Level::of(6, 5), Level::Degraded);
        assert_eq!(Level::of(6, 6), Level::Available);
        assert_eq!(Level::of(0, 0), Level::Available);
    }

    #[test]
    fn the_unavailable_set_follows_changes_and_relists_and_keeps_since() {
        let t0 = Timestamp::from_second(100).unwrap();
        let t1 = Timestamp::from_second(200).unwrap();
        let mut ws = Workloads::default();
        let up = |x: WorkloadInfo| Change::Upsert(format!("shop/{}", x.name), x);
        ws.apply(Kind::Deployment, Change::InitStart, t0);
        ws.apply(Kind::Deployment, up(w(Kind::Deployment, "web", 3, 3, None)), t0);
        ws.apply(Kind::Deployment, up(w(Kind::Deployment, "recs", 6, 2, None)), t0);
        ws.apply(Kind::Deployment, Change::InitDone, t0);
        ws.apply(
            Kind::ReplicaSet,
            up(w(Kind::ReplicaSet, "recs-5d9f8", 6, 0, Some("recs"))),
            t0,
        );
        ws.apply(Kind::ReplicaSet, up(w(Kind::ReplicaSet, "lone", 2, 0, None)), t0);
        assert_eq!(rebuilt(&ws), (ws.unavailable.clone(), ws.counted));
        assert_eq!(ws.counted, 3, "a Deployment's ReplicaSet is not counted on its own");
        assert_eq!(ws.since["Deployment shop/recs"], (Level::Degraded, t0));
        // recs goes down: its level changes, and so its since
        ws.apply(Kind::Deployment, up(w(Kind::Deployment, "recs", 6, 0, None)), t1);
        assert_eq!(ws.since["Deployment shop/recs"], (Level::Down, t1));
        // a relist no longer sees web; lone recovers
        ws.apply(Kind::Deployment, Change::InitStart, t1);
        ws.apply(Kind::Deployment, up(w(Kind::Deployment, "recs", 6, 0, None)), t1);
        ws.apply(Kind::Deployment, Change::InitDone, t1);
        ws.apply(Kind::ReplicaSet, up(w(Kind::ReplicaSet, "lone", 2, 2, None)), t1);
        assert_eq!(rebuilt(&ws), (ws.unavailable.clone(), ws.counted));
        assert_eq!(ws.counted, 2);
        assert!(!ws.since.contains_key("ReplicaSet shop/lone"));
        assert_eq!(
            ws.since["Deployment shop/recs"],
            (Level::Down, t1),
            "same level, same since"
        );
        assert!(ws.get("Deployment shop/recs").is_some());
    }

    #[test]
    fn a_pod_belongs_to_its_replicasets_deployment() {
        let t0 = Timestamp::from_second(100).unwrap();
        let mut ws = Workloads::default();
        let rs = w(Kind::ReplicaSet, "recs-5d9f8", 6, 0, Some("recs"));
        ws.apply(Kind::ReplicaSet, Change::Upsert("shop/recs-5d9f8".into(), rs), t0);
        let mut p = PodInfo {
            namespace: Arc::from("shop"),
            name: "recs-5d9f8-abcde".into(),
            node: None,
            phase: super::super::pod::PodPhase::Running,
            owner_kind: OwnerKind::ReplicaSet,
            owner: Some(Arc::from("recs-5d9f8")),
            ready: false,
            deleting: false,
            restarts: 0,
            error: None,
            reason: None,
            unschedulable: None,
            empty_dir: false,
            created: None,
            volumes: None,
        };
        assert_eq!(ws.of_pod(&p).as_deref(), Some("Deployment shop/recs"));
        p.owner = Some(Arc::from("other"));
        assert_eq!(ws.of_pod(&p).as_deref(), Some("ReplicaSet shop/other"));
        p.owner_kind = OwnerKind::StatefulSet;
        p.owner = Some(Arc::from("db"));
        assert_eq!(ws.of_pod(&p).as_deref(), Some("StatefulSet shop/db"));
        p.owner_kind = OwnerKind::None;
        p.owner = None;
        assert_eq!(ws.of_pod(&p), None);
    }
}
