//! `GET /api/activity` filters: user, action prefix, local days (the service's time zone),
//! with cursor pagination under the filters, and 422s naming the bad parameter.

use super::api_support::*;
use pharmacy_service::db::activity;
use pharmacy_service::domain::ids::UserId;
use pharmacy_service::domain::time::Timestamp;
use serde_json::Value;

/// The instant of a local wall-clock time in the service's zone.
fn local(t: &TestApp, at: &str) -> Timestamp {
    let dt: jiff::civil::DateTime = at.parse().unwrap();
    let z = dt.to_zoned(t.world.app.time_zone().clone()).unwrap();
    Timestamp(z.timestamp().as_millisecond())
}

fn actions(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn activity_filters_by_user_action_and_local_day() {
    let t = spawn_app().await;
    let admin = t.login(ADMIN).await;
    let uid = |c: &Client| {
        let c = c.clone();
        async move {
            UserId(
                c.get("/auth/profile").await.json()["user"]["id"]
                    .as_i64()
                    .unwrap(),
            )
        }
    };
    let (a, b) = (uid(&admin).await, uid(&t.login(T1).await).await);
    assert_eq!(t.world.app.time_zone().iana_name(), Some("Africa/Cairo"));
    let mut c = t.world.app.pool().acquire().await.unwrap();
    for (user, action, at) in [
        (Some(a), "ticket.closed", "2020-01-01T10:00"),
        (Some(b), "ticket.transferred", "2020-01-02T12:00"),
        (Some(a), "template.created", "2020-01-02T23:30"),
        // Local Jan 3rd, still Jan 2nd in UTC (the tests' zone is Cairo, UTC+2).
        (Some(a), "tickets_x", "2020-01-03T00:30"),
    ] {
        activity::log(&mut c, user, action, None, None, local(&t, at))
            .await
            .unwrap();
    }
    drop(c);
    let get = |q: &str| {
        let admin = admin.clone();
        let q = q.to_owned();
        async move {
            let r = admin.get(&format!("/api/activity?{q}")).await;
            assert_eq!(r.status, 200, "{q}: {}", r.text());
            r.json()
        }
    };
    let jan = "from=2020-01-01&to=2020-01-31";
    assert_eq!(
        actions(&get(jan).await),
        [
            "tickets_x",
            "template.created",
            "ticket.transferred",
            "ticket.closed"
        ]
    );
    assert_eq!(
        actions(&get(&format!("{jan}&user={}", b.0)).await),
        ["ticket.transferred"]
    );
    // A prefix, literally: `ticket.` is not `tickets_x`, and `_` is no wildcard.
    assert_eq!(
        actions(&get(&format!("{jan}&action=ticket.")).await),
        ["ticket.transferred", "ticket.closed"]
    );
    assert!(actions(&get(&format!("{jan}&action=ticket_")).await).is_empty());
    // Days are local: 23:30 on the 2nd is in, 00:30 on the 3rd is not.
    assert_eq!(
        actions(&get("from=2020-01-02&to=2020-01-02").await),
        ["template.created", "ticket.transferred"]
    );
    assert_eq!(
        actions(&get("from=2020-01-03&to=2020-01-03").await),
        ["tickets_x"]
    );
    // Pages follow the cursor under the same filters.
    let q = format!("{jan}&user={}&limit=2", a.0);
    let p1 = get(&q).await;
    assert_eq!(actions(&p1), ["tickets_x", "template.created"]);
    let cursor = p1["next_cursor"].as_str().expect("a next page").to_owned();
    let p2 = get(&format!("{q}&cursor={cursor}")).await;
    assert_eq!(actions(&p2), ["ticket.closed"]);
    assert!(p2["next_cursor"].is_null());
    // Without filters the day's own entries (logins) come too.
    assert!(get("").await["items"].as_array().unwrap().len() > 4);
    // Bad parameters: 422 naming the one at fault.
    for (q, field) in [
        ("user=someone", "user"),
        ("from=2020-13-01", "from"),
        ("to=yesterday", "to"),
        ("from=2020-02-01&to=2020-01-01", "to"),
    ] {
        let r = admin.get(&format!("/api/activity?{q}")).await;
        assert_eq!(r.status, 422, "{q}: {}", r.text());
        assert_eq!(r.json()["error"]["details"]["field"], field, "{q}");
    }
    // Agents do not read the log.
    assert_eq!(
        t.login(T1)
            .await
            .get("/api/activity?action=ticket.")
            .await
            .status,
        403
    );
}
