//! Users (logins) and login attempts.

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

/// Records a login attempt.
pub async fn record_login_attempt(
    c: &mut Conn,
    username: &str,
    address: Option<&str>,
    success: bool,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO login_attempts (username, address, success, at) VALUES (?, ?, ?, ?)")
        .bind(username)
        .bind(address)
        .bind(success)
        .bind(now)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Failed attempts for a username and for an address since `since` (for throttling).
pub async fn failed_login_attempts(
    c: &mut Conn,
    username: &str,
    address: Option<&str>,
    since: Timestamp,
) -> Result<(i64, i64), sqlx::Error> {
    let by_user: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM login_attempts WHERE username = ? COLLATE NOCASE AND success = 0 AND at >= ?",
    )
    .bind(username)
    .bind(since)
    .fetch_one(&mut *c)
    .await?;
    let by_addr: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM login_attempts WHERE address = ? AND success = 0 AND at >= ?",
    )
    .bind(address)
    .bind(since)
    .fetch_one(&mut *c)
    .await?;
    Ok((by_user, by_addr))
}
