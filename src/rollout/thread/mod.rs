//! The rollout's communication thread, fed by the drive: every journal entry the drive
//! writes is turned into the events the team hears of (`translate`) and handed to the
//! notifier, which never blocks the drive. What each sink delivered is recorded in a
//! file beside the journal (`<journal>.notify.jsonl`): the journal keeps one writer,
//! the drive's task, and a resumed drive reads the record back, sends its whole
//! history again and skips what was delivered — nothing twice, nothing lost.
//! Failed deliveries are shown in the lead's event log and recorded once.

mod record;
pub mod translate;

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::model::journal::{Entry, What as Journaled};
use crate::model::rollout::RolloutState;
use crate::model::{Level, Timestamp};
use crate::notify::{Notifier, NotifierHandle, NotifyConfig, Outcome};
use crate::rollout::plan::Plan;
use crate::units::Now;

pub use record::{Record, RecordError};
use translate::{Seen, Translator};

/// How long the thread waits, once the drive is over, for the verdict to get out.
pub const DRAIN_WAIT: Duration = Duration::from_secs(15);

/// Where the record of deliveries is kept for a journal.
pub fn record_path(journal: &Path) -> PathBuf {
    let mut name = journal.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".notify.jsonl");
    journal.with_file_name(name)
}

/// The plan's digest as the journal's header names it, so the thread names exactly
/// what was run.
pub fn plan_digest(plan: &Plan) -> String {
    crate::rollout::identity::plan_digest(plan)
}

#[derive(Debug, thiserror::Error)]
pub enum ThreadError {
    #[error("{0}")]
    Config(#[from] crate::notify::config::ConfigError),
    #[error(transparent)]
    Start(#[from] crate::notify::sender::StartError),
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// The running thread: ask it to finish when the drive is over.
pub struct Thread {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Vec<String>>,
}

/// What the thread is started from.
pub struct ThreadSetup<'a> {
    pub plan: &'a Plan,
    pub config: &'a NotifyConfig,
    /// Names the section in errors: `plan.yaml: notify`.
    pub at: String,
    pub journal: &'a Path,
    pub who: String,
    pub now: Now,
}

impl Thread {
    /// Starts the notifier (secrets read now: a missing one is an error before the
    /// drive acts) and puts the thread between the drive's entries and the cockpit:
    /// returns the stream the cockpit reads instead, and warnings to show.
    pub fn start(
        s: ThreadSetup<'_>,
        entries: mpsc::UnboundedReceiver<Entry>,
        state: watch::Receiver<RolloutState>,
    ) -> Result<(Thread, mpsc::UnboundedReceiver<Entry>, Vec<String>), ThreadError> {
        let resolved = s.config.resolve(&s.at, &|k| std::env::var(k).ok())?;
        let warnings = resolved.warnings.clone();
        let record = Record::open(&record_path(s.journal))?;
        let (handle, outcomes) = Notifier::start(resolved, record.resume())?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        let first = Translator::started(s.plan, &s.who, (s.now)(), &plan_digest(s.plan));
        let tap = Tap {
            translator: Translator::new(s.plan),
            handle,
            record,
            forward: tx,
            state,
            who: s.who,
            now: s.now,
        };
        let task = tokio::spawn(tap.run(first, entries, outcomes, stop_rx));
        Ok((
            Thread {
                stop: Some(stop_tx),
                task,
            },
            rx,
            warnings,
        ))
    }

    /// Lets every sink deliver what it holds (at most [`DRAIN_WAIT`]) and says what
    /// was not delivered, one line per sink and event.
    pub async fn finish(mut self) -> Vec<String> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match tokio::time::timeout(DRAIN_WAIT + Duration::from_secs(2), self.task).await {
            Ok(Ok(undelivered)) => undelivered,
            Ok(Err(e)) => vec![format!("the notifications task stopped: {e}")],
            Err(_) => vec!["notifications were still being sent when upshift stopped waiting".into()],
        }
    }
}

struct Tap {
    translator: Translator,
    handle: NotifierHandle,
    record: Record,
    forward: mpsc::UnboundedSender<Entry>,
    state: watch::Receiver<RolloutState>,
    who: String,
    now: Now,
}

impl Tap {
    async fn run(
        mut self,
        first: crate::notify::Event,
        mut entries: mpsc::UnboundedReceiver<Entry>,
        mut outcomes: mpsc::UnboundedReceiver<Outcome>,
        mut stop: oneshot::Receiver<()>,
    ) -> Vec<String> {
        self.handle.send(first);
        loop {
            tokio::select! {
                e = entries.recv() => match e {
                    Some(e) => self.entry(e),
                    None => break,
                },
                Some(o) = outcomes.recv() => self.outcome(o),
                _ = &mut stop => break,
            }
        }
        let deadline = tokio::time::Instant::now() + DRAIN_WAIT;
        let report = self.handle.drain(deadline).await;
        while let Ok(o) = outcomes.try_recv() {
            self.outcome(o);
        }
        report
            .undelivered
            .iter()
            .map(|(sink, id)| format!("notification {id} was not delivered to {sink}"))
            .collect()
    }

    fn entry(&mut self, e: Entry) {
        // seq 0: the drive's own notes for the screen, not journaled
        if e.seq > 0 && !self.translator.finished() {
            let st = self.state.borrow();
            let seen = Seen {
                gate: st.gate.clone(),
                phase: st.phase.clone(),
            };
            drop(st);
            for ev in self.translator.events(&e, &seen) {
                self.handle.send(ev);
            }
        }
        let _ = self.forward.send(e);
    }

    fn outcome(&mut self, o: Outcome) {
        let note = match &o {
            Outcome::Delivered { .. } => None,
            Outcome::Failed {
                event_id,
                sink,
                error,
                attempt: 1,
                will_retry,
            } => Some((
                Level::Warning,
                format!(
                    "{sink}: event {event_id} not delivered: {error}{}",
                    if *will_retry { "; trying again" } else { "" }
                ),
            )),
            Outcome::Failed { .. } => None,
            Outcome::GaveUp {
                event_id,
                sink,
                error,
                attempts,
            } => Some((
                Level::Error,
                format!("{sink}: gave up on event {event_id} after {attempts} attempts: {error}"),
            )),
            Outcome::ThreadNotUpdated { sink, error, .. } => Some((
                Level::Warning,
                format!("{sink}: the thread's first message was not updated: {error}"),
            )),
            Outcome::Dropped {
                event_id,
                sink,
                severity,
                ..
            } => Some((
                Level::Warning,
                format!(
                    "{sink}: event {event_id} ({}) dropped: the sink fell too far behind",
                    severity.as_str()
                ),
            )),
        };
        let first_time = match self.record.add(&o, (self.now)()) {
            Ok(first) => first,
            Err(e) => {
                self.show(Level::Error, format!("recording a delivery: {e}"));
                true
            }
        };
        if let Some((level, message)) = note
            && first_time
        {
            self.show(level, message);
        }
    }

    /// A line in the lead's event log (not journaled: the record keeps deliveries).
    fn show(&self, level: Level, message: String) {
        let at: Timestamp = (self.now)();
        let _ = self.forward.send(Entry {
            seq: 0,
            at,
            who: self.who.clone(),
            what: Journaled::Event {
                level,
                object: "notify".into(),
                reason: "NotifyFailed".into(),
                message,
            },
        });
    }
}

#[cfg(test)]
mod tests;
