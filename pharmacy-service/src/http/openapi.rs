//! The OpenAPI 3.1 document served at `/api/openapi.json`, built from [`operations`]: one
//! entry per route, next to the request and response shapes the handlers use. A test walks
//! the list against the live router, so a documented route that does not exist fails CI.

use axum::Json;
use serde_json::{Value, json};

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (login, health, the document itself).
    Public,
    /// Any logged-in user (objects still checked per user).
    User,
    /// Admins only.
    Admin,
    /// HMAC-signed webhook.
    Signed,
}

/// One documented operation.
#[derive(Debug, Clone)]
pub struct Operation {
    /// `get`, `post`, `patch`, `delete`.
    pub method: &'static str,
    /// Path template (`/api/tickets/{id}`), canonical form without trailing slash.
    pub path: &'static str,
    /// Group.
    pub tag: &'static str,
    /// One line.
    pub summary: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Query parameters: (name, JSON schema).
    pub query: Vec<(&'static str, Value)>,
    /// JSON request body schema.
    pub body: Option<Value>,
    /// Success status and its JSON schema (`None` = not JSON, e.g. CSV or PNG).
    pub ok: (u16, Option<Value>),
}

fn op(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    access: Access,
) -> Operation {
    Operation {
        method,
        path,
        tag,
        summary,
        access,
        query: Vec::new(),
        body: None,
        ok: (200, Some(obj())),
    }
}

impl Operation {
    fn q(mut self, name: &'static str, schema: Value) -> Self {
        self.query.push((name, schema));
        self
    }
    fn body(mut self, schema: Value) -> Self {
        self.body = Some(schema);
        self
    }
    fn ok(mut self, status: u16, schema: Option<Value>) -> Self {
        self.ok = (status, schema);
        self
    }
}

fn obj() -> Value {
    json!({ "type": "object" })
}
fn string() -> Value {
    json!({ "type": "string" })
}
fn int() -> Value {
    json!({ "type": "integer" })
}
fn nstr() -> Value {
    json!({ "type": ["string", "null"] })
}
fn nint() -> Value {
    json!({ "type": ["integer", "null"] })
}
fn schema(props: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "properties": props, "required": required })
}
fn page() -> Value {
    schema(
        json!({ "items": { "type": "array" }, "next_cursor": nstr() }),
        &["items", "next_cursor"],
    )
}
fn items() -> Value {
    schema(json!({ "items": { "type": "array" } }), &["items"])
}
fn with(key: &str) -> Value {
    let mut props = serde_json::Map::new();
    props.insert(key.to_owned(), obj());
    json!({ "type": "object", "properties": props, "required": [key] })
}
fn range() -> Vec<(&'static str, Value)> {
    vec![
        ("from", json!({ "type": "string", "format": "date" })),
        ("to", json!({ "type": "string", "format": "date" })),
    ]
}

/// Every documented operation.
pub fn operations() -> Vec<Operation> {
    use Access::*;
    let user_view = schema(
        json!({ "id": int(), "username": string(), "name": string(), "role": { "enum": ["admin", "agent"] }, "branch_id": nint(), "agent_id": nint() }),
        &["id", "username", "name", "role", "branch_id"],
    );
    let mut v = vec![
        op("get", "/healthz", "ops", "Liveness", Public).ok(200, Some(schema(json!({ "status": string() }), &["status"]))),
        op("get", "/api/openapi.json", "ops", "This document", Public),
        // auth
        op("post", "/auth/login", "auth", "Log in (sets the session cookie)", Public)
            .body(schema(json!({ "username": string(), "password": string() }), &["username", "password"]))
            .ok(200, Some(schema(json!({ "user": user_view.clone(), "csrf_token": string() }), &["user", "csrf_token"]))),
        op("post", "/auth/logout", "auth", "Log out", User),
        op("get", "/auth/profile", "auth", "The caller and the session's CSRF token", User)
            .ok(200, Some(schema(json!({ "user": user_view.clone(), "csrf_token": nstr() }), &["user"]))),
        op("post", "/auth/register", "auth", "Create an admin or an agent", Admin)
            .body(schema(json!({ "username": string(), "name": string(), "email": nstr(), "password": string(), "role": { "enum": ["admin", "agent"] }, "branch_id": nint(), "capacity": nint() }), &["username", "name", "password", "role"]))
            .ok(201, Some(with("user"))),
        op("post", "/auth/password", "auth", "Change one's own password", User)
            .body(schema(json!({ "current_password": string(), "new_password": string() }), &["current_password", "new_password"])),
        op("get", "/api/users", "auth", "Every login", Admin).ok(200, Some(items())),
        op("post", "/api/users/{id}/password", "auth", "Reset a user's password", Admin)
            .body(schema(json!({ "new_password": string() }), &["new_password"])),
        op("post", "/api/users/{id}/active", "auth", "Deactivate or reactivate a user", Admin)
            .body(schema(json!({ "active": { "type": "boolean" } }), &["active"])),
        op("get", "/api/tokens", "auth", "API tokens", Admin).ok(200, Some(items())),
        op("post", "/api/tokens", "auth", "Create an API token (secret shown once)", Admin)
            .body(schema(json!({ "name": string(), "user_id": nint() }), &["name"]))
            .ok(201, Some(schema(json!({ "id": int(), "token": string() }), &["id", "token"]))),
        op("delete", "/api/tokens/{id}", "auth", "Revoke an API token", Admin),
        // tickets
        op("get", "/api/tickets", "tickets", "The inbox (filters, cursor pagination)", User)
            .q("status", json!({ "enum": ["open", "pending", "closed"] })).q("branch", int()).q("agent", int())
            .q("customer", int()).q("unassigned", json!({ "type": "boolean" })).q("text", string())
            .q("cursor", string()).q("limit", json!({ "type": "integer", "minimum": 1, "maximum": 200 }))
            .ok(200, Some(page())),
        op("post", "/api/tickets", "tickets", "Open a ticket by hand", User)
            .body(schema(json!({ "customer_id": int(), "subject": nstr(), "priority": { "enum": ["low", "normal", "high", "urgent", null] } }), &["customer_id"]))
            .ok(201, Some(with("ticket"))),
        op("get", "/api/tickets/{id}", "tickets", "One ticket with its customer and logs", User)
            .ok(200, Some(schema(json!({ "ticket": obj(), "customer": obj(), "state_log": { "type": "array" }, "transfer_log": { "type": "array" }, "can_act": { "type": "boolean" } }), &["ticket", "customer"]))),
        op("patch", "/api/tickets/{id}", "tickets", "Priority, subject, pending/open", User)
            .body(schema(json!({ "priority": { "enum": ["low", "normal", "high", "urgent", null] }, "subject": nstr(), "status": { "enum": ["open", "pending", "closed", null] } }), &[]))
            .ok(200, Some(with("ticket"))),
        op("delete", "/api/tickets/{id}", "tickets", "Delete a ticket and its messages", Admin),
        op("post", "/api/tickets/{id}/close", "tickets", "Close", User)
            .body(schema(json!({ "reason": nstr() }), &[])).ok(200, Some(with("ticket"))),
        op("post", "/api/tickets/{id}/reopen", "tickets", "Reopen", User).ok(200, Some(with("ticket"))),
        op("post", "/api/tickets/{id}/transfer", "tickets", "Transfer to an agent or a branch", User)
            .body(schema(json!({ "agent_id": nint(), "branch_id": nint(), "note": string() }), &["note"]))
            .ok(200, Some(with("ticket"))),
        op("post", "/api/tickets/{id}/notes", "tickets", "Internal note", User)
            .body(schema(json!({ "body": string() }), &["body"])).ok(201, Some(with("note"))),
        // messages
        op("get", "/api/messages", "messages", "A ticket's messages, oldest first", User)
            .q("ticket", int()).q("cursor", string()).q("limit", json!({ "type": "integer", "minimum": 1, "maximum": 200 }))
            .ok(200, Some(page())),
        op("get", "/api/messages/search", "messages", "Full-text search", User)
            .q("q", string()).q("limit", json!({ "type": "integer", "minimum": 1, "maximum": 200 })).ok(200, Some(items())),
        op("get", "/api/messages/{id}", "messages", "One message with its delivery log", User)
            .ok(200, Some(schema(json!({ "message": obj(), "delivery_log": { "type": "array" } }), &["message", "delivery_log"]))),
        op("delete", "/api/messages/{id}", "messages", "Revoke (or cancel before it left)", User)
            .ok(200, Some(with("message"))),
        op("post", "/api/messages/send", "messages", "Send text, template, media (multipart `file`) or a reply", User)
            .body(schema(json!({ "ticket_id": int(), "text": nstr(), "template_id": nint(), "reply_to": nint(), "media_sha256": nstr() }), &["ticket_id"]))
            .ok(201, Some(with("message"))),
        op("post", "/api/messages/receive", "messages", "Ingest webhook (X-Signature: sha256=HMAC)", Signed)
            .body(obj()).ok(200, Some(with("outcome"))),
        op("get", "/api/media/{sha256}", "messages", "A media file", User).ok(200, None),
        // customers
        op("get", "/api/customers", "customers", "Customers (search, cursor pagination)", User)
            .q("q", string()).q("cursor", string()).q("limit", json!({ "type": "integer", "minimum": 1, "maximum": 200 }))
            .ok(200, Some(page())),
        op("post", "/api/customers", "customers", "Create a customer", User)
            .body(schema(json!({ "phone": string(), "name": nstr(), "email": nstr(), "home_branch_id": nint() }), &["phone"]))
            .ok(201, Some(with("customer"))),
        op("get", "/api/customers/{id}", "customers", "One customer with tags and notes", User).ok(200, Some(with("customer"))),
        op("patch", "/api/customers/{id}", "customers", "Edit a customer", User)
            .body(schema(json!({ "name": nstr(), "email": nstr(), "home_branch_id": nint() }), &[]))
            .ok(200, Some(with("customer"))),
        op("post", "/api/customers/{id}/notes", "customers", "Add a note", User)
            .body(schema(json!({ "body": string() }), &["body"])).ok(201, Some(with("note"))),
        op("post", "/api/customers/{id}/tags", "customers", "Add a tag", User)
            .body(schema(json!({ "tag": string() }), &["tag"])).ok(200, Some(schema(json!({ "tags": { "type": "array" } }), &["tags"]))),
        op("get", "/api/customers/{id}/history", "customers", "Earlier tickets and ratings", User)
            .ok(200, Some(schema(json!({ "customer": obj(), "tickets": { "type": "array" }, "ratings": { "type": "array" } }), &["customer", "tickets", "ratings"]))),
        // agents and branches
        op("get", "/api/agents", "agents", "The agent directory", User).ok(200, Some(items())),
        op("post", "/api/agents", "agents", "Create an agent", Admin)
            .body(schema(json!({ "username": string(), "name": string(), "password": string(), "branch_id": int(), "capacity": nint(), "email": nstr() }), &["username", "name", "password", "branch_id"]))
            .ok(201, Some(with("agent"))),
        op("get", "/api/agents/{id}", "agents", "One agent", User).ok(200, Some(with("agent"))),
        op("patch", "/api/agents/{id}", "agents", "Branch, capacity, shifts", Admin)
            .body(schema(json!({ "branch_id": nint(), "capacity": nint(), "shifts": { "type": ["object", "null"] } }), &[]))
            .ok(200, Some(with("agent"))),
        op("post", "/api/agents/{id}/status", "agents", "Presence: online, away, offline", User)
            .body(schema(json!({ "status": { "enum": ["online", "away", "offline"] } }), &["status"])),
        {
            let mut o = op("get", "/api/agents/{id}/kpi", "agents", "An agent's KPIs (own, or admin)", User);
            o.query = range();
            o
        },
        op("get", "/api/branches", "agents", "Branches", User).ok(200, Some(items())),
        op("post", "/api/branches", "agents", "Create or update a branch by code", Admin)
            .body(schema(json!({ "code": string(), "name": string(), "name_ar": string(), "address": string(), "phone": nstr(), "latitude": { "type": "number" }, "longitude": { "type": "number" }, "hours": { "type": ["object", "null"] } }), &["code", "name", "name_ar", "address", "latitude", "longitude"]))
            .ok(201, Some(with("branch"))),
        op("get", "/api/branches/{id}", "agents", "One branch", User).ok(200, Some(with("branch"))),
        // analytics
        op("get", "/api/analytics/dashboard", "analytics", "Today's counters", Admin),
    ];
    for (path, summary) in [
        ("/api/analytics/kpi", "KPI report with formulas"),
        ("/api/analytics/agents", "Per-agent KPIs"),
        ("/api/analytics/customers", "Customer figures"),
    ] {
        let mut o = op("get", path, "analytics", summary, Admin);
        o.query = range();
        v.push(o);
    }
    let mut rep = op(
        "get",
        "/api/analytics/reports",
        "analytics",
        "KPI report as JSON or CSV",
        Admin,
    )
    .ok(200, None);
    rep.query = range();
    v.push(rep.q("format", json!({ "enum": ["json", "csv"] })));
    v.extend([
        // whatsapp
        op("get", "/api/whatsapp/qr-code", "whatsapp", "The pairing QR (string, PNG base64, SVG; or format=png|svg)", Admin)
            .q("format", json!({ "enum": ["json", "png", "svg"] })).ok(200, None),
        op("get", "/api/whatsapp/status", "whatsapp", "Link state", Admin)
            .ok(200, Some(schema(json!({ "state": string() }), &["state"]))),
        op("post", "/api/whatsapp/disconnect", "whatsapp", "Log out the number", Admin),
        op("post", "/api/whatsapp/pair-code", "whatsapp", "Pairing code for a phone number", Admin)
            .body(schema(json!({ "phone": string() }), &["phone"]))
            .ok(200, Some(schema(json!({ "phone": string(), "code": string() }), &["phone", "code"]))),
        // admin areas
        op("get", "/api/templates", "templates", "Templates the caller may use", User).ok(200, Some(items())),
        op("post", "/api/templates", "templates", "Create or replace a template by key", User)
            .body(schema(json!({ "key": string(), "title": string(), "body": string(), "personal": { "type": "boolean" } }), &["key", "title", "body"]))
            .ok(201, Some(with("template"))),
        op("delete", "/api/templates/{id}", "templates", "Delete a template", User),
        op("get", "/api/auto-replies", "templates", "Keyword auto-replies", Admin).ok(200, Some(items())),
        op("post", "/api/auto-replies", "templates", "Add a keyword auto-reply", Admin)
            .body(schema(json!({ "keyword": string(), "match_kind": { "enum": ["contains", "exact", "starts_with"] }, "body": string(), "branch_id": nint() }), &["keyword", "match_kind", "body"]))
            .ok(201, None),
        op("delete", "/api/auto-replies/{id}", "templates", "Delete an auto-reply", Admin),
        op("get", "/api/settings", "admin", "Configuration and runtime settings", Admin),
        op("patch", "/api/settings", "admin", "Change runtime settings (durations in seconds)", Admin).body({
            let n = || json!({ "type": ["integer", "null"], "minimum": 0, "maximum": super::admin::MAX_SETTING_SECS });
            let b = || json!({ "type": ["boolean", "null"] });
            json!({ "type": "object", "additionalProperties": false, "properties": {
                "reopen_window_secs": n(), "stickiness_secs": n(), "first_response_timeout_secs": n(),
                "auto_close_after_secs": n(), "csat_window_secs": n(), "csat_enabled": b(), "greeting_enabled": b(),
                "out_of_office_enabled": b(), "branch_menu_enabled": b(), "use_shifts": b(), "cross_branch_fallback": b(),
            } })
        }),
        op("get", "/api/activity", "admin", "The activity log", Admin)
            .q("cursor", string()).q("limit", json!({ "type": "integer", "minimum": 1, "maximum": 200 })).ok(200, Some(page())),
        op("get", "/api/alerts", "admin", "Open alerts", Admin).ok(200, Some(items())),
        op("post", "/api/alerts/{id}/acknowledge", "admin", "Acknowledge an alert", Admin),
        op("get", "/api/outbox/held", "admin", "Messages held by the mass-send guard", Admin).ok(200, Some(items())),
        op("post", "/api/outbox/{id}/confirm", "admin", "Release a held message", Admin).ok(200, Some(with("message"))),
        op("post", "/api/outbox/{id}/cancel", "admin", "Cancel a held message", Admin).ok(200, Some(with("message"))),
    ]);
    v
}

fn path_params(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            // The example points at a row a seeded database has, so fuzzers reach real objects.
            let schema = if name == "sha256" {
                json!({ "type": "string" })
            } else {
                json!({ "type": "integer", "examples": [1] })
            };
            json!({ "name": name, "in": "path", "required": true, "schema": schema })
        })
        .collect()
}

/// The document.
pub fn spec() -> Value {
    let mut paths = serde_json::Map::new();
    for o in operations() {
        let mut params = path_params(o.path);
        params.extend(
            o.query
                .iter()
                .map(|(n, s)| json!({ "name": n, "in": "query", "required": false, "schema": s })),
        );
        let mut responses = serde_json::Map::new();
        let ok = match &o.ok.1 {
            Some(s) => {
                json!({ "description": "success", "content": { "application/json": { "schema": s } } })
            }
            None => json!({ "description": "success" }),
        };
        responses.insert(o.ok.0.to_string(), ok);
        responses.insert(
            "default".into(),
            json!({ "description": "error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }),
        );
        let security = match o.access {
            Access::Public | Access::Signed => json!([]),
            Access::User | Access::Admin => {
                json!([{ "session": [], "csrf": [] }, { "bearer": [] }])
            }
        };
        let mut operation = json!({
            "tags": [o.tag],
            "summary": o.summary,
            "operationId": format!("{}_{}", o.method, o.path.trim_start_matches('/').replace(['/', '{', '}', '.', '-'], "_")),
            "parameters": params,
            "responses": responses,
            "security": security,
        });
        if matches!(o.access, Access::Admin) {
            operation["description"] = json!("Admins only.");
        }
        if let Some(b) = &o.body {
            operation["requestBody"] = json!({ "required": o.method != "patch" && b.get("required").is_some_and(|r| r.as_array().is_some_and(|a| !a.is_empty())), "content": { "application/json": { "schema": b } } });
        }
        let entry = paths.entry(o.path.to_owned()).or_insert_with(|| json!({}));
        entry[o.method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Khalifa Pharmacies conversation service",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every path also answers with a trailing slash. Errors are {\"error\": {\"code\", \"message\", \"details\"}}. Browser sessions send X-CSRF-Token on state-changing requests. Live events: GET /ws (WebSocket).",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Error": schema(json!({ "error": schema(json!({ "code": string(), "message": string(), "details": obj() }), &["code", "message", "details"]) }), &["error"]),
            },
            "securitySchemes": {
                "session": { "type": "apiKey", "in": "cookie", "name": "session" },
                "csrf": { "type": "apiKey", "in": "header", "name": "X-CSRF-Token" },
                "bearer": { "type": "http", "scheme": "bearer" },
            },
        },
    })
}

/// `GET /api/openapi.json`.
pub async fn document() -> Json<Value> {
    Json(spec())
}
