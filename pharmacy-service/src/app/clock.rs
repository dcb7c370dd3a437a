//! The clock port: production reads the system time; tests drive a manual one.

use crate::domain::time::Timestamp;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Where `now` comes from.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_system_time(std::time::SystemTime::now())
    }
}

/// A clock that moves only when told (virtual time for tests and simulations).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock showing `t`.
    pub fn new(t: Timestamp) -> ManualClock {
        ManualClock(AtomicI64::new(t.0))
    }

    /// Moves the clock forward.
    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(d.as_millis() as i64, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

/// A clock that never goes back: the source clock's reading, except after the source stepped
/// backwards (an NTP correction, an admin setting the time), when it goes on from the last
/// reading it gave at half the pace of a monotonic clock until the source catches up. Every
/// duration the service computes between two of its readings (response times, resolution,
/// waiting) is therefore zero or more, and nothing waits twice as long as asked for longer than
/// the step. A forward step is taken as it comes: the service cannot tell a correction from a
/// jump, and the periodic jobs run on monotonic timers, so it costs one run's worth of work.
pub struct SteadyClock {
    source: std::sync::Arc<dyn Clock>,
    last: std::sync::Mutex<Option<(Timestamp, std::time::Instant)>>,
}

impl SteadyClock {
    /// A steady reading of `source`.
    pub fn new(source: std::sync::Arc<dyn Clock>) -> SteadyClock {
        SteadyClock {
            source,
            last: std::sync::Mutex::new(None),
        }
    }
}

impl std::fmt::Debug for SteadyClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SteadyClock").finish_non_exhaustive()
    }
}

impl Clock for SteadyClock {
    fn now(&self) -> Timestamp {
        let read = self.source.now();
        let mono = std::time::Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let now = match *last {
            Some((prev, at)) if read < prev => {
                let half = mono.saturating_duration_since(at).as_millis() / 2;
                // Still ahead of the source (it gains on us at half pace) until it catches up.
                Timestamp(
                    prev.0
                        .saturating_add(i64::try_from(half).unwrap_or(i64::MAX)),
                )
            }
            _ => read,
        };
        // The reference instant moves only when the reading does, so the half pace accrues.
        if last.is_none_or(|(prev, _)| now > prev) {
            *last = Some((now, mono));
        }
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_steady_clock_never_goes_back_and_takes_a_forward_step() {
        let wall = Arc::new(ManualClock::new(Timestamp(1_000_000)));
        let clock = SteadyClock::new(wall.clone());
        assert_eq!(clock.now(), Timestamp(1_000_000));
        wall.set(Timestamp(400_000));
        let after_step = clock.now();
        assert!(after_step >= Timestamp(1_000_000), "{after_step:?}");
        std::thread::sleep(Duration::from_millis(20));
        assert!(clock.now() >= after_step);
        // Once the wall clock is ahead again, it is followed exactly.
        wall.set(Timestamp(2_000_000));
        assert_eq!(clock.now(), Timestamp(2_000_000));
    }
}
