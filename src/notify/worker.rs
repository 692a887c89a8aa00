//! One sink's delivery task: takes its queue's events in order, delivers each with
//! retries — exponential backoff with jitter for transient failures, exactly the wait a
//! service asks for with `Retry-After` — and reports every outcome. For Slack it also
//! brings the thread's parent message up to date once each burst of replies is out.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc::UnboundedSender;

use super::config::Settings;
use super::event::Event;
use super::http::{Http, Retry};
use super::sender::{Lane, Outcome};
use super::sink::Sink;
use super::summary::Summary;

/// Rate-limit waits per event before giving up (they do not count as attempts).
const MAX_RATE_LIMIT_WAITS: u32 = 50;

/// One sink's delivery task.
pub(super) struct Worker {
    lane: Arc<Lane>,
    sink: Sink,
    http: Http,
    summary: Arc<Mutex<Summary>>,
    out: UnboundedSender<Outcome>,
    settings: Settings,
    rng: SmallRng,
    /// Consecutive failed refreshes of a posted message (the Slack parent), and the
    /// wait before the next try.
    refresh_failures: u32,
    refresh_wait: Option<Duration>,
}

enum Next {
    Event(Arc<Event>),
    Wait,
    Stop,
}

impl Worker {
    pub(super) fn new(
        lane: Arc<Lane>,
        sink: Sink,
        http: Http,
        summary: Arc<Mutex<Summary>>,
        out: UnboundedSender<Outcome>,
        settings: Settings,
        seed: u64,
    ) -> Worker {
        Worker {
            lane,
            sink,
            http,
            summary,
            out,
            settings,
            rng: SmallRng::seed_from_u64(seed),
            refresh_failures: 0,
            refresh_wait: None,
        }
    }

    pub(super) async fn run(mut self) {
        loop {
            let next = {
                let mut st = self.lane.state.lock();
                match st.queue.pop_front() {
                    Some(e) => {
                        st.queued.remove(&e.id);
                        st.in_flight = Some(e.id.clone());
                        Next::Event(e)
                    }
                    None if st.closing => Next::Stop,
                    None => Next::Wait,
                }
            };
            match next {
                Next::Stop => {
                    if self.refreshing() {
                        self.refresh().await;
                    }
                    return;
                }
                // The queue is empty: bring the Slack parent up to date once per burst.
                Next::Wait if self.refreshing() => match self.refresh_wait.take() {
                    None => self.refresh().await,
                    Some(wait) => {
                        tokio::select! {
                            _ = self.lane.wake.notified() => {}
                            _ = tokio::time::sleep(wait) => self.refresh().await,
                        }
                    }
                },
                // notify_one keeps a permit when no one waits: no wake-up is lost.
                Next::Wait => self.lane.wake.notified().await,
                Next::Event(e) => {
                    let delivered = self.deliver(&e).await;
                    let mut st = self.lane.state.lock();
                    st.in_flight = None;
                    if delivered {
                        st.delivered.insert(e.id.clone());
                    }
                }
            }
        }
    }

    /// Whether a posted message needs bringing up to date and tries are left.
    fn refreshing(&self) -> bool {
        self.sink.stale() && self.refresh_failures < self.settings.max_attempts
    }

    async fn refresh(&mut self) {
        let summary = self.summary.lock().clone();
        match self.sink.refresh(&self.http, &summary).await {
            Ok(()) => {
                self.refresh_failures = 0;
                self.refresh_wait = None;
            }
            Err(f) => {
                self.refresh_failures += 1;
                let wait = match f.retry {
                    Retry::Never => None,
                    _ if self.refresh_failures >= self.settings.max_attempts => None,
                    Retry::After(d) => Some(d),
                    Retry::Backoff => Some(self.backoff(self.refresh_failures)),
                };
                if wait.is_none() {
                    self.refresh_failures = self.settings.max_attempts;
                }
                self.refresh_wait = wait;
                let _ = self.out.send(Outcome::ThreadNotUpdated {
                    sink: self.sink.name().clone(),
                    error: f.message,
                    will_retry: wait.is_some(),
                });
            }
        }
    }

    /// Delivers one event, trying again as the failure allows. True once delivered.
    async fn deliver(&mut self, e: &Event) -> bool {
        let sink = self.sink.name().clone();
        let (mut tries, mut attempts, mut waits) = (0u32, 0u32, 0u32);
        loop {
            tries += 1;
            let summary = self.summary.lock().clone();
            let failure = match self.sink.deliver(&self.http, e, &summary).await {
                Ok(d) => {
                    // A new reply: the parent gets its own tries again.
                    self.refresh_failures = 0;
                    let _ = self.out.send(Outcome::Delivered {
                        event_id: e.id.clone(),
                        sink,
                        receipt: d.receipt,
                    });
                    return true;
                }
                Err(f) => f,
            };
            let wait = match failure.retry {
                Retry::Never => None,
                Retry::After(d) => {
                    waits += 1;
                    (waits <= MAX_RATE_LIMIT_WAITS).then_some(d)
                }
                Retry::Backoff => {
                    attempts += 1;
                    (attempts < self.settings.max_attempts).then(|| self.backoff(attempts))
                }
            };
            let _ = self.out.send(Outcome::Failed {
                event_id: e.id.clone(),
                sink: sink.clone(),
                error: failure.message.clone(),
                attempt: tries,
                will_retry: wait.is_some(),
            });
            match wait {
                Some(d) => tokio::time::sleep(d).await,
                None => {
                    let _ = self.out.send(Outcome::GaveUp {
                        event_id: e.id.clone(),
                        sink,
                        error: failure.message,
                        attempts: tries,
                    });
                    return false;
                }
            }
        }
    }

    /// The wait before attempt `n + 1`: the initial backoff doubled per attempt, at most
    /// the maximum, with "equal jitter" (half fixed, half random) so sinks that failed
    /// together do not retry together.
    fn backoff(&mut self, n: u32) -> Duration {
        backoff(&self.settings, n, self.rng.random::<f64>())
    }
}

/// The backoff before attempt `n + 1` for a random draw `r` in [0, 1).
pub fn backoff(settings: &Settings, n: u32, r: f64) -> Duration {
    let base = settings.initial_backoff.as_secs_f64() * 2f64.powi(n.saturating_sub(1).min(30) as i32);
    let capped = base.min(settings.max_backoff.as_secs_f64());
    Duration::from_secs_f64(capped / 2.0 + capped / 2.0 * r.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_its_bounds() {
        let s = Settings {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            ..Settings::default()
        };
        assert_eq!(backoff(&s, 1, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(&s, 1, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(&s, 3, 0.0), Duration::from_secs(2));
        assert_eq!(backoff(&s, 3, 0.999_999).as_secs(), 3);
        assert_eq!(backoff(&s, 20, 1.0), Duration::from_secs(60));
        assert_eq!(backoff(&s, 20, 0.0), Duration::from_secs(30));
    }
}
