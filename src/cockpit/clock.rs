//! The cluster's clock as a read-only cockpit sees it: every age and duration on the
//! shadow's screen is measured against the time the lead's published state carries
//! (the drive's clock: the wall clock on a real cluster, the simulator's virtual clock
//! in a rehearsal), advanced between publications at the rate it was seen to move. A
//! publication that stops coming makes "published … ago" grow, as it should.

use std::time::Instant;

use crate::model::Timestamp;

/// The fastest a cluster's clock is believed to run against ours (the simulator's
/// highest speed).
const MAX_RATE: f64 = 600.0;

#[derive(Clone, Debug)]
pub struct ClusterClock {
    /// The newest cluster time seen, and when (on this machine) it was seen.
    last: Option<(Timestamp, Instant)>,
    /// Cluster seconds per local second, from the last two observations.
    rate: f64,
}

impl Default for ClusterClock {
    fn default() -> Self {
        ClusterClock { last: None, rate: 1.0 }
    }
}

impl ClusterClock {
    /// Takes in a cluster time seen at `local`; returns whether it was the first.
    pub fn observe(&mut self, at: Timestamp, local: Instant) -> bool {
        let Some((t0, l0)) = self.last else {
            self.last = Some((at, local));
            return true;
        };
        if at <= t0 {
            return false;
        }
        let dl = local.saturating_duration_since(l0).as_secs_f64();
        let dc = (at.as_millisecond() - t0.as_millisecond()) as f64 / 1000.0;
        if dl >= 0.5 {
            self.rate = (dc / dl).clamp(1.0, MAX_RATE);
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
