//! The pacer: when each message's read receipt, "typing" and stanza go out.
//!
//! Only the message stanzas are serialised number-wide (a short spacing, caps per minute and
//! hour, and for outreach a long gap and an hourly cap). Reading and typing happen in each chat
//! on its own, timed backwards from the stanza's slot so the customer sees read, a pause, typing
//! and the message, in that order and without a long "typing…" (Meta dismisses the indicator
//! after 25 s: developers.facebook.com typing-indicators [DOC]). A slot may be taken between two
//! already reserved ones, so a short reply is not queued behind a long one's typing.

use super::{PacingPolicy, Tier, Tightening};
use crate::domain::time::Timestamp;
use std::collections::HashMap;
use std::time::Duration;

/// The random draws one plan uses, each in `[0, 1)`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PlanJitter {
    /// The number-wide (and outreach) gap.
    pub gap: f64,
    /// The typing time.
    pub typing: f64,
    /// The spacing inside a burst.
    pub burst: f64,
}

/// A message to plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The chat (one customer).
    pub chat: &'a str,
    /// Its tier.
    pub tier: Tier,
    /// Characters of text (typing time grows with it).
    pub chars: usize,
    /// Whether a read receipt goes first.
    pub read_first: bool,
}

/// When a message's steps happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Its tier.
    pub tier: Tier,
    /// The read receipt, if one goes first.
    pub read_at: Option<Timestamp>,
    /// "Typing" starts.
    pub typing_from: Timestamp,
    /// The stanza goes out.
    pub send_at: Timestamp,
}

/// The pacer's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planned {
    /// Reserved: carry it out.
    Go(Plan),
    /// Not before then (outreach blocked, or its slot is further than the horizon): nothing was
    /// reserved, plan it again then.
    Later(Timestamp),
}

#[derive(Debug, Clone, Copy)]
struct ChatPace {
    last: Timestamp,
    burst: u32,
}

/// The pacing state of one number: the reserved and recent stanza slots. Pure: the caller
/// passes the time and the random draws.
#[derive(Debug, Clone, Default)]
pub struct Pacer {
    slots: Vec<Timestamp>,
    outreach: Vec<Timestamp>,
    chats: HashMap<String, ChatPace>,
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

impl Pacer {
    /// Plans `req` at `now` and reserves its slot, unless the message would start (read or
    /// type) later than `horizon` from now.
    pub fn plan(
        &mut self,
        policy: &PacingPolicy,
        tight: &Tightening,
        req: &Request<'_>,
        now: Timestamp,
        jitter: PlanJitter,
        horizon: Duration,
    ) -> Planned {
        self.prune(now);
        let factor = tight.factor(now);
        if req.tier == Tier::Outreach
            && let Some(until) = tight.outreach_blocked(now)
        {
            return Planned::Later(until);
        }
        if req.tier == Tier::Outreach && policy.outreach_hour_cap == 0 {
            // An admin turned outreach off: ask again in an hour.
            return Planned::Later(now.plus(HOUR));
        }
        let typing = policy.typing_time(req.chars, jitter.typing);
        let read = if req.read_first {
            policy.read_pause
        } else {
            Duration::ZERO
        };
        let mut earliest = now.plus(read + typing);
        let chat = self.chats.get(req.chat).copied();
        let chat_gap = policy.chat_gap.mul_f64(factor);
        let burst = match chat {
            Some(c) if now.since(c.last) < chat_gap && c.burst < policy.burst_len => {
                earliest = earliest.max(
                    c.last
                        .plus(policy.burst_gap.mul_f64(1.0 + clamp01(jitter.burst))),
                );
                c.burst + 1
            }
            Some(c) => {
                earliest = earliest.max(c.last.plus(chat_gap));
                1
            }
            None => 1,
        };
        let gap = (policy.active_gap + policy.active_gap_jitter.mul_f64(clamp01(jitter.gap)))
            .mul_f64(factor);
        let cap = |c: u32| ((f64::from(c) / factor).floor() as usize).max(1);
        let mut spacing = vec![(&self.slots, gap)];
        let mut caps = vec![
            (&self.slots, MINUTE, cap(policy.per_minute_cap)),
            (&self.slots, HOUR, cap(policy.per_hour_cap)),
        ];
        if req.tier == Tier::Outreach {
            let strict =
                (policy.min_gap + policy.gap_jitter.mul_f64(clamp01(jitter.gap))).mul_f64(factor);
            spacing.push((&self.outreach, strict));
            caps.push((&self.outreach, HOUR, cap(policy.outreach_hour_cap)));
        }
        let send_at = first_fit(earliest, &spacing, &caps);
        let typing_from = send_at.minus(typing);
        let read_at = req.read_first.then(|| typing_from.minus(read));
        let starts = read_at.unwrap_or(typing_from);
        if starts > now.plus(horizon) {
            return Planned::Later(starts.minus(horizon));
        }
        insert_sorted(&mut self.slots, send_at);
        if req.tier == Tier::Outreach {
            insert_sorted(&mut self.outreach, send_at);
        }
        self.chats.insert(
            req.chat.to_owned(),
            ChatPace {
                last: send_at,
                burst,
            },
        );
        Planned::Go(Plan {
            tier: req.tier,
            read_at,
            typing_from,
            send_at,
        })
    }

    /// Reserves the first number-wide stanza slot from `now` for a stanza that is neither read
    /// nor typed first (a delete-for-everyone).
    pub fn stanza(
        &mut self,
        policy: &PacingPolicy,
        tight: &Tightening,
        now: Timestamp,
        jitter: f64,
    ) -> Timestamp {
        self.prune(now);
        let factor = tight.factor(now);
        let gap =
            (policy.active_gap + policy.active_gap_jitter.mul_f64(clamp01(jitter))).mul_f64(factor);
        let cap = |c: u32| ((f64::from(c) / factor).floor() as usize).max(1);
        let at = first_fit(
            now,
            &[(&self.slots, gap)],
            &[
                (&self.slots, MINUTE, cap(policy.per_minute_cap)),
                (&self.slots, HOUR, cap(policy.per_hour_cap)),
            ],
        );
        insert_sorted(&mut self.slots, at);
        at
    }

    /// The last reserved stanza slot, if any is still remembered.
    pub fn last_slot(&self) -> Option<Timestamp> {
        self.slots.last().copied()
    }

    fn prune(&mut self, now: Timestamp) {
        let keep = |v: &mut Vec<Timestamp>| {
            let cut = v.partition_point(|t| now.since(*t) >= HOUR);
            v.drain(..cut);
        };
        keep(&mut self.slots);
        keep(&mut self.outreach);
        self.chats.retain(|_, c| now.since(c.last) < HOUR);
    }
}

/// The first instant from `t` that is `gap` clear of every slot of each spacing list and leaves
/// every window of each cap list under its cap.
fn first_fit(
    mut t: Timestamp,
    spacing: &[(&Vec<Timestamp>, Duration)],
    caps: &[(&Vec<Timestamp>, Duration, usize)],
) -> Timestamp {
    // Each pass only moves `t` later; the bound is a backstop against a bug, never reached.
    for _ in 0..100_000 {
        let mut moved = false;
        for (slots, gap) in spacing {
            let i = slots.partition_point(|s| *s <= t);
            if i > 0 && t < slots[i - 1].plus(*gap) {
                t = slots[i - 1].plus(*gap);
                moved = true;
            } else if i < slots.len() && slots[i] < t.plus(*gap) {
                t = slots[i].plus(*gap);
                moved = true;
            }
        }
        for (slots, window, cap) in caps {
            if let Some(later) = cap_frees(slots, t, *window, *cap) {
                t = later;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    t
}

/// When a slot at `t` would put `cap` + 1 slots in some window of length `window`, the end of
/// the earliest such window (`t` must move past it).
fn cap_frees(slots: &[Timestamp], t: Timestamp, window: Duration, cap: usize) -> Option<Timestamp> {
    let from = slots.partition_point(|s| t.since(*s) >= window && *s < t);
    let starts = slots[from..]
        .iter()
        .copied()
        .take_while(|s| *s <= t)
        .chain(std::iter::once(t));
    for s in starts {
        let end = s.plus(window);
        let lo = slots.partition_point(|x| *x < s);
        let hi = slots.partition_point(|x| *x < end);
        if hi - lo >= cap {
            return Some(end.max(t.plus(Duration::from_millis(1))));
        }
    }
    None
}

fn insert_sorted(v: &mut Vec<Timestamp>, t: Timestamp) {
    let i = v.partition_point(|s| *s <= t);
    v.insert(i, t);
}

fn clamp01(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

#[cfg(test)]
mod tests;
