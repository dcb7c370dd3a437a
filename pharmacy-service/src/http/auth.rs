//! Who is calling: browser sessions (an HttpOnly, SameSite=Strict `session` cookie plus an
//! `X-CSRF-Token` header on every state-changing request), bearer API tokens for
//! integrations, and login throttling over the `login_attempts` records with growing lockouts.
//! Only SHA-256 hashes of session ids and tokens are stored.

use super::AppState;
use super::error::{ApiError, ApiJson, ApiResult, Id};
use crate::db;
use crate::db::users::{Role, User};
use crate::domain::ids::{AgentId, BranchId, UserId};
use crate::domain::time::Timestamp;
use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::time::Duration;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "session";
/// The CSRF header's name.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How a request authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A browser session (its id hash and CSRF token).
    Session {
        /// SHA-256 hex of the cookie value.
        hash: String,
        /// The session's CSRF token.
        csrf: String,
    },
    /// A bearer API token.
    Token {
        /// The token's id.
        id: i64,
    },
}

/// The authenticated caller, with what the permission checks need.
#[derive(Debug, Clone, PartialEq)]
pub struct CurrentUser {
    /// The user.
    pub id: UserId,
    /// Login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Their agent seat (agents).
    pub agent_id: Option<AgentId>,
    /// Their branch (agents).
    pub branch_id: Option<BranchId>,
    /// How they authenticated.
    pub credential: Credential,
}

impl CurrentUser {
    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Fails unless the caller is an admin.
    pub fn require_admin(&self) -> ApiResult<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::Forbidden("admins only".into()))
        }
    }

    /// The ticket actor for this caller.
    pub fn actor(&self) -> crate::domain::ticket::Actor {
        match self.role {
            Role::Admin => crate::domain::ticket::Actor::Admin(self.id),
            Role::Agent => crate::domain::ticket::Actor::Agent(self.id),
        }
    }
}

/// The public view of a user.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// Id.
    pub id: UserId,
    /// Login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// `admin` or `agent`.
    pub role: Role,
    /// Agents: their branch.
    pub branch_id: Option<BranchId>,
    /// Agents: their agent id.
    pub agent_id: Option<AgentId>,
}

impl From<&CurrentUser> for UserView {
    fn from(u: &CurrentUser) -> Self {
        UserView {
            id: u.id,
            username: u.username.clone(),
            name: u.name.clone(),
            role: u.role,
            branch_id: u.branch_id,
            agent_id: u.agent_id,
        }
    }
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// A fresh random secret (32 bytes, base64url).
pub fn random_secret() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

async fn load_user(state: &AppState, id: UserId, credential: Credential) -> ApiResult<CurrentUser> {
    let mut c = state.app.pool().acquire().await?;
    let u = db::users::by_id(&mut c, id)
        .await?
        .filter(|u| u.is_active)
        .ok_or(ApiError::Unauthenticated)?;
    let agent = db::agents::by_user(&mut c, id).await?;
    Ok(CurrentUser {
        id: u.id,
        role: u.role(),
        username: u.username,
        name: u.name,
        agent_id: agent.as_ref().map(|a| a.id),
        branch_id: agent.and_then(|a| a.branch_id),
        credential,
    })
}

/// Resolves the caller from a cookie or a bearer token, without the CSRF check.
pub async fn identify(state: &AppState, headers: &HeaderMap) -> ApiResult<CurrentUser> {
    let now = state.app.now();
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        let hash = sha256_hex(bearer.trim());
        let row: Option<(i64, UserId)> = sqlx::query_as(
            "SELECT id, user_id FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL",
        )
        .bind(&hash)
        .fetch_optional(state.app.pool())
        .await?;
        let (id, user) = row.ok_or(ApiError::Unauthenticated)?;
        sqlx::query("UPDATE api_tokens SET last_used_at = ? WHERE id = ?")
            .bind(now)
            .bind(id)
            .execute(state.app.pool())
            .await?;
        return load_user(state, user, Credential::Token { id }).await;
    }
    let cookie = cookie_value(headers, SESSION_COOKIE).ok_or(ApiError::Unauthenticated)?;
    let hash = sha256_hex(&cookie);
    let row: Option<(UserId, String)> = sqlx::query_as(
        "SELECT user_id, csrf_token FROM sessions WHERE token_hash = ? AND expires_at > ?",
    )
    .bind(&hash)
    .bind(now)
    .fetch_optional(state.app.pool())
    .await?;
    let (user, csrf) = row.ok_or(ApiError::Unauthenticated)?;
    load_user(state, user, Credential::Session { hash, csrf }).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = identify(state, &parts.headers).await?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if let Credential::Session { csrf, .. } = &user.credential
            && !safe
        {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .map(|v| v.as_bytes())
                .unwrap_or_default();
            if !constant_time_eq(sent, csrf.as_bytes()) {
                return Err(ApiError::Csrf);
            }
        }
        Ok(user)
    }
}

/// An admin caller (403 for agents).
#[derive(Debug, Clone)]
pub struct Admin(pub CurrentUser);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let u = CurrentUser::from_request_parts(parts, state).await?;
        u.require_admin()?;
        Ok(Admin(u))
    }
}

/// Growing lockout after `threshold` consecutive failures: 30 s, doubling per further
/// failure, at most an hour.
pub fn lockout(failures: i64, threshold: i64) -> Option<Duration> {
    if failures < threshold {
        return None;
    }
    let exp = (failures - threshold).min(7) as u32;
    Some(Duration::from_secs((30u64 << exp).min(3600)))
}

/// Failures per account before the first lockout.
pub const ACCOUNT_THRESHOLD: i64 = 5;
/// Failures per address before the first lockout.
pub const ADDRESS_THRESHOLD: i64 = 20;

async fn failures(
    state: &AppState,
    column: &str,
    value: &str,
    now: Timestamp,
) -> ApiResult<(i64, Option<Timestamp>)> {
    // Consecutive failures since the last success, looking back a day at most.
    let since = now.minus(Duration::from_secs(86_400));
    let cmp = if column == "username" {
        "username = ?1 COLLATE NOCASE"
    } else {
        "address = ?1"
    };
    let sql = format!(
        "SELECT count(*), max(at) FROM login_attempts WHERE {cmp} AND success = 0 AND at >= ?2
           AND at > coalesce((SELECT max(at) FROM login_attempts WHERE {cmp} AND success = 1), 0)"
    );
    let (n, last): (i64, Option<Timestamp>) = sqlx::query_as(&sql)
        .bind(value)
        .bind(since)
        .fetch_one(state.app.pool())
        .await?;
    Ok((n, last))
}

async fn check_throttle(state: &AppState, username: &str, address: &str) -> ApiResult<()> {
    let now = state.app.now();
    for (col, val, th) in [
        ("username", username, ACCOUNT_THRESHOLD),
        ("address", address, ADDRESS_THRESHOLD),
    ] {
        let (n, last) = failures(state, col, val, now).await?;
        if let (Some(lock), Some(last)) = (lockout(n, th), last) {
            let until = last.plus(lock);
            if until > now {
                let wait = until.since(now).as_secs().max(1);
                return Err(ApiError::TooManyRequests {
                    retry_after_s: wait,
                });
            }
        }
    }
    Ok(())
}

/// A real argon2id hash of nothing anyone knows, checked for unknown logins.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| crate::app::hash_password(&random_secret()).unwrap_or_default());

/// `POST /auth/login` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    /// Login name.
    #[schema(min_length = 1)]
    pub username: String,
    /// Password.
    pub password: String,
}

fn session_cookie(state: &AppState, value: &str, max_age: u64) -> HeaderValue {
    let secure = if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("session=; Path=/"))
}

/// `POST /auth/login`: checks throttling, then the password; sets the session cookie.
#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "auth",
    operation_id = "login",
    summary = "Log in",
    description = "Checks the per-account and per-address throttling, then the password (argon2id). Sets the HttpOnly, SameSite=Strict `session` cookie and returns the CSRF token to send as `X-CSRF-Token` on state-changing requests.",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; the `session` cookie is set", body = super::openapi::LoginView, headers(("Set-Cookie" = String, description = "session=...; HttpOnly; SameSite=Strict; Path=/"))),
        super::openapi::LoginErrors,
    ),
)]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    if req.username.trim().is_empty() {
        return Err(ApiError::invalid("username", "required"));
    }
    let address = peer.ip().to_string();
    check_throttle(&state, &req.username, &address).await?;
    let user: Option<User> = state
        .app
        .authenticate(req.username.trim(), &req.password, Some(&address))
        .await?;
    let Some(user) = user else {
        // Unknown and deactivated users cost one password check too, so the answer's timing
        // does not tell which logins exist.
        let mut c = state.app.pool().acquire().await?;
        let known = db::users::by_username(&mut c, req.username.trim())
            .await?
            .is_some_and(|u| u.is_active);
        drop(c);
        if !known {
            // On a blocking thread, as a real check is (App::authenticate).
            let password = req.password.clone();
            let _ = tokio::task::spawn_blocking(move || {
                crate::app::verify_password(&password, &DUMMY_HASH)
            })
            .await;
        }
        return Err(ApiError::BadCredentials);
    };
    let secret = random_secret();
    let csrf = random_secret();
    let now = state.app.now();
    let ttl = state.config.session_ttl;
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, address, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(sha256_hex(&secret))
    .bind(user.id)
    .bind(&csrf)
    .bind(&address)
    .bind(now)
    .bind(now.plus(ttl))
    .execute(state.app.pool())
    .await?;
    let me = load_user(
        &state,
        user.id,
        Credential::Session {
            hash: String::new(),
            csrf: csrf.clone(),
        },
    )
    .await?;
    super::audit(
        &state,
        Some(me.id),
        "auth.login",
        Some(("user", me.id.0)),
        json!({ "address": address }),
    )
    .await?;
    let mut resp = Json(json!({ "user": UserView::from(&me), "csrf_token": csrf })).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&state, &secret, ttl.as_secs()),
    );
    Ok(resp)
}

/// `POST /auth/logout`: ends this session.
#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "auth",
    operation_id = "logout",
    summary = "Log out (ends this session)",
    responses(
        (status = 200, description = "Logged out; the cookie is cleared", body = super::openapi::Done),
        super::openapi::ReadErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
pub async fn logout(State(state): State<AppState>, me: CurrentUser) -> ApiResult<Response> {
    if let Credential::Session { hash, .. } = &me.credential {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(hash)
            .execute(state.app.pool())
            .await?;
    }
    super::audit(&state, Some(me.id), "auth.logout", None, json!({})).await?;
    let mut resp = Json(json!({ "ok": true })).into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, "", 0));
    Ok(resp)
}

/// `GET /auth/profile`: who am I (and the session's CSRF token, for a reloaded page).
#[utoipa::path(
    get,
    path = "/auth/profile",
    tag = "auth",
    operation_id = "profile",
    summary = "The caller and the session's CSRF token",
    responses(
        (status = 200, description = "Who is calling", body = super::openapi::ProfileView),
        super::openapi::ReadErrors,
    ),
    security(("session" = []), ("bearer" = [])),
)]
pub async fn profile(me: CurrentUser) -> Json<serde_json::Value> {
    let csrf = match &me.credential {
        Credential::Session { csrf, .. } => Some(csrf.clone()),
        Credential::Token { .. } => None,
    };
    Json(json!({ "user": UserView::from(&me), "csrf_token": csrf }))
}

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
        (status = 201, description = "Created", body = super::openapi::UserCreated),
        super::openapi::WriteErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
pub async fn register(
    State(state): State<AppState>,
    Admin(me): Admin,
    ApiJson(r): ApiJson<RegisterRequest>,
) -> ApiResult<(axum::http::StatusCode, Json<serde_json::Value>)> {
    if r.role == Role::Agent {
        let b = r
            .branch_id
            .ok_or_else(|| ApiError::invalid("branch_id", "agents need a branch"))?;
        let mut c = state.app.pool().acquire().await?;
        if db::branches::by_id(&mut c, b).await?.is_none() {
            return Err(ApiError::invalid("branch_id", "no such branch"));
        }
    }
    if r.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "required"));
    }
    let (id, agent) = state
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
    let _ = agent;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(json!({ "user": UserView::from(&u) })),
    ))
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

async fn set_password(state: &AppState, id: UserId, password: &str) -> ApiResult<()> {
    if password.chars().count() < 8 {
        return Err(ApiError::invalid("new_password", "at least 8 characters"));
    }
    let hash = crate::app::hash_password(password)?;
    let mut c = state.app.pool().acquire().await?;
    if !db::users::set_password_hash(&mut c, id, &hash).await? {
        return Err(ApiError::not_found(format!("user {id}")));
    }
    Ok(())
}

/// `POST /auth/password`: change one's own password (other sessions end).
#[utoipa::path(
    post,
    path = "/auth/password",
    tag = "auth",
    operation_id = "change_password",
    summary = "Change your own password (your other sessions end)",
    request_body = PasswordChange,
    responses(
        (status = 200, description = "Changed", body = super::openapi::Done),
        super::openapi::WriteErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
pub async fn change_password(
    State(state): State<AppState>,
    me: CurrentUser,
    ApiJson(r): ApiJson<PasswordChange>,
) -> ApiResult<Json<serde_json::Value>> {
    let mut c = state.app.pool().acquire().await?;
    let u = db::users::by_id(&mut c, me.id)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    drop(c);
    if !crate::app::verify_password(&r.current_password, &u.password_hash) {
        return Err(ApiError::invalid("current_password", "does not match"));
    }
    set_password(&state, me.id, &r.new_password).await?;
    let keep = match &me.credential {
        Credential::Session { hash, .. } => hash.clone(),
        Credential::Token { .. } => String::new(),
    };
    sqlx::query("DELETE FROM sessions WHERE user_id = ? AND token_hash <> ?")
        .bind(me.id)
        .bind(keep)
        .execute(state.app.pool())
        .await?;
    super::audit(
        &state,
        Some(me.id),
        "user.password_changed",
        Some(("user", me.id.0)),
        json!({}),
    )
    .await?;
    Ok(Json(json!({ "ok": true })))
}

/// `POST /api/users/{id}/password` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PasswordReset {
    /// The new password.
    #[schema(min_length = 8)]
    pub new_password: String,
}

/// `POST /api/users/{id}/password`: an admin resets a password (the user's sessions end).
#[utoipa::path(
    post,
    path = "/api/users/{id}/password",
    tag = "auth",
    operation_id = "reset_password",
    summary = "Reset a user's password (their sessions end)",
    params(("id" = i64, Path, description = "User id", example = 1)),
    request_body = PasswordReset,
    responses(
        (status = 200, description = "Reset", body = super::openapi::Done),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
pub async fn reset_password(
    State(state): State<AppState>,
    Admin(me): Admin,
    Id(id): Id,
    ApiJson(r): ApiJson<PasswordReset>,
) -> ApiResult<Json<serde_json::Value>> {
    set_password(&state, UserId(id), &r.new_password).await?;
    sqlx::query("DELETE FROM sessions WHERE user_id = ?")
        .bind(id)
        .execute(state.app.pool())
        .await?;
    super::audit(
        &state,
        Some(me.id),
        "user.password_reset",
        Some(("user", id)),
        json!({}),
    )
    .await?;
    Ok(Json(json!({ "ok": true })))
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
        (status = 200, description = "The new state", body = super::openapi::ActiveView),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
pub async fn set_active(
    State(state): State<AppState>,
    Admin(me): Admin,
    Id(id): Id,
    ApiJson(r): ApiJson<ActiveChange>,
) -> ApiResult<Json<serde_json::Value>> {
    if id == me.id.0 && !r.active {
        return Err(ApiError::Conflict("you cannot deactivate yourself".into()));
    }
    let mut c = state.app.pool().acquire().await?;
    if !db::users::set_active(&mut c, UserId(id), r.active).await? {
        return Err(ApiError::not_found(format!("user {id}")));
    }
    drop(c);
    if !r.active {
        sqlx::query("DELETE FROM sessions WHERE user_id = ?")
            .bind(id)
            .execute(state.app.pool())
            .await?;
    }
    super::audit(
        &state,
        Some(me.id),
        if r.active {
            "user.activated"
        } else {
            "user.deactivated"
        },
        Some(("user", id)),
        json!({}),
    )
    .await?;
    Ok(Json(json!({ "ok": true, "active": r.active })))
}

/// `GET /api/users`: every login (admin).
#[utoipa::path(
    get,
    path = "/api/users",
    tag = "auth",
    operation_id = "list_users",
    summary = "Every login",
    responses(
        (status = 200, description = "Users", body = super::openapi::Items<crate::db::users::User>),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
pub async fn list_users(
    State(state): State<AppState>,
    Admin(_): Admin,
) -> ApiResult<Json<serde_json::Value>> {
    let mut c = state.app.pool().acquire().await?;
    let users = db::users::list(&mut c).await?;
    Ok(Json(json!({ "items": users })))
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
        (status = 201, description = "Created", body = super::openapi::TokenCreated),
        super::openapi::WriteErrors,
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
    super::audit(
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
        (status = 200, description = "Tokens", body = super::openapi::Items<TokenView>),
        super::openapi::ReadErrors,
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
        (status = 200, description = "Revoked", body = super::openapi::Done),
        super::openapi::WriteObjectErrors,
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
    super::audit(
        &state,
        Some(me.id),
        "token.revoked",
        Some(("api_token", id)),
        json!({}),
    )
    .await?;
    Ok(Json(json!({ "ok": true })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockouts_grow_and_cap() {
        assert_eq!(lockout(4, 5), None);
        assert_eq!(lockout(5, 5), Some(Duration::from_secs(30)));
        assert_eq!(lockout(6, 5), Some(Duration::from_secs(60)));
        assert_eq!(lockout(50, 5), Some(Duration::from_secs(3600)));
    }

    #[test]
    fn cookies_are_parsed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; session=xyz; b=2"),
        );
        assert_eq!(cookie_value(&h, "session").as_deref(), Some("xyz"));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
    }
}
