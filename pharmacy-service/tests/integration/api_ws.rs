//! The live feed over a real WebSocket client: newMessage to the right people only, resume
//! after a reconnect, typing, presence, admin-only events, and refused handshakes.

use super::api_support::*;
use futures_util::{SinkExt, StreamExt};
use pharmacy_service::domain::routing::AgentStatus;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub(crate) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) async fn connect(t: &TestApp, c: &Client, since: Option<u64>) -> Ws {
    try_connect(t, c, since, None).await.expect("handshake")
}

pub(crate) async fn try_connect(
    t: &TestApp,
    c: &Client,
    since: Option<u64>,
    origin: Option<&str>,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    Ok(connect_hello(t, c, since, origin).await?.0)
}

/// [`try_connect`], also returning the `hello` frame.
pub(crate) async fn connect_hello(
    t: &TestApp,
    c: &Client,
    since: Option<u64>,
    origin: Option<&str>,
) -> Result<(Ws, Value), tokio_tungstenite::tungstenite::Error> {
    let url = match since {
        Some(s) => format!("ws://{}/ws?since={s}", t.addr),
        None => format!("ws://{}/ws/", t.addr),
    };
    let mut req = url.into_client_request().unwrap();
    if let Some(cookie) = &c.cookie {
        req.headers_mut().insert("Cookie", cookie.parse().unwrap());
    }
    if let Some(o) = origin {
        req.headers_mut().insert("Origin", o.parse().unwrap());
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
    let hello = next(&mut ws).await;
    assert_eq!(hello["type"], "hello");
    Ok((ws, hello))
}

pub(crate) async fn next(ws: &mut Ws) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("an event within 5 s")
            .expect("open")
            .expect("frame");
        if let Message::Text(t) = m {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

/// Frames until one matches; returns (the frames before it, the match).
pub(crate) async fn until(ws: &mut Ws, want: impl Fn(&Value) -> bool) -> (Vec<Value>, Value) {
    let mut seen = Vec::new();
    loop {
        let v = next(ws).await;
        if want(&v) {
            return (seen, v);
        }
        seen.push(v);
    }
}

fn is_new_message(v: &Value, body: &str) -> bool {
    v["type"] == "newMessage" && v["message"]["body"] == body
}

#[tokio::test]
async fn new_messages_reach_the_assigned_agent_only_and_resume_after_reconnect() {
    let t = spawn_app().await;
    let ticket = t.customer_writes("201001110001", "w1", "hello").await;
    t.assign(ticket, t.world.agents[0]).await;
    let t1 = t.login(T1).await;
    let t2 = t.login(T2).await;
    let g1 = t.login(G1).await;
    let admin = t.login(ADMIN).await;
    let mut ws_t1 = connect(&t, &t1, None).await;
    let mut ws_t2 = connect(&t, &t2, None).await;
    let mut ws_g1 = connect(&t, &g1, None).await;
    let mut ws_admin = connect(&t, &admin, None).await;

    t.customer_writes("201001110001", "w2", "do you have panadol?")
        .await;
    let (_, ev) = until(&mut ws_t1, |v| is_new_message(v, "do you have panadol?")).await;
    assert_eq!(ev["ticket"]["id"], ticket.0);
    let seq = ev["seq"].as_u64().unwrap();
    assert!(seq > 0);
    let (_, ev) = until(&mut ws_admin, |v| is_new_message(v, "do you have panadol?")).await;
    assert_eq!(ev["seq"], seq);

    // A later event everyone may see, as a marker: nothing of the ticket came before it.
    t.world
        .app
        .set_agent_status(t.world.agents[2], AgentStatus::Away, None)
        .await
        .unwrap();
    let marker = |v: &Value| v["type"] == "agentStatus" && v["status"] == "away";
    for ws in [&mut ws_t2, &mut ws_g1] {
        let (before, _) = until(ws, marker).await;
        assert!(
            before.iter().all(|v| v["type"] != "newMessage"),
            "another agent saw the ticket: {before:?}"
        );
    }

    // T1 drops; two messages arrive; T1 comes back with its last seq and gets them.
    let (_, last) = until(&mut ws_t1, marker).await;
    let last_seq = last["seq"].as_u64().unwrap();
    drop(ws_t1);
    t.customer_writes("201001110001", "w3", "are you there?")
        .await;
    t.customer_writes("201001110001", "w4", "hello??").await;
    let mut ws_t1 = connect(&t, &t1, Some(last_seq)).await;
    let (_, a) = until(&mut ws_t1, |v| is_new_message(v, "are you there?")).await;
    let (_, b) = until(&mut ws_t1, |v| is_new_message(v, "hello??")).await;
    assert!(a["seq"].as_u64().unwrap() > last_seq);
    assert!(b["seq"].as_u64().unwrap() > a["seq"].as_u64().unwrap());

    // An agent's reply over HTTP is live too.
    let r = t1
        .post(
            "/api/messages/send",
            json!({ "ticket_id": ticket.0, "text": "yes, 20 EGP" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    until(&mut ws_admin, |v| is_new_message(v, "yes, 20 EGP")).await;
}

#[tokio::test]
async fn typing_is_shown_to_the_others_on_the_ticket() {
    let t = spawn_app().await;
    let ticket = t.customer_writes("201001110002", "w1", "hi").await;
    t.assign(ticket, t.world.agents[0]).await;
    let t1 = t.login(T1).await;
    let admin = t.login(ADMIN).await;
    let g1 = t.login(G1).await;
    let mut ws_t1 = connect(&t, &t1, None).await;
    let mut ws_admin = connect(&t, &admin, None).await;
    let mut ws_g1 = connect(&t, &g1, None).await;
    ws_admin
        .send(Message::Text(
            json!({ "type": "typing", "ticket_id": ticket.0, "typing": true })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let (_, ev) = until(&mut ws_t1, |v| v["type"] == "typing").await;
    assert_eq!(ev["ticket_id"], ticket.0);
    assert_eq!(ev["typing"], true);
    assert!(ev["seq"].is_u64());
    // An agent typing reaches the admin with the agent's seat (and not the typist).
    ws_t1
        .send(Message::Text(
            json!({ "type": "typing", "ticket_id": ticket.0 })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let (_, ev) = until(&mut ws_admin, |v| v["type"] == "typing").await;
    assert_eq!(ev["agent_id"], t.world.agents[0].0);
    assert!(ev["seq"].as_u64().unwrap() > 0);
    ws_t1
        .send(Message::Text(json!({ "type": "ping" }).to_string().into()))
        .await
        .unwrap();
    let (before, _) = until(&mut ws_t1, |v| v["type"] == "pong").await;
    assert!(
        before.iter().all(|v| v["type"] != "typing"),
        "own typing echoed: {before:?}"
    );
    // G1 does not work on the ticket: a ping's pong comes, no typing before it.
    ws_g1
        .send(Message::Text(json!({ "type": "ping" }).to_string().into()))
        .await
        .unwrap();
    let (before, _) = until(&mut ws_g1, |v| v["type"] == "pong").await;
    assert!(before.iter().all(|v| v["type"] != "typing"), "{before:?}");
}

pub(crate) async fn say(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// Frames up to the pong answering a ping: what the connection got meanwhile.
pub(crate) async fn drain(ws: &mut Ws) -> Vec<Value> {
    say(ws, json!({ "type": "ping" })).await;
    until(ws, |v| v["type"] == "pong").await.0
}

#[tokio::test]
async fn viewing_and_replying_are_shown_to_the_others_on_the_ticket() {
    let t = spawn_app().await;
    let ticket = t.customer_writes("201001110003", "v1", "hi").await;
    t.assign(ticket, t.world.agents[0]).await;
    let (t1, admin, g1) = (t.login(T1).await, t.login(ADMIN).await, t.login(G1).await);
    let name = |c: &Client| {
        let c = c.clone();
        async move { c.get("/auth/profile").await.json()["user"]["name"].clone() }
    };
    let (t1_name, admin_name) = (name(&t1).await, name(&admin).await);
    let mut ws_t1 = connect(&t, &t1, None).await;
    let mut ws_admin = connect(&t, &admin, None).await;
    let mut ws_g1 = connect(&t, &g1, None).await;
    // G1 asks to view a ticket it may not see: nobody hears of it.
    say(
        &mut ws_g1,
        json!({ "type": "viewing", "ticket_id": ticket.0 }),
    )
    .await;
    say(
        &mut ws_t1,
        json!({ "type": "viewing", "ticket_id": ticket.0 }),
    )
    .await;
    // (Its pong: the server has taken the agent's viewing before the admin's.)
    let got = drain(&mut ws_t1).await;
    assert!(got.iter().all(|v| v["type"] != "viewing"), "{got:?}");
    // The admin opens the same ticket: told the agent is there, and the agent is told.
    say(
        &mut ws_admin,
        json!({ "type": "viewing", "ticket_id": ticket.0 }),
    )
    .await;
    let (_, ev) = until(&mut ws_admin, |v| v["type"] == "viewing").await;
    assert_eq!(
        (ev["name"].clone(), ev["viewing"].clone()),
        (t1_name.clone(), json!(true))
    );
    assert_eq!(ev["ticket_id"], ticket.0);
    let (before, ev) = until(&mut ws_t1, |v| v["type"] == "viewing").await;
    assert_eq!(
        (ev["name"].clone(), ev["viewing"].clone()),
        (admin_name.clone(), json!(true))
    );
    assert!(
        before.iter().all(|v| v["type"] != "viewing"),
        "G1 leaked: {before:?}"
    );
    // The agent replies: the admin sees who.
    say(
        &mut ws_t1,
        json!({ "type": "typing", "ticket_id": ticket.0 }),
    )
    .await;
    let (_, ev) = until(&mut ws_admin, |v| v["type"] == "typing").await;
    assert_eq!(ev["name"], t1_name);
    // The admin leaves; then the agent's connection closes.
    say(&mut ws_admin, json!({ "type": "left" })).await;
    let (_, ev) = until(&mut ws_t1, |v| v["type"] == "viewing").await;
    assert_eq!(
        (ev["name"].clone(), ev["viewing"].clone()),
        (admin_name, json!(false))
    );
    say(
        &mut ws_admin,
        json!({ "type": "viewing", "ticket_id": ticket.0 }),
    )
    .await;
    until(&mut ws_admin, |v| {
        v["type"] == "viewing" && v["viewing"] == true
    })
    .await;
    ws_t1.close(None).await.unwrap();
    let (_, ev) = until(&mut ws_admin, |v| {
        v["type"] == "viewing" && v["viewing"] == false
    })
    .await;
    assert_eq!(ev["name"], t1_name);
    // The unrelated agent heard nothing of this ticket.
    let got = drain(&mut ws_g1).await;
    assert!(
        got.iter()
            .all(|v| v["type"] != "viewing" && v["type"] != "typing"),
        "{got:?}"
    );
}

#[tokio::test]
async fn presence_follows_live_connections() {
    let t = spawn_app().await;
    let g1 = t.login(G1).await;
    let admin = t.login(ADMIN).await;
    let mut ws_admin = connect(&t, &admin, None).await;
    let agent = t.world.agents[2].0;
    let status = |t: &TestApp| {
        let app = t.world.app.clone();
        async move {
            let mut c = app.pool().acquire().await.unwrap();
            pharmacy_service::db::agents::by_id(
                &mut c,
                pharmacy_service::domain::ids::AgentId(agent),
            )
            .await
            .unwrap()
            .unwrap()
            .status
        }
    };
    assert_eq!(status(&t).await, AgentStatus::Offline);
    let ws = connect(&t, &g1, None).await;
    let (_, ev) = until(&mut ws_admin, |v| {
        v["type"] == "agentStatus" && v["agent_id"] == agent
    })
    .await;
    assert_eq!(ev["status"], "online");
    assert_eq!(status(&t).await, AgentStatus::Online);
    drop(ws);
    let (_, ev) = until(&mut ws_admin, |v| {
        v["type"] == "agentStatus" && v["agent_id"] == agent
    })
    .await;
    assert_eq!(ev["status"], "offline");
    // An explicit "away" survives connecting.
    let r = g1
        .post(
            &format!("/api/agents/{agent}/status"),
            json!({ "status": "away" }),
        )
        .await;
    assert_eq!(r.status, 200);
    let _ws = connect(&t, &g1, None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(status(&t).await, AgentStatus::Away);
}

#[tokio::test]
async fn whatsapp_status_goes_to_admins_only() {
    let t = spawn_app().await;
    t.wa.connect("201000000000");
    let admin = t.login(ADMIN).await;
    let t1 = t.login(T1).await;
    let mut ws_admin = connect(&t, &admin, None).await;
    let mut ws_t1 = connect(&t, &t1, None).await;
    assert_eq!(
        admin
            .post("/api/whatsapp/disconnect", json!({}))
            .await
            .status,
        200
    );
    let (_, ev) = until(&mut ws_admin, |v| v["type"] == "whatsappStatus").await;
    assert_eq!(ev["state"], "logged_out");
    ws_t1
        .send(Message::Text(json!({ "type": "ping" }).to_string().into()))
        .await
        .unwrap();
    let (before, _) = until(&mut ws_t1, |v| v["type"] == "pong").await;
    assert!(before.iter().all(|v| v["type"] != "whatsappStatus"));
}

#[tokio::test]
async fn handshakes_without_a_session_or_from_another_origin_are_refused() {
    let t = spawn_app().await;
    let anon = t.client();
    assert!(try_connect(&t, &anon, None, None).await.is_err());
    let t1 = t.login(T1).await;
    assert!(
        try_connect(&t, &t1, None, Some("http://evil.example"))
            .await
            .is_err()
    );
    let own = format!("http://{}", t.addr);
    assert!(try_connect(&t, &t1, None, Some(&own)).await.is_ok());
    // A plain GET is a JSON error, not a crash.
    let r = t1.get("/ws").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "bad_request");
}

#[tokio::test]
async fn the_whole_lifecycle_is_live() {
    use pharmacy_service::app::{InboundEvent, ReceiptStatus, Sender};
    use pharmacy_service::whatsapp::{FakeMessenger, OutboxWorker};
    let t = spawn_app().await;
    let (stop, rx) = tokio::sync::watch::channel(false);
    let worker = OutboxWorker::new(
        t.world.app.clone(),
        std::sync::Arc::new(FakeMessenger::new()),
        7,
    );
    tokio::spawn(worker.run(rx));
    let admin = t.login(ADMIN).await;
    let t1 = t.login(T1).await;
    let mut ws_admin = connect(&t, &admin, None).await;
    let mut ws_t1 = connect(&t, &t1, None).await;

    let ticket = t
        .customer_writes("201001110009", "w1", "first time here")
        .await;
    let (_, ev) = until(&mut ws_admin, |v| v["type"] == "newCustomer").await;
    assert_eq!(ev["customer"]["phone"], "201001110009");
    t.assign(ticket, t.world.agents[0]).await;
    let (_, ev) = until(&mut ws_t1, |v| v["type"] == "ticketAssigned").await;
    assert_eq!(ev["ticket"]["agent_id"], t.world.agents[0].0);

    let r = t1
        .post(
            "/api/messages/send",
            json!({ "ticket_id": ticket.0, "text": "welcome!" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let m = r.json()["message"].clone();
    let mid = m["id"].as_i64().unwrap();
    let (_, ev) = until(&mut ws_t1, |v| {
        v["type"] == "messageSent" && v["message_id"] == mid
    })
    .await;
    assert_eq!(ev["ticket_id"], ticket.0);
    let wa = m["wa_id"].as_str().unwrap().to_owned();
    for (status, name) in [
        (ReceiptStatus::Delivered, "messageDelivered"),
        (ReceiptStatus::Read, "messageRead"),
    ] {
        t.world
            .app
            .handle_inbound(InboundEvent::Receipt {
                from: Sender {
                    phone: Some("201001110009".into()),
                    ..Default::default()
                },
                wa_ids: vec![wa.clone()],
                status,
                at: t.world.app.now(),
            })
            .await
            .unwrap();
        until(&mut ws_t1, |v| v["type"] == name && v["message_id"] == mid).await;
    }
    let r = t1
        .post(&format!("/api/tickets/{}/close", ticket.0), json!({}))
        .await;
    assert_eq!(r.status, 200);
    let (_, ev) = until(&mut ws_t1, |v| v["type"] == "ticketClosed").await;
    assert_eq!(ev["ticket"]["status"], "closed");
    let r = t1
        .post(&format!("/api/tickets/{}/reopen", ticket.0), json!({}))
        .await;
    assert_eq!(r.status, 200);
    until(&mut ws_t1, |v| {
        v["type"] == "ticketUpdated" && v["ticket"]["status"] == "open"
    })
    .await;
    let _ = stop.send(true);
}

#[tokio::test]
async fn a_client_too_far_behind_gets_a_resync_then_what_the_buffer_still_holds() {
    let t = spawn_app().await;
    let admin = t.login(ADMIN).await;
    let bus = t.world.app.events();
    let now = t.world.app.now();
    let status = |i: usize| pharmacy_service::app::LiveEvent::AgentStatus {
        agent_id: t.world.agents[i % 3],
        branch_id: None,
        status: AgentStatus::Away,
    };
    let first = bus.publish(now, status(0));
    // More events than the bus keeps (4096): the client's last number falls out of it.
    let mut last = first;
    for i in 0..4200 {
        last = bus.publish(now, status(i));
    }
    let mut ws = connect(&t, &admin, Some(first)).await;
    let resync = next(&mut ws).await;
    assert_eq!(resync["type"], "resync", "{resync}");
    assert_eq!(resync["seq"].as_u64(), Some(last));
    // Then the replay of what the buffer still has, oldest first, ending at the newest.
    let oldest = next(&mut ws).await;
    assert_eq!(oldest["type"], "agentStatus");
    let oldest = oldest["seq"].as_u64().unwrap();
    assert!(oldest > first + 1, "{oldest} should be past the gap");
    let (_, newest) = until(&mut ws, |v| v["seq"].as_u64() == Some(last)).await;
    assert_eq!(newest["type"], "agentStatus");

    // A client whose number is still in the buffer resumes without a resync.
    let mut ws = connect(&t, &admin, Some(last - 5)).await;
    let v = next(&mut ws).await;
    assert_eq!(v["type"], "agentStatus", "{v}");
    assert_eq!(v["seq"].as_u64(), Some(last - 4));
}
