//! The outbox's use-cases: what the paced worker (`whatsapp::OutboxWorker`) reads, and how a
//! send or a delete-for-everyone is settled (each outcome with its status change, log entry or
//! alert in one transaction, the live events published after the commit); the queue's pause
//! after a temporary ban. The worker decides (pacing, jitter, which errors are worth another
//! attempt); these write what it decided.

use super::{App, AppError, LiveEvent};
use crate::db;
use crate::domain::ids::UserId;
use crate::domain::message::MessageStatus;
use crate::domain::pacing::{CapDecision, PacingPolicy};
use crate::domain::time::Timestamp;
use std::time::Duration;

pub use crate::db::outbox::{OutboxRow, RevokeRow};

const PAUSE_KEY: &str = "outbox.paused_until";

/// How a send ended, as the worker decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Sent: the row is done and the message `sent`.
    Sent,
    /// WhatsApp temporarily banned the number: the whole queue pauses (the row stays queued).
    Banned {
        /// The server's reason code.
        reason: Option<u16>,
        /// When the ban ends, if the server said.
        expires_at: Option<Timestamp>,
    },
    /// Due again then without spending an attempt (the link was down: not the message's fault).
    Postponed(Timestamp),
    /// Failed for good: the message is `failed` and the admins are alerted.
    Failed(String),
    /// Refused for good because the customer never wrote to the number (ack error 463): failed,
    /// never retried (each retry is another reach-out to a stranger), with its own alert.
    NewChatRefused(String),
    /// Failed this time: due again then, the attempt counted.
    Retry {
        /// When it is due again.
        at: Timestamp,
        /// What went wrong.
        error: String,
    },
}

/// How a delete-for-everyone ended, as the worker decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// Carried out (logged).
    Done,
    /// WhatsApp temporarily banned the number: the whole queue pauses.
    Banned {
        /// The server's reason code.
        reason: Option<u16>,
        /// When the ban ends, if the server said.
        expires_at: Option<Timestamp>,
    },
    /// Failed: due again at `retry`, or given up when `None`.
    Failed {
        /// When to try again.
        retry: Option<Timestamp>,
        /// What went wrong.
        error: String,
    },
}

impl App {
    /// The end of the pause as stored, even when it has passed (the worker lifts an expired one).
    pub async fn outbox_pause(&self) -> Result<Option<Timestamp>, AppError> {
        let mut c = self.read().await?;
        Ok(db::settings::get(&mut c, PAUSE_KEY)
            .await?
            .and_then(|v| v.as_i64())
            .map(Timestamp))
    }

    /// When sending is paused after a temporary ban, until when.
    pub async fn outbox_paused_until(&self) -> Result<Option<Timestamp>, AppError> {
        Ok(self.outbox_pause().await?.filter(|t| *t > self.now()))
    }

    /// The next queued row due at `now`.
    pub async fn outbox_next_due(&self, now: Timestamp) -> Result<Option<OutboxRow>, AppError> {
        let mut c = self.read().await?;
        Ok(db::outbox::next_due(&mut c, now).await?)
    }

    /// The next delete-for-everyone due at `now`.
    pub async fn outbox_next_revoke(&self, now: Timestamp) -> Result<Option<RevokeRow>, AppError> {
        let mut c = self.read().await?;
        Ok(db::outbox::next_revoke(&mut c, now).await?)
    }

    /// When the earliest queued row is due (none queued: `None`).
    pub async fn outbox_earliest_due(&self) -> Result<Option<Timestamp>, AppError> {
        let mut c = self.read().await?;
        Ok(db::outbox::earliest_due(&mut c).await?)
    }

    /// Holds `row` back when its customer already got as many messages as `pacing` allows in
    /// its window: the row is postponed to when one more may go. Whether it was.
    pub async fn outbox_hold_for_cap(
        &self,
        row: &OutboxRow,
        pacing: &PacingPolicy,
        now: Timestamp,
    ) -> Result<bool, AppError> {
        // The count and the hold it decides in one transaction: no send slips in between.
        let mut tx = self.begin().await?;
        let sent = db::outbox::sent_to_customer_since(
            &mut tx,
            row.customer_id,
            now.minus(pacing.customer_window),
        )
        .await?;
        if let CapDecision::WaitUntil(t) = pacing.customer_cap(&sent, now) {
            db::outbox::postpone(&mut tx, row.id, t).await?;
            tx.commit().await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Writes how the send of `row` ended. A ban gives the end of the pause.
    pub async fn settle_send(
        &self,
        row: &OutboxRow,
        outcome: &SendOutcome,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, AppError> {
        let mut tx = self.begin().await?;
        let mut events = Vec::new();
        let mut paused = None;
        match outcome {
            SendOutcome::Sent => {
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
            }
            SendOutcome::Banned { reason, expires_at } => {
                paused =
                    Some(pause_for_ban(&mut tx, *reason, *expires_at, now, &mut events).await?);
            }
            SendOutcome::Postponed(at) => db::outbox::postpone(&mut tx, row.id, *at).await?,
            SendOutcome::Failed(err) | SendOutcome::NewChatRefused(err) => {
                let (kind, text) = failure_alert(outcome);
                db::outbox::mark_failed(&mut tx, row.id, err).await?;
                db::messages::advance_status(
                    &mut tx,
                    row.message_id,
                    MessageStatus::Failed,
                    Some(err),
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
                    error: err.clone(),
                });
                events.push(LiveEvent::AdminAlert { alert });
            }
            SendOutcome::Retry { at, error } => {
                db::outbox::retry_later(&mut tx, row.id, *at, error).await?
            }
        }
        tx.commit().await?;
        self.publish_all(events);
        Ok(paused)
    }

    /// Writes how the delete-for-everyone `r` ended. A ban gives the end of the pause.
    pub async fn settle_revoke(
        &self,
        r: &RevokeRow,
        outcome: &RevokeOutcome,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, AppError> {
        let mut tx = self.begin().await?;
        let mut events = Vec::new();
        let mut paused = None;
        match outcome {
            RevokeOutcome::Done => {
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
            }
            RevokeOutcome::Banned { reason, expires_at } => {
                paused =
                    Some(pause_for_ban(&mut tx, *reason, *expires_at, now, &mut events).await?);
            }
            RevokeOutcome::Failed { retry, error } => {
                db::outbox::settle_revoke(&mut tx, r.id, false, *retry, Some(error), now).await?;
            }
        }
        tx.commit().await?;
        self.publish_all(events);
        Ok(paused)
    }

    /// Pauses sending after WhatsApp reported a temporary ban outside a send (the bridge calls
    /// this on the client's ban event): persisted, alerted, published. Returns the end.
    pub async fn pause_outbox(
        &self,
        reason: Option<u16>,
        expires_at: Option<Timestamp>,
    ) -> Result<Timestamp, AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let mut events = Vec::new();
        let until = pause_for_ban(&mut tx, reason, expires_at, now, &mut events).await?;
        tx.commit().await?;
        self.publish_all(events);
        Ok(until)
    }

    /// Lifts a pause (an admin, or the worker itself once the ban expired).
    pub async fn resume_outbox(&self, admin: Option<UserId>) -> Result<(), AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
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
        let mut c = self.read().await?;
        Ok(db::outbox::depth(&mut c).await?)
    }

    /// Messages held by the mass-send guard.
    pub async fn held_messages(&self) -> Result<Vec<OutboxRow>, AppError> {
        let mut c = self.read().await?;
        Ok(db::outbox::held(&mut c).await?)
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
    // The link's typed detail of a ban: its code and when it lifts.
    let detail = super::LinkDetail {
        code: reason.map(i64::from),
        until: Some(until),
        ..Default::default()
    };
    let alert = db::activity::raise(
        c,
        "temporary_ban",
        "WhatsApp temporarily banned the number; sending is paused",
        Some(&serde_json::to_value(&detail).unwrap_or_default()),
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

/// The admin alert a failed message raises: a 463 refusal has its own kind, since the
/// pharmacy's number may not start chats with customers who never wrote.
fn failure_alert(outcome: &SendOutcome) -> (&'static str, &'static str) {
    match outcome {
        SendOutcome::NewChatRefused(_) => (
            "new_chat_refused",
            "WhatsApp refused a message to a customer who has not written to the pharmacy (error 463); it will not be retried",
        ),
        _ => ("send_failed", "A message could not be sent"),
    }
}
