//! Bearer API tokens for integrations: made by admins, shown once, stored as SHA-256 hashes;
//! revoked by hand, or with every other token of their user when that user's password is
//! changed or reset.

use super::{Admin, random_secret, sha256_hex};
use crate::db;
use crate::domain::ids::UserId;
use crate::domain::time::Timestamp;
use crate::http::AppState;
use crate::http::error::{ApiError, ApiJson, ApiResult, Id};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The live token with this hash: its id and user. Records its use.
pub(super) async fn resolve(state: &AppState, hash: &str) -> ApiResult<(i64, UserId)> {
    let row: Option<(i64, UserId)> = sqlx::query_as(
        "SELECT id, user_id FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL",
    )
    .bind(hash)
    .fetch_optional(state.app.pool())
    .await?;
    let (id, user) = row.ok_or(ApiError::Unauthenticated)?;
    sqlx::query("UPDATE api_tokens SET last_used_at = ? WHERE id = ?")
        .bind(state.app.now())
        .bind(id)
        .execute(state.app.pool())
        .await?;
    Ok((id, user))
}

/// `POST /api/tokens` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewToken {
    /// What it is for.
    #[schema(min_length = 1)]
    pub name: String,
    /// Acts as this user (default: the caller).
    #[serde(default)]
    pub user_id: Option<UserId>,
}

/// An API token row (never with the secret).
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TokenView {
    /// Id.
    pub id: i64,
    /// What it is for.
    pub name: String,
    /// Acts as.
    pub user_id: UserId,
    /// Created by.
    pub created_by: Option<UserId>,
    /// Created.
    pub created_at: Timestamp,
    /// Last use.
    pub last_used_at: Option<Timestamp>,
    /// Revoked.
    pub revoked_at: Option<Timestamp>,
}

/// `POST /api/tokens`: creates a bearer token; the secret is shown once.
#[utoipa::path(
    post,
    path = "/api/tokens",
    tag = "auth",
    operation_id = "create_token",
    summary = "Create a bearer API token (the secret is shown once)",
    request_body = NewToken,
    responses(
        (status = 201, description = "Created", body = crate::http::openapi::TokenCreated),
        crate::http::openapi::WriteErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
pub async fn create_token(
    State(state): State<AppState>,
    Admin(me): Admin,
    ApiJson(r): ApiJson<NewToken>,
) -> ApiResult<(axum::http::StatusCode, Json<serde_json::Value>)> {
    if r.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "required"));
    }
    let user = r.user_id.unwrap_or(me.id);
    let mut c = state.app.pool().acquire().await?;
    if db::users::by_id(&mut c, user).await?.is_none() {
        return Err(ApiError::invalid("user_id", "no such user"));
    }
    drop(c);
    let secret = format!("pst_{}", random_secret());
    let now = state.app.now();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO api_tokens (name, token_hash, user_id, created_by, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(r.name.trim())
    .bind(sha256_hex(&secret))
    .bind(user)
    .bind(me.id)
    .bind(now)
    .fetch_one(state.app.pool())
    .await?;
    crate::http::audit(
        &state,
        Some(me.id),
        "token.created",
        Some(("api_token", id)),
        json!({ "name": r.name, "user_id": user }),
    )
    .await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(json!({ "id": id, "name": r.name.trim(), "user_id": user, "token": secret })),
    ))
}

/// `GET /api/tokens`: every token (admin), without secrets.
#[utoipa::path(
    get,
    path = "/api/tokens",
    tag = "auth",
    operation_id = "list_tokens",
    summary = "API tokens (never their secrets)",
    responses(
        (status = 200, description = "Tokens", body = crate::http::openapi::Items<TokenView>),
        crate::http::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
pub async fn list_tokens(
    State(state): State<AppState>,
    Admin(_): Admin,
) -> ApiResult<Json<serde_json::Value>> {
    let rows: Vec<TokenView> = sqlx::query_as(
        "SELECT id, name, user_id, created_by, created_at, last_used_at, revoked_at FROM api_tokens ORDER BY id",
    )
    .fetch_all(state.app.pool())
    .await?;
    Ok(Json(json!({ "items": rows })))
}

/// `DELETE /api/tokens/{id}`: revokes a token.
#[utoipa::path(
    delete,
    path = "/api/tokens/{id}",
    tag = "auth",
    operation_id = "revoke_token",
    summary = "Revoke an API token",
    params(("id" = i64, Path, description = "Token id", example = 1)),
    responses(
        (status = 200, description = "Revoked", body = crate::http::openapi::Done),
        crate::http::openapi::WriteObjectErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    Admin(me): Admin,
    Id(id): Id,
) -> ApiResult<Json<serde_json::Value>> {
    let r = sqlx::query("UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?")
        .bind(state.app.now())
        .bind(id)
        .execute(state.app.pool())
        .await?;
    if r.rows_affected() == 0 {
        return Err(ApiError::not_found(format!("token {id}")));
    }
    crate::http::audit(
        &state,
        Some(me.id),
        "token.revoked",
        Some(("api_token", id)),
        json!({}),
    )
    .await?;
    Ok(Json(json!({ "ok": true })))
}
