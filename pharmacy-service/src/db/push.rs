//! Browsers subscribed to Web Push (`push_subscriptions`), per user.

use super::Conn;
use crate::domain::ids::UserId;
use crate::domain::time::Timestamp;

/// A push subscription (RFC 8030 endpoint, RFC 8291 keys, base64url as browsers give them).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Subscription {
    /// Id.
    pub id: i64,
    /// Whose.
    pub user_id: UserId,
    /// The push service URL.
    pub endpoint: String,
    /// The browser's P-256 public key (uncompressed point, base64url).
    pub p256dh: String,
    /// The 16-byte authentication secret (base64url).
    pub auth: String,
    /// When subscribed.
    pub created_at: Timestamp,
}

/// Stores a subscription for `user` (an endpoint already known moves to this user: a shared
/// counter PC's browser belongs to whoever subscribed last).
pub async fn upsert(
    c: &mut Conn,
    user: UserId,
    endpoint: &str,
    p256dh: &str,
    auth: &str,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id, p256dh = excluded.p256dh,
             auth = excluded.auth, created_at = excluded.created_at",
    )
    .bind(user)
    .bind(endpoint)
    .bind(p256dh)
    .bind(auth)
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Removes `user`'s subscription at `endpoint`; false when there was none.
pub async fn remove(c: &mut Conn, user: UserId, endpoint: &str) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("DELETE FROM push_subscriptions WHERE user_id = ? AND endpoint = ?")
        .bind(user)
        .bind(endpoint)
        .execute(&mut *c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Removes a subscription the push service says is gone (404/410).
pub async fn remove_by_id(c: &mut Conn, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM push_subscriptions WHERE id = ?")
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// How many subscriptions `user` has.
pub async fn count_for(c: &mut Conn, user: UserId) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM push_subscriptions WHERE user_id = ?")
        .bind(user)
        .fetch_one(&mut *c)
        .await
}

/// The subscriptions of active users matching `audience`.
pub async fn for_audience(
    c: &mut Conn,
    audience: &Audience,
) -> Result<Vec<Subscription>, sqlx::Error> {
    let base = "SELECT s.* FROM push_subscriptions s JOIN users u ON u.id = s.user_id WHERE u.is_active = 1";
    match audience {
        Audience::Everyone => sqlx::query_as(base).fetch_all(&mut *c).await,
        Audience::Admins => {
            sqlx::query_as(&format!("{base} AND u.role = 'admin'"))
                .fetch_all(&mut *c)
                .await
        }
        Audience::Agent(agent) => {
            sqlx::query_as(&format!(
                "{base} AND s.user_id = (SELECT user_id FROM agents WHERE id = ?)"
            ))
            .bind(agent)
            .fetch_all(&mut *c)
            .await
        }
        Audience::Branch(branch) => {
            sqlx::query_as(&format!(
                "{base} AND s.user_id IN (SELECT user_id FROM agents WHERE branch_id = ?)"
            ))
            .bind(branch)
            .fetch_all(&mut *c)
            .await
        }
    }
}

/// Who a push goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Every subscribed user.
    Everyone,
    /// Admins.
    Admins,
    /// One agent.
    Agent(crate::domain::ids::AgentId),
    /// The agents of a branch.
    Branch(crate::domain::ids::BranchId),
}
