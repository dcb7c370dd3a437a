//! `/api/analytics` (admins): dashboard counters, KPI reports (JSON and CSV), per-agent and
//! customer figures.

use super::AppState;
use super::agents::{RangeQuery, range};
use super::auth::Admin;
use super::error::{ApiError, ApiQuery, ApiResult};
use crate::domain::time::start_of_day;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/analytics/dashboard", get(dashboard))
        .route("/api/analytics/kpi", get(kpi))
        .route("/api/analytics/agents", get(agents))
        .route("/api/analytics/customers", get(customers))
        .route("/api/analytics/reports", get(reports))
}

async fn count(state: &AppState, sql: &str, bind: Option<i64>) -> ApiResult<i64> {
    let mut q = sqlx::query_scalar::<_, i64>(sql);
    if let Some(b) = bind {
        q = q.bind(b);
    }
    Ok(q.fetch_one(state.app.pool()).await?)
}

#[utoipa::path(
    get,
    path = "/api/analytics/dashboard",
    tag = "analytics",
    operation_id = "dashboard",
    summary = "Today's counters and the link's status",
    responses(
        (status = 200, description = "The dashboard", body = super::openapi::DashboardView),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn dashboard(State(state): State<AppState>, Admin(_): Admin) -> ApiResult<Json<Value>> {
    let d = state.app.dashboard().await?;
    let mut v = serde_json::to_value(&d).map_err(ApiError::internal)?;
    let outbox = count(
        &state,
        "SELECT count(*) FROM outbox WHERE state IN ('queued', 'held')",
        None,
    )
    .await?;
    let alerts = count(
        &state,
        "SELECT count(*) FROM admin_alerts WHERE acknowledged_at IS NULL",
        None,
    )
    .await?;
    v["outbox_depth"] = json!(outbox);
    v["open_alerts"] = json!(alerts);
    v["whatsapp"] = json!(state.whatsapp.status().await.ok());
    Ok(Json(v))
}

#[utoipa::path(
    get,
    path = "/api/analytics/kpi",
    tag = "analytics",
    operation_id = "kpi_report",
    summary = "KPI report with its formulas",
    params(super::agents::RangeQuery),
    responses(
        (status = 200, description = "The report", body = crate::app::KpiReport),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn kpi(
    State(state): State<AppState>,
    Admin(_): Admin,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> ApiResult<Json<Value>> {
    let r = state.app.kpi_report(range(&state, &q)?).await?;
    Ok(Json(json!(r)))
}

#[utoipa::path(
    get,
    path = "/api/analytics/agents",
    tag = "analytics",
    operation_id = "agent_figures",
    summary = "Per-agent KPIs",
    params(super::agents::RangeQuery),
    responses(
        (status = 200, description = "One row per agent with activity", body = super::openapi::AgentFiguresView),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn agents(
    State(state): State<AppState>,
    Admin(_): Admin,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> ApiResult<Json<Value>> {
    let r = state.app.kpi_report(range(&state, &q)?).await?;
    Ok(Json(
        json!({ "from": r.from, "to": r.to, "items": r.agents }),
    ))
}

#[utoipa::path(
    get,
    path = "/api/analytics/customers",
    tag = "analytics",
    operation_id = "customer_figures",
    summary = "Customer figures",
    params(super::agents::RangeQuery),
    responses(
        (status = 200, description = "New, active and returning customers; ratings", body = super::openapi::CustomerFiguresView),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn customers(
    State(state): State<AppState>,
    Admin(_): Admin,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> ApiResult<Json<Value>> {
    let kq = range(&state, &q)?;
    let tz = state.app.time_zone();
    let from = start_of_day(kq.from, tz).0;
    let to = start_of_day(kq.to.tomorrow().unwrap_or(kq.to), tz).0;
    let new_customers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM customers WHERE created_at >= ? AND created_at < ?",
    )
    .bind(from)
    .bind(to)
    .fetch_one(state.app.pool())
    .await?;
    let active: i64 = sqlx::query_scalar("SELECT count(DISTINCT customer_id) FROM messages WHERE direction = 'in' AND created_at >= ? AND created_at < ?")
        .bind(from).bind(to).fetch_one(state.app.pool()).await?;
    let (ratings, avg): (i64, Option<f64>) =
        sqlx::query_as("SELECT count(*), avg(rating) FROM csat_ratings WHERE at >= ? AND at < ?")
            .bind(from)
            .bind(to)
            .fetch_one(state.app.pool())
            .await?;
    let returning: i64 = sqlx::query_scalar("SELECT count(*) FROM (SELECT customer_id FROM tickets WHERE created_at < ? GROUP BY customer_id HAVING count(*) > 1)")
        .bind(to).fetch_one(state.app.pool()).await?;
    Ok(Json(json!({
        "from": kq.from.to_string(), "to": kq.to.to_string(),
        "new_customers": new_customers, "active_customers": active, "returning_customers": returning,
        "csat": { "ratings": ratings, "average": avg },
    })))
}

/// Query of `GET /api/analytics/reports`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// First day.
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<String>,
    /// Last day.
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<String>,
    /// `json` (default) or `csv`.
    #[param(value_type = Option<String>, pattern = "^(json|csv)$")]
    pub format: Option<String>,
}

fn csv_field(s: &str) -> String {
    // Quote everything; neutralise spreadsheet formulas.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

#[utoipa::path(
    get,
    path = "/api/analytics/reports",
    tag = "analytics",
    operation_id = "kpi_export",
    summary = "KPI report as JSON or a CSV download",
    params(ReportQuery),
    responses(
        (status = 200, description = "The report (`format=csv`: one row per agent, formulas neutralised)", content((crate::app::KpiReport = "application/json"), (String = "text/csv"))),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn reports(
    State(state): State<AppState>,
    Admin(_): Admin,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    let kq = range(
        &state,
        &RangeQuery {
            from: super::error::parse_opt(&q.from, "from")?,
            to: super::error::parse_opt(&q.to, "to")?,
        },
    )?;
    let r = state.app.kpi_report(kq).await?;
    match q.format.as_deref().unwrap_or("json") {
        "json" => Ok(Json(json!(r)).into_response()),
        "csv" => {
            let mut out = String::from(
                "agent_id,name,branch_id,messages_sent,messages_received,tickets_handled,avg_first_response_s,avg_reply_s,avg_resolution_s,csat_avg,delays\n",
            );
            let opt = |v: Option<f64>| v.map(|x| format!("{x:.1}")).unwrap_or_default();
            for a in &r.agents {
                let t = serde_json::to_value(a.totals).unwrap_or_default();
                let n = |k: &str| t.get(k).map(|v| v.to_string()).unwrap_or_default();
                out.push_str(&format!(
                    "{},{},{},{},{},{},{},{},{},{},{}\n",
                    a.agent_id,
                    csv_field(&a.name),
                    a.branch_id.map(|b| b.to_string()).unwrap_or_default(),
                    n("messages_sent"),
                    n("messages_received"),
                    n("tickets_handled"),
                    opt(a.avg_first_response_s),
                    opt(a.avg_reply_s),
                    opt(a.avg_resolution_s),
                    opt(a.csat_avg),
                    n("delays"),
                ));
            }
            Ok((
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"kpi-{}-{}.csv\"", r.from, r.to),
                    ),
                ],
                out,
            )
                .into_response())
        }
        _ => Err(ApiError::invalid("format", "json or csv")),
    }
}
