//! Issue #28's evening peak, replayed through the pacing policy on a virtual clock:
//!
//! ```sh
//! cargo bench -p pharmacy-service --bench pacing
//! ```
//!
//! The trace (fixed seed): 15 agents, 300 customers of whom 20 % never wrote or were silent for
//! more than 24 h, 450 replies arriving as a Poisson process over one hour, 30 % of them in
//! bursts of 2-3 within a minute, 10 % one identical canned text, lengths 20-400 characters.
//! Each reply's wait runs from the agent's send to the server's ack (read pause and typing
//! included; the ack comes [`ACK`] after the stanza).
//!
//! - **New policy**: the real [`Pacer`] and [`tier::classify`] decide every instant, driven by
//!   a copy of the outbox worker's dispatch rules (`whatsapp::outbox`): at most
//!   `max_typing_chats` chats in flight, one message per chat at a time in the order written,
//!   a slot beyond the planning horizon puts the message back until then. The database and the
//!   messenger are left out (the bench measures the policy, not SQLite).
//! - **Old policy**: the worker before issue #28, one message at a time for the whole number:
//!   a 5-30 s gap after the previous send, read pause, typing, send.
//!
//! Prints p50 / p95 / max wait per tier and the sends per minute. Under `cargo test` (no
//! `--bench` argument) it does nothing.

use pharmacy_service::app::PLAN_HORIZON;
use pharmacy_service::domain::pacing::schedule::Request;
use pharmacy_service::domain::pacing::{
    Pacer, PacingPolicy, PlanJitter, Planned, Tier, Tightening, tier,
};
use pharmacy_service::domain::time::Timestamp;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

const SEED: u64 = 28;
const CUSTOMERS: usize = 300;
const REPLIES: usize = 450;
const HOUR_MS: i64 = 3_600_000;
/// The server's ack after the stanza. guess: a round trip from Egypt to WhatsApp's edge.
const ACK: Duration = Duration::from_millis(300);
const T0: Timestamp = Timestamp(1_800_000_000_000);

struct Reply {
    at: Timestamp,
    customer: usize,
    chars: usize,
    text: String,
}

struct Trace {
    replies: Vec<Reply>,
    last_inbound: Vec<Option<Timestamp>>,
}

fn trace() -> Trace {
    let mut rng = StdRng::seed_from_u64(SEED);
    // 20 % outreach: half never wrote, half wrote 2-10 days ago; the rest wrote in the last
    // hours before the peak (and keep writing: see below).
    let last_inbound: Vec<Option<Timestamp>> = (0..CUSTOMERS)
        .map(|i| match i % 10 {
            0 => None,
            1 => Some(T0.minus(Duration::from_secs(rng.gen_range(2..10) * 86_400))),
            _ => Some(T0.minus(Duration::from_secs(rng.gen_range(60..6 * 3600)))),
        })
        .collect();
    // Groups arrive as a Poisson process (sorted uniform times, the count fixed); a group is a
    // burst of 2-3 with probability q, where 2.5q / (2.5q + 1 - q) = 30 %.
    let q = 0.3 / (2.5 - 0.3 * 1.5);
    let mut replies = Vec::new();
    let mut starts = Vec::new();
    while starts.iter().map(|(_, n)| n).sum::<usize>() < REPLIES {
        let n = if rng.gen_bool(q) {
            rng.gen_range(2..=3)
        } else {
            1
        };
        let n = n.min(REPLIES - starts.iter().map(|(_, n)| n).sum::<usize>());
        starts.push((rng.gen_range(0..HOUR_MS), n));
    }
    starts.sort();
    let canned = "أيوه متوفر في الفرع، تقدر تعدي تستلمه في أي وقت لحد الساعة ١٢ بالليل".to_owned();
    for (start, n) in starts {
        let customer = rng.gen_range(0..CUSTOMERS);
        let mut offsets: Vec<i64> = (1..n).map(|_| rng.gen_range(5_000..60_000)).collect();
        offsets.insert(0, 0);
        offsets.sort();
        for off in offsets {
            let identical = rng.gen_bool(0.10);
            let chars = if identical {
                canned.chars().count()
            } else {
                rng.gen_range(20..=400)
            };
            replies.push(Reply {
                at: Timestamp(T0.0 + start + off),
                customer,
                chars,
                text: if identical {
                    canned.clone()
                } else {
                    format!("reply {}", replies.len())
                },
            });
        }
    }
    replies.sort_by_key(|r| r.at);
    Trace {
        replies,
        last_inbound,
    }
}

/// (tier, wait from the agent's send to the ack) per reply, and the ack instants.
type Outcome = Vec<(Tier, Duration, Timestamp)>;

/// The worker before issue #28: one at a time, a 5-30 s gap after the previous send, the read
/// pause and typing, then the send. Tiers are reported as the new policy would classify them.
fn old_policy(t: &Trace) -> Outcome {
    let p = PacingPolicy::single_file();
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut free = T0;
    let mut last_send: Option<Timestamp> = None;
    let mut read: HashSet<usize> = HashSet::new();
    let tiers = classify_all(t);
    t.replies
        .iter()
        .zip(tiers)
        .map(|(r, tier)| {
            let mut start = free.max(r.at);
            if let Some(next) = p.next_send_at(last_send, rng.r#gen()) {
                start = start.max(next);
            }
            let read_pause = if read.insert(r.customer) {
                p.read_pause
            } else {
                Duration::ZERO
            };
            let send = start.plus(read_pause + p.typing_time(r.chars, rng.r#gen()));
            let ack = send.plus(ACK);
            last_send = Some(ack);
            free = ack;
            (tier, ack.since(r.at), ack)
        })
        .collect()
}

/// Each reply's tier at the moment it is queued (as `App::outbox_tier` decides it).
fn classify_all(t: &Trace) -> Vec<Tier> {
    let p = PacingPolicy::production();
    t.replies
        .iter()
        .map(|r| tier::classify(&p, t.last_inbound[r.customer], r.at).0)
        .collect()
}

/// The new policy through the worker's dispatch rules.
fn new_policy(t: &Trace) -> Outcome {
    let p = PacingPolicy::production();
    let tight = Tightening::default();
    let tiers = classify_all(t);
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut pacer = Pacer::default();
    let mut due: Vec<Timestamp> = t.replies.iter().map(|r| r.at).collect();
    let mut done: Vec<Option<(Tier, Duration, Timestamp)>> = vec![None; t.replies.len()];
    let mut in_flight: BTreeMap<usize, Timestamp> = BTreeMap::new(); // reply -> ack
    let mut busy: HashSet<usize> = HashSet::new();
    let mut read: HashSet<usize> = HashSet::new();
    let mut now = T0;
    let max = p.max_typing_chats as usize;
    loop {
        // Finished tasks free their chats.
        in_flight.retain(|i, ack| {
            let running = *ack > now;
            if !running {
                busy.remove(&t.replies[*i].customer);
            }
            running
        });
        // Dispatch: due heads of idle chats, oldest due first, while there is room.
        while in_flight.len() < max {
            let mut heads: HashMap<usize, usize> = HashMap::new();
            for (i, r) in t.replies.iter().enumerate() {
                if done[i].is_none() && !in_flight.contains_key(&i) && r.at <= now {
                    heads.entry(r.customer).or_insert(i);
                }
            }
            let next = heads
                .into_values()
                .filter(|i| due[*i] <= now && !busy.contains(&t.replies[*i].customer))
                .min_by_key(|i| (due[*i], *i));
            let Some(i) = next else { break };
            let r = &t.replies[i];
            let req = Request {
                chat: &format!("c{}", r.customer),
                tier: tiers[i],
                chars: r.chars,
                read_first: read.insert(r.customer),
            };
            let jitter = PlanJitter {
                gap: rng.r#gen(),
                typing: rng.r#gen(),
                burst: rng.r#gen(),
            };
            match pacer.plan(&p, &tight, &req, now, jitter, PLAN_HORIZON) {
                Planned::Later(at) => {
                    if req.read_first {
                        read.remove(&r.customer);
                    }
                    due[i] = at;
                }
                Planned::Go(plan) => {
                    let ack = plan.send_at.plus(ACK);
                    done[i] = Some((plan.tier, ack.since(r.at), ack));
                    in_flight.insert(i, ack);
                    busy.insert(r.customer);
                }
            }
        }
        if done.iter().all(Option::is_some) && in_flight.is_empty() {
            break;
        }
        // The next event: an ack, an arrival, a postponed row coming due.
        let next = in_flight
            .values()
            .copied()
            .chain(
                (0..t.replies.len())
                    .filter(|i| done[*i].is_none())
                    .map(|i| due[i].max(t.replies[i].at))
                    .filter(|at| *at > now),
            )
            .min();
        now = match next {
            Some(at) => at,
            None => now.plus(Duration::from_millis(100)),
        };
    }
    done.into_iter()
        .map(|d| d.expect("every reply sent"))
        .collect()
}

fn pct(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn report(name: &str, out: &Outcome) {
    println!("{name}");
    for tier in [Tier::Active, Tier::Outreach] {
        let mut w: Vec<Duration> = out
            .iter()
            .filter(|(t, ..)| *t == tier)
            .map(|(_, w, _)| *w)
            .collect();
        w.sort();
        println!(
            "  {:<9} n={:>3}  p50 {:>8.1} s  p95 {:>8.1} s  max {:>8.1} s",
            tier.as_str(),
            w.len(),
            pct(&w, 0.5).as_secs_f64(),
            pct(&w, 0.95).as_secs_f64(),
            w.last().copied().unwrap_or_default().as_secs_f64()
        );
    }
    let mut acks: Vec<i64> = out.iter().map(|(.., a)| a.0).collect();
    acks.sort();
    let span = (acks.last().unwrap_or(&0) - acks.first().unwrap_or(&0)).max(1) as f64 / 60_000.0;
    let mut busiest = 0;
    let mut busiest_outreach = 0;
    let outreach: Vec<i64> = {
        let mut v: Vec<i64> = out
            .iter()
            .filter(|(t, ..)| *t == Tier::Outreach)
            .map(|(.., a)| a.0)
            .collect();
        v.sort();
        v
    };
    for (i, a) in acks.iter().enumerate() {
        busiest = busiest.max(acks[i..].iter().take_while(|b| **b - a < 60_000).count());
    }
    for (i, a) in outreach.iter().enumerate() {
        busiest_outreach = busiest_outreach.max(
            outreach[i..]
                .iter()
                .take_while(|b| **b - a < HOUR_MS)
                .count(),
        );
    }
    println!(
        "  sends/min {:.1} over {:.0} min (busiest minute {busiest}); outreach in the busiest hour {busiest_outreach}",
        acks.len() as f64 / span,
        span
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let t = trace();
    let tiers = classify_all(&t);
    let outreach = tiers.iter().filter(|t| **t == Tier::Outreach).count();
    let identical = t
        .replies
        .iter()
        .filter(|r| !r.text.starts_with("reply "))
        .count();
    println!(
        "trace: seed {SEED}, {} replies to {CUSTOMERS} customers over 1 h, {outreach} outreach, {identical} one canned text; ack {} ms after the stanza",
        t.replies.len(),
        ACK.as_millis()
    );
    report("old policy (5-30 s gap, one at a time)", &old_policy(&t));
    report(
        "new policy (risk-tiered, chats in parallel)",
        &new_policy(&t),
    );
    let p = PacingPolicy::production();
    println!(
        "caps: {}/min and {}/h number-wide, outreach {}/h at {}-{} s apart",
        p.per_minute_cap,
        p.per_hour_cap,
        p.outreach_hour_cap,
        p.min_gap.as_secs(),
        (p.min_gap + p.gap_jitter).as_secs()
    );
}
