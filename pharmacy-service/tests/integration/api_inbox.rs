//! What the inbox and the branch calendar need from the API: list items with the last message
//! and the caller's unread count, read marks, paging backwards through a chat (`before`), and
//! the admins' holiday and opening-hours editing (validated, admin-only, in the activity log),
//! and the pacing in force for the settings page.

use super::api_support::*;
use serde_json::{Value, json};

fn item(list: &Value, ticket: i64) -> Value {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["ticket"]["id"] == ticket)
        .cloned()
        .unwrap_or_else(|| panic!("ticket {ticket} not listed: {list}"))
}

#[tokio::test]
async fn list_items_carry_the_last_message_and_each_users_unread_count() {
    let t = spawn_app().await;
    let phone = "201001230050";
    let ticket = t.customer_writes(phone, "u1", "صباح الخير").await;
    t.assign(ticket, t.world.agents[0]).await;
    t.customer_writes(phone, "u2", "محتاج دواء للضغط").await;
    t.customer_writes(phone, "u3", "كونكور ٥ مجم").await;
    let me = t.login(T1).await;
    let admin = t.login(ADMIN).await;

    let list = me.get("/api/tickets/?status=open").await.json();
    let it = item(&list, ticket.0);
    assert_eq!(it["last_message"]["body"], "كونكور ٥ مجم");
    assert_eq!(it["last_message"]["direction"], "in");
    assert_eq!(it["unread"], 3, "the customer's three messages: {it}");
    assert_eq!(
        item(&admin.get("/api/tickets").await.json(), ticket.0)["unread"],
        3
    );

    // Reading is per user: the agent reads, the admin still has them unread.
    let r = me
        .post(&format!("/api/tickets/{}/read/", ticket.0), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["unread"], 0);
    let newest = it["last_message"]["id"].as_i64().unwrap();
    assert_eq!(r.json()["last_read_message_id"], newest);
    assert_eq!(
        item(&me.get("/api/tickets").await.json(), ticket.0)["unread"],
        0
    );
    assert_eq!(
        item(&admin.get("/api/tickets").await.json(), ticket.0)["unread"],
        3
    );

    // A new message is unread again; an older read mark does not move the mark back.
    t.customer_writes(phone, "u4", "والسعر كام؟").await;
    let it = item(&me.get("/api/tickets").await.json(), ticket.0);
    assert_eq!(it["unread"], 1);
    assert_eq!(it["last_message"]["body"], "والسعر كام؟");
    let r = me
        .post(
            &format!("/api/tickets/{}/read", ticket.0),
            json!({ "message_id": 1 }),
        )
        .await;
    assert_eq!(r.json()["last_read_message_id"], newest);
    assert_eq!(r.json()["unread"], 1);
    let r = me
        .post(
            &format!("/api/tickets/{}/read", ticket.0),
            json!({ "message_id": 0 }),
        )
        .await;
    assert_eq!(r.json()["error"]["details"]["field"], "message_id");

    // Another agent cannot see (or mark) this ticket.
    let other = t.login(G1).await;
    assert_eq!(
        other
            .post(&format!("/api/tickets/{}/read", ticket.0), json!({}))
            .await
            .status,
        404
    );
    assert_eq!(
        me.post("/api/tickets/999999/read", json!({})).await.status,
        404
    );
}

#[tokio::test]
async fn older_messages_page_backwards_with_before() {
    let t = spawn_app().await;
    let phone = "201001230060";
    let ticket = t.customer_writes(phone, "p0", "رسالة 0").await;
    t.assign(ticket, t.world.agents[0]).await;
    for i in 1..9 {
        t.customer_writes(phone, &format!("p{i}"), &format!("رسالة {i}"))
            .await;
    }
    let me = t.login(T1).await;
    let all: Vec<i64> = me
        .get(&format!("/api/messages?ticket={}&limit=200", ticket.0))
        .await
        .json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert!(all.len() >= 9);

    let mut pages = Vec::new();
    let mut before = "latest".to_owned();
    loop {
        let r = me
            .get(&format!(
                "/api/messages?ticket={}&before={before}&limit=3",
                ticket.0
            ))
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let page: Vec<i64> = r.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect();
        assert!(
            page.windows(2).all(|w| w[0] < w[1]),
            "oldest first: {page:?}"
        );
        pages.push(page);
        match r.json()["next_cursor"].as_str() {
            Some(c) => before = c.to_owned(),
            None => break,
        }
    }
    // The first page is the newest; each next page is older; together they are everything.
    assert_eq!(pages[0].last(), all.last());
    let mut joined: Vec<i64> = pages.iter().rev().flatten().copied().collect();
    joined.dedup();
    assert_eq!(joined, all);

    for (q, field) in [
        ("before=abc", "before"),
        ("before=0", "before"),
        ("before=5&cursor=2", "before"),
    ] {
        let r = me
            .get(&format!("/api/messages?ticket={}&{q}", ticket.0))
            .await;
        assert_eq!(r.status, 422, "{q}: {}", r.text());
        assert_eq!(r.json()["error"]["details"]["field"], field, "{q}");
    }
}

async fn actions(admin: &Client) -> Vec<(String, Value)> {
    admin.get("/api/activity?limit=200").await.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["action"].as_str().unwrap_or("").to_owned(), a.clone()))
        .collect()
}

#[tokio::test]
async fn admins_edit_holidays_and_opening_hours() {
    let t = spawn_app().await;
    let admin = t.login(ADMIN).await;
    let agent = t.login(T1).await;
    let b = t.world.branches[0].0;
    let path = format!("/api/branches/{b}/holidays");

    let r = admin
        .send_json(
            "PUT",
            &format!("{path}/"),
            json!({ "items": [
                { "day": "2026-12-25", "name": "Christmas" },
                { "day": "2026-04-13", "name": "شم النسيم" },
            ] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let own: Vec<(String, String)> = r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["chain_wide"] == false)
        .map(|h| {
            (
                h["day"].as_str().unwrap().to_owned(),
                h["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        own,
        vec![
            ("2026-04-13".to_owned(), "شم النسيم".to_owned()),
            ("2026-12-25".to_owned(), "Christmas".to_owned())
        ]
    );
    // The list replaces the previous one.
    let r = admin
        .send_json(
            "PUT",
            &path,
            json!({ "items": [{ "day": "2026-12-25", "name": "Christmas" }] }),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = admin.get(&path).await;
    let own = r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["chain_wide"] == false)
        .count();
    assert_eq!(own, 1);

    // Chain-wide holidays show under every branch.
    let r = admin
        .send_json(
            "PUT",
            "/api/holidays",
            json!({ "items": [{ "day": "2026-10-06", "name": "Armed Forces Day" }] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let other = t.world.branches[1].0;
    let r = admin.get(&format!("/api/branches/{other}/holidays")).await;
    assert!(
        r.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["day"] == "2026-10-06" && h["chain_wide"] == true),
        "{}",
        r.text()
    );

    // Validation names the field.
    for (body, field) in [
        (
            json!({ "items": [{ "day": "2026-13-01", "name": "x" }] }),
            "items[0].day",
        ),
        (
            json!({ "items": [{ "day": "2026-01-07", "name": "  " }] }),
            "items[0].name",
        ),
        (
            json!({ "items": [{ "day": "2026-01-07", "name": "a" }, { "day": "2026-01-07", "name": "b" }] }),
            "items[1].day",
        ),
    ] {
        let r = admin.send_json("PUT", &path, body.clone()).await;
        assert_eq!(r.status, 422, "{body}: {}", r.text());
        assert_eq!(r.json()["error"]["details"]["field"], field, "{body}");
    }
    assert_eq!(
        admin
            .send_json(
                "PUT",
                "/api/branches/999999/holidays",
                json!({ "items": [] })
            )
            .await
            .status,
        404
    );
    assert_eq!(admin.get("/api/branches/999999/holidays").await.status, 404);

    // Opening hours: Monday 09:00-17:00 and an overnight Friday.
    let hours = json!({ "days": [[{ "start": 540, "end": 1020 }], [], [], [], [{ "start": 1080, "end": 120 }], [], []] });
    let r = admin
        .send_json(
            "PUT",
            &format!("/api/branches/{b}/hours/"),
            json!({ "hours": hours }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["branch"]["hours"], hours);
    let r = admin
        .send_json(
            "PUT",
            &format!("/api/branches/{b}/hours"),
            json!({ "hours": { "days": [[], [], [{ "start": 600, "end": 600 }], [], [], [], []] } }),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["error"]["details"]["field"], "hours.days[2]");
    assert_eq!(
        admin
            .send_json(
                "PUT",
                "/api/branches/999999/hours",
                json!({ "hours": hours })
            )
            .await
            .status,
        404
    );

    // Agents may neither read nor change the calendars.
    assert_eq!(agent.get(&path).await.status, 403);
    assert_eq!(
        agent
            .send_json("PUT", &path, json!({ "items": [] }))
            .await
            .status,
        403
    );
    assert_eq!(
        agent
            .send_json("PUT", "/api/holidays", json!({ "items": [] }))
            .await
            .status,
        403
    );
    assert_eq!(
        agent
            .send_json(
                "PUT",
                &format!("/api/branches/{b}/hours"),
                json!({ "hours": hours })
            )
            .await
            .status,
        403
    );

    // Every change is in the activity log.
    let log = actions(&admin).await;
    let holidays: Vec<&Value> = log
        .iter()
        .filter(|(a, _)| a == "holidays.saved")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(holidays.len(), 3, "{log:?}");
    assert!(
        log.iter()
            .any(|(a, v)| a == "branch.hours_saved" && v["entity_id"] == b)
    );
}

#[tokio::test]
async fn admins_read_the_pacing_in_force() {
    let t = spawn_app().await;
    let admin = t.login(ADMIN).await;
    let r = admin.get("/api/settings/pacing/").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let p = r.json();
    let cfg = &t.world.app.config().pacing;
    assert_eq!(p["min_gap_ms"], cfg.min_gap.as_millis() as u64);
    assert_eq!(p["customer_cap"], cfg.customer_cap);
    assert_eq!(p["mass_send_threshold"], cfg.mass_send_threshold);
    assert_eq!(
        t.login(T1).await.get("/api/settings/pacing").await.status,
        403
    );
    assert_eq!(t.client().get("/api/settings/pacing").await.status, 401);
}

#[tokio::test]
async fn ticket_notes_are_listed_with_their_authors() {
    let t = spawn_app().await;
    let ticket = t.customer_writes("201001230070", "n1", "مساء الخير").await;
    t.assign(ticket, t.world.agents[0]).await;
    let me = t.login(T1).await;
    let path = format!("/api/tickets/{}/notes", ticket.0);
    assert_eq!(me.get(&path).await.json()["items"], json!([]));
    for body in ["اتصلت بالعميل", "ينتظر الروشتة"] {
        let r = me.post(&format!("{path}/"), json!({ "body": body })).await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let r = me.get(&format!("{path}/")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let items = r.json()["items"].as_array().unwrap().clone();
    let bodies: Vec<&str> = items.iter().map(|n| n["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["اتصلت بالعميل", "ينتظر الروشتة"]);
    assert!(
        items.iter().all(|n| n["author_name"].is_string()),
        "{items:?}"
    );
    // Someone who may not read the ticket does not learn it exists.
    assert_eq!(t.login(G1).await.get(&path).await.status, 404);
    assert_eq!(me.get("/api/tickets/999999/notes").await.status, 404);
}
