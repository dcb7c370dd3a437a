//! Runtime settings (key -> JSON), e.g. the outbox pause after a temporary ban.

use super::Conn;
use crate::domain::time::Timestamp;

/// Reads a setting.
pub async fn get(c: &mut Conn, key: &str) -> Result<Option<serde_json::Value>, sqlx::Error> {
    let v: Option<String> = sqlx::query_scalar("SELECT value_json FROM settings WHERE key = ?")
        .bind(key)
        .fetch_optional(&mut *c)
        .await?;
    Ok(v.and_then(|s| serde_json::from_str(&s).ok()))
}

/// Writes a setting.
pub async fn set(
    c: &mut Conn,
    key: &str,
    value: &serde_json::Value,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO settings (key, value_json, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET value_json = excluded.value_json, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(value.to_string())
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Removes a setting.
pub async fn remove(c: &mut Conn, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM settings WHERE key = ?")
        .bind(key)
        .execute(&mut *c)
        .await?;
    Ok(())
}
