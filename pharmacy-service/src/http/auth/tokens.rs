//! Bearer API tokens for integrations: made by admins, shown once, stored as SHA-256 hashes;
//! revoked by hand, or with every other token of their user when that user's password is
//! changed or reset.

use super::{Admin, random_secret, sha256_hex};
use crate::app::ApiToken;
use crate::domain::ids::UserId;
use crate::http::AppState;
use crate::http::error::{ApiError, ApiJson, ApiResult, Id};
use crate::http::views::auth::TokenCreated;
use crate::http::views::{Done, Items};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

/// The live token with this hash: its id and user. Records its use.
pub(super) async fn resolve(state: &AppState, hash: &str) -> ApiResult<(i64, UserId)> {
    state
        .app
        .use_api_token(hash)
        .await?
        .ok_or(ApiError::Unauthenticated)
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

/// `POST /api/tokens`: creates a bearer token; the secret is shown once.
#[utoipa::path(
    post,
    path = "/api/tokens",
    tag = "auth",
    operation_id = "create_token",
    summary = "Create a bearer API token (the secret is shown once)",
    request_body = NewToken,
    responses(
        (status = 201, description = "Created", body = TokenCreated),
        crate::http::openapi::WriteErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
pub async fn create_token(
    State(state): State<AppState>,
    Admin(me): Admin,
    ApiJson(r): ApiJson<NewToken>,
) -> ApiResult<(StatusCode, Json<TokenCreated>)> {
    let user = r.user_id.unwrap_or(me.id);
    let secret = format!("pst_{}", random_secret());
    let id = state
        .app
        .create_api_token(me.id, &r.name, user, &sha256_hex(&secret))
        .await?;
    let created = TokenCreated {
        id,
        name: r.name.trim().to_owned(),
        user_id: user,
        token: secret,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /api/tokens`: every token (admin), without secrets.
#[utoipa::path(
    get,
    path = "/api/tokens",
    tag = "auth",
    operation_id = "list_tokens",
    summary = "API tokens (never their secrets)",
    responses(
        (status = 200, description = "Tokens", body = Items<ApiToken>),
        crate::http::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
pub async fn list_tokens(
    State(state): State<AppState>,
    Admin(_): Admin,
) -> ApiResult<Json<Items<ApiToken>>> {
    Ok(Json(Items::of(state.app.api_tokens().await?)))
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
        (status = 200, description = "Revoked", body = Done),
        crate::http::openapi::WriteObjectErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    Admin(me): Admin,
    Id(id): Id,
) -> ApiResult<Json<Done>> {
    state.app.revoke_api_token(me.id, id).await?;
    Ok(Json(Done::OK))
}
