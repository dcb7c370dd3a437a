//! The supervisor's reconnect backoff: how many failures in a row count towards the next
//! pause. A pure policy over [`ReconnectPolicy`]; the driver feeds it what each connection did.
//!
//! As WhatsApp Web (`resetDelay`, read in whatsapp-rust `src/client.rs`
//! `should_reset_backoff`): the count starts over only after a connection that stayed up for
//! [`STABLE_CONNECTION`], so "log in, stream error, reconnect" cannot loop at the first pause;
//! a `<stream:error code="429">` adds [`RATE_LIMIT_PENALTY`] steps that even a stable
//! connection does not clear (whatsapp-rust `src/client/node_io.rs`).

use std::time::Duration;

use crate::config::ReconnectPolicy;

/// How long a connection must stay logged in for the failure count to start over (WA Web's
/// `resetDelay`, 30 s).
pub(crate) const STABLE_CONNECTION: Duration = Duration::from_secs(30);

/// Backoff steps a rate limit (stream error 429) adds (whatsapp-rust adds 5).
pub(crate) const RATE_LIMIT_PENALTY: u32 = 5;

/// Failures in a row, towards the next pause.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    failures: u32,
}

impl Backoff {
    /// A connection ended; `logged_in_for` is how long it was logged in (`None`: never).
    pub(crate) fn ended(&mut self, logged_in_for: Option<Duration>) {
        if logged_in_for.is_some_and(|up| up >= STABLE_CONNECTION) {
            self.failures = 0;
        }
    }

    /// The server said 429: the next pauses are long, whatever came before.
    pub(crate) fn rate_limited(&mut self) {
        self.failures = self.failures.saturating_add(RATE_LIMIT_PENALTY);
    }

    /// Counts one more failure and gives the pause before the next attempt (`unit`: a random
    /// number in [0, 1) for the jitter).
    pub(crate) fn next_pause(&mut self, policy: &ReconnectPolicy, unit: f64) -> Duration {
        self.failures = self.failures.saturating_add(1);
        policy.delay(self.failures, unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: Option<Duration> = Some(Duration::from_secs(1));
    const LONG: Option<Duration> = Some(Duration::from_secs(600));

    #[test]
    fn errors_right_after_login_keep_growing_the_pause() {
        let policy = ReconnectPolicy::default();
        let mut backoff = Backoff::default();
        let pauses: Vec<Duration> = (0..4)
            .map(|_| {
                backoff.ended(SHORT);
                backoff.next_pause(&policy, 0.5)
            })
            .collect();
        assert_eq!(
            pauses,
            [1, 2, 4, 8].map(Duration::from_secs),
            "a login that fails again at once does not start the count over"
        );
        // A connection that stayed up does.
        backoff.ended(LONG);
        assert_eq!(backoff.next_pause(&policy, 0.5), Duration::from_secs(1));
    }

    #[test]
    fn a_rate_limit_gets_a_long_pause_even_after_a_stable_connection() {
        let policy = ReconnectPolicy::default();
        let mut backoff = Backoff::default();
        backoff.ended(LONG);
        backoff.rate_limited();
        assert_eq!(backoff.next_pause(&policy, 0.5), Duration::from_secs(32));
        backoff.ended(None);
        assert_eq!(backoff.next_pause(&policy, 0.5), Duration::from_secs(64));
        backoff.ended(SHORT);
        assert_eq!(backoff.next_pause(&policy, 0.5), policy.max);
    }
}
