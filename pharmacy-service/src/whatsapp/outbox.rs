//! The outbox worker: one per WhatsApp number, sending queued messages one at a time, paced.
//!
//! For each message: respect the per-customer cap, wait out the jittered gap since the last
//! send, mark the customer's message read, show "typing" for a time that scales with the
//! length, send. Transient errors retry with exponential backoff; a temporary ban pauses the
//! whole queue (persisted, so a restart stays paused) and alerts the admins.
//!
//! Exactly-once: a row stays `queued` until the send succeeded and the `sent` state is
//! committed. A crash in between resends it with the same WhatsApp id, which the receiver
//! deduplicates.

use crate::app::{App, AppError, LiveEvent, Messenger, OutgoingMedia, OutgoingMessage, SendError};
use crate::db;
use crate::db::outbox::OutboxRow;
use crate::domain::ids::{OutboxId, UserId};
use crate::domain::message::MessageStatus;
use crate::domain::pacing::{CapDecision, PacingPolicy};
use crate::domain::time::Timestamp;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

const PAUSE_KEY: &str = "outbox.paused_until";

/// What one step of the worker did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Sent this row.
    Sent(OutboxId),
    /// The per-customer cap postponed this row.
    Postponed(OutboxId),
    /// This row failed transiently and will be retried.
    Retried(OutboxId),
    /// This row failed for good.
    Failed(OutboxId),
    /// Sending is paused (temporary ban) until then.
    Paused(Timestamp),
    /// Nothing due; the earliest queued row is due then (if any).
    Idle(Option<Timestamp>),
    /// A delete-for-everyone was carried out (revoke row id).
    Revoked(i64),
    /// A delete-for-everyone failed and will be retried, or was given up (revoke row id).
    RevokeFailed(i64),
}

/// The paced sender for one number.
pub struct OutboxWorker<M: Messenger> {
    app: App,
    messenger: Arc<M>,
    pacing: PacingPolicy,
    rng: StdRng,
    last_send: Option<Instant>,
    last_read: HashMap<String, String>,
}

impl<M: Messenger> OutboxWorker<M> {
    /// A worker with the app's pacing policy. `seed` drives the jitter (fixed in tests).
    pub fn new(app: App, messenger: Arc<M>, seed: u64) -> OutboxWorker<M> {
        let pacing = app.config().pacing.clone();
        OutboxWorker {
            app,
            messenger,
            pacing,
            rng: StdRng::seed_from_u64(seed),
            last_send: None,
            last_read: HashMap::new(),
        }
    }

    /// Runs until `shutdown` turns true; a send in progress is finished first.
    pub async fn run(mut self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                break;
            }
            let wait = match self.step().await {
                Ok(Step::Idle(next)) => self
                    .until(next)
                    .unwrap_or(Duration::from_secs(5))
                    .min(Duration::from_secs(5)),
                // Poll while paused so an admin's resume is noticed quickly.
                Ok(Step::Paused(until)) => self
                    .until(Some(until))
                    .unwrap_or_default()
                    .min(Duration::from_secs(2)),
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox step failed");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                _ = self.app.outbox_enqueued() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    fn until(&self, t: Option<Timestamp>) -> Option<Duration> {
        t.map(|t| Duration::from_millis(t.millis_since(self.app.now()).max(0) as u64))
    }

    /// Handles at most one outbox row.
    pub async fn step(&mut self) -> Result<Step, AppError> {
        let now = self.app.now();
        let (row, paused) = {
            let mut c = self.app.pool().acquire().await?;
            let paused = db::settings::get(&mut c, PAUSE_KEY)
                .await?
                .and_then(|v| v.as_i64())
                .map(Timestamp);
            if let Some(p) = paused
                && p > now
            {
                return Ok(Step::Paused(p));
            }
            (db::outbox::next_due(&mut c, now).await?, paused)
        };
        if paused.is_some() {
            self.app.resume_outbox(None).await?;
        }
        let revoke = {
            let mut c = self.app.pool().acquire().await?;
            db::outbox::next_revoke(&mut c, now).await?
        };
        if let Some(r) = revoke {
            self.wait_gap().await;
            let result = self.messenger.revoke(&r.recipient, &r.wa_id).await;
            self.last_send = Some(Instant::now());
            return self.settle_revoke(&r, result).await;
        }
        let Some(row) = row else {
            let mut c = self.app.pool().acquire().await?;
            return Ok(Step::Idle(db::outbox::earliest_due(&mut c).await?));
        };
        {
            let mut c = self.app.pool().acquire().await?;
            let sent = db::outbox::sent_to_customer_since(
                &mut c,
                row.customer_id,
                now.minus(self.pacing.customer_window),
            )
            .await?;
            if let CapDecision::WaitUntil(t) = self.pacing.customer_cap(&sent, now) {
                db::outbox::postpone(&mut c, row.id, t).await?;
                return Ok(Step::Postponed(row.id));
            }
        }
        self.wait_gap().await;
        let result = self.deliver(&row).await;
        self.last_send = Some(Instant::now());
        self.settle(&row, result).await
    }

    /// Waits out the jittered minimum gap since the previous send of this number.
    async fn wait_gap(&mut self) {
        if let Some(last) = self.last_send {
            let gap = self.pacing.min_gap + self.pacing.gap_jitter.mul_f64(self.rng.r#gen::<f64>());
            tokio::time::sleep_until(last + gap).await;
        }
    }

    async fn settle_revoke(
        &mut self,
        r: &db::outbox::RevokeRow,
        result: Result<(), SendError>,
    ) -> Result<Step, AppError> {
        let now = self.app.now();
        let mut tx = self.app.pool().begin_with("BEGIN IMMEDIATE").await?;
        let mut events = Vec::new();
        let step = match result {
            Ok(()) => {
                db::outbox::settle_revoke(&mut tx, r.id, true, None, None, now).await?;
                db::activity::log(
                    &mut tx,
                    None,
                    "message.revoke_sent",
                    Some(("message", r.message_id.0)),
                    None,
                    now,
                )
                .await?;
                Step::Revoked(r.id)
            }
            Err(SendError::TemporaryBan { reason, expires_at }) => {
                Step::Paused(pause_for_ban(&mut tx, reason, expires_at, now, &mut events).await?)
            }
            Err(e) => {
                let attempts = r.attempts as u32 + 1;
                let give_up = e.is_permanent() || attempts >= self.pacing.max_attempts;
                let retry = (!give_up)
                    .then(|| now.plus(self.pacing.retry_delay(attempts, self.rng.r#gen::<f64>())));
                db::outbox::settle_revoke(&mut tx, r.id, false, retry, Some(&e.to_string()), now)
                    .await?;
                Step::RevokeFailed(r.id)
            }
        };
        tx.commit().await?;
        for e in events {
            self.app.events().publish(now, e);
        }
        Ok(step)
    }

    async fn deliver(&mut self, row: &OutboxRow) -> Result<(), SendError> {
        if let Some(sha) = &row.media_sha256 {
            self.check_media(sha).await?;
        }
        let chat = row.recipient.clone();
        if let Some(read) = &row.read_wa_id
            && self.last_read.get(&chat) != Some(read)
        {
            match self
                .messenger
                .mark_read(&chat, std::slice::from_ref(read))
                .await
            {
                Ok(()) => {
                    self.last_read.insert(chat.clone(), read.clone());
                }
                Err(e @ SendError::TemporaryBan { .. }) => return Err(e),
                Err(e) => tracing::debug!(error = %e, "mark-read failed; sending anyway"),
            }
            tokio::time::sleep(self.pacing.read_pause).await;
        }
        let chars = row.body.as_deref().map_or(0, |b| b.chars().count());
        let typing = self.pacing.typing_time(chars, self.rng.r#gen::<f64>());
        match self.messenger.set_typing(&chat, true).await {
            Err(e @ SendError::TemporaryBan { .. }) => return Err(e),
            Err(e) => tracing::debug!(error = %e, "typing indicator failed"),
            Ok(()) => {}
        }
        tokio::time::sleep(typing).await;
        let media = row.media_sha256.as_ref().map(|sha| OutgoingMedia {
            sha256: sha.clone(),
            path: self.app.media_path(sha),
            mime: row
                .media_mime
                .clone()
                .unwrap_or_else(|| "application/octet-stream".into()),
            file_name: row.media_name.clone(),
        });
        let msg = OutgoingMessage {
            id: row.wa_id.clone(),
            to: chat,
            text: row.body.clone(),
            media,
            quoted_id: row.quoted_wa_id.clone(),
        };
        self.messenger.send(&msg).await
    }

    /// The attachment's file still hashes to its name: a damaged file never reaches a
    /// customer. Reading it reports the damage once as a `media_corrupt` admin alert
    /// ([`App::read_media`]); the message fails for good with a reason the agent sees.
    async fn check_media(&self, sha: &str) -> Result<(), SendError> {
        match self.app.read_media(sha).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(SendError::Permanent(
                "the attachment's file is missing (deleted by the retention?); nothing was sent: attach it again".into(),
            )),
            Err(AppError::MediaCorrupt(_)) => Err(SendError::Permanent(
                "the attachment's stored file is damaged (its SHA-256 no longer matches); nothing was sent: attach it again".into(),
            )),
            Err(e) => Err(SendError::Transient(format!("reading the attachment: {e}"))),
        }
    }

    async fn settle(
        &mut self,
        row: &OutboxRow,
        result: Result<(), SendError>,
    ) -> Result<Step, AppError> {
        let now = self.app.now();
        let mut tx = self.app.pool().begin_with("BEGIN IMMEDIATE").await?;
        let mut events = Vec::new();
        let step = match result {
            Ok(()) => {
                db::outbox::mark_sent(&mut tx, row.id, now).await?;
                if db::messages::advance_status(
                    &mut tx,
                    row.message_id,
                    MessageStatus::Sent,
                    None,
                    now,
                )
                .await?
                {
                    events.push(LiveEvent::MessageSent {
                        message_id: row.message_id,
                        ticket_id: row.ticket_id,
                    });
                }
                Step::Sent(row.id)
            }
            Err(SendError::TemporaryBan { reason, expires_at }) => {
                Step::Paused(pause_for_ban(&mut tx, reason, expires_at, now, &mut events).await?)
            }
            // The link is down, which is not the message's fault: it waits for the connection
            // without spending an attempt (the bridge wakes the worker on reconnect), so an
            // outage of any length never fails a reply the API accepted.
            Err(SendError::Disconnected) => {
                let delay = self.pacing.retry_delay(1, self.rng.r#gen::<f64>());
                db::outbox::postpone(&mut tx, row.id, now.plus(delay)).await?;
                Step::Retried(row.id)
            }
            Err(e) => {
                let attempts = row.attempts as u32 + 1;
                if e.is_permanent() || attempts >= self.pacing.max_attempts {
                    let err = e.to_string();
                    let (kind, text) = failure_alert(&e);
                    db::outbox::mark_failed(&mut tx, row.id, &err).await?;
                    db::messages::advance_status(
                        &mut tx,
                        row.message_id,
                        MessageStatus::Failed,
                        Some(&err),
                        now,
                    )
                    .await?;
                    let alert = db::activity::raise(
                        &mut tx,
                        kind,
                        text,
                        Some(&serde_json::json!({ "message_id": row.message_id, "ticket_id": row.ticket_id, "error": err })),
                        now,
                    )
                    .await?;
                    events.push(LiveEvent::MessageFailed {
                        message_id: row.message_id,
                        ticket_id: row.ticket_id,
                        error: err,
                    });
                    events.push(LiveEvent::AdminAlert { alert });
                    Step::Failed(row.id)
                } else {
                    let delay = self.pacing.retry_delay(attempts, self.rng.r#gen::<f64>());
                    db::outbox::retry_later(&mut tx, row.id, now.plus(delay), &e.to_string())
                        .await?;
                    Step::Retried(row.id)
                }
            }
        };
        tx.commit().await?;
        // Counted once the "sent" row is committed (a failed commit sends it again).
        if matches!(step, Step::Sent(_)) {
            crate::ops::metrics::global().outbound_sent();
        }
        for e in events {
            self.app.events().publish(now, e);
        }
        Ok(step)
    }
}

/// The admin alert a failed message raises: a 463 refusal has its own kind, since the
/// pharmacy's number may not start chats with customers who never wrote.
fn failure_alert(e: &SendError) -> (&'static str, &'static str) {
    match e {
        SendError::NewChatRefused => (
            "new_chat_refused",
            "WhatsApp refused a message to a customer who has not written to the pharmacy (error 463); it will not be retried",
        ),
        _ => ("send_failed", "A message could not be sent"),
    }
}

/// Pauses the queue after a temporary ban (persisted) and alerts the admins.
async fn pause_for_ban(
    c: &mut db::Conn,
    reason: Option<u16>,
    expires_at: Option<Timestamp>,
    now: Timestamp,
    events: &mut Vec<LiveEvent>,
) -> Result<Timestamp, AppError> {
    let until = expires_at
        .filter(|t| *t > now)
        .unwrap_or(now.plus(Duration::from_secs(3600)));
    db::settings::set(c, PAUSE_KEY, &serde_json::json!(until.0), now).await?;
    let detail = serde_json::json!({ "reason": reason, "until": until });
    let alert = db::activity::raise(
        c,
        "temporary_ban",
        "WhatsApp temporarily banned the number; sending is paused",
        Some(&detail),
        now,
    )
    .await?;
    events.push(LiveEvent::AdminAlert { alert });
    events.push(LiveEvent::WhatsappStatus {
        state: "temporary_ban".into(),
        detail: Some(detail),
    });
    Ok(until)
}

impl App {
    /// When sending is paused after a temporary ban, until when.
    pub async fn outbox_paused_until(&self) -> Result<Option<Timestamp>, AppError> {
        let mut c = self.pool().acquire().await?;
        let p = db::settings::get(&mut c, PAUSE_KEY)
            .await?
            .and_then(|v| v.as_i64())
            .map(Timestamp);
        Ok(p.filter(|t| *t > self.now()))
    }

    /// Pauses sending after WhatsApp reported a temporary ban outside a send (the bridge calls
    /// this on the client's ban event): persisted, alerted, published. Returns the end.
    pub async fn pause_outbox(
        &self,
        reason: Option<u16>,
        expires_at: Option<Timestamp>,
    ) -> Result<Timestamp, AppError> {
        let now = self.now();
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let mut events = Vec::new();
        let until = pause_for_ban(&mut tx, reason, expires_at, now, &mut events).await?;
        tx.commit().await?;
        for e in events {
            self.events().publish(now, e);
        }
        Ok(until)
    }

    /// Lifts a pause (an admin, or the worker itself once the ban expired).
    pub async fn resume_outbox(&self, admin: Option<UserId>) -> Result<(), AppError> {
        let now = self.now();
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        db::settings::remove(&mut tx, PAUSE_KEY).await?;
        db::activity::log(&mut tx, admin, "outbox.resumed", None, None, now).await?;
        tx.commit().await?;
        self.events().publish(
            now,
            LiveEvent::WhatsappStatus {
                state: "resumed".into(),
                detail: None,
            },
        );
        self.wake_outbox();
        Ok(())
    }

    /// Queued and held outbox rows (the outbox depth).
    pub async fn outbox_depth(&self) -> Result<i64, AppError> {
        let mut c = self.pool().acquire().await?;
        Ok(db::outbox::depth(&mut c).await?)
    }

    /// Messages held by the mass-send guard.
    pub async fn held_messages(&self) -> Result<Vec<OutboxRow>, AppError> {
        let mut c = self.pool().acquire().await?;
        Ok(db::outbox::held(&mut c).await?)
    }
}
