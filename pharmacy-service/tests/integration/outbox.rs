//! The paced outbox against the fake messenger: read -> typing -> send, gaps, retries, ban
//! pause, mass-send hold, per-customer cap, restart.

use crate::support::*;
use pharmacy_service::app::{SendError, SendReply};
use pharmacy_service::db;
use pharmacy_service::domain::ids::TicketId;
use pharmacy_service::domain::pacing::PacingPolicy;
use pharmacy_service::whatsapp::{FakeMessenger, FakeOp, OutboxWorker, Step};
use std::sync::Arc;
use std::time::Duration;

async fn reply(w: &World, t: TicketId, text: &str) -> pharmacy_service::db::messages::Message {
    w.app
        .send_reply(SendReply {
            ticket_id: t,
            user_id: w.agent_users[0],
            text: Some(text.into()),
            ..Default::default()
        })
        .await
        .unwrap()
}

async fn drain(worker: &mut OutboxWorker<FakeMessenger>) -> Vec<Step> {
    let mut steps = Vec::new();
    loop {
        let s = worker.step().await.unwrap();
        if matches!(s, Step::Idle(_) | Step::Paused(_)) {
            steps.push(s);
            return steps;
        }
        steps.push(s);
    }
}

#[tokio::test]
async fn replies_go_out_paced_read_then_typing_then_send() {
    let w = World::with(|c| c.greeting_enabled = false).await;
    w.online(0).await;
    let t = w.text("201001234567", "IN1", "عندكم بنادول؟").await;
    let m1 = reply(&w, t, "نعم متوفر").await;
    let m2 = reply(
        &w,
        t,
        "A much longer second answer that takes longer to type out for the customer",
    )
    .await;
    assert_eq!(
        m1.status.as_str(),
        "queued",
        "the agent's send returns before WhatsApp is touched"
    );
    let fake = Arc::new(FakeMessenger::new());
    let mut worker = OutboxWorker::new(w.app.clone(), fake.clone(), 7);
    let steps = drain(&mut worker).await;
    assert_eq!(steps.len(), 3, "{steps:?}");
    let calls = fake.calls();
    let ops: Vec<&str> = calls
        .iter()
        .map(|c| match &c.op {
            FakeOp::MarkRead { .. } => "read",
            FakeOp::Typing { on: true, .. } => "typing",
            FakeOp::Typing { on: false, .. } => "paused",
            FakeOp::Sent(_) => "send",
            FakeOp::Refused(..) => "refused",
            FakeOp::Revoked { .. } => "revoke",
        })
        .collect();
    // Read once (the same customer message), typing before every send.
    assert_eq!(ops, ["read", "typing", "send", "typing", "send"]);
    let FakeOp::MarkRead { ids, chat } = &calls[0].op else {
        panic!()
    };
    assert_eq!(
        (ids.as_slice(), chat.as_str()),
        (&["IN1".to_owned()][..], "201001234567@s.whatsapp.net")
    );
    let p = PacingPolicy::fast();
    let sent = fake.sent();
    assert_eq!(
        sent.iter().map(|(_, m)| m.id.clone()).collect::<Vec<_>>(),
        [m1.wa_id.clone().unwrap(), m2.wa_id.clone().unwrap()]
    );
    // Typing lasted at least the minimum, and the gap between sends at least the minimum gap.
    assert!(calls[2].at - calls[1].at >= p.typing_min);
    assert!(
        sent[1].0 - sent[0].0 >= p.min_gap,
        "{:?}",
        sent[1].0 - sent[0].0
    );
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT status FROM messages WHERE direction = 'out' ORDER BY id")
            .fetch_all(w.app.pool())
            .await
            .unwrap();
    assert_eq!(statuses, ["sent", "sent"]);
    assert_eq!(w.app.outbox_depth().await.unwrap(), 0);
}

#[tokio::test]
async fn transient_errors_retry_with_backoff_and_keep_the_whatsapp_id() {
    let w = World::with(|c| c.greeting_enabled = false).await;
    w.online(0).await;
    let t = w.text("201001234567", "IN1", "hi").await;
    let m = reply(&w, t, "hello").await;
    let fake = Arc::new(FakeMessenger::new());
    fake.fail_next(SendError::Transient("timeout".into()));
    fake.fail_next(SendError::Disconnected);
    let mut worker = OutboxWorker::new(w.app.clone(), fake.clone(), 1);
    assert!(matches!(worker.step().await.unwrap(), Step::Retried(_)));
    assert!(
        matches!(worker.step().await.unwrap(), Step::Idle(Some(_))),
        "not due before the backoff"
    );
    w.advance(Duration::from_secs(1));
    assert!(matches!(worker.step().await.unwrap(), Step::Retried(_)));
    w.advance(Duration::from_secs(1));
    assert!(matches!(worker.step().await.unwrap(), Step::Sent(_)));
    let ids: Vec<String> = fake
        .calls()
        .into_iter()
        .filter_map(|c| match c.op {
            FakeOp::Sent(m) | FakeOp::Refused(m, _) => Some(m.id),
            _ => None,
        })
        .collect();
    assert_eq!(ids, vec![m.wa_id.clone().unwrap(); 3]);
    // The transient error counts; the disconnect does not.
    assert_eq!(w.count("SELECT attempts FROM outbox").await, 1);
    // A permanent error fails at once and alerts.
    let m2 = reply(&w, t, "second").await;
    fake.fail_next(SendError::Permanent("not on WhatsApp".into()));
    assert!(matches!(worker.step().await.unwrap(), Step::Failed(_)));
    let status: String = sqlx::query_scalar("SELECT status FROM messages WHERE id = ?")
        .bind(m2.id.0)
        .fetch_one(w.app.pool())
        .await
        .unwrap();
    assert_eq!(status, "failed");
    assert_eq!(
        w.count("SELECT count(*) FROM admin_alerts WHERE kind = 'send_failed'")
            .await,
        1
    );
}

/// Regression (found by the reliability harness): with the sim dropping connections every few
/// seconds, replies the API had accepted ended `failed` after `max_attempts` "not connected"
/// errors. A disconnect is not the message's fault and must never use up its attempts.
#[tokio::test]
async fn a_disconnected_link_never_fails_a_message() {
    let w = World::with(|c| c.greeting_enabled = false).await;
    w.online(0).await;
    let t = w.text("201001234567", "IN1", "hi").await;
    let m = reply(&w, t, "hello").await;
    let fake = Arc::new(FakeMessenger::new());
    let mut worker = OutboxWorker::new(w.app.clone(), fake.clone(), 1);
    let max = w.app.config().pacing.max_attempts;
    for _ in 0..max * 3 {
        fake.fail_next(SendError::Disconnected);
    }
    for _ in 0..max * 3 {
        assert!(matches!(worker.step().await.unwrap(), Step::Retried(_)));
        w.advance(Duration::from_secs(1));
    }
    assert!(matches!(worker.step().await.unwrap(), Step::Sent(_)));
    assert_eq!(w.count("SELECT attempts FROM outbox").await, 0);
    let status: String = sqlx::query_scalar("SELECT status FROM messages WHERE id = ?")
        .bind(m.id.0)
        .fetch_one(w.app.pool())
        .await
        .unwrap();
    assert_eq!(status, "sent");
}

#[tokio::test]
async fn a_temporary_ban_pauses_the_queue_and_alerts_until_it_lifts() {
    let w = World::with(|c| c.greeting_enabled = false).await;
    w.online(0).await;
    let t = w.text("201001234567", "IN1", "hi").await;
    reply(&w, t, "hello").await;
    let fake = Arc::new(FakeMessenger::new());
    let until = w.app.now().plus(Duration::from_secs(3600));
    fake.fail_next(SendError::TemporaryBan {
        reason: Some(104),
        expires_at: Some(until),
    });
    let mut events = w.app.events().subscribe();
    let mut worker = OutboxWorker::new(w.app.clone(), fake.clone(), 1);
    assert_eq!(worker.step().await.unwrap(), Step::Paused(until));
    assert_eq!(worker.step().await.unwrap(), Step::Paused(until));
    assert_eq!(w.app.outbox_paused_until().await.unwrap(), Some(until));
    assert_eq!(
        w.count("SELECT count(*) FROM admin_alerts WHERE kind = 'temporary_ban'")
            .await,
        1
    );
    // The live status states the ban as the link does: its code and when it lifts.
    let mut status = None;
    while let Ok(e) = events.try_recv() {
        if let pharmacy_service::app::LiveEvent::WhatsappStatus { state, detail } = e.event {
            status = Some((state, detail));
        }
    }
    let (state, detail) = status.expect("a whatsappStatus event");
    assert_eq!(state, "temporary_ban");
    let detail = detail.expect("the ban's detail");
    assert_eq!((detail.code, detail.until), (Some(104), Some(until)));
    // The pause survives a restart of the worker.
    let mut worker = OutboxWorker::new(w.app.clone(), fake.clone(), 2);
    assert_eq!(worker.step().await.unwrap(), Step::Paused(until));
    w.advance(Duration::from_secs(3601));
    assert!(matches!(worker.step().await.unwrap(), Step::Sent(_)));
    assert_eq!(fake.sent().len(), 1);
}

#[tokio::test]
async fn the_same_text_to_many_customers_is_held_for_an_admin() {
    let w = World::new().await;
    w.online(0).await;
    // Capacity 3 per agent: give the agent room.
    let mut c = w.app.pool().acquire().await.unwrap();
    db::agents::update(
        &mut c,
        w.agents[0],
        Some(w.branches[0]),
        10,
        &Default::default(),
    )
    .await
    .unwrap();
    drop(c);
    let mut last = None;
    for i in 0..5 {
        let t = w
            .text(&format!("20100000000{i}"), &format!("MS{i}"), "hi")
            .await;
        last = Some(reply(&w, t, "Offer: 20% off vitamins today!").await);
    }
    let last = last.unwrap();
    assert_eq!(last.status.as_str(), "held");
    assert_eq!(
        w.count("SELECT count(*) FROM outbox WHERE state = 'held'")
            .await,
        1
    );
    // Greetings (system templates) went to all five without being held.
    assert_eq!(
        w.count("SELECT count(*) FROM outbox WHERE is_system = 1 AND state = 'queued'")
            .await,
        5
    );
    let held = w.app.held_messages().await.unwrap();
    let m = w.app.decide_held(held[0].id, w.admin, true).await.unwrap();
    assert_eq!(m.status.as_str(), "queued");
    assert!(w.app.decide_held(held[0].id, w.admin, true).await.is_err());
}

#[tokio::test]
async fn the_per_customer_cap_postpones_and_a_new_worker_resumes_the_queue() {
    let w = World::with(|c| {
        c.greeting_enabled = false;
        c.pacing.customer_cap = 2;
        c.pacing.customer_window = Duration::from_secs(60);
    })
    .await;
    w.online(0).await;
    let t = w.text("201001234567", "IN1", "hi").await;
    for i in 0..3 {
        reply(&w, t, &format!("part {i}")).await;
    }
    let fake = Arc::new(FakeMessenger::new());
    let mut worker = OutboxWorker::new(w.app.clone(), fake.clone(), 3);
    assert!(matches!(worker.step().await.unwrap(), Step::Sent(_)));
    assert!(matches!(worker.step().await.unwrap(), Step::Sent(_)));
    assert!(matches!(worker.step().await.unwrap(), Step::Postponed(_)));
    assert!(matches!(worker.step().await.unwrap(), Step::Idle(Some(_))));
    drop(worker);
    w.advance(Duration::from_secs(61));
    let mut worker = OutboxWorker::new(w.app.clone(), fake.clone(), 4);
    assert!(matches!(worker.step().await.unwrap(), Step::Sent(_)));
    let texts: Vec<String> = fake
        .sent()
        .into_iter()
        .filter_map(|(_, m)| m.text)
        .collect();
    assert_eq!(texts, ["part 0", "part 1", "part 2"]);
}

#[tokio::test]
async fn the_running_worker_wakes_on_enqueue_and_stops_on_shutdown() {
    let w = World::with(|c| c.greeting_enabled = false).await;
    w.online(0).await;
    let t = w.text("201001234567", "IN1", "hi").await;
    let fake = Arc::new(FakeMessenger::new());
    let (stop, rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(OutboxWorker::new(w.app.clone(), fake.clone(), 5).run(rx));
    tokio::time::sleep(Duration::from_millis(50)).await;
    reply(&w, t, "hello").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while fake.sent().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fake.sent().len(), 1);
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_worker_at_random_moments_loses_no_reply() {
    use rand::{Rng, SeedableRng};
    let w = World::with(|c| {
        c.greeting_enabled = false;
        c.pacing.min_gap = Duration::from_millis(1);
        c.pacing.gap_jitter = Duration::from_millis(1);
        c.pacing.typing_min = Duration::from_millis(1);
        c.pacing.typing_max = Duration::from_millis(2);
        c.pacing.read_pause = Duration::ZERO;
        c.pacing.customer_cap = 1000;
    })
    .await;
    let mut c = w.app.pool().acquire().await.unwrap();
    pharmacy_service::db::agents::update(
        &mut c,
        w.agents[0],
        Some(w.branches[0]),
        100,
        &Default::default(),
    )
    .await
    .unwrap();
    drop(c);
    w.online(0).await;
    let mut expected = std::collections::BTreeSet::new();
    for i in 0..20 {
        let t = w
            .text(&format!("2010000000{i:02}"), &format!("K{i}"), "hi")
            .await;
        for j in 0..3 {
            let m = reply(&w, t, &format!("answer {i}.{j}")).await;
            expected.insert(m.wa_id.unwrap());
        }
    }
    let fake = Arc::new(FakeMessenger::new());
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    for round in 0..100 {
        if w.app.outbox_depth().await.unwrap() == 0 {
            break;
        }
        let (stop, rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(OutboxWorker::new(w.app.clone(), fake.clone(), round).run(rx));
        // Kill it (abort = SIGKILL for a task) after a random moment, mid-send or not.
        tokio::time::sleep(Duration::from_micros(rng.gen_range(0..20_000))).await;
        task.abort();
        let _ = task.await;
        drop(stop);
    }
    // On a loaded machine the kills may leave some rows: a last worker, not killed, finishes.
    let mut last = OutboxWorker::new(w.app.clone(), fake.clone(), 999);
    drain(&mut last).await;
    assert_eq!(w.app.outbox_depth().await.unwrap(), 0);
    let delivered: std::collections::BTreeSet<String> =
        fake.sent().into_iter().map(|(_, m)| m.id).collect();
    // Every reply reached the customer, under its own WhatsApp id (a resend after a kill
    // reuses the id, so the receiver keeps one copy).
    assert_eq!(delivered, expected);
    assert_eq!(
        w.count("SELECT count(*) FROM messages WHERE direction = 'out' AND status = 'sent'")
            .await,
        60
    );
}

#[tokio::test]
async fn a_ban_reported_by_the_client_pauses_the_queue_too() {
    let w = World::with(|c| c.greeting_enabled = false).await;
    w.online(0).await;
    let t = w.text("201001234567", "IN1", "hi").await;
    reply(&w, t, "hello").await;
    let until = w.app.pause_outbox(Some(101), None).await.unwrap();
    assert_eq!(until, w.app.now().plus(Duration::from_secs(3600)));
    let fake = Arc::new(FakeMessenger::new());
    let mut worker = OutboxWorker::new(w.app.clone(), fake.clone(), 1);
    assert_eq!(worker.step().await.unwrap(), Step::Paused(until));
    w.app.resume_outbox(Some(w.admin)).await.unwrap();
    assert!(matches!(worker.step().await.unwrap(), Step::Sent(_)));
}

#[tokio::test]
async fn a_damaged_attachment_is_never_sent_the_message_fails_with_its_reason_and_an_alert() {
    let w = World::with(|c| c.greeting_enabled = false).await;
    w.online(0).await;
    let t = w.text("201001234568", "IN-DMG", "الروشتة من فضلك").await;
    let png = b"\x89PNG\r\n\x1a\nthe prescription".to_vec();
    let sha = w.app.store_media(&png, "image/png").await.unwrap();
    let m = w
        .app
        .send_reply(SendReply {
            ticket_id: t,
            user_id: w.agent_users[0],
            text: Some("the prescription".into()),
            media: Some((sha.clone(), "image/png".into(), None)),
            ..Default::default()
        })
        .await
        .unwrap();
    // Bit rot after it was queued: same length, one byte changed.
    let path = w.app.media_path(&sha);
    let mut rotten = std::fs::read(&path).unwrap();
    rotten[9] ^= 0x40;
    std::fs::write(&path, &rotten).unwrap();

    let fake = Arc::new(FakeMessenger::new());
    let mut worker = OutboxWorker::new(w.app.clone(), fake.clone(), 7);
    let steps = drain(&mut worker).await;
    assert!(matches!(steps[0], Step::Failed(_)), "{steps:?}");
    assert!(fake.calls().is_empty(), "nothing sent, no typing shown");
    let (status, detail): (String, Option<String>) = sqlx::query_as(
        "SELECT m.status, l.detail FROM messages m
         JOIN message_delivery_log l ON l.message_id = m.id AND l.status = 'failed'
         WHERE m.id = ?",
    )
    .bind(m.id)
    .fetch_one(w.app.pool())
    .await
    .unwrap();
    assert_eq!(status, "failed");
    assert!(
        detail.as_deref().is_some_and(|d| d.contains("damaged")),
        "{detail:?}"
    );
    let alert: String =
        sqlx::query_scalar("SELECT details_json FROM admin_alerts WHERE kind = 'media_corrupt'")
            .fetch_one(w.app.pool())
            .await
            .unwrap();
    assert!(alert.contains(&sha), "{alert}");
}
