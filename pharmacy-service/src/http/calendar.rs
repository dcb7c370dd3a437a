//! Branch calendars (admins): opening hours (`PUT /api/branches/{id}/hours`) and holidays, per
//! branch (`/api/branches/{id}/holidays`) and chain-wide (`/api/holidays`). Out-of-office
//! replies read them; every change goes to the activity log.

use super::AppState;
use super::auth::{Admin, CurrentUser};
use super::error::{ApiError, ApiJson, ApiResult, Id};
use super::views::agents::BranchView;
use super::views::calendar::HolidayList;
use crate::domain::ids::BranchId;
use crate::domain::schedule::WeeklyHours;
use axum::extract::State;
use axum::routing::{get, put};
use axum::{Json, Router};
use jiff::civil::Date;
use serde::Deserialize;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/branches/{id}/hours", put(put_hours))
        .route(
            "/api/branches/{id}/holidays",
            get(branch_holidays).put(put_branch_holidays),
        )
        .route("/api/holidays", get(chain_holidays).put(put_chain_holidays))
}

/// The most holidays one list may hold.
pub const MAX_HOLIDAYS: usize = 400;

/// `PUT /api/branches/{id}/hours` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct HoursBody {
    /// Seven lists of spans, Monday first.
    pub hours: WeeklyHours,
}

/// Checks opening hours: minutes within the day, no empty span (`end < start` runs past
/// midnight).
pub fn check_hours(h: &WeeklyHours, field: &str) -> ApiResult<()> {
    for (day, spans) in h.days.iter().enumerate() {
        for s in spans {
            if s.start >= 1440 || s.end > 1440 || s.start == s.end {
                return Err(ApiError::invalid(
                    format!("{field}.days[{day}]"),
                    "spans need start < 1440, end <= 1440 and start != end",
                ));
            }
        }
    }
    Ok(())
}

#[utoipa::path(
    put,
    path = "/api/branches/{id}/hours",
    tag = "agents",
    operation_id = "set_branch_hours",
    summary = "Set a branch's opening hours (minutes of the local day; end < start runs past midnight)",
    params(("id" = i64, Path, description = "Branch id", example = 1)),
    request_body = HoursBody,
    responses(
        (status = 200, description = "The branch", body = BranchView),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn put_hours(
    State(state): State<AppState>,
    Admin(me): Admin,
    Id(id): Id,
    ApiJson(b): ApiJson<HoursBody>,
) -> ApiResult<Json<BranchView>> {
    check_hours(&b.hours, "hours")?;
    let branch = state
        .app
        .set_branch_hours(me.id, BranchId(id), &b.hours)
        .await?;
    Ok(Json(BranchView { branch }))
}

/// One holiday in a `PUT` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct HolidayItem {
    /// Local date `YYYY-MM-DD`.
    pub day: String,
    /// What it is.
    pub name: String,
}

/// `PUT /api/branches/{id}/holidays` and `PUT /api/holidays` body: the whole list.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct HolidaysBody {
    /// The holidays (replacing the previous list).
    pub items: Vec<HolidayItem>,
}

fn check_holidays(b: &HolidaysBody) -> ApiResult<Vec<(Date, String)>> {
    if b.items.len() > MAX_HOLIDAYS {
        return Err(ApiError::invalid(
            "items",
            format!("at most {MAX_HOLIDAYS}"),
        ));
    }
    let mut out: Vec<(Date, String)> = Vec::with_capacity(b.items.len());
    for (i, h) in b.items.iter().enumerate() {
        let day: Date = h
            .day
            .trim()
            .parse()
            .map_err(|_| ApiError::invalid(format!("items[{i}].day"), "a date YYYY-MM-DD"))?;
        let name = h.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ApiError::invalid(
                format!("items[{i}].name"),
                "1 to 100 characters",
            ));
        }
        if out.iter().any(|(d, _)| *d == day) {
            return Err(ApiError::invalid(format!("items[{i}].day"), "listed twice"));
        }
        out.push((day, name.to_owned()));
    }
    out.sort();
    Ok(out)
}

async fn load(state: &AppState, branch: Option<BranchId>) -> ApiResult<HolidayList> {
    let rows = state.app.holidays(branch).await?;
    Ok(HolidayList::of(branch, rows))
}

async fn save(
    state: &AppState,
    me: &CurrentUser,
    branch: Option<BranchId>,
    b: &HolidaysBody,
) -> ApiResult<HolidayList> {
    let days = check_holidays(b)?;
    let rows = state.app.replace_holidays(me.id, branch, &days).await?;
    Ok(HolidayList::of(branch, rows))
}

#[utoipa::path(
    get,
    path = "/api/branches/{id}/holidays",
    tag = "agents",
    operation_id = "list_branch_holidays",
    summary = "The holidays that close a branch: its own and the chain-wide ones",
    params(("id" = i64, Path, description = "Branch id", example = 1)),
    responses(
        (status = 200, description = "Holidays by date", body = HolidayList),
        super::openapi::ReadObjectErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn branch_holidays(
    State(state): State<AppState>,
    Admin(_): Admin,
    Id(id): Id,
) -> ApiResult<Json<HolidayList>> {
    Ok(Json(load(&state, Some(BranchId(id))).await?))
}

#[utoipa::path(
    put,
    path = "/api/branches/{id}/holidays",
    tag = "agents",
    operation_id = "set_branch_holidays",
    summary = "Replace a branch's own holidays (dates unique, names 1-100 characters)",
    params(("id" = i64, Path, description = "Branch id", example = 1)),
    request_body = HolidaysBody,
    responses(
        (status = 200, description = "The branch's holidays now", body = HolidayList),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn put_branch_holidays(
    State(state): State<AppState>,
    Admin(me): Admin,
    Id(id): Id,
    ApiJson(b): ApiJson<HolidaysBody>,
) -> ApiResult<Json<HolidayList>> {
    Ok(Json(save(&state, &me, Some(BranchId(id)), &b).await?))
}

#[utoipa::path(
    get,
    path = "/api/holidays",
    tag = "agents",
    operation_id = "list_chain_holidays",
    summary = "The holidays of every branch (national holidays)",
    responses(
        (status = 200, description = "Holidays by date", body = HolidayList),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn chain_holidays(
    State(state): State<AppState>,
    Admin(_): Admin,
) -> ApiResult<Json<HolidayList>> {
    Ok(Json(load(&state, None).await?))
}

#[utoipa::path(
    put,
    path = "/api/holidays",
    tag = "agents",
    operation_id = "set_chain_holidays",
    summary = "Replace the holidays of every branch",
    request_body = HolidaysBody,
    responses(
        (status = 200, description = "The chain-wide holidays now", body = HolidayList),
        super::openapi::WriteErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn put_chain_holidays(
    State(state): State<AppState>,
    Admin(me): Admin,
    ApiJson(b): ApiJson<HolidaysBody>,
) -> ApiResult<Json<HolidayList>> {
    Ok(Json(save(&state, &me, None, &b).await?))
}
