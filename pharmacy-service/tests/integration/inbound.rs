//! Inbound messages -> customers, tickets, routing; dedup; PN/LID; reopen; edits and receipts.

use crate::support::*;
use pharmacy_service::app::{
    InboundContent, InboundEvent, InboundMessage, InboundOutcome, ReceiptStatus, SendReply, Sender,
};
use pharmacy_service::domain::ticket::{Actor, TicketStatus};
use std::time::Duration;

#[tokio::test]
async fn first_message_creates_ticket_and_routes_to_home_branch() {
    let w = World::new().await;
    w.online(0).await;
    w.online(2).await;
    let t = w.text("201001234567", "W1", "السلام عليكم").await;
    let ticket = w.ticket(t).await;
    assert_eq!(ticket.status, TicketStatus::Open);
    // No branch known: any online agent, least loaded, round robin on ties -> the lower id.
    assert_eq!(ticket.agent_id, Some(w.agents[0]));
    // Known home branch: that branch's agent.
    let t2 = w.text("201001111111", "W2", "hi").await;
    let _ = t2;
    let t3 = {
        w.app
            .close_ticket(t2, Actor::Admin(w.admin), None)
            .await
            .unwrap();
        w.set_home(t2, w.branches[1]).await;
        w.advance(Duration::from_secs(13 * 3600));
        w.text("201001111111", "W3", "again").await
    };
    assert_ne!(t3, t2, "outside the reopen window a new ticket starts");
    assert_eq!(w.ticket(t3).await.agent_id, Some(w.agents[2]));
    assert_eq!(w.ticket(t3).await.branch_id, Some(w.branches[1]));
}

#[tokio::test]
async fn redelivered_message_is_stored_once() {
    let w = World::new().await;
    let t = w.text("201001234567", "DUP", "hello").await;
    match w.send("201001234567", "DUP", "hello").await {
        InboundOutcome::Duplicate { .. } => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        w.count("SELECT count(*) FROM messages WHERE direction = 'in'")
            .await,
        1
    );
    assert_eq!(w.count("SELECT count(*) FROM tickets").await, 1);
    let _ = t;
}

#[tokio::test]
async fn phone_number_and_lid_are_one_person() {
    let w = World::new().await;
    // Seen with both: one customer.
    w.app
        .handle_inbound(text_event(
            Some("201001234567"),
            Some("98765"),
            "L1",
            "hi",
            T0,
        ))
        .await
        .unwrap();
    // Later only by LID, and in local spelling by number: same customer, same ticket.
    w.app
        .handle_inbound(text_event(None, Some("98765"), "L2", "are you there", T0))
        .await
        .unwrap();
    assert_eq!(w.count("SELECT count(*) FROM customers").await, 1);
    assert_eq!(w.count("SELECT count(*) FROM tickets").await, 1);

    // Seen separately first, then together: the records merge.
    w.app
        .handle_inbound(text_event(None, Some("55555"), "M1", "from lid", T0))
        .await
        .unwrap();
    w.app
        .handle_inbound(text_event(Some("201229999999"), None, "M2", "from pn", T0))
        .await
        .unwrap();
    assert_eq!(w.count("SELECT count(*) FROM customers").await, 3);
    w.app
        .handle_inbound(text_event(
            Some("201229999999"),
            Some("55555"),
            "M3",
            "both",
            T0,
        ))
        .await
        .unwrap();
    assert_eq!(w.count("SELECT count(*) FROM customers").await, 2);
    assert_eq!(
        w.count("SELECT count(*) FROM customers WHERE phone = '201229999999' AND lid = '55555'")
            .await,
        1
    );
    assert_eq!(w.count("SELECT count(*) FROM messages WHERE direction = 'in' AND customer_id = (SELECT id FROM customers WHERE lid = '55555')").await, 3);
    // Still at most one active ticket for the merged person.
    assert_eq!(w.count("SELECT count(*) FROM tickets WHERE status <> 'closed' AND customer_id = (SELECT id FROM customers WHERE lid = '55555')").await, 1);
}

#[tokio::test]
async fn writing_within_the_window_reopens_and_pending_goes_back_to_open() {
    let w = World::new().await;
    w.online(0).await;
    let t = w.text("201001234567", "A1", "hello").await;
    w.app
        .set_pending(t, Actor::Agent(w.agent_users[0]), true)
        .await
        .unwrap();
    assert_eq!(w.ticket(t).await.status, TicketStatus::Pending);
    w.text("201001234567", "A2", "here is the photo").await;
    assert_eq!(w.ticket(t).await.status, TicketStatus::Open);
    w.app
        .close_ticket(t, Actor::Agent(w.agent_users[0]), None)
        .await
        .unwrap();
    w.advance(Duration::from_secs(3600));
    match w.send("201001234567", "A3", "one more question").await {
        InboundOutcome::Stored {
            ticket_id,
            reopened: true,
            created: false,
            ..
        } => assert_eq!(ticket_id, t),
        other => panic!("{other:?}"),
    }
    let ticket = w.ticket(t).await;
    assert_eq!(
        (ticket.status, ticket.reopen_count),
        (TicketStatus::Open, 1)
    );
    assert_eq!(ticket.opened_at, w.app.now());
    let log: Vec<(Option<String>, String, String)> =
        sqlx::query_as("SELECT from_status, to_status, actor_kind FROM ticket_state_log WHERE ticket_id = ? ORDER BY id")
            .bind(t.0)
            .fetch_all(w.app.pool())
            .await
            .unwrap();
    let got: Vec<_> = log
        .iter()
        .map(|(f, to, a)| format!("{}>{to}:{a}", f.as_deref().unwrap_or("-")))
        .collect();
    assert_eq!(
        got,
        [
            "->open:customer",
            "open>pending:agent",
            "pending>open:customer",
            "open>closed:agent",
            "closed>open:customer"
        ]
    );
}

#[tokio::test]
async fn returning_customer_goes_back_to_their_agent_while_online() {
    let w = World::new().await;
    w.online(0).await;
    w.online(1).await;
    let t = w.text("201001234567", "S1", "hello").await;
    let first = w.ticket(t).await.agent_id.unwrap();
    w.app
        .send_reply(SendReply {
            ticket_id: t,
            user_id: w.agent_users[if first == w.agents[0] { 0 } else { 1 }],
            text: Some("أهلاً".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    w.app
        .close_ticket(t, Actor::Admin(w.admin), None)
        .await
        .unwrap();
    // Another customer makes the other agent less loaded... both have 0 open now; stickiness wins anyway.
    w.advance(Duration::from_secs(2 * 86_400));
    let t2 = w.text("201001234567", "S2", "me again").await;
    assert_ne!(t, t2);
    assert_eq!(w.ticket(t2).await.agent_id, Some(first));
    let reason: String = sqlx::query_scalar(
        "SELECT note FROM ticket_transfer_log WHERE ticket_id = ? ORDER BY id DESC",
    )
    .bind(t2.0)
    .fetch_one(w.app.pool())
    .await
    .unwrap();
    assert_eq!(reason, "sticky");
}

#[tokio::test]
async fn location_pin_routes_to_the_nearest_branch() {
    let w = World::new().await;
    w.online(0).await;
    w.online(2).await;
    let ev = InboundEvent::Message(InboundMessage {
        wa_id: "LOC1".into(),
        from: Sender {
            phone: Some("201001234567".into()),
            ..Default::default()
        },
        at: T0,
        content: InboundContent::Location {
            latitude: 31.0426,
            longitude: 31.3791,
            name: None,
        },
        quoted_wa_id: None,
    });
    let InboundOutcome::Stored { ticket_id, .. } = w.app.handle_inbound(ev).await.unwrap() else {
        panic!()
    };
    let t = w.ticket(ticket_id).await;
    assert_eq!(
        (t.agent_id, t.branch_id),
        (Some(w.agents[2]), Some(w.branches[1]))
    );
}

#[tokio::test]
async fn edits_revokes_reactions_and_receipts_apply_to_stored_messages() {
    let w = World::new().await;
    w.online(0).await;
    let t = w.text("201001234567", "E1", "I need panadol").await;
    w.app
        .handle_inbound(InboundEvent::Edited {
            from: Sender {
                phone: Some("201001234567".into()),
                ..Default::default()
            },
            wa_id: "E1".into(),
            text: "I need panadol extra".into(),
            at: T0,
        })
        .await
        .unwrap();
    let body: String = sqlx::query_scalar("SELECT body FROM messages WHERE wa_id = 'E1'")
        .fetch_one(w.app.pool())
        .await
        .unwrap();
    assert_eq!(body, "I need panadol extra");
    assert_eq!(w.count("SELECT count(*) FROM message_edits").await, 1);
    let reply = w
        .app
        .send_reply(SendReply {
            ticket_id: t,
            user_id: w.agent_users[0],
            text: Some("available".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let wa = reply.wa_id.clone().unwrap();
    w.app
        .handle_inbound(InboundEvent::Reaction {
            from: Sender {
                phone: Some("201001234567".into()),
                ..Default::default()
            },
            target_wa_id: wa.clone(),
            emoji: "👍".into(),
            at: T0,
        })
        .await
        .unwrap();
    w.app
        .handle_inbound(InboundEvent::Receipt {
            from: Sender {
                phone: Some("201001234567".into()),
                ..Default::default()
            },
            wa_ids: vec![wa.clone()],
            status: ReceiptStatus::Read,
            at: T0,
        })
        .await
        .unwrap();
    // A late "delivered" does not undo "read".
    w.app
        .handle_inbound(InboundEvent::Receipt {
            from: Sender {
                phone: Some("201001234567".into()),
                ..Default::default()
            },
            wa_ids: vec![wa.clone()],
            status: ReceiptStatus::Delivered,
            at: T0,
        })
        .await
        .unwrap();
    let (status, reaction): (String, Option<String>) =
        sqlx::query_as("SELECT status, reaction FROM messages WHERE wa_id = ?")
            .bind(&wa)
            .fetch_one(w.app.pool())
            .await
            .unwrap();
    assert_eq!((status.as_str(), reaction.as_deref()), ("read", Some("👍")));
    let log: Vec<String> = sqlx::query_scalar(
        "SELECT status FROM message_delivery_log WHERE message_id = ? ORDER BY id",
    )
    .bind(reply.id.0)
    .fetch_all(w.app.pool())
    .await
    .unwrap();
    assert_eq!(log, ["queued", "delivered", "read"]);
    w.app
        .handle_inbound(InboundEvent::Revoked {
            from: Sender {
                phone: Some("201001234567".into()),
                ..Default::default()
            },
            wa_id: "E1".into(),
            at: T0,
        })
        .await
        .unwrap();
    assert_eq!(
        w.count("SELECT count(*) FROM messages WHERE wa_id = 'E1' AND revoked_at IS NOT NULL")
            .await,
        1
    );
    match w
        .app
        .handle_inbound(InboundEvent::Revoked {
            from: Sender {
                phone: Some("201001234567".into()),
                ..Default::default()
            },
            wa_id: "nope".into(),
            at: T0,
        })
        .await
        .unwrap()
    {
        InboundOutcome::Ignored { .. } => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn live_events_follow_the_commit() {
    let w = World::new().await;
    let mut rx = w.app.events().subscribe();
    w.online(0).await;
    w.text("201001234567", "EV1", "hello").await;
    let mut kinds = Vec::new();
    while let Ok(e) = rx.try_recv() {
        kinds.push(
            serde_json::to_value(&e.event).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(
        kinds,
        [
            "agentStatus",
            "newCustomer",
            "ticketAssigned",
            "newMessage",
            "newMessage"
        ],
        "greeting queued after the customer's message"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_inbound_messages_are_each_stored_once() {
    let w = World::new().await;
    w.online(0).await;
    w.online(2).await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let app = w.app.clone();
        tasks.push(tokio::spawn(async move {
            // Ten customers, six messages each, every message delivered twice.
            let phone = format!("2010000000{:02}", i % 10);
            let ev = text_event(Some(&phone), None, &format!("C{i}"), "مرحبا", T0);
            app.handle_inbound(ev.clone()).await.unwrap();
            app.handle_inbound(ev).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        w.count("SELECT count(*) FROM messages WHERE direction = 'in'")
            .await,
        60
    );
    assert_eq!(w.count("SELECT count(*) FROM customers").await, 10);
    assert_eq!(w.count("SELECT count(*) FROM tickets").await, 10);
}

#[tokio::test]
async fn messages_sent_from_the_pharmacy_phone_join_the_conversation() {
    let w = World::with(|c| c.greeting_enabled = false).await;
    w.online(0).await;
    let t = w.text("201001234567", "F1", "hello").await;
    let own = InboundMessage {
        wa_id: "PHONE1".into(),
        from: Sender {
            phone: Some("201001234567".into()),
            ..Default::default()
        },
        at: T0,
        content: InboundContent::Text {
            text: "answered from the phone".into(),
        },
        quoted_wa_id: None,
    };
    match w
        .app
        .handle_inbound(InboundEvent::SentFromPhone(own.clone()))
        .await
        .unwrap()
    {
        InboundOutcome::Stored {
            ticket_id,
            created: false,
            ..
        } => assert_eq!(ticket_id, t),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        w.app
            .handle_inbound(InboundEvent::SentFromPhone(own))
            .await
            .unwrap(),
        InboundOutcome::Duplicate { .. }
    ));
    assert_eq!(w.count("SELECT count(*) FROM messages WHERE direction = 'out' AND status = 'sent' AND wa_id = 'PHONE1'").await, 1);
    // Nobody's KPI: the agent's first-response clock still runs.
    assert_eq!(
        w.count("SELECT count(*) FROM tickets WHERE first_response_at IS NULL")
            .await,
        1
    );
}

#[tokio::test]
async fn a_batch_commits_together_and_a_bad_event_falls_back_to_one_transaction_each() {
    let w = World::new().await;
    w.online(0).await;
    let now = w.app.now();
    let mut live = w.app.events().subscribe();
    // One batch: two customers interleaved, a redelivery inside the batch, an edit of a
    // message of the same batch.
    let batch = [
        text_event(Some("201001234567"), None, "B1", "first", now),
        text_event(Some("201009999999"), None, "B2", "other customer", now),
        text_event(Some("201001234567"), None, "B3", "second", now),
        text_event(Some("201001234567"), None, "B1", "first", now),
        InboundEvent::Edited {
            from: Sender {
                phone: Some("201001234567".into()),
                ..Default::default()
            },
            wa_id: "B3".into(),
            text: "second, edited".into(),
            at: now,
        },
    ];
    let out = w.app.handle_inbound_batch(&batch).await;
    let out: Vec<_> = out.into_iter().map(Result::unwrap).collect();
    let (t1, m1) = match &out[0] {
        InboundOutcome::Stored {
            ticket_id,
            message_id,
            created: true,
            ..
        } => (*ticket_id, *message_id),
        other => panic!("{other:?}"),
    };
    assert!(matches!(
        out[1],
        InboundOutcome::Stored { created: true, .. }
    ));
    assert!(
        matches!(out[2], InboundOutcome::Stored { ticket_id, created: false, .. } if ticket_id == t1)
    );
    assert_eq!(out[3], InboundOutcome::Duplicate { message_id: m1 });
    assert_eq!(out[4], InboundOutcome::Updated { count: 1 });
    assert_eq!(
        w.count("SELECT count(*) FROM messages WHERE direction = 'in'")
            .await,
        3
    );
    let bodies: Vec<String> = sqlx::query_scalar(
        "SELECT body FROM messages WHERE ticket_id = ? AND direction = 'in' ORDER BY id",
    )
    .bind(t1)
    .fetch_all(w.app.pool())
    .await
    .unwrap();
    assert_eq!(bodies, ["first", "second, edited"]);
    // Live events only after the commit, in the batch's order.
    let mut new_messages = Vec::new();
    while let Ok(e) = live.try_recv() {
        let v = serde_json::to_value(&e.event).unwrap();
        if v["type"] == "newMessage" && v["message"]["direction"] == "in" {
            new_messages.push(v["message"]["wa_id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(new_messages, ["B1", "B2", "B3"]);

    // A message with neither a number nor a LID fails the batch: the others still commit,
    // each in its own transaction, and only the bad one reports an error.
    let batch = [
        text_event(Some("201001234567"), None, "C1", "third", now),
        text_event(None, None, "C2", "from nobody", now),
        text_event(Some("201009999999"), None, "C3", "again", now),
    ];
    let out = w.app.handle_inbound_batch(&batch).await;
    assert!(
        matches!(out[0], Ok(InboundOutcome::Stored { .. })),
        "{out:?}"
    );
    assert!(out[1].is_err(), "{out:?}");
    assert!(
        matches!(out[2], Ok(InboundOutcome::Stored { .. })),
        "{out:?}"
    );
    assert_eq!(
        w.count("SELECT count(*) FROM messages WHERE wa_id IN ('C1', 'C2', 'C3')")
            .await,
        2
    );
}
