//! The cockpit's loop: batches of changes from the watches, terminal events and a
//! one-second tick come in through one `select!`; the screen is drawn only when
//! something changed, at most 20 times a second. No I/O happens on this path: the
//! watches run in their own tasks and hand over compact, already-projected records.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;

use crate::cluster::ClusterReader;
use crate::cluster::pod_detail::PodDetail;
use crate::cockpit::Cockpit;
use crate::cockpit::lead::{DriveFeed, HEALTH_EVERY};
use crate::model::journal::Entry;
use crate::model::rollout::Command;
use crate::model::{Health, Level, LogEntry, RolloutState, Timestamp};
use crate::timeline::Recorder;
use crate::tui::{Signal, Signals, Tui};
use crate::ui::{self, Intent};

/// The shortest time between two frames.
pub const FRAME: Duration = Duration::from_millis(50);

/// Sends the drive the cluster's health as the cockpit sees it, at most every
/// [`HEALTH_EVERY`].
fn send_health(
    cockpit: &mut Cockpit,
    health: Option<&tokio::sync::watch::Sender<Health>>,
    last: &mut Option<std::time::Instant>,
) {
    let Some(h) = health else { return };
    if last.is_some_and(|t| t.elapsed() < HEALTH_EVERY) {
        return;
    }
    cockpit.refresh();
    h.send_replace(Health::from_signals(&cockpit.signals));
    *last = Some(std::time::Instant::now());
}

/// The next journal entry from the drive, or never without one.
async fn next_entry(entries: &mut Option<mpsc::UnboundedReceiver<Entry>>) -> Option<Entry> {
    match entries {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The drive's state once it changed, or never without a drive (or once it ended).
async fn next_state(
    state: &mut Option<tokio::sync::watch::Receiver<RolloutState>>,
    ended: bool,
) -> Option<RolloutState> {
    match state {
        Some(rx) if !ended => match rx.changed().await {
            Ok(()) => Some(rx.borrow_and_update().clone()),
            Err(_) => None,
        },
        _ => std::future::pending().await,
    }
}

/// A pod's read result: its `namespace/name`, its containers and logs or why not.
type PodRead = (String, Result<PodDetail, String>);

/// Reads pod `key`'s containers and logs in a task of its own; the result comes
/// back to the loop through `tx`.
fn read_pod(reader: &ClusterReader, key: String, tx: mpsc::UnboundedSender<PodRead>) {
    let reader = reader.clone();
    tokio::spawn(async move {
        let (namespace, name) = key.split_once('/').unwrap_or(("", key.as_str()));
        let result = reader
            .pod_detail(namespace, name)
            .await
            .map_err(|e| format!("cannot read pod {key}: {e}"));
        let _ = tx.send((key.clone(), result));
    });
}

/// Opens the timeline the drive asked for; a timeline that cannot be opened is said
/// in the event log and the drive goes on without it.
pub fn open_timeline(path: Option<std::path::PathBuf>, cockpit: &mut Cockpit) -> Option<Recorder> {
    match Recorder::open(&path?) {
        Ok(r) => Some(r),
        Err(e) => {
            cockpit
                .log
                .push(LogEntry::local(Level::Warning, "Timeline", e.to_string()));
            None
        }
    }
}

/// Records what the cockpit shows in the timeline (see [`Recorder::observe`]); a
/// failed write is said once in the event log and ends the recording.
fn record(timeline: &mut Option<Recorder>, cockpit: &mut Cockpit, at: Timestamp, seq: u64, entry: bool) {
    let Some(t) = timeline else { return };
    cockpit.refresh();
    if let Err(e) = t.observe(at, seq, &cockpit.signals, cockpit.rollout.as_ref(), entry) {
        cockpit
            .log
            .push(LogEntry::local(Level::Warning, "Timeline", e.to_string()));
        *timeline = None;
    }
}

/// How the cockpit's loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The user quit (or the terminal's input ended).
    Quit,
    /// A signal: the terminal is restored; the caller exits with its code.
    Signal(Signal),
}

/// Runs the cockpit on a terminal until the user quits: read-only without a drive,
/// the lead's with one (the cockpit holds the controls its keys' decisions go
/// through; `drive` is what the loop reads from that drive). `now` tells the time
/// ages are measured against: the wall clock, or a simulator's virtual clock.
pub async fn run(
    reader: ClusterReader,
    mut cockpit: Cockpit,
    now: impl Fn() -> jiff::Timestamp,
    drive: Option<DriveFeed>,
) -> std::io::Result<Ended> {
    let has_drive = drive.is_some();
    let (mut states, mut entries, health, timeline) = match drive {
        Some(d) => (Some(d.state), Some(d.entries), Some(d.health), d.timeline),
        None => (None, None, None, None),
    };
    let mut timeline = open_timeline(timeline, &mut cockpit);
    let mut seq = 0;
    let (tx, mut rx) = mpsc::channel(256);
    let _watches = reader.start(tx);
    let mut signals = Signals::catch()?;
    let mut tui = Tui::start()?;
    let mut keys = crossterm::event::EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut frame = tokio::time::interval(FRAME);
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut health_at = None;
    let mut ended = false;
    let (pod_tx, mut pod_rx) = mpsc::unbounded_channel();
    loop {
        if let Some(key) = cockpit.take_pod_request() {
            read_pod(&reader, key, pod_tx.clone());
        }
        tokio::select! {
            sig = signals.recv() => {
                if has_drive {
                    // the drive journals that it stopped, and why
                    let _ = cockpit.decide(Command::Stop {
                        reason: format!("stopped by signal {}", sig.name()),
                    });
                }
                return Ok(Ended::Signal(sig));
            }
            Some(delta) = rx.recv() => cockpit.take_in(delta, &mut rx),
            Some((key, result)) = pod_rx.recv() => cockpit.pod_detail_read(&key, result),
            Some(entry) = next_entry(&mut entries) => {
                cockpit.note_journal(std::slice::from_ref(&entry));
                seq = seq.max(entry.seq);
                record(&mut timeline, &mut cockpit, entry.at, seq, true);
            }
            state = next_state(&mut states, ended) => match state {
                Some(s) => {
                    let finished = s.finished();
                    let handed_to = s.handed_to.clone();
                    cockpit.set_rollout(s);
                    if let Some(to) = handed_to {
                        // the seat is the new lead's: this one follows the ConfigMap
                        cockpit.hand_over_seat(&to);
                    }
                    record(&mut timeline, &mut cockpit, now(), seq, finished);
                }
                None => ended = true,
            },
            event = keys.next() => match event {
                Some(Ok(crossterm::event::Event::Key(key))) if key.kind != crossterm::event::KeyEventKind::Release => {
                    cockpit.dirty = true;
                    match ui::handle_key(&mut cockpit, key) {
                        Some(Intent::Quit) => {
                            record(&mut timeline, &mut cockpit, now(), seq, true);
                            break;
                        }
                        Some(Intent::Drive(command)) => {
                            // a decision that cannot be sent is said on screen and in the log
                            let _ = cockpit.decide(command);
                        }
                        None => {}
                    }
                }
                Some(Ok(crossterm::event::Event::Resize(..))) => {
                    tui.terminal.autoresize()?;
                    cockpit.dirty = true;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => break,
            },
            _ = tick.tick() => {
                cockpit.tick(now());
                send_health(&mut cockpit, health.as_ref(), &mut health_at);
                record(&mut timeline, &mut cockpit, now(), seq, false);
            }
            _ = frame.tick() => {
                if cockpit.dirty {
                    cockpit.refresh();
                    send_health(&mut cockpit, health.as_ref(), &mut health_at);
                    let mut measured = Default::default();
                    tui.draw(|f| measured = ui::draw(f, &cockpit))?;
                    cockpit.view.remember(&measured);
                    cockpit.dirty = false;
                }
            }
        }
    }
    Ok(Ended::Quit)
}
