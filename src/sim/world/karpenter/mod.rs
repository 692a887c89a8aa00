//! Karpenter in the simulated cluster, and EKS Auto Mode (which runs Karpenter for
//! you): its custom resources (NodePools, NodeClaims, EC2NodeClasses or Auto Mode's
//! NodeClass, and their CustomResourceDefinitions) and a controller that moves on the
//! virtual clock like Karpenter's: it resolves node classes, provisions nodes for
//! pending pods, marks drift, disrupts drifted nodes within the NodePools' budgets
//! (replacement first), expires nodes and terminates them through the eviction API.

pub mod automode;
pub mod budgets;
pub mod build;
pub mod catalog;
pub mod crds;
pub mod cron;
mod disruption;
mod drift;
mod lifecycle;
mod nodeclass;
mod nodepool;
pub mod objects;
mod provisioner;
pub mod requirements;
pub mod spec;
mod termination;
#[cfg(test)]
mod tests;
pub mod validation;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};

pub use self::objects::{EC2NodeClass, NodeClaim, NodeClass, NodePool};
use super::{Stored, Timer, World};
use crate::sim::store::Table;

/// Labels and annotations Karpenter reads and writes.
pub mod keys {
    pub const NODEPOOL: &str = "karpenter.sh/nodepool";
    pub const CAPACITY_TYPE: &str = "karpenter.sh/capacity-type";
    pub const INITIALIZED: &str = "karpenter.sh/initialized";
    pub const REGISTERED: &str = "karpenter.sh/registered";
    pub const DO_NOT_DISRUPT: &str = "karpenter.sh/do-not-disrupt";
    pub const NODEPOOL_HASH: &str = "karpenter.sh/nodepool-hash";
    pub const NODEPOOL_HASH_VERSION: &str = "karpenter.sh/nodepool-hash-version";
    pub const TERMINATION_TIMESTAMP: &str = "karpenter.sh/nodeclaim-termination-timestamp";
    pub const TERMINATION_FINALIZER: &str = "karpenter.sh/termination";
    pub const DISRUPTED_TAINT: &str = "karpenter.sh/disrupted";
    pub const EC2NODECLASS: &str = "karpenter.k8s.aws/ec2nodeclass";
    pub const EC2NODECLASS_HASH: &str = "karpenter.k8s.aws/ec2nodeclass-hash";
    pub const EC2NODECLASS_HASH_VERSION: &str = "karpenter.k8s.aws/ec2nodeclass-hash-version";
    pub const EC2NODECLASS_FINALIZER: &str = "karpenter.k8s.aws/termination";
    pub const AUTO_NODECLASS: &str = "eks.amazonaws.com/nodeclass";
    pub const AUTO_COMPUTE_TYPE: &str = "eks.amazonaws.com/compute-type";
    pub const ZONE: &str = "topology.kubernetes.io/zone";
    pub const REGION: &str = "topology.kubernetes.io/region";
    pub const INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
    pub const NODEPOOL_HASH_VERSION_VALUE: &str = "v3";
    pub const EC2NODECLASS_HASH_VERSION_VALUE: &str = "v4";
}

/// Virtual seconds between two passes of the controller.
pub const PASS_SECS: f64 = 5.0;
/// Virtual seconds between two passes of the disruption controller (Karpenter polls every 10 s).
pub const DISRUPTION_SECS: i64 = 10;
/// How often a node class re-resolves its AMIs (Karpenter requeues every 5 minutes).
pub const AMI_REFRESH_SECS: i64 = 300;
/// An offering that failed with insufficient capacity is skipped this long (Karpenter: 3 minutes).
pub const ICE_TTL_SECS: i64 = 180;
/// EKS Auto Mode replaces a node after 21 days whatever its NodePool says.
pub const AUTO_MODE_MAX_LIFETIME_HOURS: i64 = 21 * 24;

/// An EC2 offering the simulated cloud refuses with InsufficientInstanceCapacity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unavailable {
    pub instance_type: String,
    /// None: every zone.
    pub zone: Option<String>,
    /// None: on-demand and spot.
    pub capacity_type: Option<String>,
}

/// What a scenario installed, and how the controller behaves.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Self-managed Karpenter's version (the controller Deployment's image tag), when installed.
    pub version: Option<String>,
    /// EKS Auto Mode's compute: the built-in NodePools enabled.
    pub auto_mode: Option<Vec<String>>,
    /// Virtual seconds from instance launch to a Ready node.
    pub boot_seconds: f64,
    pub unavailable: Vec<Unavailable>,
}

/// A Karpenter-launched EC2 instance.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    pub id: String,
    pub nodeclaim: String,
    pub node_name: String,
    pub zone: String,
    pub instance_type: String,
    pub capacity_type: String,
    pub image_id: String,
    /// Kubelet minor its AMI carries.
    pub minor: String,
    pub os_image: String,
    pub launched: Timestamp,
    /// When termination was requested (the instance goes away after a while).
    pub terminating_since: Option<Timestamp>,
}

/// A node class's resolved AMIs, refreshed every few minutes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Resolved {
    pub amis: Vec<catalog::Ami>,
    pub at: Option<Timestamp>,
    pub generation: Option<i64>,
}

/// Karpenter's part of the world.
pub struct State {
    pub config: Config,
    pub crds: Table<CustomResourceDefinition>,
    pub nodepools: Table<NodePool>,
    pub nodeclaims: Table<NodeClaim>,
    pub ec2nodeclasses: Table<EC2NodeClass>,
    pub nodeclasses: Table<NodeClass>,
    pub instances: BTreeMap<String, Instance>,
    /// AMI releases each family has published, oldest first (the last is `@latest`).
    pub releases: BTreeMap<String, Vec<String>>,
    pub(crate) resolved: HashMap<String, Resolved>,
    pub(crate) commands: Vec<disruption::Command>,
    pub(crate) ice: Vec<(String, Timestamp)>,
    pub(crate) throttle: HashMap<(String, String), Timestamp>,
    pub(crate) nominated: HashMap<String, String>,
    pub(crate) next_disruption: Option<Timestamp>,
    ticking: bool,
    pub(crate) host_counter: u32,
    pub(crate) zone_cursor: HashMap<String, usize>,
}

impl Default for State {
    fn default() -> Self {
        State {
            config: Config {
                boot_seconds: 60.0,
                ..Default::default()
            },
            crds: Table::new(super::WATCH_HISTORY),
            nodepools: Table::new(super::WATCH_HISTORY),
            nodeclaims: Table::new(super::WATCH_HISTORY),
            ec2nodeclasses: Table::new(super::WATCH_HISTORY),
            nodeclasses: Table::new(super::WATCH_HISTORY),
            instances: BTreeMap::new(),
            releases: catalog::FAMILIES
                .iter()
                .chain(["eks-auto"].iter())
                .map(|f| (f.to_string(), catalog::default_releases(f)))
                .collect(),
            resolved: HashMap::new(),
            commands: Vec::new(),
            ice: Vec::new(),
            throttle: HashMap::new(),
            nominated: HashMap::new(),
            next_disruption: None,
            ticking: false,
            host_counter: 0,
            zone_cursor: HashMap::new(),
        }
    }
}

impl State {
    /// Whether any Karpenter CRD is installed (self-managed Karpenter or Auto Mode).
    pub fn installed(&self) -> bool {
        !self.crds.is_empty()
    }

    /// Whether a CRD named `name` (e.g. `nodepools.karpenter.sh`) is installed.
    pub fn has_crd(&self, name: &str) -> bool {
        self.crds.get(name).is_some()
    }

    /// Publishes a new AMI release of `family` (`al2023`, `al2`, `bottlerocket`, or
    /// `eks-auto` for Auto Mode): it becomes `@latest`, so node classes on that alias
    /// drift their nodes at their next refresh (within five minutes), as when AWS
    /// publishes a new AMI. Returns the releases now known, oldest first.
    pub fn release_ami(&mut self, family: &str, release: &str) -> Result<Vec<String>, String> {
        let Some(list) = self.releases.get_mut(family) else {
            let known: Vec<&str> = self.releases.keys().map(String::as_str).collect();
            return Err(format!("no AMI family {family:?} (known: {})", known.join(", ")));
        };
        let ok = release.starts_with('v') && release.len() > 1 && !release[1..].contains(char::is_whitespace);
        if !ok {
            return Err(format!(
                "release {release:?}: write it as the AMI's release tag, e.g. v20251201"
            ));
        }
        if list.iter().any(|r| r == release) {
            return Err(format!("{family} release {release} is already published"));
        }
        list.push(release.to_string());
        Ok(list.clone())
    }

    pub fn compact(&mut self, rv: u64) {
        self.crds.compact(rv);
        self.nodepools.compact(rv);
        self.nodeclaims.compact(rv);
        self.ec2nodeclasses.compact(rv);
        self.nodeclasses.compact(rv);
    }
}

macro_rules! stored_custom {
    ($ty:ty, $field:ident) => {
        impl Stored for $ty {
            fn table(w: &World) -> &Table<Self> {
                &w.karpenter.$field
            }
            fn table_mut(w: &mut World) -> &mut Table<Self> {
                &mut w.karpenter.$field
            }
        }
    };
}

stored_custom!(CustomResourceDefinition, crds);
stored_custom!(NodePool, nodepools);
stored_custom!(NodeClaim, nodeclaims);
stored_custom!(EC2NodeClass, ec2nodeclasses);
stored_custom!(NodeClass, nodeclasses);

/// Starts the controller's passes once something is installed.
pub fn start(w: &mut World) {
    if w.karpenter.installed() && !w.karpenter.ticking {
        w.karpenter.ticking = true;
        w.schedule(PASS_SECS, Timer::Karpenter);
    }
}

/// One pass of every Karpenter controller, then the next pass is scheduled.
pub fn fire(w: &mut World) {
    w.karpenter.ticking = false;
    pass(w);
    start(w);
}

/// One pass of every controller, in Karpenter's order of concerns.
pub fn pass(w: &mut World) {
    let now = w.now;
    w.karpenter.ice.retain(|(_, until)| *until > now);
    nodeclass::reconcile(w);
    nodepool::reconcile(w);
    lifecycle::reconcile(w);
    termination::reconcile(w);
    termination::expire(w);
    drift::reconcile(w);
    if w.karpenter.next_disruption.is_none_or(|t| t <= now) {
        w.karpenter.next_disruption = now.checked_add(jiff::SignedDuration::from_secs(DISRUPTION_SECS)).ok();
        disruption::reconcile(w);
    }
    provisioner::reconcile(w);
    nodepool::reconcile(w);
}

// ---- status conditions as Karpenter writes them -----------------------------

/// A time as Kubernetes writes it in objects (RFC 3339, whole seconds).
pub fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The condition of `type_` in a status.
pub fn condition<'a>(status: Option<&'a Value>, type_: &str) -> Option<&'a Value> {
    status?
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

pub fn is_true(status: Option<&Value>, type_: &str) -> bool {
    condition(status, type_)
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str)
        == Some("True")
}

/// When the condition last changed, if it is there.
pub fn since(status: Option<&Value>, type_: &str) -> Option<Timestamp> {
    condition(status, type_)?
        .get("lastTransitionTime")?
        .as_str()?
        .parse()
        .ok()
}

/// Sets a condition; its transition time moves only when its status does.
pub fn set_condition(
    status: &mut Value,
    type_: &str,
    value: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
    generation: Option<i64>,
) {
    if !status.is_object() {
        *status = json!({});
    }
    if !status["conditions"].is_array() {
        status["conditions"] = json!([]);
    }
    let list = status["conditions"].as_array_mut().expect("just made an array");
    let now_s = rfc3339(now);
    let mut c = json!({
        "type": type_, "status": value, "reason": reason, "message": message,
        "lastTransitionTime": now_s,
    });
    if let Some(g) = generation {
        c["observedGeneration"] = json!(g);
    }
    match list.iter_mut().find(|x| x["type"] == type_) {
        Some(old) => {
            if old["status"] == value {
                c["lastTransitionTime"] = old["lastTransitionTime"].clone();
            }
            *old = c;
        }
        None => list.push(c),
    }
}

pub fn clear_condition(status: &mut Value, type_: &str) {
    if let Some(list) = status.get_mut("conditions").and_then(Value::as_array_mut) {
        list.retain(|c| c["type"] != type_);
    }
}

/// Sets `Ready` from its dependents: True when all are, else False if one is False,
/// else Unknown, naming the dependents that are not True.
pub fn set_ready_from(status: &mut Value, dependents: &[&str], now: Timestamp, generation: Option<i64>) {
    let mut not_true = Vec::new();
    let mut any_false = false;
    for d in dependents {
        let s = condition(Some(status), d)
            .and_then(|c| c.get("status"))
            .and_then(Value::as_str)
            .unwrap_or("Unknown")
            .to_string();
        if s != "True" {
            any_false |= s == "False";
            not_true.push(format!("{d}={s}"));
        }
    }
    if not_true.is_empty() {
        set_condition(status, "Ready", "True", "Ready", "", now, generation);
    } else {
        let value = if any_false { "False" } else { "Unknown" };
        set_condition(
            status,
            "Ready",
            value,
            "UnhealthyDependents",
            &not_true.join(", "),
            now,
            generation,
        );
    }
}

impl World {
    /// Records a Karpenter event about `obj` unless the same one was recorded less
    /// than `every` virtual seconds ago (Karpenter's recorder de-duplicates too).
    pub(crate) fn karpenter_event<T: crate::sim::store::Object>(
        &mut self,
        obj: &T,
        type_: &str,
        reason: &str,
        message: &str,
        every: i64,
    ) {
        let mut r = super::events::reference(obj);
        if T::KIND == "Node" {
            r.uid = obj.metadata().name.clone();
        }
        let key = (r.uid.clone().unwrap_or_default(), format!("{reason}\n{message}"));
        let now = self.now;
        if let Some(last) = self.karpenter.throttle.get(&key)
            && now.duration_since(*last).as_secs() < every
        {
            return;
        }
        self.karpenter.throttle.insert(key, now);
        self.record_event(r, type_, reason, message, "karpenter", None);
    }
}

/// The NodeClaim (by name) behind each node, for the claims that have a node.
pub(crate) fn claims_by_node(w: &World) -> HashMap<String, Arc<NodeClaim>> {
    w.karpenter
        .nodeclaims
        .items()
        .values()
        .filter_map(|c| {
            let node = objects::str_at(c.status.as_ref()?, "nodeName")?;
            Some((node.to_string(), c.clone()))
        })
        .collect()
}
