//! Users: registration, password changes and resets, deactivation, the list.

use super::{Admin, Credential, CurrentUser, UserView, client_address, load_user, throttled};
use crate::app::{LoginOutcome, Role, User};
use crate::domain::ids::{BranchId, UserId};
use crate::http::AppState;
use crate::http::error::{ApiError, ApiJson, ApiResult, Id};
use crate::http::views::auth::{ActiveView, UserCreated};
use crate::http::views::{Done, Items};
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use std::net::SocketAddr;

/// `POST /auth/register` body (admin only).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RegisterRequest {
    /// Login name.
    #[schema(min_length = 1)]
    pub username: String,
    /// Display name.
    #[schema(min_length = 1)]
    pub name: String,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Password (8 characters at least).
    #[schema(min_length = 8)]
    pub password: String,
    /// `admin` or `agent`.
    pub role: Role,
    /// Agents: their branch (required).
    #[serde(default)]
    pub branch_id: Option<BranchId>,
    /// Agents: maximum open tickets.
    #[serde(default)]
    pub capacity: Option<u32>,
}

/// `POST /auth/register`: an admin creates an admin or an agent with a branch.
#[utoipa::path(
    post,
    path = "/auth/register",
    tag = "auth",
    operation_id = "register",
    summary = "Create an admin or an agent (with a branch)",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Created", body = UserCreated),
        crate::http::openapi::WriteErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
pub async fn register(
    State(state): State<AppState>,
    Admin(me): Admin,
    ApiJson(r): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<UserCreated>)> {
    if r.role == Role::Agent {
        let b = r
            .branch_id
            .ok_or_else(|| ApiError::invalid("branch_id", "agents need a branch"))?;
        if state.app.branch(b).await?.is_none() {
            return Err(ApiError::invalid("branch_id", "no such branch"));
        }
    }
    if r.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "required"));
    }
    let (id, _) = state
        .app
        .create_user(
            &crate::app::NewUser {
                username: r.username,
                name: r.name,
                email: r.email,
                password: r.password,
                role: r.role,
                branch_id: r.branch_id,
                capacity: r.capacity,
            },
            Some(me.id),
        )
        .await?;
    let u = load_user(&state, id, Credential::Token { id: 0 }).await?;
    let user = UserView::from(&u);
    Ok((StatusCode::CREATED, Json(UserCreated { user })))
}

/// `POST /auth/password` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PasswordChange {
    /// The current password.
    pub current_password: String,
    /// The new one (8 characters at least).
    #[schema(min_length = 8)]
    pub new_password: String,
}

/// `POST /auth/password`: change one's own password (other sessions end, API tokens are
/// revoked).
#[utoipa::path(
    post,
    path = "/auth/password",
    tag = "auth",
    operation_id = "change_password",
    summary = "Change your own password (your other sessions end, your API tokens are revoked)",
    description = "The current password is checked like a login (argon2id, throttled: 429 after repeated failures). Required before anything else for the first-run admin (`password_change_required`).",
    request_body = PasswordChange,
    responses(
        (status = 200, description = "Changed", body = Done),
        crate::http::openapi::PasswordChangeErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
pub async fn change_password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    me: CurrentUser,
    ApiJson(r): ApiJson<PasswordChange>,
) -> ApiResult<Json<Done>> {
    if r.new_password.chars().count() < 8 {
        return Err(ApiError::invalid("new_password", "at least 8 characters"));
    }
    let address = client_address(&state, &headers, peer);
    match state
        .app
        .check_current_password(me.id, &r.current_password, Some(&address))
        .await?
    {
        LoginOutcome::Accepted(_) => {}
        LoginOutcome::Refused => {
            return Err(ApiError::invalid("current_password", "does not match"));
        }
        LoginOutcome::Throttled(wait) => return Err(throttled(wait)),
    }
    let keep = match &me.credential {
        Credential::Session { hash, .. } => Some(hash.as_str()),
        Credential::Token { .. } => None,
    };
    if !state
        .app
        .set_password(me.id, &r.new_password, keep, me.id)
        .await?
    {
        return Err(ApiError::Unauthenticated);
    }
    Ok(Json(Done::OK))
}

/// `POST /api/users/{id}/password` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PasswordReset {
    /// The new password.
    #[schema(min_length = 8)]
    pub new_password: String,
}

/// `POST /api/users/{id}/password`: an admin resets a password (the user's sessions end, their
/// API tokens are revoked).
#[utoipa::path(
    post,
    path = "/api/users/{id}/password",
    tag = "auth",
    operation_id = "reset_password",
    summary = "Reset a user's password (their sessions end, their API tokens are revoked)",
    params(("id" = i64, Path, description = "User id", example = 1)),
    request_body = PasswordReset,
    responses(
        (status = 200, description = "Reset", body = Done),
        crate::http::openapi::WriteObjectErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
pub async fn reset_password(
    State(state): State<AppState>,
    Admin(me): Admin,
    Id(id): Id,
    ApiJson(r): ApiJson<PasswordReset>,
) -> ApiResult<Json<Done>> {
    if !state
        .app
        .set_password(UserId(id), &r.new_password, None, me.id)
        .await?
    {
        return Err(ApiError::not_found(format!("user {id}")));
    }
    Ok(Json(Done::OK))
}

/// `POST /api/users/{id}/active` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ActiveChange {
    /// Whether the user may log in.
    pub active: bool,
}

/// `POST /api/users/{id}/active`: an admin deactivates (or reactivates) a user; a
/// deactivated user's sessions and tokens stop working at once.
#[utoipa::path(
    post,
    path = "/api/users/{id}/active",
    tag = "auth",
    operation_id = "set_user_active",
    summary = "Deactivate or reactivate a user",
    description = "A deactivated user's sessions and tokens stop working at once; admins cannot deactivate themselves (409).",
    params(("id" = i64, Path, description = "User id", example = 1)),
    request_body = ActiveChange,
    responses(
        (status = 200, description = "The new state", body = ActiveView),
        crate::http::openapi::WriteObjectErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
pub async fn set_active(
    State(state): State<AppState>,
    Admin(me): Admin,
    Id(id): Id,
    ApiJson(r): ApiJson<ActiveChange>,
) -> ApiResult<Json<ActiveView>> {
    state
        .app
        .set_user_active(me.id, UserId(id), r.active)
        .await?;
    Ok(Json(ActiveView {
        ok: true,
        active: r.active,
    }))
}

/// `GET /api/users`: every login (admin).
#[utoipa::path(
    get,
    path = "/api/users",
    tag = "auth",
    operation_id = "list_users",
    summary = "Every login",
    responses(
        (status = 200, description = "Users", body = Items<User>),
        crate::http::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
pub async fn list_users(
    State(state): State<AppState>,
    Admin(_): Admin,
) -> ApiResult<Json<Items<User>>> {
    Ok(Json(Items::of(state.app.users().await?)))
}
