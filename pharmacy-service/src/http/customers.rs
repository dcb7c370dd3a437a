//! `/api/customers`: list and search, one customer (tags, notes), create, patch, notes, tags,
//! history (earlier tickets and ratings).

use super::access::readable_customer;
use super::auth::CurrentUser;
use super::error::{ApiError, ApiJson, ApiQuery, ApiResult, Id, limit, parse_opt};
use super::{AppState, audit};
use crate::db;
use crate::db::customers::{Customer, CustomerPatch};
use crate::domain::ids::{BranchId, CustomerId};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

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
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// Free text (name, number in either spelling, e-mail).
    pub q: Option<String>,
    /// The `next_cursor` of the previous page (a customer id).
    pub cursor: Option<String>,
    /// Page size.
    pub limit: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Value>> {
    let lim = limit(&q.limit)?;
    let before: Option<i64> = parse_opt(&q.cursor, "cursor")?;
    let text = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let mut rows: Vec<Customer> = if me.is_admin() {
        match text {
            Some(t) => state.app.search_customers(t, lim).await?,
            None => {
                let mut c = state.app.pool().acquire().await?;
                db::customers::list(&mut c, before.map(CustomerId), lim).await?
            }
        }
    } else {
        let Some(agent) = me.agent_id else {
            return Ok(Json(json!({ "items": [], "next_cursor": null })));
        };
        // The customers they serve now.
        let served: Vec<Customer> = sqlx::query_as(
            "SELECT cu.* FROM customers cu WHERE cu.id < ?2 AND cu.id IN (
                SELECT customer_id FROM tickets WHERE status <> 'closed' AND agent_id = ?1)
             ORDER BY cu.id DESC LIMIT ?3",
        )
        .bind(agent)
        .bind(before.unwrap_or(i64::MAX))
        .bind(lim)
        .fetch_all(state.app.pool())
        .await?;
        match text {
            Some(t) => {
                let found = state.app.search_customers(t, 500).await?;
                served
                    .into_iter()
                    .filter(|c| found.iter().any(|f| f.id == c.id))
                    .collect()
            }
            None => served,
        }
    };
    rows.truncate(lim as usize);
    let next = (text.is_none() && rows.len() as i64 == lim)
        .then(|| rows.last().map(|c| c.id.0.to_string()))
        .flatten();
    Ok(Json(json!({ "items": rows, "next_cursor": next })))
}

async fn detail(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let mut c = state.app.pool().acquire().await?;
    let cu = readable_customer(&mut c, &me, CustomerId(id)).await?;
    let tags = db::customers::tags(&mut c, cu.id).await?;
    let notes = db::customers::notes(&mut c, cu.id).await?;
    Ok(Json(
        json!({ "customer": cu, "tags": tags, "notes": notes }),
    ))
}

/// `POST /api/customers` body.
#[derive(Debug, Deserialize)]
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

async fn create(
    State(state): State<AppState>,
    me: CurrentUser,
    ApiJson(r): ApiJson<NewCustomer>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let phone = crate::domain::phone::normalize_phone(&r.phone)
        .map_err(|e| ApiError::invalid("phone", e.to_string()))?;
    let now = state.app.now();
    let mut tx = state.app.begin().await?;
    if db::customers::by_phone(&mut tx, phone.as_str())
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict(
            "a customer with this number exists".into(),
        ));
    }
    if let Some(b) = r.home_branch_id
        && db::branches::by_id(&mut tx, b).await?.is_none()
    {
        return Err(ApiError::invalid("home_branch_id", "no such branch"));
    }
    let id = db::customers::insert(
        &mut tx,
        Some(phone.as_str()),
        None,
        r.name.as_deref(),
        None,
        "api",
        now,
    )
    .await?;
    db::customers::patch(
        &mut tx,
        id,
        &CustomerPatch {
            name: None,
            email: r.email.clone(),
            home_branch_id: r.home_branch_id,
        },
        now,
    )
    .await?;
    db::activity::log(
        &mut tx,
        Some(me.id),
        "customer.created",
        Some(("customer", id.0)),
        None,
        now,
    )
    .await?;
    let cu = db::customers::by_id(&mut tx, id)
        .await?
        .ok_or(ApiError::Internal)?;
    tx.commit().await.map_err(ApiError::from)?;
    state
        .app
        .publish_all(vec![crate::app::LiveEvent::NewCustomer {
            customer: cu.clone(),
        }]);
    Ok((StatusCode::CREATED, Json(json!({ "customer": cu }))))
}

/// `PATCH /api/customers/{id}` body.
#[derive(Debug, Default, Deserialize)]
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

async fn update(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
    ApiJson(p): ApiJson<PatchBody>,
) -> ApiResult<Json<Value>> {
    let mut c = state.app.pool().acquire().await?;
    readable_customer(&mut c, &me, CustomerId(id)).await?;
    if let Some(b) = p.home_branch_id
        && db::branches::by_id(&mut c, b).await?.is_none()
    {
        return Err(ApiError::invalid("home_branch_id", "no such branch"));
    }
    drop(c);
    let now = state.app.now();
    let mut tx = state.app.begin().await?;
    db::customers::patch(
        &mut tx,
        CustomerId(id),
        &CustomerPatch {
            name: p.name.clone(),
            email: p.email.clone(),
            home_branch_id: p.home_branch_id,
        },
        now,
    )
    .await?;
    db::activity::log(
        &mut tx,
        Some(me.id),
        "customer.updated",
        Some(("customer", id)),
        Some(&json!({ "name": p.name, "email": p.email, "home_branch_id": p.home_branch_id })),
        now,
    )
    .await?;
    let cu = db::customers::by_id(&mut tx, CustomerId(id))
        .await?
        .ok_or(ApiError::Internal)?;
    tx.commit().await.map_err(ApiError::from)?;
    Ok(Json(json!({ "customer": cu })))
}

/// `POST /api/customers/{id}/notes` body.
#[derive(Debug, Deserialize)]
pub struct NoteBody {
    /// The note.
    pub body: String,
}

async fn add_note(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
    ApiJson(r): ApiJson<NoteBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if r.body.trim().is_empty() {
        return Err(ApiError::invalid("body", "required"));
    }
    let mut c = state.app.pool().acquire().await?;
    readable_customer(&mut c, &me, CustomerId(id)).await?;
    let now = state.app.now();
    let nid = db::customers::add_note(&mut c, CustomerId(id), me.id, r.body.trim(), now).await?;
    drop(c);
    audit(
        &state,
        Some(me.id),
        "customer.note",
        Some(("customer", id)),
        json!({ "note_id": nid }),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "note": { "id": nid, "customer_id": id, "author_user_id": me.id, "body": r.body.trim(), "created_at": now } }),
        ),
    ))
}

/// `POST /api/customers/{id}/tags` body.
#[derive(Debug, Deserialize)]
pub struct TagBody {
    /// The tag.
    pub tag: String,
}

async fn add_tag(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
    ApiJson(r): ApiJson<TagBody>,
) -> ApiResult<Json<Value>> {
    let tag = r.tag.trim();
    if tag.is_empty() || tag.chars().count() > 40 {
        return Err(ApiError::invalid("tag", "1 to 40 characters"));
    }
    let mut c = state.app.pool().acquire().await?;
    readable_customer(&mut c, &me, CustomerId(id)).await?;
    db::customers::add_tag(&mut c, CustomerId(id), tag, state.app.now()).await?;
    let tags = db::customers::tags(&mut c, CustomerId(id)).await?;
    drop(c);
    audit(
        &state,
        Some(me.id),
        "customer.tagged",
        Some(("customer", id)),
        json!({ "tag": tag }),
    )
    .await?;
    Ok(Json(json!({ "tags": tags })))
}

#[derive(Debug, serde::Serialize, sqlx::FromRow)]
struct Rating {
    ticket_id: i64,
    agent_id: Option<i64>,
    rating: i64,
    at: i64,
}

async fn history(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let mut c = state.app.pool().acquire().await?;
    let cu = readable_customer(&mut c, &me, CustomerId(id)).await?;
    let tickets: Vec<db::tickets::Ticket> =
        sqlx::query_as("SELECT * FROM tickets WHERE customer_id = ? ORDER BY id DESC LIMIT 200")
            .bind(cu.id)
            .fetch_all(&mut *c)
            .await?;
    let ratings: Vec<Rating> = sqlx::query_as(
        "SELECT ticket_id, agent_id, rating, at FROM csat_ratings WHERE customer_id = ? ORDER BY id DESC",
    )
    .bind(cu.id)
    .fetch_all(&mut *c)
    .await?;
    Ok(Json(
        json!({ "customer": cu, "tickets": tickets, "ratings": ratings }),
    ))
}
