//! Replies reach simulated customers' phones through the paced outbox and the real client,
//! and the pacing is visible in what whatsapp-sim recorded: each customer's message is marked
//! read before the first reply to them, each message is preceded by "typing" then "paused"
//! (composing and paused chat states after the previous message), messages to one customer
//! arrive in the order written, and any two message stanzas of the number are at least the
//! active tier's number-wide spacing apart while two chats are served at once. Only orderings
//! and lower bounds are asserted (the spacing is a lower bound by construction), never how fast
//! anything was.

use super::bridge::eventually;
use super::sim_service::{SimService, from_pharmacy};
use pharmacy_service::app::SendReply;
use pharmacy_service::domain::pacing::PacingPolicy;
use std::time::Duration;

const HODA: &str = "201055551234";
const KARIM: &str = "201055554321";

/// Millisecond-scale, still observable: 300 ms or more between stanzas, 150 ms or more of
/// typing.
fn observable() -> PacingPolicy {
    PacingPolicy {
        active_gap: Duration::from_millis(300),
        active_gap_jitter: Duration::from_millis(100),
        burst_gap: Duration::from_millis(50),
        chat_gap: Duration::from_millis(300),
        typing_min: Duration::from_millis(150),
        typing_per_char: Duration::from_millis(2),
        typing_max: Duration::from_millis(400),
        read_pause: Duration::from_millis(50),
        ..PacingPolicy::fast()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_are_read_typed_paused_and_spaced_at_each_customer() {
    let policy = observable();
    let svc = SimService::start(policy.clone()).await;
    let (hoda_ticket, hoda_asked) = svc
        .customer_writes(HODA, "Hoda", "عندكم فيتامين د ٥٠٠٠؟")
        .await;
    let (karim_ticket, karim_asked) = svc
        .customer_writes(KARIM, "Karim", "Is the Panadol Extra in stock?")
        .await;
    let hoda = [
        "أيوه موجود، فيتامين د ٥٠٠٠ وحدة",
        "السعر ١٢٠ جنيه للعلبة",
        "تحبي نحجزهولك في الفرع؟",
    ];
    let karim = ["Yes, 24 tablets", "EGP 45 a pack"];
    // Queued back to back and interleaved: the agent's sends return at once; the worker
    // serves both chats at once and spaces the stanzas.
    for i in 0..hoda.len() {
        for (ticket, texts) in [(hoda_ticket, &hoda[..]), (karim_ticket, &karim[..])] {
            if let Some(text) = texts.get(i) {
                svc.app
                    .send_reply(SendReply {
                        ticket_id: ticket,
                        user_id: svc.agent.user_id,
                        text: Some((*text).into()),
                        ..SendReply::default()
                    })
                    .await
                    .unwrap();
            }
        }
    }
    let mut all_received = Vec::new();
    for (phone, asked, replies) in [
        (HODA, &hoda_asked, &hoda[..]),
        (KARIM, &karim_asked, &karim[..]),
    ] {
        let inbox = eventually("every reply at the customer", || async {
            let inbox: Vec<_> = svc
                .sim
                .customer_inbox(phone)
                .unwrap()
                .into_iter()
                .filter(|m| m.device == 0 && !m.from_me && from_pharmacy(&svc.sim, &m.from))
                .collect();
            let texts: Vec<&str> = inbox.iter().filter_map(|m| m.text.as_deref()).collect();
            replies.iter().all(|r| texts.contains(r)).then_some(inbox)
        })
        .await;
        // In the order they were written (after the greeting, which went through the same queue).
        let order: Vec<usize> = replies
            .iter()
            .map(|r| {
                inbox
                    .iter()
                    .position(|m| m.text.as_deref() == Some(*r))
                    .unwrap()
            })
            .collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "{phone}: replies arrive in order: {order:?}"
        );
        // "Typing" then "paused" before every message: composing and paused chat states after
        // the previous message and before this one, in that order.
        let states: Vec<(String, u64)> = svc
            .sim
            .customer_chatstates(phone)
            .unwrap()
            .into_iter()
            .filter(|c| from_pharmacy(&svc.sim, &c.from))
            .map(|c| (c.state, c.at_ms))
            .collect();
        let mut since = 0;
        for m in &inbox {
            let between: Vec<&str> = states
                .iter()
                .filter(|(_, at)| *at >= since && *at <= m.received_at_ms)
                .map(|(s, _)| s.as_str())
                .collect();
            let composing = between.iter().position(|s| *s == "composing");
            let paused = between.iter().rposition(|s| *s == "paused");
            assert!(
                matches!((composing, paused), (Some(c), Some(p)) if c < p),
                "{phone}: no composing then paused before {:?} (states {states:?}, message at {}, previous at {since})",
                m.text,
                m.received_at_ms
            );
            since = m.received_at_ms;
        }
        // The customer's message was marked read before anything was sent back.
        let stanzas = svc.sim.stanzas();
        let read_at = stanzas
            .iter()
            .find(|s| s.tag == "receipt" && s.kind == "read" && s.id == *asked)
            .map(|s| s.received_at_ms)
            .expect("a read receipt for the customer's message");
        let first_out = stanzas
            .iter()
            .filter(|s| s.tag == "message" && inbox.iter().any(|m| m.id == s.id))
            .map(|s| s.received_at_ms)
            .min()
            .expect("the replies' stanzas");
        assert!(
            read_at <= first_out,
            "{phone}: read at {read_at}, but the first reply was sent at {first_out}"
        );
        eventually("the customer sees blue ticks", || async {
            svc.sim
                .customer_sent(phone)
                .unwrap()
                .into_iter()
                .find(|s| s.id == *asked && s.status == "read")
        })
        .await;
        all_received.extend(inbox.iter().map(|m| m.received_at_ms));
    }

    // The number-wide spacing separates every two messages the number sent, whichever chat.
    all_received.sort();
    let gap = policy.active_gap.as_millis() as u64;
    for w in all_received.windows(2) {
        assert!(
            w[1] - w[0] >= gap,
            "{} ms between two messages, less than the configured {gap} ms: {all_received:?}",
            w[1] - w[0]
        );
    }
    svc.shutdown().await;
}
