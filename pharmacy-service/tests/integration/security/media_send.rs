//! High 4: an agent sends another branch's file. `POST /api/messages/send` with the
//! `media_sha256` of a prescription in a chat the agent may not read attached it and sent it to
//! the agent's own customer. A file may be sent only by someone who may read it (the rule of
//! `GET /api/media/{sha256}`); to anyone else it does not exist.

use super::media_xss::media_event;
use crate::api_support::{ADMIN, G1, T1, TestApp, spawn_app};
use pharmacy_service::domain::ids::TicketId;
use serde_json::json;

/// A customer writes, then sends a photo; returns the ticket and the photo's sha.
async fn customer_photo(t: &TestApp, phone: &str, photo: &[u8]) -> (TicketId, String) {
    let ticket = t
        .customer_writes(phone, &format!("{phone}-1"), "hello")
        .await;
    let sha = t.world.app.store_media(photo, "image/jpeg").await.unwrap();
    let r = t
        .ingest(&media_event(
            &format!("{phone}-2"),
            phone,
            "image",
            &sha,
            "image/jpeg",
            None,
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["outcome"]["ticket_id"], ticket.0);
    (ticket, sha)
}

#[tokio::test]
async fn another_branchs_file_cannot_be_sent() {
    let t = spawn_app().await;
    let (theirs, their_photo) =
        customer_photo(&t, "201001230201", b"\xff\xd8\xffprescription A").await;
    t.assign(theirs, t.world.agents[2]).await;
    let (mine, my_photo) = customer_photo(&t, "201001230202", b"\xff\xd8\xffphoto B").await;
    t.assign(mine, t.world.agents[0]).await;
    let me = t.login(T1).await;
    // The Gomhoreya agent's customer's prescription is not T1's to read...
    assert_eq!(
        me.get(&format!("/api/media/{their_photo}")).await.status,
        404
    );
    // ...nor to send, however the address is spelled.
    for sha in [their_photo.clone(), their_photo.to_ascii_uppercase()] {
        let r = me
            .post(
                "/api/messages/send",
                json!({ "ticket_id": mine.0, "media_sha256": sha, "text": "here" }),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text());
        assert_eq!(r.code(), "validation");
        assert_eq!(r.json()["error"]["details"]["field"], "media_sha256");
    }
    let sent = t
        .world
        .count(&format!(
            "SELECT count(*) FROM outbox WHERE media_sha256 = '{their_photo}'"
        ))
        .await;
    assert_eq!(sent, 0, "nothing queued");
    // A file T1 may read is sent, whatever the spelling of its address.
    let r = me
        .post(
            "/api/messages/send",
            json!({ "ticket_id": mine.0, "media_sha256": my_photo.to_ascii_uppercase() }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let m = &r.json()["message"];
    assert_eq!(m["kind"], "image");
    assert_eq!(m["media_sha256"], my_photo.as_str());
    assert_eq!(m["media_mime"], "image/jpeg");
    // The agent who serves the other customer may send theirs, and an admin any.
    let g1 = t.login(G1).await;
    let r = g1
        .post(
            "/api/messages/send",
            json!({ "ticket_id": theirs.0, "media_sha256": their_photo }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let admin = t.login(ADMIN).await;
    let r = admin
        .post(
            "/api/messages/send",
            json!({ "ticket_id": mine.0, "media_sha256": their_photo }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
}
