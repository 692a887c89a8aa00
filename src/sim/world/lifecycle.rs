//! Auto Scaling lifecycle hooks: hooks per group, the lifecycle actions an instance
//! waits on in `Terminating:Wait`, their heartbeat and global timeouts on the virtual
//! clock, and the count of pods that died with their node without an eviction.
//!
//! A termination that Auto Scaling makes (an instance refresh, a scale-in,
//! `TerminateInstanceInAutoScalingGroup`) passes through `terminate` here: with a
//! termination hook on the group, the instance leaves the group's capacity at once
//! but keeps running (its node and pods stay) until every action is completed or
//! times out; then it shuts down (`Terminating:Proceed`).
//! A launch passes through the group's launching hooks the same way: the instance
//! waits in `Pending:Wait` (its node may register meanwhile) and is in service once
//! every action is completed with CONTINUE; ABANDON terminates it, and the group
//! launches another.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Pod;

use super::eks::{AwsError, new_id, wake};
use super::nodes::{self, InstanceState};
use super::refresh::{asg_missing, group_of_asg};
use super::{AwsTimer, Timer, World};

/// Bounds of a hook's heartbeat timeout (seconds), and its default.
pub const HEARTBEAT_MIN: u32 = 30;
pub const HEARTBEAT_MAX: u32 = 7200;
pub const HEARTBEAT_DEFAULT: u32 = 3600;
/// The longest an instance can wait in a lifecycle action: 48 hours.
pub const GLOBAL_TIMEOUT_MAX: u32 = 48 * 3600;
/// Hooks an Auto Scaling group may have.
pub const MAX_HOOKS: usize = 50;

/// The instance transition a hook holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    Launching,
    Terminating,
}

impl Transition {
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Launching => "autoscaling:EC2_INSTANCE_LAUNCHING",
            Transition::Terminating => "autoscaling:EC2_INSTANCE_TERMINATING",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "autoscaling:EC2_INSTANCE_LAUNCHING" => Some(Transition::Launching),
            "autoscaling:EC2_INSTANCE_TERMINATING" => Some(Transition::Terminating),
            _ => None,
        }
    }
}

/// What happens when an action times out (or is completed with it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookResult {
    Continue,
    Abandon,
}

impl HookResult {
    pub fn as_str(self) -> &'static str {
        match self {
            HookResult::Continue => "CONTINUE",
            HookResult::Abandon => "ABANDON",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "CONTINUE" => Some(HookResult::Continue),
            "ABANDON" => Some(HookResult::Abandon),
            _ => None,
        }
    }
}

/// One lifecycle hook (`DescribeLifecycleHooks`).
#[derive(Clone, Debug, PartialEq)]
pub struct Hook {
    pub name: String,
    pub asg: String,
    pub transition: Transition,
    pub heartbeat_timeout: u32,
    pub default_result: HookResult,
    pub notification_target_arn: Option<String>,
    pub role_arn: Option<String>,
    pub notification_metadata: Option<String>,
}

impl Hook {
    /// The longest an instance can wait on this hook: 100 heartbeat timeouts or 48
    /// hours, whichever is smaller.
    pub fn global_timeout(&self) -> u32 {
        (self.heartbeat_timeout.saturating_mul(100)).min(GLOBAL_TIMEOUT_MAX)
    }
}

/// An instance waiting on one hook.
#[derive(Clone, Debug)]
pub struct Action {
    pub token: String,
    pub hook: String,
    pub asg: String,
    pub instance: String,
    pub transition: Transition,
    pub started: Timestamp,
    /// When the heartbeat timeout runs out (moved on by heartbeats).
    pub deadline: Timestamp,
    /// When the global timeout runs out (fixed).
    pub global_deadline: Timestamp,
    pub heartbeats: u32,
}

/// How an action ended (kept for tests and `/sim/`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Completed(HookResult),
    TimedOut(HookResult),
}

/// Pods that died with their node, never evicted.
#[derive(Clone, Debug, Default)]
pub struct PodsLost {
    pub count: u64,
    /// The latest ones: `namespace/name on node`.
    pub recent: Vec<String>,
}

/// Lifecycle hooks and actions of every group.
#[derive(Clone, Debug, Default)]
pub struct LifecycleState {
    pub hooks: Vec<Hook>,
    pub actions: Vec<Action>,
    /// Instances that waited on a hook and are now shutting down.
    pub proceeding: BTreeSet<String>,
    /// Ended actions: (instance, hook, outcome), oldest first.
    pub ended: Vec<(String, String, Outcome)>,
    pub pods_lost: PodsLost,
}

fn validation(message: impl Into<String>) -> AwsError {
    AwsError::new("ValidationError", 400, message)
}

/// What `PutLifecycleHook` asks for; `None` keeps an existing hook's value.
#[derive(Clone, Debug, Default)]
pub struct PutHook {
    pub transition: Option<String>,
    pub heartbeat_timeout: Option<u32>,
    pub default_result: Option<String>,
    pub notification_target_arn: Option<String>,
    pub role_arn: Option<String>,
    pub notification_metadata: Option<String>,
}

/// `PutLifecycleHook`: creates a hook or changes the fields given.
pub fn put_hook(w: &mut World, asg: &str, name: &str, p: PutHook) -> Result<(), AwsError> {
    group_of_asg(w, asg).ok_or_else(|| asg_missing(asg))?;
    if name.is_empty() || name.len() > 255 {
        return Err(validation(
            "LifecycleHookName must be between 1 and 255 characters long",
        ));
    }
    let transition = match p.transition.as_deref() {
        Some(t) => Some(Transition::parse(t).ok_or_else(|| {
            validation(format!(
                "Invalid Lifecycle Transition {t}: use autoscaling:EC2_INSTANCE_LAUNCHING or autoscaling:EC2_INSTANCE_TERMINATING"
            ))
        })?),
        None => None,
    };
    if let Some(h) = p.heartbeat_timeout
        && !(HEARTBEAT_MIN..=HEARTBEAT_MAX).contains(&h)
    {
        return Err(validation(format!(
            "Heartbeat Timeout {h} is out of range: it must be between {HEARTBEAT_MIN} and {HEARTBEAT_MAX} seconds"
        )));
    }
    let result = match p.default_result.as_deref() {
        Some(r) => Some(
            HookResult::parse(r)
                .ok_or_else(|| validation(format!("Invalid Default Result {r}: use CONTINUE or ABANDON")))?,
        ),
        None => None,
    };
    let hooks = &mut w.aws.lifecycle.hooks;
    if let Some(h) = hooks.iter_mut().find(|h| h.asg == asg && h.name == name) {
        if let Some(t) = transition {
            h.transition = t;
        }
        if let Some(t) = p.heartbeat_timeout {
            h.heartbeat_timeout = t;
        }
        if let Some(r) = result {
            h.default_result = r;
        }
        if p.notification_target_arn.is_some() {
            h.notification_target_arn = p.notification_target_arn;
        }
        if p.role_arn.is_some() {
            h.role_arn = p.role_arn;
        }
        if p.notification_metadata.is_some() {
            h.notification_metadata = p.notification_metadata;
        }
        return Ok(());
    }
    let Some(transition) = transition else {
        return Err(validation(format!(
            "LifecycleTransition is required to create lifecycle hook {name}"
        )));
    };
    if hooks.iter().filter(|h| h.asg == asg).count() >= MAX_HOOKS {
        return Err(AwsError::new(
            "LimitExceeded",
            400,
            format!("Auto Scaling group {asg} already has {MAX_HOOKS} lifecycle hooks, the most it may have"),
        ));
    }
    hooks.push(Hook {
        name: name.to_string(),
        asg: asg.to_string(),
        transition,
        heartbeat_timeout: p.heartbeat_timeout.unwrap_or(HEARTBEAT_DEFAULT),
        default_result: result.unwrap_or(HookResult::Abandon),
        notification_target_arn: p.notification_target_arn,
        role_arn: p.role_arn,
        notification_metadata: p.notification_metadata,
    });
    Ok(())
}

/// `DescribeLifecycleHooks`: the group's hooks, those named if any are.
pub fn describe_hooks(w: &World, asg: &str, names: &[String]) -> Result<Vec<Hook>, AwsError> {
    group_of_asg(w, asg).ok_or_else(|| asg_missing(asg))?;
    Ok(w.aws
        .lifecycle
        .hooks
        .iter()
        .filter(|h| h.asg == asg && (names.is_empty() || names.contains(&h.name)))
        .cloned()
        .collect())
}

/// `DeleteLifecycleHook`: instances waiting on it go on with its default result.
pub fn delete_hook(w: &mut World, asg: &str, name: &str) -> Result<(), AwsError> {
    group_of_asg(w, asg).ok_or_else(|| asg_missing(asg))?;
    let hooks = &mut w.aws.lifecycle.hooks;
    let Some(i) = hooks.iter().position(|h| h.asg == asg && h.name == name) else {
        return Err(validation(format!(
            "No Lifecycle Hook found with name {name} in Auto Scaling group {asg}"
        )));
    };
    let hook = hooks.remove(i);
    let waiting: Vec<String> = w
        .aws
        .lifecycle
        .actions
        .iter()
        .filter(|a| a.asg == asg && a.hook == name)
        .map(|a| a.token.clone())
        .collect();
    for token in waiting {
        end_action(w, &token, Outcome::Completed(hook.default_result));
    }
    Ok(())
}

/// Which action a `CompleteLifecycleAction` or heartbeat names: by token, else by
/// instance.
fn find_action(
    w: &World,
    asg: &str,
    hook: &str,
    token: Option<&str>,
    instance: Option<&str>,
) -> Result<usize, AwsError> {
    group_of_asg(w, asg).ok_or_else(|| asg_missing(asg))?;
    if !w.aws.lifecycle.hooks.iter().any(|h| h.asg == asg && h.name == hook) {
        return Err(validation(format!(
            "No Lifecycle Hook found with name {hook} in Auto Scaling group {asg}"
        )));
    }
    let actions = &w.aws.lifecycle.actions;
    match (token, instance) {
        (Some(t), _) => actions
            .iter()
            .position(|a| a.token == t && a.asg == asg && a.hook == hook && instance.is_none_or(|i| i == a.instance))
            .ok_or_else(|| validation(format!("No active Lifecycle Action found with token {t}"))),
        (None, Some(i)) => actions
            .iter()
            .position(|a| a.instance == i && a.asg == asg && a.hook == hook)
            .ok_or_else(|| validation(format!("No active Lifecycle Action found with instance ID {i}"))),
        (None, None) => Err(validation("Either LifecycleActionToken or InstanceId must be given")),
    }
}

/// `CompleteLifecycleAction`.
pub fn complete(
    w: &mut World,
    asg: &str,
    hook: &str,
    token: Option<&str>,
    instance: Option<&str>,
    result: &str,
) -> Result<(), AwsError> {
    let result = HookResult::parse(result).ok_or_else(|| {
        validation(format!(
            "Invalid LifecycleActionResult {result}: use CONTINUE or ABANDON"
        ))
    })?;
    let i = find_action(w, asg, hook, token, instance)?;
    let token = w.aws.lifecycle.actions[i].token.clone();
    end_action(w, &token, Outcome::Completed(result));
    Ok(())
}

/// `RecordLifecycleActionHeartbeat`: the heartbeat timeout starts again (never past
/// the global timeout).
pub fn heartbeat(
    w: &mut World,
    asg: &str,
    hook: &str,
    token: Option<&str>,
    instance: Option<&str>,
) -> Result<(), AwsError> {
    let i = find_action(w, asg, hook, token, instance)?;
    let timeout = w
        .aws
        .lifecycle
        .hooks
        .iter()
        .find(|h| h.asg == asg && h.name == hook)
        .map(|h| h.heartbeat_timeout)
        .unwrap_or(HEARTBEAT_DEFAULT);
    let now = w.now;
    let a = &mut w.aws.lifecycle.actions[i];
    a.deadline = now
        .checked_add(SignedDuration::from_secs(i64::from(timeout)))
        .unwrap_or(now)
        .min(a.global_deadline);
    a.heartbeats += 1;
    let (token, after) = (a.token.clone(), a.deadline.duration_since(now).as_secs_f64());
    w.schedule(after, Timer::Aws(AwsTimer::LifecycleTimeout { token }));
    Ok(())
}

/// The lifecycle state Auto Scaling reports for an instance.
pub fn state_of(w: &World, instance: &str, state: InstanceState) -> &'static str {
    match state {
        InstanceState::Pending => {
            if w.aws.lifecycle.actions.iter().any(|a| a.instance == instance) {
                "Pending:Wait"
            } else {
                "Pending"
            }
        }
        InstanceState::InService => "InService",
        InstanceState::Terminating => {
            if w.aws.lifecycle.actions.iter().any(|a| a.instance == instance) {
                "Terminating:Wait"
            } else if w.aws.lifecycle.proceeding.contains(instance) {
                "Terminating:Proceed"
            } else {
                "Terminating"
            }
        }
    }
}

/// Whether the instance waits in a lifecycle action.
pub fn waiting(w: &World, instance: &str) -> bool {
    w.aws.lifecycle.actions.iter().any(|a| a.instance == instance)
}

/// Whether any instance waits in a lifecycle action.
pub fn busy(w: &World) -> bool {
    !w.aws.lifecycle.actions.is_empty()
}

/// An Auto Scaling termination: through the group's termination hooks if it has
/// any, else at once. `replace` keeps the desired capacity (a replacement launches);
/// otherwise the group shrinks. Returns false for an unknown instance.
pub fn terminate(w: &mut World, instance: &str, replace: bool) -> bool {
    let Some((gi, ii)) = nodes::find(w, instance) else {
        return false;
    };
    if w.groups[gi].instances[ii].state == InstanceState::Terminating {
        return true;
    }
    let asg = w.groups[gi].asg_name.clone();
    let hooks: Vec<Hook> = w
        .aws
        .lifecycle
        .hooks
        .iter()
        .filter(|h| h.asg == asg && h.transition == Transition::Terminating)
        .cloned()
        .collect();
    // a launch still held by a hook is not waited for any more
    w.aws
        .lifecycle
        .actions
        .retain(|a| !(a.instance == instance && a.transition == Transition::Launching));
    nodes::mark_terminating(w, gi, ii, replace);
    if hooks.is_empty() {
        nodes::shut_down(w, instance);
        return true;
    }
    start_actions(w, &asg, instance, Transition::Terminating, &hooks);
    true
}

/// An instance was launched in group `gi`: with launching hooks on the group, it
/// waits in `Pending:Wait`, one action per hook.
pub fn launched(w: &mut World, gi: usize, instance: &str) {
    let asg = w.groups[gi].asg_name.clone();
    let hooks: Vec<Hook> = w
        .aws
        .lifecycle
        .hooks
        .iter()
        .filter(|h| h.asg == asg && h.transition == Transition::Launching)
        .cloned()
        .collect();
    if hooks.is_empty() {
        return;
    }
    start_actions(w, &asg, instance, Transition::Launching, &hooks);
}

fn start_actions(w: &mut World, asg: &str, instance: &str, transition: Transition, hooks: &[Hook]) {
    let now = w.now;
    for h in hooks {
        let token = new_id(w);
        let after = |s: u32| now.checked_add(SignedDuration::from_secs(i64::from(s))).unwrap_or(now);
        w.aws.lifecycle.actions.push(Action {
            token: token.clone(),
            hook: h.name.clone(),
            asg: asg.to_string(),
            instance: instance.to_string(),
            transition,
            started: now,
            deadline: after(h.heartbeat_timeout),
            global_deadline: after(h.global_timeout()),
            heartbeats: 0,
        });
        w.schedule(
            f64::from(h.heartbeat_timeout),
            Timer::Aws(AwsTimer::LifecycleTimeout { token }),
        );
    }
    wake(w);
}

/// A lifecycle timer fired: the action times out with its hook's default result
/// if neither a heartbeat nor a completion came first.
pub fn timeout(w: &mut World, token: &str) {
    let Some(a) = w.aws.lifecycle.actions.iter().find(|a| a.token == token) else {
        return;
    };
    let due = a.deadline.min(a.global_deadline);
    if w.now < due {
        return;
    }
    let result = w
        .aws
        .lifecycle
        .hooks
        .iter()
        .find(|h| h.asg == a.asg && h.name == a.hook)
        .map(|h| h.default_result)
        .unwrap_or(HookResult::Abandon);
    end_action(w, token, Outcome::TimedOut(result));
}

/// Ends one action; when the instance waits on no other (or the result is ABANDON,
/// which ends the others too), the instance shuts down.
fn end_action(w: &mut World, token: &str, outcome: Outcome) {
    let l = &mut w.aws.lifecycle;
    let Some(i) = l.actions.iter().position(|a| a.token == token) else {
        return;
    };
    let a = l.actions.remove(i);
    let abandon = matches!(
        outcome,
        Outcome::Completed(HookResult::Abandon) | Outcome::TimedOut(HookResult::Abandon)
    );
    l.ended.push((a.instance.clone(), a.hook.clone(), outcome));
    if l.ended.len() > 1000 {
        l.ended.remove(0);
    }
    if abandon {
        l.actions
            .retain(|x| !(x.instance == a.instance && x.transition == a.transition));
    }
    if l.actions.iter().any(|x| x.instance == a.instance) {
        return;
    }
    match a.transition {
        Transition::Terminating => {
            l.proceeding.insert(a.instance.clone());
            nodes::shut_down(w, &a.instance);
        }
        // an abandoned launch is terminated and replaced
        Transition::Launching if abandon => {
            nodes::terminate(w, &a.instance, true);
        }
        // in service now if its node has registered, else as soon as it does
        Transition::Launching => {
            if let Some((gi, ii)) = nodes::find(w, &a.instance) {
                let i = &w.groups[gi].instances[ii];
                if i.state == InstanceState::Pending && w.nodes.get(&i.node_name).is_some() {
                    w.groups[gi].instances[ii].state = InstanceState::InService;
                    w.dirty.node_groups = true;
                }
            }
        }
    }
}

/// The instance is gone: nothing of it is left to wait on.
pub fn forget(w: &mut World, instance: &str) {
    let l = &mut w.aws.lifecycle;
    l.actions.retain(|a| a.instance != instance);
    l.proceeding.remove(instance);
}

/// Counts a pod removed because its node disappeared, unless it was already on its
/// way out (evicted or deleted), finished, or a DaemonSet's (those go with their node).
pub fn count_lost_pod(w: &mut World, pod: &Pod, node: &str) {
    if super::eks::daemon_pod(pod) || super::kubelet::is_terminal(pod) || super::kubelet::is_terminating(pod) {
        return;
    }
    let l = &mut w.aws.lifecycle.pods_lost;
    l.count += 1;
    l.recent.push(format!(
        "{}/{} on {node}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    ));
    if l.recent.len() > 200 {
        l.recent.remove(0);
    }
}

/// The hooks a scenario gives a group, added when the world is built.
pub fn seed(w: &mut World, asg: &str, hooks: &[Hook]) {
    for h in hooks {
        let mut h = h.clone();
        h.asg = asg.to_string();
        w.aws.lifecycle.hooks.push(h);
    }
}

/// Actions by instance, for callers that drain (the simulated termination handler).
pub fn waiting_instances(w: &World) -> BTreeMap<String, Vec<Action>> {
    let mut out: BTreeMap<String, Vec<Action>> = BTreeMap::new();
    for a in &w.aws.lifecycle.actions {
        out.entry(a.instance.clone()).or_default().push(a.clone());
    }
    out
}
