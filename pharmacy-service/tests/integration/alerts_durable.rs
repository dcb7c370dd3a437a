//! Issue 29 follow-ups: webhook deliveries survive a crash between a commit and the
//! queueing, the slow-first-response push, and the retention of the delivery log.

use super::alerts::{
    Received, decrypt_push, eventually, receiver, recv, spawn_alerts, subscribe, test_config,
};
use super::api_support::*;
use super::support::World;
use pharmacy_service::alerts::Alerts;
use pharmacy_service::http::HttpConfig;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::mpsc;

/// The (event, ticket id) of each delivery received, sorted.
async fn deliveries(rx: &mut mpsc::UnboundedReceiver<Received>, n: usize) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let got = recv(rx, "a delivery").await;
        let body: Value = serde_json::from_slice(&got.body).unwrap();
        out.push((
            body["event"].as_str().unwrap().to_owned(),
            body["data"]["ticket"]["id"].as_i64().unwrap(),
        ));
    }
    out.sort();
    out
}

/// The API with alerts running (their tasks returned, to stop them) and a webhook for
/// `events` registered by the admin; what the webhook receives.
async fn with_webhook(
    events: Value,
) -> (
    TestApp,
    Vec<tokio::task::JoinHandle<()>>,
    mpsc::UnboundedReceiver<Received>,
) {
    let world = World::new().await;
    let alerts = Alerts::new(world.app.clone(), test_config(3, 3)).unwrap();
    let running = alerts.spawn();
    let t = spawn_state(world, HttpConfig::default(), |c| c.alerts = Some(alerts)).await;
    let (url, rx) = receiver(vec![200]).await;
    let r = t
        .login(ADMIN)
        .await
        .post("/api/webhooks", json!({ "url": url, "events": events }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    (t, running, rx)
}

/// The crash window: the alerts' tasks end, the service's writes go on.
async fn stop(running: Vec<tokio::task::JoinHandle<()>>) {
    for task in running {
        task.abort();
        let _ = task.await;
    }
}

#[tokio::test]
async fn events_committed_while_no_follower_ran_are_delivered_once() {
    let (t, running, mut rx) = with_webhook(json!(["ticket.created", "message.in"])).await;

    let before = t
        .customer_writes("201000000601", "wa-durable-1", "قبل التوقف")
        .await;
    let want = |id: i64| {
        vec![
            ("message.in".to_owned(), id),
            ("ticket.created".to_owned(), id),
        ]
    };
    assert_eq!(deliveries(&mut rx, 2).await, want(before.0));
    // Recorded as delivered (else a restart rightly delivers them again: at least once).
    eventually("both recorded delivered", || async {
        let n = t
            .world
            .count("SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'")
            .await;
        (n == 2).then_some(())
    })
    .await;

    // The crash window: the change is committed, nothing follows the bus.
    stop(running).await;
    let during = t
        .customer_writes("201000000602", "wa-durable-2", "أثناء التوقف")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.try_recv().is_err(), "nothing queued while stopped");

    // A fresh service: what was missed goes out, what was delivered does not go again.
    Alerts::new(t.world.app.clone(), test_config(3, 3))
        .unwrap()
        .spawn();
    assert_eq!(deliveries(&mut rx, 2).await, want(during.0));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(rx.try_recv().is_err(), "no delivery twice");
    assert_eq!(
        t.world
            .count("SELECT count(*) FROM webhook_deliveries")
            .await,
        4
    );
}

/// The decrypted pushes received so far.
fn drain(
    rx: &mut mpsc::UnboundedReceiver<Received>,
    (ua, auth): &(p256::SecretKey, [u8; 16]),
) -> Vec<Value> {
    let mut out = Vec::new();
    while let Ok(got) = rx.try_recv() {
        out.push(serde_json::from_slice(&decrypt_push(&got.body, ua, auth)).unwrap());
    }
    out
}

#[tokio::test]
async fn a_slow_first_response_is_pushed_to_the_ticket_agent_once() {
    let t = spawn_alerts(1, 1).await;
    let (base, mut rx) = receiver(vec![201]).await;
    let keys = subscribe(&t, T1, &format!("{base}/t1")).await;
    t.world.online(0).await;
    let ticket = t
        .customer_writes("201000000701", "wa-slow-1", "محتاج دواء ضغط")
        .await;
    let row = t.world.ticket(ticket).await;
    assert_eq!(
        row.agent_id,
        Some(t.world.agents[0]),
        "the subscribed agent's ticket"
    );
    let got = recv(&mut rx, "the new-ticket push").await;
    let first: Value = serde_json::from_slice(&decrypt_push(&got.body, &keys.0, &keys.1)).unwrap();
    assert_eq!(first["kind"], "new_ticket");

    // Within the threshold (10 min by default): nothing.
    t.world.advance(Duration::from_secs(9 * 60));
    assert!(t.world.app.run_jobs().await.unwrap().delayed.is_empty());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(drain(&mut rx, &keys), Vec::<Value>::new());

    // Past it, nobody else online to take it over: the agent is told, encrypted for them.
    t.world.advance(Duration::from_secs(2 * 60));
    assert_eq!(t.world.app.run_jobs().await.unwrap().delayed, vec![ticket]);
    let got = recv(&mut rx, "the slow-response push").await;
    assert_eq!(got.path, "/hook/t1");
    assert_eq!(got.headers["content-encoding"], "aes128gcm");
    let msg: Value = serde_json::from_slice(&decrypt_push(&got.body, &keys.0, &keys.1)).unwrap();
    assert_eq!(msg["kind"], "slow_response");
    assert_eq!(msg["url"], format!("#/inbox/{}", ticket.0));
    assert_eq!(msg["tag"], format!("ticket-{}", ticket.0));
    assert_eq!(msg["en"][0], "A customer is waiting");
    assert_eq!(msg["ar"][0], "عميل ينتظر الرد");

    // Still unanswered later: the same assignment is not pushed about again.
    for _ in 0..2 {
        t.world.advance(Duration::from_secs(11 * 60));
        assert!(t.world.app.run_jobs().await.unwrap().delayed.is_empty());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(drain(&mut rx, &keys), Vec::<Value>::new(), "no second push");
}

#[tokio::test]
async fn finished_webhook_deliveries_are_deleted_after_the_retention() {
    use pharmacy_service::ops::retention::purge_webhook_log;
    let w = World::new().await;
    let now = w.app.now().0;
    let mut c = w.app.pool().acquire().await.unwrap();
    let hook = pharmacy_service::db::webhooks::insert(
        &mut c,
        "http://127.0.0.1:9/hook",
        "secret",
        &[],
        w.app.now(),
    )
    .await
    .unwrap();
    let day = 86_400_000;
    // (status, created, finished): what 30 days of retention keeps is marked below.
    let rows = [
        ("delivered", now - 40 * day, Some(now - 31 * day)), // deleted
        ("failed", now - 40 * day, Some(now - 31 * day)),    // deleted
        ("delivered", now - 40 * day, Some(now - 29 * day)), // kept: finished recently
        ("pending", now - 40 * day, None),                   // kept: never finished
    ];
    for (status, created, finished) in rows {
        sqlx::query(
            "INSERT INTO webhook_deliveries (webhook_id, event, payload, status, next_attempt_at,
                 created_at, finished_at) VALUES (?, 'message.in', '{}', ?, ?, ?, ?)",
        )
        .bind(hook.id)
        .bind(status)
        .bind(created)
        .bind(created)
        .bind(finished)
        .execute(&mut *c)
        .await
        .unwrap();
    }
    drop(c);
    let left = || async {
        let mut c = w.app.pool().acquire().await.unwrap();
        let mut ids: Vec<i64> =
            pharmacy_service::db::webhooks::deliveries(&mut c, hook.id, None, 10)
                .await
                .unwrap()
                .iter()
                .map(|d| d.id)
                .collect();
        ids.sort();
        ids
    };
    let all = left().await;
    assert_eq!(
        purge_webhook_log(&w.app, 0).await.unwrap(),
        0,
        "0 keeps all"
    );
    assert_eq!(purge_webhook_log(&w.app, 30).await.unwrap(), 2);
    assert_eq!(left().await, all[2..].to_vec());
    // A day on, the recent one is still inside 30 days; two more and it goes.
    w.advance(Duration::from_secs(86_400));
    assert_eq!(purge_webhook_log(&w.app, 30).await.unwrap(), 0);
    w.advance(Duration::from_secs(2 * 86_400));
    assert_eq!(purge_webhook_log(&w.app, 30).await.unwrap(), 1);
    assert_eq!(left().await, all[3..].to_vec(), "the pending one stays");
}

#[tokio::test]
async fn assignments_and_closes_missed_while_stopped_are_delivered_from_the_journal() {
    use pharmacy_service::domain::ticket::Actor;
    let (t, running, mut rx) = with_webhook(json!(["ticket.assigned", "ticket.closed"])).await;
    let ticket = t
        .customer_writes("201000000801", "wa-durable-3", "سؤال")
        .await;
    let routed = t.world.ticket(ticket).await.agent_id;
    tokio::time::sleep(Duration::from_millis(300)).await;
    while rx.try_recv().is_ok() {} // the routing's own assignment, if any

    stop(running).await;
    let to = t.world.agents[2];
    t.assign(ticket, to).await;
    t.world
        .app
        .close_ticket(ticket, Actor::Admin(t.world.admin), Some("resolved"))
        .await
        .unwrap();
    Alerts::new(t.world.app.clone(), test_config(3, 3))
        .unwrap()
        .spawn();
    let mut got = Vec::new();
    for _ in 0..2 {
        let d = recv(&mut rx, "a missed delivery").await;
        got.push(serde_json::from_slice::<Value>(&d.body).unwrap());
    }
    // In the order they happened.
    assert_eq!(got[0]["event"], "ticket.assigned");
    assert_eq!(got[0]["data"]["ticket"]["id"], ticket.0);
    assert_eq!(
        got[0]["data"]["previous_agent_id"],
        json!(routed.map(|a| a.0))
    );
    assert!(
        got[0]["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("test setup"),
        "{got:?}"
    );
    assert_eq!(got[1]["event"], "ticket.closed");
    assert_eq!(got[1]["data"]["ticket"]["status"], "closed");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.try_recv().is_err(), "each once");
}

/// The queueing cursor (`webhook_cursor`): messages, then ticket journal rows.
async fn cursor(t: &TestApp) -> (i64, i64) {
    sqlx::query_as("SELECT message_id, ticket_event_id FROM webhook_cursor")
        .fetch_one(t.world.app.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn without_a_webhook_inbound_messages_cost_no_queue_write_and_a_new_one_hears_only_what_follows()
 {
    let world = World::new().await;
    let alerts = Alerts::new(world.app.clone(), test_config(3, 3)).unwrap();
    let _running = alerts.spawn();
    let t = spawn_state(world, HttpConfig::default(), |c| {
        c.alerts = Some(alerts.clone())
    })
    .await;
    let start = cursor(&t).await;
    let mut old = Vec::new();
    for i in 0..3 {
        old.push(
            t.customer_writes(&format!("20100000090{i}"), &format!("wa-quiet-{i}"), "سؤال")
                .await,
        );
    }
    // Time for the follower to see the three messages (and their tickets' routing).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(alerts.queue_transactions(), 0, "no write for nobody");
    assert_eq!(cursor(&t).await, start, "nothing scanned");

    // The first webhook starts from here: the three tickets are not replayed to it.
    let (url, mut rx) = receiver(vec![200]).await;
    let admin = t.login(ADMIN).await;
    let r = admin
        .post(
            "/api/webhooks",
            json!({ "url": url, "events": ["ticket.created", "message.in"] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["webhook"]["id"].as_i64().unwrap();
    assert_ne!(cursor(&t).await, start, "moved with the webhook's creation");
    let new = t
        .customer_writes("201000000910", "wa-heard-1", "بعد التسجيل")
        .await;
    assert_eq!(
        deliveries(&mut rx, 2).await,
        vec![
            ("message.in".to_owned(), new.0),
            ("ticket.created".to_owned(), new.0)
        ]
    );
    assert!(alerts.queue_transactions() > 0);

    // Disabled: quiet again; enabled again: only what follows, not what it missed.
    let r = admin
        .patch(&format!("/api/webhooks/{id}"), json!({ "enabled": false }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let writes = alerts.queue_transactions();
    t.customer_writes("201000000911", "wa-missed-1", "أثناء الإيقاف")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        alerts.queue_transactions(),
        writes,
        "no write while disabled"
    );
    let r = admin
        .patch(&format!("/api/webhooks/{id}"), json!({ "enabled": true }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let after = t
        .customer_writes("201000000912", "wa-heard-2", "بعد التفعيل")
        .await;
    assert_eq!(
        deliveries(&mut rx, 2).await,
        vec![
            ("message.in".to_owned(), after.0),
            ("ticket.created".to_owned(), after.0)
        ]
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        rx.try_recv().is_err(),
        "nothing from before or while disabled"
    );
    assert!(!old.contains(&after));
}

#[tokio::test]
async fn a_ticket_opened_by_hand_is_announced_once_when_it_is_opened() {
    let (t, _running, mut rx) = with_webhook(json!(["ticket.created", "message.out"])).await;
    let customer = t
        .world
        .app
        .create_customer(
            "+201000000920",
            &pharmacy_service::app::CustomerPatch {
                name: Some("Walk-in".into()),
                ..Default::default()
            },
            t.world.admin,
        )
        .await
        .unwrap();
    let ticket = t
        .world
        .app
        .create_ticket(customer.id, t.world.admin, Some("at the counter"), None)
        .await
        .unwrap();
    let got = recv(&mut rx, "ticket.created").await;
    let body: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(body["event"], "ticket.created");
    assert_eq!(body["data"]["ticket"]["id"], ticket.id.0);

    // Its first message (ours) announces no second creation.
    let admin = t.login(ADMIN).await;
    let r = admin
        .post(
            "/api/messages/send",
            json!({ "ticket_id": ticket.id.0, "text": "أهلاً" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let got = recv(&mut rx, "message.out").await;
    let body: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(body["event"], "message.out");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.try_recv().is_err(), "ticket.created once");
    assert_eq!(
        t.world
            .count("SELECT count(*) FROM webhook_deliveries WHERE event = 'ticket.created'")
            .await,
        1
    );
}
