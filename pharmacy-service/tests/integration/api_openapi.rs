//! The OpenAPI 3.1 document is generated from the handlers, served, and matches the router:
//! every routed path and method is documented, every documented operation is routed (with and
//! without its trailing slash), and every operation states its errors and security.

use super::api_support::*;
use pharmacy_service::http::openapi::{Access, operations, spec};
use serde_json::Value;
use std::collections::BTreeSet;

/// The paths an axum router serves, read from its `Debug` output (axum prints each route's
/// path; there is no other public way to list them).
fn routed_paths(router: &impl std::fmt::Debug) -> BTreeSet<String> {
    format!("{router:?}")
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with('/') && !s.contains("__private__"))
        .map(str::to_owned)
        .collect()
}

/// The API's routed paths: the whole router less the UI's HTML pages and assets (not part of
/// the JSON API the document describes).
fn api_paths(t: &TestApp) -> BTreeSet<String> {
    let all = routed_paths(&pharmacy_service::http::router(t.state.clone()));
    // Fails loudly, rather than comparing nothing, if the Debug output ever changes shape.
    assert!(
        all.contains("/api/tickets") && all.contains("/healthz") && all.contains("/ws"),
        "cannot read the router's paths: {all:?}"
    );
    let ui = routed_paths(&pharmacy_service::http::ui::router::<()>());
    assert!(ui.contains("/login"), "cannot read the UI's paths: {ui:?}");
    all.difference(&ui).cloned().collect()
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "987654")
        .replace("{label_id}", "987654")
        .replace("{tag}", "t")
        .replace("{sha256}", &"a".repeat(64))
}

#[tokio::test]
async fn the_served_document_is_the_generated_openapi_3_1() {
    let t = spawn_app().await;
    let r = t.client().get("/api/openapi.json/").await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let doc = r.json();
    assert_eq!(&doc, spec());
    assert_eq!(doc["openapi"], "3.1.0");
    // The one error shape, generated from the type the errors are answered with.
    let e = &doc["components"]["schemas"];
    assert_eq!(e["Error"]["required"], serde_json::json!(["error"]));
    let info = &e["ErrorInfo"];
    for k in ["code", "message", "details"] {
        assert!(
            info["required"].as_array().unwrap().contains(&k.into()),
            "{k}"
        );
    }
    // A real error answer has exactly the documented fields.
    let r = t.client().post("/auth/login", serde_json::json!({})).await;
    assert_eq!(r.status, 422);
    let body = r.json();
    let keys = |v: &Value| {
        v.as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(keys(&body["error"]), keys(&info["properties"]));
    assert_eq!(body["error"]["details"]["field"], "username");
}

#[tokio::test]
async fn every_operation_states_its_errors_and_security() {
    let doc = spec();
    let responses = &doc["components"]["responses"];
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["csrf"]["name"], "X-CSRF-Token");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    let mut ids = BTreeSet::new();
    let mut failures = Vec::new();
    for op in operations() {
        let o = &doc["paths"][&op.path][&op.method];
        let name = format!("{} {}", op.method, op.path);
        if !ids.insert(o["operationId"].as_str().unwrap_or_default().to_owned()) {
            failures.push(format!("{name}: duplicate or missing operationId"));
        }
        if o["summary"].as_str().is_none_or(str::is_empty) {
            failures.push(format!("{name}: no summary"));
        }
        // Every path parameter is declared.
        for p in op.path.split('/').filter_map(|s| s.strip_prefix('{')) {
            let p = p.trim_end_matches('}');
            let declared = o["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|d| d["name"] == p && d["in"] == "path" && d["required"] == true);
            if !declared {
                failures.push(format!("{name}: path parameter {p} undeclared"));
            }
        }
        let res = o["responses"].as_object().unwrap();
        if !res.keys().any(|k| k.starts_with('2') || k == "101") {
            failures.push(format!("{name}: no success response"));
        }
        // Errors: by status, each the shared component with the Error schema (the readiness
        // probe's 503 is its own answer: not ready, and why).
        let errors: Vec<&String> = res
            .keys()
            .filter(|k| k.as_str() >= "400" && op.path != "/readyz")
            .collect();
        if op.path == "/readyz" && !res.contains_key("503") {
            failures.push(format!("{name}: no 503"));
        }
        if op.path != "/readyz" && !errors.iter().any(|k| *k == "500") {
            failures.push(format!("{name}: no 500"));
        }
        for k in errors {
            let target = res[k]["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/components/responses/"))
                .map(|n| &responses[n]);
            let schema = target.map(|t| &t["content"]["application/json"]["schema"]["$ref"]);
            if schema.and_then(Value::as_str) != Some("#/components/schemas/Error") {
                failures.push(format!("{name}: {k} is not the Error shape"));
            }
        }
        // Security: sessions (with the CSRF header when the method changes state) or bearer.
        let sec = o["security"].as_array().cloned().unwrap_or_default();
        let has = |scheme: &str| sec.iter().any(|r| r.get(scheme).is_some());
        match op.access {
            Access::Public => {}
            Access::Signed => {
                if !has("signature") {
                    failures.push(format!("{name}: unsigned"));
                }
            }
            Access::User | Access::Admin => {
                let csrf = sec
                    .iter()
                    .find(|r| r.get("session").is_some())
                    .is_some_and(|r| r.get("csrf").is_some());
                if !has("bearer") || !has("session") || csrf != (op.method != "get") {
                    failures.push(format!("{name}: security {sec:?}"));
                }
                if !res.contains_key("401") {
                    failures.push(format!("{name}: no 401"));
                }
                if op.access == Access::Admin && !res.contains_key("403") {
                    failures.push(format!("{name}: admin-only without 403"));
                }
            }
        }
        if o.get("requestBody").is_some() && !res.contains_key("422") {
            failures.push(format!("{name}: a body but no 422"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn every_routed_path_and_method_is_documented() {
    let t = spawn_app().await;
    let routed = api_paths(&t);
    let documented: BTreeSet<String> = operations().into_iter().map(|o| o.path).collect();
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "routed but not documented: {missing:?}; documented but not routed: {extra:?}"
    );
    // Methods: anything but a 405 means the method is routed, so it must be documented.
    let anon = t.client();
    let mut failures = Vec::new();
    for path in &routed {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let r = anon
                .raw(
                    method,
                    &concrete(path),
                    Some("application/json"),
                    b"{}",
                    &[],
                )
                .await;
            let documented = operations()
                .iter()
                .any(|o| &o.path == path && o.method.eq_ignore_ascii_case(method));
            if (r.status != 405) != documented {
                failures.push(format!(
                    "{method} {path}: {} (documented: {documented})",
                    r.status
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
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
        let path = concrete(&op.path);
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
            // The status is one the operation documents.
            let documented = &spec()["paths"][&op.path][&op.method]["responses"];
            if documented.get(r.status.to_string()).is_none() {
                failures.push(format!("{method} {p}: undocumented status {}", r.status));
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

#[test]
fn documented_limits_are_the_handlers_limits() {
    let schemas = &spec()["components"]["schemas"];
    let settings = schemas["SettingsPatch"]["properties"].as_object().unwrap();
    let secs: Vec<_> = settings.keys().filter(|k| k.ends_with("_secs")).collect();
    assert!(secs.len() >= 5, "{secs:?}");
    for k in secs {
        assert_eq!(
            settings[k]["maximum"].as_u64(),
            Some(pharmacy_service::http::admin::MAX_SETTING_SECS),
            "{k}"
        );
    }
    let limit = |path: &str| {
        spec()["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .map(|p| {
                (
                    p["schema"]["minimum"].clone(),
                    p["schema"]["maximum"].clone(),
                )
            })
    };
    for path in [
        "/api/tickets",
        "/api/messages",
        "/api/customers",
        "/api/activity",
    ] {
        assert_eq!(
            limit(path),
            Some((1.into(), 200.into())),
            "{path}: the page size limits of error::limit"
        );
    }
}

#[test]
fn response_links_name_existing_operations_and_their_parameters() {
    let doc = spec();
    let mut by_id = std::collections::BTreeMap::new();
    for op in operations() {
        let o = &doc["paths"][&op.path][&op.method];
        by_id.insert(o["operationId"].as_str().unwrap().to_owned(), o.clone());
    }
    let mut links = 0;
    for op in operations() {
        let o = &doc["paths"][&op.path][&op.method];
        for (_, res) in o["responses"].as_object().unwrap() {
            for (name, link) in res["links"].as_object().into_iter().flatten() {
                links += 1;
                let target = link["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{name}: {link}"));
                let t = by_id
                    .get(target)
                    .unwrap_or_else(|| panic!("{name}: no {target}"));
                for (param, expr) in link["parameters"].as_object().unwrap() {
                    assert!(
                        t["parameters"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|p| p["name"] == *param),
                        "{name}: {target} has no {param}"
                    );
                    assert!(
                        expr.as_str().unwrap().starts_with("$response.body#/"),
                        "{name}"
                    );
                }
            }
        }
    }
    assert!(links >= 10, "{links} links");
}
