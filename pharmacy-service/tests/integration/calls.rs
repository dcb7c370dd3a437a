//! Calls: a simulated customer calls the pharmacy's number through whatsapp-sim and the
//! service shows the missed call in the ticket, replies once per window when the admins
//! turned the reply on, and rejects the call (seen by the caller) when they turned that on.
//! Plus the settings' route and the reply's window on the manual clock.

use super::api_support::{ADMIN, spawn_app};
use super::bridge::eventually;
use super::sim_service::{PHARMACY, SimService};
use super::support::World;
use pharmacy_service::app::{CallSettingsPatch, SettingsPatch};
use pharmacy_service::domain::pacing::PacingPolicy;
use serde_json::json;
use std::time::Duration;
use whatsapp_sim::device::Outgoing;

/// The line stored for `call_id` with `outcome` (`missed`, `auto_rejected`): its ticket and
/// its kind and body (`call missed voice`), once it is there.
async fn line(svc: &SimService, call_id: &str, outcome: &str) -> (i64, String) {
    let wa_id = format!("call:{call_id}:{outcome}");
    eventually(&format!("the line {wa_id}"), || async {
        sqlx::query_as(
            "SELECT ticket_id, kind || ' ' || body FROM messages WHERE wa_id = ? AND direction = 'in' \
             AND sender_kind = 'customer'",
        )
        .bind(&wa_id)
        .fetch_optional(svc.app.pool())
        .await
        .unwrap()
    })
    .await
}

/// A text the customer sends after the calls, once stored: the bridge handles events in
/// order, so everything about the calls before it is done by then.
async fn barrier(svc: &SimService, customer: &str) {
    let wa_id = svc
        .sim
        .customer_send(customer, PHARMACY, Outgoing::Text("ok".into()), None)
        .unwrap();
    eventually("the text after the calls", || async {
        sqlx::query_scalar::<_, i64>("SELECT id FROM messages WHERE wa_id = ?")
            .bind(&wa_id)
            .fetch_optional(svc.app.pool())
            .await
            .unwrap()
    })
    .await;
}

/// How many messages with `body` the service queued to `customer`.
async fn queued(svc: &SimService, customer: &str, body: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM messages m JOIN customers c ON c.id = m.customer_id \
         WHERE c.phone = ? AND m.direction = 'out' AND m.body = ?",
    )
    .bind(customer)
    .bind(body)
    .fetch_one(svc.app.pool())
    .await
    .unwrap()
}

async fn set_calls(svc: &SimService, calls: CallSettingsPatch) {
    svc.app
        .update_settings(
            &SettingsPatch {
                calls: Some(calls),
                ..Default::default()
            },
            svc.agent.user_id,
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_call_is_a_line_in_a_new_ticket_and_by_default_nothing_answers_it() {
    const CUSTOMER: &str = "201055501001";
    let svc = SimService::start(PacingPolicy::fast()).await;
    svc.sim.add_customer(CUSTOMER, "Samir", 1, false).unwrap();
    let voice = svc.sim.customer_call(CUSTOMER, PHARMACY, false).unwrap();
    svc.sim
        .customer_call_end(CUSTOMER, PHARMACY, &voice)
        .unwrap();
    let (ticket, text) = line(&svc, &voice, "missed").await;
    assert_eq!(text, "call missed voice");
    let video = svc.sim.customer_call(CUSTOMER, PHARMACY, true).unwrap();
    svc.sim
        .customer_call_end(CUSTOMER, PHARMACY, &video)
        .unwrap();
    let (same, text) = line(&svc, &video, "missed").await;
    assert_eq!(text, "call missed video");
    assert_eq!(same, ticket, "both calls in the customer's one ticket");
    let customer: String = sqlx::query_scalar(
        "SELECT c.phone FROM tickets t JOIN customers c ON c.id = t.customer_id WHERE t.id = ?",
    )
    .bind(ticket)
    .fetch_one(svc.app.pool())
    .await
    .unwrap();
    assert_eq!(customer, CUSTOMER);
    barrier(&svc, CUSTOMER).await;
    let default = pharmacy_service::app::CallSettings::default();
    assert_eq!(queued(&svc, CUSTOMER, &default.auto_reply_text).await, 0);
    assert!(
        !svc.sim
            .customer_calls(CUSTOMER)
            .iter()
            .any(|c| c.action == "reject"),
        "no reject unless the admins turn it on"
    );
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_reply_on_a_caller_dialling_twice_gets_one_message() {
    const CUSTOMER: &str = "201055501002";
    let svc = SimService::start(PacingPolicy::fast()).await;
    let reply = "وصلتنا مكالمتك يا {customer_name}: نرد عليك هنا بالرسائل";
    set_calls(
        &svc,
        CallSettingsPatch {
            auto_reply: Some(true),
            auto_reply_text: Some(reply.into()),
            ..Default::default()
        },
    )
    .await;
    svc.sim.add_customer(CUSTOMER, "Hoda", 1, false).unwrap();
    for _ in 0..2 {
        let call = svc.sim.customer_call(CUSTOMER, PHARMACY, false).unwrap();
        svc.sim
            .customer_call_end(CUSTOMER, PHARMACY, &call)
            .unwrap();
        line(&svc, &call, "missed").await;
    }
    barrier(&svc, CUSTOMER).await;
    let rendered: String = sqlx::query_scalar(
        "SELECT m.body FROM messages m JOIN customers c ON c.id = m.customer_id \
         WHERE c.phone = ? AND m.sender_kind = 'system' AND m.body LIKE 'وصلتنا مكالمتك%'",
    )
    .bind(CUSTOMER)
    .fetch_one(svc.app.pool())
    .await
    .unwrap();
    assert!(
        !rendered.contains("{customer_name}"),
        "rendered: {rendered}"
    );
    assert_eq!(
        queued(&svc, CUSTOMER, &rendered).await,
        1,
        "one reply queued"
    );
    // The caller's token names its LID, so the reply goes to the LID chat, from our own LID.
    let our_lid = svc.sim.lid_of(PHARMACY).unwrap().user;
    eventually("the reply on the caller's phone", || async {
        svc.sim
            .customer_inbox(CUSTOMER)
            .unwrap()
            .into_iter()
            .find(|m| {
                (m.from.starts_with(PHARMACY) || m.from.starts_with(&*our_lid))
                    && m.text.as_deref() == Some(&*rendered)
            })
    })
    .await;
    let replies: i64 =
        sqlx::query_scalar("SELECT count(*) FROM activity_log WHERE action = 'call.auto_replied'")
            .fetch_one(svc.app.pool())
            .await
            .unwrap();
    assert_eq!(replies, 1);
    // One row queued, sent once: the phone shows the reply once.
    let shown = svc
        .sim
        .customer_inbox(CUSTOMER)
        .unwrap()
        .into_iter()
        .filter(|m| m.text.as_deref() == Some(&*rendered))
        .count();
    assert_eq!(shown, 1);
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_reject_on_the_caller_sees_the_reject_and_the_ticket_says_so() {
    const CUSTOMER: &str = "201055501003";
    let svc = SimService::start(PacingPolicy::fast()).await;
    set_calls(
        &svc,
        CallSettingsPatch {
            auto_reject: Some(true),
            ..Default::default()
        },
    )
    .await;
    svc.sim.add_customer(CUSTOMER, "Adel", 1, false).unwrap();
    let call = svc.sim.customer_call(CUSTOMER, PHARMACY, true).unwrap();
    let reject = eventually("our reject at the caller", || async {
        svc.sim
            .customer_calls(CUSTOMER)
            .into_iter()
            .find(|c| c.action == "reject" && c.call_id == call)
    })
    .await;
    assert!(reject.from.starts_with(PHARMACY), "{}", reject.from);
    let (_, text) = line(&svc, &call, "auto_rejected").await;
    assert_eq!(text, "call auto_rejected video");
    // The caller's phone ends the rejected call: that is no missed call.
    svc.sim
        .customer_call_end(CUSTOMER, PHARMACY, &call)
        .unwrap();
    barrier(&svc, CUSTOMER).await;
    let lines: Vec<String> =
        sqlx::query_scalar("SELECT wa_id FROM messages WHERE wa_id LIKE 'call:%' ORDER BY id")
            .fetch_all(svc.app.pool())
            .await
            .unwrap();
    assert_eq!(lines, vec![format!("call:{call}:auto_rejected")]);
    let default = pharmacy_service::app::CallSettings::default();
    assert_eq!(
        queued(&svc, CUSTOMER, &default.auto_reply_text).await,
        0,
        "the reply is a setting of its own"
    );
    // With the reply on too, the rejected caller is told the pharmacy answers by message.
    set_calls(
        &svc,
        CallSettingsPatch {
            auto_reply: Some(true),
            ..Default::default()
        },
    )
    .await;
    let again = svc.sim.customer_call(CUSTOMER, PHARMACY, false).unwrap();
    let (_, text) = line(&svc, &again, "auto_rejected").await;
    assert_eq!(text, "call auto_rejected voice");
    barrier(&svc, CUSTOMER).await;
    assert_eq!(queued(&svc, CUSTOMER, &default.auto_reply_text).await, 1);
    svc.shutdown().await;
}

#[tokio::test]
async fn the_reply_goes_at_most_once_per_caller_per_window() {
    let w = World::new().await;
    let ticket = w.text("+201055501004", "w1", "hello").await;
    let other = w.text("+201055501005", "w2", "hello").await;
    assert!(
        !w.app.reply_to_call(ticket).await.unwrap(),
        "off by default"
    );
    w.app
        .update_settings(
            &SettingsPatch {
                calls: Some(CallSettingsPatch {
                    auto_reply: Some(true),
                    auto_reply_window_secs: Some(3600),
                    ..Default::default()
                }),
                ..Default::default()
            },
            w.admin,
        )
        .await
        .unwrap();
    assert!(w.app.reply_to_call(ticket).await.unwrap());
    assert!(!w.app.reply_to_call(ticket).await.unwrap());
    assert!(
        w.app.reply_to_call(other).await.unwrap(),
        "per caller, not for everyone"
    );
    w.advance(Duration::from_secs(59 * 60));
    assert!(!w.app.reply_to_call(ticket).await.unwrap());
    w.advance(Duration::from_secs(2 * 60));
    assert!(w.app.reply_to_call(ticket).await.unwrap(), "a new window");
    let default = pharmacy_service::app::CallSettings::default();
    let sent = w
        .count(&format!(
            "SELECT count(*) FROM messages WHERE direction = 'out' AND body = '{}'",
            default.auto_reply_text
        ))
        .await;
    assert_eq!(sent, 3);
}

#[tokio::test]
async fn the_call_settings_are_the_admins_validated_and_logged() {
    let t = spawn_app().await;
    let admin = t.login(ADMIN).await;
    let shown = admin.get("/api/settings").await.json();
    assert_eq!(shown["calls"]["auto_reply"], false);
    assert_eq!(shown["calls"]["auto_reject"], false);
    assert_eq!(shown["calls"]["auto_reply_window_secs"], 3600);
    assert!(
        shown["calls"]["auto_reply_text"]
            .as_str()
            .is_some_and(|s| s.contains("الصيدلية")),
        "an Arabic default: {shown}"
    );
    let r = admin
        .patch(
            "/api/settings",
            json!({ "calls": { "auto_reject": true, "auto_reply_window_secs": 7200 } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["calls"]["auto_reject"], true);
    assert_eq!(r.json()["calls"]["auto_reply_window_secs"], 7200);
    assert!(t.world.app.config().calls.auto_reject);
    // A later change keeps what it does not name.
    let r = admin
        .patch("/api/settings", json!({ "calls": { "auto_reply": true } }))
        .await;
    assert_eq!(r.json()["calls"]["auto_reject"], true);
    assert_eq!(r.json()["calls"]["auto_reply"], true);
    for (body, field) in [
        (
            json!({ "calls": { "auto_reply_text": "  " } }),
            "calls.auto_reply_text",
        ),
        (
            json!({ "calls": { "auto_reply_text": "x".repeat(2001) } }),
            "calls.auto_reply_text",
        ),
        (
            json!({ "calls": { "auto_reply_window_secs": 10 } }),
            "calls.auto_reply_window_secs",
        ),
        (json!({ "calls": { "auto_rejct": true } }), "calls"),
        (json!({ "calls": { "auto_reject": "yes" } }), "calls"),
    ] {
        let r = admin.patch("/api/settings", body.clone()).await;
        assert_eq!(r.status, 422, "{body}: {}", r.text());
        assert_eq!(r.json()["error"]["details"]["field"], field, "{body}");
    }
    assert_eq!(
        t.world.app.config().calls.auto_reply_window,
        Duration::from_secs(7200),
        "refused changes change nothing"
    );
    let logged = t
        .world
        .count(
            "SELECT count(*) FROM activity_log WHERE action = 'settings.updated' \
             AND json_extract(details_json, '$.calls') IS NOT NULL",
        )
        .await;
    assert_eq!(logged, 2);
    // Stored for the next start.
    let stored = t
        .world
        .count(
            "SELECT json_extract(value_json, '$.calls.auto_reply') \
             + json_extract(value_json, '$.calls.auto_reject') FROM settings \
             WHERE key = 'service.settings'",
        )
        .await;
    assert_eq!(stored, 2);
}
