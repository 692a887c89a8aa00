//! Time as upshift reads it: instants are `jiff` timestamps, and a clock is a shared
//! function, so that a rehearsal and the tests can hand in the simulator's virtual
//! clock where the real world has the wall clock.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// An instant, in UTC.
pub type Timestamp = jiff::Timestamp;

/// A clock: the wall clock (`Arc::new(Timestamp::now)`) or a simulator's virtual one.
pub type Now = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The fastest a cluster's clock is believed to run against ours (the simulator's
/// highest speed).
const MAX_RATE: f64 = 600.0;

/// A clock seen from afar: the newest time it was seen to show, advanced between
/// sightings at the rate it was seen to move (at least real time, at most the
/// simulator's fastest). A shadow's cockpit reads the lead's published times through
/// it, and a client the API server's `Date` answers.
#[derive(Clone, Debug)]
pub struct ClusterClock {
    /// The newest cluster time seen, and when (on this machine) it was seen.
    last: Option<(Timestamp, Instant)>,
    /// The sighting the rate was last measured from.
    anchor: Option<(Timestamp, Instant)>,
    /// Cluster seconds per local second.
    rate: f64,
    /// The shortest local time the rate is measured over: long enough that the
    /// sightings' own resolution (a whole second in an HTTP `Date`) blurs it little.
    baseline: Duration,
}

impl Default for ClusterClock {
    /// A clock whose sightings are exact to the millisecond (a published state's time).
    fn default() -> Self {
        ClusterClock::with_resolution(Duration::ZERO)
    }
}

impl ClusterClock {
    /// A clock whose sightings are rounded down to `resolution`.
    pub fn with_resolution(resolution: Duration) -> Self {
        ClusterClock {
            last: None,
            anchor: None,
            rate: 1.0,
            baseline: (resolution * 5).max(Duration::from_millis(500)),
        }
    }

    /// Takes in a cluster time seen at `local`; returns whether it was the first.
    pub fn observe(&mut self, at: Timestamp, local: Instant) -> bool {
        let (Some((t0, _)), Some((ta, la))) = (self.last, self.anchor) else {
            self.last = Some((at, local));
            self.anchor = self.last;
            return true;
        };
        if at <= t0 {
            return false;
        }
        let dl = local.saturating_duration_since(la);
        if dl >= self.baseline {
            let dc = (at.as_millisecond() - ta.as_millisecond()) as f64 / 1000.0;
            self.rate = (dc / dl.as_secs_f64()).clamp(1.0, MAX_RATE);
            self.anchor = Some((at, local));
        }
        self.last = Some((at, local));
        false
    }

    /// The cluster's time at `local`, once one was seen.
    pub fn now(&self, local: Instant) -> Option<Timestamp> {
        let (t, l) = self.last?;
        let ahead = local.saturating_duration_since(l).as_secs_f64() * self.rate;
        let ms = i64::try_from((ahead * 1000.0) as u64).unwrap_or(i64::MAX);
        Some(t.checked_add(jiff::SignedDuration::from_millis(ms)).unwrap_or(t))
    }
}

/// A span of seconds as a countdown says it: `45s`, `12m`, `2h05m` (negative as 0).
pub fn span(secs: i64) -> String {
    let s = secs.max(0);
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m", s / 60)
    } else {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn it_runs_at_the_rate_it_was_seen_to_move_and_keeps_going_when_nothing_comes() {
        let t0: Timestamp = "2030-01-01T00:00:00Z".parse().expect("time");
        let l0 = Instant::now();
        let mut c = ClusterClock::default();
        assert_eq!(c.now(l0), None);
        assert!(c.observe(t0, l0));
        // the simulator at 10×: 20 virtual seconds in 2 real ones
        assert!(!c.observe(t0 + jiff::SignedDuration::from_secs(20), l0 + Duration::from_secs(2)));
        let later = c.now(l0 + Duration::from_secs(32)).expect("a time");
        assert_eq!(later, t0 + jiff::SignedDuration::from_secs(320));
        // an older time changes nothing
        assert!(!c.observe(t0, l0 + Duration::from_secs(40)));
        assert_eq!(c.now(l0 + Duration::from_secs(32)), Some(later));
    }
}
