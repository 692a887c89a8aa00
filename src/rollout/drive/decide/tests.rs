//! What the drive makes of commands, failures and held drains, situation by situation.

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
        Verdict::Refuse("the gate is red (nodes Ready, drain blockers): pass it anyway with a typed reason (o)".into())
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
