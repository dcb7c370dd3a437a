//! The OpenAPI 3.1 document is served, lists every operation, and every documented
//! operation is routed, with and without its trailing slash.

use super::api_support::*;
use pharmacy_service::http::openapi::operations;

#[tokio::test]
async fn the_document_is_openapi_3_1_and_lists_every_operation() {
    let t = spawn_app().await;
    let r = t.client().get("/api/openapi.json/").await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    for op in operations() {
        let o = &doc["paths"][op.path][op.method];
        assert!(o.is_object(), "{} {} missing", op.method, op.path);
        assert!(o["responses"]["default"].is_object());
    }
    assert!(doc["components"]["schemas"]["Error"].is_object());
}

#[tokio::test]
async fn every_documented_operation_is_routed_with_and_without_the_slash() {
    let t = spawn_app().await;
    let admin = t.login(ADMIN).await;
    let mut failures = Vec::new();
    for op in operations() {
        // Logging out would end the session the loop uses.
        if op.path == "/auth/logout" {
            continue;
        }
        let path = op
            .path
            .replace("{id}", "987654")
            .replace("{sha256}", &"a".repeat(64));
        let method = op.method.to_uppercase();
        let mut statuses = Vec::new();
        for p in [path.clone(), format!("{path}/")] {
            let body: &[u8] = if matches!(method.as_str(), "POST" | "PATCH") {
                b"{}"
            } else {
                b""
            };
            let r = admin
                .raw(&method, &p, Some("application/json"), body, &[])
                .await;
            let unrouted = r.status == 405
                || (r.status == 404 && r.json()["error"]["message"] == format!("{p} not found"))
                || (r.status == 404 && r.json()["error"]["message"] == format!("{path} not found"));
            if unrouted || r.status >= 500 {
                failures.push(format!("{method} {p}: {} {}", r.status, r.text()));
            }
            statuses.push(r.status);
        }
        if statuses[0] != statuses[1] {
            failures.push(format!(
                "{method} {path}: {statuses:?} with and without the slash"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
