//! `GET /api/settings/pacing` (admins): the outbox pacing the service runs with, the send
//! queue's figures and the tightening in force; `PATCH` changes the runtime pacing profile
//! within the hard bounds the code enforces (no restart; logged as `pacing.updated`).

use super::AppState;
use super::auth::Admin;
use super::error::{ApiJson, ApiResult};
use crate::app::QueueFigures;
use crate::domain::pacing::PacingPolicy;
use crate::domain::pacing::bounds::PacingPatch;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/settings/pacing", get(pacing).patch(patch_pacing))
}

/// The pacing in milliseconds and counts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PacingView {
    /// Outreach: minimum gap between two outreach messages.
    pub min_gap_ms: u64,
    /// Outreach: up to this much is added to each gap at random.
    pub gap_jitter_ms: u64,
    /// "Typing" shown at least this long before a message.
    pub typing_min_ms: u64,
    /// Typing time added per character.
    pub typing_per_char_ms: f64,
    /// "Typing" shown at most this long.
    pub typing_max_ms: u64,
    /// Pause between marking the customer's message read and typing.
    pub read_pause_ms: u64,
    /// At most this many messages to one customer per window.
    pub customer_cap: u32,
    /// The per-customer window.
    pub customer_window_ms: u64,
    /// The same text to this many customers within the mass window is held for an admin.
    pub mass_send_threshold: u32,
    /// The mass-send window.
    pub mass_window_ms: u64,
    /// Attempts before a message is marked failed.
    pub max_attempts: u32,
    /// Active conversations: shortest number-wide spacing between stanzas.
    pub active_gap_ms: u64,
    /// Active conversations: up to this much added to the spacing at random.
    pub active_gap_jitter_ms: u64,
    /// Messages one chat may get in a burst.
    pub burst_len: u32,
    /// Spacing to one chat after a burst.
    pub chat_gap_ms: u64,
    /// Number-wide messages in any minute.
    pub per_minute_cap: u32,
    /// Number-wide messages in any hour.
    pub per_hour_cap: u32,
    /// Outreach messages in any hour.
    pub outreach_hour_cap: u32,
    /// Chats read and typed in at once.
    pub max_typing_chats: u32,
    /// The send queue and the tightening in force.
    pub queue: QueueFigures,
}

fn view(p: &PacingPolicy, queue: QueueFigures) -> PacingView {
    let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    PacingView {
        min_gap_ms: ms(p.min_gap),
        gap_jitter_ms: ms(p.gap_jitter),
        typing_min_ms: ms(p.typing_min),
        typing_per_char_ms: p.typing_per_char.as_secs_f64() * 1000.0,
        typing_max_ms: ms(p.typing_max),
        read_pause_ms: ms(p.read_pause),
        customer_cap: p.customer_cap,
        customer_window_ms: ms(p.customer_window),
        mass_send_threshold: p.mass_send_threshold,
        mass_window_ms: ms(p.mass_window),
        max_attempts: p.max_attempts,
        active_gap_ms: ms(p.active_gap),
        active_gap_jitter_ms: ms(p.active_gap_jitter),
        burst_len: p.burst_len,
        chat_gap_ms: ms(p.chat_gap),
        per_minute_cap: p.per_minute_cap,
        per_hour_cap: p.per_hour_cap,
        outreach_hour_cap: p.outreach_hour_cap,
        max_typing_chats: p.max_typing_chats,
        queue,
    }
}

#[utoipa::path(
    get,
    path = "/api/settings/pacing",
    tag = "admin",
    operation_id = "get_pacing",
    summary = "The outbox pacing in force, the send queue and the tightening",
    responses(
        (status = 200, description = "The pacing", body = PacingView),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn pacing(State(state): State<AppState>, Admin(_): Admin) -> ApiResult<Json<PacingView>> {
    let queue = state.app.queue_figures().await?;
    Ok(Json(view(&state.app.config().pacing, queue)))
}

#[utoipa::path(
    patch,
    path = "/api/settings/pacing",
    tag = "admin",
    operation_id = "patch_pacing",
    summary = "Change the pacing profile within its hard bounds (absent fields stay; in force at once)",
    request_body = PacingPatch,
    responses(
        (status = 200, description = "The pacing now", body = PacingView),
        super::openapi::WriteErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn patch_pacing(
    State(state): State<AppState>,
    Admin(me): Admin,
    ApiJson(patch): ApiJson<PacingPatch>,
) -> ApiResult<Json<PacingView>> {
    let policy = state.app.update_pacing(&patch, me.id).await?;
    let queue = state.app.queue_figures().await?;
    Ok(Json(view(&policy, queue)))
}
