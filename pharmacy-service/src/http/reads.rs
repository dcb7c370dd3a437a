//! Read marks: `POST /api/tickets/{id}/read` records how far the caller has read a ticket;
//! the inbox list (`App::inbox`) carries each ticket's last message (the preview) and the
//! customer's messages the caller has not read (`unread`).

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ApiJson, ApiResult, Id};
use crate::app::ReadMark;
use crate::domain::ids::{MessageId, TicketId};
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/tickets/{id}/read", post(mark_read))
}

/// `POST /api/tickets/{id}/read` body: read up to this message (default: the newest).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ReadBody {
    /// The newest message the caller has seen.
    #[serde(default)]
    pub message_id: Option<MessageId>,
}

#[utoipa::path(
    post,
    path = "/api/tickets/{id}/read",
    tag = "tickets",
    operation_id = "mark_ticket_read",
    summary = "Mark the ticket read by the caller up to a message (default: the newest); the mark only moves forward",
    params(("id" = i64, Path, description = "Ticket id", example = 1)),
    request_body = ReadBody,
    responses(
        (status = 200, description = "The caller's read mark and unread count now", body = ReadMark),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
async fn mark_read(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
    ApiJson(body): ApiJson<ReadBody>,
) -> ApiResult<Json<ReadMark>> {
    if body.message_id.is_some_and(|m| m.0 <= 0) {
        return Err(ApiError::invalid("message_id", "a message id"));
    }
    let mark = state
        .app
        .mark_read(&me.caller(), TicketId(id), body.message_id)
        .await?;
    Ok(Json(mark))
}
