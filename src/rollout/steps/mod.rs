//! The rollout's steps as idempotent reconcile-until-done functions: each call
//! reads the real state first (is the control plane already on the target? is an
//! update already running, perhaps started by a run that was killed?), then takes at
//! most one action, journaled before it is sent and after it returns, and says where
//! the step stands. The drive calls [`reconcile`] again and again (it polls; no step
//! sleeps) until it returns [`Progress::Done`] or an error.
//!
//! Whatever the journal says, real state decides: an action in doubt after a crash
//! is not repeated when the cloud shows it happened (an update InProgress or
//! finished), and an action recorded as done is not taken again while its effect is
//! visible.

mod addon;
mod control_plane;
pub mod drain;
mod nodegroup;

use jiff::Timestamp;

use crate::cloud::{Cloud, CloudError, UpdateInfo, UpdateScope};
use crate::rollout::journal::{Journal, JournalError, What};
use crate::rollout::plan::Step;

pub use addon::reconcile as reconcile_addon;
pub use control_plane::reconcile as reconcile_control_plane;
pub use drain::{DrainCtx, drain_node};
pub use nodegroup::reconcile as reconcile_nodegroup;

/// The journal's `who` for what upshift does on its own (the operator's identity
/// goes on decisions; actions carry it too when the drive passes it as `who`).
pub const UPSHIFT: &str = "upshift";

/// What a step needs: the cloud, the cluster, the target, the journal, who acts, and
/// the time (the simulator's virtual clock in tests and the demo).
pub struct StepCtx<'a> {
    pub cloud: &'a dyn Cloud,
    /// The EKS cluster's name.
    pub cluster: &'a str,
    /// The plan's target minor, e.g. `1.31`.
    pub target: &'a str,
    pub journal: &'a mut Journal,
    /// Written as the journal's `who` on actions and results (`user@host`).
    pub who: &'a str,
    pub now: &'a (dyn Fn() -> Timestamp + Send + Sync),
}

/// Journals an action (before it is sent): shared by every step's context.
fn journal_action(
    journal: &mut Journal,
    who: &str,
    at: Timestamp,
    step: &str,
    action: &str,
    target: &str,
) -> Result<(), StepError> {
    journal.append(
        who,
        at,
        What::Action {
            step: step.into(),
            action: action.into(),
            target: target.into(),
        },
    )?;
    Ok(())
}

/// Journals how an action ended: shared by every step's context.
#[allow(clippy::too_many_arguments)]
fn journal_result(
    journal: &mut Journal,
    who: &str,
    at: Timestamp,
    step: &str,
    action: &str,
    target: &str,
    ok: bool,
    detail: String,
) -> Result<(), StepError> {
    journal.append(
        who,
        at,
        What::Result {
            step: step.into(),
            action: action.into(),
            target: target.into(),
            ok,
            detail,
        },
    )?;
    Ok(())
}

impl StepCtx<'_> {
    /// Journals an action (before it is sent).
    fn action(&mut self, step: &str, action: &str, target: &str) -> Result<(), StepError> {
        journal_action(self.journal, self.who, (self.now)(), step, action, target)
    }

    /// Journals how an action ended.
    fn result(&mut self, step: &str, action: &str, target: &str, ok: bool, detail: String) -> Result<(), StepError> {
        journal_result(self.journal, self.who, (self.now)(), step, action, target, ok, detail)
    }

    /// Records the step's state when it changed since the journal last said.
    fn state(&mut self, step: &str, state: &str) -> Result<(), StepError> {
        let last = self
            .journal
            .step_states()
            .into_iter()
            .find(|(s, _)| s == step)
            .map(|(_, st)| st);
        if last.as_deref() != Some(state) {
            let at = (self.now)();
            self.journal.append(
                self.who,
                at,
                What::Step {
                    step: step.into(),
                    state: state.into(),
                },
            )?;
        }
        Ok(())
    }

    /// Whether the operator asked to retry `step` after `since` (a journaled
    /// decision `retry`): a failed update is then started again.
    fn retry_requested(&self, step: &str, since: Option<Timestamp>) -> bool {
        self.journal.entries().iter().any(|e| {
            matches!(&e.what, What::Decision { step: Some(s), decision, .. }
                if s == step && decision == "retry")
                && since.is_none_or(|t| e.at >= t)
        })
    }

    /// The newest update of `scope`, if any.
    async fn latest_update(&self, scope: &UpdateScope) -> Result<Option<UpdateInfo>, StepError> {
        let ids = self.cloud.list_updates(self.cluster, scope).await?;
        match ids.last() {
            Some(id) => Ok(Some(self.cloud.describe_update(self.cluster, id, scope).await?)),
            None => Ok(None),
        }
    }

    /// "for 6m" since `t` by the ctx's clock.
    fn running_for(&self, t: Option<Timestamp>) -> String {
        match t {
            Some(t) => {
                let secs = (self.now)().as_second().saturating_sub(t.as_second()).max(0);
                if secs < 60 {
                    format!("for {secs}s")
                } else {
                    format!("for {}m", secs / 60)
                }
            }
            None => String::new(),
        }
    }
}

/// Where a step stands after one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Not there yet: call again later. `what` is one line for the cockpit
    /// ("control plane update 7f3c… InProgress for 6m"), `detail` says more.
    Waiting { what: String, detail: String },
    /// The real state is what the step wants.
    Done { what: String },
}

impl Progress {
    pub fn is_done(&self) -> bool {
        matches!(self, Progress::Done { .. })
    }
}

/// Why a step cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The step failed in the cloud or cannot be done as planned: the operator decides.
    #[error("{why}. {what_to_do}")]
    Failed { why: String, what_to_do: String },
    /// This build cannot execute the step (yet).
    #[error("step {step}: {why}")]
    Unsupported { step: String, why: String },
    /// A cloud call failed; transient ones ([`CloudError::is_transient`]) may be retried by calling again.
    #[error(transparent)]
    Cloud(#[from] CloudError),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// The step's id in the journal: `control-plane`, `addon/coredns`, `nodegroup/apps`.
pub fn step_id(step: &Step) -> String {
    match step {
        Step::Addon { name, .. } => format!("addon/{name}"),
        Step::Nodegroup(g) => format!("nodegroup/{}", g.name),
        other => other.kind().as_str().to_string(),
    }
}

/// One reconcile call for any step that acts on the cloud (control plane, add-on,
/// managed node group). Preflight and postflight are read-only research the drive
/// runs itself: they are [`StepError::Unsupported`] here.
pub async fn reconcile(ctx: &mut StepCtx<'_>, step: &Step) -> Result<Progress, StepError> {
    match step {
        Step::ControlPlane => control_plane::reconcile(ctx).await,
        Step::Addon { name, version } => addon::reconcile(ctx, name, version).await,
        Step::Nodegroup(g) => nodegroup::reconcile(ctx, g).await,
        Step::Preflight | Step::Postflight => Err(StepError::Unsupported {
            step: step_id(step),
            why: "preflight and postflight are read-only research the drive runs, not cloud steps".into(),
        }),
    }
}

/// A short form of an update id for one-line summaries: `7f3c1a2b…`.
fn short(id: &str) -> String {
    if id.len() > 8 {
        format!("{}…", &id[..8])
    } else {
        id.to_string()
    }
}

/// "PodEvictionFailure: message (ids)" for each error of a failed update.
fn update_errors(u: &UpdateInfo) -> String {
    if u.errors.is_empty() {
        return "EKS gave no error details".into();
    }
    u.errors
        .iter()
        .map(|e| {
            if e.resource_ids.is_empty() {
                format!("{}: {}", e.code, e.message)
            } else {
                format!("{}: {} ({})", e.code, e.message, e.resource_ids.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The minor after `v` ("1.30" -> "1.31").
fn next_minor(v: &str) -> Option<String> {
    let (major, minor) = v.split_once('.')?;
    let minor: u32 = minor.parse().ok()?;
    Some(format!("{major}.{}", minor + 1))
}
