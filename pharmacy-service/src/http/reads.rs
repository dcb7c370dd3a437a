//! Read marks: `POST /api/tickets/{id}/read` records how far the caller has read a ticket;
//! the inbox list ([`inbox_items`]) carries each ticket's last message (the preview) and the
//! customer's messages the caller has not read (`unread`).

use super::AppState;
use super::access::readable_ticket;
use super::auth::CurrentUser;
use super::error::{ApiError, ApiJson, ApiResult, Id};
use crate::app::TicketSummary;
use crate::db;
use crate::domain::ids::{MessageId, TicketId};
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

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

/// The answer of `POST /api/tickets/{id}/read`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct ReadMark {
    ticket_id: i64,
    /// The newest message the caller has read (0: none yet).
    last_read_message_id: i64,
    /// The customer's messages after it.
    unread: i64,
}

/// One item of the inbox list (`GET /api/tickets`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct InboxItem {
    ticket: crate::db::tickets::Ticket,
    customer: crate::db::customers::Customer,
    /// The newest message (the preview); null for a ticket without messages.
    #[schema(required = true)]
    last_message: Option<crate::db::messages::Message>,
    /// The customer's messages the caller has not read.
    unread: i64,
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
) -> ApiResult<Json<Value>> {
    if body.message_id.is_some_and(|m| m.0 <= 0) {
        return Err(ApiError::invalid("message_id", "a message id"));
    }
    let mut tx = state.app.pool().begin().await?;
    readable_ticket(&mut tx, &me, TicketId(id)).await?;
    let upto = db::reads::mark_read(
        &mut tx,
        me.id,
        TicketId(id),
        body.message_id,
        state.app.now(),
    )
    .await?;
    let unread = db::reads::unread(&mut tx, me.id, TicketId(id)).await?;
    tx.commit().await?;
    Ok(Json(
        json!({ "ticket_id": id, "last_read_message_id": upto, "unread": unread }),
    ))
}

/// The inbox list's items: each ticket and customer, with `last_message` (or null) and
/// `unread` for the caller.
pub async fn inbox_items(
    state: &AppState,
    me: &CurrentUser,
    rows: Vec<TicketSummary>,
) -> ApiResult<Vec<Value>> {
    let mut c = state.app.pool().acquire().await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let last = db::reads::last_message(&mut c, r.ticket.id).await?;
        let unread = db::reads::unread(&mut c, me.id, r.ticket.id).await?;
        let mut v = serde_json::to_value(&r).map_err(ApiError::internal)?;
        v["last_message"] = json!(last);
        v["unread"] = json!(unread);
        out.push(v);
    }
    Ok(out)
}
