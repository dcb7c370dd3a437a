//! Pacing state the worker and the admins share: each queued message's tier and planned send
//! time, the tightening after restriction signals (persisted, alerted), the queue's figures for
//! the dashboard and `/metrics`, and the pacing profile admins change at run time within the
//! hard bounds of [`crate::domain::pacing::bounds`].

use super::{App, AppError, LiveEvent};
use crate::db;
use crate::domain::ids::{OutboxId, UserId};
use crate::domain::pacing::bounds::PacingPatch;
use crate::domain::pacing::tier::{self, OutreachReason};
use crate::domain::pacing::tightening::Escalation;
use crate::domain::pacing::{PacingPolicy, Restriction, Tier, Tightening};
use crate::domain::time::Timestamp;
use serde::Serialize;
use std::time::Duration;

use super::OutboxRow;

const TIGHTENING_KEY: &str = "pacing.tightening";
const PROFILE_KEY: &str = "pacing.profile";

/// The queue as admins see it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct QueueFigures {
    /// Messages queued (not held) in the outbox.
    pub queued: i64,
    /// Of those, planned as replies in active conversations.
    pub queued_active: i64,
    /// Of those, planned as outreach.
    pub queued_outreach: i64,
    /// How long the oldest queued message has waited, in seconds.
    pub oldest_wait_s: Option<f64>,
    /// The pacing in force: `normal`, or `tightened` after a restriction signal.
    pub state: String,
    /// Gaps are multiplied by this (1 when normal).
    pub factor: f64,
    /// No outreach before then, when blocked.
    pub outreach_blocked_until: Option<Timestamp>,
    /// Today's sent messages: median seconds between the agent's send and WhatsApp's ack.
    pub queued_p50_s: Option<f64>,
    /// Today's sent messages: 95th percentile of the same.
    pub queued_p95_s: Option<f64>,
}

impl App {
    /// The tier `row` goes out in at `now`, and why it is outreach when it is.
    pub async fn outbox_tier(
        &self,
        row: &OutboxRow,
        now: Timestamp,
    ) -> Result<(Tier, Option<OutreachReason>), AppError> {
        let policy = self.config().pacing.clone();
        let mut c = self.read().await?;
        let last_in = db::outbox::last_inbound_at(&mut c, row.customer_id).await?;
        Ok(tier::classify(&policy, last_in, now))
    }

    /// Due rows heading their chats' queues, oldest first.
    pub async fn outbox_due_heads(
        &self,
        now: Timestamp,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, AppError> {
        let mut c = self.read().await?;
        Ok(db::outbox::due_heads(&mut c, now, limit).await?)
    }

    /// Records the tier and planned send time of a row (the agent's estimate), and publishes
    /// it on the row's message.
    pub async fn outbox_planned(
        &self,
        row: &OutboxRow,
        tier: Tier,
        send_at: Timestamp,
    ) -> Result<(), AppError> {
        let mut c = self.read().await?;
        db::outbox::set_plan(&mut c, row.id, tier.as_str(), send_at).await?;
        self.events().publish(
            self.now(),
            LiveEvent::MessagePlanned {
                message_id: row.message_id,
                ticket_id: row.ticket_id,
                send_at,
            },
        );
        Ok(())
    }

    /// Puts a row back until `at` without spending an attempt (its slot is beyond the horizon).
    pub async fn outbox_postpone(&self, id: OutboxId, at: Timestamp) -> Result<(), AppError> {
        let mut c = self.read().await?;
        Ok(db::outbox::postpone(&mut c, id, at).await?)
    }

    /// The tightening in force (none stored: none).
    pub async fn pacing_tightening(&self) -> Result<Tightening, AppError> {
        let mut c = self.read().await?;
        Ok(db::settings::get(&mut c, TIGHTENING_KEY)
            .await?
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default())
    }

    /// A restriction signal: tightens the pacing (persisted) and alerts the admins with what is
    /// in force now. The new tightening.
    pub async fn pacing_restricted(&self, signal: Restriction) -> Result<Tightening, AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let mut t: Tightening = db::settings::get(&mut tx, TIGHTENING_KEY)
            .await?
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let e = t.on_signal(signal, now);
        let value = serde_json::to_value(&t).unwrap_or_default();
        db::settings::set(&mut tx, TIGHTENING_KEY, &value, now).await?;
        let alert = db::activity::raise(
            &mut tx,
            "pacing_tightened",
            &tightened_text(&e),
            Some(&serde_json::to_value(&e).unwrap_or_default()),
            now,
        )
        .await?;
        tx.commit().await?;
        self.events().publish(now, LiveEvent::AdminAlert { alert });
        Ok(t)
    }

    /// The queue's figures at `now`.
    pub async fn queue_figures(&self) -> Result<QueueFigures, AppError> {
        let now = self.now();
        let tight = self.pacing_tightening().await?;
        let mut c = self.read().await?;
        let rows = db::outbox::queue_by_tier(&mut c).await?;
        let count = |t: &str| {
            rows.iter()
                .filter(|r| r.0.as_deref() == Some(t))
                .map(|r| r.1)
                .sum::<i64>()
        };
        let oldest = rows.iter().map(|r| r.2).min();
        let day =
            crate::domain::time::start_of_day(now.local(self.time_zone()).date, self.time_zone());
        let waits = db::outbox::queued_millis_since(&mut c, day).await?;
        let pct = |q: f64| {
            (!waits.is_empty()).then(|| {
                let i = ((waits.len() as f64 * q).ceil() as usize).clamp(1, waits.len()) - 1;
                waits[i] as f64 / 1000.0
            })
        };
        Ok(QueueFigures {
            queued: rows.iter().map(|r| r.1).sum(),
            queued_active: count("active"),
            queued_outreach: count("outreach"),
            oldest_wait_s: oldest.map(|t| now.since(t).as_secs_f64()),
            state: if tight.is_tight(now) {
                "tightened"
            } else {
                "normal"
            }
            .into(),
            factor: tight.factor(now),
            outreach_blocked_until: tight.outreach_blocked(now),
            queued_p50_s: pct(0.5),
            queued_p95_s: pct(0.95),
        })
    }

    /// Changes the pacing profile (admin) within the hard bounds: persisted, logged, in force
    /// at once (the worker reads the policy for every message).
    pub async fn update_pacing(
        &self,
        patch: &PacingPatch,
        by: UserId,
    ) -> Result<PacingPolicy, AppError> {
        let mut policy = self.config().pacing.clone();
        patch.apply(&mut policy).map_err(|e| AppError::Invalid {
            field: e.field,
            message: e.message,
        })?;
        let now = self.now();
        let mut tx = self.begin().await?;
        let mut stored: PacingPatch = db::settings::get(&mut tx, PROFILE_KEY)
            .await?
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        stored.merge(patch);
        let value = serde_json::to_value(&stored).unwrap_or_default();
        db::settings::set(&mut tx, PROFILE_KEY, &value, now).await?;
        db::activity::log(
            &mut tx,
            Some(by),
            "pacing.updated",
            None,
            Some(&serde_json::to_value(patch).unwrap_or_default()),
            now,
        )
        .await?;
        tx.commit().await?;
        let mut cfg = (*self.config()).clone();
        cfg.pacing = policy.clone();
        self.replace_config(cfg);
        Ok(policy)
    }

    /// Applies the stored pacing profile over the configured one (at start-up). A stored value
    /// outside today's bounds is ignored, never applied.
    pub async fn load_pacing_profile(&self) -> Result<(), AppError> {
        let mut c = self.read().await?;
        if let Some(p) = db::settings::get(&mut c, PROFILE_KEY)
            .await?
            .and_then(|v| serde_json::from_value::<PacingPatch>(v).ok())
        {
            let mut cfg = (*self.config()).clone();
            match p.apply(&mut cfg.pacing) {
                Ok(()) => self.replace_config(cfg),
                Err(e) => {
                    tracing::warn!(error = %e, "stored pacing profile out of bounds; ignored")
                }
            }
        }
        Ok(())
    }
}

fn tightened_text(e: &Escalation) -> String {
    let what = match e.signal {
        "new_chat_refused" => "WhatsApp refused a message to a customer who has not written (463)",
        "rate_limited" => "WhatsApp said the number is sending too fast (429)",
        _ => "WhatsApp temporarily banned the number",
    };
    let blocked = if e.outreach_blocked_until.is_some() {
        "; messages to customers silent for over a day are held"
    } else {
        ""
    };
    format!("{what}: sending slowed ×{:.1}{blocked}", e.factor)
}

/// How far ahead a message may be planned: it starts reading and typing at most this long
/// before its slot is the worker's concern, later ones go back to the queue. guess: a little
/// over the longest typing, so the worker never holds a chat for long.
pub const PLAN_HORIZON: Duration = Duration::from_secs(20);
