//! Browser sessions (by the SHA-256 of their cookie) and bearer API tokens (by the SHA-256 of
//! their secret): never the secrets themselves.

use super::Conn;
use crate::domain::ids::UserId;
use crate::domain::time::Timestamp;
use serde::Serialize;

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Session {
    /// Its user.
    pub user_id: UserId,
    /// The CSRF token of its state-changing requests.
    pub csrf_token: String,
    /// The login.
    pub created_at: Timestamp,
    /// The idle deadline.
    pub expires_at: Timestamp,
}

/// A new session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession<'a> {
    /// SHA-256 (hex) of the cookie.
    pub token_hash: &'a str,
    /// Its user.
    pub user_id: UserId,
    /// Its CSRF token.
    pub csrf_token: &'a str,
    /// The client's address.
    pub address: &'a str,
    /// The idle deadline.
    pub expires_at: Timestamp,
}

/// Stores a new session.
pub async fn insert(c: &mut Conn, s: &NewSession<'_>, now: Timestamp) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, address, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(s.token_hash)
    .bind(s.user_id)
    .bind(s.csrf_token)
    .bind(s.address)
    .bind(now)
    .bind(s.expires_at)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// The session with this hash, unless its idle deadline has passed.
pub async fn live(
    c: &mut Conn,
    hash: &str,
    now: Timestamp,
) -> Result<Option<Session>, sqlx::Error> {
    sqlx::query_as(
        "SELECT user_id, csrf_token, created_at, expires_at FROM sessions
         WHERE token_hash = ? AND expires_at > ?",
    )
    .bind(hash)
    .bind(now)
    .fetch_optional(&mut *c)
    .await
}

/// Moves a session's idle deadline.
pub async fn touch(c: &mut Conn, hash: &str, deadline: Timestamp) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET expires_at = ? WHERE token_hash = ?")
        .bind(deadline)
        .bind(hash)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Ends one session.
pub async fn delete(c: &mut Conn, hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
        .bind(hash)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// An API token row (never with the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ApiToken {
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

/// Stores a new API token; returns its id.
pub async fn insert_token(
    c: &mut Conn,
    name: &str,
    hash: &str,
    user: UserId,
    by: UserId,
    now: Timestamp,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO api_tokens (name, token_hash, user_id, created_by, created_at)
         VALUES (?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(name)
    .bind(hash)
    .bind(user)
    .bind(by)
    .bind(now)
    .fetch_one(&mut *c)
    .await
}

/// Every API token, by id.
pub async fn tokens(c: &mut Conn) -> Result<Vec<ApiToken>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, user_id, created_by, created_at, last_used_at, revoked_at
         FROM api_tokens ORDER BY id",
    )
    .fetch_all(&mut *c)
    .await
}

/// The unrevoked token with this hash: (id, user).
pub async fn live_token(c: &mut Conn, hash: &str) -> Result<Option<(i64, UserId)>, sqlx::Error> {
    sqlx::query_as("SELECT id, user_id FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL")
        .bind(hash)
        .fetch_optional(&mut *c)
        .await
}

/// Records a token's use.
pub async fn token_used(c: &mut Conn, id: i64, now: Timestamp) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE api_tokens SET last_used_at = ? WHERE id = ?")
        .bind(now)
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Revokes a token (again: keeps the first time); whether it exists.
pub async fn revoke_token(c: &mut Conn, id: i64, now: Timestamp) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?")
        .bind(now)
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(r.rows_affected() == 1)
}
