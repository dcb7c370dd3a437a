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

use crate::app::{
    App, AppError, Messenger, OutboxRow, OutgoingMedia, OutgoingMessage, RevokeOutcome, RevokeRow,
    SendError, SendOutcome,
};
use crate::domain::ids::OutboxId;
use crate::domain::pacing::PacingPolicy;
use crate::domain::time::Timestamp;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

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
        let paused = self.app.outbox_pause().await?;
        if let Some(p) = paused
            && p > now
        {
            return Ok(Step::Paused(p));
        }
        let row = self.app.outbox_next_due(now).await?;
        if paused.is_some() {
            self.app.resume_outbox(None).await?;
        }
        if let Some(r) = self.app.outbox_next_revoke(now).await? {
            self.wait_gap().await;
            let result = self.messenger.revoke(&r.recipient, &r.wa_id).await;
            self.last_send = Some(Instant::now());
            return self.settle_revoke(&r, result).await;
        }
        let Some(row) = row else {
            return Ok(Step::Idle(self.app.outbox_earliest_due().await?));
        };
        if self
            .app
            .outbox_hold_for_cap(&row, &self.pacing, now)
            .await?
        {
            return Ok(Step::Postponed(row.id));
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
        r: &RevokeRow,
        result: Result<(), SendError>,
    ) -> Result<Step, AppError> {
        let now = self.app.now();
        let outcome = match result {
            Ok(()) => RevokeOutcome::Done,
            Err(SendError::TemporaryBan { reason, expires_at }) => {
                RevokeOutcome::Banned { reason, expires_at }
            }
            Err(e) => {
                let attempts = r.attempts as u32 + 1;
                let give_up = e.is_permanent() || attempts >= self.pacing.max_attempts;
                let retry = (!give_up)
                    .then(|| now.plus(self.pacing.retry_delay(attempts, self.rng.r#gen::<f64>())));
                RevokeOutcome::Failed {
                    retry,
                    error: e.to_string(),
                }
            }
        };
        Ok(match self.app.settle_revoke(r, &outcome, now).await? {
            Some(until) => Step::Paused(until),
            None if outcome == RevokeOutcome::Done => Step::Revoked(r.id),
            None => Step::RevokeFailed(r.id),
        })
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
        let outcome = match result {
            Ok(()) => SendOutcome::Sent,
            Err(SendError::TemporaryBan { reason, expires_at }) => {
                SendOutcome::Banned { reason, expires_at }
            }
            // The link is down, which is not the message's fault: it waits for the connection
            // without spending an attempt (the bridge wakes the worker on reconnect), so an
            // outage of any length never fails a reply the API accepted.
            Err(SendError::Disconnected) => {
                let delay = self.pacing.retry_delay(1, self.rng.r#gen::<f64>());
                SendOutcome::Postponed(now.plus(delay))
            }
            Err(e) => {
                let attempts = row.attempts as u32 + 1;
                if e.is_permanent() || attempts >= self.pacing.max_attempts {
                    match e {
                        SendError::NewChatRefused => SendOutcome::NewChatRefused(e.to_string()),
                        _ => SendOutcome::Failed(e.to_string()),
                    }
                } else {
                    let delay = self.pacing.retry_delay(attempts, self.rng.r#gen::<f64>());
                    SendOutcome::Retry {
                        at: now.plus(delay),
                        error: e.to_string(),
                    }
                }
            }
        };
        let paused = self.app.settle_send(row, &outcome, now).await?;
        Ok(match (paused, outcome) {
            (Some(until), _) => Step::Paused(until),
            (None, SendOutcome::Sent) => {
                // Counted once the "sent" row is committed (a failed commit sends it again).
                crate::ops::metrics::global().outbound_sent();
                Step::Sent(row.id)
            }
            (None, SendOutcome::Failed(_) | SendOutcome::NewChatRefused(_)) => Step::Failed(row.id),
            (None, _) => Step::Retried(row.id),
        })
    }
}
