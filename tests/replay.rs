//! `upshift replay`: the player over a fixed rollout (seek, play, the next decision,
//! a jump to a step, going back), the timeline written by the recorder and read back
//! (a torn line ignored), and the replay's screen at a decision and at the end,
//! snapshotted; then a journal without a timeline.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use upshift::cockpit::Cockpit;
use upshift::model::journal::{Decision, Entry, GateId, Header, StepId, StepState, Subject, What};
use upshift::model::rollout::{Criterion, GateView, Phase, RolloutState, StepView};
use upshift::model::signals::{GroupState, NodeRow, NodeState, Signals, Unscheduled};
use upshift::model::{Timestamp, availability::Availability};
use upshift::replay::player::{MomentKind, Player};
use upshift::timeline::Recorder;

const LEAD: &str = "ana@laptop";

fn t(secs: i64) -> Timestamp {
    "2030-03-01T10:00:00Z".parse::<Timestamp>().unwrap() + jiff::SignedDuration::from_secs(secs)
}

fn id(s: &str) -> StepId {
    s.parse().unwrap()
}

fn entry(seq: u64, secs: i64, who: &str, what: What) -> Entry {
    Entry {
        seq,
        at: t(secs),
        who: who.into(),
        what,
    }
}

fn decision(gate: &str, decision: Decision, reason: Option<&str>) -> What {
    What::Decision {
        step: Some(Subject::Gate(GateId::parse(gate).unwrap())),
        decision,
        reason: reason.map(str::to_string),
        target: None,
    }
}

fn step(s: &str, state: StepState) -> What {
    What::Step { step: id(s), state }
}

/// The journal of a small rollout: the control plane through a green gate, the node
/// group `apps` through a red gate overridden, a verdict with one open problem.
fn journal() -> Vec<Entry> {
    vec![
        entry(
            1,
            0,
            LEAD,
            What::Header(Header {
                cluster: "arn:aws:eks:eu-west-1:000000000000:cluster/shop".into(),
                kube_system_uid: None,
                plan: "sha256:0f".into(),
                target: "1.31".into(),
            }),
        ),
        entry(2, 0, LEAD, What::Drive { id: "d1".into() }),
        entry(3, 40, LEAD, decision("gate/control-plane", Decision::Proceed, None)),
        entry(4, 41, "upshift", step("control-plane", StepState::Running)),
        entry(5, 600, "upshift", step("control-plane", StepState::Done)),
        entry(
            6,
            700,
            LEAD,
            decision("gate/nodegroup/apps", Decision::Override, Some("ledger known flaky")),
        ),
        entry(7, 701, "upshift", step("nodegroup/apps", StepState::Running)),
        entry(8, 1500, "upshift", step("nodegroup/apps", StepState::Done)),
        entry(
            9,
            1510,
            "upshift",
            What::Verdict {
                problems: vec!["Deployment payments/ledger degraded (1/2 available)".into()],
            },
        ),
    ]
}

fn view(s: &str, label: &str, state: StepState) -> StepView {
    StepView {
        id: id(s),
        label: label.into(),
        state,
        ..Default::default()
    }
}

fn rollout(phase: Phase, cp: StepState, apps: StepState, current: usize, gate: Option<GateView>) -> RolloutState {
    RolloutState {
        cluster: "shop".into(),
        from: "1.30".into(),
        target: "1.31".into(),
        environment: "pre-production".into(),
        lead: LEAD.into(),
        updated: None,
        phase,
        steps: vec![
            view("control-plane", "control plane 1.30 → 1.31", cp),
            view("nodegroup/apps", "nodegroup apps → 1.31", apps),
            view("postflight", "check: every node on 1.31", StepState::Pending),
        ],
        current: Some(current),
        gate,
        notice: None,
        problems: Vec::new(),
        budgets_to_restore: Vec::new(),
        campaign: None,
        window: None,
        handed_to: None,
    }
}

fn red_gate(decided: Option<&str>) -> GateView {
    GateView {
        id: GateId::parse("gate/nodegroup/apps").unwrap(),
        title: "before nodegroup apps".into(),
        criteria: vec![
            Criterion {
                name: "unscheduled pods".into(),
                ok: false,
                detail: "2 (limit 0): payments/ledger-1, payments/ledger-2".into(),
                ..Default::default()
            },
            Criterion {
                name: "nodes Ready".into(),
                ok: true,
                detail: "3 of 3".into(),
                ..Default::default()
            },
        ],
        settle_seconds: 30,
        decision: decided.map(str::to_string),
        ..Default::default()
    }
}

fn node(name: &str, minor: &str, ready: bool, cordoned: bool) -> NodeRow {
    NodeRow {
        name: name.into(),
        group: "apps".into(),
        minor: minor.into(),
        kubelet: format!("v{minor}.4-eks"),
        zone: "eu-west-1a".into(),
        instance_type: "m5.large".into(),
        ready,
        cordoned,
        draining: cordoned,
        terminating: false,
        new: minor == "1.31",
        old: minor == "1.30",
        pods: 10,
        created: Some(t(0)),
    }
}

/// What the cockpit saw: three nodes on 1.30, then one cordoned with pods waiting,
/// then all three on 1.31.
fn signals(rows: Vec<NodeRow>, unscheduled: usize) -> Signals {
    let mut all = GroupState {
        name: "apps".into(),
        ..Default::default()
    };
    for r in &rows {
        all.total += 1;
        all.ready += usize::from(r.ready);
        all.cordoned += usize::from(r.cordoned);
        all.draining += usize::from(r.draining);
        all.new += usize::from(r.new);
        all.old += usize::from(r.old);
        *all.versions.entry(r.minor.clone()).or_default() += 1;
    }
    Signals {
        synced: true,
        nodes: NodeState {
            target: Some("1.31".into()),
            all: GroupState {
                name: String::new(),
                ..all.clone()
            },
            groups: vec![all],
            rows,
        },
        unscheduled: Unscheduled {
            count: unscheduled,
            reasons: if unscheduled > 0 {
                vec![("Insufficient cpu".into(), unscheduled)]
            } else {
                Vec::new()
            },
            pods: (1..=unscheduled)
                .map(|i| {
                    (
                        format!("payments/ledger-{i}"),
                        "0/3 nodes are available: 3 Insufficient cpu".into(),
                    )
                })
                .collect(),
            ..Default::default()
        },
        health: upshift::model::signals::NodeHealth {
            healthy: 3,
            ..Default::default()
        },
        availability: Availability::default(),
        ..Default::default()
    }
}

/// Writes the journal and, unless `bare`, its timeline through the recorder.
fn write_fixture(dir: &Path, bare: bool) -> PathBuf {
    let path = dir.join("journal.jsonl");
    let entries = journal();
    let text: String = entries
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    std::fs::write(&path, text).unwrap();
    if bare {
        return path;
    }
    let mut rec = Recorder::open(&upshift::timeline::path_for(&path)).unwrap();
    let old = signals(
        vec![
            node("ip-10-0-1-1", "1.30", true, false),
            node("ip-10-0-1-2", "1.30", true, false),
            node("ip-10-0-1-3", "1.30", true, false),
        ],
        0,
    );
    let gate_cp = GateView {
        id: GateId::parse("gate/control-plane").unwrap(),
        title: "before control plane".into(),
        passable: true,
        ..Default::default()
    };
    let at_gate = rollout(Phase::Gate, StepState::Pending, StepState::Pending, 0, Some(gate_cp));
    rec.observe(t(0), 2, &old, Some(&at_gate), true).unwrap();
    let cp = rollout(Phase::Running, StepState::Running, StepState::Pending, 0, None);
    rec.observe(t(41), 4, &old, Some(&cp), true).unwrap();
    // unchanged and too soon: nothing written
    assert!(!rec.observe(t(43), 4, &old, Some(&cp), false).unwrap());
    let red = signals(
        vec![
            node("ip-10-0-1-1", "1.30", true, true),
            node("ip-10-0-1-2", "1.30", true, false),
            node("ip-10-0-1-3", "1.30", true, false),
        ],
        2,
    );
    let gated = rollout(
        Phase::Gate,
        StepState::Done,
        StepState::Pending,
        1,
        Some(red_gate(None)),
    );
    rec.observe(t(650), 5, &red, Some(&gated), false).unwrap();
    let decided = rollout(
        Phase::Running,
        StepState::Done,
        StepState::Running,
        1,
        Some(red_gate(Some("override by ana@laptop: ledger known flaky"))),
    );
    rec.observe(t(700), 6, &red, Some(&decided), true).unwrap();
    let new = signals(
        vec![
            node("ip-10-0-2-1", "1.31", true, false),
            node("ip-10-0-2-2", "1.31", true, false),
            node("ip-10-0-2-3", "1.31", true, false),
        ],
        0,
    );
    let mut done = rollout(Phase::Done, StepState::Done, StepState::Done, 2, None);
    done.steps[2].state = StepState::Done;
    done.problems = vec!["Deployment payments/ledger degraded (1/2 available)".into()];
    rec.observe(t(1510), 9, &new, Some(&done), true).unwrap();
    path
}

fn screen(c: &Cockpit, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| {
        upshift::ui::draw(f, c);
    })
    .unwrap();
    term.backend().to_string()
}

fn press(l: &mut upshift::replay::Loaded, c: &mut Cockpit, jump: &mut Option<String>, code: KeyCode) -> bool {
    upshift::replay::key(
        &mut l.player,
        c,
        &l.notes,
        jump,
        KeyEvent::new(code, KeyModifiers::NONE),
    )
}

// ---------------------------------------------------------------- the player

#[test]
fn moments_are_in_time_and_the_next_decision_is_found_and_paused_at() {
    let mut p = Player::new(journal(), Vec::new());
    assert_eq!(p.len(), 9);
    assert_eq!(p.index(), 0);
    assert_eq!(p.next_decision(), Some(2));
    assert!(p.paused());
    assert_eq!(p.moment().unwrap().seq, 3);
    assert_eq!(p.next_decision(), Some(5));
    assert_eq!(p.moment().unwrap().seq, 6);
    // no decision after the override: nothing moves
    assert_eq!(p.next_decision(), None);
    assert_eq!(p.index(), 5);
}

#[test]
fn playing_moves_by_the_clusters_time_at_the_speed_and_stops_at_the_end() {
    let mut p = Player::new(journal(), Vec::new());
    assert_eq!(p.speed(), 60);
    // one real second at 60×: the entries of the first minute
    assert!(p.advance(Duration::from_secs(1)));
    assert_eq!(p.moment().unwrap().seq, 4);
    p.toggle_pause();
    assert!(!p.advance(Duration::from_secs(100)), "paused: nothing moves");
    p.toggle_pause();
    p.faster();
    assert_eq!(p.speed(), 120);
    p.slower();
    p.slower();
    assert_eq!(p.speed(), 30);
    assert!(p.advance(Duration::from_secs(3600)));
    assert!(p.at_end());
    assert!(p.paused(), "stops at the end");
    assert_eq!(p.frame().rollout.unwrap().phase, Phase::Done);
}

#[test]
fn seeking_back_and_forth_shows_the_rollout_as_the_journal_had_it() {
    let mut p = Player::new(journal(), Vec::new());
    p.seek(usize::MAX);
    let end = p.frame().rollout.unwrap();
    assert_eq!(end.phase, Phase::Done);
    assert_eq!(end.problems.len(), 1);
    assert!(end.steps.iter().all(|s| s.state == StepState::Done));
    p.seek(3);
    let early = p.frame();
    assert_eq!(early.seq, 4);
    let r = early.rollout.unwrap();
    assert_eq!(r.steps.len(), 1, "only the steps named so far");
    assert_eq!(r.steps[0].state, StepState::Running);
    assert!(early.signals.is_none(), "no timeline: no signals");
}

#[test]
fn a_jump_goes_to_where_the_step_started_or_says_why_not() {
    let mut p = Player::new(journal(), Vec::new());
    let i = p.jump_to_step(2).unwrap();
    match p.moment().unwrap().what {
        MomentKind::Entry { index, .. } => assert_eq!(p.entries()[index].seq, 7),
        MomentKind::Sample(_) => panic!("a sample at {i}"),
    }
    assert_eq!(p.jump_to_step(9).unwrap_err(), "no step 9: the rollout has 2 steps");
    assert_eq!(p.index(), i, "a refused jump moves nothing");
}

#[test]
fn the_timeline_is_folded_forward_and_again_after_going_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_fixture(dir.path(), false);
    let mut l = upshift::replay::load(&path).unwrap();
    assert!(l.player.has_timeline());
    assert!(l.notes.is_empty(), "{:?}", l.notes);
    let p = &mut l.player;
    assert_eq!(p.len(), 9 + 5, "nine entries and five samples");
    p.next_decision();
    p.next_decision();
    let f = p.frame();
    let s = f.signals.unwrap();
    assert_eq!(s.unscheduled.count, 2);
    assert_eq!(s.nodes.rows.iter().filter(|r| r.cordoned).count(), 1);
    assert!(!f.rollout.unwrap().gate.unwrap().criteria[0].ok);
    p.seek(usize::MAX);
    let s = p.frame().signals.unwrap();
    assert_eq!(s.nodes.rows.len(), 3, "the old nodes gone, the new ones in");
    assert!(s.nodes.rows.iter().all(|r| r.minor == "1.31"));
    p.seek(2);
    let s = p.frame().signals.unwrap();
    assert!(s.nodes.rows.iter().all(|r| r.minor == "1.30" && !r.cordoned));
}

#[test]
fn a_torn_last_line_is_ignored_and_recording_goes_on_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_fixture(dir.path(), false);
    let tl = upshift::timeline::path_for(&path);
    let mut f = std::fs::OpenOptions::new().append(true).open(&tl).unwrap();
    std::io::Write::write_all(&mut f, b"{\"at\":\"2030-03-01T10:30:00Z\",\"seq\":9,\"unsch").unwrap();
    drop(f);
    let read = upshift::timeline::read(&tl).unwrap().unwrap();
    assert_eq!((read.samples.len(), read.skipped), (5, 1));
    // a drive resumed: the torn line is closed and the next is whole
    let mut rec = Recorder::open(&tl).unwrap();
    rec.observe(t(1600), 9, &Signals::default(), None, true).unwrap();
    let read = upshift::timeline::read(&tl).unwrap().unwrap();
    assert_eq!((read.samples.len(), read.skipped), (6, 1));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&tl).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

// ---------------------------------------------------------------- the screen

#[test]
fn the_replay_screen_at_a_decision_and_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_fixture(dir.path(), false);
    let mut l = upshift::replay::load(&path).unwrap();
    l.connection.server = "journal.jsonl".into();
    let mut c = upshift::replay::cockpit(&mut l);
    let mut jump = None;
    assert!(!press(&mut l, &mut c, &mut jump, KeyCode::Char('n')));
    assert!(!press(&mut l, &mut c, &mut jump, KeyCode::Char('n')));
    let at_override = screen(&c, 120, 40);
    assert!(at_override.contains("REPLAY"), "{at_override}");
    assert!(at_override.contains("paused"), "{at_override}");
    assert!(at_override.contains("ledger known flaky"), "{at_override}");
    insta::assert_snapshot!("replay_at_override_120x40", at_override);
    assert!(!press(&mut l, &mut c, &mut jump, KeyCode::End));
    let end = screen(&c, 120, 40);
    assert!(end.contains("end"), "{end}");
    assert!(end.contains("payments/ledger degraded"), "{end}");
    insta::assert_snapshot!("replay_end_120x40", end);
    assert!(press(&mut l, &mut c, &mut jump, KeyCode::Char('q')));
}

#[test]
fn j_and_a_number_jump_to_a_step_and_a_wrong_one_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_fixture(dir.path(), false);
    let mut l = upshift::replay::load(&path).unwrap();
    let mut c = upshift::replay::cockpit(&mut l);
    let mut jump = None;
    press(&mut l, &mut c, &mut jump, KeyCode::Char('j'));
    press(&mut l, &mut c, &mut jump, KeyCode::Char('2'));
    press(&mut l, &mut c, &mut jump, KeyCode::Enter);
    assert_eq!(c.journal_seq(), 7, "the log up to the step's start");
    let r = c.rollout.clone().unwrap();
    assert_eq!(r.steps[1].state, StepState::Running);
    press(&mut l, &mut c, &mut jump, KeyCode::Char('7'));
    press(&mut l, &mut c, &mut jump, KeyCode::Enter);
    assert_eq!(c.view.message.as_deref(), Some("no step 7: the rollout has 3 steps"));
    assert_eq!(c.journal_seq(), 7);
    // going back empties the log to the moment shown
    press(&mut l, &mut c, &mut jump, KeyCode::Home);
    assert_eq!(c.journal_seq(), 1);
}

#[test]
fn a_journal_without_a_timeline_plays_the_rollout_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_fixture(dir.path(), true);
    let mut l = upshift::replay::load(&path).unwrap();
    assert!(!l.player.has_timeline());
    let mut c = upshift::replay::cockpit(&mut l);
    let mut jump = None;
    press(&mut l, &mut c, &mut jump, KeyCode::End);
    let s = screen(&c, 120, 40);
    assert!(s.contains("no timeline: rollout and events only"), "{s}");
    let r = c.rollout.clone().unwrap();
    assert_eq!(r.phase, Phase::Done);
    assert_eq!(r.problems.len(), 1);
}
