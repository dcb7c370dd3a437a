//! Happy paths and errors of the ticket, message, customer, agent, analytics, WhatsApp and
//! admin endpoints.

use super::api_support::*;
use serde_json::json;

#[tokio::test]
async fn agent_lists_opens_answers_and_closes_a_ticket() {
    let t = spawn_app().await;
    let ticket = t
        .customer_writes("201001230001", "w1", "عندكم بنادول؟")
        .await;
    t.assign(ticket, t.world.agents[0]).await;
    let me = t.login(T1).await;
    let r = me.get("/api/tickets/?status=open").await;
    assert_eq!(r.status, 200);
    let items = r.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["ticket"]["id"], ticket.0);
    assert_eq!(items[0]["customer"]["phone"], "201001230001");
    let r = me.get("/api/tickets?status=bogus").await;
    assert_eq!(r.json()["error"]["details"]["field"], "status");
    let r = me.get("/api/tickets?limit=0").await;
    assert_eq!(r.json()["error"]["details"]["field"], "limit");
    let r = me.get(&format!("/api/tickets/{}", ticket.0)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["can_act"], true);
    assert_eq!(me.get("/api/tickets/999999/").await.status, 404);
    assert_eq!(me.get("/api/tickets/abc").await.status, 404);

    // Messages, then a reply, reply-to and a template.
    let r = me.get(&format!("/api/messages?ticket={}", ticket.0)).await;
    let msgs = r.json()["items"].as_array().unwrap().clone();
    // The customer's message (and the automatic greeting and out-of-office replies).
    let first = msgs.iter().find(|m| m["direction"] == "in").unwrap()["id"]
        .as_i64()
        .unwrap();
    let r = me.get("/api/messages").await;
    assert_eq!(r.json()["error"]["details"]["field"], "ticket");
    let r = me
        .post(
            "/api/messages/send/",
            json!({ "ticket_id": ticket.0, "text": "نعم متوفر", "reply_to": first }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["message"]["status"], "queued");
    assert_eq!(r.json()["message"]["direction"], "out");
    let r = me
        .post("/api/messages/send", json!({ "ticket_id": ticket.0 }))
        .await;
    assert_eq!(r.json()["error"]["details"]["field"], "text");
    let r = me
        .post(
            "/api/messages/send",
            json!({ "ticket_id": ticket.0, "text": "x", "reply_to": 999999 }),
        )
        .await;
    assert_eq!(r.json()["error"]["details"]["field"], "reply_to");
    let r = me.post("/api/messages/send", json!({ "text": "x" })).await;
    assert_eq!(r.json()["error"]["details"]["field"], "ticket_id");
    let tpl = me
        .post(
            "/api/templates",
            json!({ "key": "hours", "title": "Hours", "body": "Hello {customer_name}" }),
        )
        .await;
    assert_eq!(tpl.status, 201, "{}", tpl.text());
    let tid = tpl.json()["template"]["id"].as_i64().unwrap();
    let r = me
        .post(
            "/api/messages/send",
            json!({ "ticket_id": ticket.0, "template_id": tid }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(
        r.json()["message"]["body"]
            .as_str()
            .unwrap()
            .starts_with("Hello")
    );
    let r = me
        .get(&format!("/api/messages?ticket={}&limit=2", ticket.0))
        .await;
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 2);
    let cursor = r.json()["next_cursor"].as_str().unwrap().to_owned();
    let r = me
        .get(&format!(
            "/api/messages?ticket={}&cursor={cursor}",
            ticket.0
        ))
        .await;
    let rest = r.json()["items"].as_array().unwrap().clone();
    assert_eq!(rest.len(), 3, "5 messages in all");
    assert!(rest[0]["id"].as_i64().unwrap() > cursor.parse::<i64>().unwrap());

    // Search (Arabic normalisation is the core's; the API limits it to visible tickets).
    let r = me.get("/api/messages/search?q=بنادول").await;
    assert_eq!(
        r.json()["items"].as_array().unwrap().len(),
        1,
        "{}",
        r.text()
    );
    assert_eq!(me.get("/api/messages/search").await.status, 422);

    // Patch, note, close.
    let r = me
        .patch(
            &format!("/api/tickets/{}", ticket.0),
            json!({ "priority": "high", "status": "pending" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["ticket"]["priority"], "high");
    assert_eq!(r.json()["ticket"]["status"], "pending");
    let r = me
        .patch(
            &format!("/api/tickets/{}", ticket.0),
            json!({ "priority": "whenever" }),
        )
        .await;
    assert_eq!(r.json()["error"]["details"]["field"], "priority");
    let r = me
        .post(
            &format!("/api/tickets/{}/notes", ticket.0),
            json!({ "body": "asked for the price" }),
        )
        .await;
    assert_eq!(r.status, 201);
    let r = me
        .post(&format!("/api/tickets/{}/close/", ticket.0), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["ticket"]["status"], "closed");
    let r = me
        .post(&format!("/api/tickets/{}/close", ticket.0), json!({}))
        .await;
    assert_eq!(r.status, 409);
    let r = me
        .post(
            "/api/messages/send",
            json!({ "ticket_id": ticket.0, "text": "late" }),
        )
        .await;
    assert_eq!(r.status, 409);
    let r = me
        .post(&format!("/api/tickets/{}/reopen", ticket.0), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn transfer_create_and_delete() {
    let t = spawn_app().await;
    let ticket = t.customer_writes("201001230002", "w1", "hi").await;
    t.assign(ticket, t.world.agents[0]).await;
    let me = t.login(T1).await;
    let r = me
        .post(
            &format!("/api/tickets/{}/transfer", ticket.0),
            json!({ "agent_id": t.world.agents[2].0 }),
        )
        .await;
    assert_eq!(r.json()["error"]["details"]["field"], "note");
    let r = me
        .post(
            &format!("/api/tickets/{}/transfer", ticket.0),
            json!({ "note": "x" }),
        )
        .await;
    assert_eq!(r.status, 422);
    let r = me
        .post(
            &format!("/api/tickets/{}/transfer", ticket.0),
            json!({ "agent_id": 9999, "note": "x" }),
        )
        .await;
    assert_eq!(r.json()["error"]["details"]["field"], "agent_id");
    let r = me
        .post(
            &format!("/api/tickets/{}/transfer", ticket.0),
            json!({ "agent_id": t.world.agents[2].0, "note": "customer lives near Gomhoreya" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["ticket"]["agent_id"], t.world.agents[2].0);
    // Gone from T1's inbox; T1 can no longer act on it.
    assert_eq!(
        me.get("/api/tickets").await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let r = me
        .post(&format!("/api/tickets/{}/close", ticket.0), json!({}))
        .await;
    assert!(r.status == 403 || r.status == 404, "{}", r.status);

    // A ticket opened by hand for a walk-in customer the agent adds.
    let admin = t.login(ADMIN).await;
    let cu = me
        .post(
            "/api/customers/",
            json!({ "phone": "0100 555 1234", "name": "Walk-in" }),
        )
        .await;
    assert_eq!(cu.status, 201, "{}", cu.text());
    assert_eq!(cu.json()["customer"]["phone"], "201005551234");
    let cid = cu.json()["customer"]["id"].as_i64().unwrap();
    assert_eq!(
        admin
            .post("/api/customers", json!({ "phone": "01005551234" }))
            .await
            .status,
        409
    );
    assert_eq!(
        admin
            .post("/api/customers", json!({ "phone": "abc" }))
            .await
            .json()["error"]["details"]["field"],
        "phone"
    );
    let r = me
        .post(
            "/api/tickets",
            json!({ "customer_id": cid, "subject": "phone order" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let new_id = r.json()["ticket"]["id"].as_i64().unwrap();
    assert_eq!(r.json()["ticket"]["agent_id"], t.world.agents[0].0);
    assert_eq!(
        me.post("/api/tickets", json!({ "customer_id": cid }))
            .await
            .status,
        409
    );
    assert_eq!(
        me.post("/api/tickets", json!({ "customer_id": 424242 }))
            .await
            .status,
        404
    );
    assert_eq!(
        me.delete(&format!("/api/tickets/{new_id}")).await.status,
        403
    );
    assert_eq!(
        admin
            .delete(&format!("/api/tickets/{new_id}/"))
            .await
            .status,
        200
    );
    assert_eq!(
        admin.get(&format!("/api/tickets/{new_id}")).await.status,
        404
    );
    assert!(
        admin
            .get("/api/activity")
            .await
            .text()
            .contains("ticket.deleted")
    );
}

#[tokio::test]
async fn media_upload_is_served_to_those_who_may_see_it() {
    let t = spawn_app().await;
    let ticket = t
        .customer_writes("201001230003", "w1", "prescription?")
        .await;
    t.assign(ticket, t.world.agents[0]).await;
    let me = t.login(T1).await;
    let boundary = "XyZ123";
    let png = b"\x89PNG\r\n\x1a\nfake image bytes";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"ticket_id\"\r\n\r\n{}\r\n",
            ticket.0
        )
        .as_bytes(),
    );
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nYour receipt\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"r.png\"\r\nContent-Type: image/png\r\n\r\n").as_bytes());
    body.extend_from_slice(png);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let r = me
        .raw(
            "POST",
            "/api/messages/send",
            Some(&format!("multipart/form-data; boundary={boundary}")),
            &body,
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let m = r.json()["message"].clone();
    assert_eq!(m["kind"], "image");
    let sha = m["media_sha256"].as_str().unwrap().to_owned();
    let r = me.get(&format!("/api/media/{sha}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type").as_deref(), Some("image/png"));
    assert_eq!(r.body, png);
    let g1 = t.login(G1).await;
    assert_eq!(g1.get(&format!("/api/media/{sha}")).await.status, 404);
    // Someone who may not act on the ticket uploads nothing: the file is kept only once the
    // send is allowed.
    let stored = t.world.count("SELECT count(*) FROM media").await;
    let other = String::from_utf8_lossy(&body).replace("fake image bytes", "other image bytes");
    let r = g1
        .raw(
            "POST",
            "/api/messages/send",
            Some(&format!("multipart/form-data; boundary={boundary}")),
            other.as_bytes(),
            &[],
        )
        .await;
    assert!(matches!(r.status, 403 | 404), "{}: {}", r.status, r.text());
    assert_eq!(t.world.count("SELECT count(*) FROM media").await, stored);
    assert_eq!(me.get("/api/media/not-a-hash").await.status, 404);
    // Revoking before it left cancels it.
    let mid = m["id"].as_i64().unwrap();
    let r = me.delete(&format!("/api/messages/{mid}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["how"], "cancelled");
    assert_eq!(me.delete(&format!("/api/messages/{mid}")).await.status, 409);
    let first: i64 = t
        .world
        .count(&format!(
            "SELECT min(id) FROM messages WHERE ticket_id = {}",
            ticket.0
        ))
        .await;
    assert_eq!(
        me.delete(&format!("/api/messages/{first}")).await.status,
        409,
        "incoming messages cannot be revoked"
    );
    let r = me.get(&format!("/api/messages/{mid}/")).await;
    assert_eq!(r.status, 200);
    assert!(r.json()["message"]["revoked_at"].is_i64());
}

#[tokio::test]
async fn signed_webhook_ingests_messages() {
    let t = spawn_app().await;
    let event = json!({ "type": "message", "wa_id": "GW-1", "from": { "phone": "201001230004", "lid": null, "push_name": "Hoda" },
        "at": 1_795_593_600_000i64, "content": { "kind": "text", "text": "from the other gateway" }, "quoted_wa_id": null });
    let body = event.to_string();
    let r = t.ingest_to("/api/messages/receive/", &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["outcome"]["outcome"], "stored");
    let r = t.ingest(&body).await;
    assert_eq!(r.json()["outcome"]["outcome"], "duplicate");
    let r = t.ingest("{\"type\":\"message\"}").await;
    assert_eq!(r.status, 422);
}

#[tokio::test]
async fn customers_agents_analytics_whatsapp_and_settings() {
    let t = spawn_app().await;
    let ticket = t.customer_writes("201001230005", "w1", "hello").await;
    t.assign(ticket, t.world.agents[0]).await;
    let me = t.login(T1).await;
    let admin = t.login(ADMIN).await;
    let cid = t.world.ticket(ticket).await.customer_id.0;
    // Customers.
    let r = me.get("/api/customers").await;
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1);
    let r = me
        .patch(
            &format!("/api/customers/{cid}"),
            json!({ "name": "Mona Ali", "home_branch_id": t.world.branches[0].0 }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["customer"]["name"], "Mona Ali");
    assert_eq!(
        me.patch(
            &format!("/api/customers/{cid}"),
            json!({ "home_branch_id": 999 })
        )
        .await
        .status,
        422
    );
    assert_eq!(
        me.post(
            &format!("/api/customers/{cid}/tags"),
            json!({ "tag": "diabetic" })
        )
        .await
        .json()["tags"][0],
        "diabetic"
    );
    assert_eq!(
        me.post(
            &format!("/api/customers/{cid}/notes"),
            json!({ "body": "" })
        )
        .await
        .status,
        422
    );
    assert_eq!(
        me.post(
            &format!("/api/customers/{cid}/notes/"),
            json!({ "body": "prefers calls" })
        )
        .await
        .status,
        201
    );
    let r = me.get(&format!("/api/customers/{cid}")).await;
    assert_eq!(r.json()["notes"].as_array().unwrap().len(), 1);
    let r = me.get(&format!("/api/customers/{cid}/history")).await;
    assert_eq!(r.json()["tickets"].as_array().unwrap().len(), 1);
    assert_eq!(
        admin.get("/api/customers?q=Mona").await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Agents and branches.
    let r = me.get("/api/agents/").await;
    let a = &r.json()["items"][0];
    assert!(
        a["name"].is_string() && a.get("capacity").is_none(),
        "agents see the directory only: {a}"
    );
    assert!(admin.get("/api/agents").await.json()["items"][0]["capacity"].is_i64());
    assert_eq!(
        me.get("/api/branches").await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let own = t.world.agents[0].0;
    assert_eq!(
        me.get(&format!(
            "/api/agents/{own}/kpi?from=2026-11-01&to=2026-11-30"
        ))
        .await
        .status,
        200
    );
    assert_eq!(
        me.get(&format!("/api/agents/{own}/kpi?from=yesterday"))
            .await
            .json()["error"]["details"]["field"],
        "from"
    );
    assert_eq!(
        me.get(&format!("/api/agents/{}/kpi", t.world.agents[1].0))
            .await
            .status,
        403
    );
    let r = admin
        .patch(&format!("/api/agents/{own}"), json!({ "capacity": 7 }))
        .await;
    assert_eq!(r.json()["agent"]["capacity"], 7);
    let r = admin.post("/api/agents", json!({ "username": "new.agent", "name": "New", "password": "long-enough-1", "branch_id": t.world.branches[1].0 })).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = admin.post("/api/branches", json!({ "code": "sandoub", "name": "Sandoub", "name_ar": "سندوب", "address": "Sandoub", "latitude": 31.03, "longitude": 31.39 })).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(admin.post("/api/branches", json!({ "code": "x", "name": "x", "name_ar": "x", "address": "x", "latitude": 91.0, "longitude": 0.0 })).await.json()["error"]["details"]["field"], "latitude");
    // Analytics.
    for p in ["dashboard", "kpi", "agents", "customers", "reports"] {
        let r = admin.get(&format!("/api/analytics/{p}/")).await;
        assert_eq!(r.status, 200, "{p}: {}", r.text());
    }
    let r = admin
        .get("/api/analytics/reports?format=csv&from=2026-11-01&to=2026-11-30")
        .await;
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with("agent_id,name,"));
    assert!(r.header("content-type").unwrap().starts_with("text/csv"));
    // WhatsApp.
    let r = admin.get("/api/whatsapp/qr-code/").await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert!(v["qr"].as_str().unwrap().contains(','));
    assert!(v["svg"].as_str().unwrap().contains("<svg"));
    assert!(v["png_base64"].as_str().unwrap().starts_with("iVBOR"));
    let r = admin.get("/api/whatsapp/qr-code?format=png").await;
    assert_eq!(&r.body[..4], b"\x89PNG");
    assert_eq!(
        admin.get("/api/whatsapp/status").await.json()["state"],
        "unpaired"
    );
    let r = admin
        .post(
            "/api/whatsapp/pair-code",
            json!({ "phone": "0100 123 4567" }),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["phone"], "201001234567");
    assert_eq!(r.json()["code"].as_str().unwrap().len(), 8);
    assert_eq!(
        admin
            .post("/api/whatsapp/pair-code", json!({ "phone": "call me" }))
            .await
            .json()["error"]["details"]["field"],
        "phone"
    );
    assert_eq!(
        admin
            .post("/api/whatsapp/disconnect", json!({}))
            .await
            .status,
        409
    );
    t.wa.connect("201001234567");
    assert_eq!(
        admin.get("/api/whatsapp/status").await.json()["state"],
        "connected"
    );
    assert_eq!(
        admin
            .post("/api/whatsapp/disconnect/", json!({}))
            .await
            .status,
        200
    );
    // Settings, auto-replies, alerts, held messages.
    let r = admin
        .patch(
            "/api/settings",
            json!({ "csat_enabled": false, "stickiness_secs": 3600 }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["csat_enabled"], false);
    assert_eq!(t.world.app.config().stickiness.as_secs(), 3600);
    // Every setting PATCH accepts is shown by GET (and the branch menu can be switched off).
    let shown = admin.get("/api/settings").await.json();
    let accepted = serde_json::to_value(pharmacy_service::app::SettingsPatch::default()).unwrap();
    for k in accepted.as_object().unwrap().keys() {
        assert!(
            shown.get(k).is_some(),
            "GET /api/settings omits {k}: {shown}"
        );
    }
    assert_eq!(shown["branch_menu_enabled"], true);
    let r = admin
        .patch("/api/settings", json!({ "branch_menu_enabled": false }))
        .await;
    assert_eq!(r.json()["branch_menu_enabled"], false);
    assert!(!t.world.app.config().branch_menu_enabled);
    // The pharmacy's name on WhatsApp: a push name (1 to 25 characters once trimmed),
    // announced again at once while the link is up.
    assert_eq!(shown["whatsapp_name"], "Pharmacy");
    let r = admin
        .patch("/api/settings", json!({ "whatsapp_name": "Misr Pharmacy" }))
        .await;
    assert_eq!(r.json()["whatsapp_name"], "Misr Pharmacy");
    assert_eq!(t.world.app.config().whatsapp_name, "Misr Pharmacy");
    assert!(
        t.wa.announced().is_empty(),
        "nothing to announce to unlinked"
    );
    t.wa.connect("201001234567");
    // 25 letters between spaces: the spaces go, the 25 stay.
    let arabic = "صيدلية مصر الجديدة فرع ١٢";
    assert_eq!(arabic.chars().count(), 25);
    let r = admin
        .patch(
            "/api/settings",
            json!({ "whatsapp_name": format!("  {arabic} ") }),
        )
        .await;
    assert_eq!(r.json()["whatsapp_name"], arabic);
    assert_eq!(t.world.app.config().whatsapp_name, arabic);
    assert_eq!(t.wa.announced(), [arabic]);
    for bad in [
        " ",
        "a name far longer than twenty-five",
        "صيدلية مصر الجديدة فرع ١٢٣",
    ] {
        let r = admin
            .patch("/api/settings", json!({ "whatsapp_name": bad }))
            .await;
        assert_eq!(r.json()["error"]["details"]["field"], "whatsapp_name");
    }
    let r = admin.patch("/api/settings", json!({ "bad_key": 1 })).await;
    assert_eq!(r.json()["error"]["details"]["field"], "bad_key");
    let r = admin
        .patch("/api/settings", json!({ "csat_enabled": "yes" }))
        .await;
    assert_eq!(r.json()["error"]["details"]["field"], "csat_enabled");
    let r = admin
        .post(
            "/api/auto-replies",
            json!({ "keyword": "hours", "match_kind": "contains", "body": "9-2" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        admin
            .post(
                "/api/auto-replies",
                json!({ "keyword": "hours", "match_kind": "fuzzy", "body": "9-2" })
            )
            .await
            .json()["error"]["details"]["field"],
        "match_kind"
    );
    let id = r.json()["id"].as_i64().unwrap();
    assert_eq!(
        admin
            .delete(&format!("/api/auto-replies/{id}"))
            .await
            .status,
        200
    );
    assert_eq!(admin.get("/api/alerts").await.status, 200);
    assert_eq!(admin.get("/api/outbox/held").await.status, 200);
    assert_eq!(
        admin
            .post("/api/outbox/999/confirm", json!({}))
            .await
            .status,
        404
    );
    // Every admin action is in the activity log.
    let log = admin.get("/api/activity?limit=200").await.text();
    for action in [
        "agent.updated",
        "user.created",
        "branch.saved",
        "whatsapp.disconnected",
        "whatsapp.pair_code",
        "settings.updated",
        "auto_reply.created",
        "auto_reply.deleted",
        "auth.login",
    ] {
        assert!(log.contains(action), "{action} missing");
    }
}
