//! The cluster autoscaler's tag (`k8s.io/cluster-autoscaler/enabled`) comes off a
//! self-managed group before the step's first action, so that the autoscaler does not
//! fight the replacement, and goes back with the value it had when the step is done
//! or aborted. The value taken off is journaled in the action's target.

use super::super::{StepCtx, StepError};
use super::in_doubt;
use crate::cloud::GroupInfo;
use crate::model::journal::{StepId, What};

/// The tag the cluster autoscaler's auto-discovery looks for.
pub(super) const AUTOSCALER_TAG: &str = "k8s.io/cluster-autoscaler/enabled";

pub(super) const PAUSE_AUTOSCALER: &str = "untag-autoscaler";
pub(super) const RESTORE_AUTOSCALER: &str = "restore-autoscaler-tag";

/// The autoscaler tag's value this step took off `asg` and has not put back, and
/// whether taking it off is confirmed by a result.
fn paused_tag(ctx: &StepCtx<'_>, step: &StepId, asg: &str) -> Option<(String, bool)> {
    let prefix = format!("{asg}:{AUTOSCALER_TAG}=");
    let mut state: Option<(String, bool)> = None;
    for e in ctx.journal.entries() {
        match &e.what {
            What::Action {
                step: s,
                action,
                target,
            } if s == step && action == PAUSE_AUTOSCALER => {
                if let Some(v) = target.strip_prefix(&prefix) {
                    state = Some((v.to_string(), false));
                }
            }
            What::Result {
                step: s,
                action,
                target,
                ok,
                ..
            } if s == step && target.starts_with(&prefix) => {
                if action == PAUSE_AUTOSCALER {
                    if *ok {
                        if let Some(st) = state.as_mut() {
                            st.1 = true;
                        }
                    } else {
                        state = None;
                    }
                } else if action == RESTORE_AUTOSCALER && *ok {
                    state = None;
                }
            }
            _ => {}
        }
    }
    state
}

/// Takes the cluster autoscaler's tag off the group (its value journaled), unless
/// this step already did.
pub(super) async fn pause(ctx: &mut StepCtx<'_>, step: &StepId, asg: &GroupInfo) -> Result<(), StepError> {
    let value = match paused_tag(ctx, step, &asg.name) {
        Some((_, true)) => return Ok(()),
        Some((v, false)) => {
            if !asg.tags.contains_key(AUTOSCALER_TAG) {
                let target = format!("{}:{AUTOSCALER_TAG}={v}", asg.name);
                return ctx.result(step, PAUSE_AUTOSCALER, &target, true, "found removed".into());
            }
            v
        }
        None => match asg.tags.get(AUTOSCALER_TAG) {
            Some(v) => v.clone(),
            None => return Ok(()),
        },
    };
    let target = format!("{}:{AUTOSCALER_TAG}={value}", asg.name);
    ctx.action(step, PAUSE_AUTOSCALER, &target)?;
    match ctx.cloud.untag_group(&asg.name, &[AUTOSCALER_TAG.to_string()]).await {
        Ok(()) => ctx.result(
            step,
            PAUSE_AUTOSCALER,
            &target,
            true,
            format!("the cluster autoscaler leaves {} alone until the step ends", asg.name),
        ),
        Err(e) => {
            ctx.result(step, PAUSE_AUTOSCALER, &target, false, e.to_string())?;
            Err(StepError::Failed {
                why: format!(
                    "removing tag {AUTOSCALER_TAG} from Auto Scaling group {} (so that the cluster autoscaler does not fight the replacement): {e}",
                    asg.name
                ),
                what_to_do: "grant autoscaling:DeleteTags on the group, or scale the cluster autoscaler down for the step, then retry".into(),
            })
        }
    }
}

/// Puts the cluster autoscaler's tag back with the value it had, if this step took
/// it off. Returns what it did.
pub(super) async fn restore(
    ctx: &mut StepCtx<'_>,
    step: &StepId,
    asg: &GroupInfo,
) -> Result<Option<String>, StepError> {
    let Some((value, _)) = paused_tag(ctx, step, &asg.name) else {
        return Ok(None);
    };
    let target = format!("{}:{AUTOSCALER_TAG}={value}", asg.name);
    let line = format!(
        "put tag {AUTOSCALER_TAG}={value} back on Auto Scaling group {}",
        asg.name
    );
    if in_doubt(ctx, step, RESTORE_AUTOSCALER, &target) && asg.tags.get(AUTOSCALER_TAG) == Some(&value) {
        ctx.result(step, RESTORE_AUTOSCALER, &target, true, "found in place".into())?;
        return Ok(Some(line));
    }
    ctx.action(step, RESTORE_AUTOSCALER, &target)?;
    match ctx
        .cloud
        .tag_group(&asg.name, &[(AUTOSCALER_TAG.to_string(), value.clone())])
        .await
    {
        Ok(()) => {
            ctx.result(step, RESTORE_AUTOSCALER, &target, true, String::new())?;
            Ok(Some(line))
        }
        Err(e) => {
            ctx.result(step, RESTORE_AUTOSCALER, &target, false, e.to_string())?;
            Err(StepError::Failed {
                why: format!(
                    "putting tag {AUTOSCALER_TAG}={value} back on Auto Scaling group {}: {e}",
                    asg.name
                ),
                what_to_do: format!(
                    "tag {} with {AUTOSCALER_TAG}={value} by hand (the cluster autoscaler ignores the group until then), or retry",
                    asg.name
                ),
            })
        }
    }
}
