//! `blue-green` for a managed node group: upshift creates a copy of the group on the
//! target (same labels, taints, instance types, subnets, scaling, launch template,
//! capacity type, node role, AMI type, `updateConfig`, tags), named `<old>-<major>-<minor>`,
//! waits for it to be ACTIVE with its nodes Ready, cordons every node of the old group
//! (so that evicted pods land on the new nodes, not on an old node drained next),
//! drains the old nodes `batchSize` at a time with a gate between batches (the
//! self-managed drain, PodDisruptionBudgets honoured, the same operator choices),
//! then deletes the old group.
//!
//! Every call reads the two groups and their nodes first. The copy is created only
//! when EKS does not have it, the old group deleted only while EKS still lists it as
//! not deleting, a node cordoned only when it is not, a pod evicted only when it is
//! still there and not terminating: a new process after kill -9 repeats no action.
//! Which batches started, with which nodes, is read back from the journal.
//!
//! `copy` names and makes the copy, `observe` reads the groups and nodes, `batches`
//! drains and deletes the old group; the step's turn and its abort are here.

mod batches;
mod copy;
mod observe;

use std::collections::BTreeSet;

use jiff::Timestamp;

use super::drain::CORDON;
use super::{Progress, StepCtx, StepError};
use crate::cloud::{CloudError, NodegroupInfo};
use crate::model::journal::{StepId, StepState, What};
use crate::rollout::plan::NodegroupStep;
use batches::{drain_old, uncordon};
use observe::{GroupNode, describe, nodes_of, pinned_pods, shortlist};

pub use copy::{MAX_NAME, REPLACES_TAG, copy_name, copy_of};

/// The journal's action words for what this strategy does besides draining.
pub const CREATE: &str = "create-nodegroup";
pub const DELETE: &str = "delete-nodegroup";
pub(super) const START_BATCH: &str = "start-batch";
const UNCORDON: &str = "uncordon";
/// The label EKS puts on a managed node group's nodes.
const GROUP_LABEL: &str = "eks.amazonaws.com/nodegroup";

fn writer(ctx: &StepCtx<'_>, g: &NodegroupStep) -> Result<kube::Client, StepError> {
    ctx.client.clone().ok_or_else(|| StepError::Failed {
        why: format!(
            "node group {} is planned blue-green: upshift drains its nodes itself, and was given no Kubernetes client that may write",
            g.name
        ),
        what_to_do: "drive the rollout from the lead's cockpit, with a kubeconfig context allowed to patch nodes and evict and delete pods".into(),
    })
}

/// One call of a `blue-green` step.
pub async fn reconcile(ctx: &mut StepCtx<'_>, g: &NodegroupStep) -> Result<Progress, StepError> {
    let step = StepId::Nodegroup(g.name.clone());
    let client = writer(ctx, g)?;
    ctx.group.auto_continue = g.auto_continue;
    let target = ctx.target.to_string();
    let name = copy_name(&g.name, &target);
    if name == g.name {
        return Err(StepError::Failed {
            why: format!(
                "node group {} already has the name a copy on {target} would take",
                g.name
            ),
            what_to_do: format!("plan node group {} with strategy eks-update", g.name),
        });
    }
    let old = describe(ctx, &g.name).await?;
    let new = describe(ctx, &name).await?;
    let old_nodes = nodes_of(&client, &g.name).await?;
    let new_nodes = nodes_of(&client, &name).await?;
    let on_target = |n: &GroupNode| n.minor.as_deref() == Some(target.as_str());
    ctx.group.old = old_nodes.iter().filter(|n| !on_target(n)).count() as u32;
    ctx.group.new = new_nodes.iter().filter(|n| on_target(n)).count() as u32;
    ctx.group.draining.clear();
    ctx.group.holding = None;

    let Some(old) = old else {
        return match new {
            Some(n) if n.status == "ACTIVE" && n.version == target => {
                ctx.state(&step, StepState::Done)?;
                Ok(Progress::Done {
                    what: format!(
                        "node group {} replaced by {name} on {target}: {} node{}",
                        g.name,
                        n.desired,
                        if n.desired == 1 { "" } else { "s" }
                    ),
                })
            }
            Some(n) => Ok(Progress::Waiting {
                what: format!("node group {name} {} on {}", n.status, n.version),
                detail: format!("{} is deleted; waiting for {name} to be ACTIVE on {target}", g.name),
            }),
            None => Err(StepError::Failed {
                why: format!("EKS has neither node group {} nor its copy {name}", g.name),
                what_to_do: format!(
                    "check the cluster's node groups (aws eks list-nodegroups --cluster-name {}); remove the step if the group is gone for good",
                    ctx.cluster
                ),
            }),
        };
    };
    if old.status == "DELETING" {
        ctx.state(&step, StepState::Running)?;
        return Ok(Progress::Waiting {
            what: format!("node group {} DELETING ({} nodes left)", g.name, old_nodes.len()),
            detail: format!(
                "EKS terminates the drained nodes of {}; {name} on {target} serves in its place",
                g.name
            ),
        });
    }
    let Some(new) = new else {
        if old.version == target {
            ctx.state(&step, StepState::Done)?;
            return Ok(Progress::Done {
                what: format!("node group {} on {target}", g.name),
            });
        }
        let pinned = pinned_pods(&client, &old_nodes, &g.name).await?;
        if !pinned.is_empty() {
            ctx.state(&step, StepState::Failed)?;
            return Err(StepError::Failed {
                why: format!(
                    "{} pod(s) on node group {} select its nodes by {GROUP_LABEL}={0}, so they could not move to the copy {name}: {}",
                    pinned.len(),
                    g.name,
                    shortlist(&pinned)
                ),
                what_to_do: format!(
                    "select those nodes by a label the group sets itself (its labels are copied), or plan {} with strategy eks-update; then retry the step",
                    g.name
                ),
            });
        }
        return create(ctx, g, &step, &old, &name).await;
    };
    if new.version != target {
        return Err(StepError::Failed {
            why: format!(
                "node group {name} exists on {}, not {target}: it is not a copy upshift made for this step",
                new.version
            ),
            what_to_do: format!("delete or rename node group {name}, then retry the step"),
        });
    }
    match new.status.as_str() {
        "ACTIVE" => {}
        "CREATE_FAILED" | "DELETE_FAILED" | "DEGRADED" => {
            ctx.state(&step, StepState::Failed)?;
            return Err(StepError::Failed {
                why: format!(
                    "the copy {name} of node group {} is {}{}",
                    g.name,
                    new.status,
                    issues(&new.health_issues)
                ),
                what_to_do: format!(
                    "fix what EKS names, delete {name} (aws eks delete-nodegroup --cluster-name {} --nodegroup-name {name}), then retry the step; the old group is untouched",
                    ctx.cluster
                ),
            });
        }
        other => {
            ctx.state(&step, StepState::Running)?;
            return Ok(Progress::Waiting {
                what: format!("node group {name} {other} on {target}"),
                detail: format!(
                    "EKS is making {name}, a copy of {} with {} node(s){}",
                    g.name,
                    new.desired,
                    issues(&new.health_issues)
                ),
            });
        }
    }
    let ready = new_nodes.iter().filter(|n| n.ready && on_target(n)).count();
    let want = new.desired.max(0) as usize;
    if ready < want {
        ctx.state(&step, StepState::Running)?;
        return Ok(Progress::Waiting {
            what: format!("node group {name}: {ready} of {want} nodes Ready on {target}"),
            detail: format!("the old nodes of {} are drained once the copy's are Ready", g.name),
        });
    }
    drain_old(ctx, g, &step, &client, &old, &old_nodes, &name).await
}

/// Creates the copy, once (the caller saw EKS without it).
async fn create(
    ctx: &mut StepCtx<'_>,
    g: &NodegroupStep,
    step: &StepId,
    old: &NodegroupInfo,
    name: &str,
) -> Result<Progress, StepError> {
    let target = ctx.target.to_string();
    if let Some(at) = created_at(ctx, step, name)
        && !ctx.retry_requested(step, Some(at))
    {
        ctx.state(step, StepState::Failed)?;
        return Err(StepError::Failed {
            why: format!("node group {name}, created by this step, is gone"),
            what_to_do: format!(
                "find out who deleted it; retry the step to create {name} again (the old group {} still serves)",
                g.name
            ),
        });
    }
    let cluster = ctx.cloud.describe_cluster(ctx.cluster).await?;
    if cluster.version != target {
        return Err(StepError::Failed {
            why: format!(
                "node group {} cannot be copied to {target} while the control plane is on {}",
                g.name, cluster.version
            ),
            what_to_do: "upgrade the control plane first (its step comes before the node groups)".into(),
        });
    }
    let copy = copy_of(old, name, &target, g.ami_type.as_deref()).map_err(|why| StepError::Failed {
        why,
        what_to_do: format!(
            "make a launch template version with an AMI for {target}, then upgrade {} with strategy eks-update",
            old.name
        ),
    })?;
    ctx.state(step, StepState::Running)?;
    ctx.action(step, CREATE, name)?;
    match ctx.cloud.create_nodegroup(ctx.cluster, &copy).await {
        Ok(n) => {
            ctx.result(
                step,
                CREATE,
                name,
                true,
                format!("{} on {}, {} nodes", n.status, n.version, copy.desired),
            )?;
            Ok(Progress::Waiting {
                what: format!("node group {name} created on {target}, a copy of {}", g.name),
                detail: format!(
                    "EKS makes {} node(s) of {}; the old nodes of {} are drained once they are Ready",
                    copy.desired,
                    copy.instance_types.join(", "),
                    g.name
                ),
            })
        }
        Err(e @ CloudError::InUse { .. }) => {
            // made meanwhile: the next call sees it
            ctx.result(step, CREATE, name, false, e.to_string())?;
            Ok(Progress::Waiting {
                what: format!("node group {name} exists already"),
                detail: e.to_string(),
            })
        }
        Err(e) => {
            ctx.result(step, CREATE, name, false, e.to_string())?;
            ctx.state(step, StepState::Failed)?;
            Err(StepError::Failed {
                why: format!("creating node group {name}, a copy of {} on {target}: {e}", g.name),
                what_to_do: "fix what AWS names (the identity needs eks:CreateNodegroup and iam:PassRole on the node role, docs/iam.md), then retry the step".into(),
            })
        }
    }
}

/// When this step created `name` (its result, journaled ok), if it did.
fn created_at(ctx: &StepCtx<'_>, step: &StepId, name: &str) -> Option<Timestamp> {
    ctx.journal.entries().iter().rev().find_map(|e| match &e.what {
        What::Result {
            step: s,
            action,
            target,
            ok: true,
            ..
        } if s == step && action == CREATE && target == name => Some(e.at),
        _ => None,
    })
}

fn issues(list: &[String]) -> String {
    if list.is_empty() {
        String::new()
    } else {
        format!(": {}", list.join("; "))
    }
}

/// What an abort undoes: the old group's nodes this step cordoned serve again. The
/// copy stays (a resumed drive goes on with it), and a deletion already sent goes on.
pub async fn abort(ctx: &mut StepCtx<'_>, g: &NodegroupStep) -> Result<Vec<String>, StepError> {
    let step = StepId::Nodegroup(g.name.clone());
    let client = writer(ctx, g)?;
    let name = copy_name(&g.name, ctx.target);
    let mut lines = Vec::new();
    let cordoned_here: BTreeSet<String> = ctx
        .journal
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            What::Result {
                step: s,
                action,
                target,
                ok: true,
                ..
            } if s == &step && action == CORDON => Some(target.clone()),
            _ => None,
        })
        .collect();
    if ctx.journal.done(&step, DELETE, &g.name) {
        lines.push(format!(
            "node group {} is being deleted by EKS: that cannot be undone; {name} serves in its place",
            g.name
        ));
    } else {
        for n in nodes_of(&client, &g.name).await? {
            if n.cordoned && cordoned_here.contains(&n.name) {
                uncordon(ctx, &client, &step, &n.name).await?;
                lines.push(format!("uncordoned node {}", n.name));
            }
        }
    }
    if describe(ctx, &name).await?.is_some() {
        lines.push(format!(
            "node group {name} (the copy on {}) stays: drive again to go on with it, or delete it with aws eks delete-nodegroup",
            ctx.target
        ));
    }
    Ok(lines)
}
