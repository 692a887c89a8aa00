//! `replace`: upshift replaces a self-managed group's nodes itself, batch by batch:
//! cordon and drain the batch's nodes, terminate their instances once drained, wait
//! for the group's replacements to join Ready, then a gate before the next batch.
//! Which batches started, and with which nodes, is read back from the journal.

use std::collections::BTreeSet;

use jiff::Timestamp;

use super::super::drain::{drain_node, start_batch};
use super::super::{Progress, StepCtx, StepError};
use super::{GroupNode, Observed, TERMINATE, UNCORDON, acting, finish, precheck_control_plane, uncordon};
use crate::model::journal::{Decision, GateId, StepId, StepState, What};
use crate::rollout::plan::NodegroupStep;

const START_BATCH: &str = "start-batch";

/// The batches this step started, oldest first: when, and their nodes.
fn batches(ctx: &StepCtx<'_>, step: &StepId) -> Vec<(Timestamp, Vec<String>)> {
    ctx.journal
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            What::Action {
                step: s,
                action,
                target,
            } if s == step && action == START_BATCH => Some((e.at, target.split(',').map(str::to_string).collect())),
            _ => None,
        })
        .collect()
}

/// Nodes the operator chose to leave on the old minor.
fn skipped(ctx: &StepCtx<'_>, step: &StepId) -> BTreeSet<String> {
    ctx.journal
        .decisions(step)
        .filter(|(_, d, _)| *d == Decision::SkipNode)
        .filter_map(|(_, _, t)| t.map(str::to_string))
        .collect()
}

/// Whether the operator let batch `batch` start (since the last abort: an abort
/// closes the gates passed before it).
fn gate_passed(ctx: &StepCtx<'_>, step: &StepId, batch: u32) -> bool {
    if batch <= 1 {
        return true;
    }
    ctx.journal.gate_decision(&GateId::batch(step.clone(), batch)).is_some()
}

/// Where a replace stands, read from the journal and the group as it is now.
struct Standing<'a> {
    /// Nodes the operator chose to leave on the old minor.
    skip: BTreeSet<String>,
    /// The batches started, oldest first: when, and their nodes.
    batches: Vec<(Timestamp, Vec<String>)>,
    /// Old nodes no batch has taken yet, oldest first.
    waiting: Vec<&'a GroupNode>,
    /// How many batches in all.
    of: u32,
    /// The group's nodes the operator skipped.
    skipped_here: Vec<String>,
}

fn on_target(n: &GroupNode, target: &str) -> bool {
    n.minor.as_deref() == Some(target)
}

fn standing<'a>(ctx: &StepCtx<'_>, g: &NodegroupStep, step: &StepId, live: &'a Observed) -> Standing<'a> {
    let skip = skipped(ctx, step);
    let batches = batches(ctx, step);
    let started: BTreeSet<&str> = batches.iter().flat_map(|(_, n)| n.iter().map(String::as_str)).collect();
    let waiting: Vec<&GroupNode> = live
        .staying()
        .filter(|n| !on_target(n, ctx.target) && !skip.contains(&n.name) && !started.contains(n.name.as_str()))
        .collect();
    let bs = g.batch_size.max(1) as usize;
    let of = (batches.len() + waiting.len().div_ceil(bs)) as u32;
    let skipped_here: Vec<String> = live
        .nodes
        .iter()
        .filter(|n| skip.contains(&n.name))
        .map(|n| n.name.clone())
        .collect();
    Standing {
        skip,
        batches,
        waiting,
        of,
        skipped_here,
    }
}

/// One call of a `replace` step.
pub(super) async fn reconcile(
    ctx: &mut StepCtx<'_>,
    g: &NodegroupStep,
    step: &StepId,
    client: kube::Client,
) -> Result<Progress, StepError> {
    let live = super::read(ctx, &client, g).await?;
    let s = standing(ctx, g, step, &live);
    let target = ctx.target;
    ctx.group.old = live.staying().filter(|n| !on_target(n, target)).count() as u32;
    ctx.group.new = live.staying().filter(|n| on_target(n, target)).count() as u32;
    ctx.group.batch = s.batches.len() as u32;
    ctx.group.batches = s.of;
    ctx.group.skipped = s.skipped_here.clone();
    ctx.group.draining.clear();
    ctx.group.holding = None;

    if s.batches.is_empty() && s.waiting.is_empty() {
        return finish(ctx, g, step, &live, &s.skipped_here).await;
    }
    if s.batches.is_empty() {
        precheck(ctx, g, &live, &s.waiting).await?;
    }
    joined_on_the_old_minor(ctx, g, step, &live, &s)?;
    if let Some((_, names)) = s.batches.last()
        && let Some(p) = current_batch(ctx, g, step, &client, &live, &s, names).await?
    {
        return Ok(p);
    }
    if s.waiting.is_empty() {
        return finish(ctx, g, step, &live, &s.skipped_here).await;
    }
    next_batch(ctx, g, step, &client, &live, &s).await
}

/// A replacement that joined on the old minor means the launch template still boots
/// it: the step fails, naming the node and the group.
fn joined_on_the_old_minor(
    ctx: &mut StepCtx<'_>,
    g: &NodegroupStep,
    step: &StepId,
    live: &Observed,
    s: &Standing,
) -> Result<(), StepError> {
    let target = ctx.target.to_string();
    let asg = &live.asg.name;
    if let Some((first, _)) = s.batches.first()
        && let Some(n) = live.staying().find(|n| {
            n.minor.is_some()
                && !on_target(n, &target)
                && n.created.is_some_and(|c| c >= *first)
                && !ctx.retry_requested(step, n.created)
        })
    {
        ctx.state(step, StepState::Failed)?;
        return Err(StepError::Failed {
            why: format!(
                "node {} joined node group {} on {} after upshift replaced a node: Auto Scaling group {asg} still launches instances for {}",
                n.name,
                g.name,
                n.minor.as_deref().unwrap_or("?"),
                n.minor.as_deref().unwrap_or("?"),
            ),
            what_to_do: format!(
                "point the launch template of {asg} at an AMI for {target} (e.g. the EKS optimized AMI for {target}), then retry the step; nodes already replaced stay"
            ),
        });
    }
    Ok(())
}

/// The current batch: its nodes that are still there and not skipped are drained,
/// then their instances terminated, then their replacements awaited. None once the
/// batch is through.
async fn current_batch(
    ctx: &mut StepCtx<'_>,
    g: &NodegroupStep,
    step: &StepId,
    client: &kube::Client,
    live: &Observed,
    s: &Standing<'_>,
    names: &[String],
) -> Result<Option<Progress>, StepError> {
    let asg = &live.asg.name;
    let of = s.of;
    let opts = ctx.drain.clone();
    let mut holds = Vec::new();
    let mut busy = Vec::new();
    for name in names {
        let Some(n) = live.node(name) else { continue };
        if live.leaving(n) {
            continue;
        }
        if s.skip.contains(name) {
            if n.cordoned && !ctx.journal.done(step, UNCORDON, name) {
                uncordon(ctx, client, step, name).await?;
            }
            continue;
        }
        let Some(id) = n.instance.clone() else {
            return Err(StepError::Failed {
                why: format!(
                    "node {name} of node group {} has no AWS instance id in spec.providerID, so upshift cannot terminate it",
                    g.name
                ),
                what_to_do: format!(
                    "terminate the instance behind {name} in Auto Scaling group {asg} by hand (without decrementing the desired capacity), or skip the node"
                ),
            });
        };
        if ctx.journal.done(step, TERMINATE, &id) {
            // terminated: the group's view catches up
            continue;
        }
        acting(ctx, step, &live.asg).await?;
        let progress = drain_node(&mut ctx.drain_ctx(client.clone()), step, name, &opts).await?;
        match progress {
            Progress::Done { .. } => terminate(ctx, g, step, asg, name, &id).await?,
            Progress::Held { .. } => holds.push(progress),
            other => busy.push((name.clone(), other)),
        }
        ctx.group.draining.push(name.clone());
    }
    if let Some(first) = holds.into_iter().next() {
        if let Progress::Held { what, .. } = &first {
            ctx.group.holding = Some(what.clone());
        }
        return Ok(Some(first));
    }
    if !busy.is_empty() {
        let lines: Vec<String> = busy
            .iter()
            .filter_map(|(_, p)| match p {
                Progress::Waiting { what, .. } => Some(what.clone()),
                _ => None,
            })
            .collect();
        return Ok(Some(Progress::Waiting {
            what: format!(
                "node group {}: batch {} of {of}: draining {}",
                g.name,
                s.batches.len(),
                busy.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
            ),
            detail: lines.join("; "),
        }));
    }
    // drained and terminated: wait for the replacements
    let leaving: Vec<&str> = names
        .iter()
        .filter(|n| live.node(n).is_some_and(|n| live.leaving(n) || n.cordoned) && !s.skip.contains(*n))
        .map(String::as_str)
        .collect();
    let want = live.asg.desired.max(0) as usize;
    let ready = ready_nodes(live, s);
    let others = cordoned_by_others(live, s);
    if !others.is_empty() {
        ctx.group.holding = Some(format!(
            "{} Ready but cordoned by someone else, not upshift: it takes no new pods until uncordoned \
             (kubectl uncordon {}); upshift leaves it so and goes on, the gate before the next batch is yours",
            others.join(", "),
            others.join(" ")
        ));
    }
    if !ctx.group.draining.is_empty() || ready < want || live.pending() > 0 {
        return Ok(Some(Progress::Waiting {
            what: format!(
                "node group {}: batch {} of {of}: waiting for replacements ({ready} of {want} nodes Ready)",
                g.name,
                s.batches.len(),
            ),
            detail: format!(
                "Auto Scaling group {asg} launches instances for the terminated ones; {} pending; leaving: {}",
                live.pending(),
                if leaving.is_empty() {
                    "none".to_string()
                } else {
                    leaving.join(", ")
                }
            ),
        }));
    }
    Ok(None)
}

/// The group's nodes that stay and are Ready, cordoned or not, but for the ones
/// upshift cordoned in its batches (they are on their way out).
fn ready_nodes(live: &Observed, s: &Standing<'_>) -> usize {
    let ours = upshifts(s);
    live.staying()
        .filter(|n| n.ready && !(n.cordoned && ours.contains(n.name.as_str())))
        .count()
}

/// The group's Ready nodes cordoned by someone else: no batch of upshift's took them.
fn cordoned_by_others(live: &Observed, s: &Standing<'_>) -> Vec<String> {
    let ours = upshifts(s);
    live.staying()
        .filter(|n| n.ready && n.cordoned && !ours.contains(n.name.as_str()))
        .map(|n| n.name.clone())
        .collect()
}

/// The nodes upshift's batches took (and so cordoned).
fn upshifts<'s>(s: &'s Standing<'_>) -> BTreeSet<&'s str> {
    s.batches
        .iter()
        .flat_map(|(_, names)| names.iter().map(String::as_str))
        .collect()
}

/// The next batch, once its gate is passed: its nodes are chosen (journaled), then
/// cordoned and drained.
async fn next_batch(
    ctx: &mut StepCtx<'_>,
    g: &NodegroupStep,
    step: &StepId,
    client: &kube::Client,
    live: &Observed,
    s: &Standing<'_>,
) -> Result<Progress, StepError> {
    let of = s.of;
    let batch = s.batches.len() as u32 + 1;
    if !gate_passed(ctx, step, batch) {
        return Ok(Progress::Gate { batch, of });
    }
    acting(ctx, step, &live.asg).await?;
    let bs = g.batch_size.max(1) as usize;
    let chosen: Vec<String> = s.waiting.iter().take(bs).map(|n| n.name.clone()).collect();
    let detail = format!(
        "cordoning and draining {}; their instances in {} are terminated once drained, and replaced",
        chosen.join(", "),
        live.asg.name
    );
    start_batch(ctx, client, step, START_BATCH, &g.name, &chosen, (batch, of), detail).await
}

/// Before the first batch: the control plane must be on the target, and the group
/// must not be launching the very image its old nodes run.
async fn precheck(
    ctx: &mut StepCtx<'_>,
    g: &NodegroupStep,
    live: &Observed,
    old: &[&GroupNode],
) -> Result<(), StepError> {
    precheck_control_plane(ctx, g).await?;
    let numeric = |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
    if let Some(lt) = live.asg.launch_template_version.as_deref().filter(|v| numeric(v)) {
        let launched_from = |n: &GroupNode| {
            let id = n.instance.as_deref()?;
            live.asg
                .instances
                .iter()
                .find(|i| i.id == id)?
                .launch_template_version
                .clone()
        };
        let same = !old.is_empty() && old.iter().all(|n| launched_from(n).as_deref() == Some(lt));
        if same {
            let step = StepId::Nodegroup(g.name.clone());
            ctx.state(&step, StepState::Failed)?;
            return Err(StepError::Failed {
                why: format!(
                    "Auto Scaling group {} launches from launch template version {lt}, the one its {} node(s) on {} run: replacements would boot {} again",
                    live.asg.name,
                    old.len(),
                    old[0].minor.as_deref().unwrap_or("the old minor"),
                    old[0].minor.as_deref().unwrap_or("the old minor"),
                ),
                what_to_do: format!(
                    "point the launch template of {} at an AMI for {} and make that version the group's, then retry the step",
                    live.asg.name, ctx.target
                ),
            });
        }
    }
    Ok(())
}

/// Terminates a drained node's instance, once; the group launches its replacement.
async fn terminate(
    ctx: &mut StepCtx<'_>,
    g: &NodegroupStep,
    step: &StepId,
    asg: &str,
    node: &str,
    id: &str,
) -> Result<(), StepError> {
    ctx.action(step, TERMINATE, id)?;
    match ctx.cloud.terminate_instance(id, false).await {
        Ok(a) => ctx.result(step, TERMINATE, id, true, format!("node {node}: {}", a.description)),
        Err(e) => {
            ctx.result(step, TERMINATE, id, false, e.to_string())?;
            if e.is_transient() {
                // throttled or a server error on every try: the drive calls again later,
                // and the next call terminates it (nothing journaled it done)
                return Err(StepError::Cloud(e));
            }
            Err(StepError::Failed {
                why: format!(
                    "terminating instance {id} (node {node}) of node group {} in Auto Scaling group {asg}: {e}",
                    g.name
                ),
                what_to_do: format!(
                    "check that {id} is still in {asg} and the AWS identity may call autoscaling:TerminateInstanceInAutoScalingGroup, then retry; node {node} stays cordoned and drained"
                ),
            })
        }
    }
}
