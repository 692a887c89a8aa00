//! A self-managed group's actions in doubt, read back from the Auto Scaling group:
//! an instance terminated or let out of the hook, a refresh started or cancelled,
//! the drain hook put or deleted, the autoscaler's tag off or back. Called by
//! [`crate::rollout::steps::doubt`] when a drive starts.

use jiff::Timestamp;

use super::autoscaler::{AUTOSCALER_TAG, PAUSE_AUTOSCALER, RESTORE_AUTOSCALER};
use super::drainer::{BATCH, COMPLETE, DELETE_HOOK, PUT_HOOK};
use super::{CANCEL_REFRESH, START_REFRESH, TERMINATE};
use crate::model::journal::{StepId, What};
use crate::rollout::steps::doubt::Found;
use crate::rollout::steps::{StepCtx, StepError};

/// What the Auto Scaling group shows of `action` on `target`, journaled at `at`;
/// None when the action is not one of a self-managed group's.
pub(in crate::rollout::steps) async fn resolve(
    ctx: &StepCtx<'_>,
    step: &StepId,
    action: &str,
    target: &str,
    at: Timestamp,
) -> Result<Option<Found>, StepError> {
    let found = match action {
        TERMINATE | COMPLETE => {
            let ids = [target.to_string()];
            let found = ctx.cloud.describe_asg_instances(&ids).await?;
            let state = found.first().map(|i| i.lifecycle_state.as_str());
            let waiting = state == Some("Terminating:Wait");
            match (action, state) {
                (_, None) => Found::done(format!("instance {target} is no longer in its Auto Scaling group")),
                (TERMINATE, Some(s)) if s.starts_with("Terminat") => Found::done(format!("instance {target} is {s}")),
                (COMPLETE, Some(s)) if !waiting => Found::done(format!("instance {target} left the hook ({s})")),
                (_, Some(s)) => Found::not(format!("instance {target} is still {s}")),
            }
        }
        START_REFRESH => {
            let refreshes = ctx.cloud.describe_instance_refreshes(target).await?;
            let ours = refreshes
                .iter()
                .find(|r| r.active() || r.start.is_some_and(|s| s >= at));
            match ours {
                // the detail is the refresh's id, as when the answer came back
                Some(r) => Found::done(r.id.clone()),
                None => Found::not(format!("Auto Scaling group {target} shows no refresh started since")),
            }
        }
        CANCEL_REFRESH => {
            let Some(asg) = refresh_group(ctx, step) else {
                return Ok(Some(Found::not(format!(
                    "no Auto Scaling group is journaled for refresh {target}"
                ))));
            };
            let refreshes = ctx.cloud.describe_instance_refreshes(&asg).await?;
            match refreshes.iter().find(|r| r.id == target) {
                Some(r) if matches!(r.status.as_str(), "Cancelling" | "Cancelled") => {
                    Found::done(format!("refresh {target} of {asg} is {}", r.status))
                }
                Some(r) => Found::not(format!("refresh {target} of {asg} is {}", r.status)),
                None => Found::done(format!("{asg} no longer lists refresh {target}")),
            }
        }
        PUT_HOOK | DELETE_HOOK => {
            let (asg, hook) = target.split_once('/').unwrap_or((target, ""));
            let there = ctx
                .cloud
                .describe_lifecycle_hooks(asg)
                .await?
                .iter()
                .any(|h| h.name == hook);
            match (action, there) {
                (PUT_HOOK, true) => Found::done(format!("hook {hook} is on {asg}")),
                (PUT_HOOK, false) => Found::not(format!("hook {hook} is not on {asg}")),
                (_, true) => Found::not(format!("hook {hook} is still on {asg}")),
                (_, false) => Found::done(format!("hook {hook} is gone from {asg}")),
            }
        }
        PAUSE_AUTOSCALER | RESTORE_AUTOSCALER => {
            let Some((asg, value)) = target
                .split_once(':')
                .and_then(|(asg, rest)| Some((asg, rest.strip_prefix(AUTOSCALER_TAG)?.strip_prefix('=')?)))
            else {
                return Ok(Some(Found::not(format!(
                    "`{target}` names no Auto Scaling group and tag"
                ))));
            };
            let names = [asg.to_string()];
            let groups = ctx.cloud.describe_groups(&names).await?;
            let tag = groups.first().and_then(|g| g.tags.get(AUTOSCALER_TAG));
            match (action, tag) {
                (PAUSE_AUTOSCALER, None) => Found::done(format!("tag {AUTOSCALER_TAG} is off {asg}")),
                (PAUSE_AUTOSCALER, Some(v)) => Found::not(format!("tag {AUTOSCALER_TAG}={v} is still on {asg}")),
                (_, Some(v)) if v == value => Found::done(format!("tag {AUTOSCALER_TAG}={v} is on {asg}")),
                (_, _) => Found::not(format!("tag {AUTOSCALER_TAG}={value} is not on {asg}")),
            }
        }
        BATCH => Found::done("a batch taken in is a record, nothing was sent".into()),
        _ => return Ok(None),
    };
    Ok(Some(found))
}

/// The Auto Scaling group `step` started its refreshes on.
fn refresh_group(ctx: &StepCtx<'_>, step: &StepId) -> Option<String> {
    ctx.journal.entries().iter().rev().find_map(|e| match &e.what {
        What::Action {
            step: s,
            action,
            target,
        } if s == step && action == START_REFRESH => Some(target.clone()),
        _ => None,
    })
}
