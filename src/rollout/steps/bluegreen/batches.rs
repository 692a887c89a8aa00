//! A `blue-green` step's old group, batch by batch: every old node cordoned when the
//! first batch starts, drained `batchSize` at a time with a gate between batches
//! (the self-managed drain), then the old group deleted. Which batches started, with
//! which nodes, is read back from the journal.

use std::collections::BTreeSet;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};

use super::super::drain::{CORDON, drain_node, kube_failed, start_batch};
use super::super::{Progress, StepCtx, StepError};
use super::observe::GroupNode;
use super::{DELETE, START_BATCH, UNCORDON, issues};
use crate::cloud::{CloudError, NodegroupInfo};
use crate::model::journal::{Decision, GateId, StepId, StepState, What};
use crate::rollout::plan::NodegroupStep;

/// The batches this step started, oldest first: when, and their nodes.
pub(super) fn batches(ctx: &StepCtx<'_>, step: &StepId) -> Vec<(Timestamp, Vec<String>)> {
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

/// Nodes the operator chose to leave in the old group.
pub(super) fn skipped(ctx: &StepCtx<'_>, step: &StepId) -> BTreeSet<String> {
    ctx.journal
        .decisions(step)
        .filter(|(_, d, _)| *d == Decision::SkipNode)
        .filter_map(|(_, _, t)| t.map(str::to_string))
        .collect()
}

/// The old group's nodes, batch by batch: every one cordoned when the first batch
/// starts, then drained `batchSize` at a time with a gate between batches; then the
/// old group is deleted.
#[allow(clippy::too_many_arguments)]
pub(super) async fn drain_old(
    ctx: &mut StepCtx<'_>,
    g: &NodegroupStep,
    step: &StepId,
    client: &kube::Client,
    old: &NodegroupInfo,
    old_nodes: &[GroupNode],
    new_name: &str,
) -> Result<Progress, StepError> {
    let skip = skipped(ctx, step);
    let started = batches(ctx, step);
    let taken: BTreeSet<&str> = started.iter().flat_map(|(_, n)| n.iter().map(String::as_str)).collect();
    let waiting: Vec<&GroupNode> = old_nodes
        .iter()
        .filter(|n| !skip.contains(&n.name) && !taken.contains(n.name.as_str()))
        .collect();
    let bs = g.batch_size.max(1) as usize;
    let of = (started.len() + waiting.len().div_ceil(bs)) as u32;
    ctx.group.batch = started.len() as u32;
    ctx.group.batches = of;
    ctx.group.skipped = old_nodes
        .iter()
        .filter(|n| skip.contains(&n.name))
        .map(|n| n.name.clone())
        .collect();

    if let Some((_, names)) = started.last() {
        let opts = ctx.drain.clone();
        let mut holds = Vec::new();
        let mut busy = Vec::new();
        for name in names {
            let Some(n) = old_nodes.iter().find(|n| &n.name == name) else {
                continue;
            };
            if skip.contains(name) {
                if n.cordoned {
                    uncordon(ctx, client, step, name).await?;
                }
                continue;
            }
            let progress = drain_node(&mut ctx.drain_ctx(client.clone()), step, name, &opts).await?;
            match progress {
                Progress::Done { .. } => {}
                Progress::Held { .. } => {
                    ctx.group.draining.push(name.clone());
                    holds.push(progress);
                }
                other => {
                    ctx.group.draining.push(name.clone());
                    busy.push(other);
                }
            }
        }
        if let Some(first) = holds.into_iter().next() {
            if let Progress::Held { what, .. } = &first {
                ctx.group.holding = Some(what.clone());
            }
            return Ok(first);
        }
        if !busy.is_empty() {
            let lines: Vec<String> = busy
                .iter()
                .filter_map(|p| match p {
                    Progress::Waiting { what, .. } => Some(what.clone()),
                    _ => None,
                })
                .collect();
            return Ok(Progress::Waiting {
                what: format!(
                    "node group {}: batch {} of {of}: draining {}",
                    g.name,
                    started.len(),
                    ctx.group.draining.join(", ")
                ),
                detail: lines.join("; "),
            });
        }
    }
    if waiting.is_empty() {
        let skipped = ctx.group.skipped.clone();
        return delete_old(ctx, g, step, old, new_name, &skipped).await;
    }
    let batch = started.len() as u32 + 1;
    if batch > 1 && ctx.journal.gate_decision(&GateId::batch(step.clone(), batch)).is_none() {
        return Ok(Progress::Gate { batch, of });
    }
    ctx.state(step, StepState::Running)?;
    if batch == 1 {
        // every old node first: evicted pods go to the copy, not to an old node
        // drained next
        for n in old_nodes.iter().filter(|n| !n.cordoned && !skip.contains(&n.name)) {
            cordon(ctx, client, step, &n.name).await?;
        }
    }
    let chosen: Vec<String> = waiting.iter().take(bs).map(|n| n.name.clone()).collect();
    let detail = format!(
        "draining {} into {new_name}; the old group is deleted once every batch is drained",
        chosen.join(", ")
    );
    start_batch(ctx, client, step, START_BATCH, &g.name, &chosen, (batch, of), detail).await
}

/// Every old node drained: the old group is deleted (EKS terminates its instances;
/// the nodes hold nothing to move any more, so no scale-down comes first). With
/// nodes the operator skipped, the old group stays.
async fn delete_old(
    ctx: &mut StepCtx<'_>,
    g: &NodegroupStep,
    step: &StepId,
    old: &NodegroupInfo,
    new_name: &str,
    skipped: &[String],
) -> Result<Progress, StepError> {
    let target = ctx.target.to_string();
    if !skipped.is_empty() {
        ctx.state(step, StepState::Done)?;
        return Ok(Progress::Done {
            what: format!(
                "node group {new_name} on {target} serves; {} kept on {} for its skipped node(s) {}: delete it once they are empty",
                g.name,
                old.version,
                skipped.join(", ")
            ),
        });
    }
    if ctx.journal.done(step, DELETE, &g.name) && !ctx.retry_requested(step, last_delete(ctx, step, &g.name)) {
        if !(old.status.ends_with("FAILED") || old.status == "DEGRADED") {
            // EKS took the deletion: its describe catches up
            return Ok(Progress::Waiting {
                what: format!("node group {} {}: deletion accepted", g.name, old.status),
                detail: format!("waiting for EKS to delete {}; {new_name} on {target} serves", g.name),
            });
        }
        ctx.state(step, StepState::Failed)?;
        return Err(StepError::Failed {
            why: format!(
                "node group {} is {} after upshift deleted it{}",
                g.name,
                old.status,
                issues(&old.health_issues)
            ),
            what_to_do: format!(
                "fix what EKS names, then retry the step to delete {} again; {new_name} serves meanwhile",
                g.name
            ),
        });
    }
    ctx.action(step, DELETE, &g.name)?;
    match ctx.cloud.delete_nodegroup(ctx.cluster, &g.name).await {
        Ok(n) => {
            ctx.result(step, DELETE, &g.name, true, n.status.clone())?;
            Ok(Progress::Waiting {
                what: format!("node group {} drained and being deleted", g.name),
                detail: format!("EKS terminates its instances; {new_name} on {target} serves in its place"),
            })
        }
        Err(e @ CloudError::NotFound { .. }) => {
            ctx.result(step, DELETE, &g.name, true, format!("already gone: {e}"))?;
            Ok(Progress::Waiting {
                what: format!("node group {} is gone", g.name),
                detail: String::new(),
            })
        }
        Err(e @ CloudError::InUse { .. }) => {
            ctx.result(step, DELETE, &g.name, false, e.to_string())?;
            Ok(Progress::Waiting {
                what: format!("node group {} busy; deleting it when it is free", g.name),
                detail: e.to_string(),
            })
        }
        Err(e) => {
            ctx.result(step, DELETE, &g.name, false, e.to_string())?;
            Err(StepError::Failed {
                why: format!("deleting the drained node group {}: {e}", g.name),
                what_to_do: format!(
                    "fix what AWS names (the identity needs eks:DeleteNodegroup, docs/iam.md), then retry the step; {new_name} serves meanwhile"
                ),
            })
        }
    }
}

fn last_delete(ctx: &StepCtx<'_>, step: &StepId, name: &str) -> Option<Timestamp> {
    ctx.journal.entries().iter().rev().find_map(|e| match &e.what {
        What::Result {
            step: s,
            action,
            target,
            ok: true,
            ..
        } if s == step && action == DELETE && target == name => Some(e.at),
        _ => None,
    })
}

async fn set_unschedulable(
    ctx: &mut StepCtx<'_>,
    client: &kube::Client,
    step: &StepId,
    node: &str,
    cordon: bool,
) -> Result<(), StepError> {
    let action = if cordon { CORDON } else { UNCORDON };
    ctx.action(step, action, node)?;
    let value = if cordon {
        serde_json::json!(true)
    } else {
        serde_json::Value::Null
    };
    let patch = serde_json::json!({"spec": {"unschedulable": value}});
    let result = Api::<Node>::all(client.clone())
        .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
        .await;
    match result {
        Ok(_) => ctx.result(step, action, node, true, String::new()),
        Err(kube::Error::Api(s)) if s.code == 404 => ctx.result(step, action, node, true, "node gone".into()),
        Err(e) => {
            ctx.result(step, action, node, false, e.to_string())?;
            Err(kube_failed(&format!("{action} node {node}"), e))
        }
    }
}

async fn cordon(ctx: &mut StepCtx<'_>, client: &kube::Client, step: &StepId, node: &str) -> Result<(), StepError> {
    set_unschedulable(ctx, client, step, node, true).await
}

pub(super) async fn uncordon(
    ctx: &mut StepCtx<'_>,
    client: &kube::Client,
    step: &StepId,
    node: &str,
) -> Result<(), StepError> {
    set_unschedulable(ctx, client, step, node, false).await
}
