//! Replies reach a simulated customer's phone through the paced outbox and the real client,
//! and the pacing is visible in what whatsapp-sim recorded: the customer's message is marked
//! read before the first reply, each message is preceded by "typing" (a composing chat
//! state), and consecutive messages are at least the configured minimum gap apart. Only
//! orderings and lower bounds are asserted (the gap is a lower bound by construction), never
//! how fast anything was.

use super::bridge::eventually;
use super::sim_service::{SimService, from_pharmacy};
use pharmacy_service::app::SendReply;
use pharmacy_service::domain::pacing::PacingPolicy;
use std::time::Duration;

const CUSTOMER: &str = "201055551234";

/// Millisecond-scale, still observable: a gap of 300 ms between sends, 150 ms or more of typing.
fn observable() -> PacingPolicy {
    PacingPolicy {
        min_gap: Duration::from_millis(300),
        gap_jitter: Duration::from_millis(100),
        typing_min: Duration::from_millis(150),
        typing_per_char: Duration::from_millis(2),
        typing_max: Duration::from_millis(400),
        read_pause: Duration::from_millis(50),
        ..PacingPolicy::fast()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_are_read_typed_and_spaced_at_the_customer() {
    let policy = observable();
    let svc = SimService::start(policy.clone()).await;
    let (ticket, asked) = svc
        .customer_writes(CUSTOMER, "Hoda", "عندكم فيتامين د ٥٠٠٠؟")
        .await;
    let replies = [
        "أيوه موجود، فيتامين د ٥٠٠٠ وحدة",
        "السعر ١٢٠ جنيه للعلبة",
        "تحبي نحجزهولك في الفرع؟",
    ];
    // Queued back to back: the agent's sends return at once; the worker spaces them.
    for text in replies {
        svc.app
            .send_reply(SendReply {
                ticket_id: ticket,
                user_id: svc.agent.user_id,
                text: Some(text.into()),
                ..SendReply::default()
            })
            .await
            .unwrap();
    }
    let inbox = eventually("every reply at the customer", || async {
        let inbox: Vec<_> = svc
            .sim
            .customer_inbox(CUSTOMER)
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
        "replies arrive in order: {order:?}"
    );
    assert!(
        inbox.len() >= 4,
        "the greeting and three replies: {inbox:#?}"
    );

    // The minimum gap separates every two messages the number sent.
    let min_gap = policy.min_gap.as_millis() as u64;
    for w in inbox.windows(2) {
        let gap = w[1].received_at_ms - w[0].received_at_ms;
        assert!(
            gap >= min_gap,
            "{gap} ms between {:?} and {:?}, less than the configured {min_gap} ms",
            w[0].text,
            w[1].text
        );
    }

    // "Typing" before every message: a composing chat state after the previous message and
    // before this one.
    let composing: Vec<u64> = svc
        .sim
        .customer_chatstates(CUSTOMER)
        .unwrap()
        .into_iter()
        .filter(|c| c.state == "composing" && from_pharmacy(&svc.sim, &c.from))
        .map(|c| c.at_ms)
        .collect();
    let mut since = 0;
    for m in &inbox {
        assert!(
            composing
                .iter()
                .any(|&at| at >= since && at <= m.received_at_ms),
            "no composing state before {:?} (composing at {composing:?}, message at {}, previous at {since})",
            m.text,
            m.received_at_ms
        );
        since = m.received_at_ms;
    }

    // The customer's message was marked read before anything was sent back.
    let stanzas = svc.sim.stanzas();
    let read_at = stanzas
        .iter()
        .find(|s| s.tag == "receipt" && s.kind == "read" && s.id == asked)
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
        "read at {read_at}, but the first reply was sent at {first_out}"
    );
    eventually("the customer sees blue ticks", || async {
        svc.sim
            .customer_sent(CUSTOMER)
            .unwrap()
            .into_iter()
            .find(|s| s.id == asked && s.status == "read")
    })
    .await;
    svc.shutdown().await;
}
