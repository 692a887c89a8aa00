//! The simulated cluster's state: one versioned table per kind, the indexes the
//! controllers need, a timer queue on the virtual clock, and the single write path
//! (`put`/`remove`) through which the API and every simulated controller change it.

pub mod addons;
pub mod admission;
pub mod aws_faults;
mod build;
mod daemonset;
mod deployment;
mod disruption;
pub mod eks;
pub mod endpoints;
mod endpointslices;
mod events;
pub mod fargate;
mod gc;
pub mod insights;
pub mod karpenter;
mod kubelet;
pub mod lifecycle;
pub mod logs;
pub mod metrics;
pub mod nodegroup_update;
pub mod nodegroups;
mod nodes;
pub mod nth;
pub mod objects;
mod recheck;
pub mod refresh;
mod replicaset;
mod scheduler;
pub mod service;
mod statefulset;
#[cfg(test)]
mod tests;
pub mod versions;
pub mod volumes;

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Node, Pod, Secret};
use k8s_openapi::api::core::v1::{Endpoints, PersistentVolume, PersistentVolumeClaim, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

pub use build::build;
pub use disruption::EvictionVerdict;
pub use gc::{delete_namespace, delete_pod};
pub use nodes::{GroupLife, Instance, InstanceState, ManagedConfig, NodeGroupKind, NodeGroupState};
pub use nodes::{set_ready as set_node_ready, terminate as terminate_instance};
pub use recheck::Controller;

use super::clock::{Clock, secs};
use super::store::{Object, Table, object_key};

/// Annotations on pods (and pod templates) that tell the simulated kubelet how a pod behaves.
pub mod annotations {
    pub const START_SECONDS: &str = "sim.upshift.dev/start-seconds";
    pub const TERMINATION_SECONDS: &str = "sim.upshift.dev/termination-seconds";
    pub const FAULT: &str = "sim.upshift.dev/fault";
    pub const FAULT_ON_KUBELET: &str = "sim.upshift.dev/fault-on-kubelet";
    pub const FAULT_FRACTION: &str = "sim.upshift.dev/fault-fraction";
}

/// How many changes each table remembers for watches.
const WATCH_HISTORY: usize = 50_000;
/// Fewer for endpoints: each change keeps a whole slice of up to 100 endpoints.
const ENDPOINTS_HISTORY: usize = 5_000;

/// The cluster-level facts of the simulated EKS cluster.
#[derive(Clone, Debug)]
pub struct ClusterState {
    pub name: String,
    pub region: String,
    pub account: String,
    /// Control plane minor version, e.g. "1.30".
    pub version: String,
}

/// Resources requested by the pods bound to one node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub cpu_millis: u64,
    pub memory: u64,
    pub pods: u32,
}

/// Indexes kept up to date by the write path.
#[derive(Default)]
pub struct Index {
    pub pods_by_node: HashMap<String, BTreeSet<String>>,
    /// Controller uid → keys of the pods it owns.
    pub pods_by_owner: HashMap<String, BTreeSet<String>>,
    /// Pods with no node and no deletion pending, by key.
    pub unscheduled: BTreeSet<String>,
    pub node_usage: HashMap<String, Usage>,
    /// uid → (kind, key) of ReplicaSets, DaemonSets and Deployments.
    pub owners: HashMap<String, (&'static str, String)>,
}

/// What the controllers must look at on their next pass.
#[derive(Default)]
pub struct Dirty {
    pub pods: BTreeSet<String>,
    pub replicasets: BTreeSet<String>,
    pub deployments: BTreeSet<String>,
    pub daemonsets: BTreeSet<String>,
    pub all_daemonsets: bool,
    pub pdb_namespaces: BTreeSet<String>,
    pub scheduler: bool,
    pub node_groups: bool,
    /// Services whose endpoints are rebuilt whole.
    pub services: BTreeSet<String>,
    /// (Service, pod) whose endpoint may have changed.
    pub endpoints: BTreeSet<(String, String)>,
    pub statefulsets: BTreeSet<String>,
    /// PersistentVolumeClaims the volume controller looks at.
    pub claims: BTreeSet<String>,
}

impl Dirty {
    fn any(&self) -> bool {
        !self.pods.is_empty()
            || !self.replicasets.is_empty()
            || !self.deployments.is_empty()
            || !self.daemonsets.is_empty()
            || self.all_daemonsets
            || !self.pdb_namespaces.is_empty()
            || self.scheduler
            || self.node_groups
            || !self.services.is_empty()
            || !self.endpoints.is_empty()
            || !self.statefulsets.is_empty()
            || !self.claims.is_empty()
    }
}

/// Something that happens at a virtual time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    /// The pod's containers start (or fail to).
    PodStart { key: String, uid: String },
    /// A faulty container dies.
    ContainerExit { key: String, uid: String },
    /// A terminating pod's containers have stopped: the kubelet removes it.
    PodGone { key: String, uid: String },
    /// A launched instance's kubelet registers its node, Ready.
    NodeJoin { instance: String },
    /// A terminating instance is gone: its node is deleted.
    InstanceGone { instance: String },
    /// Something on the cloud side (EKS updates, instance refreshes, metrics).
    Aws(AwsTimer),
    /// A controller looks again (a pod has now been Ready for its minReadySeconds).
    Recheck { controller: Controller, key: String },
    /// A pass of the Karpenter controllers (`karpenter/`).
    Karpenter,
}

/// Timers of the simulated cloud side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AwsTimer {
    /// A control-plane version update finishes.
    ClusterUpdateDone { id: String },
    /// Node group updates, add-on updates and instance refreshes move on.
    Step,
    /// CloudWatch takes a sample and evaluates alarms.
    Sample,
    /// A lifecycle action's heartbeat timeout may have run out.
    LifecycleTimeout { token: String },
}

#[derive(Debug, PartialEq, Eq)]
struct Due {
    at: Timestamp,
    seq: u64,
    timer: Timer,
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

pub struct World {
    pub clock: Clock,
    /// Virtual time of the change being made.
    pub now: Timestamp,
    rv: u64,
    pub cluster: ClusterState,
    pub groups: Vec<NodeGroupState>,
    /// The cloud side: EKS updates, add-ons, Auto Scaling, CloudWatch.
    pub aws: eks::AwsState,

    pub namespaces: Table<Namespace>,
    pub nodes: Table<Node>,
    pub pods: Table<Pod>,
    pub events: Table<Event>,
    pub pdbs: Table<PodDisruptionBudget>,
    pub deployments: Table<Deployment>,
    pub replicasets: Table<ReplicaSet>,
    pub daemonsets: Table<DaemonSet>,
    pub configmaps: Table<ConfigMap>,
    pub secrets: Table<Secret>,
    pub leases: Table<Lease>,
    pub services: Table<Service>,
    pub endpoints: Table<Endpoints>,
    pub endpointslices: Table<EndpointSlice>,
    pub statefulsets: Table<StatefulSet>,
    pub controllerrevisions: Table<ControllerRevision>,
    pub pvcs: Table<PersistentVolumeClaim>,
    pub pvs: Table<PersistentVolume>,
    pub storageclasses: Table<StorageClass>,
    /// Karpenter's custom resources and controller state (also EKS Auto Mode's).
    pub karpenter: karpenter::State,
    /// Fargate profiles and the Fargate nodes of their pods.
    pub fargate: fargate::State,

    pub idx: Index,
    pub dirty: Dirty,
    timers: BinaryHeap<Reverse<Due>>,
    timer_seq: u64,
    pub(crate) rng: SmallRng,
    pub(crate) kubelet: kubelet::Kubelet,
    pub(crate) recorder: events::Recorder,
    pub(crate) scheduler: scheduler::SchedulerState,
    next_ip: u32,
    host_counter: u32,
    last_housekeeping: Timestamp,
    pub(crate) net: service::NetState,
    pub(crate) rechecks: recheck::Rechecks,
}

/// A kind the world stores, with its table and what a change to it sets in motion.
pub trait Stored: Object {
    fn table(w: &World) -> &Table<Self>;
    fn table_mut(w: &mut World) -> &mut Table<Self>;
    /// Updates indexes and marks controllers dirty after a change.
    fn changed(_w: &mut World, _old: Option<&Arc<Self>>, _new: Option<&Arc<Self>>) {}
}

macro_rules! stored {
    ($ty:ty, $field:ident) => {
        impl Stored for $ty {
            fn table(w: &World) -> &Table<Self> {
                &w.$field
            }
            fn table_mut(w: &mut World) -> &mut Table<Self> {
                &mut w.$field
            }
        }
    };
    ($ty:ty, $field:ident, $hook:path) => {
        impl Stored for $ty {
            fn table(w: &World) -> &Table<Self> {
                &w.$field
            }
            fn table_mut(w: &mut World) -> &mut Table<Self> {
                &mut w.$field
            }
            fn changed(w: &mut World, old: Option<&Arc<Self>>, new: Option<&Arc<Self>>) {
                $hook(w, old, new)
            }
        }
    };
}

stored!(Namespace, namespaces);
stored!(Node, nodes, nodes::node_changed);
stored!(Pod, pods, kubelet::pod_changed);
stored!(Event, events);
stored!(PodDisruptionBudget, pdbs, disruption::pdb_changed);
stored!(Deployment, deployments, deployment::deployment_changed);
stored!(ReplicaSet, replicasets, replicaset::replicaset_changed);
stored!(DaemonSet, daemonsets, daemonset::daemonset_changed);
stored!(ConfigMap, configmaps);
stored!(Secret, secrets);
stored!(Lease, leases);
stored!(Service, services, service::service_changed);
stored!(Endpoints, endpoints);
stored!(EndpointSlice, endpointslices);
stored!(StatefulSet, statefulsets, statefulset::statefulset_changed);
stored!(ControllerRevision, controllerrevisions);
stored!(PersistentVolumeClaim, pvcs, volumes::claim_changed);
stored!(PersistentVolume, pvs);
stored!(StorageClass, storageclasses);

impl World {
    pub fn new(clock: Clock, cluster: ClusterState, seed: u64) -> Self {
        let now = clock.now();
        World {
            clock,
            now,
            rv: 1,
            cluster,
            groups: Vec::new(),
            aws: Default::default(),
            namespaces: Table::new(WATCH_HISTORY),
            nodes: Table::new(WATCH_HISTORY),
            pods: Table::new(WATCH_HISTORY),
            events: Table::new(WATCH_HISTORY),
            pdbs: Table::new(WATCH_HISTORY),
            deployments: Table::new(WATCH_HISTORY),
            replicasets: Table::new(WATCH_HISTORY),
            daemonsets: Table::new(WATCH_HISTORY),
            configmaps: Table::new(WATCH_HISTORY),
            secrets: Table::new(WATCH_HISTORY),
            leases: Table::new(WATCH_HISTORY),
            services: Table::new(WATCH_HISTORY),
            endpoints: Table::new(ENDPOINTS_HISTORY),
            endpointslices: Table::new(ENDPOINTS_HISTORY),
            statefulsets: Table::new(WATCH_HISTORY),
            controllerrevisions: Table::new(WATCH_HISTORY),
            pvcs: Table::new(WATCH_HISTORY),
            pvs: Table::new(WATCH_HISTORY),
            storageclasses: Table::new(WATCH_HISTORY),
            karpenter: Default::default(),
            fargate: Default::default(),
            idx: Index::default(),
            dirty: Dirty::default(),
            timers: BinaryHeap::new(),
            timer_seq: 0,
            rng: SmallRng::seed_from_u64(seed),
            kubelet: Default::default(),
            recorder: Default::default(),
            scheduler: Default::default(),
            next_ip: 0,
            host_counter: 0,
            last_housekeeping: now,
            net: Default::default(),
            rechecks: Default::default(),
        }
    }

    /// The latest resourceVersion handed out.
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    /// Brings `now` to the clock's current virtual time (before an API write).
    pub fn stamp(&mut self) {
        self.now = self.now.max(self.clock.now());
    }

    pub fn get<T: Stored>(&self, key: &str) -> Option<Arc<T>> {
        T::table(self).get(key).cloned()
    }

    /// Stores `obj` (create or replace), then lets the kind's hook react.
    pub fn put<T: Stored>(&mut self, obj: T) -> Arc<T> {
        let rv = self.next_rv();
        let (new, old) = T::table_mut(self).put(obj, rv);
        T::changed(self, old.as_ref(), Some(&new));
        new
    }

    /// Removes the object at `key`, then lets the kind's hook react.
    pub fn remove<T: Stored>(&mut self, key: &str) -> Option<Arc<T>> {
        let rv = self.next_rv();
        let old = T::table_mut(self).remove(key, rv)?;
        T::changed(self, Some(&old), None);
        Some(old)
    }

    /// Forgets all watch history: watches from older versions get `410 Gone`.
    pub fn compact(&mut self) {
        let rv = self.rv;
        self.namespaces.compact(rv);
        self.nodes.compact(rv);
        self.pods.compact(rv);
        self.events.compact(rv);
        self.pdbs.compact(rv);
        self.deployments.compact(rv);
        self.replicasets.compact(rv);
        self.daemonsets.compact(rv);
        self.configmaps.compact(rv);
        self.secrets.compact(rv);
        self.leases.compact(rv);
        self.services.compact(rv);
        self.endpoints.compact(rv);
        self.endpointslices.compact(rv);
        self.statefulsets.compact(rv);
        self.controllerrevisions.compact(rv);
        self.pvcs.compact(rv);
        self.pvs.compact(rv);
        self.storageclasses.compact(rv);
        self.karpenter.compact(rv);
    }

    pub fn schedule(&mut self, after_secs: f64, timer: Timer) {
        let at = self.now.checked_add(secs(after_secs)).unwrap_or(self.now);
        self.timer_seq += 1;
        self.timers.push(Reverse(Due {
            at,
            seq: self.timer_seq,
            timer,
        }));
    }

    /// When the next timer is due, if any.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.timers.peek().map(|d| d.0.at)
    }

    /// Advances the world to the clock's current virtual time: fires due timers in
    /// order, each followed by a pass of the controllers.
    pub fn tick(&mut self) {
        let now = self.clock.now().max(self.now);
        while let Some(Reverse(due)) = self.timers.peek() {
            if due.at > now {
                break;
            }
            let Some(Reverse(due)) = self.timers.pop() else {
                break;
            };
            self.now = self.now.max(due.at);
            self.fire(due.timer);
            self.reconcile();
        }
        self.now = now;
        if now.duration_since(self.last_housekeeping).as_secs() >= 5 {
            self.last_housekeeping = now;
            self.dirty.scheduler |= !self.idx.unscheduled.is_empty();
            self.dirty.node_groups = true;
            gc::expire_events(self);
        }
        self.reconcile();
    }

    fn fire(&mut self, timer: Timer) {
        match timer {
            Timer::PodStart { key, uid } => kubelet::start(self, &key, &uid),
            Timer::ContainerExit { key, uid } => kubelet::container_exit(self, &key, &uid),
            Timer::PodGone { key, uid } => kubelet::gone(self, &key, &uid),
            Timer::NodeJoin { instance } => nodes::join(self, &instance),
            Timer::InstanceGone { instance } => nodes::instance_gone(self, &instance),
            Timer::Aws(t) => eks::fire(self, t),
            Timer::Recheck { controller, key } => recheck::fire(self, controller, &key),
            Timer::Karpenter => karpenter::fire(self),
        }
    }

    /// Runs every controller over what changed, until nothing is left to do.
    pub fn reconcile(&mut self) {
        for _ in 0..16 {
            // Fargate binds its pods before the default scheduler looks, and drops
            // the nodes whose pod is gone
            fargate::reconcile(self);
            if !self.dirty.any() {
                return;
            }
            if std::mem::take(&mut self.dirty.node_groups) {
                nodes::reconcile_groups(self);
            }
            deployment::reconcile(self);
            replicaset::reconcile(self);
            daemonset::reconcile(self);
            statefulset::reconcile(self);
            if std::mem::take(&mut self.dirty.scheduler) {
                scheduler::schedule_pending(self);
            }
            kubelet::sync(self);
            disruption::reconcile(self);
            volumes::reconcile(self);
            endpointslices::reconcile(self);
        }
    }

    /// A fresh object uid.
    pub fn uid(&mut self) -> String {
        let a: u128 = self.rng.random();
        let h = format!("{a:032x}");
        format!(
            "{}-{}-4{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }

    /// `n` random characters from the alphabet Kubernetes uses for generated names.
    pub fn suffix(&mut self, n: usize) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..n)
            .map(|_| ALPHABET[self.rng.random_range(0..ALPHABET.len())] as char)
            .collect()
    }

    /// The next pod IP.
    pub fn pod_ip(&mut self) -> String {
        self.next_ip += 1;
        let n = self.next_ip;
        format!("10.{}.{}.{}", 1 + (n >> 16) % 200, (n >> 8) & 0xff, n & 0xff)
    }

    pub fn time(&self) -> Time {
        Time(self.now)
    }

    /// Fills what the API server sets on create: uid, creation time, generation.
    pub fn stamp_new(&mut self, meta: &mut ObjectMeta) {
        if meta.name.is_none()
            && let Some(prefix) = &meta.generate_name
        {
            meta.name = Some(format!("{prefix}{}", self.suffix(5)));
        }
        meta.uid = Some(self.uid());
        meta.creation_timestamp = Some(self.time());
        meta.deletion_timestamp = None;
    }
}

/// The controller owner of an object, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_deref()?
        .iter()
        .find(|o| o.controller == Some(true))
}

/// An owner reference naming `owner` as controller.
pub fn owner_ref<T: Object>(owner: &T) -> OwnerReference {
    let meta = owner.metadata();
    OwnerReference {
        api_version: T::API_VERSION.to_string(),
        kind: T::KIND.to_string(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The key of an object, by its metadata.
pub fn key<T: Object>(obj: &T) -> String {
    object_key(obj)
}

/// "1.31" from a kubelet version like "v1.31.2-eks-7f9249a".
pub fn minor_of(version: &str) -> String {
    match crate::units::Minor::parse(version) {
        Some(m) => m.to_string(),
        None => version.trim_start_matches('v').to_string(),
    }
}

/// A full EKS-style version string for a minor version ("1.31" → "v1.31.2-eks-…").
pub fn eks_version(minor: &str) -> String {
    let patch = match minor {
        "1.28" => 15,
        "1.29" => 10,
        "1.30" => 6,
        "1.31" => 2,
        "1.32" => 0,
        _ => 1,
    };
    format!("v{minor}.{patch}-eks-{:07x}", fnv(minor.as_bytes()) & 0xfff_ffff)
}

/// FNV-1a, for stable short hashes (pod-template-hash and the like).
pub fn fnv(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// A hash of a pod template, spelled the way Kubernetes spells pod-template-hash.
pub fn template_hash<T: serde::Serialize>(template: &T) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let json = serde_json::to_vec(template).unwrap_or_default();
    let mut h = u64::from(fnv(&json));
    let mut out = String::new();
    for _ in 0..10 {
        out.push(ALPHABET[(h % ALPHABET.len() as u64) as usize] as char);
        h /= ALPHABET.len() as u64;
        if h == 0 {
            break;
        }
    }
    out
}
