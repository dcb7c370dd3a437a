//! Answers of the login, user and API-token routes.

use crate::domain::ids::UserId;
use crate::http::auth::UserView;
use serde::Serialize;
use utoipa::ToSchema;

/// A login's answer (the `session` cookie is set).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LoginView {
    /// Who logged in.
    pub user: UserView,
    /// Send as `X-CSRF-Token` on state-changing requests.
    pub csrf_token: String,
}

/// `GET /auth/profile`: who is calling.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProfileView {
    /// The caller.
    pub user: UserView,
    /// The session's CSRF token; null for bearer tokens.
    #[schema(required = true)]
    pub csrf_token: Option<String>,
}

/// A created user.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserCreated {
    /// The new user.
    pub user: UserView,
}

/// A user's new state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct ActiveView {
    /// Always true.
    pub ok: bool,
    /// Whether the user may log in now.
    pub active: bool,
}

/// A new API token: the secret `token` is shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TokenCreated {
    /// Id.
    pub id: i64,
    /// What it is for.
    pub name: String,
    /// Acts as.
    pub user_id: UserId,
    /// The bearer secret (`pst_...`).
    pub token: String,
}
