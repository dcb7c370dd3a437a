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
