//! `/api/analytics` (admins): dashboard counters, KPI reports (JSON and CSV), per-agent and
//! customer figures.

use super::AppState;
use super::agents::{RangeQuery, range};
use super::answers::{AgentFiguresView, DashboardView};
use super::auth::Admin;
use super::error::{ApiQuery, ApiResult};
use crate::app::{CustomerFigures, KpiReport};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/analytics/dashboard", get(dashboard))
        .route("/api/analytics/kpi", get(kpi))
        .route("/api/analytics/agents", get(agents))
        .route("/api/analytics/customers", get(customers))
        .route("/api/analytics/reports", get(reports))
}

#[utoipa::path(
    get,
    path = "/api/analytics/dashboard",
    tag = "analytics",
    operation_id = "dashboard",
    summary = "Today's counters and the link's status",
    responses(
        (status = 200, description = "The dashboard", body = DashboardView),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn dashboard(
    State(state): State<AppState>,
    Admin(_): Admin,
) -> ApiResult<Json<DashboardView>> {
    Ok(Json(DashboardView {
        dashboard: state.app.dashboard().await?,
        whatsapp: state.whatsapp.status().await.ok(),
    }))
}

#[utoipa::path(
    get,
    path = "/api/analytics/kpi",
    tag = "analytics",
    operation_id = "kpi_report",
    summary = "KPI report with its formulas",
    params(super::agents::RangeQuery),
    responses(
        (status = 200, description = "The report", body = KpiReport),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn kpi(
    State(state): State<AppState>,
    Admin(_): Admin,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> ApiResult<Json<KpiReport>> {
    Ok(Json(state.app.kpi_report(range(&state, &q)?).await?))
}

#[utoipa::path(
    get,
    path = "/api/analytics/agents",
    tag = "analytics",
    operation_id = "agent_figures",
    summary = "Per-agent KPIs",
    params(super::agents::RangeQuery),
    responses(
        (status = 200, description = "One row per agent with activity", body = AgentFiguresView),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn agents(
    State(state): State<AppState>,
    Admin(_): Admin,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> ApiResult<Json<AgentFiguresView>> {
    let r = state.app.kpi_report(range(&state, &q)?).await?;
    Ok(Json(AgentFiguresView {
        from: r.from,
        to: r.to,
        items: r.agents,
    }))
}

#[utoipa::path(
    get,
    path = "/api/analytics/customers",
    tag = "analytics",
    operation_id = "customer_figures",
    summary = "Customer figures",
    params(super::agents::RangeQuery),
    responses(
        (status = 200, description = "New, active and returning customers; ratings", body = CustomerFigures),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn customers(
    State(state): State<AppState>,
    Admin(_): Admin,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> ApiResult<Json<CustomerFigures>> {
    Ok(Json(state.app.customer_figures(range(&state, &q)?).await?))
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
    pub format: Option<ReportFormat>,
}

/// How `GET /api/analytics/reports` answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    /// The report as JSON.
    #[default]
    Json,
    /// One row per agent, as a CSV download.
    Csv,
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
        (status = 200, description = "The report (`format=csv`: one row per agent, formulas neutralised)", content((KpiReport = "application/json"), (String = "text/csv"))),
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
    match q.format.unwrap_or_default() {
        ReportFormat::Json => Ok(Json(r).into_response()),
        ReportFormat::Csv => {
            let mut out = String::from(
                "agent_id,name,branch_id,messages_sent,messages_received,tickets_handled,avg_first_response_s,avg_reply_s,avg_resolution_s,csat_avg,delays\n",
            );
            let opt = |v: Option<f64>| v.map(|x| format!("{x:.1}")).unwrap_or_default();
            for a in &r.agents {
                let t = &a.totals;
                out.push_str(&format!(
                    "{},{},{},{},{},{},{},{},{},{},{}\n",
                    a.agent_id,
                    csv_field(&a.name),
                    a.branch_id.map(|b| b.to_string()).unwrap_or_default(),
                    t.messages_sent,
                    t.messages_received,
                    t.tickets_handled,
                    opt(a.avg_first_response_s),
                    opt(a.avg_reply_s),
                    opt(a.avg_resolution_s),
                    opt(a.csat_avg),
                    t.delays,
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
    }
}
