//! Time series of the signals, one sample a second, for the panes' sparklines.

use std::collections::VecDeque;

use super::signals::Signals;

/// The last `capacity` samples of one number.
#[derive(Clone, Debug, Default)]
pub struct Series {
    samples: VecDeque<u64>,
    capacity: usize,
}

impl Series {
    pub fn new(capacity: usize) -> Series {
        Series {
            samples: VecDeque::with_capacity(capacity),
            capacity: capacity.max(1),
        }
    }

    pub fn push(&mut self, v: u64) {
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(v);
    }

    /// The newest `n` samples, oldest first.
    pub fn last(&self, n: usize) -> Vec<u64> {
        let skip = self.samples.len().saturating_sub(n);
        self.samples.iter().skip(skip).copied().collect()
    }

    pub fn latest(&self) -> Option<u64> {
        self.samples.back().copied()
    }

    pub fn max(&self) -> u64 {
        self.samples.iter().copied().max().unwrap_or(0)
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

/// The series every pane draws.
#[derive(Clone, Debug)]
pub struct SeriesSet {
    pub not_ready: Series,
    pub old_nodes: Series,
    pub cordoned: Series,
    pub unscheduled: Series,
    pub pod_errors: Series,
    /// Container restarts in the last sample interval.
    pub restarts: Series,
    last_restarts: Option<u64>,
}

impl SeriesSet {
    /// Ten minutes at one sample a second.
    pub const DEFAULT_CAPACITY: usize = 600;

    pub fn new(capacity: usize) -> SeriesSet {
        SeriesSet {
            not_ready: Series::new(capacity),
            old_nodes: Series::new(capacity),
            cordoned: Series::new(capacity),
            unscheduled: Series::new(capacity),
            pod_errors: Series::new(capacity),
            restarts: Series::new(capacity),
            last_restarts: None,
        }
    }

    /// Records one sample of each signal.
    pub fn sample(&mut self, s: &Signals) {
        self.not_ready.push(s.nodes.not_ready as u64);
        self.old_nodes.push(s.nodes.old as u64);
        self.cordoned.push(s.nodes.cordoned as u64);
        self.unscheduled.push(s.unscheduled.count as u64);
        self.pod_errors.push(s.errors.pods as u64);
        // restarts of pods that went away make the total drop: that is not negative activity
        let delta = self
            .last_restarts
            .map_or(0, |last| s.errors.restarts.saturating_sub(last));
        self.restarts.push(delta);
        self.last_restarts = Some(s.errors.restarts);
    }
}
