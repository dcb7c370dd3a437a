//! Browser sessions: logging in and out, the cookie, and expiry.
//!
//! The cookie is a browser-session cookie (no `Max-Age`): closing the browser of a shared
//! branch PC ends it. On the server a session ends after [`HttpConfig::session_idle`] without
//! a request, and [`HttpConfig::session_ttl`] after the login whatever happens (a shift).
//! `sessions.expires_at` holds the idle deadline; a request moves it, at most once a minute so
//! that reads do not each take SQLite's write lock.
//!
//! [`HttpConfig::session_idle`]: crate::http::HttpConfig::session_idle
//! [`HttpConfig::session_ttl`]: crate::http::HttpConfig::session_ttl

use super::{
    Credential, CurrentUser, SESSION_COOKIE, UserView, client_address, load_user, random_secret,
    sha256_hex, throttled,
};
use crate::app::{LoginOutcome, NewSession, SessionLimits};
use crate::domain::ids::UserId;
use crate::http::AppState;
use crate::http::error::{ApiError, ApiJson, ApiResult};
use crate::http::views::Done;
use crate::http::views::auth::{LoginView, ProfileView};
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use serde::Deserialize;
use std::net::SocketAddr;

/// An answer that sets (or clears) the session cookie.
type WithCookie<T> = ([(HeaderName, HeaderValue); 1], Json<T>);

/// `POST /auth/login` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    /// Login name.
    #[schema(min_length = 1)]
    pub username: String,
    /// Password.
    pub password: String,
}

/// The `Set-Cookie` value: a browser-session cookie, or with `clear` one that ends at once.
/// `Secure` behind a TLS-terminating proxy.
fn session_cookie(state: &AppState, value: &str, clear: bool) -> HeaderValue {
    let secure = if state.config.secure_cookies || state.config.behind_proxy {
        "; Secure"
    } else {
        ""
    };
    let expiry = if clear { "; Max-Age=0" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/{expiry}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("session=; Path=/"))
}

fn limits(state: &AppState) -> SessionLimits {
    SessionLimits {
        ttl: state.config.session_ttl,
        idle: state.config.session_idle,
    }
}

/// The live session with this hash: its user and CSRF token. Moves the idle deadline.
pub(super) async fn resolve(state: &AppState, hash: &str) -> ApiResult<(UserId, String)> {
    state
        .app
        .session(hash, limits(state))
        .await?
        .ok_or(ApiError::Unauthenticated)
}

/// `POST /auth/login`: checks throttling, then the password; sets the session cookie.
#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "auth",
    operation_id = "login",
    summary = "Log in",
    description = "Checks the throttle (failures per account from any address, and per address and account), then the password (argon2id). Sets the HttpOnly, SameSite=Strict `session` cookie (a browser-session cookie; the server ends the session after 30 idle minutes and 12 hours after the login by default) and returns the CSRF token to send as `X-CSRF-Token` on state-changing requests. When `user.must_change_password` is true, every other request is refused with `password_change_required` until `POST /auth/password`.",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; the `session` cookie is set", body = LoginView, headers(("Set-Cookie" = String, description = "session=...; HttpOnly; SameSite=Strict; Path=/"))),
        crate::http::openapi::LoginErrors,
    ),
)]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<WithCookie<LoginView>> {
    if req.username.trim().is_empty() {
        return Err(ApiError::invalid("username", "required"));
    }
    let address = client_address(&state, &headers, peer);
    let user = match state
        .app
        .login(&req.username, &req.password, Some(&address))
        .await?
    {
        LoginOutcome::Accepted(u) => u,
        LoginOutcome::Refused => return Err(ApiError::BadCredentials),
        LoginOutcome::Throttled(wait) => return Err(throttled(wait)),
    };
    let secret = random_secret();
    let csrf = random_secret();
    let hash = sha256_hex(&secret);
    let session = NewSession {
        token_hash: &hash,
        user_id: user.id,
        csrf_token: &csrf,
        address: &address,
        expires_at: state.app.now(),
    };
    state.app.start_session(&session, limits(&state)).await?;
    let me = load_user(
        &state,
        user.id,
        Credential::Session {
            hash: String::new(),
            csrf: csrf.clone(),
        },
    )
    .await?;
    let cookie = [(header::SET_COOKIE, session_cookie(&state, &secret, false))];
    let view = LoginView {
        user: UserView::from(&me),
        csrf_token: csrf,
    };
    Ok((cookie, Json(view)))
}

/// `POST /auth/logout`: ends this session.
#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "auth",
    operation_id = "logout",
    summary = "Log out (ends this session)",
    responses(
        (status = 200, description = "Logged out; the cookie is cleared", body = Done),
        crate::http::openapi::ReadErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
pub async fn logout(State(state): State<AppState>, me: CurrentUser) -> ApiResult<WithCookie<Done>> {
    let hash = match &me.credential {
        Credential::Session { hash, .. } => Some(hash.as_str()),
        Credential::Token { .. } => None,
    };
    state.app.end_session(me.id, hash).await?;
    let cookie = [(header::SET_COOKIE, session_cookie(&state, "", true))];
    Ok((cookie, Json(Done::OK)))
}

/// `GET /auth/profile`: who am I (and the session's CSRF token, for a reloaded page).
#[utoipa::path(
    get,
    path = "/auth/profile",
    tag = "auth",
    operation_id = "profile",
    summary = "The caller and the session's CSRF token",
    responses(
        (status = 200, description = "Who is calling", body = ProfileView),
        crate::http::openapi::ReadErrors,
    ),
    security(("session" = []), ("bearer" = [])),
)]
pub async fn profile(me: CurrentUser) -> Json<ProfileView> {
    let csrf_token = match &me.credential {
        Credential::Session { csrf, .. } => Some(csrf.clone()),
        Credential::Token { .. } => None,
    };
    Json(ProfileView {
        user: UserView::from(&me),
        csrf_token,
    })
}
