//! An add-on step: EKS's UpdateAddon to the plan's version (or, when the plan gives
//! none, EKS's default for the target), once.

use crate::cloud::{CloudError, UpdateScope};
use crate::model::journal::{Decision, StepId, StepState};

use super::{Progress, StepCtx, StepError, short, update_errors};

pub(super) const ACTION: &str = "update-addon";

/// One call: Done when the add-on is ACTIVE at the version; follows a running update;
/// otherwise starts one, at most once per call.
pub async fn reconcile(ctx: &mut StepCtx<'_>, name: &str, version: &str) -> Result<Progress, StepError> {
    let step = StepId::Addon(name.to_string());
    let want = if version.is_empty() || version == "default" {
        let offered = ctx.cloud.addon_versions(name, ctx.target).await?;
        match offered.default {
            Some(v) => v,
            None => {
                return Err(StepError::Failed {
                    why: format!("EKS names no default version of {name} for {}", ctx.target),
                    what_to_do: "write the version to install into the plan's step".into(),
                });
            }
        }
    } else {
        version.to_string()
    };
    let addon = ctx.cloud.describe_addon(ctx.cluster, name).await?;
    if addon.version == want && addon.status == "ACTIVE" {
        ctx.state(&step, StepState::Done)?;
        return Ok(Progress::Done {
            what: format!("{name} at {want}"),
        });
    }
    let scope = UpdateScope::Addon(name.to_string());
    let latest = ctx.latest_update(&scope).await?;
    if let Some(u) = &latest
        && u.in_progress()
    {
        ctx.state(&step, StepState::Running)?;
        return Ok(Progress::Waiting {
            what: format!(
                "add-on {name} update {} InProgress {}",
                short(&u.id),
                ctx.running_for(u.created)
            )
            .trim_end()
            .to_string(),
            detail: format!(
                "EKS is updating {name} from {} to {}; the add-on is {}",
                addon.version,
                u.param("AddonVersion").or(u.param("Version")).unwrap_or("?"),
                addon.status
            ),
        });
    }
    if addon.version == want || addon.status == "UPDATING" || addon.status == "CREATING" {
        return Ok(Progress::Waiting {
            what: format!("add-on {name} {} at {}", addon.status, addon.version),
            detail: format!("waiting for {name} to be ACTIVE at {want}"),
        });
    }
    if let Some(u) = &latest
        && !u.succeeded()
        && u.param("AddonVersion").or(u.param("Version")) == Some(want.as_str())
        && !ctx.decided_after_failure(&step, Decision::Retry)
    {
        ctx.state(&step, StepState::Failed)?;
        return Err(StepError::Failed {
            why: format!(
                "the update {} of {name} to {want} ended {}: {}",
                u.id,
                u.status,
                update_errors(u)
            ),
            what_to_do: format!(
                "fix what EKS names (for conflicts: the fields changed by hand on {name}), then retry the step"
            ),
        });
    }
    ctx.state(&step, StepState::Running)?;
    ctx.action(&step, ACTION, &want)?;
    // no conflict resolution: fields changed by hand make the update fail, not vanish
    match ctx.cloud.update_addon(ctx.cluster, name, &want, None).await {
        Ok(u) => {
            ctx.result(&step, ACTION, &want, true, format!("update {} {}", u.id, u.status))?;
            Ok(Progress::Waiting {
                what: format!("add-on {name} update {} started", short(&u.id)),
                detail: format!("EKS is updating {name} from {} to {want}", addon.version),
            })
        }
        Err(e @ CloudError::InUse { .. }) => {
            ctx.result(&step, ACTION, &want, false, e.to_string())?;
            Ok(Progress::Waiting {
                what: format!("add-on {name} busy with another update"),
                detail: e.to_string(),
            })
        }
        Err(e) => {
            ctx.result(&step, ACTION, &want, false, e.to_string())?;
            Err(e.into())
        }
    }
}
