//! Close, transfer, backlog on login, delay reassignment, auto-close on a virtual clock.

use crate::support::*;
use pharmacy_service::app::{AppError, SendReply, TransferTarget};
use pharmacy_service::domain::routing::AgentStatus;
use pharmacy_service::domain::ticket::{Actor, TicketStatus};
use std::time::Duration;

#[tokio::test]
async fn backlog_is_assigned_oldest_first_when_an_agent_comes_online() {
    let w = World::new().await;
    let mut tickets = Vec::new();
    for i in 0..5 {
        tickets.push(
            w.text(&format!("20100000000{i}"), &format!("B{i}"), "hello")
                .await,
        );
        w.advance(MIN);
    }
    assert_eq!(
        w.count("SELECT count(*) FROM tickets WHERE agent_id IS NULL")
            .await,
        5
    );
    // Capacity 3: the three oldest.
    let got = w
        .app
        .set_agent_status(w.agents[0], AgentStatus::Online, None)
        .await
        .unwrap();
    assert_eq!(got, tickets[..3]);
    let got = w
        .app
        .set_agent_status(w.agents[2], AgentStatus::Online, None)
        .await
        .unwrap();
    assert_eq!(got, tickets[3..]);
}

#[tokio::test]
async fn transfer_needs_a_note_and_a_branch_transfer_tells_the_customer() {
    let w = World::new().await;
    w.online(0).await;
    w.online(2).await;
    let t = w.text("201001234567", "T1", "hello").await;
    let by = w.agent_users[0];
    let err = w
        .app
        .transfer_ticket(t, by, TransferTarget::Branch(w.branches[1]), "  ")
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Invalid { field: "note", .. }));
    let moved = w
        .app
        .transfer_ticket(
            t,
            by,
            TransferTarget::Branch(w.branches[1]),
            "customer lives near Gomhoreya",
        )
        .await
        .unwrap();
    assert_eq!(
        (moved.agent_id, moved.branch_id),
        (Some(w.agents[2]), Some(w.branches[1]))
    );
    let note: String =
        sqlx::query_scalar("SELECT note FROM ticket_transfer_log WHERE kind = 'transfer'")
            .fetch_one(w.app.pool())
            .await
            .unwrap();
    assert_eq!(note, "customer lives near Gomhoreya");
    assert_eq!(
        w.count("SELECT count(*) FROM messages WHERE body = 'Now with Khalifa gomhoreya'")
            .await,
        1
    );
    // To a branch with nobody online: its queue.
    let q = w
        .app
        .transfer_ticket(
            t,
            by,
            TransferTarget::Branch(w.branches[2]),
            "Talkha delivery",
        )
        .await
        .unwrap();
    assert_eq!((q.agent_id, q.branch_id), (None, Some(w.branches[2])));
    // To a named agent.
    let a = w
        .app
        .assign_ticket(t, w.admin, w.agents[1], None)
        .await
        .unwrap();
    assert_eq!(a.agent_id, Some(w.agents[1]));
}

#[tokio::test]
async fn no_first_response_in_time_is_a_delay_with_reassignment_and_alert() {
    let w = World::new().await;
    w.online(0).await;
    let t = w.text("201001234567", "D1", "urgent question").await;
    assert_eq!(w.ticket(t).await.agent_id, Some(w.agents[0]));
    w.online(1).await;
    w.advance(9 * MIN);
    assert!(w.app.run_jobs().await.unwrap().delayed.is_empty());
    w.advance(2 * MIN);
    let r = w.app.run_jobs().await.unwrap();
    assert_eq!(
        (r.delayed.clone(), r.reassigned.clone()),
        (vec![t], vec![t])
    );
    assert_eq!(w.ticket(t).await.agent_id, Some(w.agents[1]));
    assert_eq!(
        w.count("SELECT count(*) FROM agent_delay_events WHERE agent_id = 1")
            .await,
        1
    );
    assert_eq!(
        w.count("SELECT count(*) FROM admin_alerts WHERE kind = 'delay'")
            .await,
        1
    );
    // The new agent gets a full timeout of their own; with nobody else online it stays put.
    w.app
        .set_agent_status(w.agents[0], AgentStatus::Offline, None)
        .await
        .unwrap();
    w.advance(11 * MIN);
    let r = w.app.run_jobs().await.unwrap();
    assert_eq!((r.delayed.len(), r.reassigned.len()), (1, 0));
    assert_eq!(w.ticket(t).await.agent_id, Some(w.agents[1]));
    // Flagged once per assignment.
    w.advance(11 * MIN);
    assert!(w.app.run_jobs().await.unwrap().delayed.is_empty());
    // An answer stops it for good.
    w.app
        .send_reply(SendReply {
            ticket_id: t,
            user_id: w.agent_users[1],
            text: Some("sorry!".into()),
            ..Default::default()
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn idle_tickets_close_automatically_on_the_virtual_clock() {
    let w = World::new().await;
    w.online(0).await;
    let t = w.text("201001234567", "C1", "hello").await;
    w.app
        .send_reply(SendReply {
            ticket_id: t,
            user_id: w.agent_users[0],
            text: Some("hi".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    w.app
        .set_pending(t, Actor::Agent(w.agent_users[0]), true)
        .await
        .unwrap();
    w.advance(Duration::from_secs(3 * 86_400 - 60));
    assert!(w.app.run_jobs().await.unwrap().auto_closed.is_empty());
    w.advance(2 * MIN);
    assert_eq!(w.app.run_jobs().await.unwrap().auto_closed, vec![t]);
    let tk = w.ticket(t).await;
    assert_eq!(
        (tk.status, tk.close_reason.as_deref()),
        (TicketStatus::Closed, Some("inactivity"))
    );
    assert_eq!(w.count("SELECT count(*) FROM ticket_state_log WHERE to_status = 'closed' AND actor_kind = 'system'").await, 1);
    // No survey after an automatic close.
    assert_eq!(
        w.count("SELECT count(*) FROM messages WHERE body LIKE 'Rate%'")
            .await,
        0
    );
    // Replying to a closed ticket is refused (reopen first).
    let err = w
        .app
        .send_reply(SendReply {
            ticket_id: t,
            user_id: w.agent_users[0],
            text: Some("x".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Conflict(_)));
    let re = w
        .app
        .reopen_ticket(t, Actor::Agent(w.agent_users[0]))
        .await
        .unwrap();
    assert_eq!(
        (re.status, re.agent_id),
        (TicketStatus::Open, Some(w.agents[0]))
    );
}

/// An older ticket reopened after a newer one was closed is the customer's current ticket:
/// reopening the newer one or opening another is a conflict (it was a 500 from the one-open-
/// ticket index, found by schemathesis), and the customer's next message joins it.
#[tokio::test]
async fn an_older_ticket_reopened_is_the_customers_current_one() {
    let w = World::new().await;
    let older = w.text("201001234567", "R1", "hello").await;
    w.app
        .close_ticket(older, Actor::Admin(w.admin), None)
        .await
        .unwrap();
    let customer = w.ticket(older).await.customer_id;
    let newer = w
        .app
        .create_ticket(customer, w.admin, Some("follow-up"), None)
        .await
        .unwrap()
        .id;
    w.app
        .close_ticket(newer, Actor::Admin(w.admin), None)
        .await
        .unwrap();
    w.app
        .reopen_ticket(older, Actor::Admin(w.admin))
        .await
        .unwrap();

    let err = w
        .app
        .reopen_ticket(newer, Actor::Admin(w.admin))
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Conflict(_)), "{err:?}");
    let err = w
        .app
        .create_ticket(customer, w.admin, None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Conflict(_)), "{err:?}");
    assert_eq!(w.text("201001234567", "R2", "again").await, older);
}

#[tokio::test]
async fn agents_cannot_do_what_the_state_machine_forbids() {
    let w = World::new().await;
    let t = w.text("201001234567", "X1", "hello").await;
    let err = w
        .app
        .set_pending(t, Actor::Customer, true)
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Transition(_)));
    w.app
        .close_ticket(t, Actor::Admin(w.admin), Some("spam"))
        .await
        .unwrap();
    assert!(matches!(
        w.app
            .close_ticket(t, Actor::Admin(w.admin), None)
            .await
            .unwrap_err(),
        AppError::Transition(_)
    ));
}

#[tokio::test]
async fn going_offline_hands_unanswered_tickets_on() {
    let w = World::new().await;
    w.online(0).await;
    let unanswered = w.text("201001234567", "H1", "hello").await;
    let answered = w.text("201009999999", "H2", "hello").await;
    w.app
        .send_reply(SendReply {
            ticket_id: answered,
            user_id: w.agent_users[0],
            text: Some("hi".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    w.online(1).await;
    w.app
        .set_agent_status(w.agents[0], AgentStatus::Offline, None)
        .await
        .unwrap();
    assert_eq!(w.ticket(unanswered).await.agent_id, Some(w.agents[1]));
    assert_eq!(w.ticket(answered).await.agent_id, Some(w.agents[0]));
    // With nobody else online, back to the queue, and out again when someone logs in.
    w.app
        .set_agent_status(w.agents[1], AgentStatus::Offline, None)
        .await
        .unwrap();
    assert_eq!(w.ticket(unanswered).await.agent_id, None);
    w.online(2).await;
    assert_eq!(w.ticket(unanswered).await.agent_id, Some(w.agents[2]));
}
