//! Branch calendars: opening hours and holidays (a branch's own and the chain-wide ones), each
//! change with its activity-log entry in one transaction.

use super::{App, AppError, not_found};
use crate::db;
use crate::db::branches::{Branch, Holiday};
use crate::domain::ids::{BranchId, UserId};
use crate::domain::schedule::WeeklyHours;
use jiff::civil::Date;
use serde_json::json;

impl App {
    /// Replaces a branch's weekly opening hours (checked by the caller).
    pub async fn set_branch_hours(
        &self,
        by: UserId,
        branch: BranchId,
        hours: &WeeklyHours,
    ) -> Result<Branch, AppError> {
        let mut tx = self.begin().await?;
        if !db::branches::set_hours(&mut tx, branch, hours).await? {
            return Err(not_found("branch", branch.0));
        }
        let saved = db::branches::by_id(&mut tx, branch)
            .await?
            .ok_or_else(|| not_found("branch", branch.0))?;
        db::activity::log(
            &mut tx,
            Some(by),
            "branch.hours_saved",
            Some(("branch", branch.0)),
            Some(&json!({ "hours": hours })),
            self.now(),
        )
        .await?;
        tx.commit().await?;
        Ok(saved)
    }

    /// The holidays that close `branch` (its own and the chain-wide ones), or with `None` the
    /// chain-wide ones; by date.
    pub async fn holidays(&self, branch: Option<BranchId>) -> Result<Vec<Holiday>, AppError> {
        let mut c = self.read().await?;
        if let Some(b) = branch
            && db::branches::by_id(&mut c, b).await?.is_none()
        {
            return Err(not_found("branch", b.0));
        }
        Ok(db::branches::holiday_rows(&mut c, branch).await?)
    }

    /// Replaces a branch's own holidays (or with `None` the chain-wide ones) with `days`
    /// (checked by the caller: unique dates, named); answers the list now in force.
    pub async fn replace_holidays(
        &self,
        by: UserId,
        branch: Option<BranchId>,
        days: &[(Date, String)],
    ) -> Result<Vec<Holiday>, AppError> {
        let mut tx = self.begin().await?;
        if let Some(b) = branch
            && db::branches::by_id(&mut tx, b).await?.is_none()
        {
            return Err(not_found("branch", b.0));
        }
        db::branches::replace_holidays(&mut tx, branch, days).await?;
        let list: Vec<String> = days.iter().map(|(d, _)| d.to_string()).collect();
        db::activity::log(
            &mut tx,
            Some(by),
            "holidays.saved",
            branch.map(|b| ("branch", b.0)),
            Some(&json!({ "chain_wide": branch.is_none(), "days": list })),
            self.now(),
        )
        .await?;
        let rows = db::branches::holiday_rows(&mut tx, branch).await?;
        tx.commit().await?;
        Ok(rows)
    }
}
