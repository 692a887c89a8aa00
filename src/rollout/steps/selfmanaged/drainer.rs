//! upshift as the drainer of an instance refresh (`drainer: upshift`): a termination
//! lifecycle hook of its own on the group for the step (journaled; removed when the
//! step is done or aborted; hooks already there are left as they are), and, as each
//! instance the refresh terminates waits in `Terminating:Wait`, its node drained with
//! the same PDB-aware drain and operator choices as `replace`, then the action
//! completed. The refresh's batches are read off the instances that enter the hook
//! together; before each batch after the first a gate holds them in the hook until
//! the lead proceeds. Heartbeats keep held instances waiting, on every call and, at a
//! gate or a pause, from the drive's turn ([`keep_alive`]).
//!
//! Where this stands comes from the journal (the batches seen, the actions completed,
//! the last heartbeat of each instance) and the group as it is, so a new process
//! repeats no action.

use jiff::Timestamp;

use super::super::drain::drain_node;
use super::super::{Progress, StepCtx, StepError};
use super::{GroupNode, Observed, acting};
use crate::cloud::{CloudError, HookResult, HookSpec};
use crate::model::Level;
use crate::model::journal::{Decision, GateId, StepId, What};
use crate::rollout::plan::NodegroupStep;

/// The name of the hook upshift puts on a group it drains.
pub const HOOK: &str = "upshift-drain";
/// The hook's heartbeat timeout: how long a held instance waits once heartbeats stop
/// (the lead's laptop died): time for another operator to take over and resume.
pub const HEARTBEAT_TIMEOUT: i32 = 1800;
/// What applies when that timeout runs out. For a termination both results let the
/// instance terminate; CONTINUE still lets the group's other termination hooks (a
/// termination handler's, say) run, where ABANDON would cut them short.
pub const DEFAULT_RESULT: HookResult = HookResult::Continue;
/// Seconds between two heartbeats for one held instance.
pub const HEARTBEAT_EVERY: i64 = 300;

pub(super) const PUT_HOOK: &str = "put-lifecycle-hook";
pub(super) const DELETE_HOOK: &str = "delete-lifecycle-hook";
pub(super) const COMPLETE: &str = "complete-lifecycle-action";
pub(super) const BATCH: &str = "refresh-batch";
/// The journal's reason on a heartbeat sent for an instance (an event, not an
/// action: sending another one repeats nothing).
const HEARTBEAT: &str = "LifecycleHeartbeat";
/// The journal's reason on the warning that an instance left the hook without
/// upshift letting it go (its timeout ran out, or it was terminated otherwise).
const LEFT: &str = "LeftLifecycleHook";

fn hook_target(asg: &str) -> String {
    format!("{asg}/{HOOK}")
}

/// Whether this step put its hook on `asg` (and has not removed it since).
pub(super) fn hook_ours(ctx: &StepCtx<'_>, step: &StepId, asg: &str) -> bool {
    let t = hook_target(asg);
    let put = last_ok(ctx, step, PUT_HOOK, &t);
    let deleted = last_ok(ctx, step, DELETE_HOOK, &t);
    put.is_some_and(|p| deleted.is_none_or(|d| d < p))
}

fn last_ok(ctx: &StepCtx<'_>, step: &StepId, action: &str, target: &str) -> Option<u64> {
    ctx.journal.entries().iter().rev().find_map(|e| match &e.what {
        What::Result {
            step: s,
            action: a,
            target: t,
            ok: true,
            ..
        } if s == step && a == action && t == target => Some(e.seq),
        _ => None,
    })
}

/// Journals an action, unless the same action is already in doubt (killed between
/// journal and answer): then its answer comes now, as its result.
fn act(ctx: &mut StepCtx<'_>, step: &StepId, action: &str, target: &str) -> Result<(), StepError> {
    if super::in_doubt(ctx, step, action, target) {
        return Ok(());
    }
    ctx.action(step, action, target)
}

/// The hook is on the group before the refresh starts: put once (adopted when a put
/// was in doubt and the hook is there).
pub(super) async fn ensure_hook(ctx: &mut StepCtx<'_>, step: &StepId, asg: &str) -> Result<(), StepError> {
    if hook_ours(ctx, step, asg) {
        return Ok(());
    }
    let target = hook_target(asg);
    let hooks = ctx.cloud.describe_lifecycle_hooks(asg).await?;
    if super::in_doubt(ctx, step, PUT_HOOK, &target) && hooks.iter().any(|h| h.name == HOOK) {
        return ctx.result(
            step,
            PUT_HOOK,
            &target,
            true,
            "found on the group after a restart".into(),
        );
    }
    if let Some(h) = hooks.iter().find(|h| h.name == HOOK) {
        // put by an earlier rollout that did not remove it: it is taken over, as is
        return ctx.result(
            step,
            PUT_HOOK,
            &target,
            true,
            format!(
                "already on the group (heartbeat timeout {}s, default {}), taken over",
                h.heartbeat_timeout, h.default_result
            ),
        );
    }
    act(ctx, step, PUT_HOOK, &target)?;
    let spec = HookSpec {
        name: HOOK.into(),
        heartbeat_timeout: HEARTBEAT_TIMEOUT,
        default_result: DEFAULT_RESULT,
    };
    match ctx.cloud.put_lifecycle_hook(asg, &spec).await {
        Ok(()) => ctx.result(
            step,
            PUT_HOOK,
            &target,
            true,
            format!(
                "termination hook, heartbeat timeout {HEARTBEAT_TIMEOUT}s, default {}",
                DEFAULT_RESULT.as_str()
            ),
        ),
        Err(e) => {
            ctx.result(step, PUT_HOOK, &target, false, e.to_string())?;
            Err(StepError::Failed {
                why: format!("adding termination hook {HOOK} to Auto Scaling group {asg}: {e}"),
                what_to_do: "grant autoscaling:PutLifecycleHook (docs/iam.md), then retry the step; the refresh does not start without the hook".into(),
            })
        }
    }
}

/// Removes the step's hook, if it put one; says so in one line.
pub(super) async fn remove_hook(ctx: &mut StepCtx<'_>, step: &StepId, asg: &str) -> Result<Option<String>, StepError> {
    if !hook_ours(ctx, step, asg) {
        return Ok(None);
    }
    let target = hook_target(asg);
    act(ctx, step, DELETE_HOOK, &target)?;
    match ctx.cloud.delete_lifecycle_hook(asg, HOOK).await {
        Ok(()) => {
            ctx.result(step, DELETE_HOOK, &target, true, String::new())?;
            Ok(Some(format!(
                "removed termination hook {HOOK} from Auto Scaling group {asg}"
            )))
        }
        Err(e @ CloudError::Invalid { .. }) => {
            // "No Lifecycle Hook found": removed meanwhile
            ctx.result(step, DELETE_HOOK, &target, true, e.to_string())?;
            Ok(Some(format!("termination hook {HOOK} was already gone from {asg}")))
        }
        Err(e) => {
            ctx.result(step, DELETE_HOOK, &target, false, e.to_string())?;
            Err(e.into())
        }
    }
}

/// The refresh's batches this step saw, oldest first: their instances. Instances
/// seen while the latest batch still had some in the hook join it (a refresh
/// terminates a batch's instances at about the same time, and a call may see only
/// some of them); a batch begins only after the one before it has left the hook.
fn batches(ctx: &StepCtx<'_>, step: &StepId) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut gone: Vec<&str> = Vec::new();
    for e in ctx.journal.entries() {
        match &e.what {
            What::Action {
                step: s,
                action,
                target,
            } if s == step && action == BATCH => {
                let ids = target.split(',').map(str::to_string);
                match out.last_mut() {
                    Some(last) if last.iter().any(|id| !gone.contains(&id.as_str())) => last.extend(ids),
                    _ => out.push(ids.collect()),
                }
            }
            What::Result {
                step: s,
                action,
                target,
                ok: true,
                ..
            } if s == step && action == COMPLETE => gone.push(target),
            What::Event { object, reason, .. } if reason == LEFT => {
                if let Some(id) = object.strip_prefix("Instance/") {
                    gone.push(id)
                }
            }
            _ => {}
        }
    }
    out
}

/// Whether the instance is out of the hook as far as the journal knows: its action
/// completed by this step, or seen gone without it.
fn ended(ctx: &StepCtx<'_>, step: &StepId, id: &str) -> bool {
    let object = format!("Instance/{id}");
    ctx.journal.done(step, COMPLETE, id)
        || ctx
            .journal
            .entries()
            .iter()
            .any(|e| matches!(&e.what, What::Event { object: o, reason, .. } if *o == object && reason == LEFT))
}

/// When the instance last had a heartbeat, or was first seen in the hook.
fn last_beat(ctx: &StepCtx<'_>, step: &StepId, instance: &str) -> Option<Timestamp> {
    let object = format!("Instance/{instance}");
    let mut last = None;
    for e in ctx.journal.entries() {
        match &e.what {
            What::Event { object: o, reason, .. } if *o == object && reason == HEARTBEAT => last = Some(e.at),
            What::Action {
                step: s,
                action,
                target,
            } if s == step && action == BATCH && target.split(',').any(|t| t == instance) => {
                last = last.max(Some(e.at))
            }
            _ => {}
        }
    }
    last
}

/// Instances of the batches seen that no action completed yet.
fn uncompleted(ctx: &StepCtx<'_>, step: &StepId) -> Vec<String> {
    batches(ctx, step)
        .into_iter()
        .flatten()
        .filter(|id| !ended(ctx, step, id))
        .collect()
}

/// Sends a heartbeat for each of `ids` whose last one is due; journaled as events.
async fn beat(ctx: &mut StepCtx<'_>, step: &StepId, asg: &str, ids: &[String]) -> Result<(), StepError> {
    let now = (ctx.now)();
    for id in ids {
        let due = last_beat(ctx, step, id).is_none_or(|t| now.as_second() - t.as_second() >= HEARTBEAT_EVERY);
        if !due {
            continue;
        }
        match ctx.cloud.record_lifecycle_heartbeat(asg, HOOK, id).await {
            Ok(()) => {
                ctx.journal.append(
                    ctx.who,
                    now,
                    What::Event {
                        level: Level::Info,
                        object: format!("Instance/{id}"),
                        reason: HEARTBEAT.into(),
                        message: format!(
                            "{step}: instance {id} kept in Terminating:Wait on hook {HOOK} ({HEARTBEAT_TIMEOUT}s more)"
                        ),
                    },
                )?;
            }
            // the action ended (completed, or its instance is gone): nothing to keep
            Err(CloudError::Invalid { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// From the drive's turn, whatever its phase (a gate, a pause, a held drain): the
/// heartbeats that are due for the instances this step holds in its hook. Reads
/// the journal first and asks AWS nothing while none is due.
pub(super) async fn keep_alive(ctx: &mut StepCtx<'_>, step: &StepId) -> Result<(), StepError> {
    let pending = uncompleted(ctx, step);
    if pending.is_empty() {
        return Ok(());
    }
    let now = (ctx.now)();
    let due: Vec<String> = pending
        .into_iter()
        .filter(|id| last_beat(ctx, step, id).is_none_or(|t| now.as_second() - t.as_second() >= HEARTBEAT_EVERY))
        .collect();
    if due.is_empty() {
        return Ok(());
    }
    let waiting: Vec<(String, String)> = ctx
        .cloud
        .describe_asg_instances(&due)
        .await?
        .into_iter()
        .filter(|i| i.lifecycle_state == "Terminating:Wait")
        .map(|i| (i.group, i.id))
        .collect();
    for (asg, id) in waiting {
        beat(ctx, step, &asg, std::slice::from_ref(&id)).await?;
    }
    Ok(())
}

/// One pass over the instances the refresh put in the hook: a new batch is taken
/// in (and gated, after the first); each instance of a passed batch has its node
/// drained, then its action completed. None when nothing waits in the hook.
pub(super) async fn tend(
    ctx: &mut StepCtx<'_>,
    g: &NodegroupStep,
    step: &StepId,
    client: &kube::Client,
    live: &Observed,
) -> Result<Option<Progress>, StepError> {
    let asg = live.asg.name.clone();
    let held: Vec<String> = live
        .asg
        .instances
        .iter()
        .filter(|i| i.lifecycle_state == "Terminating:Wait")
        .map(|i| i.id.clone())
        .collect();
    // instances seen in the hook that are out of it, without this step letting them go
    for id in uncompleted(ctx, step) {
        if held.contains(&id) {
            continue;
        }
        if super::in_doubt(ctx, step, COMPLETE, &id) {
            // completed, and killed before the answer was journaled
            ctx.result(step, COMPLETE, &id, true, "the action ended before a restart".into())?;
            continue;
        }
        // its timeout ran out, or it was terminated otherwise: what was still on its
        // node went with it
        let node = node_names(live, std::slice::from_ref(&id));
        let at = (ctx.now)();
        ctx.journal.append(
            ctx.who,
            at,
            What::Event {
                level: Level::Warning,
                object: format!("Instance/{id}"),
                reason: LEFT.into(),
                message: format!(
                    "{step}: instance {id} (node {node}) left hook {HOOK} before upshift drained it and let it go: pods still on the node went with it"
                ),
            },
        )?;
    }
    let seen = batches(ctx, step);
    let known: Vec<&String> = seen.iter().flatten().collect();
    let new: Vec<String> = held.iter().filter(|id| !known.contains(id)).cloned().collect();
    let bs = g.batch_size.max(1) as usize;
    let target = ctx.target.to_string();
    let old_left = live
        .staying()
        .filter(|n| n.minor.as_deref() != Some(target.as_str()))
        .count();
    if !new.is_empty() {
        let joins = seen.last().is_some_and(|b| b.iter().any(|id| !ended(ctx, step, id)));
        let k = if joins { seen.len() } else { seen.len() + 1 };
        let names = node_names(live, &new);
        ctx.action(step, BATCH, &new.join(","))?;
        ctx.result(
            step,
            BATCH,
            &new.join(","),
            true,
            format!(
                "batch {k}: instances {} (nodes {names}) wait in hook {HOOK}",
                new.join(", ")
            ),
        )?;
    }
    let seen = batches(ctx, step);
    let of = (seen.len() + old_left.div_ceil(bs)) as u32;
    ctx.group.batch = seen.len() as u32;
    ctx.group.batches = of;
    ctx.group.draining.clear();
    ctx.group.holding = None;
    let pending: Vec<(usize, String)> = seen
        .iter()
        .enumerate()
        .flat_map(|(i, ids)| ids.iter().map(move |id| (i + 1, id.clone())))
        .filter(|(_, id)| !ended(ctx, step, id))
        .collect();
    if pending.is_empty() {
        return Ok(None);
    }
    // every held instance keeps waiting while it is drained or gated
    let waiting: Vec<String> = pending
        .iter()
        .filter(|(_, id)| held.contains(id))
        .map(|(_, id)| id.clone())
        .collect();
    beat(ctx, step, &asg, &waiting).await?;
    let opts = ctx.drain.clone();
    let mut holds = Vec::new();
    let mut busy = Vec::new();
    for (batch, id) in &pending {
        let batch = *batch as u32;
        if batch > 1 && ctx.journal.gate_decision(&GateId::batch(step.clone(), batch)).is_none() {
            return Ok(Some(Progress::Gate { batch, of }));
        }
        if !held.contains(id) {
            continue;
        }
        let node = live.nodes.iter().find(|n| n.instance.as_deref() == Some(id.as_str()));
        let Some(node) = node.map(|n: &GroupNode| n.name.clone()) else {
            complete(ctx, step, &asg, id, "its node is gone").await?;
            continue;
        };
        let skipped = ctx
            .journal
            .decisions(step)
            .any(|(_, d, t)| d == Decision::SkipNode && t == Some(node.as_str()));
        if skipped {
            complete(
                ctx,
                step,
                &asg,
                id,
                &format!("the operator chose to let node {node} go undrained (skip-node)"),
            )
            .await?;
            continue;
        }
        acting(ctx, step, &live.asg).await?;
        let progress = drain_node(&mut ctx.drain_ctx(client.clone()), step, &node, &opts).await?;
        ctx.group.draining.push(node.clone());
        match progress {
            Progress::Done { .. } => complete(ctx, step, &asg, id, &format!("node {node} drained")).await?,
            Progress::Held { .. } => holds.push(progress),
            Progress::Waiting { what, .. } => busy.push(what),
            Progress::Gate { .. } => {}
        }
    }
    if let Some(first) = holds.into_iter().next() {
        if let Progress::Held { what, .. } = &first {
            ctx.group.holding = Some(what.clone());
        }
        return Ok(Some(first));
    }
    if !busy.is_empty() {
        return Ok(Some(Progress::Waiting {
            what: format!(
                "node group {}: batch {} of {of}: draining {} (instances wait in hook {HOOK})",
                g.name,
                seen.len(),
                ctx.group.draining.join(", ")
            ),
            detail: busy.join("; "),
        }));
    }
    Ok(None)
}

fn node_names(live: &Observed, ids: &[String]) -> String {
    ids.iter()
        .map(|id| {
            live.nodes
                .iter()
                .find(|n| n.instance.as_deref() == Some(id.as_str()))
                .map_or("?".to_string(), |n| n.name.clone())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Lets a drained instance go: its lifecycle action completed with CONTINUE, once.
async fn complete(ctx: &mut StepCtx<'_>, step: &StepId, asg: &str, id: &str, why: &str) -> Result<(), StepError> {
    act(ctx, step, COMPLETE, id)?;
    match ctx
        .cloud
        .complete_lifecycle_action(asg, HOOK, id, HookResult::Continue)
        .await
    {
        Ok(()) => ctx.result(step, COMPLETE, id, true, why.to_string()),
        Err(e @ CloudError::Invalid { .. }) => {
            // no action any more: it ended meanwhile
            ctx.result(step, COMPLETE, id, true, format!("{why}; {e}"))
        }
        Err(e) => {
            ctx.result(step, COMPLETE, id, false, e.to_string())?;
            Err(e.into())
        }
    }
}

/// On abort: the instances still held in the step's hook, with their nodes, for the
/// lead to know that removing the hook lets them terminate now.
pub(super) fn still_held(ctx: &StepCtx<'_>, step: &StepId, live: &Observed) -> Vec<String> {
    let pending = uncompleted(ctx, step);
    live.asg
        .instances
        .iter()
        .filter(|i| i.lifecycle_state == "Terminating:Wait" && pending.contains(&i.id))
        .map(|i| format!("{} ({})", i.id, node_names(live, std::slice::from_ref(&i.id))))
        .collect()
}
