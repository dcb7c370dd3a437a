//! Periodic jobs: delay detection with reassignment, auto-close, backlog, KPI rollups.

use super::events::LiveEvent;
use super::inbound::journal;
use super::{App, AppError};
use crate::db;
use crate::domain::ids::TicketId;
use crate::domain::kpi::TicketEventKind;
use crate::domain::routing;
use crate::domain::ticket::{Actor, due_for_auto_close};
use serde::Serialize;
use std::time::Duration;

/// What one run of the periodic jobs did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JobReport {
    /// Tickets flagged as delayed.
    pub delayed: Vec<TicketId>,
    /// Of those, reassigned.
    pub reassigned: Vec<TicketId>,
    /// Tickets closed for inactivity.
    pub auto_closed: Vec<TicketId>,
    /// Tickets handed out from the queue.
    pub backlog_assigned: Vec<TicketId>,
}

impl App {
    /// Runs every periodic job once (the scheduler calls this; tests call it on a virtual clock).
    pub async fn run_jobs(&self) -> Result<JobReport, AppError> {
        let (delayed, reassigned) = self.detect_delays().await?;
        let auto_closed = self.auto_close().await?;
        let backlog_assigned = self.assign_backlog().await?;
        Ok(JobReport {
            delayed,
            reassigned,
            auto_closed,
            backlog_assigned,
        })
    }

    /// Spawns the scheduler: [`App::run_jobs`] every `every`, and the KPI rollup of today.
    pub fn spawn_scheduler(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let app = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            // After a stall (a suspended VM, a starved process) one run, not a burst of the missed ones.
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = app.run_jobs().await {
                    tracing::warn!(error = %e, "periodic jobs failed");
                }
                let today = app.now().local(app.time_zone()).date;
                if let Err(e) = app.roll_up_kpis(today).await {
                    tracing::warn!(error = %e, "KPI rollup failed");
                }
            }
        })
    }

    /// Tickets whose agent has not answered within `first_response_timeout` of assignment:
    /// a delay event, an admin alert, and reassignment to another eligible agent if any.
    pub async fn detect_delays(&self) -> Result<(Vec<TicketId>, Vec<TicketId>), AppError> {
        let now = self.now();
        let timeout = self.config().first_response_timeout;
        if timeout.is_zero() {
            return Ok((Vec::new(), Vec::new()));
        }
        let mut tx = self.begin().await?;
        let mut events = Vec::new();
        let (mut delayed, mut reassigned) = (Vec::new(), Vec::new());
        for t in db::tickets::delayed(&mut tx, now.minus(timeout)).await? {
            let Some(agent) = t.agent_id else { continue };
            let (rt, rc) = self.routing_facts(&mut tx, &t, None).await?;
            let agents: Vec<_> = db::agents::list(&mut tx)
                .await?
                .iter()
                .map(|a| a.snapshot())
                .collect();
            let sites: Vec<_> = db::branches::list(&mut tx)
                .await?
                .iter()
                .map(|b| b.site())
                .collect();
            let target = routing::reassign_on_delay(
                &rt,
                &rc,
                agent,
                &agents,
                &sites,
                &self.routing_policy(),
                now,
            );
            let waiting = t.waiting_since.unwrap_or(t.opened_at);
            db::kpi::record_delay(
                &mut tx,
                t.id,
                agent,
                t.branch_id,
                waiting,
                now,
                target.map(|x| x.0),
            )
            .await?;
            journal(
                &mut tx,
                t.id,
                t.branch_id,
                TicketEventKind::Delayed { agent },
                now,
            )
            .await?;
            let minutes = timeout.as_secs() / 60;
            let alert = db::activity::raise(
                &mut tx,
                "delay",
                &format!("Ticket {} had no first response within {minutes} min", t.id),
                Some(&serde_json::json!({ "ticket_id": t.id, "agent_id": agent, "reassigned_to": target.map(|x| x.0) })),
                now,
            )
            .await?;
            events.push(LiveEvent::AdminAlert { alert });
            if let Some((to, branch)) = target {
                let note = format!("no first response within {minutes} min");
                self.assign_to(
                    &mut tx,
                    &t,
                    Some(to),
                    branch,
                    "reassign_delay",
                    None,
                    &note,
                    now,
                    &mut events,
                )
                .await?;
                reassigned.push(t.id);
            }
            // Flag after any reassignment (which clears the flag) so the same assignment is
            // not flagged twice and the new one gets its own full timeout.
            if target.is_none() {
                db::tickets::set_delay_flagged(&mut tx, t.id, now).await?;
            }
            delayed.push(t.id);
        }
        tx.commit().await?;
        self.publish_all(events);
        Ok((delayed, reassigned))
    }

    /// Closes open and pending tickets idle for `auto_close_after`. Tickets carried over from
    /// the old system are exempt until someone reviews them: their last activity predates the
    /// switch-over, so the first run after the import would close every one of them.
    pub async fn auto_close(&self) -> Result<Vec<TicketId>, AppError> {
        let now = self.now();
        let after = self.config().auto_close_after;
        if after.is_zero() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let mut events = Vec::new();
        let mut closed = Vec::new();
        for t in db::tickets::idle(&mut tx, now.minus(after)).await? {
            let reviewed = t.carried_over_at.is_none();
            if reviewed && due_for_auto_close(t.status, t.last_activity_at, now, after) {
                self.close_in(
                    &mut tx,
                    t.id,
                    Actor::System,
                    Some("inactivity"),
                    now,
                    &mut events,
                )
                .await?;
                closed.push(t.id);
            }
        }
        tx.commit().await?;
        self.publish_all(events);
        Ok(closed)
    }
}
