//! Issue 29: the link's state reaches agents, link states that need a person raise admin
//! alerts, outbound webhooks are signed, retried, logged and disabled after repeated failures,
//! and Web Push reaches a push endpoint served here, which decrypts it with the subscription's
//! own keys (RFC 8291) and checks the VAPID token (RFC 8292).

use super::api_support::*;
use super::api_ws::{connect_hello, until};
use super::support::World;
use aes_gcm::aead::{Aead, KeyInit};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use pharmacy_service::alerts::webhook::WebhookPolicy;
use pharmacy_service::alerts::{Alerts, AlertsConfig};
use pharmacy_service::app::LiveEvent;
use pharmacy_service::http::HttpConfig;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub(super) const WAIT: Duration = Duration::from_secs(20);

/// Alerts for tests: http push endpoints allowed, no grace before "link down", webhooks
/// retried after 50 ms (of the world's manual clock), at most `attempts` times.
pub(super) fn test_config(attempts: i64, disable_after: i64) -> AlertsConfig {
    AlertsConfig {
        allow_http_push: true,
        link_down_grace: Duration::ZERO,
        webhooks: WebhookPolicy {
            attempts,
            backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(50),
            disable_after,
            timeout: Duration::from_secs(5),
        },
        ..AlertsConfig::default()
    }
}

/// The API with alerts running under [`test_config`].
pub(super) async fn spawn_alerts(attempts: i64, disable_after: i64) -> TestApp {
    let world = World::new().await;
    let alerts = Alerts::new(world.app.clone(), test_config(attempts, disable_after)).unwrap();
    alerts.spawn();
    spawn_state(world, HttpConfig::default(), |c| c.alerts = Some(alerts)).await
}

/// One request a test server received.
#[derive(Debug)]
pub(super) struct Received {
    pub(super) path: String,
    pub(super) headers: HeaderMap,
    pub(super) body: Vec<u8>,
}

/// A server on loopback answering each POST with the next status of `statuses` (the last one
/// once they run out) and handing what it got to the returned channel.
pub(super) async fn receiver(statuses: Vec<u16>) -> (String, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let n = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
            let (tx, n, statuses) = (tx.clone(), n.clone(), statuses.clone());
            async move {
                let i = n.fetch_add(1, Ordering::SeqCst).min(statuses.len() - 1);
                let _ = tx.send(Received {
                    path: uri.path().to_owned(),
                    headers,
                    body: body.to_vec(),
                });
                StatusCode::from_u16(statuses[i]).unwrap()
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, rx)
}

pub(super) async fn recv(rx: &mut mpsc::UnboundedReceiver<Received>, what: &str) -> Received {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no {what} within {WAIT:?}"))
        .unwrap()
}

/// Polls `f` until it gives `Some`.
pub(super) async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut f: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what} within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn link(t: &TestApp, state: &str, detail: Value) {
    t.world.app.events().publish(
        t.world.app.now(),
        LiveEvent::WhatsappStatus {
            state: state.into(),
            detail: Some(serde_json::from_value(detail).unwrap()),
        },
    );
}

#[tokio::test]
async fn webhooks_are_signed_retried_after_a_500_and_logged() {
    let t = spawn_alerts(5, 3).await;
    let (url, mut rx) = receiver(vec![500, 200]).await;
    let admin = t.login(ADMIN).await;
    let r = admin
        .post(
            "/api/webhooks",
            json!({ "url": url, "events": ["message.in", "ticket.created"] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    let secret = created["secret"].as_str().unwrap().to_owned();
    let id = created["webhook"]["id"].as_i64().unwrap();
    assert_eq!(
        admin.get("/api/webhooks").await.json()["items"][0].get("secret"),
        None,
        "the secret is shown only once"
    );

    let ticket = t
        .customer_writes("201000000501", "wa-hook-1", "عندكم بنادول؟")
        .await;

    // ticket.created, then message.in; the first attempt of the first is answered 500.
    let first = recv(&mut rx, "first attempt").await;
    t.world.advance(Duration::from_secs(1));
    let mut got = Vec::new();
    while got.len() < 2 {
        got.push(recv(&mut rx, "delivery").await);
        t.world.advance(Duration::from_secs(1));
    }
    let retried = got
        .iter()
        .find(|g| g.body == first.body)
        .expect("the delivery answered 500 came again");
    assert_eq!(
        retried.headers["x-webhook-delivery"], first.headers["x-webhook-delivery"],
        "a retry is the same delivery"
    );
    let mut events = Vec::new();
    for g in std::iter::once(&first).chain(&got) {
        // Signed as the ingest webhook is: the receiver checks it with the same rule.
        pharmacy_service::http::signature::verify(
            secret.as_bytes(),
            &g.headers,
            &g.body,
            t.world.app.now(),
        )
        .expect("signature verifies under the webhook's secret");
        let body: Value = serde_json::from_slice(&g.body).unwrap();
        assert_eq!(
            body["event"],
            g.headers["x-webhook-event"].to_str().unwrap()
        );
        events.push(body["event"].as_str().unwrap().to_owned());
        assert_eq!(body["data"]["ticket"]["id"], ticket.0);
    }
    events.dedup();
    assert!(events.contains(&"ticket.created".into()), "{events:?}");
    assert!(events.contains(&"message.in".into()), "{events:?}");
    // A tampered body does not verify.
    assert!(
        pharmacy_service::http::signature::verify(
            secret.as_bytes(),
            &first.headers,
            b"{\"event\":\"x\"}",
            t.world.app.now()
        )
        .is_err()
    );

    // The delivery log: both delivered, one after two attempts with the 500 on record.
    let log = eventually("both delivered in the log", || async {
        let log = admin
            .get(&format!("/api/webhooks/{id}/deliveries"))
            .await
            .json();
        let items = log["items"].as_array()?.clone();
        (items.len() == 2 && items.iter().all(|d| d["status"] == "delivered")).then_some(items)
    })
    .await;
    let attempts: Vec<i64> = log
        .iter()
        .map(|d| d["attempts"].as_i64().unwrap())
        .collect();
    assert!(attempts.contains(&2) && attempts.contains(&1), "{log:?}");
    assert!(log.iter().all(|d| d["last_status"] == 200));

    // Agents may not see or change webhooks.
    let agent = t.login(T1).await;
    assert_eq!(agent.get("/api/webhooks").await.status, 403);
    assert_eq!(
        agent
            .get(&format!("/api/webhooks/{id}/deliveries"))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn a_webhook_that_keeps_failing_is_disabled_with_an_alert() {
    let t = spawn_alerts(2, 2).await;
    let (url, mut rx) = receiver(vec![503]).await;
    let admin = t.login(ADMIN).await;
    let id = admin
        .post(
            "/api/webhooks",
            json!({ "url": url, "events": ["link.state"] }),
        )
        .await
        .json()["webhook"]["id"]
        .as_i64()
        .unwrap();
    link(&t, "disconnected", json!({ "reason": "closed" }));
    link(&t, "connected", json!({}));
    // Two deliveries, two attempts each, all 503.
    for _ in 0..4 {
        recv(&mut rx, "an attempt").await;
        t.world.advance(Duration::from_secs(1));
    }
    let hook = eventually("the webhook disabled", || async {
        let list = admin.get("/api/webhooks").await.json();
        let h = list["items"][0].clone();
        (h["enabled"] == false).then_some(h)
    })
    .await;
    assert!(
        hook["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("HTTP 503"),
        "{hook}"
    );
    let alerts = admin.get("/api/alerts").await.json();
    assert!(
        alerts["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "webhook_disabled"),
        "{alerts}"
    );
    let log = admin
        .get(&format!("/api/webhooks/{id}/deliveries"))
        .await
        .json();
    assert!(
        log["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "failed" && d["attempts"] == 2),
        "{log}"
    );
    // Nothing more is sent while disabled; enabling clears the record.
    link(&t, "disconnected", json!({ "reason": "closed" }));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.try_recv().is_err(), "a disabled webhook gets nothing");
    let r = admin
        .patch(&format!("/api/webhooks/{id}"), json!({ "enabled": true }))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["consecutive_failures"], 0);
    assert_eq!(r.json()["disabled_reason"], Value::Null);
}

#[tokio::test]
async fn webhook_urls_and_events_are_checked() {
    let t = spawn_app().await;
    let admin = t.login(ADMIN).await;
    for (body, field) in [
        (json!({ "url": "ftp://erp.example/x" }), "url"),
        (json!({ "url": "file:///etc/passwd" }), "url"),
        (json!({ "url": "https://u:p@erp.example/x" }), "url"),
        (
            json!({ "url": "https://erp.example/x", "events": ["ticket.exploded"] }),
            "events",
        ),
    ] {
        let r = admin.post("/api/webhooks", body.clone()).await;
        assert_eq!(r.status, 422, "{body}");
        assert_eq!(r.json()["error"]["details"]["field"], field);
    }
    assert_eq!(
        admin
            .patch("/api/webhooks/999", json!({ "enabled": true }))
            .await
            .status,
        404
    );
    assert_eq!(admin.delete("/api/webhooks/999").await.status, 404);
}

#[tokio::test]
async fn agents_get_the_link_state_without_details_and_at_connect() {
    let t = spawn_app().await;
    let agent = t.login(T1).await;
    let admin = t.login(ADMIN).await;
    // The fake link starts unpaired: the hello says so at once.
    let (mut ws, hello) = connect_hello(&t, &agent, None, None).await.unwrap();
    assert_eq!(hello["whatsapp"], "unpaired");
    t.wa.connect("201000000000");
    let (mut ws_admin, hello) = connect_hello(&t, &admin, None, None).await.unwrap();
    assert_eq!(hello["whatsapp"], "connected");

    link(&t, "qr", json!({ "qr": "2@secret-pairing-ref" }));
    link(
        &t,
        "disconnected",
        json!({ "reason": "closed", "code": 503 }),
    );
    let (_, ev) = until(&mut ws, |v| v["type"] == "whatsappLink").await;
    assert_eq!(
        ev,
        json!({ "type": "whatsappLink", "state": "unpaired", "seq": ev["seq"], "at": ev["at"] })
    );
    let (before, ev) = until(&mut ws, |v| v["type"] == "whatsappLink").await;
    assert_eq!(ev["state"], "disconnected");
    assert!(ev.get("detail").is_none(), "{ev}");
    assert!(before.iter().all(|v| v["type"] != "whatsappStatus"));
    // Admins still get the details.
    let (_, ev) = until(&mut ws_admin, |v| v["type"] == "whatsappStatus").await;
    assert_eq!(ev["detail"]["qr"], "2@secret-pairing-ref");
}

#[tokio::test]
async fn a_logout_a_ban_and_a_405_raise_one_admin_alert_each() {
    let t = spawn_alerts(1, 1).await;
    let admin = t.login(ADMIN).await;
    let kinds = || async {
        let a = admin.get("/api/alerts").await.json();
        let mut k: Vec<String> = a["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["kind"].as_str().unwrap().to_owned())
            .collect();
        k.sort();
        k
    };
    link(&t, "logged_out", json!({ "reason": "UserInitiated" }));
    link(
        &t,
        "outdated",
        json!({ "code": 405, "message": "client outdated" }),
    );
    link(
        &t,
        "outdated",
        json!({ "code": 405, "message": "client outdated" }),
    );
    link(&t, "logged_out", json!({ "reason": "LoggedOut" }));
    link(&t, "logged_out", json!({ "reason": "Banned" }));
    let got = eventually("three alerts", || async {
        let k = kinds().await;
        (k.len() >= 3).then_some(k)
    })
    .await;
    // Settle: a duplicate would show up now.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(got, ["banned", "client_outdated", "logged_out"]);
    assert_eq!(kinds().await, got, "a refused version alerts once");
}

/// Subscribes `user` to pushes at `endpoint`; the browser's key pair and auth secret.
pub(super) async fn subscribe(
    t: &TestApp,
    user: &str,
    endpoint: &str,
) -> (p256::SecretKey, [u8; 16]) {
    let c = t.login(user).await;
    let ua = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let auth: [u8; 16] = rand::random();
    let r = c
        .post(
            "/api/push/subscribe",
            json!({ "endpoint": endpoint, "keys": {
                "p256dh": B64.encode(ua.public_key().to_encoded_point(false).as_bytes()),
                "auth": B64.encode(auth),
            }}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    (ua, auth)
}

/// RFC 8291 on the receiving side: the user agent's key pair and auth secret open the record.
pub(super) fn decrypt_push(body: &[u8], ua: &p256::SecretKey, auth: &[u8]) -> Vec<u8> {
    use hkdf::Hkdf;
    use sha2::Sha256;
    let (salt, rest) = body.split_at(16);
    let rs = u32::from_be_bytes(rest[..4].try_into().unwrap());
    let idlen = rest[4] as usize;
    let keyid = &rest[5..5 + idlen];
    let ciphertext = &rest[5 + idlen..];
    assert!(ciphertext.len() <= rs as usize, "one record");
    let as_public = p256::PublicKey::from_sec1_bytes(keyid).unwrap();
    let shared = p256::ecdh::diffie_hellman(ua.to_nonzero_scalar(), as_public.as_affine());
    let mut info = b"WebPush: info\0".to_vec();
    info.extend_from_slice(ua.public_key().to_encoded_point(false).as_bytes());
    info.extend_from_slice(keyid);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth), shared.raw_secret_bytes())
        .expand(&info, &mut ikm)
        .unwrap();
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let (mut cek, mut nonce) = ([0u8; 16], [0u8; 12]);
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .unwrap();
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
        .unwrap();
    let mut plain = aes_gcm::Aes128Gcm::new_from_slice(&cek)
        .unwrap()
        .decrypt(aes_gcm::Nonce::from_slice(&nonce), ciphertext)
        .expect("the record opens with the subscription's keys");
    // The last record ends with the delimiter 2, then zero padding.
    while plain.last() == Some(&0) {
        plain.pop();
    }
    assert_eq!(plain.pop(), Some(2), "last-record delimiter");
    plain
}

/// RFC 8292: `vapid t=<JWT>, k=<key>`; the JWT is ES256 under `k`, for the endpoint's origin.
fn check_vapid(headers: &HeaderMap, public_key: &str, origin: &str) {
    use p256::ecdsa::signature::Verifier;
    let auth = headers["authorization"].to_str().unwrap();
    let rest = auth.strip_prefix("vapid t=").expect("vapid scheme");
    let (jwt, k) = rest.split_once(", k=").unwrap();
    assert_eq!(
        k, public_key,
        "signed with the key browsers subscribed with"
    );
    let (signed, sig) = jwt.rsplit_once('.').unwrap();
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&B64.decode(k).unwrap()).unwrap();
    let sig = p256::ecdsa::Signature::from_slice(&B64.decode(sig).unwrap()).unwrap();
    key.verify(signed.as_bytes(), &sig)
        .expect("ES256 signature");
    let claims: Value =
        serde_json::from_slice(&B64.decode(signed.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(claims["aud"], origin);
    assert!(claims["exp"].as_i64().unwrap() > 0);
    assert!(claims["sub"].as_str().unwrap().starts_with("mailto:"));
}

#[tokio::test]
async fn web_push_reaches_a_subscribed_agent_encrypted_for_their_browser() {
    let t = spawn_alerts(1, 1).await;
    let (endpoint, mut rx) = receiver(vec![201]).await;
    let origin = endpoint.trim_end_matches("/hook").to_owned();
    let agent = t.login(T1).await;
    let key = agent.get("/api/push/key").await.json();
    assert_eq!(key["subscriptions"], 0);
    let public_key = key["public_key"].as_str().unwrap().to_owned();
    // The browser's side: its key pair and auth secret.
    let ua = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let auth: [u8; 16] = rand::random();
    let sub = json!({ "endpoint": endpoint, "keys": {
        "p256dh": B64.encode(ua.public_key().to_encoded_point(false).as_bytes()),
        "auth": B64.encode(auth),
    }});
    let r = agent.post("/api/push/subscribe", sub.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(agent.get("/api/push/key").await.json()["subscriptions"], 1);

    link(&t, "disconnected", json!({ "reason": "closed" }));
    let got = recv(&mut rx, "the link-down push").await;
    assert_eq!(got.headers["content-encoding"], "aes128gcm");
    assert!(got.headers.contains_key("ttl"));
    check_vapid(&got.headers, &public_key, &origin);
    let msg: Value = serde_json::from_slice(&decrypt_push(&got.body, &ua, &auth)).unwrap();
    assert_eq!(msg["kind"], "link_down");
    assert_eq!(msg["en"][0], "WhatsApp is disconnected");
    assert_eq!(msg["ar"][0], "واتساب غير متصل");

    link(&t, "connected", json!({}));
    let got = recv(&mut rx, "the link-up push").await;
    let msg: Value = serde_json::from_slice(&decrypt_push(&got.body, &ua, &auth)).unwrap();
    assert_eq!(msg["kind"], "link_up");

    // Unsubscribed: nothing more.
    let r = agent
        .post("/api/push/unsubscribe", json!({ "endpoint": endpoint }))
        .await;
    assert_eq!(r.json()["subscribed"], false);
    link(&t, "disconnected", json!({ "reason": "closed" }));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.try_recv().is_err(), "no push after unsubscribing");
}

#[tokio::test]
async fn a_new_ticket_is_pushed_to_its_agent_or_queue_only() {
    let t = spawn_alerts(1, 1).await;
    let (base, mut rx) = receiver(vec![201]).await;
    let mut keys = Vec::new();
    for (i, user) in [T1, T2, G1].into_iter().enumerate() {
        keys.push(subscribe(&t, user, &format!("{base}/{i}")).await);
    }
    let ticket = t
        .customer_writes("201000000777", "wa-push-1", "محتاج دواء")
        .await;
    t.assign(ticket, t.world.agents[2]).await;
    let mut c = t.world.app.pool().acquire().await.unwrap();
    let row = pharmacy_service::db::tickets::by_id(&mut c, ticket)
        .await
        .unwrap()
        .unwrap();
    drop(c);
    // Its agent, or (nobody online) the agents of its branch's queue: two at Toriel, one at
    // Gomhoreya.
    let home = |i: usize| {
        if i < 2 {
            t.world.branches[0]
        } else {
            t.world.branches[1]
        }
    };
    let expected: Vec<usize> = match (row.agent_id, row.branch_id) {
        (Some(a), _) => vec![t.world.agents.iter().position(|x| *x == a).unwrap()],
        (None, Some(b)) => (0..3).filter(|i| home(*i) == b).collect(),
        (None, None) => panic!("the world routes a new ticket to a branch"),
    };
    let mut told = Vec::new();
    for _ in &expected {
        let got = recv(&mut rx, "the new-ticket push").await;
        let i: usize = got.path.trim_start_matches("/hook/").parse().unwrap();
        let (ua, auth) = &keys[i];
        let msg: Value = serde_json::from_slice(&decrypt_push(&got.body, ua, auth)).unwrap();
        assert_eq!(msg["kind"], "new_ticket");
        assert_eq!(msg["url"], format!("#/inbox/{}", ticket.0));
        told.push(i);
    }
    told.sort();
    assert_eq!(told, expected, "the ticket's agent or its queue's agents");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.try_recv().is_err(), "nobody else is told");
}

#[tokio::test]
async fn push_subscriptions_must_be_https_with_real_keys() {
    // The service's default: browsers' push services are https.
    let t = spawn_app().await;
    let agent = t.login(T1).await;
    let ua = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let p256dh = B64.encode(ua.public_key().to_encoded_point(false).as_bytes());
    let auth = B64.encode([7u8; 16]);
    for (endpoint, p, a) in [
        ("http://127.0.0.1:9/push", p256dh.as_str(), auth.as_str()),
        ("file:///etc/passwd", p256dh.as_str(), auth.as_str()),
        ("https://push.example/x", "AAAA", auth.as_str()),
        ("https://push.example/x", p256dh.as_str(), "c2hvcnQ"),
    ] {
        let r = agent
            .post(
                "/api/push/subscribe",
                json!({ "endpoint": endpoint, "keys": { "p256dh": p, "auth": a } }),
            )
            .await;
        assert_eq!(r.status, 422, "{endpoint} {p} {a}: {}", r.text());
    }
    let r = agent
        .post(
            "/api/push/subscribe",
            json!({ "endpoint": "https://push.example/x", "keys": { "p256dh": p256dh, "auth": auth } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Another user cannot remove it.
    let other = t.login(T2).await;
    other
        .post(
            "/api/push/unsubscribe",
            json!({ "endpoint": "https://push.example/x" }),
        )
        .await;
    assert_eq!(agent.get("/api/push/key").await.json()["subscriptions"], 1);
}

/// A minimal SMTP server on loopback (no TLS, no AUTH): every message's DATA goes to the
/// channel.
pub(crate) async fn smtp_listener() -> (u16, mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (sock, _) = listener.accept().await.unwrap();
            let tx = tx.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r).lines();
                w.write_all(b"220 test ESMTP\r\n").await.unwrap();
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 test\r\n",
                        "DATA" => {
                            w.write_all(b"354 end with .\r\n").await.unwrap();
                            let mut data = String::new();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                data.push_str(&l);
                                data.push('\n');
                            }
                            let _ = tx.send(data);
                            b"250 queued\r\n"
                        }
                        "QUIT" => {
                            let _ = w.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"250 ok\r\n",
                    };
                    w.write_all(answer).await.unwrap();
                }
            });
        }
    });
    (port, rx)
}

#[tokio::test]
async fn admin_alerts_are_emailed_over_smtp_once_set_up() {
    let t = spawn_alerts(1, 1).await;
    let (port, mut mails) = smtp_listener().await;
    let admin = t.login(ADMIN).await;
    // Not set up yet: the test button says so.
    assert_eq!(
        admin.post("/api/alerts/email/test", json!({})).await.status,
        409
    );
    let settings = json!({
        "enabled": true, "host": "127.0.0.1", "port": port, "tls": "none",
        "username": "", "password": "s3cret-smtp-password",
        "from": "Khalifa alerts <alerts@pharmacy.example>", "to": ["admin@pharmacy.example"],
    });
    let r = admin
        .send_json("PUT", "/api/alerts/email", settings.clone())
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let shown = admin.get("/api/alerts/email").await;
    assert_eq!(shown.json()["password_set"], true);
    assert!(
        !shown.text().contains("s3cret"),
        "the password is never answered"
    );
    // Saving without a password keeps the stored one.
    let mut again = settings.clone();
    again.as_object_mut().unwrap().remove("password");
    admin.send_json("PUT", "/api/alerts/email", again).await;
    assert_eq!(
        admin.get("/api/alerts/email").await.json()["password_set"],
        true
    );

    let r = admin.post("/api/alerts/email/test", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mail = tokio::time::timeout(WAIT, mails.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        mail.contains("Subject: [Khalifa Pharmacies] test e-mail"),
        "{mail}"
    );
    assert!(mail.contains("To: admin@pharmacy.example"), "{mail}");

    // An admin alert goes out by e-mail.
    link(&t, "logged_out", json!({ "reason": "LoggedOut" }));
    let mail = tokio::time::timeout(WAIT, mails.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        mail.contains("Subject: [Khalifa Pharmacies] logged_out"),
        "{mail}"
    );
    assert!(mail.contains("link it again"), "{mail}");

    // Wrong settings are refused by field; agents may not touch them.
    for (field, value) in [
        ("host", json!("smtp.example/x")),
        ("from", json!("not an address")),
        ("to", json!([])),
    ] {
        let mut bad = settings.clone();
        bad[field] = value;
        let r = admin.send_json("PUT", "/api/alerts/email", bad).await;
        assert_eq!(r.status, 422, "{field}");
        assert_eq!(r.json()["error"]["details"]["field"], field);
    }
    let agent = t.login(T1).await;
    assert_eq!(agent.get("/api/alerts/email").await.status, 403);
    assert_eq!(
        agent.post("/api/alerts/email/test", json!({})).await.status,
        403
    );
}
