//! Nothing a customer sends is lost while the service's database refuses writes: simulated
//! customers send every shape real phones send (the catalogue of `whatsapp_sim::shapes`)
//! while every write fails; the sim's stanza log shows no receipt from the service's device
//! for any of them; once writes work again WhatsApp
//! delivers them again (at the next login) and each is stored exactly once, counted by its
//! WhatsApp id, and acknowledged.
//!
//! The fault is `PRAGMA query_only` on every connection of the pool: every write fails at
//! once with SQLITE_READONLY (what a disk remounted read-only reports), where a held lock
//! would make each message wait out the busy timeout. What each shape is stored as (a kind,
//! a line) is the subject of other tests: this one asserts ids and counts only.

use super::bridge::eventually;
use super::sim_service::{PHARMACY, SimService};
use pharmacy_service::app::LiveEvent;
use pharmacy_service::domain::pacing::PacingPolicy;
use sqlx::SqlitePool;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;
use whatsapp_sim::Fault;
use whatsapp_sim::device::Outgoing;
use whatsapp_sim::shapes;

const CUSTOMER: &str = "201066600001";

/// How the customer's phone sends a shape.
enum Send {
    /// As the catalogue gives it.
    Message(Outgoing),
    /// A vote on the customer's poll, for this option (sealed with the poll's secret by
    /// their phone: the catalogue's vote, sealed with a made-up key, could not be read).
    Vote(&'static str),
}

struct Shape {
    name: &'static str,
    send: Send,
    /// A change of another message (an edit, a reaction, a revoke, a vote): no row of its
    /// own is required under its id (at most one: a line).
    change: bool,
}

/// Every shape of the catalogue (`whatsapp_sim::shapes`), as the customer sends them to the
/// pharmacy; the edits and the reaction change `edited`, the revoke deletes `revoked`, the
/// vote is on the customer's own poll.
fn table(edited: &str, revoked: &str) -> Vec<Shape> {
    let chat = format!("{PHARMACY}@s.whatsapp.net");
    shapes::catalogue(&chat, edited, revoked)
        .into_iter()
        .map(|(name, send)| Shape {
            name,
            send: if name == "poll vote" {
                Send::Vote("Delivery")
            } else {
                Send::Message(send)
            },
            change: shapes::CHANGES.contains(&name),
        })
        .collect()
}

/// Makes every write of the pool fail (`PRAGMA query_only`, per connection: the pool's
/// connections are all taken at once so each one gets it), or work again.
async fn refuse_writes(pool: &SqlitePool, refuse: bool) {
    let mut held = Vec::new();
    for _ in 0..pool.options().get_max_connections() {
        held.push(pool.acquire().await.unwrap());
    }
    for c in &mut held {
        sqlx::query(&format!("PRAGMA query_only = {}", u8::from(refuse)))
            .execute(&mut **c)
            .await
            .unwrap();
    }
}

/// How many messages are stored under `wa_id`.
async fn stored(pool: &SqlitePool, wa_id: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM messages WHERE wa_id = ?")
        .bind(wa_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The ids among `ids` the service's device sent a receipt for (a retry receipt asks for the
/// message again: no acknowledgement).
fn receipted(svc: &SimService, ids: &[String]) -> HashSet<String> {
    svc.sim
        .stanzas()
        .into_iter()
        .filter(|s| s.tag == "receipt" && s.kind != "retry" && s.from.starts_with(PHARMACY))
        .map(|s| s.id)
        .filter(|id| ids.contains(id))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_store_fails_no_shape_is_acknowledged_and_afterwards_each_is_stored_once() {
    let svc = SimService::start(PacingPolicy::fast()).await;
    let pool = svc.app.pool().clone();
    // What the changes act on, stored before the fault: two texts and a poll of the customer's.
    let (_, edited) = svc.customer_writes(CUSTOMER, "Mona", "original text").await;
    let revoked = svc
        .sim
        .customer_send(
            CUSTOMER,
            PHARMACY,
            Outgoing::Text("sent by mistake".into()),
            None,
        )
        .unwrap();
    let poll = svc
        .sim
        .customer_poll(
            CUSTOMER,
            PHARMACY,
            "Pickup or delivery?",
            &["Pickup", "Delivery"],
        )
        .unwrap();
    for id in [&revoked, &poll] {
        eventually("the targets stored", || async {
            (stored(&pool, id).await == 1).then_some(())
        })
        .await;
    }

    refuse_writes(&pool, true).await;
    let mut events = svc.app.events().subscribe();
    let shapes = table(&edited, &revoked);
    assert_eq!(shapes.len(), 41, "the catalogue");
    let ids: Vec<String> = shapes
        .iter()
        .map(|s| {
            match &s.send {
                Send::Message(m) => svc.sim.customer_send(CUSTOMER, PHARMACY, m.clone(), None),
                Send::Vote(option) => {
                    svc.sim
                        .customer_vote(CUSTOMER, PHARMACY, &poll, &[option], true)
                }
            }
            .unwrap_or_else(|e| panic!("{}: {e}", s.name))
        })
        .collect();
    // Every one was refused: the service said so, once per attempt, and stored nothing.
    let mut refused = 0;
    while refused < shapes.len() {
        let envelope = match tokio::time::timeout(Duration::from_secs(60), events.recv()).await {
            Ok(Ok(e)) => e,
            Ok(Err(RecvError::Lagged(_))) => continue,
            Ok(Err(e)) => panic!("event bus: {e}"),
            Err(_) => panic!("{refused} of {} shapes refused", shapes.len()),
        };
        if let LiveEvent::WhatsappStatus { state, .. } = &envelope.event
            && state == "store_failed"
        {
            refused += 1;
        }
    }
    for (shape, id) in shapes.iter().zip(&ids) {
        assert_eq!(
            stored(&pool, id).await,
            0,
            "{} stored while failing",
            shape.name
        );
    }
    let early = receipted(&svc, &ids);
    assert!(
        early.is_empty(),
        "acknowledged while the store failed: {:?}",
        shapes
            .iter()
            .zip(&ids)
            .filter(|(_, id)| early.contains(*id))
            .map(|(s, _)| s.name)
            .collect::<Vec<_>>()
    );

    // Writes work again: WhatsApp delivers the unacknowledged messages at the next login.
    refuse_writes(&pool, false).await;
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        svc.sim.fault(&Fault::DropConnections).expect("fault");
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if receipted(&svc, &ids).len() == ids.len() {
                break;
            }
        }
        let done = receipted(&svc, &ids);
        if done.len() == ids.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never acknowledged: {:?}",
            shapes
                .iter()
                .zip(&ids)
                .filter(|(_, id)| !done.contains(*id))
                .map(|(s, _)| s.name)
                .collect::<Vec<_>>()
        );
    }
    // Acknowledged only once stored: each message exactly once, each change at most one row
    // (none, or its line) and applied.
    for (shape, id) in shapes.iter().zip(&ids) {
        let n = stored(&pool, id).await;
        if shape.change {
            assert!(n <= 1, "{}: {n} rows", shape.name);
        } else {
            assert_eq!(n, 1, "{}: stored once", shape.name);
        }
    }
    let (body, reaction): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT body, reaction FROM messages WHERE wa_id = ?")
            .bind(&edited)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        ["fixed", "fixed again", "eph edit"].contains(&body.as_deref().unwrap_or_default()),
        "the edits reached their target: {body:?}"
    );
    assert_eq!(reaction.as_deref(), Some("👍"));
    let revoked_at: Option<i64> =
        sqlx::query_scalar("SELECT revoked_at FROM messages WHERE wa_id = ?")
            .bind(&revoked)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(revoked_at.is_some(), "the revoke reached its target");
    svc.shutdown().await;
}
