//! The API keeps the promises of issue 10 beyond the happy paths: a missing or malformed field
//! is a 422 naming it (checked for every body and query parameter of the OpenAPI document), the
//! inbox filters and pages, passwords are argon2id, and no hash, secret or SQL text leaves the
//! service.

use super::api_support::*;
use pharmacy_service::db;
use pharmacy_service::http::openapi::{Access, operations, spec};
use serde_json::{Value, json};
use std::collections::BTreeSet;

fn concrete(path: &str) -> String {
    path.replace("{id}", "1")
        .replace("{label_id}", "1")
        .replace("{tag}", "t")
        .replace("{sha256}", &"0".repeat(64))
}

/// A `#/components/schemas/X` reference, resolved.
fn resolve(schema: &Value) -> Option<&'static Value> {
    let name = schema["$ref"]
        .as_str()?
        .strip_prefix("#/components/schemas/")?;
    Some(&spec()["components"]["schemas"][name])
}

#[tokio::test]
async fn every_json_body_names_its_missing_field() {
    let t = spawn_app().await;
    let admin = t.login(ADMIN).await;
    let mut checked = 0;
    let mut failures = Vec::new();
    for op in operations() {
        if op.access == Access::Signed {
            continue;
        }
        let o = &spec()["paths"][&op.path][&op.method];
        let Some(body) = resolve(&o["requestBody"]["content"]["application/json"]["schema"]) else {
            continue;
        };
        let required: Vec<&str> = body["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let Some(first) = required.first() else {
            continue;
        };
        checked += 1;
        let path = concrete(&op.path);
        let r = admin
            .send_json(&op.method.to_uppercase(), &path, json!({}))
            .await;
        let field = r.json()["error"]["details"]["field"].clone();
        if r.status != 422 || field != *first {
            failures.push(format!(
                "{} {path}: {} {field} (want 422 naming {first})",
                op.method, r.status
            ));
        }
    }
    assert!(checked >= 20, "only {checked} bodies checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn every_malformed_query_parameter_is_named() {
    let t = spawn_app().await;
    let admin = t.login(ADMIN).await;
    let mut checked = 0;
    let mut failures = Vec::new();
    for op in operations().into_iter().filter(|o| o.method == "get") {
        let o = &spec()["paths"][&op.path][&op.method];
        for p in o["parameters"].as_array().into_iter().flatten() {
            if p["in"] != "query" {
                continue;
            }
            let name = p["name"].as_str().unwrap();
            let s = &p["schema"];
            // Integers, dates and closed lists of words all refuse a stray word.
            let typed = s["type"] == "integer" || s["format"] == "date" || s["pattern"].is_string();
            if !typed {
                continue;
            }
            checked += 1;
            // The other required parameters get valid values.
            let mut query = format!("{name}=x-not-valid");
            if name != "ticket" && op.path == "/api/messages" {
                query.push_str("&ticket=1");
            }
            if name != "q" && op.path == "/api/messages/search" {
                query.push_str("&q=panadol");
            }
            let path = format!("{}?{query}", concrete(&op.path));
            let r = admin.get(&path).await;
            let field = r.json()["error"]["details"]["field"].clone();
            if r.status != 422 || field != name {
                failures.push(format!("GET {path}: {} {field}", r.status));
            }
        }
    }
    assert!(checked >= 15, "only {checked} parameters checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn ids(v: &Value) -> BTreeSet<i64> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["ticket"]["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_inbox_filters_by_status_branch_agent_customer_queue_and_text_and_pages() {
    let t = spawn_app().await;
    let w = &t.world;
    let admin = t.login(ADMIN).await;
    let mine = t.customer_writes("201004000001", "f1", "one").await;
    t.assign(mine, w.agents[0]).await;
    let other_branch = t.customer_writes("201004000002", "f2", "two").await;
    t.assign(other_branch, w.agents[2]).await;
    let queue = t.customer_writes("201004000003", "f3", "three").await;
    let mut c = w.app.pool().acquire().await.unwrap();
    db::tickets::assign(&mut c, queue, None, Some(w.branches[0]), w.app.now())
        .await
        .unwrap();
    drop(c);
    let closed = t.customer_writes("201004000004", "f4", "four").await;
    t.assign(closed, w.agents[0]).await;
    assert_eq!(
        admin
            .post(&format!("/api/tickets/{}/close", closed.0), json!({}))
            .await
            .status,
        200
    );
    let cu = w.ticket(other_branch).await.customer_id.0;
    let r = admin
        .patch(
            &format!("/api/customers/{cu}"),
            json!({ "name": "Zeinab Fathy" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let set = |v: &[i64]| v.iter().copied().collect::<BTreeSet<i64>>();
    for (query, want) in [
        ("status=closed", set(&[closed.0])),
        ("status=open", set(&[mine.0, other_branch.0, queue.0])),
        (
            &format!("branch={}", w.branches[1].0) as &str,
            set(&[other_branch.0]),
        ),
        (
            &format!("agent={}", w.agents[0].0),
            set(&[mine.0, closed.0]),
        ),
        (&format!("customer={cu}"), set(&[other_branch.0])),
        ("unassigned=true", set(&[queue.0])),
        ("text=Zeinab", set(&[other_branch.0])),
    ] {
        let r = admin.get(&format!("/api/tickets/?{query}")).await;
        assert_eq!(r.status, 200, "{query}: {}", r.text());
        assert_eq!(ids(&r.json()), want, "{query}");
    }
    // Cursor pages of one: every ticket exactly once, newest activity first, then the end.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let v = admin
            .get(&format!("/api/tickets?limit=1&cursor={cursor}"))
            .await
            .json();
        seen.extend(ids(&v));
        match v["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
        assert!(seen.len() <= 4, "pages never end: {seen:?}");
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 4, "{seen:?}");
    let r = admin.get("/api/tickets?cursor=garbage").await;
    assert_eq!(r.json()["error"]["details"]["field"], "cursor");
}

#[tokio::test]
async fn passwords_are_argon2id_and_no_hash_secret_or_sql_leaves() {
    let t = spawn_app().await;
    let admin = t.login(ADMIN).await;
    let r = admin
        .post(
            "/auth/register",
            json!({ "username": "hash.check", "name": "H", "password": "long-enough-9", "role": "admin" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let hash: String =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE username = 'hash.check'")
            .fetch_one(t.world.app.pool())
            .await
            .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(hash.contains("$m=47104,t=1,p=1$"), "{hash}");
    // A hash made with the earlier settings (19 MiB, two passes) still logs in, and that login
    // replaces it with the current settings.
    let earlier = {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        argon2::Argon2::default()
            .hash_password(b"long-enough-9", &salt)
            .unwrap()
            .to_string()
    };
    assert!(earlier.contains("$m=19456,t=2,p=1$"), "{earlier}");
    sqlx::query("UPDATE users SET password_hash = ? WHERE username = 'hash.check'")
        .bind(&earlier)
        .execute(t.world.app.pool())
        .await
        .unwrap();
    let r = t
        .client()
        .post(
            "/auth/login",
            json!({ "username": "hash.check", "password": "long-enough-9" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let upgraded: String =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE username = 'hash.check'")
            .fetch_one(t.world.app.pool())
            .await
            .unwrap();
    assert!(upgraded.contains("$m=47104,t=1,p=1$"), "{upgraded}");
    let token = admin
        .post("/api/tokens", json!({ "name": "leak check" }))
        .await;
    let secret = token.json()["token"].as_str().unwrap().to_owned();
    let token_hash: String = sqlx::query_scalar("SELECT token_hash FROM api_tokens")
        .fetch_one(t.world.app.pool())
        .await
        .unwrap();
    for path in ["/api/users", "/api/tokens", "/api/activity?limit=200"] {
        let body = admin.get(path).await.text();
        for s in [&hash[..], "$argon2", &secret, &token_hash, "password_hash"] {
            assert!(!body.contains(s), "{path} shows {s}");
        }
    }
    // A storage failure is logged and answered as a bare `internal` error.
    sqlx::query("DROP TABLE admin_alerts")
        .execute(t.world.app.pool())
        .await
        .unwrap();
    let r = admin.get("/api/alerts").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.code(), "internal");
    let text = r.text();
    for s in ["admin_alerts", "no such table", "SELECT", "sqlx", ".rs:"] {
        assert!(!text.contains(s), "the answer shows {s}: {text}");
    }
}

#[tokio::test]
async fn qr_as_svg_and_agent_shifts() {
    let t = spawn_app().await;
    let admin = t.login(ADMIN).await;
    let r = admin.get("/api/whatsapp/qr-code/?format=svg").await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("image/svg+xml")
    );
    assert!(r.text().contains("<svg"));
    assert_eq!(
        admin.get("/api/whatsapp/qr-code?format=gif").await.json()["error"]["details"]["field"],
        "format"
    );
    let id = t.world.agents[1].0;
    let day = json!([{ "start": 540, "end": 1020 }]);
    let shifts = json!({ "days": [day, day, day, day, day, [], []] });
    let r = admin
        .patch(
            &format!("/api/agents/{id}/"),
            json!({ "shifts": shifts, "branch_id": t.world.branches[2].0 }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let a = &r.json()["agent"];
    assert_eq!(a["shifts"], shifts);
    assert_eq!(a["branch_id"], t.world.branches[2].0);
    let bad = json!({ "days": [[{ "start": 600, "end": 500 }], [], [], [], [], [], []] });
    let r = admin
        .patch(&format!("/api/agents/{id}"), json!({ "shifts": bad }))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["error"]["details"]["field"], "shifts");
    // An agent may not change agents at all.
    let agent = t.login(T1).await;
    assert_eq!(
        agent
            .patch(&format!("/api/agents/{id}"), json!({ "capacity": 9 }))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn the_csv_export_quotes_every_name_and_defuses_formulas() {
    let t = spawn_app().await;
    let admin = t.login(ADMIN).await;
    let name = "=HYPERLINK(\"http://evil\",\"x\")";
    let r = admin
        .post(
            "/auth/register",
            json!({ "username": "csv.agent", "name": name, "password": PASSWORD, "role": "agent", "branch_id": t.world.branches[0].0 }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let agent_id = r.json()["user"]["agent_id"].as_i64().unwrap();
    let ticket = t.customer_writes("201005000001", "csv1", "hello").await;
    t.assign(ticket, pharmacy_service::domain::ids::AgentId(agent_id))
        .await;
    let agent = t.login("csv.agent").await;
    let r = agent
        .post(
            "/api/messages/send",
            json!({ "ticket_id": ticket.0, "text": "hi" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = admin.get("/api/analytics/reports/?format=csv").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-disposition")
            .unwrap()
            .starts_with("attachment; filename=\"kpi-")
    );
    let csv = r.text();
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    assert_eq!(header.split(',').count(), 11, "{header}");
    let row = lines
        .find(|l| l.starts_with(&format!("{agent_id},")))
        .unwrap_or_else(|| panic!("no row for the agent: {csv}"));
    // Quoted, inner quotes doubled, and a leading apostrophe so no spreadsheet runs it.
    assert!(
        row.contains("\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\""),
        "{row}"
    );
    assert!(row.contains(",1,"), "one message sent: {row}");
    // The JSON form of the same report has the name as it is.
    let v = admin.get("/api/analytics/reports").await.json();
    let a = v["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent_id"] == agent_id)
        .unwrap()
        .clone();
    assert_eq!(a["name"], name);
    assert_eq!(a["totals"]["messages_sent"], 1);
}

/// A field deep in a body is named by its whole path, a missing one included (the answer used
/// to name only the object holding it), and a query parameter sent empty counts as absent.
#[tokio::test]
async fn a_nested_field_is_named_by_its_whole_path() {
    let t = spawn_app().await;
    let admin = t.login(ADMIN).await;
    let b = t.world.branches[0].0;
    let holidays = format!("/api/branches/{b}/holidays");
    for (body, field) in [
        (
            json!({ "items": [{ "day": "2026-01-07" }] }),
            "items[0].name",
        ),
        (
            json!({ "items": [{ "day": "2026-01-07", "name": "a" }, { "name": "b" }] }),
            "items[1].day",
        ),
        (
            json!({ "items": [{ "day": 7, "name": "a" }] }),
            "items[0].day",
        ),
        (json!({}), "items"),
    ] {
        let r = admin.send_json("PUT", &holidays, body.clone()).await;
        assert_eq!(r.status, 422, "{body}: {}", r.text());
        assert_eq!(r.json()["error"]["details"]["field"], field, "{body}");
    }
    let hours = format!("/api/branches/{b}/hours");
    let r = admin
        .send_json(
            "PUT",
            &hours,
            json!({ "hours": { "days": [[{ "start": 60 }]] } }),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(
        r.json()["error"]["details"]["field"],
        "hours.days[0][0].end"
    );
    // Empty parameters are absent; a page size out of range is named.
    let r = admin.get("/api/activity?limit=&user=&from=&action=").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = admin.get("/api/activity?limit=0").await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["error"]["details"]["field"], "limit");
}
