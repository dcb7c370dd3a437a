//! Login, sessions, CSRF, bearer tokens, throttling with growing lockouts, user admin.

use super::api_support::*;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn login_sets_a_strict_http_only_cookie_and_returns_the_csrf_token() {
    let t = spawn_app().await;
    let c = t.client();
    let r = c
        .post(
            "/auth/login/",
            json!({ "username": T1, "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let cookie = r.header("set-cookie").unwrap();
    assert!(cookie.starts_with("session="));
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let v = r.json();
    assert_eq!(v["user"]["username"], T1);
    assert_eq!(v["user"]["role"], "agent");
    assert_eq!(v["user"]["branch_id"], t.world.branches[0].0);
    assert!(v["csrf_token"].as_str().unwrap().len() >= 32);

    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    let me = t.login(T1).await;
    for path in ["/auth/profile", "/auth/profile/"] {
        let p = me.get(path).await;
        assert_eq!(p.status, 200);
        assert_eq!(p.json()["user"]["username"], T1);
        assert_eq!(p.json()["csrf_token"], me.csrf.clone().unwrap().as_str());
    }
    // Logged out: the cookie no longer works.
    assert_eq!(me.post("/auth/logout", json!({})).await.status, 200);
    assert_eq!(me.get("/auth/profile").await.code(), "unauthenticated");
}

#[tokio::test]
async fn bad_logins_and_bad_bodies_use_the_one_error_shape() {
    let t = spawn_app().await;
    let c = t.client();
    let r = c
        .post(
            "/auth/login",
            json!({ "username": T1, "password": "nope-nope" }),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (401, "bad_credentials"));
    let r = c.post("/auth/login", json!({ "username": T1 })).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["error"]["details"]["field"], "password");
    let r = c
        .raw(
            "POST",
            "/auth/login",
            Some("application/json"),
            b"{not json",
            &[],
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (422, "validation"));
    let r = c.get("/api/tickets").await;
    assert_eq!((r.status, r.code().as_str()), (401, "unauthenticated"));
    let r = c.get("/no/such/path/").await;
    assert_eq!((r.status, r.code().as_str()), (404, "not_found"));
    let r = c.raw("PUT", "/auth/login", None, b"", &[]).await;
    assert_eq!((r.status, r.code().as_str()), (405, "method_not_allowed"));
}

#[tokio::test]
async fn state_changing_requests_need_the_csrf_header() {
    let t = spawn_app().await;
    let mut me = t.login(ADMIN).await;
    let good = me.csrf.clone();
    me.csrf = None;
    let r = me.post("/api/tokens", json!({ "name": "x" })).await;
    assert_eq!((r.status, r.code().as_str()), (403, "csrf"));
    me.csrf = Some("wrong".into());
    let r = me.post("/api/tokens/", json!({ "name": "x" })).await;
    assert_eq!((r.status, r.code().as_str()), (403, "csrf"));
    // Reads need none.
    me.csrf = None;
    assert_eq!(me.get("/api/tokens").await.status, 200);
    me.csrf = good;
    assert_eq!(
        me.post("/api/tokens", json!({ "name": "x" })).await.status,
        201
    );
}

#[tokio::test]
async fn bearer_tokens_act_as_their_user_until_revoked() {
    let t = spawn_app().await;
    let admin = t.login(ADMIN).await;
    let r = admin.post("/api/tokens", json!({ "name": "erp" })).await;
    assert_eq!(r.status, 201);
    let secret = r.json()["token"].as_str().unwrap().to_owned();
    let id = r.json()["id"].as_i64().unwrap();
    let mut bot = t.client();
    bot.bearer = Some(secret.clone());
    assert_eq!(
        bot.get("/auth/profile").await.json()["user"]["role"],
        "admin"
    );
    // No CSRF for bearer requests.
    assert_eq!(
        bot.post("/api/customers", json!({ "phone": "01001234567" }))
            .await
            .status,
        201
    );
    // The list never shows secrets.
    let list = admin.get("/api/tokens").await.text();
    assert!(!list.contains(&secret));
    assert_eq!(
        admin.delete(&format!("/api/tokens/{id}/")).await.status,
        200
    );
    assert_eq!(bot.get("/auth/profile").await.status, 401);
    let log = admin.get("/api/activity?limit=200").await.text();
    assert!(log.contains("token.created") && log.contains("token.revoked"));
}

#[tokio::test]
async fn failed_logins_lock_the_account_for_growing_periods() {
    let t = spawn_app().await;
    let c = t.client();
    let fail = |c: Client| async move {
        c.post(
            "/auth/login",
            json!({ "username": T1, "password": "wrong-password" }),
        )
        .await
    };
    for _ in 0..5 {
        assert_eq!(fail(c.clone()).await.status, 401);
    }
    // Locked: even the right password is refused, with Retry-After.
    let r = c
        .post(
            "/auth/login",
            json!({ "username": T1, "password": PASSWORD }),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (429, "throttled"));
    assert_eq!(r.header("retry-after").as_deref(), Some("30"));
    assert_eq!(r.json()["error"]["details"]["retry_after_s"], 30);
    // Another account is not locked.
    assert!(t.login(T2).await.csrf.is_some());
    // After 30 s one more failure locks for 60 s.
    t.world.advance(Duration::from_secs(31));
    assert_eq!(fail(c.clone()).await.status, 401);
    let r = c
        .post(
            "/auth/login",
            json!({ "username": T1, "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["details"]["retry_after_s"], 60);
    t.world.advance(Duration::from_secs(61));
    // A success resets the count.
    t.login(T1).await;
    assert_eq!(fail(c.clone()).await.status, 401);
    let n = t
        .world
        .count("SELECT count(*) FROM login_attempts WHERE success = 0")
        .await;
    assert_eq!(
        n, 7,
        "every attempt outside a lockout is a LoginAttempt record"
    );
}

#[tokio::test]
async fn admins_register_reset_and_deactivate_users() {
    let t = spawn_app().await;
    let admin = t.login(ADMIN).await;
    let agent = t.login(T1).await;
    let body = json!({ "username": "talkha.1", "name": "Sara", "password": "long-enough-1", "role": "agent", "branch_id": t.world.branches[2].0 });
    let r = agent.post("/auth/register", body.clone()).await;
    assert_eq!((r.status, r.code().as_str()), (403, "forbidden"));
    let r = admin
        .post(
            "/auth/register",
            json!({ "username": "x", "name": "X", "password": "long-enough-1", "role": "agent" }),
        )
        .await;
    assert_eq!(r.json()["error"]["details"]["field"], "branch_id");
    let r = admin.post("/auth/register/", body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["user"]["id"].as_i64().unwrap();
    assert_eq!(admin.post("/auth/register", body).await.status, 409);
    // Own password change.
    let r = agent
        .post(
            "/auth/password",
            json!({ "current_password": "bad", "new_password": "another-pass-1" }),
        )
        .await;
    assert_eq!(r.json()["error"]["details"]["field"], "current_password");
    let r = agent
        .post(
            "/auth/password",
            json!({ "current_password": PASSWORD, "new_password": "another-pass-1" }),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        agent.get("/auth/profile").await.status,
        200,
        "own session survives"
    );
    // Admin reset and deactivation end the user's sessions.
    let sara = t.client();
    let r = sara
        .post(
            "/auth/login",
            json!({ "username": "talkha.1", "password": "long-enough-1" }),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = admin
        .post(
            &format!("/api/users/{id}/password"),
            json!({ "new_password": "short" }),
        )
        .await;
    assert_eq!(r.json()["error"]["details"]["field"], "new_password");
    let r = admin
        .post(
            &format!("/api/users/{id}/password"),
            json!({ "new_password": "reset-by-admin" }),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = sara
        .post(
            "/auth/login",
            json!({ "username": "talkha.1", "password": "reset-by-admin" }),
        )
        .await;
    assert_eq!(r.status, 200);
    let mut sara = sara;
    sara.cookie = Some(
        r.header("set-cookie")
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned(),
    );
    // The admin's password is temporary: the profile says so, and nothing else answers
    // until Sara chooses her own.
    let r = sara.get("/auth/profile").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["user"]["must_change_password"],
        true,
        "{}",
        r.text()
    );
    let r = admin
        .post(
            &format!("/api/users/{id}/active"),
            json!({ "active": false }),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(sara.get("/auth/profile").await.status, 401);
    let r = sara
        .post(
            "/auth/login",
            json!({ "username": "talkha.1", "password": "reset-by-admin" }),
        )
        .await;
    assert_eq!(r.status, 401);
    let log = admin.get("/api/activity?limit=200").await.text();
    for action in [
        "user.created",
        "user.password_reset",
        "user.deactivated",
        "user.password_changed",
    ] {
        assert!(
            log.contains(action),
            "{action} missing from the activity log"
        );
    }
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let t = spawn_with(pharmacy_service::http::HttpConfig {
        max_upload_bytes: 1024,
        ..pharmacy_service::http::HttpConfig::default()
    })
    .await;
    let big = "x".repeat(4096);
    let r = t
        .client()
        .post("/auth/login", json!({ "username": big, "password": "p" }))
        .await;
    assert_eq!((r.status, r.code().as_str()), (413, "payload_too_large"));
}
