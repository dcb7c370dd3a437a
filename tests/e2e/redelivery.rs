//! A `msg` (not a prekey message) committed but not acknowledged comes back from the server:
//! after a reconnect of the same process (the client's session cache is warm) and after a
//! restart (cold). The client decrypts a `msg` before reading the plaintext buffer; the
//! redelivery cannot decrypt again (its message key left the session with the first commit),
//! so the buffer must hand over the plaintext, and the session must not move.

use sqlx::Row;
use whatsapp_client::{Event, EventStream, IncomingMessage};
use whatsapp_sim::device::Outgoing;
use whatsapp_sim::{Fault, Sim, SimConfig, SimHandle};

use fixtures::{CUSTOMER, OWN_PHONE, config, expect, inbox_until, paired, start, temp_db};

async fn message(events: &mut EventStream, what: &str) -> Box<IncomingMessage> {
    expect(events, what, |e| match e {
        Event::Message(m) => Some(m),
        Event::UndecryptableMessage { reason, .. } => panic!("{what}: undecryptable: {reason}"),
        _ => None,
    })
    .await
}

fn send(sim: &SimHandle, text: &str) -> String {
    sim.customer_send(CUSTOMER, OWN_PHONE, Outgoing::Text(text.into()), None)
        .expect("send")
}

/// Every session record and the number of buffered plaintexts, read from the file.
async fn store_state(path: &std::path::Path) -> (Vec<(String, Vec<u8>)>, i64) {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("open store");
    let sessions = sqlx::query("SELECT address, record FROM sessions ORDER BY address")
        .fetch_all(&pool)
        .await
        .expect("sessions")
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let buffered = sqlx::query_scalar("SELECT COUNT(*) FROM decrypted")
        .fetch_one(&pool)
        .await
        .expect("count");
    pool.close().await;
    (sessions, buffered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_msg_is_handed_over_from_the_buffer_with_a_warm_or_cold_cache() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("redeliver-msg");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    // The first message sets the session up (a pkmsg); our answer, once the customer has it,
    // makes the customer send plain `msg`s from then on.
    send(&sim, "hello");
    let mut hello = message(&mut events, "the first message").await;
    hello.ack();
    let reply = client
        .send_text(&hello.info.chat, "hi")
        .await
        .expect("reply");
    inbox_until(&sim, CUSTOMER, "the reply", |inbox| {
        inbox.iter().any(|m| m.id == reply)
    })
    .await;

    // Warm: committed, not acknowledged, then the connection drops; the same client gets it
    // again from the server's queue.
    let id = send(&sim, "warm");
    let first = message(&mut events, "a msg").await;
    assert_eq!(first.info.id, id);
    drop(first);
    let before = store_state(&path).await;
    sim.fault(&Fault::DropConnections).expect("fault");
    let mut again = message(&mut events, "the msg again after a reconnect").await;
    assert_eq!(
        (again.info.id.as_str(), again.text()),
        (id.as_str(), Some("warm"))
    );
    assert_eq!(
        store_state(&path).await,
        before,
        "the redelivery changed the store"
    );
    again.ack();

    // Cold: committed, not acknowledged, then the process "restarts".
    let id = send(&sim, "cold");
    let first = message(&mut events, "another msg").await;
    assert_eq!(first.info.id, id);
    drop(first);
    client.shutdown().await;
    drop(client);
    let before = store_state(&path).await;
    let (client, mut events) = start(&path, config(&sim)).await;
    let mut again = message(&mut events, "the msg again after a restart").await;
    assert_eq!(
        (again.info.id.as_str(), again.text()),
        (id.as_str(), Some("cold"))
    );
    assert_eq!(
        store_state(&path).await,
        before,
        "the redelivery changed the store"
    );
    again.ack();

    // The sessions still work after both redeliveries.
    send(&sim, "after");
    let mut last = message(&mut events, "a new message").await;
    assert_eq!(last.text(), Some("after"));
    last.ack();
    client.shutdown().await;
}
