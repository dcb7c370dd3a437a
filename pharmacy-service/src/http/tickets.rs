//! `/api/tickets`: the inbox list, one ticket, manual creation, edits, close, transfer, notes.

use super::AppState;
use super::answers::{TicketDetailView, TicketNoteView, TicketView};
use super::auth::{Admin, CurrentUser};
use super::error::{ApiError, ApiJson, ApiQuery, ApiResult, Id};
use super::page::{Done, Page, page_size};
use crate::app::{InboxItem, TicketFilter, TransferTarget};
use crate::domain::ids::{AgentId, BranchId, CustomerId, LabelId, TicketId};
use crate::domain::ticket::{Priority, TicketStatus};
use crate::domain::time::Timestamp;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/tickets", get(list).post(create))
        .route(
            "/api/tickets/{id}",
            get(detail).patch(update).delete(remove),
        )
        .route("/api/tickets/{id}/close", post(close))
        .route("/api/tickets/{id}/reopen", post(reopen))
        .route("/api/tickets/{id}/transfer", post(transfer))
        .route("/api/tickets/{id}/notes", post(add_note))
}

/// Query of `GET /api/tickets` (all optional).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `open`, `pending` or `closed`.
    pub status: Option<TicketStatus>,
    /// Branch id.
    pub branch: Option<BranchId>,
    /// Agent id.
    pub agent: Option<AgentId>,
    /// Customer id.
    pub customer: Option<CustomerId>,
    /// Only unassigned (`true`).
    pub unassigned: Option<bool>,
    /// Only tickets carried over from the old system and not reviewed yet (`true`), or only
    /// the others (`false`).
    pub carried_over: Option<bool>,
    /// Only tickets carrying this label.
    pub label: Option<LabelId>,
    /// Free text over the customer's name, number, e-mail.
    pub text: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size (1-200, default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

fn parse_cursor(c: &Option<String>) -> ApiResult<Option<(Timestamp, TicketId)>> {
    let Some(s) = c.as_deref().filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let bad = || ApiError::invalid("cursor", "not a cursor from this API");
    let (a, b) = s.split_once('.').ok_or_else(bad)?;
    Ok(Some((
        Timestamp(a.parse().map_err(|_| bad())?),
        TicketId(b.parse().map_err(|_| bad())?),
    )))
}

#[utoipa::path(
    get,
    path = "/api/tickets",
    tag = "tickets",
    operation_id = "list_tickets",
    summary = "The inbox, newest activity first (filters, cursor pagination)",
    description = "Agents see the tickets assigned to them and their branch's unassigned queue, and the whole history of a customer they serve (`customer=`); admins see everything.",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of tickets with their customers", body = Page<InboxItem>),
        super::openapi::ReadErrors,
    ),
    security(("session" = []), ("bearer" = [])),
)]
async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page<InboxItem>>> {
    let lim = page_size(q.limit)?;
    let filter = TicketFilter {
        status: q.status,
        branch_id: q.branch,
        agent_id: q.agent,
        customer_id: q.customer,
        unassigned: q.unassigned,
        carried_over: q.carried_over,
        label_id: q.label,
        ..TicketFilter::default()
    };
    let text = q.text.as_deref().filter(|t| !t.trim().is_empty());
    let rows = state
        .app
        .inbox(&me.caller(), filter, text, parse_cursor(&q.cursor)?, lim)
        .await?;
    Ok(Json(Page::of(rows, lim, true, |r| {
        format!("{}.{}", r.ticket.last_activity_at.0, r.ticket.id)
    })))
}

#[utoipa::path(
    get,
    path = "/api/tickets/{id}",
    tag = "tickets",
    operation_id = "get_ticket",
    summary = "One ticket with its customer and logs",
    params(("id" = i64, Path, description = "Ticket id", example = 1)),
    responses(
        (status = 200, description = "The ticket", body = TicketDetailView),
        super::openapi::ReadObjectErrors,
    ),
    security(("session" = []), ("bearer" = [])),
)]
async fn detail(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
) -> ApiResult<Json<TicketDetailView>> {
    state
        .app
        .readable_ticket(&me.caller(), TicketId(id))
        .await?;
    let detail = state.app.ticket_detail(TicketId(id)).await?;
    Ok(Json(TicketDetailView {
        can_act: me.caller().works_on(&detail.ticket),
        detail,
    }))
}

/// `POST /api/tickets` body: a ticket opened by hand (a phone call, a walk-in).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewTicket {
    /// The customer.
    pub customer_id: CustomerId,
    /// Subject.
    #[serde(default)]
    pub subject: Option<String>,
    /// Priority.
    #[serde(default)]
    pub priority: Option<Priority>,
}

#[utoipa::path(
    post,
    path = "/api/tickets",
    tag = "tickets",
    operation_id = "create_ticket",
    summary = "Open a ticket by hand (a call, a walk-in)",
    description = "Admins: for any customer. Agents: only for a customer they serve (a ticket of theirs that is not closed) or one they just added with `POST /api/customers` and that has no ticket yet; any other customer answers 404, as one that does not exist.",
    request_body = NewTicket,
    responses(
        (status = 201, description = "Opened", body = TicketView, links(("GetTicket" = (operation_id = "get_ticket", parameters(("id" = "$response.body#/ticket/id")))), ("UpdateTicket" = (operation_id = "update_ticket", parameters(("id" = "$response.body#/ticket/id")))), ("CloseTicket" = (operation_id = "close_ticket", parameters(("id" = "$response.body#/ticket/id")))), ("ReopenTicket" = (operation_id = "reopen_ticket", parameters(("id" = "$response.body#/ticket/id")))), ("TransferTicket" = (operation_id = "transfer_ticket", parameters(("id" = "$response.body#/ticket/id")))), ("AddTicketNote" = (operation_id = "add_ticket_note", parameters(("id" = "$response.body#/ticket/id")))))),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
async fn create(
    State(state): State<AppState>,
    me: CurrentUser,
    ApiJson(r): ApiJson<NewTicket>,
) -> ApiResult<(StatusCode, Json<TicketView>)> {
    let t = state
        .app
        .create_ticket(r.customer_id, me.id, r.subject.as_deref(), r.priority)
        .await
        .map_err(|e| match e {
            // The same answer for a customer that does not exist and one the agent may not
            // open a ticket for, so the answer tells nothing about other branches.
            crate::app::AppError::NotFound {
                entity: "customer", ..
            } => ApiError::not_found(format!("customer {}", r.customer_id)),
            crate::app::AppError::Conflict(_) if !me.is_admin() => {
                ApiError::Conflict("the customer already has an open ticket".into())
            }
            e => e.into(),
        })?;
    Ok((StatusCode::CREATED, Json(TicketView { ticket: t })))
}

/// `PATCH /api/tickets/{id}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TicketPatch {
    /// New priority.
    #[serde(default)]
    pub priority: Option<Priority>,
    /// New subject.
    #[serde(default)]
    pub subject: Option<String>,
    /// `pending` (waiting on the customer) or `open`.
    #[serde(default)]
    pub status: Option<TicketStatus>,
}

#[utoipa::path(
    patch,
    path = "/api/tickets/{id}",
    tag = "tickets",
    operation_id = "update_ticket",
    summary = "Change priority, subject, or pending/open",
    params(("id" = i64, Path, description = "Ticket id", example = 1)),
    request_body = TicketPatch,
    responses(
        (status = 200, description = "The ticket", body = TicketView),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
async fn update(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
    ApiJson(p): ApiJson<TicketPatch>,
) -> ApiResult<Json<TicketView>> {
    let id = TicketId(id);
    state.app.workable_ticket(&me.caller(), id).await?;
    if p.priority.is_some() || p.subject.is_some() {
        state
            .app
            .patch_ticket(id, me.id, p.priority, p.subject.as_deref())
            .await?;
    }
    match p.status {
        None => {}
        Some(TicketStatus::Pending) => {
            state.app.set_pending(id, me.actor(), true).await?;
        }
        Some(TicketStatus::Open) => {
            state.app.set_pending(id, me.actor(), false).await?;
        }
        Some(TicketStatus::Closed) => {
            return Err(ApiError::invalid(
                "status",
                "use POST /api/tickets/{id}/close",
            ));
        }
    }
    let ticket = state.app.readable_ticket(&me.caller(), id).await?;
    Ok(Json(TicketView { ticket }))
}

#[utoipa::path(
    delete,
    path = "/api/tickets/{id}",
    tag = "tickets",
    operation_id = "delete_ticket",
    summary = "Delete a ticket and its messages",
    params(("id" = i64, Path, description = "Ticket id", example = 1)),
    responses(
        (status = 200, description = "Deleted", body = Done),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn remove(
    State(state): State<AppState>,
    Admin(me): Admin,
    Id(id): Id,
) -> ApiResult<Json<Done>> {
    state.app.delete_ticket(TicketId(id), me.id).await?;
    Ok(Json(Done::OK))
}

/// `POST /api/tickets/{id}/close` body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct CloseRequest {
    /// Why (default `resolved`).
    #[serde(default)]
    pub reason: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/tickets/{id}/close",
    tag = "tickets",
    operation_id = "close_ticket",
    summary = "Close (the body is optional)",
    params(("id" = i64, Path, description = "Ticket id", example = 1)),
    request_body(content = Option<CloseRequest>, content_type = "application/json"),
    responses(
        (status = 200, description = "Closed", body = TicketView),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
async fn close(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
    body: axum::body::Bytes,
) -> ApiResult<Json<TicketView>> {
    let body: CloseRequest = super::error::optional_json(&body)?;
    state
        .app
        .workable_ticket(&me.caller(), TicketId(id))
        .await?;
    let reason = body.reason.filter(|r| !r.trim().is_empty());
    let t = state
        .app
        .close_ticket(TicketId(id), me.actor(), reason.as_deref())
        .await?;
    Ok(Json(TicketView { ticket: t }))
}

#[utoipa::path(
    post,
    path = "/api/tickets/{id}/reopen",
    tag = "tickets",
    operation_id = "reopen_ticket",
    summary = "Reopen a closed ticket",
    params(("id" = i64, Path, description = "Ticket id", example = 1)),
    responses(
        (status = 200, description = "Reopened", body = TicketView),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
async fn reopen(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
) -> ApiResult<Json<TicketView>> {
    // An agent may reopen a ticket they worked on or one of a customer they serve.
    state
        .app
        .readable_ticket(&me.caller(), TicketId(id))
        .await?;
    let t = state.app.reopen_ticket(TicketId(id), me.actor()).await?;
    Ok(Json(TicketView { ticket: t }))
}

/// `POST /api/tickets/{id}/transfer` body: exactly one of `agent_id` and `branch_id`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TransferRequest {
    /// To this agent.
    #[serde(default)]
    pub agent_id: Option<AgentId>,
    /// To this branch (its least-loaded agent, or its queue).
    #[serde(default)]
    pub branch_id: Option<BranchId>,
    /// Why (required).
    #[schema(min_length = 1)]
    pub note: String,
}

#[utoipa::path(
    post,
    path = "/api/tickets/{id}/transfer",
    tag = "tickets",
    operation_id = "transfer_ticket",
    summary = "Transfer to an agent or a branch",
    params(("id" = i64, Path, description = "Ticket id", example = 1)),
    request_body = TransferRequest,
    responses(
        (status = 200, description = "Transferred", body = TicketView),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
async fn transfer(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
    ApiJson(r): ApiJson<TransferRequest>,
) -> ApiResult<Json<TicketView>> {
    state
        .app
        .workable_ticket(&me.caller(), TicketId(id))
        .await?;
    let target = transfer_target(r.agent_id, r.branch_id)?;
    let t = state
        .app
        .transfer_ticket(TicketId(id), me.id, target, &r.note)
        .await
        .map_err(transfer_error)?;
    Ok(Json(TicketView { ticket: t }))
}

/// Where a transfer goes: exactly one of an agent and a branch.
pub(crate) fn transfer_target(
    agent: Option<AgentId>,
    branch: Option<BranchId>,
) -> ApiResult<TransferTarget> {
    match (agent, branch) {
        (Some(a), None) => Ok(TransferTarget::Agent(a)),
        (None, Some(b)) => Ok(TransferTarget::Branch(b)),
        _ => Err(ApiError::invalid(
            "agent_id",
            "give exactly one of agent_id and branch_id",
        )),
    }
}

/// A transfer to an agent or branch that does not exist is a bad request, not a missing ticket.
pub(crate) fn transfer_error(e: crate::app::AppError) -> ApiError {
    match e {
        crate::app::AppError::NotFound { entity, .. } if entity != "ticket" => {
            ApiError::invalid(format!("{entity}_id"), format!("no such {entity}"))
        }
        e => e.into(),
    }
}

#[utoipa::path(
    post,
    path = "/api/tickets/{id}/notes",
    tag = "tickets",
    operation_id = "add_ticket_note",
    summary = "Add an internal note",
    params(("id" = i64, Path, description = "Ticket id", example = 1)),
    request_body = super::customers::NoteBody,
    responses(
        (status = 201, description = "Added", body = TicketNoteView),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
async fn add_note(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
    ApiJson(r): ApiJson<super::customers::NoteBody>,
) -> ApiResult<(StatusCode, Json<TicketNoteView>)> {
    state
        .app
        .workable_ticket(&me.caller(), TicketId(id))
        .await?;
    let note = state
        .app
        .add_ticket_note(TicketId(id), me.id, &r.body)
        .await?;
    Ok((StatusCode::CREATED, Json(TicketNoteView { note })))
}
