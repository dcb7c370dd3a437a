//! The admins' activity log and alerts: reading them, and acknowledging an alert (with its own
//! log entry, in one transaction).

use super::{App, AppError, LiveEvent, not_found};
use crate::db;
use crate::db::activity::{ActivityEntry, ActivityFilter, Alert};
use crate::domain::ids::{AlertId, UserId};

impl App {
    /// Logs an action that wrote nothing else here (a WhatsApp link action, a test e-mail):
    /// changes of the database log themselves in their own transaction.
    pub async fn log_action(
        &self,
        user: Option<UserId>,
        action: &str,
        entity: Option<(&str, i64)>,
        details: &serde_json::Value,
    ) -> Result<(), AppError> {
        let mut c = self.read().await?;
        db::activity::log(&mut c, user, action, entity, Some(details), self.now()).await?;
        Ok(())
    }

    /// Raises an admin alert outside any other write (the bridge's storage-failure episode)
    /// and publishes it.
    pub async fn raise_alert(
        &self,
        kind: &str,
        message: &str,
        detail: &serde_json::Value,
    ) -> Result<(), AppError> {
        let now = self.now();
        let mut c = self.read().await?;
        let alert = db::activity::raise(&mut c, kind, message, Some(detail), now).await?;
        self.events().publish(now, LiveEvent::AdminAlert { alert });
        Ok(())
    }

    /// The latest activity-log entries matching `filter`, newest first, before the entry
    /// `before` (a page of at most `limit`).
    pub async fn activity(
        &self,
        filter: &ActivityFilter,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ActivityEntry>, AppError> {
        let mut c = self.read().await?;
        Ok(db::activity::list(&mut c, filter, before, limit).await?)
    }

    /// The alerts no admin has acknowledged yet, newest first.
    pub async fn open_alerts(&self) -> Result<Vec<Alert>, AppError> {
        let mut c = self.read().await?;
        Ok(db::activity::open_alerts(&mut c).await?)
    }

    /// Acknowledges an open alert; an unknown or already acknowledged one is not found.
    pub async fn acknowledge_alert(&self, by: UserId, id: AlertId) -> Result<(), AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        if !db::activity::acknowledge(&mut tx, id, by, now).await? {
            return Err(not_found("open alert", id.0));
        }
        db::activity::log(
            &mut tx,
            Some(by),
            "alert.acknowledged",
            Some(("alert", id.0)),
            Some(&serde_json::json!({})),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
