//! Who is calling: browser sessions (an HttpOnly, SameSite=Strict `session` cookie plus an
//! `X-CSRF-Token` header on every state-changing request), bearer API tokens for
//! integrations. Only SHA-256 hashes of session ids and tokens are stored. The login throttle
//! is the core's ([`crate::app::App::login`]); this layer names the client's address.
//!
//! - [`sessions`]: log in and out, the session cookie, idle and absolute expiry.
//! - [`users`]: registration, password changes and resets, deactivation.
//! - [`tokens`]: bearer API tokens.

mod sessions;
mod tokens;
mod users;

pub use sessions::*;
pub use tokens::*;
pub use users::*;

use super::AppState;
use super::error::{ApiError, ApiResult};
use crate::app::Role;
use crate::domain::ids::{AgentId, BranchId, UserId};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::net::{IpAddr, SocketAddr};

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
    /// The first-run admin until they change the generated password: every other request is
    /// refused with `password_change_required`.
    pub must_change_password: bool,
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
    /// The password must be changed (`POST /auth/password`) before anything else works.
    pub must_change_password: bool,
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
            must_change_password: u.must_change_password,
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
    let (u, agent) = state
        .app
        .active_user(id)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    Ok(CurrentUser {
        id: u.id,
        role: u.role(),
        username: u.username,
        name: u.name,
        agent_id: agent.as_ref().map(|a| a.id),
        branch_id: agent.and_then(|a| a.branch_id),
        must_change_password: u.must_change_password,
        credential,
    })
}

/// Resolves the caller from a cookie or a bearer token, without the CSRF check; a user who
/// must change their password first is refused (`password_change_required`).
pub async fn identify(state: &AppState, headers: &HeaderMap) -> ApiResult<CurrentUser> {
    let me = identify_any(state, headers).await?;
    if me.must_change_password {
        return Err(ApiError::PasswordChangeRequired);
    }
    Ok(me)
}

/// [`identify`], letting a user who must change their password through.
async fn identify_any(state: &AppState, headers: &HeaderMap) -> ApiResult<CurrentUser> {
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        let (id, user) = tokens::resolve(state, &sha256_hex(bearer.trim())).await?;
        return load_user(state, user, Credential::Token { id }).await;
    }
    let cookie = cookie_value(headers, SESSION_COOKIE).ok_or(ApiError::Unauthenticated)?;
    let hash = sha256_hex(&cookie);
    let (user, csrf) = sessions::resolve(state, &hash).await?;
    load_user(state, user, Credential::Session { hash, csrf }).await
}

/// What a user who must change their password may still do: change it, see who they are,
/// log out.
const BEFORE_PASSWORD_CHANGE: [&str; 3] = ["/auth/password", "/auth/profile", "/auth/logout"];

/// The client's address for the throttle and the records: the peer, or behind a reverse
/// proxy (`behind_proxy`) the rightmost `X-Forwarded-For` entry, the one the proxy added
/// (entries left of it come from the client and prove nothing).
pub fn client_address(state: &AppState, headers: &HeaderMap, peer: SocketAddr) -> String {
    let forwarded = || {
        let last = headers.get_all("x-forwarded-for").iter().next_back()?;
        let entry = last.to_str().ok()?.rsplit(',').next()?.trim();
        entry.parse::<IpAddr>().ok()
    };
    match state.config.behind_proxy.then(forwarded).flatten() {
        Some(ip) => ip.to_string(),
        None => peer.ip().to_string(),
    }
}

/// The 429 of a throttled password check.
fn throttled(wait: std::time::Duration) -> ApiError {
    ApiError::TooManyRequests {
        retry_after_s: wait.as_secs().max(1),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = identify_any(state, &parts.headers).await?;
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
        // Paths arrive without a trailing slash (`super::service` trims it before routing).
        if user.must_change_password && !BEFORE_PASSWORD_CHANGE.contains(&parts.uri.path()) {
            return Err(ApiError::PasswordChangeRequired);
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

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
