//! Attacks on sessions and credentials (issue 19, items 6 and 10): a session left open on a
//! shared branch PC, cookies over plain HTTP on the LAN, API tokens that outlive a password
//! change, and a first-run password printed on a console.

use crate::api_support::*;
use crate::support::TempDir;
use pharmacy_service::app::{App, SystemClock};
use pharmacy_service::http::{FakeWhatsapp, HttpConfig};
use pharmacy_service::startup::{Application, Config};
use serde_json::json;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);

/// The `Set-Cookie` header of a login.
async fn login_cookie(t: &TestApp) -> String {
    let r = t.client().log_in(T1, PASSWORD).await;
    r.header("set-cookie").unwrap()
}

#[tokio::test]
async fn the_cookie_ends_with_the_browser_and_is_secure_behind_a_proxy() {
    let cookie = login_cookie(&spawn_app().await).await;
    assert!(
        !cookie.contains("Max-Age") && !cookie.contains("Expires"),
        "a browser-session cookie: {cookie}"
    );
    assert!(!cookie.contains("Secure"), "{cookie}");
    let t = spawn_with(HttpConfig {
        behind_proxy: true,
        ..HttpConfig::default()
    })
    .await;
    let cookie = login_cookie(&t).await;
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(!cookie.contains("Max-Age"), "{cookie}");
}

#[tokio::test]
async fn a_session_ends_after_half_an_hour_without_a_request() {
    let t = spawn_app().await;
    let me = t.login(T1).await;
    // Each request moves the deadline.
    for _ in 0..3 {
        t.world.advance(29 * MINUTE);
        assert_eq!(me.get("/auth/profile").await.status, 200);
    }
    t.world.advance(31 * MINUTE);
    let r = me.get("/api/tickets").await;
    assert_eq!((r.status, r.code().as_str()), (401, "unauthenticated"));
    assert_eq!(me.get("/auth/profile").await.status, 401, "gone for good");
}

#[tokio::test]
async fn a_busy_session_still_ends_a_shift_after_the_login() {
    let t = spawn_with(HttpConfig {
        session_ttl: Duration::from_secs(4 * 3600),
        ..HttpConfig::default()
    })
    .await;
    let me = t.login(T1).await;
    for _ in 0..(4 * 60 / 20 - 1) {
        t.world.advance(20 * MINUTE);
        assert_eq!(me.get("/auth/profile").await.status, 200);
    }
    t.world.advance(20 * MINUTE);
    assert_eq!(me.get("/auth/profile").await.status, 401);
}

#[tokio::test]
async fn password_changes_and_resets_revoke_the_users_api_tokens() {
    let t = spawn_app().await;
    let admin = t.login(ADMIN).await;
    let users = admin.get("/api/users").await.json();
    let id_of = |name: &str| {
        users["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == name)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let token_for = |user: i64| {
        let admin = admin.clone();
        async move {
            let r = admin
                .post("/api/tokens", json!({ "name": "erp", "user_id": user }))
                .await;
            assert_eq!(r.status, 201, "{}", r.text());
            let mut bot = admin.clone();
            bot.cookie = None;
            bot.csrf = None;
            bot.bearer = Some(r.json()["token"].as_str().unwrap().to_owned());
            bot
        }
    };
    let (t1, g1) = (id_of(T1), id_of(G1));
    let t1_bot = token_for(t1).await;
    let g1_bot = token_for(g1).await;
    let admin_bot = token_for(id_of(ADMIN)).await;
    for bot in [&t1_bot, &g1_bot, &admin_bot] {
        assert_eq!(bot.get("/auth/profile").await.status, 200);
    }
    // T1 changes their own password: their token stops working.
    let r = t
        .login(T1)
        .await
        .post(
            "/auth/password",
            json!({ "current_password": PASSWORD, "new_password": "another-pass-1" }),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(t1_bot.get("/auth/profile").await.status, 401);
    // An admin resets G1's: theirs too.
    let r = admin
        .post(
            &format!("/api/users/{g1}/password"),
            json!({ "new_password": "reset-by-admin" }),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(g1_bot.get("/auth/profile").await.status, 401);
    // Nobody else's.
    assert_eq!(admin_bot.get("/auth/profile").await.status, 200);
    let tokens = admin.get("/api/tokens").await.json();
    let revoked = tokens["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| !t["revoked_at"].is_null())
        .count();
    assert_eq!(revoked, 2);
}

/// The service over an empty database, after the first-run admin was made.
async fn first_run(given: Option<&str>) -> (TempDir, Client, String) {
    let dir = TempDir::new();
    let config = crate::support::config(&dir);
    let app = App::open(&dir.0.join("pharmacy.db"), Arc::new(SystemClock), config)
        .await
        .unwrap();
    let (user, password) =
        pharmacy_service::http::first_run_admin_with(&app, given.map(str::to_owned))
            .await
            .unwrap()
            .expect("an empty database gets an admin");
    let addr = Application::build(Config::new(app, Arc::new(FakeWhatsapp::default())))
        .await
        .unwrap()
        .spawn()
        .addr;
    let mut c = Client {
        addr,
        cookie: None,
        csrf: None,
        bearer: None,
    };
    let r = c.log_in(&user, &password).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Only a generated password must change.
    assert_eq!(r.json()["user"]["must_change_password"], given.is_none());
    (dir, c, password)
}

#[tokio::test]
async fn the_generated_first_run_password_must_be_changed_before_anything_else() {
    let (_dir, admin, password) = first_run(None).await;
    for path in ["/api/tickets", "/api/users", "/api/whatsapp/status"] {
        let r = admin.get(path).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (403, "password_change_required"),
            "{path}"
        );
    }
    let r = admin.post("/api/tokens", json!({ "name": "x" })).await;
    assert_eq!(r.code(), "password_change_required");
    let r = admin
        .raw(
            "GET",
            "/ws",
            None,
            b"",
            &[
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Version", "13"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ],
        )
        .await;
    assert_eq!(r.code(), "password_change_required");
    // Who they are, and the change itself, work.
    let p = admin.get("/auth/profile").await;
    assert_eq!(p.status, 200);
    assert_eq!(p.json()["user"]["must_change_password"], true);
    let r = admin
        .post(
            "/auth/password",
            json!({ "current_password": password, "new_password": "chosen-by-admin-1" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(admin.get("/api/tickets").await.status, 200);
    assert_eq!(
        admin.get("/auth/profile").await.json()["user"]["must_change_password"],
        false
    );
}

#[tokio::test]
async fn a_configured_first_run_password_is_not_forced_to_change() {
    let (_dir, admin, _) = first_run(Some("configured-pass-1")).await;
    assert_eq!(admin.get("/api/tickets").await.status, 200);
}

#[test]
fn a_lan_bind_without_a_proxy_is_refused_at_start() {
    let dir = TempDir::new();
    let mut c = Command::new(env!("CARGO_BIN_EXE_pharmacy-service"));
    c.current_dir(&dir.0)
        .args(["serve", "--bind", "0.0.0.0", "--port", "0", "--wa-url"])
        // Nothing listens there: a service that started would retry forever.
        .arg("ws://127.0.0.1:9/ws")
        .env_remove("PHARMACY_BEHIND_PROXY")
        .env_remove("PHARMACY_CONFIG");
    let mut child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Coarse bound: a refusal is immediate; a service that started never exits by itself.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        status.is_some_and(|s| !s.success()),
        "serve on 0.0.0.0 without behind_proxy kept running: {stderr}"
    );
    assert!(
        stderr.contains("behind_proxy") && stderr.contains("TLS"),
        "{stderr}"
    );
    assert!(
        !dir.0.join("data").exists(),
        "refused before touching the data directory"
    );
}
