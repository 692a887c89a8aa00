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
//!
//! The operator's choices reach the steps as journaled decisions: `retry` and
//! `force` for a failed step, `keep-waiting`, `skip-node` and `delete-pod` for a
//! held drain, and `proceed`/`override`/`auto-proceed` at the gate between two
//! batches ([`GateId::batch`](crate::model::journal::GateId::batch)).

mod addon;
pub mod bluegreen;
mod control_plane;
pub mod doubt;
pub mod drain;
mod eviction_blockers;
pub mod fargate;
mod nodegroup;
pub mod nodepool;
pub mod postflight;
pub mod preflight;
mod selfmanaged;

use jiff::Timestamp;

use crate::cloud::{Cloud, CloudError, UpdateInfo, UpdateScope};
use crate::model::journal::{Decision, StepId, StepState, What};
use crate::model::rollout::GroupProgress;
use crate::rollout::journal::{Journal, JournalError};
use crate::rollout::plan::{Drain, GroupType, NodegroupStep, Step, Strategy};

pub use addon::reconcile as reconcile_addon;
pub use control_plane::reconcile as reconcile_control_plane;
pub use drain::{DrainCtx, drain_node};
pub use nodegroup::reconcile as reconcile_nodegroup;
pub use selfmanaged::{HOOK_DEFAULT_RESULT, HOOK_HEARTBEAT_TIMEOUT, HOOK_NAME};

/// The journal's `who` for what upshift does on its own (the operator's identity
/// goes on decisions; actions carry it too when the drive passes it as `who`).
pub const UPSHIFT: &str = "upshift";

/// What a step needs: the cloud, the cluster, the target, the journal, who acts, and
/// the time (the simulator's virtual clock in tests and the demo).
pub struct StepCtx<'a> {
    pub cloud: &'a dyn Cloud,
    /// A Kubernetes client that may write (cordon, evict, delete pods): needed by
    /// self-managed node groups, which upshift drains itself.
    pub client: Option<kube::Client>,
    /// The EKS cluster's name.
    pub cluster: &'a str,
    /// The plan's target minor, e.g. `1.31`.
    pub target: &'a str,
    /// The plan's drain options.
    pub drain: Drain,
    pub journal: &'a mut Journal,
    /// Written as the journal's `who` on actions and results (`user@host`).
    pub who: &'a str,
    pub now: &'a (dyn Fn() -> Timestamp + Send + Sync),
    /// Filled by node group steps on every call: where the group stands, for the
    /// drive to show.
    pub group: GroupProgress,
}

/// Journals an action (before it is sent): shared by every step's context.
fn journal_action(
    journal: &mut Journal,
    who: &str,
    at: Timestamp,
    step: &StepId,
    action: &str,
    target: &str,
) -> Result<(), StepError> {
    journal.append(
        who,
        at,
        What::Action {
            step: step.clone(),
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
    step: &StepId,
    action: &str,
    target: &str,
    ok: bool,
    detail: String,
) -> Result<(), StepError> {
    journal.append(
        who,
        at,
        What::Result {
            step: step.clone(),
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
    fn action(&mut self, step: &StepId, action: &str, target: &str) -> Result<(), StepError> {
        journal_action(self.journal, self.who, (self.now)(), step, action, target)
    }

    /// Journals how an action ended.
    fn result(&mut self, step: &StepId, action: &str, target: &str, ok: bool, detail: String) -> Result<(), StepError> {
        journal_result(self.journal, self.who, (self.now)(), step, action, target, ok, detail)
    }

    /// Records the step's state when it changed since the journal last said.
    fn state(&mut self, step: &StepId, state: StepState) -> Result<(), StepError> {
        let at = (self.now)();
        self.journal.set_step_state(self.who, at, step, state)?;
        Ok(())
    }

    /// Whether the operator asked to retry `step` after `since` (a journaled
    /// decision `retry`): a failed update is then started again.
    fn retry_requested(&self, step: &StepId, since: Option<Timestamp>) -> bool {
        self.decided(step, Decision::Retry, since)
    }

    /// Whether the operator decided `decision` about `step` after its failure was
    /// journaled (by the journal's sequence: see [`Journal::decided_after_failure`]).
    fn decided_after_failure(&self, step: &StepId, decision: Decision) -> bool {
        self.journal.decided_after_failure(step, decision)
    }

    /// Whether the journal holds the decision `decision` about `step` at or after `since`.
    fn decided(&self, step: &StepId, decision: Decision, since: Option<Timestamp>) -> bool {
        self.journal
            .decisions(step)
            .any(|(at, d, _)| d == decision && since.is_none_or(|t| at >= t))
    }

    /// A context for draining one node of this step.
    fn drain_ctx(&mut self, client: kube::Client) -> DrainCtx<'_> {
        DrainCtx {
            client,
            journal: self.journal,
            who: self.who,
            now: self.now,
        }
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
    /// A drain found a pod it cannot move. Calling again keeps trying (a budget may
    /// allow the eviction later); once `now - since` passes the plan's pod timeout,
    /// or at once when `ask_now`, the drive offers the operator `keep-waiting`,
    /// `skip-node` (target: the node) and `delete-pod` (target: the pod), journaled
    /// as decisions about the step.
    Held {
        /// One line: "node ip-…: pod payments/ledger-… held by PodDisruptionBudget …".
        what: String,
        node: String,
        /// `namespace/name`
        pod: String,
        /// The budget and its numbers, or why upshift does not evict the pod itself.
        why: String,
        /// The first refusal of this pod in this step, or the newest `keep-waiting`
        /// about it when later.
        since: Timestamp,
        /// The pod is not evicted without the operator's word (no controller, or
        /// emptyDir data the plan says not to delete): ask now, not after the timeout.
        ask_now: bool,
    },
    /// A node group replaced batch `batch - 1` completely: batch `batch` (of `of`)
    /// starts once the journal holds `proceed`, `override` or `auto-proceed` about
    /// [`GateId::batch`](crate::model::journal::GateId::batch)`(step, batch)`.
    Gate { batch: u32, of: u32 },
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
    /// A managed node group's update failed because PodDisruptionBudgets refused
    /// evictions: besides retrying, the operator may force it (a journaled `force`
    /// decision about the step starts the update again past the budgets, once).
    #[error("{why}. {what_to_do}")]
    EvictionRefused { why: String, what_to_do: String },
    /// The cluster's answer was lost (the connection closed, a server error): the
    /// step is called again, and reads the real state before acting.
    #[error("{why}; the answer was lost: upshift reads the cluster again and goes on")]
    Interrupted { why: String },
    /// This build cannot execute the step (yet).
    #[error("step {step}: {why}")]
    Unsupported { step: StepId, why: String },
    /// A cloud call failed; transient ones ([`CloudError::is_transient`]) may be retried by calling again.
    #[error(transparent)]
    Cloud(#[from] CloudError),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// One reconcile call for any step that acts on the cloud (control plane, add-on,
/// node group) or restarts workloads (Fargate). Preflight and postflight read the cluster's health and the research
/// tables the drive holds: the drive calls [`preflight::reconcile`] and
/// [`postflight::reconcile`] itself, and they are [`StepError::Unsupported`] here.
pub async fn reconcile(ctx: &mut StepCtx<'_>, step: &Step) -> Result<Progress, StepError> {
    match step {
        Step::ControlPlane => control_plane::reconcile(ctx).await,
        Step::Addon { name, version } => addon::reconcile(ctx, name, version).await,
        Step::Nodegroup(g) if g.group_type == GroupType::SelfManaged => selfmanaged::reconcile(ctx, g).await,
        Step::Nodegroup(g) if g.strategy == Strategy::BlueGreen => bluegreen::reconcile(ctx, g).await,
        Step::Nodegroup(g) => nodegroup::reconcile(ctx, g).await,
        Step::Fargate => fargate::reconcile(ctx).await,
        Step::DriftHold { nodepools } => nodepool::reconcile_hold(ctx, nodepools).await,
        Step::Nodepool(p) => nodepool::reconcile(ctx, p).await,
        Step::Preflight | Step::Postflight => Err(StepError::Unsupported {
            step: step.id(),
            why: "preflight and postflight are read-only research the drive runs, not cloud steps".into(),
        }),
    }
}

/// Undoes what must not be left half done when the operator aborts during a node
/// group step: a self-managed group's running instance refresh is cancelled, the
/// nodes the step cordoned and that stay are uncordoned, and the cluster
/// autoscaler's tag is put back. A managed group's running EKS update cannot be
/// cancelled: it is said so. Returns one line per thing done or found; calling it
/// again does nothing more.
pub async fn abort(ctx: &mut StepCtx<'_>, g: &NodegroupStep) -> Result<Vec<String>, StepError> {
    match g.group_type {
        GroupType::SelfManaged => selfmanaged::abort(ctx, g).await,
        GroupType::Managed if g.strategy == Strategy::BlueGreen => bluegreen::abort(ctx, g).await,
        GroupType::Managed => nodegroup::abort(ctx, g).await,
    }
}

/// Keeps instances a self-managed group's step holds in its termination hook waiting
/// (heartbeats), for the drive to call on every turn, at gates and pauses too.
/// Does nothing for other steps, and asks AWS nothing while no heartbeat is due.
pub async fn keep_alive(ctx: &mut StepCtx<'_>, g: &NodegroupStep) -> Result<(), StepError> {
    selfmanaged::keep_alive(ctx, g).await
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
    crate::units::Minor::parse(v).map(|m| m.next().to_string())
}
