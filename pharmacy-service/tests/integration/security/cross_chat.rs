//! A customer names WhatsApp ids outside their own chat: another customer's message, the
//! pharmacy's reply to someone else. Reactions, edits, revokes and receipts resolve only inside
//! the sender's chat; edits and revokes only touch the sender's own messages, within
//! WhatsApp's windows judged on WhatsApp's timestamps; the webhook demands the sender.

use super::super::api_support::*;
use pharmacy_service::app::{InboundEvent, InboundOutcome, ReceiptStatus, SendReply, Sender};
use pharmacy_service::domain::time::Timestamp;
use serde_json::json;
use std::time::Duration;

const ALICE: &str = "201001110001";
const BOB: &str = "201001110002";

fn from(phone: &str) -> Sender {
    Sender {
        phone: Some(phone.into()),
        ..Default::default()
    }
}

/// (body, reaction, status, edited, revoked) of the message with this WhatsApp id.
async fn row(t: &TestApp, wa_id: &str) -> (Option<String>, Option<String>, String, bool, bool) {
    let (body, reaction, status, edited, revoked): (
        Option<String>,
        Option<String>,
        String,
        Option<i64>,
        Option<i64>,
    ) = sqlx::query_as(
        "SELECT body, reaction, status, edited_at, revoked_at FROM messages WHERE wa_id = ?",
    )
    .bind(wa_id)
    .fetch_one(t.world.app.pool())
    .await
    .unwrap();
    (body, reaction, status, edited.is_some(), revoked.is_some())
}

async fn apply(t: &TestApp, e: InboundEvent) -> InboundOutcome {
    t.world.app.handle_inbound(e).await.unwrap()
}

fn ignored(o: &InboundOutcome) -> bool {
    matches!(
        o,
        InboundOutcome::Ignored { .. } | InboundOutcome::Updated { count: 0 }
    )
}

/// Alice's message, the pharmacy's reply to Alice (its WhatsApp id), and Bob's chat.
async fn two_chats(t: &TestApp) -> String {
    t.world.online(0).await;
    let alice = t.customer_writes(ALICE, "A1", "alice asks").await;
    t.customer_writes(BOB, "B1", "bob asks").await;
    t.assign(alice, t.world.agents[0]).await;
    let reply = t
        .world
        .app
        .send_reply(SendReply {
            ticket_id: alice,
            user_id: t.world.agent_users[0],
            text: Some("for alice".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    reply.wa_id.unwrap()
}

#[tokio::test]
async fn another_chats_ids_change_nothing() {
    let t = spawn_app().await;
    let reply = two_chats(&t).await;
    let now = t.world.app.now();
    let before = (row(&t, "A1").await, row(&t, &reply).await);
    for e in [
        InboundEvent::Edited {
            from: from(BOB),
            wa_id: "A1".into(),
            text: "bob rewrote alice".into(),
            at: now,
        },
        InboundEvent::Revoked {
            from: from(BOB),
            wa_id: "A1".into(),
            at: now,
        },
        InboundEvent::Reaction {
            from: from(BOB),
            target_wa_id: "A1".into(),
            emoji: "💩".into(),
            at: now,
        },
        InboundEvent::Reaction {
            from: from(BOB),
            target_wa_id: reply.clone(),
            emoji: "💩".into(),
            at: now,
        },
        InboundEvent::Receipt {
            from: from(BOB),
            wa_ids: vec![reply.clone()],
            status: ReceiptStatus::Read,
            at: now,
        },
        // Alice may not edit or delete the pharmacy's words in her own chat either.
        InboundEvent::Edited {
            from: from(ALICE),
            wa_id: reply.clone(),
            text: "we give it away free".into(),
            at: now,
        },
        InboundEvent::Revoked {
            from: from(ALICE),
            wa_id: reply.clone(),
            at: now,
        },
        // Someone who never wrote to the pharmacy has no chat at all.
        InboundEvent::Receipt {
            from: from("201009999999"),
            wa_ids: vec![reply.clone()],
            status: ReceiptStatus::Delivered,
            at: now,
        },
    ] {
        let out = apply(&t, e.clone()).await;
        assert!(ignored(&out), "{e:?} was applied: {out:?}");
    }
    assert_eq!(
        (row(&t, "A1").await, row(&t, &reply).await),
        before,
        "another chat's messages changed"
    );
    assert_eq!(t.world.count("SELECT count(*) FROM message_edits").await, 0);

    // In her own chat the same events work: the ids are hers.
    apply(
        &t,
        InboundEvent::Reaction {
            from: from(ALICE),
            target_wa_id: reply.clone(),
            emoji: "👍".into(),
            at: now,
        },
    )
    .await;
    apply(
        &t,
        InboundEvent::Receipt {
            from: from(ALICE),
            wa_ids: vec![reply.clone()],
            status: ReceiptStatus::Read,
            at: now,
        },
    )
    .await;
    apply(
        &t,
        InboundEvent::Edited {
            from: from(ALICE),
            wa_id: "A1".into(),
            text: "alice asks again".into(),
            at: now,
        },
    )
    .await;
    let (_, reaction, status, _, _) = row(&t, &reply).await;
    assert_eq!((reaction.as_deref(), status.as_str()), (Some("👍"), "read"));
    assert_eq!(row(&t, "A1").await.0.as_deref(), Some("alice asks again"));
}

#[tokio::test]
async fn edits_and_revokes_after_whatsapps_window_are_ignored() {
    let t = spawn_app().await;
    t.customer_writes(ALICE, "A1", "first words").await;
    t.customer_writes(ALICE, "A2", "second words").await;
    let sent: Timestamp = t.world.app.now();
    t.world.advance(Duration::from_secs(21 * 60));
    let late_edit = apply(
        &t,
        InboundEvent::Edited {
            from: from(ALICE),
            wa_id: "A1".into(),
            text: "rewritten 21 minutes later".into(),
            at: t.world.app.now(),
        },
    )
    .await;
    assert!(ignored(&late_edit), "{late_edit:?}");
    assert_eq!(row(&t, "A1").await.0.as_deref(), Some("first words"));
    // Judged on WhatsApp's timestamps: an edit made at 19 minutes and delivered late counts.
    apply(
        &t,
        InboundEvent::Edited {
            from: from(ALICE),
            wa_id: "A1".into(),
            text: "rewritten at 19 minutes".into(),
            at: sent.plus(Duration::from_secs(19 * 60)),
        },
    )
    .await;
    assert_eq!(
        row(&t, "A1").await.0.as_deref(),
        Some("rewritten at 19 minutes")
    );

    t.world.advance(Duration::from_secs(2 * 86_400));
    let late_revoke = apply(
        &t,
        InboundEvent::Revoked {
            from: from(ALICE),
            wa_id: "A2".into(),
            at: t.world.app.now(),
        },
    )
    .await;
    assert!(ignored(&late_revoke), "{late_revoke:?}");
    assert!(!row(&t, "A2").await.4, "revoked after two days");
    apply(
        &t,
        InboundEvent::Revoked {
            from: from(ALICE),
            wa_id: "A2".into(),
            at: sent.plus(Duration::from_secs(86_400)),
        },
    )
    .await;
    assert!(
        row(&t, "A2").await.4,
        "a revoke sent within two days counts"
    );
}

#[tokio::test]
async fn the_webhook_requires_the_sender_of_edits_revokes_reactions_and_receipts() {
    let t = spawn_app().await;
    let reply = two_chats(&t).await;
    let at = t.world.app.now().0;
    for event in [
        json!({ "type": "edited", "wa_id": "A1", "text": "x", "at": at }),
        json!({ "type": "revoked", "wa_id": "A1", "at": at }),
        json!({ "type": "reaction", "target_wa_id": reply, "emoji": "💩", "at": at }),
        json!({ "type": "receipt", "wa_ids": [reply], "status": "read", "at": at }),
    ] {
        let r = t.ingest(&event.to_string()).await;
        assert_eq!(r.status, 422, "{event}: {}", r.text());
        assert_eq!(r.code(), "validation");
        assert_eq!(r.json()["error"]["details"]["field"], "from", "{event}");
    }
    // Through the webhook too, Bob's receipt for Alice's reply changes nothing.
    let r = t
        .ingest(
            &json!({ "type": "receipt", "from": { "phone": BOB }, "wa_ids": [reply], "status": "read", "at": at })
                .to_string(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["outcome"]["count"], 0);
    assert_ne!(row(&t, &reply).await.2, "read");
}

/// A vote names its poll by id: a poll of another chat is never counted (the vote stays a
/// visible line in the voter's own chat), and a live location never moves another chat's.
#[tokio::test]
async fn votes_and_live_locations_touch_only_the_senders_chat() {
    use pharmacy_service::app::{InboundContent, InboundMessage};
    use pharmacy_service::domain::message::poll_option_hash;
    let t = spawn_app().await;
    two_chats(&t).await;
    let now = t.world.app.now();
    let message = |phone: &str, wa_id: &str, content| {
        InboundEvent::Message(InboundMessage {
            wa_id: wa_id.into(),
            from: from(phone),
            at: now,
            content,
            quoted_wa_id: None,
        })
    };
    apply(
        &t,
        message(
            ALICE,
            "A-POLL",
            InboundContent::Poll {
                question: "Delivery?".into(),
                options: vec!["Yes".into(), "No".into()],
                selectable: 1,
            },
        ),
    )
    .await;
    let live = |lat: f64, sequence| InboundContent::LiveLocation {
        latitude: lat,
        longitude: 31.2,
        caption: None,
        sequence: Some(sequence),
    };
    apply(&t, message(ALICE, "A-LIVE", live(30.0, 1))).await;
    let vote = |phone: &str, wa_id: &str| InboundEvent::PollVote {
        from: from(phone),
        wa_id: wa_id.into(),
        poll_wa_id: "A-POLL".into(),
        selected: vec![poll_option_hash("No")],
        at: now,
    };
    let out = apply(&t, vote(BOB, "B-VOTE")).await;
    assert!(
        matches!(out, InboundOutcome::Stored { .. }),
        "a vote on another chat's poll is shown in the voter's chat: {out:?}"
    );
    assert_eq!(
        t.world
            .count("SELECT count(*) FROM message_poll_votes")
            .await,
        0
    );
    let bob_line: (String, i64) = sqlx::query_as(
        "SELECT m.kind, c.phone LIKE '%201001110002' FROM messages m JOIN customers c ON c.id = m.customer_id WHERE m.wa_id = 'B-VOTE'",
    )
    .fetch_one(t.world.app.pool())
    .await
    .unwrap();
    assert_eq!(bob_line, ("poll_vote".to_owned(), 1));
    // Bob's live location starts his own share; Alice's stays where it was.
    apply(&t, message(BOB, "B-LIVE", live(29.0, 2))).await;
    let lat = |wa_id: &'static str| {
        let pool = t.world.app.pool().clone();
        async move {
            sqlx::query_scalar::<_, f64>("SELECT latitude FROM messages WHERE wa_id = ?")
                .bind(wa_id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(lat("A-LIVE").await, 30.0);
    assert_eq!(lat("B-LIVE").await, 29.0);
    // Alice's own vote and update apply to her poll and her share.
    assert!(matches!(
        apply(&t, vote(ALICE, "A-VOTE")).await,
        InboundOutcome::Updated { count: 1 }
    ));
    assert_eq!(
        t.world
            .count("SELECT count(*) FROM message_poll_votes WHERE position = 1")
            .await,
        1
    );
    apply(&t, message(ALICE, "A-LIVE-2", live(30.5, 2))).await;
    assert_eq!(lat("A-LIVE").await, 30.5);
}
