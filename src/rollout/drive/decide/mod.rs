//! What the drive makes of what happens, as pure functions: given where the rollout
//! stands (the phase, a pause, the open gate as last judged, the current step), a
//! lead's [`Command`] becomes a [`Verdict`] (a decision to journal and what follows
//! from it, or a refusal that tells the lead why); a step's error becomes a
//! [`Failure`]; a green gate between batches may pass on its own; a held drain asks
//! the lead after the pod timeout. The engine carries it out; nothing here reads the
//! clock, the cluster or the journal.

use std::time::Duration;

use crate::cloud::CloudError;
use crate::model::journal::{Decision, GateId, StepId, Subject};
use crate::model::rollout::{Command, GateView, Phase};
use crate::rollout::journal::JournalError;
use crate::rollout::steps::StepError;

/// Where the rollout stands, as far as a command is concerned.
#[derive(Clone, Copy, Debug)]
pub struct Situation<'a> {
    /// The drive's own phase (a pause is `paused`, not a phase here).
    pub phase: &'a Phase,
    pub paused: bool,
    /// The cluster's name, as the plan gives it.
    pub cluster: &'a str,
    /// The step being gated or run.
    pub step: Option<&'a StepId>,
    /// The open gate, judged just before, and its id.
    pub gate: Option<(&'a GateId, &'a GateView)>,
    /// The current step shows a node group's progress (auto-continue applies).
    pub group: bool,
    /// The operator who drives (`user@host`).
    pub who: &'a str,
    /// The maintenance window as it stands (`window tue-night closes in 12m`), if any.
    pub window: Option<&'a str>,
    /// A stop at the next safe point was asked already.
    pub stopping: bool,
}

/// What follows a journaled decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Then {
    /// The gate is passed: the step begins, or its next batch.
    PassGate,
    /// The failed step is left as it is; the next one opens.
    SkipStep,
    /// The cluster's name was confirmed: the first step opens.
    Begin,
    Pause,
    Resume,
    /// The step is called again at once (a retry, a force, a held drain's choice).
    RunStep,
    /// Undo what must not be left half done, and stop.
    Abort,
    /// The node group goes on between batches on its own, or asks again.
    AutoContinue(bool),
    /// Finish what is under way, then stop at the next gate, resumable.
    StopAtSafePoint,
    /// Stop now and leave the lease to this operator.
    Handover(String),
}

/// What a command comes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing happens (a pause while paused, a name typed when none is asked for).
    Nothing,
    /// Nothing is journaled; the lead is told why.
    Refuse(String),
    /// `decision` is journaled about `about`, then `then` is done.
    Decide {
        about: Option<Subject>,
        decision: Decision,
        target: Option<String>,
        reason: Option<String>,
        then: Then,
    },
}

fn decide(about: Option<Subject>, decision: Decision, then: Then) -> Verdict {
    Verdict::Decide {
        about,
        decision,
        target: None,
        reason: None,
        then,
    }
}

fn about_step(s: &Situation) -> Option<Subject> {
    s.step.cloned().map(Subject::Step)
}

fn finished(phase: &Phase) -> bool {
    matches!(phase, Phase::Done | Phase::Aborted { .. })
}

/// Why a gate cannot be passed with Enter yet.
fn not_passable(g: &GateView) -> String {
    let red: Vec<&str> = g.criteria.iter().filter(|c| !c.ok).map(|c| c.name.as_str()).collect();
    if red.is_empty() {
        "the gate is green but not settled yet: wait for the settle time, or pass it with a reason (o)".into()
    } else {
        format!(
            "the gate is red ({}): pass it anyway with a typed reason (o)",
            red.join(", ")
        )
    }
}

/// What `c` comes to in situation `s`.
pub fn command(s: &Situation, c: Command) -> Verdict {
    match c {
        Command::Proceed => match (s.phase, s.gate) {
            (Phase::Gate, Some((id, g))) if g.passable => {
                decide(Some(id.clone().into()), Decision::Proceed, Then::PassGate)
            }
            (Phase::Gate, Some((_, g))) => Verdict::Refuse(not_passable(g)),
            (Phase::ConfirmCluster, _) => Verdict::Refuse("type the cluster's name first".into()),
            _ => Verdict::Refuse("there is no gate to pass now".into()),
        },
        Command::Override { reason } => {
            let reason = reason.trim().to_string();
            if reason.is_empty() {
                return Verdict::Refuse("an override needs a reason".into());
            }
            match (s.phase, s.gate) {
                (Phase::Gate, Some((id, _))) => Verdict::Decide {
                    about: Some(id.clone().into()),
                    decision: Decision::Override,
                    target: None,
                    reason: Some(reason),
                    then: Then::PassGate,
                },
                (Phase::Failed { .. }, _) => Verdict::Decide {
                    about: about_step(s),
                    decision: Decision::Skip,
                    target: None,
                    reason: Some(reason),
                    then: Then::SkipStep,
                },
                _ => Verdict::Refuse("nothing to override now".into()),
            }
        }
        Command::ConfirmCluster { name } => {
            if *s.phase != Phase::ConfirmCluster {
                return Verdict::Nothing;
            }
            let name = name.trim();
            if name == s.cluster {
                Verdict::Decide {
                    about: None,
                    decision: Decision::ConfirmCluster,
                    target: Some(name.to_string()),
                    reason: None,
                    then: Then::Begin,
                }
            } else {
                Verdict::Refuse(format!("{name:?} is not this cluster's name: type it exactly to begin"))
            }
        }
        Command::Pause if !s.paused && !finished(s.phase) => decide(None, Decision::Pause, Then::Pause),
        Command::Resume if s.paused => decide(None, Decision::Resume, Then::Resume),
        Command::Pause | Command::Resume => Verdict::Nothing,
        Command::Abort if finished(s.phase) => Verdict::Nothing,
        Command::Abort => decide(about_step(s), Decision::Abort, Then::Abort),
        Command::Retry => match s.phase {
            Phase::Failed { .. } => decide(about_step(s), Decision::Retry, Then::RunStep),
            _ => Verdict::Refuse("no failed step to retry".into()),
        },
        Command::Force { confirm } => {
            let can = matches!(s.phase, Phase::Failed { can_force: true, .. });
            match s.step.and_then(StepId::nodegroup) {
                Some(g) if can && confirm.trim() == g => Verdict::Decide {
                    about: about_step(s),
                    decision: Decision::Force,
                    target: Some(g.to_string()),
                    reason: None,
                    then: Then::RunStep,
                },
                Some(g) if can => Verdict::Refuse(format!("type the node group's name ({g}) to force its update")),
                _ => Verdict::Refuse("forcing is offered only when a budget refused an EKS node group update".into()),
            }
        }
        Command::KeepWaiting | Command::SkipNode | Command::DeletePod { .. } => {
            let Phase::Held { node, pod, .. } = s.phase else {
                return Verdict::Refuse("no drain is held now".into());
            };
            let (decision, target) = match c {
                Command::KeepWaiting => (Decision::KeepWaiting, pod.clone()),
                Command::SkipNode => (Decision::SkipNode, node.clone()),
                Command::DeletePod { confirm } => {
                    let short = pod.rsplit('/').next().unwrap_or(pod);
                    let typed = confirm.trim();
                    if typed != short && typed != pod {
                        return Verdict::Refuse(format!("type the pod's name ({short}) to delete it"));
                    }
                    (Decision::DeletePod, pod.clone())
                }
                _ => return Verdict::Nothing,
            };
            Verdict::Decide {
                about: about_step(s),
                decision,
                target: Some(target),
                reason: None,
                then: Then::RunStep,
            }
        }
        Command::AutoContinue(on) if s.group => decide(
            about_step(s),
            if on { Decision::AutoContinue } else { Decision::Manual },
            Then::AutoContinue(on),
        ),
        Command::AutoContinue(_) => Verdict::Refuse("auto-continue applies to node group steps".into()),
        Command::StopAtSafePoint if finished(s.phase) || s.stopping => Verdict::Nothing,
        Command::StopAtSafePoint => Verdict::Decide {
            about: None,
            decision: Decision::StopAtSafePoint,
            target: None,
            reason: Some(match s.window {
                Some(w) => format!("{w}: the rollout stops at the next safe point, to resume in another window"),
                None => "the lead stops the rollout at the next safe point, to resume later".to_string(),
            }),
            then: Then::StopAtSafePoint,
        },
        Command::Handover { to } => handover(s, to.trim()),
        // the engine stops on it before asking here: nothing to decide
        Command::Stop { .. } => Verdict::Nothing,
    }
}

/// Whether the operator typed as `to` is `who` (`ana` names `ana@laptop`).
pub fn names(to: &str, who: &str) -> bool {
    let to = to.trim();
    !to.is_empty() && (to == who || who.split('@').next() == Some(to))
}

/// A handover to `to`: at a gate or paused (nothing half done), to someone else.
fn handover(s: &Situation, to: &str) -> Verdict {
    if to.is_empty() {
        return Verdict::Refuse("type the name of the operator who takes the drive over".into());
    }
    if names(to, s.who) {
        return Verdict::Refuse(format!("{to} is who drives now: hand over to another operator"));
    }
    if finished(s.phase) {
        return Verdict::Refuse("the rollout is finished: there is nothing to hand over".into());
    }
    if !(s.paused || matches!(s.phase, Phase::Gate | Phase::ConfirmCluster)) {
        return Verdict::Refuse(
            "hand over at a gate or paused (p), where nothing is half done: wait for the next gate".into(),
        );
    }
    Verdict::Decide {
        about: None,
        decision: Decision::Handover,
        target: Some(to.to_string()),
        reason: None,
        then: Then::Handover(to.to_string()),
    }
}

/// Whether upshift passes the open gate on its own: a gate between two batches of a
/// node group set to auto-continue, green for its settle time, while not paused.
pub fn auto_proceed(s: &Situation, auto_continue: bool) -> bool {
    matches!(s.phase, Phase::Gate)
        && !s.paused
        && auto_continue
        && s.gate.is_some_and(|(id, g)| id.batch.is_some() && g.passable)
}

/// A drain held up for `waited` seconds, with a pod timeout of `timeout`: the lead is
/// asked now (held), or the drive keeps trying and says for how long so far.
pub fn asks_the_lead(ask_now: bool, waited: i64, timeout: i64) -> bool {
    ask_now || waited >= timeout
}

/// How long a transient cloud error waits before the step is called again.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

/// What a step's error comes to.
#[derive(Debug)]
pub enum Failure {
    /// The journal cannot be written: the drive stops (running it again resumes).
    Stop(JournalError),
    /// Throttling or the network: the step is called again after [`RETRY_AFTER`]; the
    /// lead is told.
    Later(String),
    /// The step failed: the lead decides (retry, skip, force when offered, abort).
    Lead {
        why: String,
        what_to_do: String,
        /// An EKS node group update refused by a budget: forcing is offered.
        can_force: bool,
    },
}

/// What a step's error comes to, and what the lead is told to do about it.
pub fn failure(e: StepError) -> Failure {
    let lead = |why: String, what_to_do: &str| Failure::Lead {
        why,
        what_to_do: what_to_do.to_string(),
        can_force: false,
    };
    match e {
        StepError::Journal(e) => Failure::Stop(e),
        StepError::Cloud(e) if e.is_transient() => {
            Failure::Later(format!("{e}; trying again in {}s", RETRY_AFTER.as_secs()))
        }
        StepError::Interrupted { why } => Failure::Later(format!("{why}; trying again in {}s", RETRY_AFTER.as_secs())),
        StepError::Failed { why, what_to_do } => Failure::Lead {
            why,
            what_to_do,
            can_force: false,
        },
        StepError::EvictionRefused { why, what_to_do } => Failure::Lead {
            why,
            what_to_do,
            can_force: true,
        },
        StepError::Unsupported { step, why } => lead(
            format!("step {step}: {why}"),
            "do this step by hand, then skip it with a reason (S)",
        ),
        StepError::Cloud(e @ CloudError::AccessDenied { .. }) => lead(
            e.to_string(),
            "grant the lead's IAM role this action (docs/iam.md), then retry (r)",
        ),
        StepError::Cloud(e) => lead(e.to_string(), "check the cloud's view, then retry (r)"),
    }
}

#[cfg(test)]
mod tests;
