//! `upshift drive --headless`: the lead's cockpit without a screen. Where the rollout
//! stands goes to stdout, one line each time it changes; the journal goes to stderr;
//! the lead's decisions come from stdin, one command a line. The cluster model behind
//! the gates is the cockpit's own, fed by the same watches.

use std::fmt::Display;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::cluster::ClusterReader;
use crate::cockpit::Cockpit;
use crate::cockpit::lead::{DriveFeed, HEALTH_EVERY};
use crate::model::journal::{StepId, StepState, What};
use crate::model::rollout::{Command, Phase, RolloutState};
use crate::model::{Health, Timestamp};
use crate::timeline::Recorder;

/// What the commands read from stdin are: `proceed`, `override REASON`, …
pub const COMMANDS: &str = "proceed, override REASON, confirm CLUSTER, pause, resume, abort, retry, force GROUP, wait, skip-node, delete-pod POD, auto on|off, stop-at-safe-point, handover NAME";

/// A line of stdin as a command for the drive.
pub fn parse_command(line: &str) -> Result<Command, String> {
    let line = line.trim();
    let (word, rest) = line.split_once(' ').map_or((line, ""), |(w, r)| (w, r.trim()));
    Ok(match word {
        "proceed" => Command::Proceed,
        "override" => Command::Override { reason: rest.into() },
        "confirm" => Command::ConfirmCluster { name: rest.into() },
        "pause" => Command::Pause,
        "resume" => Command::Resume,
        "abort" => Command::Abort,
        "retry" => Command::Retry,
        "force" => Command::Force { confirm: rest.into() },
        "wait" => Command::KeepWaiting,
        "skip-node" => Command::SkipNode,
        "delete-pod" => Command::DeletePod { confirm: rest.into() },
        "auto" => Command::AutoContinue(rest == "on"),
        "stop-at-safe-point" => Command::StopAtSafePoint,
        "handover" => Command::Handover { to: rest.into() },
        other => return Err(format!("unknown command {other:?}: {COMMANDS}")),
    })
}

/// One line for a state: the phase, the current step, and the gate.
pub fn state_line(s: &RolloutState) -> String {
    let step = s
        .current_step()
        .map(|v| {
            if v.what.is_empty() {
                format!(" · {} {}", v.label, v.state.as_str())
            } else {
                format!(" · {} {}: {}", v.label, v.state.as_str(), v.what)
            }
        })
        .unwrap_or_default();
    let extra = match &s.phase {
        Phase::Gate => s
            .gate
            .as_ref()
            .map(|g| {
                let red: Vec<String> = g
                    .criteria
                    .iter()
                    .filter(|c| !c.ok)
                    .map(|c| format!("{}: {}", c.name, c.detail))
                    .collect();
                if red.is_empty() {
                    format!(" · gate {} green{}", g.title, if g.passable { ", settled" } else { "" })
                } else {
                    format!(" · gate {} red: {}", g.title, red.join("; "))
                }
            })
            .unwrap_or_default(),
        Phase::Held { node, pod, why, .. } => format!(" · node {node}: pod {pod} held by {why}"),
        Phase::Failed { why, what_to_do, .. } => format!(" · {why}. {what_to_do}"),
        Phase::Aborted { detail } => format!(" · {detail}"),
        Phase::Done if !s.problems.is_empty() => format!(
            " · done with {}: {}",
            crate::model::rollout::open_problems(s.problems.len()),
            s.problems.join("; ")
        ),
        _ => String::new(),
    };
    let window = s
        .window
        .as_ref()
        .and_then(|w| w.warning.as_ref())
        .map(|w| format!(" · {w}"))
        .unwrap_or_default();
    let notice = s.notice.as_ref().map(|n| format!(" · {n}")).unwrap_or_default();
    format!("{}{step}{extra}{window}{notice}", s.phase.name())
}

/// ` · running 6m of the 10–25m EKS usually takes`: the current step's time against
/// what it should take, in whole minutes, when it runs and `began` (the step and when
/// the journal says it began running) is about it. Measured on the drive's clock: the
/// state's own time.
pub fn eta_suffix(s: &RolloutState, began: Option<&(StepId, Timestamp)>) -> String {
    let Some(step) = s.current_step() else {
        return String::new();
    };
    match (began, s.updated) {
        (Some((id, at)), Some(now)) if *id == step.id => crate::cockpit::eta::line(step, *at, now, true)
            .map(|l| format!(" · {l}"))
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// The verdict, one line each: `verdict: done` or `verdict: open problem: …` per problem.
pub fn verdict_lines(s: &RolloutState) -> Vec<String> {
    if s.phase != Phase::Done {
        return Vec::new();
    }
    if s.problems.is_empty() {
        return vec!["verdict: done, no open problem".to_string()];
    }
    let mut out = vec![format!(
        "verdict: done with {}",
        crate::model::rollout::open_problems(s.problems.len())
    )];
    out.extend(s.problems.iter().map(|p| format!("verdict: open problem: {p}")));
    out
}

/// Why the headless drive ended badly.
#[derive(Debug, thiserror::Error)]
pub enum Ended {
    /// The drive stopped on an error (journal, lease).
    #[error("{0}")]
    Drive(String),
    /// The drive's task did not finish (it panicked or was cancelled).
    #[error("the drive stopped: {0}")]
    Task(tokio::task::JoinError),
}

/// Runs the lead's cockpit without a screen until the rollout is finished (or stdin
/// and the drive are both done). `cockpit` is the lead's: stdin's commands go
/// through its controls. `task` is the drive's own task.
pub async fn run<E: Display>(
    reader: ClusterReader,
    mut cockpit: Cockpit,
    feed: DriveFeed,
    task: JoinHandle<Result<RolloutState, E>>,
) -> Result<(), Ended> {
    let DriveFeed {
        mut state,
        mut entries,
        health,
        timeline,
    } = feed;
    let mut timeline = Timeline::open(timeline);
    let mut current = RolloutState::default();
    let (tx, mut rx) = mpsc::channel(256);
    let _watches = reader.start(tx);
    let mut every = tokio::time::interval(HEALTH_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut lines = stdin_lines();
    let mut stdin_open = true;
    let mut last = String::new();
    // the step that last began running, and when (the journal's time)
    let mut began: Option<(StepId, Timestamp)> = None;
    let finished = loop {
        tokio::select! {
            Some(delta) = rx.recv() => cockpit.take_in(delta, &mut rx),
            _ = every.tick() => {
                cockpit.refresh();
                health.send_replace(Health::from_signals(&cockpit.signals));
                timeline.record(&cockpit, &current, false);
            }
            changed = state.changed() => {
                if changed.is_err() {
                    break state.borrow().clone();
                }
                let s = state.borrow_and_update().clone();
                current = s.clone();
                timeline.record(&cockpit, &current, s.finished());
                let line = format!("{}{}", state_line(&s), eta_suffix(&s, began.as_ref()));
                if line != last {
                    println!("{line}");
                    last = line;
                }
                if s.finished() {
                    break s;
                }
            }
            Some(e) = entries.recv() => {
                if let What::Step { step, state: StepState::Running } = &e.what {
                    began = Some((step.clone(), e.at));
                }
                let l = crate::cockpit::journal_log_entry(&e);
                eprintln!("journal: {} {} {}", l.object, l.reason, l.message);
                timeline.entry(&mut cockpit, &current, &e);
            }
            line = lines.recv(), if stdin_open => match line {
                Some(l) if l.trim().is_empty() => {}
                Some(l) => match parse_command(&l) {
                    Ok(c) => {
                        if let Err(e) = cockpit.decide(c) {
                            eprintln!("{e}");
                        }
                    }
                    Err(e) => eprintln!("{e}"),
                },
                _ => stdin_open = false,
            },
        }
    };
    // the drive ends once no decision can reach it any more
    let mut cockpit = cockpit;
    let result = task.await;
    // the entries journaled after the state was seen finished, and the state's last word
    while let Ok(e) = entries.try_recv() {
        let l = crate::cockpit::journal_log_entry(&e);
        eprintln!("journal: {} {} {}", l.object, l.reason, l.message);
        timeline.entry(&mut cockpit, &finished, &e);
    }
    timeline.record(&cockpit, &finished, true);
    drop(cockpit);
    match result {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(Ended::Drive(e.to_string())),
        Err(e) => return Err(Ended::Task(e)),
    }
    // the state's last line, unless it was the last one printed
    let end = state_line(&finished);
    if !last.starts_with(&end) {
        println!("{end}");
    }
    for p in verdict_lines(&finished) {
        println!("{p}");
    }
    Ok(())
}

/// The timeline a headless drive records, on the wall clock (the drive's clock on
/// `drive`); a timeline that fails is said once on stderr and recording stops.
struct Timeline {
    recorder: Option<Recorder>,
    seq: u64,
}

impl Timeline {
    fn open(path: Option<std::path::PathBuf>) -> Timeline {
        let recorder = path.and_then(|p| match Recorder::open(&p) {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("warning: {e}");
                None
            }
        });
        Timeline { recorder, seq: 0 }
    }

    fn entry(&mut self, cockpit: &mut Cockpit, state: &RolloutState, e: &crate::model::journal::Entry) {
        self.seq = self.seq.max(e.seq);
        cockpit.refresh();
        self.write(cockpit, state, e.at, true);
    }

    fn record(&mut self, cockpit: &Cockpit, state: &RolloutState, force: bool) {
        self.write(cockpit, state, cockpit.connection.clock.now(), force);
    }

    fn write(&mut self, cockpit: &Cockpit, state: &RolloutState, at: jiff::Timestamp, force: bool) {
        let Some(r) = &mut self.recorder else { return };
        let rollout = (state.updated.is_some() || !state.steps.is_empty()).then_some(state);
        if let Err(e) = r.observe(at, self.seq, &cockpit.signals, rollout, force) {
            eprintln!("warning: {e}");
            self.recorder = None;
        }
    }
}

/// Stdin's lines, read on a thread of their own: a read that never returns (stdin
/// left open) then holds nothing back when the rollout ends and the process exits,
/// as a read on the runtime's blocking pool would.
fn stdin_lines() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Keeps a cluster model without a screen and tells the drive its health, every
/// [`HEALTH_EVERY`], until the drive stops listening: what the tests and benchmarks
/// run beside a drive they decide for themselves.
pub async fn feed_health(reader: ClusterReader, mut cockpit: Cockpit, health: watch::Sender<Health>) {
    let (tx, mut rx) = mpsc::channel(256);
    let _watches = reader.start(tx);
    let mut every = tokio::time::interval(HEALTH_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            d = rx.recv() => match d {
                Some(delta) => cockpit.take_in(delta, &mut rx),
                None => return,
            },
            _ = every.tick() => {
                cockpit.refresh();
                if health.send(Health::from_signals(&cockpit.signals)).is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_command_word_reads_and_others_are_refused_with_the_list() {
        assert_eq!(parse_command("proceed"), Ok(Command::Proceed));
        assert_eq!(
            parse_command(" override  the alarm is known "),
            Ok(Command::Override {
                reason: "the alarm is known".into()
            })
        );
        assert_eq!(
            parse_command("confirm demo"),
            Ok(Command::ConfirmCluster { name: "demo".into() })
        );
        assert_eq!(parse_command("wait"), Ok(Command::KeepWaiting));
        assert_eq!(parse_command("skip-node"), Ok(Command::SkipNode));
        assert_eq!(
            parse_command("delete-pod batch/worker-1"),
            Ok(Command::DeletePod {
                confirm: "batch/worker-1".into()
            })
        );
        assert_eq!(parse_command("auto on"), Ok(Command::AutoContinue(true)));
        assert_eq!(parse_command("auto off"), Ok(Command::AutoContinue(false)));
        assert_eq!(parse_command("stop-at-safe-point"), Ok(Command::StopAtSafePoint));
        assert_eq!(parse_command("handover bo"), Ok(Command::Handover { to: "bo".into() }));
        let e = parse_command("go").unwrap_err();
        assert!(e.contains("\"go\"") && e.contains(COMMANDS), "{e}");
    }

    #[test]
    fn the_verdict_names_each_open_problem() {
        let mut s = RolloutState {
            phase: Phase::Done,
            ..Default::default()
        };
        assert_eq!(verdict_lines(&s), ["verdict: done, no open problem"]);
        s.problems = vec!["Deployment shop/recommendations 0/6 available (all before the rollout)".into()];
        assert_eq!(
            verdict_lines(&s),
            [
                "verdict: done with 1 open problem",
                "verdict: open problem: Deployment shop/recommendations 0/6 available (all before the rollout)"
            ]
        );
        assert!(
            state_line(&s).contains("done with 1 open problem:"),
            "{}",
            state_line(&s)
        );
    }

    #[test]
    fn a_running_add_on_says_its_time_against_the_usual_on_the_drives_clock() {
        use crate::model::rollout::StepView;
        let addon = StepId::Addon("coredns".into());
        let began: Timestamp = "2025-06-02T14:00:00Z".parse().unwrap();
        let s = RolloutState {
            phase: Phase::Running,
            steps: vec![StepView {
                id: addon.clone(),
                label: "addon coredns".into(),
                state: StepState::Running,
                ..Default::default()
            }],
            current: Some(0),
            updated: Some("2025-06-02T14:03:20Z".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(
            eta_suffix(&s, Some(&(addon, began))),
            " · running 3m of the 1–5m an add-on usually takes"
        );
        // a time about another step, or none, says nothing
        assert_eq!(eta_suffix(&s, Some(&(StepId::ControlPlane, began))), "");
        assert_eq!(eta_suffix(&s, None), "");
    }

    #[test]
    fn a_state_line_says_the_phase_the_step_and_what_is_red() {
        use crate::model::rollout::{Criterion, GateView, StepView};
        let s = RolloutState {
            phase: Phase::Gate,
            steps: vec![StepView {
                id: crate::model::journal::StepId::ControlPlane,
                label: "control plane".into(),
                state: crate::model::journal::StepState::Gate,
                ..Default::default()
            }],
            current: Some(0),
            gate: Some(GateView {
                title: "before control plane".into(),
                criteria: vec![Criterion {
                    name: "nodes Ready".into(),
                    ok: false,
                    detail: "11 of 12".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            notice: Some("the gate is red".into()),
            ..Default::default()
        };
        assert_eq!(
            state_line(&s),
            "at gate · control plane gate · gate before control plane red: nodes Ready: 11 of 12 · the gate is red"
        );
    }
}
