//! Time, in two kinds: wall-clock timestamps ([`UnixMillis`]) for what is stored or sent, and
//! a monotonic clock for deadlines and keepalive ([`CoreClock`]), so that a step of the wall
//! clock (NTP, a suspended laptop, an operator) neither fires nor holds back a timer.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A wall-clock time: milliseconds since the unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct UnixMillis(pub(crate) u64);

impl UnixMillis {
    /// The wall clock now (0 before 1970).
    pub(crate) fn now() -> UnixMillis {
        SystemClock.unix()
    }

    /// Whole seconds since the epoch.
    pub(crate) fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// Milliseconds since the epoch.
    pub(crate) fn as_millis(self) -> u64 {
        self.0
    }
}

/// Where time comes from; tests inject their own.
pub(crate) trait Clock: Send + Sync {
    /// The wall clock.
    fn unix(&self) -> UnixMillis;
    /// The monotonic clock.
    fn instant(&self) -> Instant;
}

/// The operating system's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn unix(&self) -> UnixMillis {
        UnixMillis(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                .unwrap_or(0),
        )
    }

    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// The time one connection's sans-IO core runs on (it takes unix milliseconds): the wall
/// clock read once when the connection starts, advanced by the monotonic clock since. The
/// core's deadlines (handshake, IQs, keepalive) then follow elapsed time only, and the
/// server's certificate is still checked against the wall clock of the connection's start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CoreClock {
    start_unix: UnixMillis,
    start: Instant,
}

impl CoreClock {
    /// Starts the connection's time at `clock`'s now.
    pub(crate) fn start(clock: &dyn Clock) -> CoreClock {
        CoreClock {
            start_unix: clock.unix(),
            start: clock.instant(),
        }
    }

    /// The core's now.
    pub(crate) fn now(&self, clock: &dyn Clock) -> u64 {
        let elapsed = clock.instant().saturating_duration_since(self.start);
        let elapsed = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        self.start_unix.as_millis().saturating_add(elapsed)
    }

    /// How long from now until the core's time `at`.
    pub(crate) fn until(&self, clock: &dyn Clock, at: u64) -> Duration {
        Duration::from_millis(at.saturating_sub(self.now(clock)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use whatsapp_proto::connection::{ClientConfig, ClientConnection, Input};
    use whatsapp_proto::xeddsa::KeyPair;

    use super::*;

    /// A clock whose wall and monotonic readings the test moves independently.
    struct FakeClock {
        unix: Mutex<u64>,
        base: Instant,
        elapsed: Mutex<Duration>,
    }

    impl FakeClock {
        fn new(unix: u64) -> FakeClock {
            FakeClock {
                unix: Mutex::new(unix),
                base: Instant::now(),
                elapsed: Mutex::new(Duration::ZERO),
            }
        }
        /// Real time passing: both clocks move.
        fn advance(&self, by: Duration) {
            *self.unix.lock().unwrap() += u64::try_from(by.as_millis()).unwrap();
            *self.elapsed.lock().unwrap() += by;
        }
        /// The wall clock set forward (or back): the monotonic clock does not move.
        fn step_wall(&self, by: i64) {
            let mut unix = self.unix.lock().unwrap();
            *unix = unix.checked_add_signed(by).unwrap();
        }
    }

    impl Clock for FakeClock {
        fn unix(&self) -> UnixMillis {
            UnixMillis(*self.unix.lock().unwrap())
        }
        fn instant(&self) -> Instant {
            self.base + *self.elapsed.lock().unwrap()
        }
    }

    const START: u64 = 1_800_000_000_000;

    #[test]
    fn a_wall_clock_step_moves_no_deadline() {
        let clock = FakeClock::new(START);
        let core_clock = CoreClock::start(&clock);
        let mut rng = rand::thread_rng();
        let config = ClientConfig::new(KeyPair::generate(&mut rng), vec![1]);
        let mut core = ClientConnection::new(config, core_clock.now(&clock), &mut rng);
        let deadline = core.poll_timeout().expect("the handshake has a deadline");

        // An hour forward on the wall clock, a second of real time: no timer is due, so the
        // core neither times out the handshake (nor, once logged in, a keepalive).
        clock.step_wall(3_600_000);
        clock.advance(Duration::from_secs(1));
        assert_eq!(core_clock.now(&clock), START + 1000);
        assert!(core_clock.now(&clock) < deadline);
        core.handle_input(Input::Timeout {
            now: core_clock.now(&clock),
        })
        .unwrap();
        assert!(!core.is_closed());

        // A step back holds nothing back either: real time still reaches the deadline.
        clock.step_wall(-7_200_000);
        clock.advance(Duration::from_millis(deadline - START));
        assert!(core_clock.until(&clock, deadline).is_zero());
        let _ = core.handle_input(Input::Timeout {
            now: core_clock.now(&clock),
        });
        assert!(core.is_closed());
    }

    #[test]
    fn timestamps_read_the_wall_clock() {
        let clock = FakeClock::new(START + 1_234);
        assert_eq!(clock.unix().as_secs(), START / 1000 + 1);
        assert_eq!(clock.unix().as_millis(), START + 1_234);
    }
}
