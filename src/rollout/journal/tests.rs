use super::*;

fn at(s: u64) -> Timestamp {
    Timestamp::from_second(1_750_000_000 + s as i64).unwrap()
}

fn apps() -> StepId {
    StepId::Nodegroup("apps".into())
}

fn action(target: &str) -> What {
    What::Action {
        step: apps(),
        action: "drain".into(),
        target: target.into(),
    }
}

fn result(target: &str, ok: bool) -> What {
    What::Result {
        step: apps(),
        action: "drain".into(),
        target: target.into(),
        ok,
        detail: String::new(),
    }
}

#[test]
fn entries_survive_reopening_and_numbering_continues() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rollout.jsonl");
    {
        let mut j = Journal::open(&path).unwrap();
        j.append(
            "ana@host",
            at(0),
            What::Decision {
                step: None,
                decision: Decision::ConfirmCluster,
                reason: None,
                target: None,
            },
        )
        .unwrap();
        j.append("upshift", at(1), action("node-a")).unwrap();
        j.append("upshift", at(2), result("node-a", true)).unwrap();
        j.append("upshift", at(3), action("node-b")).unwrap();
    }
    let mut j = Journal::open(&path).unwrap();
    assert!(!j.repaired_tail);
    assert_eq!(j.entries().len(), 4);
    assert!(j.done(&apps(), "drain", "node-a"));
    assert!(!j.done(&apps(), "drain", "node-b"));
    let doubt = j.in_doubt();
    assert_eq!(doubt.len(), 1);
    assert!(matches!(&doubt[0].what, What::Action { target, .. } if target == "node-b"));
    let e = j.append("upshift", at(4), result("node-b", false)).unwrap();
    assert_eq!(e.seq, 5);
    assert!(j.in_doubt().is_empty());
    // the file is JSON lines with the type tag, for jq and for people
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 5);
    assert!(text.lines().next().unwrap().contains("\"type\":\"decision\""), "{text}");
}

#[test]
fn a_line_torn_by_a_crash_is_cut_off_and_nothing_before_it_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rollout.jsonl");
    {
        let mut j = Journal::open(&path).unwrap();
        j.append("upshift", at(1), action("node-a")).unwrap();
        j.append("upshift", at(2), result("node-a", true)).unwrap();
    }
    // a crash in the middle of the third write
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(br#"{"seq":3,"at":"2025-06-15T15:06:43Z","who":"ups"#)
        .unwrap();
    drop(f);
    let mut j = Journal::open(&path).unwrap();
    assert!(j.repaired_tail);
    assert_eq!(j.dropped_bytes, 47);
    assert_eq!(j.entries().len(), 2);
    assert_eq!(j.append("upshift", at(3), action("node-b")).unwrap().seq, 3);
    let again = Journal::open(&path).unwrap();
    assert_eq!(again.entries().len(), 3);
    assert!(!again.repaired_tail);
}

#[test]
fn damage_before_the_end_is_refused_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rollout.jsonl");
    {
        let mut j = Journal::open(&path).unwrap();
        j.append("upshift", at(1), action("node-a")).unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}garbage\n{text}")).unwrap();
    let err = Journal::open(&path).err().expect("refused").to_string();
    assert!(err.contains("line 2") && err.contains("move it aside"), "{err}");
    // entries out of order are refused too
    std::fs::write(&path, format!("{text}{text}")).unwrap();
    let err = Journal::open(&path).err().expect("refused").to_string();
    assert!(err.contains("line 2") && err.contains("entry 1 follows 1"), "{err}");
}

#[test]
fn binary_lines_and_endless_lines_are_refused_with_their_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rollout.jsonl");
    {
        let mut j = Journal::open(&path).unwrap();
        j.append("upshift", at(1), action("node-a")).unwrap();
    }
    let good = std::fs::read(&path).unwrap();
    let mut bad = good.clone();
    bad.extend_from_slice(b"\xff\xfe\x00binary\n");
    std::fs::write(&path, &bad).unwrap();
    let err = Journal::open(&path).err().expect("refused").to_string();
    assert!(err.contains("line 2") && err.contains("not text"), "{err}");
    let mut long = good.clone();
    long.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
    long.push(b'\n');
    std::fs::write(&path, &long).unwrap();
    let err = Journal::open(&path).err().expect("refused").to_string();
    assert!(err.contains("line 2") && err.contains("longer than"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap().len(), long.len(), "left untouched");
}

#[test]
fn decisions_written_before_they_had_a_target_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rollout.jsonl");
    std::fs::write(
        &path,
        concat!(
            r#"{"seq":1,"at":"2025-06-15T15:06:40Z","who":"ana@host","type":"decision","step":"gate/control-plane","decision":"proceed"}"#,
            "\n"
        ),
    )
    .unwrap();
    let mut j = Journal::open(&path).unwrap();
    assert!(matches!(&j.entries()[0].what, What::Decision { target: None, .. }));
    j.append(
        "ana@host",
        at(1),
        What::Decision {
            step: Some(Subject::Step(StepId::Nodegroup("batch".into()))),
            decision: Decision::SkipNode,
            reason: None,
            target: Some("ip-10-0-0-1".into()),
        },
    )
    .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.lines().next().unwrap().contains("target"), "{text}");
    assert!(
        text.lines().nth(1).unwrap().contains(r#""target":"ip-10-0-0-1""#),
        "{text}"
    );
    let again = Journal::open(&path).unwrap();
    let batch = StepId::Nodegroup("batch".into());
    let seen: Vec<_> = again.decisions(&batch).map(|(_, d, t)| (d, t)).collect();
    assert_eq!(seen, [(Decision::SkipNode, Some("ip-10-0-0-1"))]);
}

#[test]
fn a_gate_stays_passed_until_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::open(&dir.path().join("j.jsonl")).unwrap();
    let gate = GateId::batch(apps(), 2);
    let decide = |j: &mut Journal, about: Option<Subject>, d: Decision| {
        j.append(
            "ana@host",
            at(0),
            What::Decision {
                step: about,
                decision: d,
                reason: None,
                target: None,
            },
        )
        .unwrap();
    };
    assert!(j.gate_decision(&gate).is_none());
    decide(&mut j, Some(gate.clone().into()), Decision::Retry);
    assert!(j.gate_decision(&gate).is_none(), "a retry passes no gate");
    decide(&mut j, Some(gate.clone().into()), Decision::AutoProceed);
    assert_eq!(j.gate_decision(&gate).map(|e| e.seq), Some(2));
    assert!(j.gate_decision(&GateId::before(apps())).is_none(), "another gate");
    decide(&mut j, Some(apps().into()), Decision::Abort);
    assert!(j.gate_decision(&gate).is_none(), "an abort closes it");
    assert_eq!(j.since_last_abort().len(), 0);
    decide(&mut j, None, Decision::Pause);
    decide(&mut j, None, Decision::Resume);
    assert_eq!(
        j.latest_decision(None, &[Decision::Pause, Decision::Resume]),
        Some(Decision::Resume)
    );
    assert_eq!(j.latest_decision(None, &[Decision::ConfirmCluster]), None);
}

fn header(target: &str) -> Header {
    Header {
        cluster: "arn:aws:eks:eu-west-1:111122223333:cluster/demo".into(),
        kube_system_uid: Some("4f1c".into()),
        plan: "sha256:ab".into(),
        target: target.into(),
    }
}

#[test]
fn a_journal_names_its_rollout_and_refuses_another() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    let mut j = Journal::open(&path).unwrap();
    assert_eq!(j.claim(&header("1.31"), "ana@host", at(0)).unwrap(), Claim::New);
    assert!(matches!(&j.entries()[0].what, What::Header(h) if h.target == "1.31"));
    assert_eq!(j.claim(&header("1.31"), "ana@host", at(1)).unwrap(), Claim::Same);
    assert_eq!(j.entries().len(), 1, "the same rollout writes no second header");
    let mut other = header("1.32");
    other.kube_system_uid = Some("9e0d".into());
    let err = j.claim(&other, "ana@host", at(2)).unwrap_err().to_string();
    assert!(
        err.contains("target 1.31 (the journal) is not 1.32 (now)") && err.contains("created anew"),
        "{err}"
    );
    assert_eq!(j.entries().len(), 1);
    // an old journal, without a header: adopted, its header written with the next entry
    let old = dir.path().join("old.jsonl");
    let mut j = Journal::open(&old).unwrap();
    j.append("ana@host", at(0), action("node-a")).unwrap();
    assert_eq!(j.claim(&header("1.31"), "ana@host", at(1)).unwrap(), Claim::Adopted);
    assert_eq!(std::fs::read_to_string(&old).unwrap().lines().count(), 1);
    j.append("ana@host", at(2), result("node-a", true)).unwrap();
    let again = Journal::open(&old).unwrap();
    assert_eq!(again.entries().len(), 3);
    assert!(matches!(&again.entries()[1].what, What::Header(_)));
    assert_eq!(again.header().map(|h| h.target.as_str()), Some("1.31"));
}

#[test]
fn a_decision_counts_after_the_failure_it_answers_by_sequence_whatever_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::open(&dir.path().join("j.jsonl")).unwrap();
    let retry = |j: &mut Journal, t: u64| {
        let what = What::Decision {
            step: Some(Subject::Step(apps())),
            decision: Decision::Retry,
            reason: None,
            target: None,
        };
        j.append("ana@host", at(t), what).unwrap();
    };
    retry(&mut j, 100);
    j.set_step_state("upshift", at(200), &apps(), StepState::Failed)
        .unwrap();
    assert!(
        !j.decided_after_failure(&apps(), Decision::Retry),
        "a retry before the failure"
    );
    // an answer stamped earlier than the failure (another clock) still follows it
    retry(&mut j, 0);
    assert!(j.decided_after_failure(&apps(), Decision::Retry));
    assert!(!j.decided_after_failure(&apps(), Decision::Force));
    // running again: the answer was used; a new failure needs a new one
    j.set_step_state("upshift", at(1), &apps(), StepState::Running).unwrap();
    assert!(!j.decided_after_failure(&apps(), Decision::Retry));
    j.set_step_state("upshift", at(2), &apps(), StepState::Failed).unwrap();
    assert!(!j.decided_after_failure(&apps(), Decision::Retry));
}

#[test]
fn a_journal_held_by_its_driver_is_refused_to_a_second_and_private_to_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    let held = Journal::open_exclusive(&path).unwrap();
    let err = Journal::open_exclusive(&path).err().expect("refused").to_string();
    assert!(
        err.contains("held by another drive") && err.contains("take over"),
        "{err}"
    );
    drop(held);
    assert!(Journal::open_exclusive(&path).is_ok(), "free again once closed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[test]
fn step_states_keep_the_last_state_in_first_seen_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::open(&dir.path().join("j.jsonl")).unwrap();
    let coredns = StepId::Addon("coredns".into());
    for (step, state) in [
        (&StepId::ControlPlane, StepState::Running),
        (&coredns, StepState::Running),
        (&StepId::ControlPlane, StepState::Done),
    ] {
        j.set_step_state("upshift", at(0), step, state).unwrap();
    }
    // the same state again is not journaled twice
    j.set_step_state("upshift", at(1), &StepId::ControlPlane, StepState::Done)
        .unwrap();
    assert_eq!(j.entries().len(), 3);
    assert_eq!(
        j.step_states(),
        [(StepId::ControlPlane, StepState::Done), (coredns, StepState::Running)]
    );
    assert!(operator_identity().contains('@'));
}
