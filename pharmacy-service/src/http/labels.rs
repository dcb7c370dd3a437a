//! `/api/labels` (admins define them), `/api/tickets/{id}/labels/{label_id}` (the agents
//! working a ticket set them), `/api/analytics/labels` (the report), and removing a customer's
//! tag (`DELETE /api/customers/{id}/tags/{tag}`).

use super::AppState;
use super::agents::{RangeQuery, range};
use super::answers::TagsView;
use super::auth::{Admin, CurrentUser};
use super::error::{ApiJson, ApiQuery, ApiResult, Id, IdAnd};
use crate::app::{Label, LabelPatch, LabelReport};
use crate::domain::ids::{BranchId, CustomerId, LabelId, TicketId};
use crate::domain::label::LabelColor;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, patch, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/labels", get(list).post(create))
        .route("/api/labels/{id}", patch(update))
        .route(
            "/api/tickets/{id}/labels/{label_id}",
            put(attach).delete(detach),
        )
        .route("/api/analytics/labels", get(report))
        .route(
            "/api/customers/{id}/tags/{tag}",
            axum::routing::delete(remove_tag),
        )
}

/// Every label.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LabelsView {
    /// By name; archived ones last (only when asked for).
    pub labels: Vec<Label>,
}

/// One label.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LabelView {
    /// The label as it is now.
    pub label: Label,
}

/// Query of `GET /api/labels`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LabelsQuery {
    /// Archived labels too (`true`), to show old tickets' labels and to restore one.
    pub archived: Option<bool>,
}

#[utoipa::path(
    get,
    path = "/api/labels",
    tag = "tickets",
    operation_id = "list_labels",
    summary = "The conversation labels",
    params(LabelsQuery),
    responses(
        (status = 200, description = "The labels", body = LabelsView),
        super::openapi::ReadErrors,
    ),
    security(("session" = []), ("bearer" = [])),
)]
async fn list(
    State(state): State<AppState>,
    _me: CurrentUser,
    ApiQuery(q): ApiQuery<LabelsQuery>,
) -> ApiResult<Json<LabelsView>> {
    let labels = state.app.labels(q.archived.unwrap_or(false)).await?;
    Ok(Json(LabelsView { labels }))
}

/// `POST /api/labels` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewLabel {
    /// Its name (1-40 characters, one line).
    #[schema(min_length = 1, max_length = 40)]
    pub name: String,
    /// Its colour (default gray).
    pub color: Option<LabelColor>,
}

#[utoipa::path(
    post,
    path = "/api/labels",
    tag = "tickets",
    operation_id = "create_label",
    summary = "Add a conversation label",
    request_body = NewLabel,
    responses(
        (status = 201, description = "The label", body = LabelView),
        super::openapi::WriteErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn create(
    State(state): State<AppState>,
    Admin(me): Admin,
    ApiJson(r): ApiJson<NewLabel>,
) -> ApiResult<(StatusCode, Json<LabelView>)> {
    let label = state
        .app
        .create_label(me.id, &r.name, r.color.unwrap_or(LabelColor::Gray))
        .await?;
    Ok((StatusCode::CREATED, Json(LabelView { label })))
}

/// `PATCH /api/labels/{id}` body (absent fields stay).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct LabelChange {
    /// New name.
    #[schema(min_length = 1, max_length = 40)]
    pub name: Option<String>,
    /// New colour.
    pub color: Option<LabelColor>,
    /// Archive (`true`: no longer offered, kept on tickets and in reports) or restore.
    pub archived: Option<bool>,
}

#[utoipa::path(
    patch,
    path = "/api/labels/{id}",
    tag = "tickets",
    operation_id = "update_label",
    summary = "Rename, recolour, archive or restore a label",
    params(("id" = i64, Path, description = "Label id", example = 1)),
    request_body = LabelChange,
    responses(
        (status = 200, description = "The label", body = LabelView),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn update(
    State(state): State<AppState>,
    Admin(me): Admin,
    Id(id): Id,
    ApiJson(r): ApiJson<LabelChange>,
) -> ApiResult<Json<LabelView>> {
    let patch = LabelPatch {
        name: r.name,
        color: r.color,
        archived: r.archived,
    };
    let label = state.app.update_label(me.id, LabelId(id), &patch).await?;
    Ok(Json(LabelView { label }))
}

/// A ticket's labels after a change.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TicketLabelsView {
    /// The ticket.
    pub ticket_id: TicketId,
    /// Its labels now, by name.
    pub labels: Vec<Label>,
}

#[utoipa::path(
    put,
    path = "/api/tickets/{id}/labels/{label_id}",
    tag = "tickets",
    operation_id = "label_ticket",
    summary = "Put a label on a ticket (idempotent)",
    description = "For whoever works the ticket (its agent, its branch's queue, admins). An archived label is a 422; a ticket carries at most 8.",
    params(
        ("id" = i64, Path, description = "Ticket id", example = 1),
        ("label_id" = i64, Path, description = "Label id", example = 1),
    ),
    responses(
        (status = 200, description = "The ticket's labels", body = TicketLabelsView),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
async fn attach(
    State(state): State<AppState>,
    me: CurrentUser,
    IdAnd(id, label): IdAnd<i64>,
) -> ApiResult<Json<TicketLabelsView>> {
    let labels = state
        .app
        .label_ticket(&me.caller(), TicketId(id), LabelId(label))
        .await?;
    Ok(Json(TicketLabelsView {
        ticket_id: TicketId(id),
        labels,
    }))
}

#[utoipa::path(
    delete,
    path = "/api/tickets/{id}/labels/{label_id}",
    tag = "tickets",
    operation_id = "unlabel_ticket",
    summary = "Take a label off a ticket (idempotent)",
    params(
        ("id" = i64, Path, description = "Ticket id", example = 1),
        ("label_id" = i64, Path, description = "Label id", example = 1),
    ),
    responses(
        (status = 200, description = "The ticket's labels", body = TicketLabelsView),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
async fn detach(
    State(state): State<AppState>,
    me: CurrentUser,
    IdAnd(id, label): IdAnd<i64>,
) -> ApiResult<Json<TicketLabelsView>> {
    let labels = state
        .app
        .unlabel_ticket(&me.caller(), TicketId(id), LabelId(label))
        .await?;
    Ok(Json(TicketLabelsView {
        ticket_id: TicketId(id),
        labels,
    }))
}

/// Query of `GET /api/analytics/labels`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LabelReportQuery {
    /// First day (default today).
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<jiff::civil::Date>,
    /// Last day, inclusive (default today).
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<jiff::civil::Date>,
    /// Only this branch.
    pub branch: Option<BranchId>,
}

#[utoipa::path(
    get,
    path = "/api/analytics/labels",
    tag = "analytics",
    operation_id = "label_report",
    summary = "Tickets per label and branch",
    description = "Tickets opened on the range's days (the service's time zone) that carry each label, and how many of them are closed.",
    params(LabelReportQuery),
    responses(
        (status = 200, description = "The report", body = LabelReport),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn report(
    State(state): State<AppState>,
    Admin(_): Admin,
    ApiQuery(q): ApiQuery<LabelReportQuery>,
) -> ApiResult<Json<LabelReport>> {
    let r = range(
        &state,
        &RangeQuery {
            from: q.from,
            to: q.to,
        },
    )?;
    Ok(Json(state.app.label_report(r, q.branch).await?))
}

#[utoipa::path(
    delete,
    path = "/api/customers/{id}/tags/{tag}",
    tag = "customers",
    operation_id = "remove_customer_tag",
    summary = "Remove a tag (idempotent)",
    params(
        ("id" = i64, Path, description = "Customer id", example = 1),
        ("tag" = String, Path, description = "The tag", example = "vip"),
    ),
    responses(
        (status = 200, description = "The tags left", body = TagsView),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
async fn remove_tag(
    State(state): State<AppState>,
    me: CurrentUser,
    IdAnd(id, tag): IdAnd<String>,
) -> ApiResult<Json<TagsView>> {
    state
        .app
        .readable_customer(&me.caller(), CustomerId(id))
        .await?;
    let tags = state
        .app
        .remove_customer_tag(CustomerId(id), me.id, &tag)
        .await?;
    Ok(Json(TagsView { tags }))
}
