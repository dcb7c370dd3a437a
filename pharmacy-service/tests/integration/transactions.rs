//! Writes that belong together commit together: a failure injected into the last write of a
//! use-case (a trigger that aborts it) leaves none of its earlier writes behind.

use super::api_support::*;
use super::support::World;
use serde_json::json;

/// Makes the writes `on` names (`BEFORE INSERT ON t WHEN ...`) fail, as a full disk or a
/// constraint would in the middle of a use-case.
async fn inject_failure(world: &World, on: &str) {
    sqlx::query(&format!(
        "CREATE TRIGGER injected_failure {on} BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
    ))
    .execute(world.app.pool())
    .await
    .unwrap();
}

async fn count(world: &World, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(world.app.pool())
        .await
        .unwrap()
}

/// An alert raised on its own comes with its activity-log entry; when the entry cannot be
/// written, no alert is left without it.
#[tokio::test]
async fn an_alert_and_its_log_entry_commit_together() {
    let w = World::new().await;
    let detail = json!({ "failures": 2 });
    w.app
        .raise_alert("inbound_store_failed", "stored again", &detail)
        .await
        .unwrap();
    let alert_id = count(&w, "SELECT max(id) FROM admin_alerts").await;
    assert_eq!(
        count(
            &w,
            &format!(
                "SELECT count(*) FROM activity_log WHERE action = 'alert.raised' \
                 AND entity_kind = 'alert' AND entity_id = {alert_id}"
            )
        )
        .await,
        1
    );
    inject_failure(
        &w,
        "BEFORE INSERT ON activity_log WHEN NEW.action = 'alert.raised'",
    )
    .await;
    assert!(
        w.app
            .raise_alert("inbound_store_failed", "again", &detail)
            .await
            .is_err()
    );
    assert_eq!(count(&w, "SELECT count(*) FROM admin_alerts").await, 1);
}

/// `POST /api/customers` with a home branch that does not exist is refused whole: no
/// customer is left behind, so the same phone can be added again at once.
#[tokio::test]
async fn a_customer_is_created_whole_or_not_at_all() {
    let t = spawn_app().await;
    let admin = t.login(ADMIN).await;
    let phone = "+201000000931";
    let r = admin
        .post(
            "/api/customers",
            json!({ "phone": phone, "name": "Nour", "home_branch_id": 999_999 }),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.json()["error"]["details"]["field"], "home_branch_id");
    assert_eq!(
        count(
            &t.world,
            "SELECT count(*) FROM customers WHERE phone = '201000000931'"
        )
        .await,
        0
    );
    let branch = t.world.branches[0].0;
    let r = admin
        .post(
            "/api/customers",
            json!({ "phone": phone, "name": "Nour", "email": "nour@example.com", "home_branch_id": branch }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let c = &r.json()["customer"];
    assert_eq!(
        (c["email"].as_str(), c["home_branch_id"].as_i64()),
        (Some("nour@example.com"), Some(branch))
    );
}

/// `POST /api/tickets` with a priority is one transaction: when the priority cannot be
/// written, no ticket is left (and the customer may have one opened again).
#[tokio::test]
async fn a_ticket_is_created_whole_or_not_at_all() {
    let t = spawn_app().await;
    let admin = t.login(ADMIN).await;
    let r = admin
        .post("/api/customers", json!({ "phone": "+201000000932" }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let customer = r.json()["customer"]["id"].as_i64().unwrap();
    inject_failure(
        &t.world,
        "BEFORE UPDATE ON tickets WHEN NEW.priority = 'high'",
    )
    .await;
    let r = admin
        .post(
            "/api/tickets",
            json!({ "customer_id": customer, "subject": "refill", "priority": "high" }),
        )
        .await;
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(
        count(
            &t.world,
            &format!("SELECT count(*) FROM tickets WHERE customer_id = {customer}")
        )
        .await,
        0
    );
    sqlx::query("DROP TRIGGER injected_failure")
        .execute(t.world.app.pool())
        .await
        .unwrap();
    let r = admin
        .post(
            "/api/tickets",
            json!({ "customer_id": customer, "subject": "refill", "priority": "high" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["ticket"]["priority"], "high");
    assert_eq!(r.json()["ticket"]["subject"], "refill");
}
