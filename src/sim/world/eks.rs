//! The simulated cloud side of the cluster: EKS control-plane and managed node group
//! updates, with the state the AWS endpoint reports (updates, their errors, fault
//! knobs). Everything moves on the world's virtual clock through `AwsTimer`s.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod};

use super::nodes::{self, InstanceState, NodeGroupKind};
use super::{AwsTimer, Timer, World, addons, metrics, minor_of, refresh};

/// Virtual seconds a control-plane version update takes (AWS: roughly 10–25 minutes).
pub const CONTROL_PLANE_UPDATE_SECS: f64 = 14.0 * 60.0;
/// Virtual seconds between two passes of the cloud's reconcilers.
pub const STEP_SECS: f64 = 5.0;
/// How long a managed node group update keeps retrying refused evictions.
pub const EVICTION_TIMEOUT_SECS: i64 = 15 * 60;
/// How long EKS waits after draining a node before terminating its instance.
pub const TERMINATE_DELAY_SECS: i64 = 60;

/// An AWS API error as the endpoint sends it: its code, HTTP status and message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AwsError {
    pub code: &'static str,
    pub status: u16,
    pub message: String,
}

impl AwsError {
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        AwsError {
            code,
            status,
            message: message.into(),
        }
    }
    pub fn in_use(message: impl Into<String>) -> Self {
        Self::new("ResourceInUseException", 409, message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterException", 400, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new("ResourceNotFoundException", 404, message)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateStatus {
    InProgress,
    Failed,
    Cancelled,
    Successful,
}

impl UpdateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateStatus::InProgress => "InProgress",
            UpdateStatus::Failed => "Failed",
            UpdateStatus::Cancelled => "Cancelled",
            UpdateStatus::Successful => "Successful",
        }
    }
}

/// What an EKS update is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateTarget {
    Cluster,
    Nodegroup(String),
    Addon(String),
}

#[derive(Clone, Debug)]
pub struct UpdateError {
    pub code: String,
    pub message: String,
    pub resource_ids: Vec<String>,
}

/// One EKS update (`DescribeUpdate`).
#[derive(Clone, Debug)]
pub struct Update {
    pub id: String,
    pub target: UpdateTarget,
    /// `VersionUpdate` or `AddonUpdate`.
    pub kind: &'static str,
    pub status: UpdateStatus,
    pub params: Vec<(String, String)>,
    pub created: Timestamp,
    pub errors: Vec<UpdateError>,
}

/// Progress of a managed node group version update.
#[derive(Clone, Debug)]
pub struct NodegroupRollout {
    pub update_id: String,
    pub group: String,
    pub from: String,
    pub to: String,
    pub force: bool,
    pub surge: u32,
    pub original_desired: u32,
    pub original_max: u32,
    /// Instances still on the old version when the update started.
    pub old: Vec<String>,
    /// The instance being drained, when its drain started, when evictions were first
    /// refused (and not since allowed), when it became empty.
    pub draining: Option<Drain>,
}

#[derive(Clone, Debug)]
pub struct Drain {
    pub instance: String,
    pub node: String,
    pub refused_since: Option<Timestamp>,
    pub empty_since: Option<Timestamp>,
    pub last_refusal: Option<String>,
}

/// Fault knobs for the AWS endpoint.
#[derive(Clone, Debug, Default)]
pub struct AwsFaults {
    /// The next this many AWS requests are refused with a throttling error.
    pub throttle_next: u32,
}

/// The cloud side's state.
#[derive(Clone, Debug, Default)]
pub struct AwsState {
    pub updates: Vec<Update>,
    pub rollouts: Vec<NodegroupRollout>,
    pub addons: Vec<addons::Addon>,
    pub refresh: refresh::AsgState,
    pub metrics: metrics::Metrics,
    pub faults: AwsFaults,
    /// When the cluster was created (for `createdAt`).
    pub created: Option<Timestamp>,
    /// Whether the periodic step timer is queued.
    pub stepping: bool,
    /// Cluster status while its control plane updates.
    pub cluster_updating: bool,
    pub requests: BTreeMap<String, u64>,
}

/// Starts the cloud side of a freshly built scenario world: add-ons from its
/// workloads, metric sampling and alarms.
pub fn start(w: &mut World) {
    w.aws.created = Some(
        w.now
            .checked_sub(jiff::SignedDuration::from_hours(24 * 90))
            .unwrap_or(w.now),
    );
    addons::discover(w);
    refresh::seed_tags(w);
    metrics::start(w);
}

/// A fresh id in the shape of an AWS UUID.
pub fn new_id(w: &mut World) -> String {
    w.uid()
}

/// Fires a cloud timer.
pub fn fire(w: &mut World, timer: AwsTimer) {
    match timer {
        AwsTimer::ClusterUpdateDone { id } => finish_cluster_update(w, &id),
        AwsTimer::Step => {
            w.aws.stepping = false;
            step(w);
        }
        AwsTimer::Sample => metrics::sample(w),
    }
}

/// Makes sure the periodic step runs while something is in progress.
pub fn wake(w: &mut World) {
    if !w.aws.stepping {
        w.aws.stepping = true;
        w.schedule(STEP_SECS, Timer::Aws(AwsTimer::Step));
    }
}

fn step(w: &mut World) {
    let ids: Vec<String> = w.aws.rollouts.iter().map(|r| r.update_id.clone()).collect();
    for id in ids {
        step_rollout(w, &id);
    }
    addons::step(w);
    refresh::step(w);
    let busy = !w.aws.rollouts.is_empty() || addons::busy(w) || refresh::busy(w);
    if busy {
        wake(w);
    }
}

pub fn update_mut<'a>(w: &'a mut World, id: &str) -> Option<&'a mut Update> {
    w.aws.updates.iter_mut().find(|u| u.id == id)
}

/// Records a new update in progress and returns it.
pub fn new_update(w: &mut World, target: UpdateTarget, kind: &'static str, params: Vec<(String, String)>) -> Update {
    let u = Update {
        id: new_id(w),
        target,
        kind,
        status: UpdateStatus::InProgress,
        params,
        created: w.now,
        errors: Vec::new(),
    };
    w.aws.updates.push(u.clone());
    u
}

fn in_progress(w: &World, target: &UpdateTarget) -> bool {
    w.aws
        .updates
        .iter()
        .any(|u| &u.target == target && u.status == UpdateStatus::InProgress)
}

/// The minor after `minor` ("1.30" → "1.31").
pub fn next_minor(minor: &str) -> Option<String> {
    let (major, m) = minor.split_once('.')?;
    let m: u32 = m.parse().ok()?;
    Some(format!("{major}.{}", m + 1))
}

/// Minor versions as numbers for comparing ("1.30" → 30).
pub fn minor_number(minor: &str) -> Option<u32> {
    minor.split_once('.')?.1.parse().ok()
}

/// `UpdateClusterVersion`: one minor at a time, one update at a time.
pub fn update_cluster_version(w: &mut World, version: &str) -> Result<Update, AwsError> {
    let current = w.cluster.version.clone();
    if in_progress(w, &UpdateTarget::Cluster) || w.aws.cluster_updating {
        return Err(AwsError::in_use(format!(
            "Cluster {} has an update in progress; wait for it to finish before starting another",
            w.cluster.name
        )));
    }
    if Some(version.to_string()) != next_minor(&current) {
        return Err(AwsError::invalid(format!(
            "Unsupported Kubernetes minor version update from {current} to {version}"
        )));
    }
    let u = new_update(
        w,
        UpdateTarget::Cluster,
        "VersionUpdate",
        vec![
            ("Version".into(), version.into()),
            ("PlatformVersion".into(), "eks.1".into()),
        ],
    );
    w.aws.cluster_updating = true;
    w.schedule(
        CONTROL_PLANE_UPDATE_SECS,
        Timer::Aws(AwsTimer::ClusterUpdateDone { id: u.id.clone() }),
    );
    Ok(u)
}

fn finish_cluster_update(w: &mut World, id: &str) {
    let version = w
        .aws
        .updates
        .iter()
        .find(|u| u.id == id)
        .and_then(|u| u.params.iter().find(|(k, _)| k == "Version").map(|(_, v)| v.clone()));
    if let Some(v) = version {
        // the team's infrastructure code publishes a launch template for the new
        // minor: self-managed groups launch it from now on (their running nodes stay)
        for g in w.groups.iter_mut().filter(|g| g.kind == NodeGroupKind::SelfManaged) {
            g.version = v.clone();
        }
        w.cluster.version = v;
    }
    w.aws.cluster_updating = false;
    if let Some(u) = update_mut(w, id) {
        u.status = UpdateStatus::Successful;
    }
}

/// Index of the managed node group named `name`.
pub fn managed_group(w: &World, name: &str) -> Option<usize> {
    w.groups
        .iter()
        .position(|g| g.name == name && g.kind == NodeGroupKind::Managed)
}

/// `UpdateNodegroupVersion`: surge, cordon, drain respecting PDBs, terminate.
pub fn update_nodegroup_version(
    w: &mut World,
    group: &str,
    version: Option<&str>,
    force: bool,
) -> Result<Update, AwsError> {
    let Some(gi) = managed_group(w, group) else {
        return Err(AwsError::not_found(format!("No node group found for name: {group}.")));
    };
    let target = UpdateTarget::Nodegroup(group.to_string());
    if in_progress(w, &target) {
        return Err(AwsError::in_use(format!(
            "Nodegroup {group} cannot be updated while an update is in progress"
        )));
    }
    if w.aws.cluster_updating {
        return Err(AwsError::in_use(format!(
            "Nodegroup {group} cannot be updated while the cluster's control plane is updating"
        )));
    }
    let to = version.map(str::to_string).unwrap_or_else(|| w.cluster.version.clone());
    let from = w.groups[gi].version.clone();
    if minor_number(&to) > minor_number(&w.cluster.version) || minor_number(&to).is_none() {
        return Err(AwsError::invalid(format!(
            "Requested Nodegroup version {to} is invalid: it must not be newer than the cluster's version {}",
            w.cluster.version
        )));
    }
    if minor_number(&to) < minor_number(&from) {
        return Err(AwsError::invalid(format!(
            "Requested Nodegroup version {to} is older than the node group's version {from}"
        )));
    }
    let u = new_update(
        w,
        target,
        "VersionUpdate",
        vec![
            ("Version".into(), to.clone()),
            ("ReleaseVersion".into(), release_version(&to)),
        ],
    );
    let g = &mut w.groups[gi];
    let old: Vec<String> = g
        .instances
        .iter()
        .filter(|i| i.state != InstanceState::Terminating && i.version != to)
        .map(|i| i.id.clone())
        .collect();
    let zones = g.zones.len().max(1) as u32;
    let surge = (2 * zones).max(1).min(old.len() as u32);
    let rollout = NodegroupRollout {
        update_id: u.id.clone(),
        group: group.to_string(),
        from,
        to: to.clone(),
        force,
        surge,
        original_desired: g.desired,
        original_max: g.max,
        old,
        draining: None,
    };
    g.version = to;
    g.desired += surge;
    g.max = g.max.max(g.desired);
    w.dirty.node_groups = true;
    w.aws.rollouts.push(rollout);
    wake(w);
    Ok(u)
}

/// The AMI release version EKS names for a minor.
pub fn release_version(minor: &str) -> String {
    let v = super::eks_version(minor);
    let patch = v.trim_start_matches('v').split('-').next().unwrap_or(minor).to_string();
    format!("{patch}-20241121")
}

fn group_index(w: &World, name: &str) -> Option<usize> {
    w.groups.iter().position(|g| g.name == name)
}

/// Whether every live instance not in `old` is in service with a Ready node.
fn new_nodes_ready(w: &World, gi: usize, old: &[String]) -> bool {
    w.groups[gi]
        .instances
        .iter()
        .filter(|i| i.state != InstanceState::Terminating && !old.contains(&i.id))
        .all(|i| {
            i.state == InstanceState::InService
                && w.nodes
                    .get(&i.node_name)
                    .is_some_and(|n| super::scheduler::node_ready(n))
        })
}

fn step_rollout(w: &mut World, id: &str) {
    let Some(ri) = w.aws.rollouts.iter().position(|r| r.update_id == id) else {
        return;
    };
    let r = w.aws.rollouts[ri].clone();
    let Some(gi) = group_index(w, &r.group) else {
        w.aws.rollouts.remove(ri);
        return;
    };
    // surge first: the new nodes must be Ready before any old one is drained
    if !new_nodes_ready(w, gi, &r.old) {
        return;
    }
    let Some(mut drain) = r.draining.clone() else {
        // pick the next old instance still alive
        let next = r.old.iter().find(|id| {
            w.groups[gi]
                .instances
                .iter()
                .any(|i| &&i.id == id && i.state != InstanceState::Terminating)
        });
        match next.cloned() {
            Some(inst) => {
                let node = w.groups[gi]
                    .instances
                    .iter()
                    .find(|i| i.id == inst)
                    .map(|i| i.node_name.clone())
                    .unwrap_or_default();
                cordon(w, &node);
                w.aws.rollouts[ri].draining = Some(Drain {
                    instance: inst,
                    node,
                    refused_since: None,
                    empty_since: None,
                    last_refusal: None,
                });
                step_rollout(w, id);
            }
            None => finish_rollout(w, ri, UpdateStatus::Successful, None),
        }
        return;
    };
    // evict what is left on the node (DaemonSet pods stay, as with kubectl drain)
    let pods: Vec<String> = w
        .idx
        .pods_by_node
        .get(&drain.node)
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default();
    let mut remaining = 0;
    let mut refused = None;
    for key in pods {
        let Some(pod) = w.pods.get(&key).cloned() else { continue };
        if daemon_pod(&pod) || super::kubelet::is_terminal(&pod) {
            continue;
        }
        remaining += 1;
        if super::kubelet::is_terminating(&pod) {
            continue;
        }
        match w.evict(&key, None) {
            super::EvictionVerdict::Evicted | super::EvictionVerdict::NotFound => {}
            super::EvictionVerdict::Blocked { pdb, cause } => {
                if r.force {
                    super::gc::delete_pod(w, &key, None);
                } else {
                    refused = Some(format!("pod {key}: PodDisruptionBudget {pdb}: {cause}"));
                }
            }
            super::EvictionVerdict::MultiplePdbs => {
                if r.force {
                    super::gc::delete_pod(w, &key, None);
                } else {
                    refused = Some(format!("pod {key}: more than one PodDisruptionBudget covers it"));
                }
            }
        }
    }
    let now = w.now;
    match &refused {
        Some(why) => {
            let since = *drain.refused_since.get_or_insert(now);
            drain.last_refusal = Some(why.clone());
            if now.duration_since(since).as_secs() >= EVICTION_TIMEOUT_SECS {
                let err = UpdateError {
                    code: "PodEvictionFailure".into(),
                    message: format!(
                        "Reached max retries while trying to evict pods from nodes in node group {}",
                        r.group
                    ),
                    resource_ids: vec![drain.node.clone()],
                };
                w.aws.rollouts[ri].draining = Some(drain);
                finish_rollout(w, ri, UpdateStatus::Failed, Some(err));
                return;
            }
        }
        None => drain.refused_since = None,
    }
    if remaining == 0 {
        let empty = *drain.empty_since.get_or_insert(now);
        if now.duration_since(empty).as_secs() >= TERMINATE_DELAY_SECS {
            // the last `surge` old instances are not replaced: the group shrinks back
            let left = r
                .old
                .iter()
                .filter(|id| {
                    w.groups[gi]
                        .instances
                        .iter()
                        .any(|i| &&i.id == id && i.state != InstanceState::Terminating)
                })
                .count() as u32;
            let replace = left > r.surge;
            nodes::terminate(w, &drain.instance, replace);
            w.aws.rollouts[ri].draining = None;
            return;
        }
    }
    w.aws.rollouts[ri].draining = Some(drain);
}

fn finish_rollout(w: &mut World, ri: usize, status: UpdateStatus, error: Option<UpdateError>) {
    let r = w.aws.rollouts.remove(ri);
    if let Some(gi) = group_index(w, &r.group) {
        let g = &mut w.groups[gi];
        if status == UpdateStatus::Successful {
            g.desired = r.original_desired;
            g.max = r.original_max.max(g.desired);
        } else {
            // the node group stays on its version; instances already replaced stay
            g.version = r.from.clone();
        }
        w.dirty.node_groups = true;
    }
    if let Some(u) = update_mut(w, &r.update_id) {
        u.status = status;
        u.errors.extend(error);
    }
}

/// Whether a DaemonSet runs the pod (drains leave those).
pub fn daemon_pod(pod: &Pod) -> bool {
    super::controller_of(&pod.metadata).is_some_and(|o| o.kind == "DaemonSet")
}

/// Cordons a node as the EKS node group update does, labelled for load balancers.
pub fn cordon(w: &mut World, node: &str) {
    let Some(n) = w.nodes.get(node).cloned() else { return };
    let mut n: Node = (*n).clone();
    n.spec.get_or_insert_with(Default::default).unschedulable = Some(true);
    n.metadata.labels.get_or_insert_with(Default::default).insert(
        "node.kubernetes.io/exclude-from-external-load-balancers".into(),
        "true".into(),
    );
    w.put(n);
}

/// The node group's status as EKS reports it.
pub fn nodegroup_status(w: &World, name: &str) -> &'static str {
    if in_progress(w, &UpdateTarget::Nodegroup(name.to_string())) {
        "UPDATING"
    } else {
        "ACTIVE"
    }
}

/// The version EKS reports for a managed node group: its current launch version,
/// or the version it is being updated from.
pub fn nodegroup_version(w: &World, gi: usize) -> String {
    let g = &w.groups[gi];
    w.aws
        .rollouts
        .iter()
        .find(|r| r.group == g.name)
        .map(|r| r.from.clone())
        .unwrap_or_else(|| minor_of(&g.version))
}

/// The node group rollout's last refused eviction, for health messages.
pub fn refusal(w: &World, group: &str) -> Option<String> {
    w.aws
        .rollouts
        .iter()
        .find(|r| r.group == group)
        .and_then(|r| r.draining.as_ref()?.last_refusal.clone())
}

/// Counts a request to the AWS endpoint and decides whether it is throttled.
pub fn admit(w: &mut World, operation: &str) -> Result<(), AwsError> {
    *w.aws.requests.entry(operation.to_string()).or_default() += 1;
    if w.aws.faults.throttle_next > 0 {
        w.aws.faults.throttle_next -= 1;
        return Err(AwsError::new("ThrottlingException", 400, "Rate exceeded"));
    }
    Ok(())
}
