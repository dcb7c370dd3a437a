//! Send pacing: the decisions that keep the shared number from looking like a bot. All
//! randomness comes in as `jitter` values in `[0, 1)` so the decisions are reproducible.
//!
//! Production defaults follow the community's anti-ban practice (see the design notes): mark
//! the customer's message read, show "typing" for a time that grows with the reply's length,
//! keep a jittered gap between any two sends of the number, cap the messages one customer gets
//! in a window, and hold the same text going to many customers (WhatsApp's temporary-ban
//! reason 104) until an admin confirms it.

use super::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Pacing configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PacingPolicy {
    /// Minimum gap between two sends of the number.
    pub min_gap: Duration,
    /// Up to this much is added to the gap at random (never a fixed interval).
    pub gap_jitter: Duration,
    /// Typing shown at least this long.
    pub typing_min: Duration,
    /// Typing time added per character of the reply.
    pub typing_per_char: Duration,
    /// Typing shown at most this long.
    pub typing_max: Duration,
    /// Pause between marking read and starting to type.
    pub read_pause: Duration,
    /// At most this many messages to one customer within `customer_window`.
    pub customer_cap: u32,
    /// The per-customer window.
    pub customer_window: Duration,
    /// The same text to this many distinct customers within `mass_window` is held.
    pub mass_send_threshold: u32,
    /// The mass-send window.
    pub mass_window: Duration,
    /// First retry delay after a transient error (doubles each attempt).
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// Attempts before a message is marked failed.
    pub max_attempts: u32,
}

impl PacingPolicy {
    /// Production: gaps of 5-30 s (a warm number's range), typing 1.5-10 s at ~45 ms a character,
    /// at most 10 messages to one customer per 15 minutes (a conversation the customer started
    /// tolerates more than the 4 an hour advised for outreach), identical text to 5 customers
    /// within an hour held for confirmation.
    pub fn production() -> PacingPolicy {
        PacingPolicy {
            min_gap: Duration::from_secs(5),
            gap_jitter: Duration::from_secs(25),
            typing_min: Duration::from_millis(1500),
            typing_per_char: Duration::from_millis(45),
            typing_max: Duration::from_secs(10),
            read_pause: Duration::from_millis(800),
            customer_cap: 10,
            customer_window: Duration::from_secs(15 * 60),
            mass_send_threshold: 5,
            mass_window: Duration::from_secs(3600),
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(300),
            max_attempts: 8,
        }
    }

    /// The demo's: the production steps, shortened so a visitor sees replies in seconds.
    pub fn demo() -> PacingPolicy {
        PacingPolicy {
            min_gap: Duration::from_millis(800),
            gap_jitter: Duration::from_millis(1200),
            typing_min: Duration::from_millis(600),
            typing_per_char: Duration::from_millis(15),
            typing_max: Duration::from_secs(3),
            read_pause: Duration::from_millis(300),
            customer_cap: 30,
            customer_window: Duration::from_secs(600),
            retry_base: Duration::from_millis(500),
            retry_max: Duration::from_secs(30),
            max_attempts: 8,
            ..PacingPolicy::production()
        }
    }

    /// Tests and harnesses: the same steps in milliseconds, still observable.
    pub fn fast() -> PacingPolicy {
        PacingPolicy {
            min_gap: Duration::from_millis(20),
            gap_jitter: Duration::from_millis(10),
            typing_min: Duration::from_millis(5),
            typing_per_char: Duration::from_micros(200),
            typing_max: Duration::from_millis(30),
            read_pause: Duration::from_millis(2),
            customer_cap: 30,
            customer_window: Duration::from_secs(10),
            mass_send_threshold: 5,
            mass_window: Duration::from_secs(3600),
            retry_base: Duration::from_millis(20),
            retry_max: Duration::from_millis(200),
            max_attempts: 5,
        }
    }

    /// The earliest instant the next send may start, given the previous send's end.
    pub fn next_send_at(&self, last_send: Option<Timestamp>, jitter: f64) -> Option<Timestamp> {
        last_send.map(|t| t.plus(self.min_gap + self.gap_jitter.mul_f64(clamp01(jitter))))
    }

    /// How long to show "typing" for a reply of `chars` characters, varied by ±20 % with
    /// `jitter`, within [`typing_min`, `typing_max`].
    pub fn typing_time(&self, chars: usize, jitter: f64) -> Duration {
        let base = self.typing_min + self.typing_per_char * chars.min(100_000) as u32;
        let varied = base.mul_f64(0.8 + 0.4 * clamp01(jitter));
        varied.clamp(self.typing_min, self.typing_max.max(self.typing_min))
    }

    /// The per-customer cap: `sent` are the times of recent sends to this customer.
    pub fn customer_cap(&self, sent: &[Timestamp], now: Timestamp) -> CapDecision {
        let window_start = now.minus(self.customer_window);
        let mut inside: Vec<Timestamp> =
            sent.iter().copied().filter(|t| *t > window_start).collect();
        if (inside.len() as u32) < self.customer_cap.max(1) {
            return CapDecision::Allow;
        }
        inside.sort();
        // The send that leaves the window first frees a slot.
        let idx = inside.len() - self.customer_cap.max(1) as usize;
        CapDecision::WaitUntil(inside[idx].plus(self.customer_window))
    }

    /// The mass-send guard: `recent` are (customer, time) of recent sends of the same normalised
    /// text. System templates are exempt (the caller does not ask for them).
    pub fn mass_send(
        &self,
        recent: &[(i64, Timestamp)],
        customer: i64,
        now: Timestamp,
    ) -> MassSendDecision {
        let since = now.minus(self.mass_window);
        let mut others: Vec<i64> = recent
            .iter()
            .filter(|(c, t)| *t > since && *c != customer)
            .map(|(c, _)| *c)
            .collect();
        others.sort_unstable();
        others.dedup();
        if others.len() as u32 + 1 >= self.mass_send_threshold.max(2) {
            MassSendDecision::Hold
        } else {
            MassSendDecision::Allow
        }
    }

    /// Delay before retry number `attempt` (1 = first retry): exponential, capped, jittered
    /// down by up to half so retries of many messages spread out.
    pub fn retry_delay(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = self
            .retry_base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let d = exp.min(self.retry_max);
        d.mul_f64(1.0 - 0.5 * clamp01(jitter))
    }
}

fn clamp01(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

/// The per-customer cap's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapDecision {
    /// Send now.
    Allow,
    /// Wait until then.
    WaitUntil(Timestamp),
}

/// The mass-send guard's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MassSendDecision {
    /// Queue normally.
    Allow,
    /// Hold for an admin's confirmation.
    Hold,
}

/// The key the mass-send guard compares texts by: normalised, whitespace collapsed.
pub fn body_key(text: &str) -> String {
    let n = super::search::normalize(text);
    n.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn gaps_have_jitter() {
        let p = PacingPolicy::production();
        assert_eq!(p.next_send_at(None, 0.5), None);
        let t = Timestamp(1_000_000);
        assert_eq!(p.next_send_at(Some(t), 0.0), Some(t.plus(5 * S)));
        assert_eq!(p.next_send_at(Some(t), 1.0), Some(t.plus(30 * S)));
        assert_eq!(
            p.next_send_at(Some(t), 0.5),
            Some(t.plus(Duration::from_millis(17_500)))
        );
        assert_eq!(p.next_send_at(Some(t), f64::NAN), Some(t.plus(5 * S)));
    }

    #[test]
    fn typing_scales_with_length() {
        let p = PacingPolicy::production();
        let cases = [
            (0, 0.5, 1500),
            (10, 0.5, 1950),
            (100, 0.5, 6000),
            (100, 0.0, 4800),
            (100, 1.0, 7200),
            (1000, 0.5, 10_000),
            (0, 0.0, 1500),
        ];
        for (chars, j, ms) in cases {
            assert_eq!(
                p.typing_time(chars, j),
                Duration::from_millis(ms),
                "{chars} {j}"
            );
        }
    }

    #[test]
    fn customer_cap() {
        let mut p = PacingPolicy::production();
        p.customer_cap = 3;
        p.customer_window = 60 * S;
        let now = Timestamp(1_000_000);
        let ago = |s: u32| now.minus(S * s);
        assert_eq!(p.customer_cap(&[ago(10), ago(20)], now), CapDecision::Allow);
        assert_eq!(
            p.customer_cap(&[ago(10), ago(20), ago(70)], now),
            CapDecision::Allow
        );
        assert_eq!(
            p.customer_cap(&[ago(10), ago(20), ago(30)], now),
            CapDecision::WaitUntil(ago(30).plus(60 * S))
        );
        assert_eq!(
            p.customer_cap(&[ago(5), ago(10), ago(20), ago(30)], now),
            CapDecision::WaitUntil(ago(20).plus(60 * S))
        );
    }

    #[test]
    fn mass_send_guard() {
        let p = PacingPolicy::production();
        let now = Timestamp(10_000_000);
        let recent: Vec<_> = (1..=3).map(|c| (c, now.minus(60 * S))).collect();
        assert_eq!(p.mass_send(&recent, 9, now), MassSendDecision::Allow);
        let recent: Vec<_> = (1..=4).map(|c| (c, now.minus(60 * S))).collect();
        assert_eq!(p.mass_send(&recent, 9, now), MassSendDecision::Hold);
        // The same customer again does not count; old sends do not count.
        assert_eq!(p.mass_send(&recent, 4, now), MassSendDecision::Allow);
        let old: Vec<_> = (1..=10).map(|c| (c, now.minus(7200 * S))).collect();
        assert_eq!(p.mass_send(&old, 99, now), MassSendDecision::Allow);
        assert_eq!(body_key("  Hello\n  WORLD "), "hello world");
    }

    #[test]
    fn retry_backoff() {
        let p = PacingPolicy::production();
        let got: Vec<_> = (1..=10).map(|a| p.retry_delay(a, 0.0).as_secs()).collect();
        assert_eq!(got, vec![2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(p.retry_delay(1, 1.0), S);
    }
}
