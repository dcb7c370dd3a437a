//! `GET /api/tickets/{id}/notes`: a ticket's internal notes with their authors' names, for the
//! customer panel (anyone who may read the ticket; the customer never sees them).

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiResult, Id};
use super::page::Items;
use crate::app::NoteEntry;
use crate::domain::ids::TicketId;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/tickets/{id}/notes", get(list))
}

#[utoipa::path(
    get,
    path = "/api/tickets/{id}/notes",
    tag = "tickets",
    operation_id = "list_ticket_notes",
    summary = "A ticket's internal notes, oldest first, with their authors' names",
    params(("id" = i64, Path, description = "Ticket id", example = 1)),
    responses(
        (status = 200, description = "The notes", body = Items<NoteEntry>),
        super::openapi::ReadObjectErrors,
    ),
    security(("session" = []), ("bearer" = [])),
)]
async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
) -> ApiResult<Json<Items<NoteEntry>>> {
    let notes = state.app.ticket_notes(&me.caller(), TicketId(id)).await?;
    Ok(Json(notes.into()))
}
