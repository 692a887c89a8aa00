//! The simulator's virtual clock: virtual time runs `speed` times faster than real
//! time, can be jumped forward by tests, and is what every simulated delay is measured in.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use parking_lot::Mutex;

/// A shared handle on the virtual clock. Cloning shares the same clock.
#[derive(Clone, Debug)]
pub struct Clock {
    inner: Arc<Mutex<Base>>,
}

#[derive(Debug)]
struct Base {
    real: Instant,
    virt: Timestamp,
    speed: f64,
}

/// Fastest and slowest speeds accepted by `--speed`.
pub const MIN_SPEED: f64 = 1.0;
pub const MAX_SPEED: f64 = 600.0;

impl Clock {
    /// A clock that starts at the current wall time and runs `speed` times real time.
    pub fn new(speed: f64) -> Self {
        Self::starting_at(Timestamp::now(), speed)
    }

    pub fn starting_at(start: Timestamp, speed: f64) -> Self {
        Clock {
            inner: Arc::new(Mutex::new(Base {
                real: Instant::now(),
                virt: start,
                speed: speed.clamp(MIN_SPEED, MAX_SPEED),
            })),
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> Timestamp {
        let base = self.inner.lock();
        Self::at(&base, Instant::now())
    }

    fn at(base: &Base, real: Instant) -> Timestamp {
        let elapsed = real.saturating_duration_since(base.real).as_secs_f64() * base.speed;
        let nanos = (elapsed * 1e9) as i64;
        base.virt
            .checked_add(SignedDuration::from_nanos(nanos))
            .unwrap_or(base.virt)
    }

    pub fn speed(&self) -> f64 {
        self.inner.lock().speed
    }

    /// Changes the speed from now on; virtual time already passed is kept.
    pub fn set_speed(&self, speed: f64) {
        let mut base = self.inner.lock();
        let real = Instant::now();
        base.virt = Self::at(&base, real);
        base.real = real;
        base.speed = speed.clamp(MIN_SPEED, MAX_SPEED);
    }

    /// Jumps virtual time forward (tests use this instead of sleeping).
    pub fn advance(&self, by: Duration) {
        let mut base = self.inner.lock();
        let by = SignedDuration::try_from(by).unwrap_or(SignedDuration::MAX);
        base.virt = base.virt.checked_add(by).unwrap_or(base.virt);
    }

    /// How long, in real time, until virtual time `at` is reached.
    pub fn real_until(&self, at: Timestamp) -> Duration {
        let base = self.inner.lock();
        let now = Self::at(&base, Instant::now());
        let ahead = at.duration_since(now).as_secs_f64();
        if ahead <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(ahead / base.speed)
        }
    }
}

/// Virtual seconds as a signed duration, for timestamp arithmetic.
pub fn secs(s: f64) -> SignedDuration {
    SignedDuration::from_secs_f64(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_virtual_time_and_speed_is_clamped() {
        let start = Timestamp::from_second(1_700_000_000).unwrap();
        let clock = Clock::starting_at(start, 10_000.0);
        assert_eq!(clock.speed(), MAX_SPEED);
        clock.set_speed(0.1);
        assert_eq!(clock.speed(), MIN_SPEED);
        clock.advance(Duration::from_secs(120));
        let now = clock.now();
        let gone = now.duration_since(start).as_secs_f64();
        assert!((120.0..125.0).contains(&gone), "virtual time moved {gone}s");
        assert_eq!(clock.real_until(start), Duration::ZERO);
    }
}
