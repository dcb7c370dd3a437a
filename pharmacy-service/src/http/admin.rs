//! Templates (agents: global and their own), and the admins' areas: auto-replies, settings,
//! the activity log, alerts and messages held by the mass-send guard.

use super::AppState;
use super::auth::{Admin, CurrentUser};
use super::error::{ApiError, ApiJson, ApiQuery, ApiResult, Id, Limit};
use super::views::admin::{HeldDecision, HeldView, TemplateView};
use super::views::{Done, Items, Page};
use crate::app::{
    ActivityEntry, ActivityFilter, Alert, NewAutoReply, Settings, SettingsPatch, StoredTrigger,
    Template, TemplateEditor, TemplateInput,
};
use crate::domain::autoreply::MatchKind;
use crate::domain::ids::{AlertId, BranchId, OutboxId, TemplateId, TriggerId, UserId};
use crate::domain::time::start_of_day;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use jiff::civil::Date;
use serde::Deserialize;
use serde_json::Value;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/templates", get(templates).post(save_template))
        .route("/api/templates/{id}", delete(delete_template))
        .route("/api/auto-replies", get(triggers).post(add_trigger))
        .route("/api/auto-replies/{id}", delete(delete_trigger))
        .route("/api/settings", get(settings).patch(patch_settings))
        .route("/api/activity", get(activity))
        .route("/api/alerts", get(alerts))
        .route("/api/alerts/{id}/acknowledge", post(acknowledge))
        .route("/api/outbox/held", get(held))
        .route("/api/outbox/{id}/confirm", post(confirm_held))
        .route("/api/outbox/{id}/cancel", post(cancel_held))
}

#[utoipa::path(
    get,
    path = "/api/templates",
    tag = "templates",
    operation_id = "list_templates",
    summary = "Templates the caller may use (global and their own)",
    responses(
        (status = 200, description = "Templates", body = Items<Template>),
        super::openapi::ReadErrors,
    ),
    security(("session" = []), ("bearer" = [])),
)]
async fn templates(
    State(state): State<AppState>,
    me: CurrentUser,
) -> ApiResult<Json<Items<Template>>> {
    let rows = state.app.templates_for(editor(&me)).await?;
    Ok(Json(Items::of(rows)))
}

/// The caller as a template editor.
fn editor(me: &CurrentUser) -> TemplateEditor {
    TemplateEditor {
        user: me.id,
        admin: me.is_admin(),
        agent: me.agent_id,
    }
}

/// `POST /api/templates` body: creates or replaces the caller's template with this key
/// (admins: a global one unless `personal`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TemplateBody {
    /// Stable key.
    #[schema(min_length = 1, max_length = 64)]
    pub key: String,
    /// Title.
    #[schema(min_length = 1)]
    pub title: String,
    /// Text with `{customer_name}`, `{agent_name}`, `{branch_name}`, `{branch_hours}`, `{ticket_id}`.
    #[schema(min_length = 1)]
    pub body: String,
    /// Admins: make it their own instead of global.
    #[serde(default)]
    pub personal: bool,
}

#[utoipa::path(
    post,
    path = "/api/templates",
    tag = "templates",
    operation_id = "save_template",
    summary = "Create or replace a template by key (agents: their own; admins: global unless `personal`)",
    request_body = TemplateBody,
    responses(
        (status = 201, description = "Saved", body = TemplateView),
        super::openapi::WriteErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
async fn save_template(
    State(state): State<AppState>,
    me: CurrentUser,
    ApiJson(t): ApiJson<TemplateBody>,
) -> ApiResult<(StatusCode, Json<TemplateView>)> {
    let input = TemplateInput {
        key: t.key,
        title: t.title,
        body: t.body,
        personal: t.personal,
    };
    let template = state.app.save_template(editor(&me), &input).await?;
    Ok((StatusCode::CREATED, Json(TemplateView { template })))
}

#[utoipa::path(
    delete,
    path = "/api/templates/{id}",
    tag = "templates",
    operation_id = "delete_template",
    summary = "Delete a template (agents: only their own)",
    params(("id" = i64, Path, description = "Template id", example = 1)),
    responses(
        (status = 200, description = "Deleted", body = Done),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
async fn delete_template(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
) -> ApiResult<Json<Done>> {
    state
        .app
        .delete_template(editor(&me), TemplateId(id))
        .await?;
    Ok(Json(Done::OK))
}

#[utoipa::path(
    get,
    path = "/api/auto-replies",
    tag = "templates",
    operation_id = "list_auto_replies",
    summary = "Keyword auto-replies",
    responses(
        (status = 200, description = "Auto-replies", body = Items<StoredTrigger>),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn triggers(
    State(state): State<AppState>,
    Admin(_): Admin,
) -> ApiResult<Json<Items<StoredTrigger>>> {
    Ok(Json(Items::of(state.app.all_auto_replies().await?)))
}

/// `POST /api/auto-replies` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TriggerBody {
    /// The keyword.
    #[schema(min_length = 1)]
    pub keyword: String,
    /// `contains`, `exact` or `starts_with`.
    #[schema(pattern = "^(contains|exact|starts_with)$")]
    pub match_kind: String,
    /// The reply (template variables allowed).
    #[schema(min_length = 1)]
    pub body: String,
    /// Only for this branch's tickets.
    #[serde(default)]
    pub branch_id: Option<BranchId>,
}

#[utoipa::path(
    post,
    path = "/api/auto-replies",
    tag = "templates",
    operation_id = "add_auto_reply",
    summary = "Add a keyword auto-reply",
    request_body = TriggerBody,
    responses(
        (status = 201, description = "Added", body = StoredTrigger),
        super::openapi::WriteErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn add_trigger(
    State(state): State<AppState>,
    Admin(me): Admin,
    ApiJson(t): ApiJson<TriggerBody>,
) -> ApiResult<(StatusCode, Json<StoredTrigger>)> {
    let match_kind = MatchKind::parse(&t.match_kind)
        .ok_or_else(|| ApiError::invalid("match_kind", "contains, exact or starts_with"))?;
    let new = NewAutoReply {
        keyword: t.keyword,
        match_kind,
        body: t.body,
        branch_id: t.branch_id,
    };
    let added = state.app.add_auto_reply(me.id, &new).await?;
    Ok((StatusCode::CREATED, Json(added)))
}

#[utoipa::path(
    delete,
    path = "/api/auto-replies/{id}",
    tag = "templates",
    operation_id = "delete_auto_reply",
    summary = "Delete an auto-reply",
    params(("id" = i64, Path, description = "Auto-reply id", example = 1)),
    responses(
        (status = 200, description = "Deleted", body = Done),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn delete_trigger(
    State(state): State<AppState>,
    Admin(me): Admin,
    Id(id): Id,
) -> ApiResult<Json<Done>> {
    state.app.delete_auto_reply(me.id, TriggerId(id)).await?;
    Ok(Json(Done::OK))
}

#[utoipa::path(
    get,
    path = "/api/settings",
    tag = "admin",
    operation_id = "get_settings",
    summary = "The settings in force",
    responses(
        (status = 200, description = "Settings", body = Settings),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn settings(State(state): State<AppState>, Admin(_): Admin) -> ApiResult<Json<Settings>> {
    Ok(Json(state.app.settings()))
}

/// The longest duration a setting may hold (ten years).
pub const MAX_SETTING_SECS: u64 = 10 * 365 * 86_400;

#[utoipa::path(
    patch,
    path = "/api/settings",
    tag = "admin",
    operation_id = "patch_settings",
    summary = "Change runtime settings (absent fields stay; durations in seconds, at most ten years)",
    request_body = crate::app::SettingsPatch,
    responses(
        (status = 200, description = "The settings now", body = Settings),
        super::openapi::WriteErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn patch_settings(
    State(state): State<AppState>,
    Admin(me): Admin,
    ApiJson(body): ApiJson<serde_json::Map<String, Value>>,
) -> ApiResult<Json<Settings>> {
    // Name the first unknown or mistyped field (serde would silently drop unknown ones).
    let known = serde_json::to_value(SettingsPatch::default()).map_err(ApiError::internal)?;
    for (k, v) in &body {
        if known.get(k).is_none() {
            return Err(ApiError::invalid(k.clone(), "not a setting"));
        }
        let mut one = serde_json::Map::new();
        one.insert(k.clone(), v.clone());
        if serde_json::from_value::<SettingsPatch>(Value::Object(one)).is_err() {
            return Err(ApiError::invalid(k.clone(), "wrong type"));
        }
        if k.ends_with("_secs") && v.as_u64().is_some_and(|n| n > MAX_SETTING_SECS) {
            return Err(ApiError::invalid(k.clone(), "at most ten years"));
        }
    }
    let patch: SettingsPatch = serde_json::from_value(Value::Object(body))
        .map_err(|e| ApiError::invalid("body", e.to_string()))?;
    state.app.update_settings(&patch, me.id).await?;
    if patch.whatsapp_name.is_some() {
        // A new name is announced at once; while the link is down the next connection
        // announces the name in force, so the saved setting stands either way.
        let name = state.app.config().whatsapp_name.clone();
        match state.whatsapp.announce_name(&name).await {
            Ok(()) | Err(crate::app::LinkError::NotConnected) => {}
            Err(e) => tracing::warn!(error = %e, "announcing the new WhatsApp name failed"),
        }
    }
    Ok(Json(state.app.settings()))
}

/// Query of `GET /api/activity`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<i64>,
    /// Page size.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<Limit>,
    /// Only this user's actions (a user id).
    #[param(value_type = Option<i64>, minimum = 1)]
    pub user: Option<UserId>,
    /// Only actions starting with this (`ticket.` for every ticket action).
    #[param(max_length = 100)]
    pub action: Option<String>,
    /// From this local day (the service's time zone).
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<Date>,
    /// Up to and including this local day.
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<Date>,
}

/// The filter of an activity query: days are local to the service's time zone.
fn activity_filter(state: &AppState, q: &ActivityQuery) -> ApiResult<ActivityFilter> {
    let tz = state.app.time_zone();
    if let (Some(f), Some(t)) = (q.from, q.to)
        && t < f
    {
        return Err(ApiError::invalid("to", "before from"));
    }
    let action = q.action.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if action.is_some_and(|a| a.chars().count() > 100) {
        return Err(ApiError::invalid("action", "at most 100 characters"));
    }
    Ok(ActivityFilter {
        user: q.user,
        action_prefix: action.map(str::to_owned),
        from: q.from.map(|d| start_of_day(d, tz)),
        to: q.to.map(|d| start_of_day(d.tomorrow().unwrap_or(d), tz)),
    })
}

#[utoipa::path(
    get,
    path = "/api/activity",
    tag = "admin",
    operation_id = "activity_log",
    summary = "The activity log, newest first (filters: user, action prefix, local days from..=to)",
    params(ActivityQuery),
    responses(
        (status = 200, description = "A page of entries (with the client address of HTTP actions)", body = Page<ActivityEntry>),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn activity(
    State(state): State<AppState>,
    Admin(_): Admin,
    ApiQuery(q): ApiQuery<ActivityQuery>,
) -> ApiResult<Json<Page<ActivityEntry>>> {
    let limit = q.limit.unwrap_or_default().0;
    let filter = activity_filter(&state, &q)?;
    let rows = state.app.activity(&filter, q.cursor, limit).await?;
    Ok(Json(Page::of(rows, limit, true, |r| r.id.to_string())))
}

#[utoipa::path(
    get,
    path = "/api/alerts",
    tag = "admin",
    operation_id = "list_alerts",
    summary = "Open alerts",
    responses(
        (status = 200, description = "Alerts", body = Items<Alert>),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn alerts(State(state): State<AppState>, Admin(_): Admin) -> ApiResult<Json<Items<Alert>>> {
    Ok(Json(Items::of(state.app.open_alerts().await?)))
}

#[utoipa::path(
    post,
    path = "/api/alerts/{id}/acknowledge",
    tag = "admin",
    operation_id = "acknowledge_alert",
    summary = "Acknowledge an alert",
    params(("id" = i64, Path, description = "Alert id", example = 1)),
    responses(
        (status = 200, description = "Acknowledged", body = Done),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn acknowledge(
    State(state): State<AppState>,
    Admin(me): Admin,
    Id(id): Id,
) -> ApiResult<Json<Done>> {
    state.app.acknowledge_alert(me.id, AlertId(id)).await?;
    Ok(Json(Done::OK))
}

#[utoipa::path(
    get,
    path = "/api/outbox/held",
    tag = "admin",
    operation_id = "held_messages",
    summary = "Messages held by the mass-send guard",
    responses(
        (status = 200, description = "Held messages", body = Items<HeldView>),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn held(State(state): State<AppState>, Admin(_): Admin) -> ApiResult<Json<Items<HeldView>>> {
    let rows = state.app.held_messages().await?;
    Ok(Json(Items::of(rows.iter().map(HeldView::from).collect())))
}

#[utoipa::path(
    post,
    path = "/api/outbox/{id}/confirm",
    tag = "admin",
    operation_id = "confirm_held",
    summary = "Release a held message",
    params(("id" = i64, Path, description = "Outbox row id", example = 1)),
    responses(
        (status = 200, description = "Released", body = HeldDecision),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn confirm_held(
    State(state): State<AppState>,
    Admin(me): Admin,
    Id(id): Id,
) -> ApiResult<Json<HeldDecision>> {
    let message = state.app.decide_held(OutboxId(id), me.id, true).await?;
    Ok(Json(HeldDecision { message }))
}

#[utoipa::path(
    post,
    path = "/api/outbox/{id}/cancel",
    tag = "admin",
    operation_id = "cancel_held",
    summary = "Cancel a held message",
    params(("id" = i64, Path, description = "Outbox row id", example = 1)),
    responses(
        (status = 200, description = "Cancelled", body = HeldDecision),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn cancel_held(
    State(state): State<AppState>,
    Admin(me): Admin,
    Id(id): Id,
) -> ApiResult<Json<HeldDecision>> {
    let message = state.app.decide_held(OutboxId(id), me.id, false).await?;
    Ok(Json(HeldDecision { message }))
}
