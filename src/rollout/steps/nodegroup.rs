//! A managed node group step: EKS's UpdateNodegroupVersion to the target, once; EKS
//! surges, drains (honouring PodDisruptionBudgets) and replaces the nodes itself.
//! Self-managed groups (instance refresh, replace) are not done here yet.

use crate::cloud::{CloudError, UpdateScope};
use crate::rollout::plan::{GroupType, NodegroupStep, Strategy};

use super::{Progress, StepCtx, StepError, short, update_errors};

const ACTION: &str = "update-nodegroup-version";

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
    if let Some(u) = &latest
        && !u.succeeded()
        && u.param("Version").is_none_or(|v| v == target)
        && !ctx.retry_requested(&step, u.created)
    {
        ctx.state(&step, "failed")?;
        let blocked = u.errors.iter().any(|e| e.code == "PodEvictionFailure");
        return Err(StepError::Failed {
            why: format!(
                "the update {} of node group {name} to {target} ended {}: {}",
                u.id,
                u.status,
                update_errors(u)
            ),
            what_to_do: if blocked {
                "a PodDisruptionBudget refused evictions: let the pods it protects move (scale the workload up or relax the budget), then retry the step; forcing would break the budget".into()
            } else {
                "fix what EKS names, then retry the step".into()
            },
        });
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
    ctx.action(&step, ACTION, &target)?;
    match ctx
        .cloud
        .update_nodegroup_version(ctx.cluster, name, Some(&target), false)
        .await
    {
        Ok(u) => {
            ctx.result(&step, ACTION, &target, true, format!("update {} {}", u.id, u.status))?;
            Ok(Progress::Waiting {
                what: format!("node group {name} update {} started", short(&u.id)),
                detail: format!(
                    "EKS is replacing the {} nodes of {name} ({} → {target})",
                    ng.desired, ng.version
                ),
            })
        }
        Err(e @ CloudError::InUse { .. }) => {
            ctx.result(&step, ACTION, &target, false, e.to_string())?;
            Ok(Progress::Waiting {
                what: format!("node group {name} busy with another update"),
                detail: e.to_string(),
            })
        }
        Err(e) => {
            ctx.result(&step, ACTION, &target, false, e.to_string())?;
            Err(e.into())
        }
    }
}

fn health(issues: &[String]) -> String {
    if issues.is_empty() {
        String::new()
    } else {
        format!("; health issues: {}", issues.join("; "))
    }
}
