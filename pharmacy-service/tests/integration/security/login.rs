//! Attacks on the login (issue 19, items 1, 2 and 7): memory exhaustion through concurrent
//! password hashes, lock bypass through spellings of a name, concurrent attempts all checked
//! before any is counted, a shared address locking everyone behind it out, and unthrottled
//! current-password checks.

use crate::api_support::*;
use crate::support::World;
use pharmacy_service::http::HttpConfig;
use serde_json::json;

/// The API with at most `hashes` concurrent password hashes.
async fn spawn_gated(hashes: usize, config: HttpConfig) -> TestApp {
    spawn_on(World::with(|c| c.password_hashes = hashes).await, config).await
}

fn behind_proxy() -> HttpConfig {
    HttpConfig {
        behind_proxy: true,
        ..HttpConfig::default()
    }
}

async fn login_as(c: &Client, username: &str, password: &str, forwarded: Option<&str>) -> Resp {
    let body = json!({ "username": username, "password": password }).to_string();
    let headers: Vec<(&str, &str)> = forwarded
        .map(|f| vec![("X-Forwarded-For", f)])
        .unwrap_or_default();
    c.raw(
        "POST",
        "/auth/login",
        Some("application/json"),
        body.as_bytes(),
        &headers,
    )
    .await
}

/// Sends all at once; returns the statuses.
async fn concurrently(t: &TestApp, logins: Vec<(String, String)>) -> Vec<u16> {
    let tasks: Vec<_> = logins
        .into_iter()
        .map(|(u, p)| {
            let c = t.client();
            tokio::spawn(async move { login_as(&c, &u, &p, None).await.status })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_hundred_concurrent_wrong_logins_hash_two_at_a_time() {
    let t = spawn_gated(2, HttpConfig::default()).await;
    // Made-up names from one address: none is throttled, so every one costs a hash.
    let logins = (0..100)
        .map(|i| (format!("nobody{i}"), "wrong-password".to_owned()))
        .collect();
    let statuses = concurrently(&t, logins).await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    let gate = t.state.app.passwords();
    assert_eq!(gate.limit(), 2);
    assert!(
        (1..=2).contains(&gate.peak()),
        "at most 2 hashes at once (46 MiB each), saw {}",
        gate.peak()
    );
}

#[tokio::test]
async fn the_default_gate_keeps_a_hundred_logins_under_300_mib_of_hashes() {
    let t = spawn_app().await;
    let logins = (0..100)
        .map(|i| (format!("{T1}{i}"), "wrong-password".to_owned()))
        .collect();
    concurrently(&t, logins).await;
    let gate = t.state.app.passwords();
    // 46 MiB each: four at once is 184 MiB.
    assert!(gate.limit() <= 4, "{}", gate.limit());
    assert!(
        gate.peak() <= gate.limit(),
        "{} > {}",
        gate.peak(),
        gate.limit()
    );
}

#[tokio::test]
async fn concurrent_attempts_are_counted_before_any_password_is_checked() {
    let t = spawn_app().await;
    let logins = (0..15)
        .map(|_| (T1.to_owned(), "wrong-password".to_owned()))
        .collect();
    let statuses = concurrently(&t, logins).await;
    let refused = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(
        (refused, throttled),
        (5, 10),
        "five checked, the rest throttled: {statuses:?}"
    );
    assert_eq!(
        t.world
            .count("SELECT count(*) FROM login_attempts WHERE success = 0")
            .await,
        5
    );
}

#[tokio::test]
async fn spellings_of_a_locked_name_are_the_same_locked_name() {
    let t = spawn_app().await;
    let c = t.client();
    for _ in 0..5 {
        assert_eq!(login_as(&c, T1, "wrong-password", None).await.status, 401);
    }
    // Even the right password, in any spelling the login accepts, waits out the lock.
    for name in [
        format!(" {T1}"),
        format!("{T1} "),
        format!("\t{T1}\t"),
        format!("{T1}\u{a0}"),
        T1.to_uppercase(),
    ] {
        let r = login_as(&c, &name, PASSWORD, None).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (429, "throttled"),
            "{name:?}"
        );
    }
    // And failures in other spellings count against the one account.
    let t = spawn_app().await;
    let c = t.client();
    for name in [format!(" {T2}"), format!("{T2}\t"), T2.to_uppercase()] {
        assert_eq!(
            login_as(&c, &name, "wrong-password", None).await.status,
            401
        );
    }
    for _ in 0..2 {
        assert_eq!(login_as(&c, T2, "wrong-password", None).await.status, 401);
    }
    assert_eq!(login_as(&c, T2, PASSWORD, None).await.status, 429);
}

#[tokio::test]
async fn failures_with_other_names_never_lock_another_account_behind_the_same_address() {
    let t = spawn_app().await;
    let c = t.client();
    for i in 0..30 {
        let r = login_as(&c, &format!("nobody{i}"), "x-x-x-x-x", None).await;
        assert_eq!(r.status, 401);
    }
    // A colleague at the same branch PC (or behind the same proxy) still logs in.
    assert_eq!(login_as(&c, G1, PASSWORD, None).await.status, 200);
}

#[tokio::test]
async fn an_account_locks_for_one_address_and_for_every_address_after_more_failures() {
    let t = spawn_with(behind_proxy()).await;
    let c = t.client();
    for _ in 0..5 {
        let r = login_as(&c, T1, "wrong-password", Some("10.0.0.1")).await;
        assert_eq!(r.status, 401);
    }
    // That address is locked out of that account...
    assert_eq!(
        login_as(&c, T1, PASSWORD, Some("10.0.0.1")).await.status,
        429
    );
    // ...the owner at another branch is not.
    assert_eq!(
        login_as(&c, T1, PASSWORD, Some("10.0.0.2")).await.status,
        200
    );
    // Guesses spread over many addresses lock the account everywhere.
    for i in 0..10 {
        let from = format!("10.0.1.{i}");
        let r = login_as(&c, T2, "wrong-password", Some(&from)).await;
        assert_eq!(r.status, 401);
    }
    assert_eq!(
        login_as(&c, T2, PASSWORD, Some("10.0.2.1")).await.status,
        429
    );
}

#[tokio::test]
async fn only_the_address_the_proxy_added_counts() {
    let t = spawn_with(behind_proxy()).await;
    let c = t.client();
    // The client writes what it likes left of the proxy's entry.
    for i in 0..5 {
        let f = format!("192.0.2.{i}, 10.0.0.9");
        assert_eq!(
            login_as(&c, T1, "wrong-password", Some(&f)).await.status,
            401
        );
    }
    let r = login_as(&c, T1, PASSWORD, Some("192.0.2.77, 10.0.0.9")).await;
    assert_eq!(r.status, 429);
    // Without behind_proxy the header is the client's own and ignored.
    let t = spawn_app().await;
    let c = t.client();
    for i in 0..5 {
        let f = format!("10.9.9.{i}");
        assert_eq!(
            login_as(&c, T1, "wrong-password", Some(&f)).await.status,
            401
        );
    }
    assert_eq!(
        login_as(&c, T1, PASSWORD, Some("10.9.9.99")).await.status,
        429
    );
}

#[tokio::test]
async fn wrong_current_passwords_are_throttled_like_logins() {
    let t = spawn_app().await;
    let me = t.login(T1).await;
    let change =
        |current: &str| json!({ "current_password": current, "new_password": "another-pass-1" });
    for _ in 0..5 {
        let r = me.post("/auth/password", change("wrong-password")).await;
        assert_eq!(r.json()["error"]["details"]["field"], "current_password");
    }
    let r = me.post("/auth/password", change(PASSWORD)).await;
    assert_eq!((r.status, r.code().as_str()), (429, "throttled"));
    // The same lock guards the login.
    assert_eq!(login_as(&t.client(), T1, PASSWORD, None).await.status, 429);
}

#[tokio::test]
async fn registrations_and_password_changes_hash_through_the_gate() {
    let t = spawn_gated(1, HttpConfig::default()).await;
    let admin = t.login(ADMIN).await;
    let gate = t.state.app.passwords();
    let before = gate.done();
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let a = admin.clone();
            tokio::spawn(async move {
                let body = json!({ "username": format!("new.{i}"), "name": "N", "password": "long-enough-1", "role": "admin" });
                a.post("/auth/register", body).await.status
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 201);
    }
    let r = admin
        .post(
            "/auth/password",
            json!({ "current_password": PASSWORD, "new_password": "another-pass-1" }),
        )
        .await;
    assert_eq!(r.status, 200);
    // Six new hashes, then the current password's check and the new one's hash.
    assert_eq!(gate.done() - before, 6 + 2);
    assert_eq!(gate.peak(), 1);
}
