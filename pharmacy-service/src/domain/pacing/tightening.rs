//! Automatic tightening: restriction signals from the server widen every gap, lower every cap
//! and block outreach for a while, after `docs/design/pacing-research.md` §3.
//!
//! - Ack error 463 (a 1:1 message without a privacy token): Baileys
//!   `src/Utils/decode-wa-message.ts` `SERVER_ERROR_CODES` reads it as "the account is
//!   restricted: WhatsApp blocks starting new chats but preserves existing ones", and Baileys#2707
//!   fingerprints a restriction as 463s on several recipients [PROTO + REPORT]. One 463 blocks
//!   outreach for an hour; a second within 10 minutes for a day.
//! - A 429 rate limit (`stream:error code="429"`, whatsmeow `errors.go` `ErrIQRateOverLimit`):
//!   whatsapp-rust `src/client/node_io.rs` backs off hard on it [PROTO]; gaps ×3 for 30 minutes,
//!   then ×1.5 for an hour more [GUESS].
//! - A temporary ban (`<failure reason="402">`, whatsmeow `connectionevents.go`): the queue
//!   pauses until it ends (`app::outbox`); after it, gaps ×2 for 48 h and no outreach for 7 days
//!   [GUESS].
//!
//! Every escalation is returned so the caller alerts the admins.

use crate::domain::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A restriction signal from WhatsApp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Restriction {
    /// Ack error 463: a message without a privacy token was refused.
    NewChatRefused,
    /// Error 429: too fast.
    RateLimited,
    /// A temporary ban ending then (if the server said).
    TemporaryBan {
        /// When the ban lifts.
        expires_at: Option<Timestamp>,
    },
}

/// A widening of the gaps in force until `until`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Penalty {
    /// Gaps are multiplied, caps divided by this.
    pub factor: f64,
    /// Until then.
    pub until: Timestamp,
}

/// The tightening in force: persisted by the caller, so a restart keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tightening {
    /// Gap widenings (the largest in force applies).
    #[serde(default)]
    pub penalties: Vec<Penalty>,
    /// No outreach before then.
    #[serde(default)]
    pub outreach_blocked_until: Option<Timestamp>,
    /// Recent 463s (the last 10 minutes').
    #[serde(default)]
    pub refusals: Vec<Timestamp>,
    /// Recent 429s (the last 6 hours').
    #[serde(default)]
    pub rate_limits: Vec<Timestamp>,
}

/// What a signal changed, for the admins' alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Escalation {
    /// The signal, as the alert names it: `new_chat_refused`, `rate_limited`, `temporary_ban`.
    pub signal: &'static str,
    /// The gap factor now in force.
    pub factor: f64,
    /// Until when the largest widening lasts.
    pub until: Timestamp,
    /// No outreach before then.
    pub outreach_blocked_until: Option<Timestamp>,
}

const MIN: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

impl Tightening {
    /// Applies a signal received at `now`; what is in force after it.
    pub fn on_signal(&mut self, signal: Restriction, now: Timestamp) -> Escalation {
        self.prune(now);
        let name = match signal {
            Restriction::NewChatRefused => {
                self.refusals.push(now);
                if self.refusals.len() >= 2 {
                    // Several recipients refused: a restricted account, not one cold chat.
                    self.penalise(2.0, now.plus(24 * HOUR));
                    self.block_outreach(now.plus(24 * HOUR));
                } else {
                    self.penalise(1.5, now.plus(HOUR));
                    self.block_outreach(now.plus(HOUR));
                }
                "new_chat_refused"
            }
            Restriction::RateLimited => {
                self.rate_limits.push(now);
                self.penalise(3.0, now.plus(30 * MIN));
                self.penalise(1.5, now.plus(90 * MIN));
                if self.rate_limits.len() >= 2 {
                    self.block_outreach(now.plus(24 * HOUR));
                }
                "rate_limited"
            }
            Restriction::TemporaryBan { expires_at } => {
                let end = expires_at.filter(|t| *t > now).unwrap_or(now.plus(HOUR));
                self.penalise(2.0, end.plus(48 * HOUR));
                self.block_outreach(end.plus(7 * 24 * HOUR));
                "temporary_ban"
            }
        };
        Escalation {
            signal: name,
            factor: self.factor(now),
            until: self.penalties.iter().map(|p| p.until).max().unwrap_or(now),
            outreach_blocked_until: self.outreach_blocked(now),
        }
    }

    /// The gap factor in force at `now` (1 when none).
    pub fn factor(&self, now: Timestamp) -> f64 {
        self.penalties
            .iter()
            .filter(|p| p.until > now)
            .map(|p| p.factor)
            .fold(1.0, f64::max)
    }

    /// Until when outreach is blocked, if it is at `now`.
    pub fn outreach_blocked(&self, now: Timestamp) -> Option<Timestamp> {
        self.outreach_blocked_until.filter(|t| *t > now)
    }

    /// Whether anything is in force at `now`.
    pub fn is_tight(&self, now: Timestamp) -> bool {
        self.factor(now) > 1.0 || self.outreach_blocked(now).is_some()
    }

    /// Forgets what has run out.
    pub fn prune(&mut self, now: Timestamp) {
        self.penalties.retain(|p| p.until > now);
        self.refusals.retain(|t| now.since(*t) < 10 * MIN);
        self.rate_limits.retain(|t| now.since(*t) < 6 * HOUR);
        if self.outreach_blocked(now).is_none() {
            self.outreach_blocked_until = None;
        }
    }

    fn penalise(&mut self, factor: f64, until: Timestamp) {
        self.penalties.push(Penalty { factor, until });
    }

    fn block_outreach(&mut self, until: Timestamp) {
        self.outreach_blocked_until =
            Some(self.outreach_blocked_until.map_or(until, |t| t.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp(1_000_000_000_000);

    #[test]
    fn one_463_blocks_outreach_for_an_hour_and_a_second_within_ten_minutes_for_a_day() {
        let mut t = Tightening::default();
        assert!(!t.is_tight(T0));
        let e = t.on_signal(Restriction::NewChatRefused, T0);
        assert_eq!(e.factor, 1.5);
        assert_eq!(e.outreach_blocked_until, Some(T0.plus(HOUR)));
        assert_eq!(t.factor(T0.plus(HOUR)), 1.0, "an hour later it is over");
        assert_eq!(t.outreach_blocked(T0.plus(HOUR)), None);
        let e = t.on_signal(Restriction::NewChatRefused, T0.plus(5 * MIN));
        assert_eq!(e.factor, 2.0);
        assert_eq!(
            e.outreach_blocked_until,
            Some(T0.plus(5 * MIN).plus(24 * HOUR))
        );
        // Two refusals far apart are two cold chats, not a restriction.
        let mut t = Tightening::default();
        t.on_signal(Restriction::NewChatRefused, T0);
        let e = t.on_signal(Restriction::NewChatRefused, T0.plus(11 * MIN));
        assert_eq!(e.factor, 1.5);
    }

    #[test]
    fn a_429_triples_the_gaps_then_decays_and_a_second_blocks_outreach() {
        let mut t = Tightening::default();
        let e = t.on_signal(Restriction::RateLimited, T0);
        assert_eq!(e.factor, 3.0);
        assert_eq!(e.outreach_blocked_until, None);
        assert_eq!(t.factor(T0.plus(31 * MIN)), 1.5);
        assert_eq!(t.factor(T0.plus(91 * MIN)), 1.0);
        let e = t.on_signal(Restriction::RateLimited, T0.plus(2 * HOUR));
        assert!(e.outreach_blocked_until.is_some());
    }

    #[test]
    fn a_temporary_ban_widens_gaps_after_it_ends_and_stops_outreach_for_a_week() {
        let mut t = Tightening::default();
        let end = T0.plus(20 * HOUR);
        let e = t.on_signal(
            Restriction::TemporaryBan {
                expires_at: Some(end),
            },
            T0,
        );
        assert_eq!(e.until, end.plus(48 * HOUR));
        assert_eq!(t.factor(end.plus(47 * HOUR)), 2.0);
        assert_eq!(t.factor(end.plus(49 * HOUR)), 1.0);
        assert!(t.outreach_blocked(end.plus(6 * 24 * HOUR)).is_some());
        assert!(t.outreach_blocked(end.plus(8 * 24 * HOUR)).is_none());
        // A stored state survives a restart.
        let back: Tightening = serde_json::from_value(serde_json::to_value(&t).unwrap()).unwrap();
        assert_eq!(back, t);
    }
}
