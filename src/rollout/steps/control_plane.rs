//! The control-plane step: EKS's UpdateClusterVersion to the plan's target, once.

use crate::cloud::{CloudError, UpdateScope};
use crate::model::journal::{Decision, StepId, StepState};

use super::{Progress, StepCtx, StepError, next_minor, short, update_errors};

const STEP: &StepId = &StepId::ControlPlane;
pub(super) const ACTION: &str = "update-cluster-version";

/// One call: Done when the control plane is ACTIVE on the target; follows an update
/// that is running (whoever started it); otherwise starts one, at most once per call.
pub async fn reconcile(ctx: &mut StepCtx<'_>) -> Result<Progress, StepError> {
    let target = ctx.target.to_string();
    let cluster = ctx.cloud.describe_cluster(ctx.cluster).await?;
    if cluster.version == target && cluster.status == "ACTIVE" {
        ctx.state(STEP, StepState::Done)?;
        return Ok(Progress::Done {
            what: format!("control plane on {target}"),
        });
    }
    let latest = ctx.latest_update(&UpdateScope::Cluster).await?;
    if let Some(u) = &latest
        && u.in_progress()
    {
        ctx.state(STEP, StepState::Running)?;
        return Ok(Progress::Waiting {
            what: format!(
                "control plane update {} InProgress {}",
                short(&u.id),
                ctx.running_for(u.created)
            )
            .trim_end()
            .to_string(),
            detail: format!(
                "EKS is updating {} from {} to {}; the cluster is {}",
                ctx.cluster,
                cluster.version,
                u.param("Version").unwrap_or("?"),
                cluster.status
            ),
        });
    }
    if cluster.version == target {
        // on the target, but not ACTIVE yet (the update just finished)
        return Ok(Progress::Waiting {
            what: format!("control plane on {target}, {}", cluster.status),
            detail: format!("waiting for {} to be ACTIVE", ctx.cluster),
        });
    }
    if let Some(u) = &latest
        && u.param("Version") == Some(target.as_str())
        && !u.succeeded()
        && !ctx.decided_after_failure(STEP, Decision::Retry)
    {
        ctx.state(STEP, StepState::Failed)?;
        return Err(StepError::Failed {
            why: format!(
                "the control plane update {} to {target} ended {}: {}",
                u.id,
                u.status,
                update_errors(u)
            ),
            what_to_do: "fix what EKS names, then retry the step (a journaled `retry` decision starts a new update)"
                .into(),
        });
    }
    if next_minor(&cluster.version).as_deref() != Some(target.as_str()) {
        ctx.state(STEP, StepState::Failed)?;
        return Err(StepError::Failed {
            why: format!(
                "the control plane of {} is on {}, and EKS upgrades one minor at a time: it cannot go to {target}",
                ctx.cluster, cluster.version
            ),
            what_to_do: "make a new plan from the cluster as it is now (`upshift plan`)".into(),
        });
    }
    if cluster.status != "ACTIVE" {
        return Ok(Progress::Waiting {
            what: format!("control plane {}", cluster.status),
            detail: format!("{} must be ACTIVE before its version can be updated", ctx.cluster),
        });
    }
    ctx.state(STEP, StepState::Running)?;
    ctx.action(STEP, ACTION, &target)?;
    match ctx.cloud.update_cluster_version(ctx.cluster, &target).await {
        Ok(u) => {
            ctx.result(STEP, ACTION, &target, true, format!("update {} {}", u.id, u.status))?;
            Ok(Progress::Waiting {
                what: format!("control plane update {} started", short(&u.id)),
                detail: format!("EKS is updating {} from {} to {target}", ctx.cluster, cluster.version),
            })
        }
        Err(e @ CloudError::InUse { .. }) => {
            // someone else's update got in first: follow it on the next call
            ctx.result(STEP, ACTION, &target, false, e.to_string())?;
            Ok(Progress::Waiting {
                what: "control plane busy with another update".into(),
                detail: e.to_string(),
            })
        }
        Err(e) => {
            ctx.result(STEP, ACTION, &target, false, e.to_string())?;
            Err(e.into())
        }
    }
}
