//! Every admin action over HTTP lands in the activity log with the client's address (issue
//! 10, Security): each state-changing admin-only operation of the OpenAPI document is done
//! once, and the test fails if one is left out, logs nothing, or logs no address.

use super::api_support::*;
use pharmacy_service::http::openapi::{Access, operations};
use serde_json::{Value, json};
use std::collections::BTreeSet;

const LOOPBACK: &str = "127.0.0.1";

async fn max_id(t: &TestApp) -> i64 {
    t.world
        .count("SELECT coalesce(max(id), 0) FROM activity_log")
        .await
}

/// (action, address) of the entries after `after`.
async fn entries_after(t: &TestApp, after: i64) -> Vec<(String, Option<String>)> {
    sqlx::query_as("SELECT action, address FROM activity_log WHERE id > ? ORDER BY id")
        .bind(after)
        .fetch_all(t.world.app.pool())
        .await
        .unwrap()
}

struct Run<'a> {
    t: &'a TestApp,
    admin: Client,
    /// (method, documented path) of every call made.
    done: BTreeSet<(String, String)>,
    failures: Vec<String>,
}

impl Run<'_> {
    /// Calls `method path` (the documented template, with `{id}` filled by `id`), checks the
    /// status, and that it appended entries, `action` among them, all with the address.
    async fn call(
        &mut self,
        method: &str,
        template: &str,
        id: Option<i64>,
        body: Value,
        action: &str,
    ) -> Value {
        let path = match id {
            Some(id) => template.replace("{id}", &id.to_string()),
            None => template.to_owned(),
        };
        let before = max_id(self.t).await;
        let r = self.admin.send_json(method, &path, body).await;
        self.done
            .insert((method.to_ascii_lowercase(), template.to_owned()));
        if !(200..300).contains(&r.status) {
            self.failures
                .push(format!("{method} {path}: {} {}", r.status, r.text()));
            return Value::Null;
        }
        let logged = entries_after(self.t, before).await;
        if !logged.iter().any(|(a, _)| a == action) {
            self.failures
                .push(format!("{method} {path}: no {action} in {logged:?}"));
        }
        for (a, address) in &logged {
            if address.as_deref() != Some(LOOPBACK) {
                self.failures.push(format!(
                    "{method} {path}: {a} logged with address {address:?}"
                ));
            }
        }
        r.json()
    }
}

#[tokio::test]
async fn every_admin_action_is_logged_with_the_client_address() {
    let t = spawn_app().await;
    let w = &t.world;
    let mut run = Run {
        t: &t,
        admin: t.login(ADMIN).await,
        done: BTreeSet::new(),
        failures: Vec::new(),
    };
    let branch = w.branches[0].0;

    // Users and tokens.
    let u = run
        .call(
            "POST",
            "/auth/register",
            None,
            json!({ "username": "audit.agent", "name": "Audit", "password": "long-enough-1", "role": "agent", "branch_id": branch }),
            "user.created",
        )
        .await;
    let uid = u["user"]["id"].as_i64();
    run.call(
        "POST",
        "/api/users/{id}/password",
        uid,
        json!({ "new_password": "another-long-1" }),
        "user.password_reset",
    )
    .await;
    run.call(
        "POST",
        "/api/users/{id}/active",
        uid,
        json!({ "active": false }),
        "user.deactivated",
    )
    .await;
    let tok = run
        .call(
            "POST",
            "/api/tokens",
            None,
            json!({ "name": "ci" }),
            "token.created",
        )
        .await;
    run.call(
        "DELETE",
        "/api/tokens/{id}",
        tok["id"].as_i64(),
        json!(null),
        "token.revoked",
    )
    .await;

    // Agents and branches.
    let a = run
        .call(
            "POST",
            "/api/agents",
            None,
            json!({ "username": "audit.agent2", "name": "Audit 2", "password": "long-enough-2", "branch_id": branch }),
            "user.created",
        )
        .await;
    run.call(
        "PATCH",
        "/api/agents/{id}",
        a["agent"]["id"].as_i64(),
        json!({ "capacity": 4 }),
        "agent.updated",
    )
    .await;
    run.call(
        "POST",
        "/api/branches",
        None,
        json!({ "code": "AUD", "name": "Audit", "name_ar": "تدقيق", "address": "Tanta", "latitude": 30.8, "longitude": 31.0 }),
        "branch.saved",
    )
    .await;

    // Branch calendars.
    let day = json!([{ "start": 540, "end": 1020 }]);
    run.call(
        "PUT",
        "/api/branches/{id}/hours",
        Some(branch),
        json!({ "hours": { "days": [day, day, day, day, day, day, []] } }),
        "branch.hours_saved",
    )
    .await;
    let holidays = json!({ "items": [{ "day": "2026-12-25", "name": "Christmas" }] });
    run.call(
        "PUT",
        "/api/branches/{id}/holidays",
        Some(branch),
        holidays.clone(),
        "holidays.saved",
    )
    .await;
    run.call("PUT", "/api/holidays", None, holidays, "holidays.saved")
        .await;

    // Templates, auto-replies, settings.
    let auto = run
        .call(
            "POST",
            "/api/auto-replies",
            None,
            json!({ "keyword": "hours", "match_kind": "contains", "body": "9 to 5" }),
            "auto_reply.created",
        )
        .await;
    run.call(
        "DELETE",
        "/api/auto-replies/{id}",
        auto["id"].as_i64(),
        json!(null),
        "auto_reply.deleted",
    )
    .await;
    run.call(
        "PATCH",
        "/api/settings",
        None,
        json!({ "csat_enabled": false }),
        "settings.updated",
    )
    .await;

    // Tickets: deleting one.
    let doomed = t
        .customer_writes("201003000009", "aud-d", "delete me")
        .await;
    run.call(
        "DELETE",
        "/api/tickets/{id}",
        Some(doomed.0),
        json!(null),
        "ticket.deleted",
    )
    .await;

    // The mass-send guard: the same text to many customers is held, with an alert.
    let mut tickets = Vec::new();
    for i in 0..7 {
        tickets.push(
            t.customer_writes(&format!("20100300000{i}"), &format!("aud-{i}"), "hi")
                .await,
        );
    }
    for tk in &tickets {
        let r = run
            .admin
            .post(
                "/api/messages/send",
                json!({ "ticket_id": tk.0, "text": "Offer: 20% off vitamins today!" }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let held: Vec<i64> = run.admin.get("/api/outbox/held").await.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_i64().unwrap())
        .collect();
    assert!(held.len() >= 2, "held: {held:?}");
    run.call(
        "POST",
        "/api/outbox/{id}/confirm",
        Some(held[0]),
        json!({}),
        "outbox.confirmed",
    )
    .await;
    run.call(
        "POST",
        "/api/outbox/{id}/cancel",
        Some(held[1]),
        json!({}),
        "outbox.cancelled",
    )
    .await;
    let alert = run.admin.get("/api/alerts").await.json()["items"][0]["id"].as_i64();
    assert!(alert.is_some(), "no alert raised");
    run.call(
        "POST",
        "/api/alerts/{id}/acknowledge",
        alert,
        json!({}),
        "alert.acknowledged",
    )
    .await;

    // The WhatsApp link.
    run.call(
        "POST",
        "/api/whatsapp/pair-code",
        None,
        json!({ "phone": "01001234567" }),
        "whatsapp.pair_code",
    )
    .await;
    t.wa.connect("201001234567");
    run.call(
        "POST",
        "/api/whatsapp/disconnect",
        None,
        json!({}),
        "whatsapp.disconnected",
    )
    .await;

    // The switch-over page: a branch's details, and a legacy branch mapped onto a real one.
    let real = t.world.branches[0].0;
    run.call(
        "PUT",
        "/api/switchover/branches/{id}",
        Some(real),
        json!({ "address": "12 Toriel St" }),
        "switchover.branch_set_up",
    )
    .await;
    let legacy: i64 = sqlx::query_scalar(
        "INSERT INTO branches (code, name, name_ar, address, latitude, longitude, hours_json, is_active, created_at)
         SELECT 'legacy-toriel', 'Toriel', 'Toriel', '', latitude, longitude, hours_json, 0, created_at
         FROM branches WHERE id = ? RETURNING id",
    )
    .bind(real)
    .fetch_one(t.world.app.pool())
    .await
    .unwrap();
    run.call(
        "POST",
        "/api/switchover/branches/{id}/map",
        Some(legacy),
        json!({ "branch_id": real }),
        "switchover.branch_mapped",
    )
    .await;

    // Conversation labels.
    let label = run
        .call(
            "POST",
            "/api/labels",
            None,
            json!({ "name": "Audit label", "color": "teal" }),
            "label.created",
        )
        .await;
    run.call(
        "PATCH",
        "/api/labels/{id}",
        label["label"]["id"].as_i64(),
        json!({ "archived": true }),
        "label.updated",
    )
    .await;

    // Outbound webhooks and the alert e-mail (an SMTP listener on loopback takes the test).
    let created = run
        .call(
            "POST",
            "/api/webhooks",
            None,
            json!({ "url": "http://127.0.0.1:9/hook", "events": ["ticket.created"] }),
            "webhook.created",
        )
        .await;
    let hook = created["webhook"]["id"].as_i64();
    run.call(
        "PATCH",
        "/api/webhooks/{id}",
        hook,
        json!({ "enabled": false }),
        "webhook.updated",
    )
    .await;
    run.call(
        "DELETE",
        "/api/webhooks/{id}",
        hook,
        json!(null),
        "webhook.deleted",
    )
    .await;
    let (port, _mails) = super::alerts::smtp_listener().await;
    run.call(
        "PUT",
        "/api/alerts/email",
        None,
        json!({
            "enabled": true, "host": "127.0.0.1", "port": port, "tls": "none",
            "from": "alerts@pharmacy.example", "to": ["admin@pharmacy.example"],
        }),
        "alerts.email_saved",
    )
    .await;
    run.call(
        "POST",
        "/api/alerts/email/test",
        None,
        json!({}),
        "alerts.email_tested",
    )
    .await;

    // Admin-only operations added since: they must be here too.
    let missing: Vec<String> = operations()
        .into_iter()
        .filter(|o| o.access == Access::Admin && o.method != "get")
        .filter(|o| !run.done.contains(&(o.method.clone(), o.path.clone())))
        .map(|o| format!("{} {}", o.method, o.path))
        .collect();
    assert!(
        missing.is_empty(),
        "admin actions not exercised: {missing:?}"
    );
    assert!(run.failures.is_empty(), "{}", run.failures.join("\n"));

    // The log shows the address, and only for what came over HTTP.
    let log = run.admin.get("/api/activity?limit=200").await.json();
    let entry = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "token.revoked")
        .cloned()
        .unwrap();
    assert_eq!(entry["address"], LOOPBACK);
    let before = max_id(&t).await;
    w.app
        .set_agent_status(
            w.agents[0],
            pharmacy_service::domain::routing::AgentStatus::Away,
            None,
        )
        .await
        .unwrap();
    let logged = entries_after(&t, before).await;
    assert!(!logged.is_empty());
    assert!(
        logged.iter().all(|(_, a)| a.is_none()),
        "no request, no address: {logged:?}"
    );
}

#[tokio::test]
async fn logins_and_agents_actions_carry_the_connection_address_too() {
    let t = spawn_app().await;
    let before = max_id(&t).await;
    let agent = t.login(T1).await;
    // The address is the connection's: a forwarding header a client makes up changes nothing.
    let r = agent
        .raw(
            "POST",
            &format!("/api/agents/{}/status", t.world.agents[0].0),
            Some("application/json"),
            br#"{"status": "away"}"#,
            &[
                ("X-Forwarded-For", "203.0.113.9"),
                ("X-Real-IP", "203.0.113.9"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let logged = entries_after(&t, before).await;
    let actions: Vec<&str> = logged.iter().map(|(a, _)| a.as_str()).collect();
    assert!(
        actions.contains(&"auth.login") && actions.contains(&"agent.status"),
        "{actions:?}"
    );
    assert!(
        logged.iter().all(|(_, a)| a.as_deref() == Some(LOOPBACK)),
        "{logged:?}"
    );
}
