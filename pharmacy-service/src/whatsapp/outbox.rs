//! The outbox worker: one per WhatsApp number, sending queued messages paced by the risk-tiered
//! policy of [`crate::domain::pacing`].
//!
//! The worker plans each message with the [`Pacer`] (its tier, when its read receipt, "typing"
//! and stanza go out) and hands it to a task of its own chat: up to `max_typing_chats` chats are
//! read and typed in at once, one message per chat at a time, so messages to one chat keep their
//! order while typing in one chat never holds up another. Only the stanzas are spaced
//! number-wide, by the pacer's reservation. Transient errors retry with exponential backoff; a
//! temporary ban pauses the whole queue (persisted, so a restart stays paused) and alerts the
//! admins; restriction signals (463, a ban) tighten the pacing ([`App::pacing_restricted`]).
//!
//! Exactly-once: a row stays `queued` until the send succeeded and the `sent` state is
//! committed. A crash in between resends it with the same WhatsApp id, which the receiver
//! deduplicates.

use crate::app::{
    App, AppError, Messenger, OutboxRow, OutgoingMedia, OutgoingMessage, PLAN_HORIZON,
    RevokeOutcome, RevokeRow, SendError, SendOutcome,
};
use crate::domain::ids::OutboxId;
use crate::domain::pacing::schedule::Request;
use crate::domain::pacing::{Pacer, Plan, PlanJitter, Planned, Restriction};
use crate::domain::time::Timestamp;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// What one step of the worker did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Sent this row.
    Sent(OutboxId),
    /// The per-customer cap or the pacing postponed this row.
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

/// What the worker decided to do next.
enum Job {
    /// Nothing to carry out.
    Done(Step),
    /// Send a row as planned.
    Send(Box<OutboxRow>, Plan, f64),
    /// Delete a message for everyone at then.
    Revoke(RevokeRow, Timestamp, f64),
}

/// The paced sender for one number.
pub struct OutboxWorker<M: Messenger> {
    app: App,
    carrier: Carrier<M>,
    rng: StdRng,
    pacer: Pacer,
    busy: HashSet<String>,
    tasks: JoinSet<(String, Result<Step, AppError>)>,
    stop: watch::Sender<bool>,
}

/// Carries out planned sends; cloned into each chat's task.
struct Carrier<M> {
    app: App,
    messenger: Arc<M>,
    last_read: Arc<Mutex<HashMap<String, String>>>,
    /// When the last stanza was acknowledged: held across a send, so two stanzas are never
    /// closer than the minimum spacing even when a task runs late.
    last_stanza: Arc<tokio::sync::Mutex<Option<Instant>>>,
    /// The pacing clock: the app's time at the worker's start, and the monotonic instant then.
    origin: (Timestamp, Instant),
    stop: watch::Receiver<bool>,
}

impl<M> Clone for Carrier<M> {
    fn clone(&self) -> Self {
        Carrier {
            app: self.app.clone(),
            messenger: self.messenger.clone(),
            last_read: self.last_read.clone(),
            last_stanza: self.last_stanza.clone(),
            origin: self.origin,
            stop: self.stop.clone(),
        }
    }
}

impl<M: Messenger> OutboxWorker<M> {
    /// A worker with the app's pacing policy (read again for every message, so an admin's
    /// change applies at once). `seed` drives the jitter (fixed in tests).
    pub fn new(app: App, messenger: Arc<M>, seed: u64) -> OutboxWorker<M> {
        let (stop, stopped) = watch::channel(false);
        OutboxWorker {
            carrier: Carrier {
                app: app.clone(),
                messenger,
                last_read: Arc::default(),
                last_stanza: Arc::default(),
                origin: (app.now(), Instant::now()),
                stop: stopped,
            },
            app,
            rng: StdRng::seed_from_u64(seed),
            pacer: Pacer::default(),
            busy: HashSet::new(),
            tasks: JoinSet::new(),
            stop,
        }
    }

    /// Runs until `shutdown` turns true; sends already typed are finished first, planned ones
    /// not yet started stay queued.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                break;
            }
            while let Some(done) = self.tasks.try_join_next() {
                self.finished(done);
            }
            let room = self.app.config().pacing.max_typing_chats.max(1) as usize;
            let wait = if self.tasks.len() >= room {
                Duration::from_secs(5)
            } else {
                match self.next_job().await {
                    Ok(Job::Done(Step::Idle(next))) => self
                        .until(next)
                        .unwrap_or(Duration::from_secs(5))
                        .min(Duration::from_secs(5)),
                    // Poll while paused so an admin's resume is noticed quickly.
                    Ok(Job::Done(Step::Paused(until))) => self
                        .until(Some(until))
                        .unwrap_or_default()
                        .min(Duration::from_secs(2)),
                    Ok(Job::Done(_)) => continue,
                    Ok(job) => {
                        self.spawn(job);
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "outbox step failed");
                        Duration::from_secs(1)
                    }
                }
            };
            tokio::select! {
                Some(done) = self.tasks.join_next(), if !self.tasks.is_empty() => self.finished(done),
                _ = self.app.outbox_enqueued() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
        let _ = self.stop.send(true);
        while let Some(done) = self.tasks.join_next().await {
            self.finished(done);
        }
    }

    fn spawn(&mut self, job: Job) {
        let carrier = self.carrier.clone();
        let (chat, fut): (String, std::pin::Pin<Box<dyn Future<Output = _> + Send>>) = match job {
            Job::Send(row, plan, j) => (
                row.recipient.clone(),
                Box::pin(async move { carrier.send(&row, plan, j).await }),
            ),
            Job::Revoke(r, at, j) => (
                r.recipient.clone(),
                Box::pin(async move { carrier.revoke(&r, at, j).await }),
            ),
            Job::Done(_) => return,
        };
        self.busy.insert(chat.clone());
        self.tasks.spawn(async move { (chat, fut.await) });
    }

    fn finished(&mut self, done: Result<(String, Result<Step, AppError>), tokio::task::JoinError>) {
        match done {
            Ok((chat, result)) => {
                self.busy.remove(&chat);
                if let Err(e) = result {
                    tracing::warn!(error = %e, "outbox send failed");
                }
            }
            Err(e) => {
                // A panicked task's chat stays busy until the restart: nothing is lost, the
                // row is still queued.
                tracing::error!(error = %e, "outbox task panicked");
            }
        }
    }

    fn until(&self, t: Option<Timestamp>) -> Option<Duration> {
        t.map(|t| Duration::from_millis(t.millis_since(self.app.now()).max(0) as u64))
    }

    /// Handles at most one outbox row, carrying it out before returning.
    pub async fn step(&mut self) -> Result<Step, AppError> {
        match self.next_job().await? {
            Job::Done(step) => Ok(step),
            Job::Send(row, plan, j) => self.carrier.send(&row, plan, j).await,
            Job::Revoke(r, at, j) => self.carrier.revoke(&r, at, j).await,
        }
    }

    /// Picks the next row and plans it.
    async fn next_job(&mut self) -> Result<Job, AppError> {
        let now = self.app.now();
        let paused = self.app.outbox_pause().await?;
        if let Some(p) = paused
            && p > now
        {
            return Ok(Job::Done(Step::Paused(p)));
        }
        if paused.is_some() {
            self.app.resume_outbox(None).await?;
        }
        let policy = self.app.config().pacing.clone();
        let tight = self.app.pacing_tightening().await?;
        let pace_now = self.carrier.pace_now();
        if let Some(r) = self.app.outbox_next_revoke(now).await?
            && !self.busy.contains(&r.recipient)
        {
            let at = self
                .pacer
                .stanza(&policy, &tight, pace_now, self.rng.r#gen::<f64>());
            return Ok(Job::Revoke(r, at, self.rng.r#gen::<f64>()));
        }
        let heads = self.app.outbox_due_heads(now, 64).await?;
        let Some(row) = heads
            .into_iter()
            .find(|r| !self.busy.contains(&r.recipient))
        else {
            // Due rows whose chats are busy wait for their chat's task, which wakes the loop.
            let next = if self.busy.is_empty() {
                self.app.outbox_earliest_due().await?
            } else {
                None
            };
            return Ok(Job::Done(Step::Idle(next)));
        };
        if self.app.outbox_hold_for_cap(&row, &policy, now).await? {
            return Ok(Job::Done(Step::Postponed(row.id)));
        }
        let (tier, _) = self.app.outbox_tier(&row, now).await?;
        let read_first = row.read_wa_id.as_ref().is_some_and(|read| {
            let last = self
                .carrier
                .last_read
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            last.get(&row.recipient) != Some(read)
        });
        let jitter = PlanJitter {
            gap: self.rng.r#gen(),
            typing: self.rng.r#gen(),
            burst: self.rng.r#gen(),
        };
        let req = Request {
            chat: &row.recipient,
            tier,
            chars: row.body.as_deref().map_or(0, |b| b.chars().count()),
            read_first,
        };
        match self
            .pacer
            .plan(&policy, &tight, &req, pace_now, jitter, PLAN_HORIZON)
        {
            Planned::Later(t) => {
                self.app
                    .outbox_postpone(row.id, self.carrier.app_time(t))
                    .await?;
                Ok(Job::Done(Step::Postponed(row.id)))
            }
            Planned::Go(plan) => {
                self.app
                    .outbox_planned(&row, tier, self.carrier.app_time(plan.send_at))
                    .await?;
                Ok(Job::Send(Box::new(row), plan, self.rng.r#gen::<f64>()))
            }
        }
    }
}

impl<M: Messenger> Carrier<M> {
    /// The pacing clock now: monotonic, starting at the app's time.
    fn pace_now(&self) -> Timestamp {
        self.origin.0.plus(self.origin.1.elapsed())
    }

    /// A pacing-clock instant on the app's clock.
    fn app_time(&self, t: Timestamp) -> Timestamp {
        Timestamp(self.app.now().0 + t.millis_since(self.pace_now()))
    }

    /// Sleeps until the pacing-clock instant `t`; false when the worker stops first.
    async fn sleep_until(&self, t: Timestamp) -> bool {
        let at = self.origin.1 + Duration::from_millis(t.millis_since(self.origin.0).max(0) as u64);
        let mut stop = self.stop.clone();
        if *stop.borrow() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(at) => true,
            _ = stop.changed() => false,
        }
    }

    async fn revoke(&self, r: &RevokeRow, at: Timestamp, jitter: f64) -> Result<Step, AppError> {
        if !self.sleep_until(at).await {
            return Ok(Step::Idle(None));
        }
        let result = self
            .stanza(self.messenger.revoke(&r.recipient, &r.wa_id))
            .await;
        let now = self.app.now();
        let pacing = self.app.config().pacing.clone();
        let outcome = match result {
            Ok(()) => RevokeOutcome::Done,
            Err(SendError::TemporaryBan { reason, expires_at }) => {
                RevokeOutcome::Banned { reason, expires_at }
            }
            Err(e) => {
                let attempts = r.attempts as u32 + 1;
                let give_up = e.is_permanent() || attempts >= pacing.max_attempts;
                let retry = (!give_up).then(|| now.plus(pacing.retry_delay(attempts, jitter)));
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

    /// Reads, types and sends `row` as planned, then settles it.
    async fn send(&self, row: &OutboxRow, plan: Plan, jitter: f64) -> Result<Step, AppError> {
        let result = self.deliver(row, plan).await;
        if matches!(result, Err(SendError::Disconnected)) && *self.stop.borrow() {
            // Stopped before the stanza: the row stays queued, nothing spent.
            return Ok(Step::Idle(None));
        }
        if result.is_err() {
            // "Typing" never hangs without a message following it (sent again when the
            // failure came after "paused": harmless).
            let _ = self.messenger.set_typing(&row.recipient, false).await;
        }
        self.settle(row, result, jitter).await
    }

    async fn deliver(&self, row: &OutboxRow, plan: Plan) -> Result<(), SendError> {
        if let Some(sha) = &row.media_sha256 {
            self.check_media(sha).await?;
        }
        let chat = row.recipient.clone();
        if let (Some(read_at), Some(read)) = (plan.read_at, &row.read_wa_id) {
            if !self.sleep_until(read_at).await {
                return Err(SendError::Disconnected);
            }
            match self
                .messenger
                .mark_read(&chat, std::slice::from_ref(read))
                .await
            {
                Ok(()) => {
                    self.last_read
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(chat.clone(), read.clone());
                }
                Err(e @ SendError::TemporaryBan { .. }) => return Err(e),
                Err(e) => tracing::debug!(error = %e, "mark-read failed; sending anyway"),
            }
        }
        if !self.sleep_until(plan.typing_from).await {
            return Err(SendError::Disconnected);
        }
        match self.messenger.set_typing(&chat, true).await {
            Err(e @ SendError::TemporaryBan { .. }) => return Err(e),
            Err(e) => tracing::debug!(error = %e, "typing indicator failed"),
            Ok(()) => {}
        }
        if !self.sleep_until(plan.send_at).await {
            return Err(SendError::Disconnected);
        }
        // A ban reported while this chat was typing holds its message too.
        if self
            .app
            .outbox_paused_until()
            .await
            .ok()
            .flatten()
            .is_some()
        {
            return Err(SendError::Disconnected);
        }
        // guess: a person stops typing when they press send, so "paused" comes just before the
        // message (the customer's phone shows "typing…" until one of them arrives).
        match self.messenger.set_typing(&chat, false).await {
            Err(e @ SendError::TemporaryBan { .. }) => return Err(e),
            Err(e) => tracing::debug!(error = %e, "paused indicator failed"),
            Ok(()) => {}
        }
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
        self.stanza(self.messenger.send(&msg)).await
    }

    /// Sends one stanza at least the minimum spacing after the previous one was acknowledged.
    async fn stanza<T>(&self, send: impl Future<Output = T>) -> T {
        let mut last = self.last_stanza.lock().await;
        if let Some(at) = *last {
            tokio::time::sleep_until(at + self.app.config().pacing.active_gap).await;
        }
        let result = send.await;
        *last = Some(Instant::now());
        result
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
        &self,
        row: &OutboxRow,
        result: Result<(), SendError>,
        jitter: f64,
    ) -> Result<Step, AppError> {
        // The server's ack: `send` returned once WhatsApp accepted the message.
        let now = self.app.now();
        let pacing = self.app.config().pacing.clone();
        let outcome = match result {
            Ok(()) => SendOutcome::Sent,
            Err(SendError::TemporaryBan { reason, expires_at }) => {
                SendOutcome::Banned { reason, expires_at }
            }
            // The link is down, which is not the message's fault: it waits for the connection
            // without spending an attempt (the bridge wakes the worker on reconnect), so an
            // outage of any length never fails a reply the API accepted.
            Err(SendError::Disconnected) => {
                SendOutcome::Postponed(now.plus(pacing.retry_delay(1, jitter)))
            }
            Err(e) => {
                let attempts = row.attempts as u32 + 1;
                if e.is_permanent() || attempts >= pacing.max_attempts {
                    match e {
                        SendError::NewChatRefused => SendOutcome::NewChatRefused(e.to_string()),
                        _ => SendOutcome::Failed(e.to_string()),
                    }
                } else {
                    SendOutcome::Retry {
                        at: now.plus(pacing.retry_delay(attempts, jitter)),
                        error: e.to_string(),
                    }
                }
            }
        };
        let paused = self.app.settle_send(row, &outcome, now).await?;
        match &outcome {
            SendOutcome::NewChatRefused(_) => {
                self.app
                    .pacing_restricted(Restriction::NewChatRefused)
                    .await?;
            }
            SendOutcome::Banned { expires_at, .. } => {
                self.app
                    .pacing_restricted(Restriction::TemporaryBan {
                        expires_at: *expires_at,
                    })
                    .await?;
            }
            _ => {}
        }
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
