//! The simulated cloud side of the cluster: EKS control-plane and managed node group
//! updates, with the state the AWS endpoint reports (updates, their errors, fault
//! knobs). Everything moves on the world's virtual clock through `AwsTimer`s.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod};

use super::nodes::GroupLife;
use super::nodes::NodeGroupKind;
use super::{AwsTimer, Timer, World, addons, lifecycle, metrics, minor_of, nodegroup_update, nodegroups, nth, refresh};
use crate::sim::scenario::aws::SupportType;
use crate::sim::scenario::{Scenario, aws::HookDefault, aws::HookTransition};

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

pub use super::aws_faults::AwsFaults;
pub use super::nodegroup_update::{Drain, NodegroupRollout, update_nodegroup_version};

/// The cloud side's state.
#[derive(Clone, Debug, Default)]
pub struct AwsState {
    pub updates: Vec<Update>,
    pub rollouts: Vec<NodegroupRollout>,
    pub addons: Vec<addons::Addon>,
    pub refresh: refresh::AsgState,
    pub lifecycle: lifecycle::LifecycleState,
    pub nodegroups: nodegroups::NodegroupOps,
    pub nth: nth::TerminationHandler,
    pub metrics: metrics::Metrics,
    pub faults: AwsFaults,
    /// When the cluster was created (for `createdAt`).
    pub created: Option<Timestamp>,
    /// Whether the periodic step timer is queued.
    pub stepping: bool,
    /// Cluster status while its control plane updates.
    pub cluster_updating: bool,
    pub requests: BTreeMap<String, u64>,
    /// The cluster's upgrade policy (`upgradePolicy.supportType`).
    pub support_type: SupportType,
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

/// The AWS side a scenario sets: lifecycle hooks, the termination handler, the
/// upgrade policy, fault rates.
pub fn from_scenario(w: &mut World, s: &Scenario) -> Result<(), String> {
    for g in &s.node_groups {
        let Some(asg) = w.groups.iter().find(|x| x.name == g.name).map(|x| x.asg_name.clone()) else {
            continue;
        };
        let hooks: Vec<lifecycle::Hook> = g
            .lifecycle_hooks
            .iter()
            .map(|h| lifecycle::Hook {
                name: h.name.clone(),
                asg: asg.clone(),
                transition: match h.transition {
                    HookTransition::Launching => lifecycle::Transition::Launching,
                    HookTransition::Terminating => lifecycle::Transition::Terminating,
                },
                heartbeat_timeout: h.heartbeat_timeout,
                default_result: match h.default_result {
                    HookDefault::Continue => lifecycle::HookResult::Continue,
                    HookDefault::Abandon => lifecycle::HookResult::Abandon,
                },
                notification_target_arn: None,
                role_arn: None,
                notification_metadata: None,
            })
            .collect();
        lifecycle::seed(w, &asg, &hooks);
    }
    if let Some(t) = &s.termination_handler {
        nth::install(w, t)?;
    }
    w.aws.support_type = s
        .cluster
        .upgrade_policy
        .as_ref()
        .map(|p| p.support_type)
        .unwrap_or_default();
    if let Some(f) = &s.aws_faults {
        w.aws.faults.set(f, s.seed);
    }
    Ok(())
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
        AwsTimer::LifecycleTimeout { token } => lifecycle::timeout(w, &token),
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
        nodegroup_update::step_rollout(w, &id);
    }
    addons::step(w);
    refresh::step(w);
    nth::step(w);
    nodegroups::step(w);
    let busy =
        !w.aws.rollouts.is_empty() || addons::busy(w) || refresh::busy(w) || lifecycle::busy(w) || nodegroups::busy(w);
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

/// Whether an update of `target` is in progress.
pub fn in_progress(w: &World, target: &UpdateTarget) -> bool {
    w.aws
        .updates
        .iter()
        .any(|u| &u.target == target && u.status == UpdateStatus::InProgress)
}

/// The minor after `minor` ("1.30" → "1.31").
pub fn next_minor(minor: &str) -> Option<String> {
    crate::units::Minor::parse(minor).map(|m| m.next().to_string())
}

/// Minor versions as numbers for comparing ("1.30" → 30).
pub fn minor_number(minor: &str) -> Option<u32> {
    crate::units::Minor::parse(minor).map(|m| m.minor)
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
    if let Some(why) = super::fargate::refusal(w) {
        return Err(AwsError::new("InvalidRequestException", 400, why));
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

/// The AMI release version EKS names for a minor.
pub fn release_version(minor: &str) -> String {
    let v = super::eks_version(minor);
    let patch = v.trim_start_matches('v').split('-').next().unwrap_or(minor).to_string();
    format!("{patch}-20241121")
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
    match w.groups.iter().find(|g| g.name == name).map(|g| g.managed.life) {
        Some(GroupLife::Creating) => "CREATING",
        Some(GroupLife::Deleting) => "DELETING",
        _ if in_progress(w, &UpdateTarget::Nodegroup(name.to_string())) => "UPDATING",
        _ => "ACTIVE",
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
        .and_then(|r| r.draining.iter().find_map(|d| d.last_refusal.clone()))
}

/// Counts a request to the AWS endpoint and decides whether it is throttled.
pub fn admit(w: &mut World, operation: &str) -> Result<(), AwsError> {
    *w.aws.requests.entry(operation.to_string()).or_default() += 1;
    match w.aws.faults.roll(operation) {
        Some(f) => Err(f.error()),
        None => Ok(()),
    }
}
