//! `GET /readyz` and `GET /metrics` (`/healthz`, liveness, is in the HTTP layer).
//!
//! Ready means: the database answers, and every migration embedded in this binary is applied.
//! The WhatsApp link's state is reported but does not make the service unready: a fresh
//! install must be ready so that an admin can sign in and pair the number.
//!
//! These endpoints answer anyone (a load balancer, a monitoring probe): they show the link's
//! state, never the paired number or the account's name (admins read those in
//! `/api/whatsapp/status`).

use crate::http::AppState;
use crate::ops::metrics::{global, link_state_name};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::time::Duration;

/// How long a check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// `GET /readyz`: 200 `{"status": "ready", "checks": {...}}`, or 503 with `"not_ready"`.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "ops",
    operation_id = "readyz",
    summary = "Readiness: the database answers and every migration is applied",
    description = "The WhatsApp link's state is reported but does not make the service unready.",
    responses(
        (status = 200, description = "Ready", body = crate::http::openapi::ReadinessView),
        (status = 503, description = "Not ready (`status`: `not_ready`; the failing check says why)", body = crate::http::openapi::ReadinessView),
    ),
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let database = tokio::time::timeout(
        CHECK_TIMEOUT,
        sqlx::query_scalar::<_, i64>("SELECT 1").fetch_one(state.app.pool()),
    )
    .await;
    let database = match database {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_owned()),
    };
    let migrations = if database.is_ok() {
        migrations(&state).await
    } else {
        Err("database unreachable".to_owned())
    };
    let whatsapp = tokio::time::timeout(CHECK_TIMEOUT, state.whatsapp.status()).await;
    let whatsapp = match whatsapp {
        Ok(Ok(s)) => json!({ "state": link_state_name(s.state) }),
        // The error's text is the link's own; it stays in the log.
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readyz: the WhatsApp link's state");
            json!({ "state": "unknown", "error": "the link did not answer" })
        }
        Err(_) => json!({ "state": "unknown", "error": "timed out" }),
    };
    let ready = database.is_ok() && migrations.is_ok();
    let check = |r: &Result<Value, String>| match r {
        Ok(v) => json!({ "ok": true, "detail": v }),
        Err(e) => json!({ "ok": false, "error": e }),
    };
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": {
            "database": check(&database.map(|()| Value::Null)),
            "migrations": check(&migrations),
            "whatsapp": whatsapp,
            // Text still flows with a full media disk, so it does not make the service unready.
            "media": { "disk_full": state.app.media_disk_full() },
        },
    });
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}

/// Applied vs embedded migrations: `Ok` when every embedded one is applied successfully.
async fn migrations(state: &AppState) -> Result<Value, String> {
    let applied: Vec<i64> = tokio::time::timeout(
        CHECK_TIMEOUT,
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = 1")
            .fetch_all(state.app.pool()),
    )
    .await
    .map_err(|_| "timed out".to_owned())?
    .map_err(|e| e.to_string())?;
    let missing: Vec<i64> = crate::db::MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .filter(|v| !applied.contains(v))
        .collect();
    if missing.is_empty() {
        Ok(json!({ "applied": applied.len() }))
    } else {
        Err(format!("not applied: {missing:?}"))
    }
}

/// `GET /metrics`: the Prometheus text exposition of [`crate::ops::metrics`].
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    operation_id = "metrics",
    summary = "Prometheus metrics",
    responses(
        (status = 200, description = "The Prometheus text exposition (version 0.0.4)", body = String, content_type = "text/plain"),
        crate::http::openapi::PublicErrors,
    ),
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let depth = match state.app.outbox_depth().await {
        Ok(d) => u64::try_from(d).unwrap_or(0),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: outbox depth");
            0
        }
    };
    let link = match tokio::time::timeout(CHECK_TIMEOUT, state.whatsapp.status()).await {
        Ok(Ok(s)) => Some(s.state),
        _ => None,
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        global().render(depth, link),
    )
        .into_response()
}
