//! `GET /api/settings/pacing` (admins): the outbox pacing the service runs with. Pacing is
//! start-up configuration (the config file or `PHARMACY_*` environment), not a runtime
//! setting, so the settings page shows it read-only.

use super::AppState;
use super::auth::Admin;
use super::error::ApiResult;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/settings/pacing", get(pacing))
}

/// The pacing in milliseconds and counts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PacingView {
    /// Minimum gap between two sends of the number.
    pub min_gap_ms: u64,
    /// Up to this much is added to each gap at random.
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
}

#[utoipa::path(
    get,
    path = "/api/settings/pacing",
    tag = "admin",
    operation_id = "get_pacing",
    summary = "The outbox pacing in force (start-up configuration, read-only)",
    responses(
        (status = 200, description = "The pacing", body = PacingView),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn pacing(State(state): State<AppState>, Admin(_): Admin) -> ApiResult<Json<PacingView>> {
    let cfg = state.app.config();
    let p = &cfg.pacing;
    let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    Ok(Json(PacingView {
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
    }))
}
