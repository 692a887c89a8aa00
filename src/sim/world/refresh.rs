//! The Auto Scaling side of node groups: instance refreshes (batches bounded by
//! MinHealthyPercentage, checkpoints, cancel), instance termination and scale-in
//! protection, scaling activities and tags.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use super::World;
use super::eks::{AwsError, new_id, wake};
use super::nodes::{InstanceState, NodeGroupKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshStatus {
    Pending,
    InProgress,
    Cancelling,
    Cancelled,
    Successful,
    Failed,
}

impl RefreshStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefreshStatus::Pending => "Pending",
            RefreshStatus::InProgress => "InProgress",
            RefreshStatus::Cancelling => "Cancelling",
            RefreshStatus::Cancelled => "Cancelled",
            RefreshStatus::Successful => "Successful",
            RefreshStatus::Failed => "Failed",
        }
    }
    fn active(self) -> bool {
        matches!(
            self,
            RefreshStatus::Pending | RefreshStatus::InProgress | RefreshStatus::Cancelling
        )
    }
}

/// What `StartInstanceRefresh` asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct RefreshPreferences {
    pub min_healthy_percentage: u32,
    pub instance_warmup: u32,
    pub checkpoint_percentages: Vec<u32>,
    pub checkpoint_delay: u32,
    pub skip_matching: bool,
}

impl Default for RefreshPreferences {
    fn default() -> Self {
        RefreshPreferences {
            min_healthy_percentage: 90,
            instance_warmup: 0,
            checkpoint_percentages: Vec::new(),
            checkpoint_delay: 3600,
            skip_matching: false,
        }
    }
}

#[derive(Clone, Debug)]
pub struct InstanceRefresh {
    pub id: String,
    pub asg: String,
    pub status: RefreshStatus,
    pub status_reason: String,
    pub start: Timestamp,
    pub end: Option<Timestamp>,
    pub preferences: RefreshPreferences,
    /// Instances still to replace, and how many there were.
    pub to_replace: Vec<String>,
    pub total: u32,
    /// Instances terminated in the current batch (their replacements must be healthy).
    pub batch: Vec<String>,
    /// The checkpoint being waited at, until when.
    pub checkpoint_until: Option<Timestamp>,
    pub checkpoints_passed: usize,
}

impl InstanceRefresh {
    pub fn percentage_complete(&self) -> u32 {
        if self.total == 0 {
            return 100;
        }
        let done = self.total as usize - self.to_replace.len() - self.batch.len();
        (done * 100 / self.total as usize) as u32
    }
    pub fn instances_to_update(&self) -> u32 {
        (self.to_replace.len() + self.batch.len()) as u32
    }
}

/// A scaling activity (`DescribeScalingActivities`).
#[derive(Clone, Debug)]
pub struct Activity {
    pub id: String,
    pub asg: String,
    pub description: String,
    pub cause: String,
    pub start: Timestamp,
    pub status: &'static str,
}

#[derive(Clone, Debug, Default)]
pub struct AsgState {
    pub refreshes: Vec<InstanceRefresh>,
    pub activities: Vec<Activity>,
    /// Tags per group: key → (value, propagate at launch).
    pub tags: BTreeMap<String, BTreeMap<String, (String, bool)>>,
    pub protected: BTreeSet<String>,
}

/// Index of the group whose Auto Scaling group is `asg`.
pub fn group_of_asg(w: &World, asg: &str) -> Option<usize> {
    w.groups.iter().position(|g| g.asg_name == asg)
}

/// The error for an Auto Scaling group that does not exist.
pub fn asg_missing(asg: &str) -> AwsError {
    AwsError::new(
        "ValidationError",
        400,
        format!("AutoScalingGroup name not found - {asg}"),
    )
}

/// `StartInstanceRefresh`: replaces instances with ones launched from the group's
/// launch template (its version is the group's; a self-managed group's follows the
/// control plane, see `eks::finish_cluster_update`). With SkipMatching, instances
/// already on the template are left alone.
pub fn start(w: &mut World, asg: &str, prefs: RefreshPreferences) -> Result<String, AwsError> {
    let gi = group_of_asg(w, asg).ok_or_else(|| asg_missing(asg))?;
    if w.aws
        .refresh
        .refreshes
        .iter()
        .any(|r| r.asg == asg && r.status.active())
    {
        return Err(AwsError::new(
            "InstanceRefreshInProgress",
            400,
            "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.",
        ));
    }
    if prefs.min_healthy_percentage > 100 {
        return Err(AwsError::new(
            "ValidationError",
            400,
            "MinHealthyPercentage must be between 0 and 100",
        ));
    }
    let g = &w.groups[gi];
    let target = g.version.clone();
    let to_replace: Vec<String> = g
        .instances
        .iter()
        .filter(|i| i.state != InstanceState::Terminating)
        .filter(|i| !prefs.skip_matching || i.version != target)
        .map(|i| i.id.clone())
        .collect();
    let id = new_id(w);
    let total = to_replace.len() as u32;
    w.aws.refresh.refreshes.push(InstanceRefresh {
        id: id.clone(),
        asg: asg.to_string(),
        status: RefreshStatus::Pending,
        status_reason: String::new(),
        start: w.now,
        end: None,
        preferences: prefs,
        to_replace,
        total,
        batch: Vec::new(),
        checkpoint_until: None,
        checkpoints_passed: 0,
    });
    wake(w);
    Ok(id)
}

/// `CancelInstanceRefresh`.
pub fn cancel(w: &mut World, asg: &str) -> Result<String, AwsError> {
    group_of_asg(w, asg).ok_or_else(|| asg_missing(asg))?;
    let Some(r) = w
        .aws
        .refresh
        .refreshes
        .iter_mut()
        .find(|r| r.asg == asg && r.status.active())
    else {
        return Err(AwsError::new(
            "ActiveInstanceRefreshNotFound",
            400,
            format!("No in progress or pending Instance Refresh found for Auto Scaling group {asg}"),
        ));
    };
    r.status = RefreshStatus::Cancelling;
    r.status_reason = "Cancellation requested".into();
    let id = r.id.clone();
    wake(w);
    Ok(id)
}

fn healthy(w: &World, gi: usize, warmup: u32) -> usize {
    w.groups[gi]
        .instances
        .iter()
        .filter(|i| i.state == InstanceState::InService)
        .filter(|i| {
            w.nodes.get(&i.node_name).is_some_and(|n| {
                super::scheduler::node_ready(n)
                    && n.metadata
                        .creation_timestamp
                        .as_ref()
                        .is_some_and(|t| w.now.duration_since(t.0).as_secs() >= i64::from(warmup))
            })
        })
        .count()
}

fn alive(w: &World, gi: usize, id: &str) -> bool {
    w.groups[gi]
        .instances
        .iter()
        .any(|i| i.id == id && i.state != InstanceState::Terminating)
}

/// Moves every active instance refresh on by one pass.
pub fn step(w: &mut World) {
    for ri in 0..w.aws.refresh.refreshes.len() {
        if w.aws.refresh.refreshes[ri].status.active() {
            step_one(w, ri);
        }
    }
}

fn step_one(w: &mut World, ri: usize) {
    let now = w.now;
    let mut r = w.aws.refresh.refreshes[ri].clone();
    let Some(gi) = group_of_asg(w, &r.asg) else {
        r.status = RefreshStatus::Failed;
        r.status_reason = "The Auto Scaling group is gone".into();
        r.end = Some(now);
        w.aws.refresh.refreshes[ri] = r;
        return;
    };
    let desired = w.groups[gi].desired as usize;
    let healthy_now = healthy(w, gi, r.preferences.instance_warmup);
    // the current batch is done when its instances are out of service (past any
    // lifecycle hook they wait on) and their replacements are healthy
    r.batch
        .retain(|id| alive(w, gi, id) || super::lifecycle::waiting(w, id));
    let batch_settled = r.batch.is_empty() && healthy_now >= desired;
    if r.status == RefreshStatus::Cancelling {
        if batch_settled {
            r.status = RefreshStatus::Cancelled;
            r.status_reason = "Instance refresh was cancelled".into();
            r.end = Some(now);
        }
        w.aws.refresh.refreshes[ri] = r;
        return;
    }
    if r.status == RefreshStatus::Pending {
        r.status = RefreshStatus::InProgress;
    }
    if !batch_settled {
        r.status_reason = format!(
            "Waiting for instances to warm up before continuing. {} of {} healthy.",
            healthy_now, desired
        );
        w.aws.refresh.refreshes[ri] = r;
        return;
    }
    if let Some(until) = r.checkpoint_until {
        if now < until {
            w.aws.refresh.refreshes[ri] = r;
            return;
        }
        r.checkpoint_until = None;
    }
    r.to_replace.retain(|id| alive(w, gi, id));
    if r.to_replace.is_empty() {
        r.status = RefreshStatus::Successful;
        r.status_reason = String::new();
        r.end = Some(now);
        w.aws.refresh.refreshes[ri] = r;
        return;
    }
    // a checkpoint reached stops the refresh for the checkpoint delay
    let pct = r.percentage_complete();
    if let Some(&cp) = r.preferences.checkpoint_percentages.get(r.checkpoints_passed)
        && pct >= cp
    {
        r.checkpoints_passed += 1;
        r.checkpoint_until = now
            .checked_add(jiff::SignedDuration::from_secs(i64::from(
                r.preferences.checkpoint_delay,
            )))
            .ok();
        r.status_reason = format!(
            "Checkpoint {cp}% reached; waiting {} seconds",
            r.preferences.checkpoint_delay
        );
        w.aws.refresh.refreshes[ri] = r;
        return;
    }
    // a batch: as many as may be unhealthy, up to the next checkpoint
    let min_healthy = (desired * r.preferences.min_healthy_percentage as usize).div_ceil(100);
    let mut size = desired.saturating_sub(min_healthy).max(1);
    if let Some(&cp) = r.preferences.checkpoint_percentages.get(r.checkpoints_passed) {
        let done = r.total as usize - r.to_replace.len();
        let upto = (r.total as usize * cp as usize).div_ceil(100);
        size = size.min(upto.saturating_sub(done).max(1));
    }
    let batch: Vec<String> = r.to_replace.iter().take(size).cloned().collect();
    r.to_replace.retain(|id| !batch.contains(id));
    r.status_reason = format!("Replacing {} instance(s)", batch.len());
    let asg = r.asg.clone();
    for id in &batch {
        super::lifecycle::terminate(w, id, true);
        record_activity(
            w,
            &asg,
            &format!("Terminating EC2 instance: {id}"),
            &format!(
                "At {now} an instance was taken out of service in response to an instance refresh. Instance refresh {}.",
                r.id
            ),
        );
    }
    r.batch = batch;
    w.aws.refresh.refreshes[ri] = r;
}

pub fn busy(w: &World) -> bool {
    w.aws.refresh.refreshes.iter().any(|r| r.status.active())
}

pub fn record_activity(w: &mut World, asg: &str, description: &str, cause: &str) -> Activity {
    let a = Activity {
        id: new_id(w),
        asg: asg.to_string(),
        description: description.to_string(),
        cause: cause.to_string(),
        start: w.now,
        status: "Successful",
    };
    w.aws.refresh.activities.push(a.clone());
    if w.aws.refresh.activities.len() > 1000 {
        w.aws.refresh.activities.remove(0);
    }
    a
}

/// `TerminateInstanceInAutoScalingGroup`.
pub fn terminate_instance(w: &mut World, instance: &str, decrement: bool) -> Result<Activity, AwsError> {
    let gi = w
        .groups
        .iter()
        .position(|g| g.instances.iter().any(|i| i.id == instance))
        .ok_or_else(|| {
            AwsError::new(
                "ValidationError",
                400,
                format!("Instance Id not found - No managed instance found for instance ID: {instance}"),
            )
        })?;
    let asg = w.groups[gi].asg_name.clone();
    let (desired, min) = (w.groups[gi].desired, w.groups[gi].min);
    if decrement && desired <= min {
        return Err(AwsError::new(
            "ValidationError",
            400,
            format!(
                "Currently, desiredSize equals minSize ({min}). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size constraint."
            ),
        ));
    }
    let now = w.now;
    super::lifecycle::terminate(w, instance, !decrement);
    let cause = if decrement {
        format!(
            "At {now} instance {instance} was taken out of service in response to a user request, shrinking the capacity."
        )
    } else {
        format!("At {now} instance {instance} was taken out of service in response to a user request.")
    };
    Ok(record_activity(
        w,
        &asg,
        &format!("Terminating EC2 instance: {instance}"),
        &cause,
    ))
}

/// `SetInstanceProtection`.
pub fn set_protection(w: &mut World, asg: &str, instances: &[String], protect: bool) -> Result<(), AwsError> {
    let gi = group_of_asg(w, asg).ok_or_else(|| asg_missing(asg))?;
    for id in instances {
        if !w.groups[gi].instances.iter().any(|i| &i.id == id) {
            return Err(AwsError::new(
                "ValidationError",
                400,
                format!("The instance {id} is not part of Auto Scaling group {asg}."),
            ));
        }
    }
    for id in instances {
        if protect {
            w.aws.refresh.protected.insert(id.clone());
        } else {
            w.aws.refresh.protected.remove(id);
        }
    }
    Ok(())
}

/// The tags every group starts with (eksctl's and the cluster autoscaler's
/// auto-discovery tags), held here so that `DeleteTags` can remove them. The
/// endpoint's `DescribeAutoScalingGroups` (aws/autoscaling.rs) still adds these same
/// defaults itself, so a removed one shows there again until it reads them from
/// here alone.
pub fn seed_tags(w: &mut World) {
    let cluster = w.cluster.name.clone();
    for g in &w.groups {
        let mut t: BTreeMap<String, (String, bool)> = BTreeMap::new();
        t.insert(format!("kubernetes.io/cluster/{cluster}"), ("owned".into(), true));
        t.insert("k8s.io/cluster-autoscaler/enabled".into(), ("true".into(), true));
        t.insert(format!("k8s.io/cluster-autoscaler/{cluster}"), ("owned".into(), true));
        match g.kind {
            NodeGroupKind::Managed => {
                t.insert("eks:cluster-name".into(), (cluster.clone(), true));
                t.insert("eks:nodegroup-name".into(), (g.name.clone(), true));
            }
            NodeGroupKind::SelfManaged => {
                t.insert("alpha.eksctl.io/nodegroup-name".into(), (g.name.clone(), true));
            }
        }
        w.aws.refresh.tags.insert(g.asg_name.clone(), t);
    }
}

/// `CreateOrUpdateTags` (`delete == false`) and `DeleteTags`.
pub fn tag(w: &mut World, asg: &str, tags: &[(String, String, bool)], delete: bool) -> Result<(), AwsError> {
    group_of_asg(w, asg).ok_or_else(|| asg_missing(asg))?;
    let t = w.aws.refresh.tags.entry(asg.to_string()).or_default();
    for (k, v, p) in tags {
        if delete {
            t.remove(k);
        } else {
            t.insert(k.clone(), (v.clone(), *p));
        }
    }
    Ok(())
}
