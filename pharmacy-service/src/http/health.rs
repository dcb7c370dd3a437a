//! `GET /readyz` and `GET /metrics` over [`crate::ops::health`] (which knows nothing of HTTP).

use super::AppState;
use crate::ops::health::{Readiness, ReadyStatus};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

/// `GET /healthz`'s answer: the process serves requests.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// `GET /healthz`: 200 while the process serves requests (liveness; nothing else is checked).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "ops",
    operation_id = "healthz",
    summary = "Liveness",
    responses(
        (status = 200, description = "Alive", body = Health),
        crate::http::openapi::PublicErrors,
    ),
)]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// `GET /readyz`: 200 with `status` `ready`, or 503 with `not_ready`.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "ops",
    operation_id = "readyz",
    summary = "Readiness: the database answers and every migration is applied",
    description = "The WhatsApp link's state is reported but does not make the service unready.",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready (`status`: `not_ready`; the failing check says why)", body = Readiness),
    ),
)]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let r = crate::ops::health::readiness(&state.app, state.whatsapp.as_ref()).await;
    let code = match r.status {
        ReadyStatus::Ready => StatusCode::OK,
        ReadyStatus::NotReady => StatusCode::SERVICE_UNAVAILABLE,
    };
    (code, Json(r))
}

/// `GET /metrics`: the Prometheus text exposition.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    operation_id = "metrics",
    summary = "Prometheus metrics",
    responses(
        (status = 200, description = "The Prometheus text exposition (version 0.0.4)", body = String, content_type = "text/plain"),
        super::openapi::PublicErrors,
    ),
)]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::ops::health::metrics_text(&state.app, state.whatsapp.as_ref()).await,
    )
}
