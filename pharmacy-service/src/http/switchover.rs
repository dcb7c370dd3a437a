//! `/api/switchover`: the guided switch-over page after a Django import (admin only), and the
//! review of the tickets the import carried over (an admin, or the agent working on the
//! ticket). The inbox lists carried-over tickets with `GET /api/tickets?carried_over=true`.

use super::AppState;
use super::auth::{Admin, CurrentUser};
use super::error::{ApiError, ApiJson, ApiResult, Id};
use crate::app::{Branch, BranchSetup, CarryOverDecision, MapTarget, SwitchoverStatus, Ticket};
use crate::domain::ids::{AgentId, BranchId, TicketId};
use axum::extract::State;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/switchover", get(status))
        .route("/api/switchover/branches/{id}/map", post(map_branch))
        .route("/api/switchover/branches/{id}", put(set_up_branch))
        .route("/api/switchover/tickets/{id}/review", post(review))
}

#[utoipa::path(
    get,
    path = "/api/switchover",
    tag = "switchover",
    operation_id = "switchover_status",
    summary = "What is left before going live: legacy branches to map (with suggestions), branches' missing details, carried-over tickets",
    responses(
        (status = 200, description = "The state of the switch-over", body = SwitchoverStatus),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn status(
    State(state): State<AppState>,
    Admin(_): Admin,
) -> ApiResult<Json<SwitchoverStatus>> {
    Ok(Json(state.app.switchover_status().await?))
}

/// `POST /api/switchover/branches/{id}/map` body: exactly one of `branch_id` and
/// `default_code`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct MapRequest {
    /// An existing branch.
    #[serde(default)]
    pub branch_id: Option<BranchId>,
    /// The code of one of the chain's default branches (created if missing).
    #[serde(default)]
    pub default_code: Option<String>,
}

/// A branch as the switch-over page changed it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BranchAnswer {
    /// The branch.
    pub branch: Branch,
}

#[utoipa::path(
    post,
    path = "/api/switchover/branches/{id}/map",
    tag = "switchover",
    operation_id = "map_legacy_branch",
    summary = "Map an imported legacy branch onto a real one (its agents, tickets and customers move there)",
    params(("id" = i64, Path, description = "The legacy branch's id", example = 1)),
    request_body = MapRequest,
    responses(
        (status = 200, description = "The real branch", body = BranchAnswer),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn map_branch(
    State(state): State<AppState>,
    Admin(me): Admin,
    Id(id): Id,
    ApiJson(r): ApiJson<MapRequest>,
) -> ApiResult<Json<BranchAnswer>> {
    let target = match (r.branch_id, r.default_code) {
        (Some(b), None) => MapTarget::Branch(b),
        (None, Some(code)) if !code.trim().is_empty() => MapTarget::Default(code.trim().into()),
        _ => {
            return Err(ApiError::invalid(
                "branch_id",
                "give exactly one of branch_id and default_code",
            ));
        }
    };
    let branch = state
        .app
        .map_legacy_branch(BranchId(id), target, me.id)
        .await?;
    Ok(Json(BranchAnswer { branch }))
}

#[utoipa::path(
    put,
    path = "/api/switchover/branches/{id}",
    tag = "switchover",
    operation_id = "set_up_branch",
    summary = "Set a branch's code, names, address, location, hours and whether it takes tickets (absent fields stay)",
    params(("id" = i64, Path, description = "Branch id", example = 1)),
    request_body = BranchSetup,
    responses(
        (status = 200, description = "The branch", body = BranchAnswer),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn set_up_branch(
    State(state): State<AppState>,
    Admin(me): Admin,
    Id(id): Id,
    ApiJson(s): ApiJson<BranchSetup>,
) -> ApiResult<Json<BranchAnswer>> {
    if let Some(h) = &s.hours {
        super::calendar::check_hours(h, "hours")?;
    }
    let branch = state.app.set_up_branch(BranchId(id), &s, me.id).await?;
    Ok(Json(BranchAnswer { branch }))
}

/// What to do with a carried-over ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewAction {
    /// Keep it as a normal ticket (its inactivity clock starts now).
    Keep,
    /// Transfer it to `agent_id` or `branch_id` (with a `note`).
    Reassign,
    /// Close it (optional `reason`).
    Close,
}

/// `POST /api/switchover/tickets/{id}/review` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReviewRequest {
    /// The decision.
    pub action: ReviewAction,
    /// `reassign`: to this agent.
    #[serde(default)]
    pub agent_id: Option<AgentId>,
    /// `reassign`: to this branch (its least-loaded agent, or its queue).
    #[serde(default)]
    pub branch_id: Option<BranchId>,
    /// `reassign`: why (required there).
    #[serde(default)]
    pub note: Option<String>,
    /// `close`: why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A ticket as the review left it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TicketAnswer {
    /// The ticket.
    pub ticket: Ticket,
}

#[utoipa::path(
    post,
    path = "/api/switchover/tickets/{id}/review",
    tag = "switchover",
    operation_id = "review_carried_over_ticket",
    summary = "Keep, reassign or close a ticket carried over from the old system",
    description = "An admin, or an agent who may work on the ticket. 409 when the ticket is not waiting for carried-over review.",
    params(("id" = i64, Path, description = "Ticket id", example = 1)),
    request_body = ReviewRequest,
    responses(
        (status = 200, description = "The ticket", body = TicketAnswer),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
async fn review(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
    ApiJson(r): ApiJson<ReviewRequest>,
) -> ApiResult<Json<TicketAnswer>> {
    state
        .app
        .workable_ticket(&me.caller(), TicketId(id))
        .await?;
    let decision = match r.action {
        ReviewAction::Keep => CarryOverDecision::Keep,
        ReviewAction::Close => CarryOverDecision::Close(r.reason.filter(|s| !s.trim().is_empty())),
        ReviewAction::Reassign => CarryOverDecision::Reassign(
            super::tickets::transfer_target(r.agent_id, r.branch_id)?,
            r.note.unwrap_or_default(),
        ),
    };
    let ticket = state
        .app
        .review_carried_over(TicketId(id), me.actor(), decision)
        .await
        .map_err(super::tickets::transfer_error)?;
    Ok(Json(TicketAnswer { ticket }))
}
