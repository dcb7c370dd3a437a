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
    /// with its activity-log entry (`alert.raised`) in one transaction, and publishes it.
    pub async fn raise_alert(
        &self,
        kind: &str,
        message: &str,
        detail: &serde_json::Value,
    ) -> Result<(), AppError> {
        self.raise(kind, message, Some(detail), false).await?;
        Ok(())
    }

    /// [`App::raise_alert`] unless an alert of `kind` is still open (the link's alerts: one
    /// until an admin acknowledges it). Whether it was raised.
    pub async fn raise_alert_once(
        &self,
        kind: &str,
        message: &str,
        detail: Option<&serde_json::Value>,
    ) -> Result<bool, AppError> {
        self.raise(kind, message, detail, true).await
    }

    async fn raise(
        &self,
        kind: &str,
        message: &str,
        detail: Option<&serde_json::Value>,
        once: bool,
    ) -> Result<bool, AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        if once
            && db::activity::open_alerts(&mut tx)
                .await?
                .iter()
                .any(|a| a.kind == kind)
        {
            return Ok(false);
        }
        let alert = db::activity::raise(&mut tx, kind, message, detail, now).await?;
        db::activity::log(
            &mut tx,
            None,
            "alert.raised",
            Some(("alert", alert.id.0)),
            Some(&serde_json::json!({ "kind": kind })),
            now,
        )
        .await?;
        tx.commit().await?;
        self.publish_all(vec![LiveEvent::AdminAlert { alert }]);
        Ok(true)
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
