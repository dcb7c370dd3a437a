//! The control routes for `<unavailable>`, calls, poll votes and `<appdata>` sends: answers and
//! errors.

use super::{http, start};

#[tokio::test]
async fn unavailable_call_and_vote_routes() {
    let sim = start().await;
    let base = sim.control_url.clone();
    let (status, _) = http(
        &base,
        "POST",
        "/control/accounts/201001234567/unavailable",
        Some(r#"{"customer":"201112223334","kind":"view_once"}"#),
    )
    .await;
    assert_eq!(status, 404, "unknown account");
    let (status, body) = http(
        &base,
        "POST",
        "/control/accounts",
        Some(r#"{"phone":"201001234567","name":"Pharmacy"}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(
        &base,
        "POST",
        "/control/customers",
        Some(r#"{"phone":"201112223334","name":"Mona"}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(
        &base,
        "POST",
        "/control/accounts/201001234567/unavailable",
        Some(r#"{"customer":"201112223334","kind":"hosted_unavailable_fanout","text":"hi"}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["id"].as_str().is_some_and(|id| !id.is_empty()));
    let (status, body) = http(
        &base,
        "GET",
        "/control/accounts/201001234567/resend-requests",
        None,
    )
    .await;
    assert_eq!((status, body), (200, serde_json::json!([])));
    let (status, body) = http(
        &base,
        "POST",
        "/control/customers/201112223334/call",
        Some(r#"{"to":"201001234567","video":true}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let call_id = body["call_id"].as_str().expect("call id").to_owned();
    let (status, _) = http(
        &base,
        "POST",
        "/control/customers/201112223334/call-end",
        Some(&format!(r#"{{"to":"201001234567","call_id":"{call_id}"}}"#)),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = http(&base, "GET", "/control/customers/201112223334/calls", None).await;
    assert_eq!((status, body), (200, serde_json::json!([])));
    let (status, _) = http(
        &base,
        "POST",
        "/control/customers/209999999999/call",
        Some(r#"{"to":"201001234567"}"#),
    )
    .await;
    assert_eq!(status, 404, "unknown caller");
    let (status, body) = http(
        &base,
        "POST",
        "/control/customers/201112223334/vote",
        Some(r#"{"to":"201001234567"}"#),
    )
    .await;
    assert_eq!(status, 400, "missing fields: {body}");
    let (status, body) = http(
        &base,
        "POST",
        "/control/customers/201112223334/send",
        Some(r#"{"to":"201001234567","text":"hi","appdata":true}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["id"].as_str().is_some_and(|id| !id.is_empty()));
    // A paired account's own phone is not a client customer: it cannot send as <appdata>.
    let (status, body) = http(
        &base,
        "POST",
        "/control/customers/201001234567/send",
        Some(r#"{"to":"201112223334","text":"hi","appdata":true}"#),
    )
    .await;
    assert_eq!(status, 400, "{body}");
}
