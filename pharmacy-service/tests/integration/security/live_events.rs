//! The live event socket under a hostile client (issue 19, items 8 and 10): a typing flood
//! neither reaches the others frame by frame nor pushes real events out of the replay ring
//! (another client's resume needs no `resync`), and a client message far larger than any real
//! event closes the socket.

use crate::api_support::{ADMIN, T1, spawn_app};
use crate::api_ws::{connect, drain, say, until};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typing_flood_is_throttled_and_keeps_the_others_resumable() {
    let t = spawn_app().await;
    let ticket = t.customer_writes("201001119001", "f1", "hello").await;
    t.assign(ticket, t.world.agents[0]).await;
    let (t1, admin) = (t.login(T1).await, t.login(ADMIN).await);
    // The admin was connected, saw everything up to `seen`, and dropped off.
    let mut ws_admin = connect(&t, &admin, None).await;
    drain(&mut ws_admin).await;
    let seen = t.world.app.events().last_seq();
    drop(ws_admin);
    // Another admin session stays connected and counts what reaches it.
    let mut ws_watch = connect(&t, &admin, None).await;

    let mut ws_t1 = connect(&t, &t1, None).await;
    let frame = json!({ "type": "typing", "ticket_id": ticket.0 }).to_string();
    let mut frames = futures_util::stream::iter((0..6000).map(|_| {
        Ok::<_, tokio_tungstenite::tungstenite::Error>(Message::Text(frame.clone().into()))
    }));
    ws_t1.send_all(&mut frames).await.unwrap();
    // Its pong: the server has taken all 6,000.
    drain(&mut ws_t1).await;

    let typing = drain(&mut ws_watch)
        .await
        .into_iter()
        .filter(|v| v["type"] == "typing")
        .count();
    assert!(
        typing < 100,
        "{typing} typing events relayed for 6,000 frames"
    );

    // The admin comes back: the ring still reaches back to what it saw.
    let mut ws_admin = connect(&t, &admin, Some(seen)).await;
    let got = drain(&mut ws_admin).await;
    assert!(
        got.iter().all(|v| v["type"] != "resync"),
        "resume after a typing flood needs a reload: {:?}",
        got.iter().find(|v| v["type"] == "resync")
    );
    // And real events still flow.
    t.customer_writes("201001119001", "f2", "still there?")
        .await;
    until(&mut ws_admin, |v| {
        v["type"] == "newMessage" && v["message"]["body"] == "still there?"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_client_message_closes_the_socket() {
    let t = spawn_app().await;
    let t1 = t.login(T1).await;
    let mut ws = connect(&t, &t1, None).await;
    // A real event's size (well under the limit) is fine.
    let padded = json!({ "type": "viewing", "ticket_id": 1, "pad": "x".repeat(4000) });
    say(&mut ws, padded).await;
    drain(&mut ws).await;
    // 128 KiB: far beyond any event a client sends.
    let big = json!({ "type": "ping", "pad": "x".repeat(128 * 1024) }).to_string();
    let _ = ws.send(Message::Text(big.into())).await;
    let _ = ws
        .send(Message::Text(json!({ "type": "ping" }).to_string().into()))
        .await;
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return None,
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap_or_default();
                    if v["type"] == "pong" {
                        return Some(v);
                    }
                }
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("the socket answers or closes in time");
    assert_eq!(end, None, "a 128 KiB client message was accepted");
}
