//! `GET /api/tickets/{id}/notes`: a ticket's internal notes with their authors' names, for the
//! customer panel (anyone who may read the ticket; the customer never sees them).

use super::AppState;
use super::access::readable_ticket;
use super::auth::CurrentUser;
use super::error::{ApiResult, Id};
use crate::domain::ids::{TicketId, UserId};
use crate::domain::time::Timestamp;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/tickets/{id}/notes", get(list))
}

/// An internal note as listed.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct NoteEntry {
    /// Id.
    pub id: i64,
    /// The text.
    pub body: String,
    /// Who wrote it.
    pub author_user_id: Option<UserId>,
    /// Their display name.
    pub author_name: Option<String>,
    /// When.
    pub created_at: Timestamp,
}

/// The answer: notes oldest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NoteList {
    /// The notes.
    pub items: Vec<NoteEntry>,
}

#[utoipa::path(
    get,
    path = "/api/tickets/{id}/notes",
    tag = "tickets",
    operation_id = "list_ticket_notes",
    summary = "A ticket's internal notes, oldest first, with their authors' names",
    params(("id" = i64, Path, description = "Ticket id", example = 1)),
    responses(
        (status = 200, description = "The notes", body = NoteList),
        super::openapi::ReadObjectErrors,
    ),
    security(("session" = []), ("bearer" = [])),
)]
async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
) -> ApiResult<Json<NoteList>> {
    let mut c = state.app.pool().acquire().await?;
    readable_ticket(&mut c, &me, TicketId(id)).await?;
    let items = sqlx::query_as(
        "SELECT n.id, n.body, n.author_user_id, u.name AS author_name, n.created_at
         FROM ticket_notes n LEFT JOIN users u ON u.id = n.author_user_id
         WHERE n.ticket_id = ? ORDER BY n.id",
    )
    .bind(id)
    .fetch_all(&mut *c)
    .await?;
    Ok(Json(NoteList { items }))
}
