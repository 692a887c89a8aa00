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
mod tests {
    use super::*;
    use crate::model::rollout::Criterion;

    fn gate(passable: bool, red: &[&str]) -> GateView {
        GateView {
            passable,
            criteria: red
                .iter()
                .map(|n| Criterion {
                    name: n.to_string(),
                    ok: false,
                    detail: String::new(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    struct At {
        phase: Phase,
        paused: bool,
        step: StepId,
        gate_id: GateId,
        gate: Option<GateView>,
        group: bool,
    }

    impl At {
        fn new(phase: Phase) -> At {
            let step = StepId::Nodegroup("apps".into());
            At {
                phase,
                paused: false,
                gate_id: GateId::before(step.clone()),
                step,
                gate: None,
                group: true,
            }
        }

        fn verdict(&self, c: Command) -> Verdict {
            command(&self.situation(), c)
        }

        fn situation(&self) -> Situation<'_> {
            Situation {
                phase: &self.phase,
                paused: self.paused,
                cluster: "prod-eu",
                step: Some(&self.step),
                gate: self.gate.as_ref().map(|g| (&self.gate_id, g)),
                group: self.group,
                who: "ana@laptop",
                window: None,
                stopping: false,
            }
        }
    }

    fn held() -> Phase {
        Phase::Held {
            node: "ip-10-0-1-7".into(),
            pod: "payments/ledger-0".into(),
            why: "budget".into(),
            since: None,
        }
    }

    fn failed(can_force: bool) -> Phase {
        Phase::Failed {
            why: "w".into(),
            what_to_do: "t".into(),
            can_force,
        }
    }

    fn decision(v: &Verdict) -> Option<(Decision, Option<&str>, &Then)> {
        match v {
            Verdict::Decide {
                decision, target, then, ..
            } => Some((*decision, target.as_deref(), then)),
            _ => None,
        }
    }

    #[test]
    fn enter_passes_only_a_passable_gate_and_says_why_not() {
        let mut at = At::new(Phase::Gate);
        at.gate = Some(gate(true, &[]));
        let v = at.verdict(Command::Proceed);
        assert_eq!(decision(&v), Some((Decision::Proceed, None, &Then::PassGate)));
        let Verdict::Decide { about, .. } = v else {
            unreachable!()
        };
        assert_eq!(about, Some(Subject::Gate(at.gate_id.clone())));
        at.gate = Some(gate(false, &["nodes Ready", "drain blockers"]));
        assert_eq!(
            at.verdict(Command::Proceed),
            Verdict::Refuse(
                "the gate is red (nodes Ready, drain blockers): pass it anyway with a typed reason (o)".into()
            )
        );
        at.gate = Some(gate(false, &[]));
        let Verdict::Refuse(why) = at.verdict(Command::Proceed) else {
            panic!()
        };
        assert!(why.contains("not settled"), "{why}");
        assert_eq!(
            At::new(Phase::ConfirmCluster).verdict(Command::Proceed),
            Verdict::Refuse("type the cluster's name first".into())
        );
        assert_eq!(
            At::new(Phase::Running).verdict(Command::Proceed),
            Verdict::Refuse("there is no gate to pass now".into())
        );
    }

    #[test]
    fn an_override_needs_a_reason_and_passes_a_gate_or_skips_a_failed_step() {
        let mut at = At::new(Phase::Gate);
        at.gate = Some(gate(false, &["nodes Ready"]));
        assert_eq!(
            at.verdict(Command::Override { reason: "  ".into() }),
            Verdict::Refuse("an override needs a reason".into())
        );
        let v = at.verdict(Command::Override {
            reason: " known ".into(),
        });
        assert_eq!(
            v,
            Verdict::Decide {
                about: Some(Subject::Gate(at.gate_id.clone())),
                decision: Decision::Override,
                target: None,
                reason: Some("known".into()),
                then: Then::PassGate,
            }
        );
        let v = At::new(failed(false)).verdict(Command::Override {
            reason: "by hand".into(),
        });
        assert_eq!(decision(&v), Some((Decision::Skip, None, &Then::SkipStep)));
        assert_eq!(
            At::new(Phase::Running).verdict(Command::Override { reason: "r".into() }),
            Verdict::Refuse("nothing to override now".into())
        );
    }

    #[test]
    fn the_cluster_is_confirmed_by_its_exact_name_only_when_asked() {
        let at = At::new(Phase::ConfirmCluster);
        let v = at.verdict(Command::ConfirmCluster {
            name: " prod-eu ".into(),
        });
        assert_eq!(
            decision(&v),
            Some((Decision::ConfirmCluster, Some("prod-eu"), &Then::Begin))
        );
        let Verdict::Refuse(why) = at.verdict(Command::ConfirmCluster { name: "prod".into() }) else {
            panic!()
        };
        assert!(why.contains("\"prod\" is not this cluster's name"), "{why}");
        assert_eq!(
            At::new(Phase::Gate).verdict(Command::ConfirmCluster { name: "prod-eu".into() }),
            Verdict::Nothing
        );
    }

    #[test]
    fn pause_and_resume_are_journaled_once() {
        let mut at = At::new(Phase::Running);
        assert_eq!(
            decision(&at.verdict(Command::Pause)).map(|d| d.0),
            Some(Decision::Pause)
        );
        assert_eq!(at.verdict(Command::Resume), Verdict::Nothing);
        at.paused = true;
        assert_eq!(at.verdict(Command::Pause), Verdict::Nothing);
        assert_eq!(
            decision(&at.verdict(Command::Resume)).map(|d| d.0),
            Some(Decision::Resume)
        );
        at.paused = false;
        at.phase = Phase::Done;
        assert_eq!(at.verdict(Command::Pause), Verdict::Nothing);
        assert_eq!(at.verdict(Command::Abort), Verdict::Nothing);
    }

    #[test]
    fn retry_and_force_answer_a_failed_step_only() {
        assert_eq!(
            decision(&At::new(failed(false)).verdict(Command::Retry)),
            Some((Decision::Retry, None, &Then::RunStep))
        );
        assert_eq!(
            At::new(Phase::Gate).verdict(Command::Retry),
            Verdict::Refuse("no failed step to retry".into())
        );
        let at = At::new(failed(true));
        assert_eq!(
            decision(&at.verdict(Command::Force { confirm: "apps".into() })),
            Some((Decision::Force, Some("apps"), &Then::RunStep))
        );
        assert_eq!(
            at.verdict(Command::Force { confirm: "app".into() }),
            Verdict::Refuse("type the node group's name (apps) to force its update".into())
        );
        let Verdict::Refuse(why) = At::new(failed(false)).verdict(Command::Force { confirm: "apps".into() }) else {
            panic!()
        };
        assert!(why.contains("only when a budget refused"), "{why}");
    }

    #[test]
    fn a_held_drains_choices_name_the_pod_or_the_node() {
        let at = At::new(held());
        assert_eq!(
            decision(&at.verdict(Command::KeepWaiting)),
            Some((Decision::KeepWaiting, Some("payments/ledger-0"), &Then::RunStep))
        );
        assert_eq!(
            decision(&at.verdict(Command::SkipNode)),
            Some((Decision::SkipNode, Some("ip-10-0-1-7"), &Then::RunStep))
        );
        for typed in ["ledger-0", "payments/ledger-0"] {
            assert_eq!(
                decision(&at.verdict(Command::DeletePod { confirm: typed.into() })),
                Some((Decision::DeletePod, Some("payments/ledger-0"), &Then::RunStep))
            );
        }
        assert_eq!(
            at.verdict(Command::DeletePod {
                confirm: "ledger".into()
            }),
            Verdict::Refuse("type the pod's name (ledger-0) to delete it".into())
        );
        assert_eq!(
            At::new(Phase::Running).verdict(Command::SkipNode),
            Verdict::Refuse("no drain is held now".into())
        );
    }

    #[test]
    fn auto_continue_applies_to_node_group_steps() {
        let mut at = At::new(Phase::Running);
        assert_eq!(
            decision(&at.verdict(Command::AutoContinue(false))),
            Some((Decision::Manual, None, &Then::AutoContinue(false)))
        );
        at.group = false;
        assert_eq!(
            at.verdict(Command::AutoContinue(true)),
            Verdict::Refuse("auto-continue applies to node group steps".into())
        );
    }

    #[test]
    fn upshift_passes_only_a_green_gate_between_batches_on_its_own() {
        let mut at = At::new(Phase::Gate);
        at.gate = Some(gate(true, &[]));
        assert!(
            !auto_proceed(&at.situation(), true),
            "the gate before the step is the lead's"
        );
        at.gate_id = GateId::batch(at.step.clone(), 2);
        assert!(auto_proceed(&at.situation(), true));
        assert!(!auto_proceed(&at.situation(), false));
        at.paused = true;
        assert!(!auto_proceed(&at.situation(), true));
        at.paused = false;
        at.gate = Some(gate(false, &["nodes Ready"]));
        assert!(!auto_proceed(&at.situation(), true));
    }

    #[test]
    fn a_steps_error_says_what_the_lead_can_do() {
        let throttled = StepError::Cloud(CloudError::Throttled {
            action: "eks:DescribeCluster".into(),
            message: "slow down".into(),
        });
        let Failure::Later(notice) = failure(throttled) else {
            panic!()
        };
        assert!(notice.ends_with("trying again in 5s"), "{notice}");
        let denied = StepError::Cloud(CloudError::AccessDenied {
            action: "eks:UpdateClusterVersion".into(),
            message: "no".into(),
        });
        let Failure::Lead {
            what_to_do, can_force, ..
        } = failure(denied)
        else {
            panic!()
        };
        assert!(what_to_do.contains("docs/iam.md") && !can_force, "{what_to_do}");
        let refused = StepError::EvictionRefused {
            why: "w".into(),
            what_to_do: "t".into(),
        };
        assert!(matches!(failure(refused), Failure::Lead { can_force: true, .. }));
        let unsupported = StepError::Unsupported {
            step: StepId::Postflight,
            why: "not here".into(),
        };
        let Failure::Lead { why, what_to_do, .. } = failure(unsupported) else {
            panic!()
        };
        assert_eq!(why, "step postflight: not here");
        assert!(what_to_do.contains("skip it with a reason"), "{what_to_do}");
        let io = StepError::Journal(JournalError::Io {
            path: "j".into(),
            source: std::io::Error::other("disk full"),
        });
        assert!(matches!(failure(io), Failure::Stop(_)));
        let lost = StepError::Interrupted {
            why: "cordoning node n1: connection closed".into(),
        };
        let Failure::Later(notice) = failure(lost) else {
            panic!("a lost answer is tried again, not put to the lead")
        };
        assert!(
            notice.contains("cordoning node n1") && notice.ends_with("trying again in 5s"),
            "{notice}"
        );
    }

    #[test]
    fn a_held_drain_waits_out_the_pod_timeout_unless_the_pod_asks_now() {
        assert!(!asks_the_lead(false, 119, 120));
        assert!(asks_the_lead(false, 120, 120));
        assert!(asks_the_lead(true, 0, 120));
    }

    #[test]
    fn a_handover_goes_to_someone_else_at_a_gate_or_paused_only() {
        let to = |name: &str| Command::Handover { to: name.into() };
        let at = At::new(Phase::Gate);
        assert_eq!(
            decision(&at.verdict(to(" bo "))),
            Some((Decision::Handover, Some("bo"), &Then::Handover("bo".into())))
        );
        for me in ["ana", "ana@laptop"] {
            let Verdict::Refuse(why) = at.verdict(to(me)) else {
                panic!("handed to oneself")
            };
            assert!(why.contains("another operator"), "{why}");
        }
        assert!(matches!(at.verdict(to("")), Verdict::Refuse(_)));
        // running: not a safe point, unless paused
        let mut running = At::new(Phase::Running);
        let Verdict::Refuse(why) = running.verdict(to("bo")) else {
            panic!("handed over mid-step")
        };
        assert!(why.contains("at a gate or paused"), "{why}");
        running.paused = true;
        assert!(decision(&running.verdict(to("bo"))).is_some());
        assert!(matches!(At::new(Phase::Done).verdict(to("bo")), Verdict::Refuse(_)));
    }

    #[test]
    fn a_stop_at_a_safe_point_names_the_window_once() {
        let at = At::new(Phase::Running);
        let mut s = at.situation();
        s.window = Some("window tue-night closes in 9m");
        match command(&s, Command::StopAtSafePoint) {
            Verdict::Decide {
                decision: Decision::StopAtSafePoint,
                reason: Some(r),
                then: Then::StopAtSafePoint,
                ..
            } => assert!(r.starts_with("window tue-night closes in 9m"), "{r}"),
            other => panic!("{other:?}"),
        }
        s.stopping = true;
        assert_eq!(command(&s, Command::StopAtSafePoint), Verdict::Nothing);
        assert_eq!(At::new(Phase::Done).verdict(Command::StopAtSafePoint), Verdict::Nothing);
    }
}
