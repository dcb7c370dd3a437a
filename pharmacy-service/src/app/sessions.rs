//! Browser sessions and bearer API tokens: stored by the hash of their secret (the HTTP layer
//! makes the secrets and the cookie), each login, logout and token change logged in its
//! transaction; and deactivating a user, which ends their sessions at once.

use super::{App, AppError, not_found};
use crate::db;
use crate::db::sessions::{ApiToken, NewSession};
use crate::domain::ids::UserId;
use serde_json::json;
use std::time::Duration;

/// A session's idle deadline moves at most this often, so that reads do not each take
/// SQLite's write lock.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// How long sessions last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// The longest a session lasts after its login, however busy.
    pub ttl: Duration,
    /// A session ends after this long without a request.
    pub idle: Duration,
}

impl App {
    /// Starts a session for a user who just logged in (`new.expires_at` is ignored: the idle
    /// deadline comes from `limits`).
    pub async fn start_session(
        &self,
        new: &NewSession<'_>,
        limits: SessionLimits,
    ) -> Result<(), AppError> {
        let now = self.now();
        let expires_at = now.plus(limits.idle.min(limits.ttl));
        let mut tx = self.begin().await?;
        db::sessions::insert(&mut tx, &NewSession { expires_at, ..*new }, now).await?;
        db::activity::log(
            &mut tx,
            Some(new.user_id),
            "auth.login",
            Some(("user", new.user_id.0)),
            Some(&json!({ "address": new.address })),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The live session with this hash: its user and CSRF token (`None`: none, idle too long,
    /// or past its lifetime). Moves the idle deadline.
    pub async fn session(
        &self,
        hash: &str,
        limits: SessionLimits,
    ) -> Result<Option<(UserId, String)>, AppError> {
        let now = self.now();
        let mut c = self.read().await?;
        let Some(s) = db::sessions::live(&mut c, hash, now).await? else {
            return Ok(None);
        };
        let cap = s.created_at.plus(limits.ttl);
        if cap <= now {
            return Ok(None);
        }
        let deadline = now.plus(limits.idle).min(cap);
        if deadline.since(s.expires_at) >= TOUCH_EVERY {
            db::sessions::touch(&mut c, hash, deadline).await?;
        }
        Ok(Some((s.user_id, s.csrf_token)))
    }

    /// Logs `user` out: ends the session with this hash (none for a bearer token).
    pub async fn end_session(&self, user: UserId, hash: Option<&str>) -> Result<(), AppError> {
        let mut tx = self.begin().await?;
        if let Some(h) = hash {
            db::sessions::delete(&mut tx, h).await?;
        }
        db::activity::log(
            &mut tx,
            Some(user),
            "auth.logout",
            None,
            Some(&json!({})),
            self.now(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores a new API token (by the hash of its secret) acting as `user`; returns its id.
    pub async fn create_api_token(
        &self,
        by: UserId,
        name: &str,
        user: UserId,
        hash: &str,
    ) -> Result<i64, AppError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(AppError::Invalid {
                field: "name",
                message: "required".into(),
            });
        }
        let now = self.now();
        let mut tx = self.begin().await?;
        if db::users::by_id(&mut tx, user).await?.is_none() {
            return Err(AppError::Invalid {
                field: "user_id",
                message: "no such user".into(),
            });
        }
        let id = db::sessions::insert_token(&mut tx, name, hash, user, by, now).await?;
        db::activity::log(
            &mut tx,
            Some(by),
            "token.created",
            Some(("api_token", id)),
            Some(&json!({ "name": name, "user_id": user })),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Every API token (never a secret).
    pub async fn api_tokens(&self) -> Result<Vec<ApiToken>, AppError> {
        let mut c = self.read().await?;
        Ok(db::sessions::tokens(&mut c).await?)
    }

    /// The unrevoked token with this hash: (its id, its user). Records its use.
    pub async fn use_api_token(&self, hash: &str) -> Result<Option<(i64, UserId)>, AppError> {
        let mut c = self.read().await?;
        let Some((id, user)) = db::sessions::live_token(&mut c, hash).await? else {
            return Ok(None);
        };
        db::sessions::token_used(&mut c, id, self.now()).await?;
        Ok(Some((id, user)))
    }

    /// Revokes an API token.
    pub async fn revoke_api_token(&self, by: UserId, id: i64) -> Result<(), AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        if !db::sessions::revoke_token(&mut tx, id, now).await? {
            return Err(not_found("token", id));
        }
        db::activity::log(
            &mut tx,
            Some(by),
            "token.revoked",
            Some(("api_token", id)),
            Some(&json!({})),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deactivates (ending their sessions at once) or reactivates a user; admins cannot
    /// deactivate themselves.
    pub async fn set_user_active(
        &self,
        by: UserId,
        user: UserId,
        active: bool,
    ) -> Result<(), AppError> {
        if user == by && !active {
            return Err(AppError::Conflict("you cannot deactivate yourself".into()));
        }
        let mut tx = self.begin().await?;
        if !db::users::set_active(&mut tx, user, active).await? {
            return Err(not_found("user", user.0));
        }
        if !active {
            db::users::end_sessions(&mut tx, user, None).await?;
        }
        let action = if active {
            "user.activated"
        } else {
            "user.deactivated"
        };
        db::activity::log(
            &mut tx,
            Some(by),
            action,
            Some(("user", user.0)),
            Some(&json!({})),
            self.now(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
