//! The admin dashboard's live figures and per-branch KPIs.

use super::kpi::KpiQuery;
use super::{App, AppError};
use crate::db;
use crate::domain::ids::BranchId;
use crate::domain::kpi::{KpiTotals, roll_up};
use crate::domain::routing::AgentStatus;
use crate::domain::time::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;

/// What the admin sees at a glance.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Dashboard {
    /// Open tickets.
    pub open: i64,
    /// Pending tickets (waiting on customers).
    pub pending: i64,
    /// Open tickets nobody has (the queue).
    pub unassigned: i64,
    /// Agents online now.
    pub agents_online: i64,
    /// Outbox rows queued or held.
    pub outbox_depth: i64,
    /// Sending paused (temporary ban) until then.
    pub outbox_paused_until: Option<Timestamp>,
    /// Unacknowledged alerts.
    pub open_alerts: i64,
    /// Today's totals (local day).
    pub today: KpiTotals,
}

impl App {
    /// The dashboard figures now.
    pub async fn dashboard(&self) -> Result<Dashboard, AppError> {
        let today = self.now().local(self.time_zone()).date;
        let report = self
            .kpi_report(KpiQuery {
                from: today,
                to: today,
            })
            .await?;
        let mut c = self.read().await?;
        let (open, pending, unassigned) = db::tickets::counts(&mut c).await?;
        let agents_online = db::agents::list(&mut c)
            .await?
            .iter()
            .filter(|a| a.status == AgentStatus::Online && a.is_active)
            .count() as i64;
        let outbox_depth = db::outbox::depth(&mut c).await?;
        let open_alerts = db::activity::open_alerts(&mut c).await?.len() as i64;
        drop(c);
        Ok(Dashboard {
            open,
            pending,
            unassigned,
            agents_online,
            outbox_depth,
            outbox_paused_until: self.outbox_paused_until().await?,
            open_alerts,
            today: report.overall,
        })
    }

    /// KPIs per branch over local days `from..=to`, from the journal fold (the definition);
    /// `None` = tickets with no branch.
    pub async fn kpi_by_branch(
        &self,
        q: KpiQuery,
    ) -> Result<BTreeMap<Option<BranchId>, KpiTotals>, AppError> {
        let daily = self.kpi_fold(q).await?;
        Ok(roll_up(&daily, |k| k.branch))
    }
}
