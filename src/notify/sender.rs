//! Sending never blocks the drive. [`NotifierHandle::send`] is a plain function: it
//! folds the event into the rollout's summary and puts it on each sink's bounded
//! queue, then returns. One task per sink delivers its queue in order, trying again
//! with exponential backoff and jitter, and waiting as long as a service's
//! `Retry-After` (or Slack's `ratelimited`) asks. What happens is reported on a
//! channel — delivered (with a receipt to journal), failed (and whether it will be
//! tried again), given up, dropped — for the drive's event log and journal.
//!
//! A full queue drops its oldest info event (then its oldest warning) and reports it;
//! failures and the verdict are never dropped. Built with the event ids each sink
//! already delivered (from the journal), the notifier skips them: after a resume the
//! drive sends its whole history again, nothing is sent twice, and whatever had not
//! got out is sent.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;

use super::config::SinkName;
use super::event::{Event, EventId, Severity};
use super::http::Http;
use super::resolve::ResolvedConfig;
use super::sink::{Receipt, Sink};
use super::slack::SlackThread;
use super::summary::Summary;
use super::worker::Worker;

/// What a previous run of this rollout got out, read back from the journal.
#[derive(Clone, Debug, Default)]
pub struct Resume {
    /// Event ids each sink delivered.
    pub delivered: HashMap<SinkName, HashSet<EventId>>,
    /// The Slack thread each Slack sink started (from its receipts).
    pub slack_threads: HashMap<SinkName, SlackThread>,
}

impl Resume {
    /// Records a delivery, as the drive does when it reads a journaled receipt back.
    pub fn delivered(&mut self, sink: &SinkName, id: &EventId, receipt: &Receipt) {
        self.delivered.entry(sink.clone()).or_default().insert(id.clone());
        if let Some(thread) = receipt.slack_thread() {
            self.slack_threads.entry(sink.clone()).or_insert(thread);
        }
    }
}

/// What became of an event at one sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered; journal the receipt (for Slack it holds the thread to resume in).
    Delivered {
        event_id: EventId,
        sink: SinkName,
        receipt: Receipt,
    },
    /// One attempt failed. `attempt` counts from 1 (journal the first); `will_retry`
    /// says whether another attempt follows.
    Failed {
        event_id: EventId,
        sink: SinkName,
        error: String,
        attempt: u32,
        will_retry: bool,
    },
    /// No more attempts: the event is not delivered to this sink (a resume sends it again).
    GaveUp {
        event_id: EventId,
        sink: SinkName,
        error: String,
        attempts: u32,
    },
    /// The Slack thread's parent message could not be brought up to date (the replies
    /// are in the thread). `will_retry`: it is tried again.
    ThreadNotUpdated {
        sink: SinkName,
        error: String,
        will_retry: bool,
    },
    /// The sink's queue was full and this event was dropped from it.
    Dropped {
        event_id: EventId,
        sink: SinkName,
        severity: Severity,
    },
}

/// What was still undelivered when a drain ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DrainReport {
    pub undelivered: Vec<(SinkName, EventId)>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("notifications cannot start: {0}")]
    Http(String),
}

/// One sink's queue and what its task has done.
pub(super) struct Lane {
    pub(super) name: SinkName,
    pub(super) min_severity: Severity,
    pub(super) state: Mutex<LaneState>,
    pub(super) wake: Notify,
}

#[derive(Default)]
pub(super) struct LaneState {
    pub(super) queue: VecDeque<Arc<Event>>,
    pub(super) queued: HashSet<EventId>,
    pub(super) in_flight: Option<EventId>,
    pub(super) delivered: HashSet<EventId>,
    pub(super) closing: bool,
}

struct Shared {
    lanes: Vec<Arc<Lane>>,
    summary: Arc<Mutex<Summary>>,
    /// Events already folded into the summary (the drive may send one twice).
    folded: Mutex<HashSet<EventId>>,
    outcomes: UnboundedSender<Outcome>,
    capacity: usize,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Shared {
    /// The last handle gone: each task finishes what is queued, then stops.
    fn drop(&mut self) {
        for lane in &self.lanes {
            lane.state.lock().closing = true;
            lane.wake.notify_one();
        }
    }
}

/// Starts notifiers.
pub struct Notifier;

/// Sends events; cheap to clone.
#[derive(Clone)]
pub struct NotifierHandle {
    shared: Arc<Shared>,
}

impl Notifier {
    /// Starts one delivery task per sink (inside a Tokio runtime). The receiver gets
    /// every [`Outcome`]; the drive must keep reading it.
    pub fn start(
        config: ResolvedConfig,
        resume: Resume,
    ) -> Result<(NotifierHandle, UnboundedReceiver<Outcome>), StartError> {
        let http = Http::new(config.settings.timeout).map_err(StartError::Http)?;
        let (tx, rx) = unbounded_channel();
        let summary = Arc::new(Mutex::new(Summary::default()));
        let mut lanes = Vec::new();
        let mut tasks = Vec::new();
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        for (i, resolved) in config.sinks.iter().enumerate() {
            let thread = resume.slack_threads.get(&resolved.name).cloned();
            let sink = Sink::new(resolved, thread);
            let lane = Arc::new(Lane {
                name: resolved.name.clone(),
                min_severity: resolved.min_severity,
                state: Mutex::new(LaneState {
                    delivered: resume.delivered.get(&resolved.name).cloned().unwrap_or_default(),
                    ..LaneState::default()
                }),
                wake: Notify::new(),
            });
            let worker = Worker::new(
                lane.clone(),
                sink,
                http.clone(),
                summary.clone(),
                tx.clone(),
                config.settings.clone(),
                seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            tasks.push(tokio::spawn(worker.run()));
            lanes.push(lane);
        }
        let shared = Shared {
            lanes,
            summary,
            folded: Mutex::new(HashSet::new()),
            outcomes: tx,
            capacity: config.settings.queue.max(1),
            tasks: Mutex::new(tasks),
        };
        Ok((
            NotifierHandle {
                shared: Arc::new(shared),
            },
            rx,
        ))
    }
}

impl NotifierHandle {
    /// Queues `event` for every sink that takes it, and returns at once. Never waits.
    pub fn send(&self, event: Event) {
        if self.shared.folded.lock().insert(event.id.clone()) {
            self.shared.summary.lock().apply(&event);
        }
        let severity = event.severity();
        let verdict = event.is_verdict();
        let event = Arc::new(event);
        for lane in &self.shared.lanes {
            if severity < lane.min_severity && !verdict {
                continue;
            }
            let dropped = {
                let mut st = lane.state.lock();
                if st.delivered.contains(&event.id)
                    || st.queued.contains(&event.id)
                    || st.in_flight.as_ref() == Some(&event.id)
                {
                    continue;
                }
                if st.closing {
                    Some((event.id.clone(), severity))
                } else {
                    st.queue.push_back(event.clone());
                    st.queued.insert(event.id.clone());
                    if st.queue.len() > self.shared.capacity {
                        drop_one(&mut st)
                    } else {
                        None
                    }
                }
            };
            if let Some((event_id, severity)) = dropped {
                let _ = self.shared.outcomes.send(Outcome::Dropped {
                    event_id,
                    sink: lane.name.clone(),
                    severity,
                });
            }
            lane.wake.notify_one();
        }
    }

    /// The rollout as the events sent so far tell it.
    pub fn summary(&self) -> Summary {
        self.shared.summary.lock().clone()
    }

    /// Events waiting per sink (not counting the one being delivered).
    pub fn queued(&self) -> Vec<(SinkName, usize)> {
        self.shared
            .lanes
            .iter()
            .map(|l| (l.name.clone(), l.state.lock().queue.len()))
            .collect()
    }

    /// Stops taking events and lets every sink deliver what it holds until `deadline`;
    /// then stops the sinks and says what did not get out.
    pub async fn drain(&self, deadline: tokio::time::Instant) -> DrainReport {
        for lane in &self.shared.lanes {
            lane.state.lock().closing = true;
            lane.wake.notify_one();
        }
        let tasks = std::mem::take(&mut *self.shared.tasks.lock());
        for task in tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                abort.abort();
            }
        }
        let mut undelivered = Vec::new();
        for lane in &self.shared.lanes {
            let st = lane.state.lock();
            let ids = st.in_flight.iter().chain(st.queue.iter().map(|e| &e.id));
            undelivered.extend(ids.map(|id| (lane.name.clone(), id.clone())));
        }
        DrainReport { undelivered }
    }
}

/// Removes the oldest info event (else the oldest warning) from a full queue. Failures
/// and the verdict stay.
fn drop_one(st: &mut LaneState) -> Option<(EventId, Severity)> {
    let pick = |sev: Severity| st.queue.iter().position(|e| e.severity() == sev && !e.is_verdict());
    let i = pick(Severity::Info).or_else(|| pick(Severity::Warning))?;
    let e = st.queue.remove(i)?;
    st.queued.remove(&e.id);
    Some((e.id.clone(), e.severity()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::config::Settings;
    use crate::notify::event::{Step, Verdict, What};

    fn ev(n: u64, what: What) -> Arc<Event> {
        Arc::new(Event::new(EventId::from_journal(n), jiff::Timestamp::UNIX_EPOCH, what))
    }

    fn info(n: u64) -> Arc<Event> {
        ev(
            n,
            What::StepStarted {
                step: Step {
                    id: "s".into(),
                    label: "s".into(),
                },
            },
        )
    }

    fn warning(n: u64) -> Arc<Event> {
        ev(
            n,
            What::TookOver {
                from: "a".into(),
                to: "b".into(),
            },
        )
    }

    fn failure(n: u64) -> Arc<Event> {
        ev(
            n,
            What::Aborted {
                who: "a".into(),
                reason: None,
            },
        )
    }

    fn verdict(n: u64) -> Arc<Event> {
        ev(n, What::Finished { verdict: Verdict::Done })
    }

    fn state(events: Vec<Arc<Event>>) -> LaneState {
        let mut st = LaneState::default();
        for e in events {
            st.queued.insert(e.id.clone());
            st.queue.push_back(e);
        }
        st
    }

    #[test]
    fn a_full_queue_drops_the_oldest_info_then_the_oldest_warning() {
        let mut st = state(vec![failure(1), warning(2), info(3), info(4), verdict(5)]);
        assert_eq!(drop_one(&mut st), Some((EventId::from_journal(3), Severity::Info)));
        assert_eq!(drop_one(&mut st), Some((EventId::from_journal(4), Severity::Info)));
        assert_eq!(drop_one(&mut st), Some((EventId::from_journal(2), Severity::Warning)));
        // Failures and the verdict (an info-level "done") are never dropped.
        assert_eq!(drop_one(&mut st), None);
        let left: Vec<&str> = st.queue.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(left, ["j1", "j5"]);
        assert_eq!(st.queued.len(), 2);
    }

    #[tokio::test]
    async fn an_event_sent_twice_is_folded_once() {
        let config = ResolvedConfig {
            sinks: Vec::new(),
            settings: Settings::default(),
            warnings: Vec::new(),
        };
        let (handle, _outcomes) = Notifier::start(config, Resume::default()).expect("starts");
        let done = Event::new(
            EventId::from_journal(4),
            jiff::Timestamp::UNIX_EPOCH,
            What::StepDone {
                step: Step {
                    id: "control-plane".into(),
                    label: "control plane".into(),
                },
                took_seconds: None,
            },
        );
        handle.send(done.clone());
        handle.send(done);
        assert_eq!(handle.summary().steps_done, 1);
    }

    #[test]
    fn resume_reads_threads_from_receipts() {
        let mut r = Resume::default();
        let sink = SinkName::new("slack");
        r.delivered(
            &sink,
            &EventId::from_journal(1),
            &Receipt::Slack {
                channel: "C1".into(),
                thread_ts: "1.0".into(),
                ts: "1.0".into(),
            },
        );
        r.delivered(
            &SinkName::new("teams"),
            &EventId::from_journal(1),
            &Receipt::Http { status: 202 },
        );
        assert_eq!(
            r.slack_threads.get(&sink),
            Some(&SlackThread {
                channel: "C1".into(),
                ts: "1.0".into()
            })
        );
        assert!(r.delivered[&SinkName::new("teams")].contains(&EventId::from_journal(1)));
    }
}
