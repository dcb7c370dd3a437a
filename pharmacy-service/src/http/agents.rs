//! `/api/agents` (directory, KPIs, presence; admin: create, update) and `/api/branches`.

use super::AppState;
use super::auth::{Admin, CurrentUser};
use super::error::{ApiError, ApiJson, ApiQuery, ApiResult, Id};
use super::views::Items;
use super::views::agents::{
    AgentDetailView, AgentEntry, AgentKpiView, AgentView, BranchView, StatusView,
};
use crate::app::{Agent, Branch, KpiQuery, NewBranch, NewUser, Role};
use crate::domain::ids::{AgentId, BranchId};
use crate::domain::routing::AgentStatus;
use crate::domain::schedule::WeeklyHours;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use jiff::civil::Date;
use serde::Deserialize;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/agents", get(list).post(create))
        .route("/api/agents/{id}", get(detail).patch(update))
        .route("/api/agents/{id}/kpi", get(kpi))
        .route("/api/agents/{id}/status", post(set_status))
        .route("/api/branches", get(branches).post(create_branch))
        .route("/api/branches/{id}", get(branch))
}

#[utoipa::path(
    get,
    path = "/api/agents",
    tag = "agents",
    operation_id = "list_agents",
    summary = "The agent directory",
    responses(
        (status = 200, description = "Agents (admins: whole rows, inactive too)", body = Items<AgentEntry>),
        super::openapi::ReadErrors,
    ),
    security(("session" = []), ("bearer" = [])),
)]
async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
) -> ApiResult<Json<Items<AgentEntry>>> {
    let agents = state.app.agents().await?;
    let items = agents
        .iter()
        .filter(|a| me.is_admin() || a.is_active)
        .map(|a| AgentEntry::of(a, me.is_admin()))
        .collect();
    Ok(Json(Items::of(items)))
}

async fn load(state: &AppState, id: i64) -> ApiResult<Agent> {
    Ok(state.app.agent(AgentId(id)).await?)
}

/// A 422 unless the branch exists.
async fn existing_branch(state: &AppState, id: BranchId) -> ApiResult<()> {
    match state.app.branch(id).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::invalid("branch_id", "no such branch")),
    }
}

#[utoipa::path(
    get,
    path = "/api/agents/{id}",
    tag = "agents",
    operation_id = "get_agent",
    summary = "One agent",
    params(("id" = i64, Path, description = "Agent id", example = 1)),
    responses(
        (status = 200, description = "The agent", body = AgentDetailView),
        super::openapi::ReadObjectErrors,
    ),
    security(("session" = []), ("bearer" = [])),
)]
async fn detail(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
) -> ApiResult<Json<AgentDetailView>> {
    let a = load(&state, id).await?;
    Ok(Json(AgentDetailView {
        agent: AgentEntry::of(&a, me.is_admin()),
        live_connections: state.live.connections(a.id) as u64,
    }))
}

/// Query of the KPI endpoints: local dates `from..=to` (`YYYY-MM-DD`; default today).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// First day.
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<Date>,
    /// Last day (inclusive).
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<Date>,
}

/// The range asked for (default: today in the service's zone; at most 366 days).
pub fn range(state: &AppState, q: &RangeQuery) -> ApiResult<KpiQuery> {
    let today = state.app.now().local(state.app.time_zone()).date;
    let from = q.from.unwrap_or(today);
    let to = q.to.unwrap_or(today);
    if to < from {
        return Err(ApiError::invalid("to", "before from"));
    }
    if (to - from).get_days() > 366 {
        return Err(ApiError::invalid("to", "at most 366 days"));
    }
    Ok(KpiQuery { from, to })
}

#[utoipa::path(
    get,
    path = "/api/agents/{id}/kpi",
    tag = "agents",
    operation_id = "agent_kpi",
    summary = "An agent's KPIs (their own, or any for admins)",
    params(("id" = i64, Path, description = "Agent id", example = 1), RangeQuery),
    responses(
        (status = 200, description = "KPIs over the range", body = AgentKpiView),
        super::openapi::ReadObjectErrors,
    ),
    security(("session" = []), ("bearer" = [])),
)]
async fn kpi(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> ApiResult<Json<AgentKpiView>> {
    let a = load(&state, id).await?;
    if !me.is_admin() && me.agent_id != Some(a.id) {
        return Err(ApiError::Forbidden("only your own KPIs".into()));
    }
    let report = state.app.kpi_report(range(&state, &q)?).await?;
    let kpi = report.agents.into_iter().find(|r| r.agent_id == a.id);
    Ok(Json(AgentKpiView {
        agent_id: a.id,
        from: report.from,
        to: report.to,
        kpi,
        formulas: report.formulas,
    }))
}

/// `POST /api/agents/{id}/status` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StatusBody {
    /// `online`, `away` or `offline`.
    pub status: AgentStatus,
}

#[utoipa::path(
    post,
    path = "/api/agents/{id}/status",
    tag = "agents",
    operation_id = "set_agent_status",
    summary = "Presence: online, away or offline (own, or any for admins)",
    params(("id" = i64, Path, description = "Agent id", example = 1)),
    request_body = StatusBody,
    responses(
        (status = 200, description = "The new status", body = StatusView),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
async fn set_status(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
    ApiJson(r): ApiJson<StatusBody>,
) -> ApiResult<Json<StatusView>> {
    let a = load(&state, id).await?;
    if !me.is_admin() && me.agent_id != Some(a.id) {
        return Err(ApiError::Forbidden("only your own status".into()));
    }
    let assigned_tickets = state
        .app
        .set_agent_status(a.id, r.status, Some(me.id))
        .await?;
    Ok(Json(StatusView {
        agent_id: a.id,
        status: r.status,
        assigned_tickets,
    }))
}

/// `POST /api/agents` body (admin).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewAgent {
    /// Login name.
    #[schema(min_length = 1)]
    pub username: String,
    /// Display name.
    #[schema(min_length = 1)]
    pub name: String,
    /// Password.
    #[schema(min_length = 8)]
    pub password: String,
    /// Branch.
    pub branch_id: BranchId,
    /// Maximum open tickets.
    #[serde(default)]
    pub capacity: Option<u32>,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/agents",
    tag = "agents",
    operation_id = "create_agent",
    summary = "Create an agent",
    request_body = NewAgent,
    responses(
        (status = 201, description = "Created", body = AgentView, links(("GetAgent" = (operation_id = "get_agent", parameters(("id" = "$response.body#/agent/id")))), ("UpdateAgent" = (operation_id = "update_agent", parameters(("id" = "$response.body#/agent/id")))), ("AgentKpi" = (operation_id = "agent_kpi", parameters(("id" = "$response.body#/agent/id")))), ("SetAgentStatus" = (operation_id = "set_agent_status", parameters(("id" = "$response.body#/agent/id")))))),
        super::openapi::WriteErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn create(
    State(state): State<AppState>,
    Admin(me): Admin,
    ApiJson(r): ApiJson<NewAgent>,
) -> ApiResult<(StatusCode, Json<AgentView>)> {
    existing_branch(&state, r.branch_id).await?;
    if r.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "required"));
    }
    let (_, agent) = state
        .app
        .create_user(
            &NewUser {
                username: r.username,
                name: r.name,
                email: r.email,
                password: r.password,
                role: Role::Agent,
                branch_id: Some(r.branch_id),
                capacity: r.capacity,
            },
            Some(me.id),
        )
        .await?;
    let a = load(&state, agent.ok_or(ApiError::Internal)?.0).await?;
    Ok((StatusCode::CREATED, Json(AgentView { agent: a })))
}

/// `PATCH /api/agents/{id}` body (admin).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AgentPatch {
    /// New branch.
    #[serde(default)]
    pub branch_id: Option<BranchId>,
    /// New capacity.
    #[serde(default)]
    #[schema(maximum = 1000)]
    pub capacity: Option<u32>,
    /// New weekly roster.
    #[serde(default)]
    pub shifts: Option<WeeklyHours>,
}

#[utoipa::path(
    patch,
    path = "/api/agents/{id}",
    tag = "agents",
    operation_id = "update_agent",
    summary = "Change branch, capacity, shifts",
    params(("id" = i64, Path, description = "Agent id", example = 1)),
    request_body = AgentPatch,
    responses(
        (status = 200, description = "The agent", body = AgentView),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn update(
    State(state): State<AppState>,
    Admin(me): Admin,
    Id(id): Id,
    ApiJson(p): ApiJson<AgentPatch>,
) -> ApiResult<Json<AgentView>> {
    let a = load(&state, id).await?;
    if let Some(b) = p.branch_id {
        existing_branch(&state, b).await?;
    }
    if let Some(cap) = p.capacity
        && cap > 1000
    {
        return Err(ApiError::invalid("capacity", "at most 1000"));
    }
    if let Some(s) = &p.shifts
        && s.days
            .iter()
            .flatten()
            .any(|sp| sp.start >= sp.end || sp.end > 1440)
    {
        return Err(ApiError::invalid(
            "shifts",
            "spans need start < end <= 1440",
        ));
    }
    let branch = p.branch_id.or(a.branch_id);
    let capacity = p.capacity.unwrap_or(a.capacity.max(0) as u32);
    let shifts = p.shifts.clone().unwrap_or_else(|| a.shifts.clone());
    state
        .app
        .update_agent(a.id, me.id, branch, capacity, &shifts)
        .await?;
    let agent = load(&state, id).await?;
    Ok(Json(AgentView { agent }))
}

#[utoipa::path(
    get,
    path = "/api/branches",
    tag = "agents",
    operation_id = "list_branches",
    summary = "Branches",
    responses(
        (status = 200, description = "Branches", body = Items<Branch>),
        super::openapi::ReadErrors,
    ),
    security(("session" = []), ("bearer" = [])),
)]
async fn branches(
    State(state): State<AppState>,
    _me: CurrentUser,
) -> ApiResult<Json<Items<Branch>>> {
    Ok(Json(Items::of(state.app.branches().await?)))
}

#[utoipa::path(
    get,
    path = "/api/branches/{id}",
    tag = "agents",
    operation_id = "get_branch",
    summary = "One branch",
    params(("id" = i64, Path, description = "Branch id", example = 1)),
    responses(
        (status = 200, description = "The branch", body = BranchView),
        super::openapi::ReadObjectErrors,
    ),
    security(("session" = []), ("bearer" = [])),
)]
async fn branch(
    State(state): State<AppState>,
    _me: CurrentUser,
    Id(id): Id,
) -> ApiResult<Json<BranchView>> {
    let branch = state
        .app
        .branch(BranchId(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("branch {id}")))?;
    Ok(Json(BranchView { branch }))
}

/// `POST /api/branches` body (admin): creates, or updates the branch with this code.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BranchBody {
    /// Short stable code.
    #[schema(min_length = 1)]
    pub code: String,
    /// English name.
    #[schema(min_length = 1)]
    pub name: String,
    /// Arabic name.
    pub name_ar: String,
    /// Street address.
    pub address: String,
    /// Landline.
    #[serde(default)]
    pub phone: Option<String>,
    /// Latitude.
    #[schema(minimum = -90.0, maximum = 90.0)]
    pub latitude: f64,
    /// Longitude.
    #[schema(minimum = -180.0, maximum = 180.0)]
    pub longitude: f64,
    /// Opening hours.
    #[serde(default)]
    pub hours: Option<WeeklyHours>,
}

#[utoipa::path(
    post,
    path = "/api/branches",
    tag = "agents",
    operation_id = "save_branch",
    summary = "Create a branch, or update the one with this code",
    request_body = BranchBody,
    responses(
        (status = 201, description = "Saved", body = BranchView, links(("GetBranch" = (operation_id = "get_branch", parameters(("id" = "$response.body#/branch/id")))))),
        super::openapi::WriteErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn create_branch(
    State(state): State<AppState>,
    Admin(me): Admin,
    ApiJson(b): ApiJson<BranchBody>,
) -> ApiResult<(StatusCode, Json<BranchView>)> {
    if b.code.trim().is_empty() {
        return Err(ApiError::invalid("code", "required"));
    }
    if b.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "required"));
    }
    if !(-90.0..=90.0).contains(&b.latitude) {
        return Err(ApiError::invalid("latitude", "between -90 and 90"));
    }
    if !(-180.0..=180.0).contains(&b.longitude) {
        return Err(ApiError::invalid("longitude", "between -180 and 180"));
    }
    let new = NewBranch {
        code: b.code.trim().to_owned(),
        name: b.name,
        name_ar: b.name_ar,
        address: b.address,
        phone: b.phone,
        latitude: b.latitude,
        longitude: b.longitude,
        hours: b.hours.unwrap_or_default(),
    };
    let branch = state.app.save_branch(me.id, &new).await?;
    Ok((StatusCode::CREATED, Json(BranchView { branch })))
}
