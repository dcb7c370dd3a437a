//! Alerts outside the browser, as admins and users manage them: Web Push subscriptions (each
//! user their own browsers) and outbound webhooks with their delivery log. Each change is
//! logged in its transaction; delivering is `crate::alerts`' job.

use super::{App, AppError, not_found};
use crate::db;
use crate::db::webhooks::{Delivery, Webhook};
use crate::domain::ids::UserId;
use serde_json::json;

/// A browser's push subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSubscription<'a> {
    /// The push service's URL (checked by the caller).
    pub endpoint: &'a str,
    /// The browser's P-256 key.
    pub p256dh: &'a str,
    /// The browser's auth secret.
    pub auth: &'a str,
}

/// What an admin changes of a webhook (absent: kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WebhookChange<'a> {
    /// New URL.
    pub url: Option<&'a str>,
    /// New event list.
    pub events: Option<&'a [String]>,
    /// Enable (clearing the failures) or disable.
    pub enabled: Option<bool>,
}

impl App {
    /// Subscribes a browser to `user`'s notifications (an endpoint already known moves to
    /// this user).
    pub async fn subscribe_push(
        &self,
        user: UserId,
        s: &PushSubscription<'_>,
    ) -> Result<(), AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        db::push::upsert(&mut tx, user, s.endpoint, s.p256dh, s.auth, now).await?;
        db::activity::log(
            &mut tx,
            Some(user),
            "push.subscribed",
            None,
            Some(&json!({})),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// How many browsers `user` has subscribed.
    pub async fn push_subscriptions(&self, user: UserId) -> Result<i64, AppError> {
        let mut c = self.read().await?;
        Ok(db::push::count_for(&mut c, user).await?)
    }

    /// Unsubscribes one of `user`'s browsers; another user's endpoint is left alone. Whether
    /// there was such a subscription.
    pub async fn unsubscribe_push(&self, user: UserId, endpoint: &str) -> Result<bool, AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        if !db::push::remove(&mut tx, user, endpoint).await? {
            return Ok(false);
        }
        db::activity::log(
            &mut tx,
            Some(user),
            "push.unsubscribed",
            None,
            Some(&json!({})),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The browsers a push to `audience` goes to (for `alerts::push`).
    pub async fn push_audience(
        &self,
        audience: &db::push::Audience,
    ) -> Result<Vec<db::push::Subscription>, AppError> {
        let mut c = self.read().await?;
        Ok(db::push::for_audience(&mut c, audience).await?)
    }

    /// Forgets a subscription the push service says is gone (404 or 410): no one's action,
    /// so not logged.
    pub async fn forget_push_subscription(&self, id: i64) -> Result<(), AppError> {
        let mut tx = self.begin().await?;
        db::push::remove_by_id(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every webhook, oldest first.
    pub async fn webhooks(&self) -> Result<Vec<Webhook>, AppError> {
        let mut c = self.read().await?;
        Ok(db::webhooks::list(&mut c).await?)
    }

    /// Registers a webhook (URL and events checked by the caller) signing with `secret`.
    pub async fn create_webhook(
        &self,
        by: UserId,
        url: &str,
        secret: &str,
        events: &[String],
    ) -> Result<Webhook, AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let hook = db::webhooks::insert(&mut tx, url, secret, events, now).await?;
        db::activity::log(
            &mut tx,
            Some(by),
            "webhook.created",
            Some(("webhook", hook.id)),
            Some(&json!({ "url": hook.url })),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(hook)
    }

    /// Changes a webhook (checked by the caller).
    pub async fn update_webhook(
        &self,
        by: UserId,
        id: i64,
        change: WebhookChange<'_>,
    ) -> Result<Webhook, AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let hook =
            db::webhooks::update(&mut tx, id, change.url, change.events, change.enabled, now)
                .await?
                .ok_or_else(|| not_found("webhook", id))?;
        db::activity::log(
            &mut tx,
            Some(by),
            "webhook.updated",
            Some(("webhook", id)),
            Some(&json!({ "url": hook.url, "enabled": hook.enabled })),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(hook)
    }

    /// Deletes a webhook and its delivery log.
    pub async fn delete_webhook(&self, by: UserId, id: i64) -> Result<(), AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        if !db::webhooks::delete(&mut tx, id).await? {
            return Err(not_found("webhook", id));
        }
        db::activity::log(
            &mut tx,
            Some(by),
            "webhook.deleted",
            Some(("webhook", id)),
            Some(&json!({})),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A webhook's deliveries, newest first, before the delivery `before` (at most `limit`).
    pub async fn webhook_deliveries(
        &self,
        id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Delivery>, AppError> {
        let mut c = self.read().await?;
        if db::webhooks::by_id(&mut c, id).await?.is_none() {
            return Err(not_found("webhook", id));
        }
        Ok(db::webhooks::deliveries(&mut c, id, before, limit).await?)
    }
}
