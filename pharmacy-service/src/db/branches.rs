//! Branches and holidays.

use super::Conn;
use crate::domain::geo::GeoPoint;
use crate::domain::ids::BranchId;
use crate::domain::routing::BranchSite;
use crate::domain::schedule::WeeklyHours;
use crate::domain::time::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// A branch row.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Branch {
    /// Id.
    pub id: BranchId,
    /// Short stable code (`toriel`).
    pub code: String,
    /// English name.
    pub name: String,
    /// Arabic name.
    pub name_ar: String,
    /// Street address.
    pub address: String,
    /// Branch landline.
    pub phone: Option<String>,
    /// Latitude.
    pub latitude: f64,
    /// Longitude.
    pub longitude: f64,
    /// Opening hours (local time).
    #[sqlx(rename = "hours_json")]
    pub hours: WeeklyHours,
    /// Inactive branches take no tickets by location.
    pub is_active: bool,
    /// Creation time.
    pub created_at: Timestamp,
}

impl Branch {
    /// Its routing view.
    pub fn site(&self) -> BranchSite {
        BranchSite {
            id: self.id,
            location: GeoPoint {
                lat: self.latitude,
                lon: self.longitude,
            },
            active: self.is_active,
        }
    }
}

/// A new branch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewBranch {
    /// Short stable code.
    pub code: String,
    /// English name.
    pub name: String,
    /// Arabic name.
    pub name_ar: String,
    /// Street address.
    pub address: String,
    /// Landline.
    pub phone: Option<String>,
    /// Latitude.
    pub latitude: f64,
    /// Longitude.
    pub longitude: f64,
    /// Opening hours.
    pub hours: WeeklyHours,
}

/// Inserts a branch, or updates the one with the same code.
pub async fn upsert(c: &mut Conn, b: &NewBranch, now: Timestamp) -> Result<BranchId, sqlx::Error> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO branches (code, name, name_ar, address, phone, latitude, longitude, hours_json, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (code) DO UPDATE SET name = excluded.name, name_ar = excluded.name_ar,
             address = excluded.address, phone = excluded.phone, latitude = excluded.latitude,
             longitude = excluded.longitude, hours_json = excluded.hours_json
         RETURNING id",
    )
    .bind(&b.code)
    .bind(&b.name)
    .bind(&b.name_ar)
    .bind(&b.address)
    .bind(&b.phone)
    .bind(b.latitude)
    .bind(b.longitude)
    .bind(&b.hours)
    .bind(now)
    .fetch_one(&mut *c)
    .await?;
    Ok(BranchId(id))
}

/// All branches by id.
pub async fn list(c: &mut Conn) -> Result<Vec<Branch>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM branches ORDER BY id")
        .fetch_all(&mut *c)
        .await
}

/// One branch.
pub async fn by_id(c: &mut Conn, id: BranchId) -> Result<Option<Branch>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM branches WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *c)
        .await
}

/// Adds a holiday (`branch` None = every branch); idempotent.
pub async fn add_holiday(
    c: &mut Conn,
    branch: Option<BranchId>,
    day: Date,
    name: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT OR IGNORE INTO holidays (branch_id, day, name) VALUES (?, ?, ?)")
        .bind(branch)
        .bind(day.to_string())
        .bind(name)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// The closed dates of a branch: its own holidays and the chain-wide ones.
pub async fn holidays(c: &mut Conn, branch: BranchId) -> Result<Vec<Date>, sqlx::Error> {
    let days: Vec<String> = sqlx::query_scalar(
        "SELECT day FROM holidays WHERE branch_id IS NULL OR branch_id = ? ORDER BY day",
    )
    .bind(branch)
    .fetch_all(&mut *c)
    .await?;
    Ok(days.iter().filter_map(|d| d.parse().ok()).collect())
}

/// A holiday row.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Holiday {
    /// Id.
    pub id: i64,
    /// The branch; `None` = every branch.
    pub branch_id: Option<BranchId>,
    /// The local date, `YYYY-MM-DD`.
    pub day: String,
    /// What it is (Eid al-Fitr, ...).
    pub name: String,
}

/// The holiday rows that close a branch (its own and the chain-wide ones), or with `None` only
/// the chain-wide ones; by date.
pub async fn holiday_rows(
    c: &mut Conn,
    branch: Option<BranchId>,
) -> Result<Vec<Holiday>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, branch_id, day, name FROM holidays
         WHERE branch_id IS NULL OR branch_id = ? ORDER BY day, branch_id IS NOT NULL",
    )
    .bind(branch)
    .fetch_all(&mut *c)
    .await
}

/// Replaces the holidays that belong to `branch` (`None` = the chain-wide list) with `days`.
pub async fn replace_holidays(
    c: &mut Conn,
    branch: Option<BranchId>,
    days: &[(Date, String)],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM holidays WHERE branch_id IS ?")
        .bind(branch)
        .execute(&mut *c)
        .await?;
    for (day, name) in days {
        add_holiday(c, branch, *day, name).await?;
    }
    Ok(())
}

/// Whether a branch other than `except` has this code.
pub async fn code_taken(c: &mut Conn, code: &str, except: BranchId) -> Result<bool, sqlx::Error> {
    let taken: Option<i64> =
        sqlx::query_scalar("SELECT id FROM branches WHERE code = ? AND id <> ?")
            .bind(code)
            .bind(except)
            .fetch_optional(&mut *c)
            .await?;
    Ok(taken.is_some())
}

/// Writes every detail of a branch (code, names, address, phone, place, hours, whether active).
pub async fn update(c: &mut Conn, b: &Branch) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE branches SET code = ?, name = ?, name_ar = ?, address = ?, phone = ?, latitude = ?,
             longitude = ?, hours_json = ?, is_active = ? WHERE id = ?",
    )
    .bind(&b.code)
    .bind(&b.name)
    .bind(&b.name_ar)
    .bind(&b.address)
    .bind(&b.phone)
    .bind(b.latitude)
    .bind(b.longitude)
    .bind(&b.hours)
    .bind(b.is_active)
    .bind(b.id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Sets a branch's opening hours; false when there is no such branch.
pub async fn set_hours(
    c: &mut Conn,
    id: BranchId,
    hours: &WeeklyHours,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("UPDATE branches SET hours_json = ? WHERE id = ?")
        .bind(hours)
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(r.rows_affected() > 0)
}
