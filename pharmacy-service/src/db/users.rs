//! Users (logins), login attempts, and ending a user's sessions and API tokens.

use super::Conn;
use crate::domain::ids::UserId;
use crate::domain::time::Timestamp;
use serde::{Deserialize, Serialize};

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sees and manages everything.
    Admin,
    /// Handles tickets of their branch.
    Agent,
}

impl Role {
    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Agent => "agent",
        }
    }

    /// Parses the database spelling.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "agent" => Some(Role::Agent),
            _ => None,
        }
    }
}

/// A user row.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Login name (case-insensitive).
    pub username: String,
    /// Display name.
    pub name: String,
    /// E-mail.
    pub email: Option<String>,
    /// argon2id PHC string.
    #[serde(skip)]
    pub password_hash: String,
    /// `admin` or `agent`.
    pub role: String,
    /// Deactivated users cannot log in.
    pub is_active: bool,
    /// Until they change their password, the API refuses them everything else (the first-run
    /// admin's generated password).
    pub must_change_password: bool,
    /// Creation time.
    pub created_at: Timestamp,
}

impl User {
    /// The parsed role.
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::Agent)
    }
}

/// Inserts a user.
pub async fn insert(
    c: &mut Conn,
    username: &str,
    name: &str,
    email: Option<&str>,
    password_hash: &str,
    role: Role,
    now: Timestamp,
) -> Result<UserId, sqlx::Error> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (username, name, email, password_hash, role, created_at)
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(username)
    .bind(name)
    .bind(email)
    .bind(password_hash)
    .bind(role.as_str())
    .bind(now)
    .fetch_one(&mut *c)
    .await?;
    Ok(UserId(id))
}

/// A user by id.
pub async fn by_id(c: &mut Conn, id: UserId) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM users WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *c)
        .await
}

/// A user by login name (case-insensitive).
pub async fn by_username(c: &mut Conn, username: &str) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM users WHERE username = ?")
        .bind(username)
        .fetch_optional(&mut *c)
        .await
}

/// Whether any login exists (the first run creates the admin when none does).
pub async fn any(c: &mut Conn) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS(SELECT 1 FROM users)")
        .fetch_one(c)
        .await
}

/// All users, by id.
pub async fn list(c: &mut Conn) -> Result<Vec<User>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM users ORDER BY id")
        .fetch_all(&mut *c)
        .await
}

/// Replaces a password hash.
pub async fn set_password_hash(c: &mut Conn, id: UserId, hash: &str) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
        .bind(hash)
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Replaces a password hash only if it is still `old` (a login's rehash loses to a password
/// changed meanwhile).
pub async fn replace_password_hash(
    c: &mut Conn,
    id: UserId,
    old: &str,
    new: &str,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?")
        .bind(new)
        .bind(id)
        .bind(old)
        .execute(&mut *c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Activates or deactivates a user.
pub async fn set_active(c: &mut Conn, id: UserId, active: bool) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("UPDATE users SET is_active = ? WHERE id = ?")
        .bind(active)
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Sets or clears [`User::must_change_password`].
pub async fn set_must_change_password(
    c: &mut Conn,
    id: UserId,
    must: bool,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("UPDATE users SET must_change_password = ? WHERE id = ?")
        .bind(must)
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Ends a user's browser sessions, all but the one whose hash is `keep`.
pub async fn end_sessions(c: &mut Conn, id: UserId, keep: Option<&str>) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE user_id = ? AND token_hash IS NOT ?")
        .bind(id)
        .bind(keep)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Revokes a user's API tokens (those not revoked yet); returns how many.
pub async fn revoke_tokens(c: &mut Conn, id: UserId, now: Timestamp) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *c)
    .await?;
    Ok(r.rows_affected())
}

/// Records a login attempt; returns its id. The throttle records an attempt as failed before
/// the password is checked and marks it a success after ([`mark_login_success`]).
pub async fn record_login_attempt(
    c: &mut Conn,
    username: &str,
    address: Option<&str>,
    success: bool,
    now: Timestamp,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO login_attempts (username, address, success, at) VALUES (?, ?, ?, ?) RETURNING id",
    )
    .bind(username)
    .bind(address)
    .bind(success)
    .bind(now)
    .fetch_one(&mut *c)
    .await
}

/// Marks a recorded attempt as a success.
pub async fn mark_login_success(c: &mut Conn, attempt: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE login_attempts SET success = 1 WHERE id = ?")
        .bind(attempt)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Consecutive failed logins: how many since the last success (and since a time), and when the
/// last one was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Failures {
    /// How many.
    pub count: i64,
    /// The latest one.
    pub last: Option<Timestamp>,
}

/// Consecutive failures of the (normalised) `username` since `since`: from any address (the
/// account's), and from `address` alone (the pair's), each counted after the last success of
/// the same scope.
pub async fn login_failures(
    c: &mut Conn,
    username: &str,
    address: Option<&str>,
    since: Timestamp,
) -> Result<(Failures, Failures), sqlx::Error> {
    let account: (i64, Option<Timestamp>) = sqlx::query_as(
        "SELECT count(*), max(at) FROM login_attempts
         WHERE username = ?1 AND success = 0 AND at >= ?2
           AND id > coalesce((SELECT max(id) FROM login_attempts WHERE username = ?1 AND success = 1), 0)",
    )
    .bind(username)
    .bind(since)
    .fetch_one(&mut *c)
    .await?;
    let pair: (i64, Option<Timestamp>) = sqlx::query_as(
        "SELECT count(*), max(at) FROM login_attempts
         WHERE username = ?1 AND address IS ?3 AND success = 0 AND at >= ?2
           AND id > coalesce((SELECT max(id) FROM login_attempts
                              WHERE username = ?1 AND address IS ?3 AND success = 1), 0)",
    )
    .bind(username)
    .bind(since)
    .bind(address)
    .fetch_one(&mut *c)
    .await?;
    let f = |(count, last)| Failures { count, last };
    Ok((f(account), f(pair)))
}
