//! `/api/customers`: list and search, one customer (tags, notes), create, patch, notes, tags,
//! history (earlier tickets and ratings).

use super::AppState;
use super::answers::{CustomerNoteView, CustomerView, TagsView};
use super::auth::CurrentUser;
use super::error::{ApiError, ApiJson, ApiQuery, ApiResult, Id};
use super::page::{Page, page_size};
use crate::app::{Customer, CustomerDetail, CustomerHistory, CustomerPatch};
use crate::domain::ids::{BranchId, CustomerId};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/customers", get(list).post(create))
        .route("/api/customers/{id}", get(detail).patch(update))
        .route("/api/customers/{id}/notes", post(add_note))
        .route("/api/customers/{id}/tags", post(add_tag))
        .route("/api/customers/{id}/history", get(history))
}

/// Query of `GET /api/customers`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Free text (name, number in either spelling, e-mail).
    pub q: Option<String>,
    /// The `next_cursor` of the previous page (a customer id).
    pub cursor: Option<CustomerId>,
    /// Page size.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/api/customers",
    tag = "customers",
    operation_id = "list_customers",
    summary = "Customers (search, cursor pagination)",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of customers (agents: the ones they serve)", body = Page<Customer>),
        super::openapi::ReadErrors,
    ),
    security(("session" = []), ("bearer" = [])),
)]
async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page<Customer>>> {
    let lim = page_size(q.limit)?;
    let text = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let rows = state
        .app
        .customers_page(&me.caller(), text, q.cursor, lim)
        .await?;
    if text.is_some() {
        // A search is ranked, not paged.
        return Ok(Json(Page {
            items: rows,
            next_cursor: None,
        }));
    }
    Ok(Json(Page::of(rows, lim, true, |c| c.id.0.to_string())))
}

#[utoipa::path(
    get,
    path = "/api/customers/{id}",
    tag = "customers",
    operation_id = "get_customer",
    summary = "One customer with tags and notes",
    params(("id" = i64, Path, description = "Customer id", example = 1)),
    responses(
        (status = 200, description = "The customer", body = CustomerDetail),
        super::openapi::ReadObjectErrors,
    ),
    security(("session" = []), ("bearer" = [])),
)]
async fn detail(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
) -> ApiResult<Json<CustomerDetail>> {
    let d = state
        .app
        .customer_detail(&me.caller(), CustomerId(id))
        .await?;
    Ok(Json(d))
}

/// `POST /api/customers` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewCustomer {
    /// Phone number (Egyptian or international spelling).
    pub phone: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Home branch.
    #[serde(default)]
    pub home_branch_id: Option<BranchId>,
}

#[utoipa::path(
    post,
    path = "/api/customers",
    tag = "customers",
    operation_id = "create_customer",
    summary = "Create a customer",
    request_body = NewCustomer,
    responses(
        (status = 201, description = "Created", body = CustomerView, links(("GetCustomer" = (operation_id = "get_customer", parameters(("id" = "$response.body#/customer/id")))), ("UpdateCustomer" = (operation_id = "update_customer", parameters(("id" = "$response.body#/customer/id")))), ("AddCustomerNote" = (operation_id = "add_customer_note", parameters(("id" = "$response.body#/customer/id")))), ("AddCustomerTag" = (operation_id = "add_customer_tag", parameters(("id" = "$response.body#/customer/id")))), ("CustomerHistory" = (operation_id = "customer_history", parameters(("id" = "$response.body#/customer/id")))))),
        super::openapi::WriteErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
async fn create(
    State(state): State<AppState>,
    me: CurrentUser,
    ApiJson(r): ApiJson<NewCustomer>,
) -> ApiResult<(StatusCode, Json<CustomerView>)> {
    let details = CustomerPatch {
        name: r.name,
        email: r.email,
        home_branch_id: r.home_branch_id,
    };
    let cu = state
        .app
        .create_customer(&r.phone, &details, me.id)
        .await
        .map_err(branch_field)?;
    Ok((StatusCode::CREATED, Json(CustomerView { customer: cu })))
}

fn branch_field(e: crate::app::AppError) -> ApiError {
    match e {
        crate::app::AppError::NotFound {
            entity: "branch", ..
        } => ApiError::invalid("home_branch_id", "no such branch"),
        e => e.into(),
    }
}

/// `PATCH /api/customers/{id}` body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct PatchBody {
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Home branch.
    #[serde(default)]
    pub home_branch_id: Option<BranchId>,
}

#[utoipa::path(
    patch,
    path = "/api/customers/{id}",
    tag = "customers",
    operation_id = "update_customer",
    summary = "Edit a customer",
    params(("id" = i64, Path, description = "Customer id", example = 1)),
    request_body = PatchBody,
    responses(
        (status = 200, description = "The customer", body = CustomerView),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
async fn update(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
    ApiJson(p): ApiJson<PatchBody>,
) -> ApiResult<Json<CustomerView>> {
    state
        .app
        .readable_customer(&me.caller(), CustomerId(id))
        .await?;
    let cu = state
        .app
        .patch_customer(
            CustomerId(id),
            &CustomerPatch {
                name: p.name,
                email: p.email,
                home_branch_id: p.home_branch_id,
            },
            me.id,
        )
        .await
        .map_err(branch_field)?;
    Ok(Json(CustomerView { customer: cu }))
}

/// The body of `POST /api/customers/{id}/notes` and `POST /api/tickets/{id}/notes`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NoteBody {
    /// The note.
    #[schema(min_length = 1)]
    pub body: String,
}

#[utoipa::path(
    post,
    path = "/api/customers/{id}/notes",
    tag = "customers",
    operation_id = "add_customer_note",
    summary = "Add a note",
    params(("id" = i64, Path, description = "Customer id", example = 1)),
    request_body = NoteBody,
    responses(
        (status = 201, description = "Added", body = CustomerNoteView),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
async fn add_note(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
    ApiJson(r): ApiJson<NoteBody>,
) -> ApiResult<(StatusCode, Json<CustomerNoteView>)> {
    state
        .app
        .readable_customer(&me.caller(), CustomerId(id))
        .await?;
    let note = state
        .app
        .add_customer_note(CustomerId(id), me.id, &r.body)
        .await?;
    Ok((StatusCode::CREATED, Json(CustomerNoteView { note })))
}

/// `POST /api/customers/{id}/tags` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TagBody {
    /// The tag.
    #[schema(min_length = 1, max_length = 64)]
    pub tag: String,
}

#[utoipa::path(
    post,
    path = "/api/customers/{id}/tags",
    tag = "customers",
    operation_id = "add_customer_tag",
    summary = "Add a tag",
    params(("id" = i64, Path, description = "Customer id", example = 1)),
    request_body = TagBody,
    responses(
        (status = 200, description = "The tags", body = TagsView),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
async fn add_tag(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
    ApiJson(r): ApiJson<TagBody>,
) -> ApiResult<Json<TagsView>> {
    state
        .app
        .readable_customer(&me.caller(), CustomerId(id))
        .await?;
    let tags = state
        .app
        .add_customer_tag(CustomerId(id), me.id, &r.tag)
        .await?;
    Ok(Json(TagsView { tags }))
}

#[utoipa::path(
    get,
    path = "/api/customers/{id}/history",
    tag = "customers",
    operation_id = "customer_history",
    summary = "Earlier tickets, notes, tags and ratings",
    params(("id" = i64, Path, description = "Customer id", example = 1)),
    responses(
        (status = 200, description = "The history", body = CustomerHistory),
        super::openapi::ReadObjectErrors,
    ),
    security(("session" = []), ("bearer" = [])),
)]
async fn history(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
) -> ApiResult<Json<CustomerHistory>> {
    let cu = state
        .app
        .readable_customer(&me.caller(), CustomerId(id))
        .await?;
    Ok(Json(state.app.customer_history(cu.id).await?))
}
