//! A managed node group step: EKS's UpdateNodegroupVersion to the target, once; EKS
//! surges, drains (honouring PodDisruptionBudgets) and replaces the nodes itself.
//! When budgets made the update fail, the operator may force it (a journaled
//! `force` decision): it is started again once, past the budgets. Self-managed
//! groups are in `selfmanaged`.

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};

use crate::cloud::{CloudError, UpdateScope};
use crate::model::minor_of;
use crate::rollout::plan::{GroupType, NodegroupStep, Strategy};

use super::{Progress, StepCtx, StepError, short, update_errors};

const ACTION: &str = "update-nodegroup-version";
const FORCED: &str = "force-update-nodegroup-version";
/// The label EKS puts on a managed node group's nodes.
const GROUP_LABEL: &str = "eks.amazonaws.com/nodegroup";

/// One call: Done when the group is ACTIVE on the target; follows a running update;
/// otherwise starts one (never forced: a blocking budget fails the update, and the
/// operator decides), at most once per call.
pub async fn reconcile(ctx: &mut StepCtx<'_>, g: &NodegroupStep) -> Result<Progress, StepError> {
    let step = format!("nodegroup/{}", g.name);
    if g.group_type != GroupType::Managed || g.strategy != Strategy::EksUpdate {
        return Err(StepError::Unsupported {
            step,
            why: format!(
                "{} groups with strategy {} are not driven yet; only managed groups with eks-update are",
                g.group_type.as_str(),
                g.strategy.as_str()
            ),
        });
    }
    let name = g.name.as_str();
    let target = ctx.target.to_string();
    fill_progress(ctx, g).await;
    let ng = ctx.cloud.describe_nodegroup(ctx.cluster, name).await?;
    if ng.version == target && ng.status == "ACTIVE" {
        ctx.state(&step, "done")?;
        return Ok(Progress::Done {
            what: format!("node group {name} on {target}"),
        });
    }
    let scope = UpdateScope::Nodegroup(name.to_string());
    let latest = ctx.latest_update(&scope).await?;
    if let Some(u) = &latest
        && u.in_progress()
    {
        ctx.state(&step, "running")?;
        return Ok(Progress::Waiting {
            what: format!(
                "node group {name} update {} InProgress {}",
                short(&u.id),
                ctx.running_for(u.created)
            )
            .trim_end()
            .to_string(),
            detail: format!(
                "EKS is replacing the nodes of {name} ({} → {}); the group is {} with {} desired{}",
                ng.version,
                u.param("Version").unwrap_or(&target),
                ng.status,
                ng.desired,
                health(&ng.health_issues)
            ),
        });
    }
    if ng.version == target || (ng.status != "ACTIVE" && ng.status != "DEGRADED") {
        return Ok(Progress::Waiting {
            what: format!("node group {name} {} on {}", ng.status, ng.version),
            detail: format!(
                "waiting for {name} to be ACTIVE on {target}{}",
                health(&ng.health_issues)
            ),
        });
    }
    let mut force = false;
    if let Some(u) = &latest
        && !u.succeeded()
        && u.param("Version").is_none_or(|v| v == target)
        && !ctx.retry_requested(&step, u.created)
    {
        let blocked = u.errors.iter().any(|e| e.code == "PodEvictionFailure");
        force = blocked && ctx.decided(&step, "force", u.created);
        if !force {
            ctx.state(&step, "failed")?;
            let why = format!(
                "the update {} of node group {name} to {target} ended {}: {}",
                u.id,
                u.status,
                update_errors(u)
            );
            return Err(if blocked {
                StepError::EvictionRefused {
                    why,
                    what_to_do: format!(
                        "a PodDisruptionBudget refused evictions from the nodes of {name}: let the pods it protects move (scale the workload up or relax the budget), then retry the step; or force the update (type {name} to confirm), which deletes the pods the budget protects"
                    ),
                }
            } else {
                StepError::Failed {
                    why,
                    what_to_do: "fix what EKS names, then retry the step".into(),
                }
            });
        }
    }
    let cluster = ctx.cloud.describe_cluster(ctx.cluster).await?;
    if cluster.version != target {
        return Err(StepError::Failed {
            why: format!(
                "node group {name} cannot go to {target} while the control plane is on {}",
                cluster.version
            ),
            what_to_do: "upgrade the control plane first (its step comes before the node groups)".into(),
        });
    }
    ctx.state(&step, "running")?;
    let action = if force { FORCED } else { ACTION };
    ctx.action(&step, action, &target)?;
    match ctx
        .cloud
        .update_nodegroup_version(ctx.cluster, name, Some(&target), force)
        .await
    {
        Ok(u) => {
            ctx.result(&step, action, &target, true, format!("update {} {}", u.id, u.status))?;
            Ok(Progress::Waiting {
                what: format!(
                    "node group {name} update {} started{}",
                    short(&u.id),
                    if force { ", forced past its budgets" } else { "" }
                ),
                detail: format!(
                    "EKS is replacing the {} nodes of {name} ({} → {target})",
                    ng.desired, ng.version
                ),
            })
        }
        Err(e @ CloudError::InUse { .. }) => {
            ctx.result(&step, action, &target, false, e.to_string())?;
            Ok(Progress::Waiting {
                what: format!("node group {name} busy with another update"),
                detail: e.to_string(),
            })
        }
        Err(e) => {
            ctx.result(&step, action, &target, false, e.to_string())?;
            Err(e.into())
        }
    }
}

/// What an abort can do about a managed group: nothing; a running EKS update
/// cannot be cancelled, and the lead is told so.
pub async fn abort(ctx: &mut StepCtx<'_>, g: &NodegroupStep) -> Result<Vec<String>, StepError> {
    let scope = UpdateScope::Nodegroup(g.name.clone());
    let line = match ctx.latest_update(&scope).await? {
        Some(u) if u.in_progress() => format!(
            "the EKS update {} of node group {} cannot be cancelled: it keeps running, and EKS goes on replacing the group's nodes",
            u.id, g.name
        ),
        _ => format!("node group {}: nothing to undo (EKS runs no update of it)", g.name),
    };
    Ok(vec![line])
}

/// Counts the group's nodes per minor for the drive (when there is a client; the
/// count is for showing, so a failed list leaves it as it was).
async fn fill_progress(ctx: &mut StepCtx<'_>, g: &NodegroupStep) {
    ctx.group.auto_continue = g.auto_continue;
    let Some(client) = ctx.client.clone() else { return };
    let lp = ListParams::default().labels(&format!("{GROUP_LABEL}={}", g.name));
    let Ok(nodes) = Api::<Node>::all(client).list(&lp).await else {
        return;
    };
    let (mut old, mut new) = (0, 0);
    for n in &nodes.items {
        let kubelet = n
            .status
            .as_ref()
            .and_then(|s| s.node_info.as_ref())
            .map(|i| i.kubelet_version.as_str())
            .unwrap_or_default();
        if minor_of(kubelet).as_deref() == Some(ctx.target) {
            new += 1;
        } else {
            old += 1;
        }
    }
    ctx.group.old = old;
    ctx.group.new = new;
}

fn health(issues: &[String]) -> String {
    if issues.is_empty() {
        String::new()
    } else {
        format!("; health issues: {}", issues.join("; "))
    }
}
