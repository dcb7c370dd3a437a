//! The satisfaction loop: survey on close, one digit 1-5 (Latin or Arabic-Indic) within 24 h.

use crate::support::*;
use pharmacy_service::app::{InboundOutcome, SendReply};
use pharmacy_service::domain::ticket::Actor;
use std::time::Duration;

#[tokio::test]
async fn a_digit_after_the_survey_is_a_rating_not_a_ticket() {
    let w = World::new().await;
    w.online(0).await;
    let t = w.text("201001234567", "R1", "hello").await;
    w.app
        .send_reply(SendReply {
            ticket_id: t,
            user_id: w.agent_users[0],
            text: Some("done".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    w.app
        .close_ticket(t, Actor::Agent(w.agent_users[0]), None)
        .await
        .unwrap();
    assert_eq!(w.count("SELECT count(*) FROM messages WHERE sender_kind = 'system' AND body = 'Rate Khalifa toriel 1-5'").await, 1);
    w.advance(Duration::from_secs(3600));
    match w.send("201001234567", "R2", " ٤ ").await {
        InboundOutcome::Rated {
            ticket_id,
            rating: 4,
        } => assert_eq!(ticket_id, t),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.count("SELECT count(*) FROM tickets").await, 1);
    assert_eq!(
        w.count("SELECT count(*) FROM tickets WHERE status = 'closed'")
            .await,
        1
    );
    assert_eq!(
        w.count("SELECT rating FROM csat_ratings WHERE ticket_id = 1 AND agent_id = 1")
            .await,
        4
    );
    assert_eq!(
        w.count("SELECT CAST(satisfaction AS INTEGER) FROM customers")
            .await,
        4
    );
    assert_eq!(
        w.count("SELECT count(*) FROM messages WHERE body = 'Thanks!'")
            .await,
        1
    );
    // A second digit is an ordinary message (already rated): within the reopen window it reopens.
    match w.send("201001234567", "R3", "5").await {
        InboundOutcome::Stored { reopened: true, .. } => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn anything_else_or_too_late_is_a_message_like_any_other() {
    let w = World::new().await;
    w.online(0).await;
    let t = w.text("201001234567", "Q1", "hello").await;
    w.app
        .close_ticket(t, Actor::Agent(w.agent_users[0]), None)
        .await
        .unwrap();
    match w.send("201001234567", "Q2", "5 stars, thanks").await {
        InboundOutcome::Stored {
            ticket_id,
            reopened: true,
            ..
        } => assert_eq!(ticket_id, t),
        other => panic!("{other:?}"),
    }
    w.app
        .close_ticket(t, Actor::Agent(w.agent_users[0]), None)
        .await
        .unwrap();
    w.advance(Duration::from_secs(25 * 3600));
    match w.send("201001234567", "Q3", "5").await {
        InboundOutcome::Stored { created: true, .. } => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(w.count("SELECT count(*) FROM csat_ratings").await, 0);
}

/// The loop through WhatsApp: closing sends the survey to the customer's phone (whatsapp-sim),
/// the customer answers with an Arabic-Indic digit, and it is recorded as that ticket's
/// satisfaction; no new ticket opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_survey_reaches_the_phone_and_an_arabic_digit_rates_the_ticket() {
    use super::bridge::eventually;
    use super::sim_service::{PHARMACY, SimService, from_pharmacy};
    use pharmacy_service::domain::pacing::PacingPolicy;
    use whatsapp_sim::device::Outgoing;

    const CUSTOMER: &str = "201066667777";
    let svc = SimService::start(PacingPolicy::fast()).await;
    let (ticket, _) = svc
        .customer_writes(CUSTOMER, "منى", "محتاجة بنادول للأطفال")
        .await;
    svc.app
        .send_reply(SendReply {
            ticket_id: ticket,
            user_id: svc.agent.user_id,
            text: Some("موجود، نوصله لحضرتك".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    svc.app
        .close_ticket(ticket, Actor::Agent(svc.agent.user_id), None)
        .await
        .unwrap();
    let survey: String = sqlx::query_scalar(
        "SELECT body FROM messages WHERE ticket_id = ? AND sender_kind = 'system' ORDER BY id DESC LIMIT 1",
    )
    .bind(ticket)
    .fetch_one(svc.app.pool())
    .await
    .unwrap();
    assert!(survey.contains('5'), "a 1-5 survey: {survey}");
    eventually("the survey on the customer's phone", || async {
        svc.sim
            .customer_inbox(CUSTOMER)
            .unwrap()
            .into_iter()
            .find(|m| from_pharmacy(&svc.sim, &m.from) && m.text.as_deref() == Some(&*survey))
    })
    .await;

    let rating = svc
        .sim
        .customer_send(CUSTOMER, PHARMACY, Outgoing::Text("٤".into()), None)
        .unwrap();
    let stored: (i64, String) = eventually("the rating stored", || async {
        sqlx::query_as("SELECT ticket_id, kind FROM messages WHERE wa_id = ?")
            .bind(&rating)
            .fetch_optional(svc.app.pool())
            .await
            .unwrap()
    })
    .await;
    assert_eq!(stored, (ticket.0, "rating".to_owned()));
    let recorded: i64 = sqlx::query_scalar("SELECT rating FROM csat_ratings WHERE ticket_id = ?")
        .bind(ticket)
        .fetch_one(svc.app.pool())
        .await
        .unwrap();
    assert_eq!(recorded, 4);
    let tickets: Vec<(i64, String)> = sqlx::query_as(
        "SELECT t.id, t.status FROM tickets t JOIN customers c ON c.id = t.customer_id WHERE c.phone = ?",
    )
    .bind(CUSTOMER)
    .fetch_all(svc.app.pool())
    .await
    .unwrap();
    assert_eq!(
        tickets,
        vec![(ticket.0, "closed".to_owned())],
        "no new ticket"
    );
    svc.shutdown().await;
}
