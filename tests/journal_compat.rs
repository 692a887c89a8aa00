//! Journals written before the journal's words became types still load and resume.
//! `tests/fixtures/journal-v0.1-main.jsonl` was written by the drive as it was at
//! commit bb585e2 (a production rehearsal of the demo cluster: the cluster's name
//! typed, a pause, a failed preflight retried and skipped, a red gate overridden,
//! auto-continue switched on, off and on, a held drain answered with keep-waiting,
//! delete-pod and skip-node, batches passed by upshift on its own, a managed group's
//! update refused by a budget and forced, then an abort), with the plan it ran
//! beside it. Every line reads back into today's types and is written again byte for
//! byte; a drive started on it resumes where that rollout stood.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::Inspect;
use upshift::model::journal::{Decision, Entry, GateId, StepId, StepState, Subject, What};
use upshift::model::rollout::Phase;
use upshift::rollout::drive::{DriveOptions, Setup, prepare};
use upshift::rollout::journal::Journal;
use upshift::rollout::plan::Plan;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

const JOURNAL: &str = "journal-v0.1-main.jsonl";
const PLAN: &str = "journal-v0.1-main.plan.yaml";
/// The cluster that journal is about: the demo scenario of its day, on 1.30.
const SCENARIO: &str = "journal-v0.1-main.scenario.yaml";

fn lines() -> Vec<String> {
    std::fs::read_to_string(fixture(JOURNAL))
        .expect("the fixture reads")
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn every_line_reads_and_is_written_again_byte_for_byte() {
    let lines = lines();
    assert!(lines.len() > 100, "a whole rehearsal: {} lines", lines.len());
    for (i, line) in lines.iter().enumerate() {
        let e: Entry = serde_json::from_str(line).unwrap_or_else(|err| panic!("line {}: {err}: {line}", i + 1));
        assert_eq!(e.seq, i as u64 + 1);
        assert_eq!(
            &serde_json::to_string(&e).unwrap(),
            line,
            "line {} changed when written again",
            i + 1
        );
    }
}

#[test]
fn the_fixture_covers_every_entry_type_decision_and_step_state() {
    let entries: Vec<Entry> = lines().iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let kinds: BTreeSet<&str> = entries
        .iter()
        .map(|e| match &e.what {
            What::Decision { .. } => "decision",
            What::Action { .. } => "action",
            What::Result { .. } => "result",
            What::Step { .. } => "step",
            What::Event { .. } => "event",
            // kinds newer than the fixture: a header and a drive's id
            What::Header(_) => "header",
            What::Drive { .. } => "drive",
            // written since the fixture was: not in it
            What::Baseline { .. } => "baseline",
            What::Accept { .. } => "accept",
            What::Verdict { .. } => "verdict",
        })
        .collect();
    assert_eq!(kinds.len(), 5, "{kinds:?}");
    let decisions: Vec<Decision> = entries
        .iter()
        .filter_map(|e| match &e.what {
            What::Decision { decision, .. } => Some(*decision),
            _ => None,
        })
        .collect();
    // decisions newer than the fixture: a maintenance window's and a handover's
    let newer = [Decision::Handover, Decision::StopAtSafePoint, Decision::OutsideWindow];
    for d in Decision::ALL.into_iter().filter(|d| !newer.contains(d)) {
        assert!(decisions.contains(&d), "no {d} in the fixture");
    }
    let states: BTreeSet<&str> = entries
        .iter()
        .filter_map(|e| match &e.what {
            What::Step { state, .. } => Some(state.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        states,
        ["aborted", "done", "failed", "running", "skipped"]
            .into_iter()
            .collect()
    );
    // ids of every kind: steps, gates before steps, gates between batches
    let subjects: Vec<&Subject> = entries
        .iter()
        .filter_map(|e| match &e.what {
            What::Decision { step: Some(s), .. } => Some(s),
            _ => None,
        })
        .collect();
    let batch = StepId::Nodegroup("batch".into());
    for want in [
        Subject::Step(StepId::Preflight),
        Subject::Step(batch.clone()),
        Subject::Gate(GateId::before(StepId::ControlPlane)),
        Subject::Gate(GateId::before(StepId::Addon("coredns".into()))),
        Subject::Gate(GateId::batch(batch, 2)),
    ] {
        assert!(subjects.contains(&&want), "no decision about {want}");
    }
}

#[test]
fn the_journal_opens_with_what_it_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    std::fs::copy(fixture(JOURNAL), &path).unwrap();
    let mut j = Journal::open(&path).expect("the old journal opens");
    assert!(!j.repaired_tail);
    assert_eq!(j.entries().len(), lines().len());
    let batch = StepId::Nodegroup("batch".into());
    let apps = StepId::Nodegroup("apps".into());
    assert_eq!(
        j.step_states(),
        [
            (StepId::Preflight, StepState::Skipped),
            (StepId::ControlPlane, StepState::Done),
            (StepId::Addon("coredns".into()), StepState::Done),
            (batch.clone(), StepState::Done),
            (apps.clone(), StepState::Aborted),
        ]
    );
    // the choices about the held drain, with their targets
    let choices: Vec<Decision> = j.decisions(&batch).map(|(_, d, _)| d).collect();
    for d in [Decision::KeepWaiting, Decision::DeletePod, Decision::SkipNode] {
        assert!(choices.contains(&d), "{choices:?}");
    }
    assert!(j.decisions(&batch).all(|(_, d, t)| match d {
        Decision::KeepWaiting | Decision::DeletePod => t.is_some_and(|t| t.starts_with("batch/worker-")),
        Decision::SkipNode => t.is_some_and(|t| t.starts_with("ip-")),
        _ => true,
    }));
    assert!(
        j.decisions(&apps)
            .any(|(_, d, t)| d == Decision::Force && t == Some("apps"))
    );
    // the abort closed every gate passed before it
    assert!(j.gate_decision(&GateId::before(apps.clone())).is_none());
    assert!(j.done(&StepId::ControlPlane, "update-cluster-version", "1.31"));
    // and appending goes on from the last number
    let next = j
        .append(
            "ana@laptop",
            jiff::Timestamp::now(),
            What::Decision {
                step: None,
                decision: Decision::Resume,
                reason: None,
                target: None,
            },
        )
        .unwrap()
        .seq;
    assert_eq!(next, lines().len() as u64 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drive_resumes_the_old_rollout_where_it_stood() {
    let sim = common::start_yaml(&std::fs::read_to_string(fixture(SCENARIO)).unwrap()).await;
    let text = std::fs::read_to_string(fixture(PLAN)).unwrap();
    let plan = Plan::from_yaml(&text, PLAN).expect("the plan of that rollout loads");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    std::fs::copy(fixture(JOURNAL), &path).unwrap();
    let client = sim.client("lead").await.unwrap();
    let clock = sim.clock();
    let drive = prepare(Setup {
        plan,
        client,
        cloud: common::cloud::shared(&sim).await,
        journal: path.clone(),
        who: "ana@laptop".into(),
        now: Arc::new(move || clock.now()),
        lease_now: Arc::new(jiff::Timestamp::now),
        take_over: false,
        options: DriveOptions {
            poll: Duration::from_millis(100),
            publish: false,
            ..Default::default()
        },
    })
    .await
    .expect("the drive prepares on the old journal");
    let mut h = drive.start();
    let s = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            {
                let s = h.state.borrow_and_update();
                if s.phase != Phase::Starting {
                    return s.clone();
                }
            }
            h.state.changed().await.expect("the drive runs");
        }
    })
    .await
    .expect("the drive publishes where it stands");
    // the cluster's name was typed then: no new confirmation; the aborted group's gate opens again
    assert_eq!(s.phase, Phase::Gate, "{s:?}");
    let steps: Vec<(String, StepState, Option<bool>)> = s
        .steps
        .iter()
        .map(|v| (v.id.to_string(), v.state, v.group.as_ref().map(|g| g.auto_continue)))
        .collect();
    assert_eq!(
        steps,
        [
            ("preflight".to_string(), StepState::Skipped, None),
            ("control-plane".to_string(), StepState::Done, None),
            ("addon/coredns".to_string(), StepState::Done, None),
            ("nodegroup/batch".to_string(), StepState::Done, Some(true)),
            ("nodegroup/apps".to_string(), StepState::Gate, Some(false)),
            ("postflight".to_string(), StepState::Pending, None),
        ]
    );
    assert_eq!(s.current, Some(4));
    let gate = s.gate.as_ref().expect("a gate is open");
    assert_eq!(gate.id.to_string(), "gate/nodegroup/apps");
    assert_eq!(gate.decision, None, "the abort closed it");
    // nothing was written on resuming
    drop(h.commands);
    let _ = h.task.await;
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), lines().len());
}
