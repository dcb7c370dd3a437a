//! The activity log (audit trail) and admin alerts.

use super::Conn;
use crate::domain::ids::{AlertId, UserId};
use crate::domain::time::Timestamp;
use serde::Serialize;

/// An audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ActivityEntry {
    /// Id.
    pub id: i64,
    /// The acting user (None = the service or a customer).
    pub user_id: Option<UserId>,
    /// What (`ticket.closed`, `message.received`, ...).
    pub action: String,
    /// The kind of object.
    pub entity_kind: Option<String>,
    /// Its id.
    pub entity_id: Option<i64>,
    /// JSON details.
    pub details_json: Option<String>,
    /// Client address, when from HTTP.
    pub address: Option<String>,
    /// When.
    pub at: Timestamp,
}

tokio::task_local! {
    static CLIENT_ADDRESS: String;
}

/// Runs `f` with `address` recorded on every entry it appends: the HTTP layer wraps each
/// request in it, so every action taken over HTTP (the core's entries too) names the client.
pub async fn with_client_address<F: std::future::Future>(address: String, f: F) -> F::Output {
    CLIENT_ADDRESS.scope(address, f).await
}

/// The client address of the request being served, if any.
pub fn client_address() -> Option<String> {
    CLIENT_ADDRESS.try_with(Clone::clone).ok()
}

/// Appends to the activity log (with the client address when called while serving a request,
/// see [`with_client_address`]).
pub async fn log(
    c: &mut Conn,
    user: Option<UserId>,
    action: &str,
    entity: Option<(&str, i64)>,
    details: Option<&serde_json::Value>,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO activity_log (user_id, action, entity_kind, entity_id, details_json, address, at) VALUES (?, ?, ?, ?, ?, ?, ?)")
        .bind(user)
        .bind(action)
        .bind(entity.map(|e| e.0))
        .bind(entity.map(|e| e.1))
        .bind(details.map(|d| d.to_string()))
        .bind(client_address())
        .bind(now)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Which entries [`list`] returns (all when empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityFilter {
    /// Only this user's actions.
    pub user: Option<UserId>,
    /// Only actions starting with this (`ticket.` for every ticket action).
    pub action_prefix: Option<String>,
    /// From this instant (inclusive).
    pub from: Option<Timestamp>,
    /// Up to this instant (exclusive).
    pub to: Option<Timestamp>,
}

/// The latest entries matching `filter`, newest first, before the `before` id.
pub async fn list(
    c: &mut Conn,
    filter: &ActivityFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<ActivityEntry>, sqlx::Error> {
    let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("SELECT * FROM activity_log WHERE id < ");
    q.push_bind(before.unwrap_or(i64::MAX));
    if let Some(u) = filter.user {
        q.push(" AND user_id = ").push_bind(u);
    }
    if let Some(p) = &filter.action_prefix {
        // A prefix compare, not LIKE: `_` and `%` in action names are literal.
        q.push(" AND substr(action, 1, ")
            .push_bind(p.chars().count() as i64)
            .push(") = ")
            .push_bind(p.clone());
    }
    if let Some(from) = filter.from {
        q.push(" AND at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        q.push(" AND at < ").push_bind(to);
    }
    q.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
    q.build_query_as().fetch_all(&mut *c).await
}

/// An alert for admins.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Alert {
    /// Id.
    pub id: AlertId,
    /// `delay`, `temporary_ban`, `mass_send_held`, `send_failed`, `new_chat_refused`.
    pub kind: String,
    /// Human text.
    pub message: String,
    /// JSON details.
    pub details_json: Option<String>,
    /// When raised.
    pub at: Timestamp,
    /// When acknowledged.
    pub acknowledged_at: Option<Timestamp>,
    /// By whom.
    pub acknowledged_by: Option<UserId>,
}

/// Raises an alert.
pub async fn raise(
    c: &mut Conn,
    kind: &str,
    message: &str,
    details: Option<&serde_json::Value>,
    now: Timestamp,
) -> Result<Alert, sqlx::Error> {
    sqlx::query_as("INSERT INTO admin_alerts (kind, message, details_json, at) VALUES (?, ?, ?, ?) RETURNING *")
        .bind(kind)
        .bind(message)
        .bind(details.map(|d| d.to_string()))
        .bind(now)
        .fetch_one(&mut *c)
        .await
}

/// Unacknowledged alerts, newest first.
pub async fn open_alerts(c: &mut Conn) -> Result<Vec<Alert>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM admin_alerts WHERE acknowledged_at IS NULL ORDER BY id DESC")
        .fetch_all(&mut *c)
        .await
}

/// Acknowledges an alert.
pub async fn acknowledge(
    c: &mut Conn,
    id: AlertId,
    by: UserId,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("UPDATE admin_alerts SET acknowledged_at = ?, acknowledged_by = ? WHERE id = ? AND acknowledged_at IS NULL")
        .bind(now)
        .bind(by)
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(r.rows_affected() == 1)
}
