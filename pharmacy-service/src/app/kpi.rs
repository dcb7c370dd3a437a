//! KPI reports: SQL aggregates per agent per local day/month, the pure fold over the journal
//! (the definition), and the materialised daily/monthly rollups.

use super::{App, AppError};
use crate::db;
use crate::domain::ids::{AgentId, BranchId};
use crate::domain::kpi::{self, KpiKey, KpiTotals};
use crate::domain::time::{month_key, start_of_day};
use jiff::civil::Date;
use serde::Serialize;
use std::collections::BTreeMap;

/// A KPI question: local dates `from..=to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KpiQuery {
    /// First local day.
    pub from: Date,
    /// Last local day (inclusive).
    pub to: Date,
}

/// One agent's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct KpiRow {
    /// The agent.
    pub agent_id: AgentId,
    /// Their name.
    pub name: String,
    /// Their branch.
    pub branch_id: Option<BranchId>,
    /// Sums and counts.
    pub totals: KpiTotals,
    /// Average first response, seconds.
    pub avg_first_response_s: Option<f64>,
    /// Average reply time, seconds.
    pub avg_reply_s: Option<f64>,
    /// Average resolution time, seconds.
    pub avg_resolution_s: Option<f64>,
    /// CSAT average (1-5).
    pub csat_avg: Option<f64>,
}

/// A KPI report with the formulas it was computed by.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct KpiReport {
    /// First local day, `YYYY-MM-DD`.
    pub from: String,
    /// Last local day, `YYYY-MM-DD`.
    pub to: String,
    /// One row per agent with activity.
    pub agents: Vec<KpiRow>,
    /// Everything together.
    pub overall: KpiTotals,
    /// The definitions, as shown to admins: `[name, formula]` pairs.
    #[schema(value_type = Vec<Vec<String>>)]
    pub formulas: Vec<(&'static str, &'static str)>,
}

/// Satisfaction ratings over a range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RatingSummary {
    /// How many.
    pub ratings: i64,
    /// Their average (1-5); null without ratings.
    #[schema(required = true)]
    pub average: Option<f64>,
}

/// Customer figures over local days `from..=to`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CustomerFigures {
    /// First local day, `YYYY-MM-DD`.
    pub from: String,
    /// Last local day, `YYYY-MM-DD`.
    pub to: String,
    /// Customers created in the range.
    pub new_customers: i64,
    /// Customers who wrote in the range.
    pub active_customers: i64,
    /// Customers with more than one ticket by the end of the range.
    pub returning_customers: i64,
    /// Ratings given in the range.
    pub csat: RatingSummary,
}

/// The formulas shown to admins next to the numbers.
pub const FORMULAS: &[(&str, &str)] = &[
    (
        "first_response_time",
        "first agent message of a care cycle − start of the cycle (creation or latest reopen); automatic replies excluded",
    ),
    (
        "reply_time",
        "agent message − first customer message not yet answered",
    ),
    (
        "resolution_time",
        "closing − start of the care cycle being closed",
    ),
    ("messages_sent", "agent messages (automatic ones excluded)"),
    (
        "messages_received",
        "customer messages, credited to the ticket's agent when they arrived",
    ),
    (
        "tickets_handled",
        "tickets closed while assigned to the agent",
    ),
    (
        "csat_average",
        "sum of ratings ÷ number of ratings (ratings credited to the agent at closing)",
    ),
    (
        "delays",
        "assigned tickets with no first response within the configured time",
    ),
];

impl App {
    /// Per-agent KPIs over local days `from..=to`, from the SQL aggregates.
    pub async fn kpi_report(&self, q: KpiQuery) -> Result<KpiReport, AppError> {
        let tz = self.time_zone();
        let from = start_of_day(q.from, tz);
        let to = start_of_day(q.to.tomorrow().unwrap_or(q.to), tz);
        let mut c = self.read().await?;
        let totals = db::kpi::agent_totals(&mut c, from, to).await?;
        let agents = db::agents::list(&mut c).await?;
        let mut overall = KpiTotals::default();
        let mut rows = Vec::new();
        for (id, t) in totals {
            overall.add(&t);
            let a = agents.iter().find(|a| a.id == id);
            rows.push(KpiRow {
                agent_id: id,
                name: a.map(|a| a.name.clone()).unwrap_or_default(),
                branch_id: a.and_then(|a| a.branch_id),
                avg_first_response_s: t.avg_first_response_ms().map(|v| v / 1000.0),
                avg_reply_s: t.avg_reply_ms().map(|v| v / 1000.0),
                avg_resolution_s: t.avg_resolution_ms().map(|v| v / 1000.0),
                csat_avg: t.csat_avg(),
                totals: t,
            });
        }
        Ok(KpiReport {
            from: q.from.to_string(),
            to: q.to.to_string(),
            agents: rows,
            overall,
            formulas: FORMULAS.to_vec(),
        })
    }

    /// New, active and returning customers and the ratings over local days `from..=to`.
    pub async fn customer_figures(&self, q: KpiQuery) -> Result<CustomerFigures, AppError> {
        let tz = self.time_zone();
        let from = start_of_day(q.from, tz);
        let to = start_of_day(q.to.tomorrow().unwrap_or(q.to), tz);
        let n = db::kpi::customer_counts(&mut *self.read().await?, from, to).await?;
        Ok(CustomerFigures {
            from: q.from.to_string(),
            to: q.to.to_string(),
            new_customers: n.new_customers,
            active_customers: n.active_customers,
            returning_customers: n.returning_customers,
            csat: RatingSummary {
                ratings: n.ratings,
                average: n.average,
            },
        })
    }

    /// The pure fold over the journal for local days `from..=to`, by (agent, branch, day).
    pub async fn kpi_fold(&self, q: KpiQuery) -> Result<BTreeMap<KpiKey, KpiTotals>, AppError> {
        let tz = self.time_zone();
        let from = start_of_day(q.from, tz);
        let to = start_of_day(q.to.tomorrow().unwrap_or(q.to), tz);
        let mut c = self.read().await?;
        let events = db::tickets::events_touching(&mut c, from, to).await?;
        let (lo, hi) = (q.from.to_string(), q.to.to_string());
        Ok(kpi::fold(&events, tz)
            .into_iter()
            .filter(|(k, _)| k.day >= lo && k.day <= hi)
            .collect())
    }

    /// Recomputes the daily rollup of `day` and the monthly rollup of its month.
    pub async fn roll_up_kpis(&self, day: Date) -> Result<(), AppError> {
        let now = self.now();
        let daily = self.kpi_report(KpiQuery { from: day, to: day }).await?;
        let first = day.first_of_month();
        let monthly = self
            .kpi_report(KpiQuery {
                from: first,
                to: day.last_of_month(),
            })
            .await?;
        let mut tx = self.begin().await?;
        for r in &daily.agents {
            db::kpi::upsert_rollup(&mut tx, false, r.agent_id, &day.to_string(), &r.totals, now)
                .await?;
        }
        for r in &monthly.agents {
            db::kpi::upsert_rollup(&mut tx, true, r.agent_id, &month_key(day), &r.totals, now)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
