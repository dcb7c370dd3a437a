//! Customer records, ticket notes, manual tickets, revokes, media, the dashboard.

use crate::support::*;
use pharmacy_service::app::{AppError, KpiQuery, SendReply};
use pharmacy_service::db::customers::CustomerPatch;
use pharmacy_service::whatsapp::{FakeMessenger, FakeOp, OutboxWorker, Step};
use std::sync::Arc;

#[tokio::test]
async fn customers_can_be_created_edited_noted_tagged_and_traced() {
    let w = World::new().await;
    let u = w.agent_users[0];
    let cu = w
        .app
        .create_customer(
            "٠١٠٠١٢٣٤٥٦٧",
            &CustomerPatch {
                name: Some("منى".into()),
                ..Default::default()
            },
            u,
        )
        .await
        .unwrap();
    assert_eq!(cu.phone.as_deref(), Some("201001234567"));
    assert!(matches!(
        w.app
            .create_customer("+20 100 123 4567", &CustomerPatch::default(), u)
            .await
            .unwrap_err(),
        AppError::Conflict(_)
    ));
    assert!(matches!(
        w.app
            .create_customer("12", &CustomerPatch::default(), u)
            .await
            .unwrap_err(),
        AppError::Invalid { field: "phone", .. }
    ));
    let patched = w
        .app
        .patch_customer(
            cu.id,
            &CustomerPatch {
                home_branch_id: Some(w.branches[2]),
                ..Default::default()
            },
            u,
        )
        .await
        .unwrap();
    assert_eq!(
        (patched.home_branch_id, patched.name.as_deref()),
        (Some(w.branches[2]), Some("منى"))
    );
    w.app
        .add_customer_note(cu.id, u, "allergic to penicillin")
        .await
        .unwrap();
    assert_eq!(
        w.app.add_customer_tag(cu.id, u, "chronic").await.unwrap(),
        ["chronic"]
    );
    assert_eq!(
        w.app.add_customer_tag(cu.id, u, "chronic").await.unwrap(),
        ["chronic"]
    );
    // The customer writes: the same record, and the ticket goes to their home branch's queue.
    let t = w.text("201001234567", "R1", "hello").await;
    assert_eq!(w.ticket(t).await.branch_id, Some(w.branches[2]));
    let h = w.app.customer_history(cu.id).await.unwrap();
    assert_eq!((h.tickets.len(), h.notes.len(), h.tags.len()), (1, 1, 1));
    assert_eq!(w.count("SELECT count(*) FROM customers").await, 1);
}

#[tokio::test]
async fn manual_tickets_notes_and_priority() {
    let w = World::new().await;
    let cu = w
        .app
        .create_customer("01001234567", &CustomerPatch::default(), w.agent_users[2])
        .await
        .unwrap();
    let t = w
        .app
        .create_ticket(cu.id, w.agent_users[2], Some("phone call"), None)
        .await
        .unwrap();
    assert_eq!(t.agent_id, Some(w.agents[2]));
    assert!(matches!(
        w.app
            .create_ticket(cu.id, w.agent_users[2], None, None)
            .await
            .unwrap_err(),
        AppError::Conflict(_)
    ));
    let note = w
        .app
        .add_ticket_note(t.id, w.agent_users[2], "called back at 5")
        .await
        .unwrap();
    assert_eq!(note.body, "called back at 5");
    let p = w
        .app
        .patch_ticket(
            t.id,
            w.admin,
            Some(pharmacy_service::domain::ticket::Priority::Urgent),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        p.priority,
        pharmacy_service::domain::ticket::Priority::Urgent
    );
    w.app.delete_ticket(t.id, w.admin).await.unwrap();
    assert_eq!(w.count("SELECT count(*) FROM tickets").await, 0);
}

#[tokio::test]
async fn messages_are_deleted_for_everyone_through_the_outbox() {
    let w = World::with(|c| c.greeting_enabled = false).await;
    w.online(0).await;
    let t = w.text("201001234567", "IN1", "hi").await;
    let send = |text: &str| {
        w.app.send_reply(SendReply {
            ticket_id: t,
            user_id: w.agent_users[0],
            text: Some(text.into()),
            ..Default::default()
        })
    };
    let queued = send("oops, wrong customer").await.unwrap();
    // Not sent yet: simply cancelled.
    let m = w
        .app
        .revoke_message(queued.id, w.agent_users[0])
        .await
        .unwrap();
    assert_eq!(m.status.as_str(), "cancelled");
    let sent = send("price is 50 EGP").await.unwrap();
    let fake = Arc::new(FakeMessenger::new());
    let mut worker = OutboxWorker::new(w.app.clone(), fake.clone(), 9);
    assert!(matches!(worker.step().await.unwrap(), Step::Sent(_)));
    assert!(
        matches!(worker.step().await.unwrap(), Step::Idle(_)),
        "the cancelled one is never sent"
    );
    w.app
        .revoke_message(sent.id, w.agent_users[0])
        .await
        .unwrap();
    assert!(matches!(worker.step().await.unwrap(), Step::Revoked(_)));
    assert!(fake.calls().iter().any(|c| c.op
        == FakeOp::Revoked {
            chat: "201001234567@s.whatsapp.net".into(),
            id: sent.wa_id.clone().unwrap()
        }));
    assert!(matches!(
        w.app
            .revoke_message(sent.id, w.agent_users[0])
            .await
            .unwrap_err(),
        AppError::Conflict(_)
    ));
    let incoming: i64 = w.count("SELECT id FROM messages WHERE wa_id = 'IN1'").await;
    assert!(matches!(
        w.app
            .revoke_message(pharmacy_service::domain::ids::MessageId(incoming), w.admin)
            .await
            .unwrap_err(),
        AppError::Conflict(_)
    ));
}

#[tokio::test]
async fn media_is_stored_once_by_content_address() {
    let w = World::new().await;
    let sha = w
        .app
        .store_media(b"fake jpeg bytes", "image/jpeg")
        .await
        .unwrap();
    let again = w
        .app
        .store_media(b"fake jpeg bytes", "image/jpeg")
        .await
        .unwrap();
    assert_eq!(sha, again);
    assert_eq!(sha.len(), 64);
    assert_eq!(
        std::fs::read(w.app.media_path(&sha)).unwrap(),
        b"fake jpeg bytes"
    );
    assert_eq!(w.count("SELECT size FROM media").await, 15);
}

#[tokio::test]
async fn dashboard_and_branch_kpis() {
    let w = World::new().await;
    w.online(0).await;
    let t = w.text("201001234567", "D1", "hi").await;
    w.text("201009999999", "D2", "hi").await;
    w.app
        .send_reply(SendReply {
            ticket_id: t,
            user_id: w.agent_users[0],
            text: Some("hello".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let d = w.app.dashboard().await.unwrap();
    assert_eq!((d.open, d.pending, d.agents_online), (2, 0, 1));
    assert_eq!(d.today.messages_sent, 1);
    assert!(d.outbox_depth >= 1);
    let day = jiff::civil::date(2026, 11, 25);
    let by_branch = w
        .app
        .kpi_by_branch(KpiQuery { from: day, to: day })
        .await
        .unwrap();
    assert_eq!(
        by_branch.get(&Some(w.branches[0])).map(|t| t.messages_sent),
        Some(1)
    );
}

#[tokio::test]
async fn settings_change_at_runtime_and_survive_a_restart() {
    let w = World::new().await;
    let patch = pharmacy_service::app::SettingsPatch {
        greeting_enabled: Some(false),
        reopen_window_secs: Some(60),
        ..Default::default()
    };
    let cfg = w.app.update_settings(&patch, w.admin).await.unwrap();
    assert!(!cfg.greeting_enabled);
    w.text("201001234567", "ST1", "hi").await;
    assert_eq!(
        w.count("SELECT count(*) FROM messages WHERE sender_kind = 'system'")
            .await,
        0
    );
    // A new App over the same file picks the settings up.
    let path = w._dir.0.join("pharmacy.db");
    let again = pharmacy_service::app::App::open(&path, w.clock.clone(), config(&w._dir))
        .await
        .unwrap();
    assert_eq!(
        again.config().reopen_window,
        std::time::Duration::from_secs(60)
    );
    assert!(!again.config().greeting_enabled);
}
