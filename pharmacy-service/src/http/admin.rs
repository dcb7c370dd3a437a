//! Templates (agents: global and their own), and the admins' areas: auto-replies, settings,
//! the activity log, alerts and messages held by the mass-send guard.

use super::auth::{Admin, CurrentUser};
use super::error::{ApiError, ApiJson, ApiQuery, ApiResult, Id, limit, parse_opt};
use super::{AppState, audit};
use crate::app::SettingsPatch;
use crate::db;
use crate::domain::autoreply::MatchKind;
use crate::domain::ids::{AlertId, BranchId, OutboxId, TemplateId, UserId};
use crate::domain::time::start_of_day;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

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
        (status = 200, description = "Templates", body = super::openapi::Items<crate::db::templates::Template>),
        super::openapi::ReadErrors,
    ),
    security(("session" = []), ("bearer" = [])),
)]
async fn templates(State(state): State<AppState>, me: CurrentUser) -> ApiResult<Json<Value>> {
    let mut c = state.app.pool().acquire().await?;
    let rows = if me.is_admin() {
        sqlx::query_as::<_, db::templates::Template>(
            "SELECT * FROM templates ORDER BY owner_agent_id IS NOT NULL, key",
        )
        .fetch_all(&mut *c)
        .await?
    } else {
        db::templates::for_agent(&mut c, me.agent_id).await?
    };
    Ok(Json(json!({ "items": rows })))
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

const SYSTEM_KEYS: &[&str] = &[
    "greeting",
    "out_of_office",
    "csat_survey",
    "transfer_notice",
];

#[utoipa::path(
    post,
    path = "/api/templates",
    tag = "templates",
    operation_id = "save_template",
    summary = "Create or replace a template by key (agents: their own; admins: global unless `personal`)",
    request_body = TemplateBody,
    responses(
        (status = 201, description = "Saved", body = super::openapi::TemplateView),
        super::openapi::WriteErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
async fn save_template(
    State(state): State<AppState>,
    me: CurrentUser,
    ApiJson(t): ApiJson<TemplateBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let key = t.key.trim();
    if key.is_empty() || key.len() > 64 {
        return Err(ApiError::invalid("key", "1 to 64 characters"));
    }
    if t.title.trim().is_empty() {
        return Err(ApiError::invalid("title", "required"));
    }
    if t.body.trim().is_empty() {
        return Err(ApiError::invalid("body", "required"));
    }
    let owner = if me.is_admin() && !t.personal {
        None
    } else {
        Some(
            me.agent_id
                .ok_or_else(|| ApiError::Forbidden("no agent seat".into()))?,
        )
    };
    let system = owner.is_none() && SYSTEM_KEYS.contains(&key);
    let mut c = state.app.pool().acquire().await?;
    let id = db::templates::upsert(
        &mut c,
        owner,
        key,
        t.title.trim(),
        &t.body,
        system,
        state.app.now(),
    )
    .await?;
    let row = db::templates::by_id(&mut c, id)
        .await?
        .ok_or(ApiError::Internal)?;
    drop(c);
    audit(
        &state,
        Some(me.id),
        "template.saved",
        Some(("template", id.0)),
        json!({ "key": key, "global": owner.is_none() }),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!({ "template": row }))))
}

#[utoipa::path(
    delete,
    path = "/api/templates/{id}",
    tag = "templates",
    operation_id = "delete_template",
    summary = "Delete a template (agents: only their own)",
    params(("id" = i64, Path, description = "Template id", example = 1)),
    responses(
        (status = 200, description = "Deleted", body = super::openapi::Done),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
async fn delete_template(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let mut c = state.app.pool().acquire().await?;
    let t = db::templates::by_id(&mut c, TemplateId(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("template {id}")))?;
    let mine = t.owner_agent_id.is_some() && t.owner_agent_id == me.agent_id;
    if !me.is_admin() && !mine {
        return Err(if t.owner_agent_id.is_none() {
            ApiError::Forbidden("global templates are the admins'".into())
        } else {
            ApiError::not_found(format!("template {id}"))
        });
    }
    sqlx::query("DELETE FROM templates WHERE id = ?")
        .bind(id)
        .execute(&mut *c)
        .await?;
    drop(c);
    audit(
        &state,
        Some(me.id),
        "template.deleted",
        Some(("template", id)),
        json!({ "key": t.key }),
    )
    .await?;
    Ok(Json(json!({ "ok": true })))
}

#[derive(Debug, serde::Serialize, sqlx::FromRow)]
struct TriggerRow {
    id: i64,
    keyword: String,
    match_kind: String,
    body: String,
    branch_id: Option<i64>,
    is_active: bool,
    created_at: i64,
}

#[utoipa::path(
    get,
    path = "/api/auto-replies",
    tag = "templates",
    operation_id = "list_auto_replies",
    summary = "Keyword auto-replies",
    responses(
        (status = 200, description = "Auto-replies", body = super::openapi::Items<super::openapi::TriggerEntry>),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn triggers(State(state): State<AppState>, Admin(_): Admin) -> ApiResult<Json<Value>> {
    let rows: Vec<TriggerRow> = sqlx::query_as("SELECT id, keyword, match_kind, body, branch_id, is_active, created_at FROM auto_reply_triggers ORDER BY id")
        .fetch_all(state.app.pool())
        .await?;
    Ok(Json(json!({ "items": rows })))
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
        (status = 201, description = "Added", body = super::openapi::TriggerView),
        super::openapi::WriteErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn add_trigger(
    State(state): State<AppState>,
    Admin(me): Admin,
    ApiJson(t): ApiJson<TriggerBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if t.keyword.trim().is_empty() {
        return Err(ApiError::invalid("keyword", "required"));
    }
    if t.body.trim().is_empty() {
        return Err(ApiError::invalid("body", "required"));
    }
    let kind = MatchKind::parse(&t.match_kind)
        .ok_or_else(|| ApiError::invalid("match_kind", "contains, exact or starts_with"))?;
    let mut c = state.app.pool().acquire().await?;
    if let Some(b) = t.branch_id
        && db::branches::by_id(&mut c, b).await?.is_none()
    {
        return Err(ApiError::invalid("branch_id", "no such branch"));
    }
    let id = db::templates::add_trigger(
        &mut c,
        t.keyword.trim(),
        kind,
        &t.body,
        t.branch_id,
        state.app.now(),
    )
    .await?;
    drop(c);
    audit(
        &state,
        Some(me.id),
        "auto_reply.created",
        Some(("auto_reply", id.0)),
        json!({ "keyword": t.keyword }),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "id": id, "keyword": t.keyword.trim(), "match_kind": kind.as_str(), "body": t.body, "branch_id": t.branch_id }),
        ),
    ))
}

#[utoipa::path(
    delete,
    path = "/api/auto-replies/{id}",
    tag = "templates",
    operation_id = "delete_auto_reply",
    summary = "Delete an auto-reply",
    params(("id" = i64, Path, description = "Auto-reply id", example = 1)),
    responses(
        (status = 200, description = "Deleted", body = super::openapi::Done),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn delete_trigger(
    State(state): State<AppState>,
    Admin(me): Admin,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let r = sqlx::query("DELETE FROM auto_reply_triggers WHERE id = ?")
        .bind(id)
        .execute(state.app.pool())
        .await?;
    if r.rows_affected() == 0 {
        return Err(ApiError::not_found(format!("auto-reply {id}")));
    }
    audit(
        &state,
        Some(me.id),
        "auto_reply.deleted",
        Some(("auto_reply", id)),
        json!({}),
    )
    .await?;
    Ok(Json(json!({ "ok": true })))
}

#[utoipa::path(
    get,
    path = "/api/settings",
    tag = "admin",
    operation_id = "get_settings",
    summary = "The settings in force",
    responses(
        (status = 200, description = "Settings", body = SettingsView),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn settings(State(state): State<AppState>, Admin(_): Admin) -> ApiResult<Json<SettingsView>> {
    Ok(Json(settings_view(&state)))
}

/// The settings in force (durations in seconds): the answer of `GET` and `PATCH /api/settings`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SettingsView {
    /// The service's time zone (startup configuration).
    pub time_zone: String,
    /// Reopen window.
    pub reopen_window_secs: u64,
    /// Stickiness window.
    pub stickiness_secs: u64,
    /// First-response timeout (delay detection); 0 disables.
    pub first_response_timeout_secs: u64,
    /// Auto-close after this much inactivity; 0 disables.
    pub auto_close_after_secs: u64,
    /// Survey answer window.
    pub csat_window_secs: u64,
    /// Survey on close.
    pub csat_enabled: bool,
    /// Greeting.
    pub greeting_enabled: bool,
    /// Out-of-office replies.
    pub out_of_office_enabled: bool,
    /// A new customer of a multi-branch pharmacy is asked to pick a branch.
    pub branch_menu_enabled: bool,
    /// Rosters limit routing.
    pub use_shifts: bool,
    /// Cross-branch fallback.
    pub cross_branch_fallback: bool,
    /// What the service does about customers' calls.
    pub calls: CallSettingsView,
}

/// The call settings in force (part of [`SettingsView`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct CallSettingsView {
    /// A missed or rejected call gets the automatic reply.
    pub auto_reply: bool,
    /// The reply (a template).
    pub auto_reply_text: String,
    /// One reply per caller within this many seconds.
    pub auto_reply_window_secs: u64,
    /// Incoming calls are rejected at once.
    pub auto_reject: bool,
}

fn settings_view(state: &AppState) -> SettingsView {
    let cfg = state.app.config();
    SettingsView {
        time_zone: cfg.time_zone.clone(),
        reopen_window_secs: cfg.reopen_window.as_secs(),
        stickiness_secs: cfg.stickiness.as_secs(),
        first_response_timeout_secs: cfg.first_response_timeout.as_secs(),
        auto_close_after_secs: cfg.auto_close_after.as_secs(),
        csat_window_secs: cfg.csat_window.as_secs(),
        csat_enabled: cfg.csat_enabled,
        greeting_enabled: cfg.greeting_enabled,
        out_of_office_enabled: cfg.out_of_office_enabled,
        branch_menu_enabled: cfg.branch_menu_enabled,
        use_shifts: cfg.use_shifts,
        cross_branch_fallback: cfg.cross_branch_fallback,
        calls: CallSettingsView {
            auto_reply: cfg.calls.auto_reply,
            auto_reply_text: cfg.calls.auto_reply_text.clone(),
            auto_reply_window_secs: cfg.calls.auto_reply_window.as_secs(),
            auto_reject: cfg.calls.auto_reject,
        },
    }
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
        (status = 200, description = "The settings now", body = SettingsView),
        super::openapi::WriteErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn patch_settings(
    State(state): State<AppState>,
    Admin(me): Admin,
    ApiJson(body): ApiJson<serde_json::Map<String, Value>>,
) -> ApiResult<Json<SettingsView>> {
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
    Ok(Json(settings_view(&state)))
}

/// Query of `GET /api/activity`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    /// The `next_cursor` of the previous page.
    #[param(value_type = Option<i64>)]
    pub cursor: Option<String>,
    /// Page size.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// Only this user's actions (a user id).
    #[param(value_type = Option<i64>, minimum = 1)]
    pub user: Option<String>,
    /// Only actions starting with this (`ticket.` for every ticket action).
    #[param(value_type = Option<String>, max_length = 100)]
    pub action: Option<String>,
    /// From this local day (the service's time zone).
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<String>,
    /// Up to and including this local day.
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<String>,
}

/// The filter of an activity query: days are local to the service's time zone.
fn activity_filter(state: &AppState, q: &ActivityQuery) -> ApiResult<db::activity::ActivityFilter> {
    let tz = state.app.time_zone();
    let day = |v: &Option<String>, f: &str| -> ApiResult<Option<jiff::civil::Date>> {
        match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| ApiError::invalid(f.to_owned(), "a date YYYY-MM-DD")),
        }
    };
    let (from, to) = (day(&q.from, "from")?, day(&q.to, "to")?);
    if let (Some(f), Some(t)) = (from, to)
        && t < f
    {
        return Err(ApiError::invalid("to", "before from"));
    }
    let action = q.action.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if action.is_some_and(|a| a.chars().count() > 100) {
        return Err(ApiError::invalid("action", "at most 100 characters"));
    }
    Ok(db::activity::ActivityFilter {
        user: parse_opt::<i64>(&q.user, "user")?.map(UserId),
        action_prefix: action.map(str::to_owned),
        from: from.map(|d| start_of_day(d, tz)),
        to: to.map(|d| start_of_day(d.tomorrow().unwrap_or(d), tz)),
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
        (status = 200, description = "A page of entries (with the client address of HTTP actions)", body = super::openapi::Page<crate::db::activity::ActivityEntry>),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn activity(
    State(state): State<AppState>,
    Admin(_): Admin,
    ApiQuery(q): ApiQuery<ActivityQuery>,
) -> ApiResult<Json<Value>> {
    let lim = limit(&q.limit)?;
    let before: Option<i64> = parse_opt(&q.cursor, "cursor")?;
    let filter = activity_filter(&state, &q)?;
    let mut c = state.app.pool().acquire().await?;
    let rows = db::activity::list(&mut c, &filter, before, lim).await?;
    let next = (rows.len() as i64 == lim)
        .then(|| rows.last().map(|r| r.id.to_string()))
        .flatten();
    Ok(Json(json!({ "items": rows, "next_cursor": next })))
}

#[utoipa::path(
    get,
    path = "/api/alerts",
    tag = "admin",
    operation_id = "list_alerts",
    summary = "Open alerts",
    responses(
        (status = 200, description = "Alerts", body = super::openapi::Items<crate::db::activity::Alert>),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn alerts(State(state): State<AppState>, Admin(_): Admin) -> ApiResult<Json<Value>> {
    let mut c = state.app.pool().acquire().await?;
    Ok(Json(
        json!({ "items": db::activity::open_alerts(&mut c).await? }),
    ))
}

#[utoipa::path(
    post,
    path = "/api/alerts/{id}/acknowledge",
    tag = "admin",
    operation_id = "acknowledge_alert",
    summary = "Acknowledge an alert",
    params(("id" = i64, Path, description = "Alert id", example = 1)),
    responses(
        (status = 200, description = "Acknowledged", body = super::openapi::Done),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn acknowledge(
    State(state): State<AppState>,
    Admin(me): Admin,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let mut c = state.app.pool().acquire().await?;
    if !db::activity::acknowledge(&mut c, AlertId(id), me.id, state.app.now()).await? {
        return Err(ApiError::not_found(format!("open alert {id}")));
    }
    drop(c);
    audit(
        &state,
        Some(me.id),
        "alert.acknowledged",
        Some(("alert", id)),
        json!({}),
    )
    .await?;
    Ok(Json(json!({ "ok": true })))
}

#[utoipa::path(
    get,
    path = "/api/outbox/held",
    tag = "admin",
    operation_id = "held_messages",
    summary = "Messages held by the mass-send guard",
    responses(
        (status = 200, description = "Held messages", body = super::openapi::Items<super::openapi::HeldView>),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn held(State(state): State<AppState>, Admin(_): Admin) -> ApiResult<Json<Value>> {
    let mut c = state.app.pool().acquire().await?;
    let rows = db::outbox::held(&mut c).await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| json!({ "id": r.id, "message_id": r.message_id, "ticket_id": r.ticket_id, "customer_id": r.customer_id, "body": r.body, "created_at": r.created_at }))
        .collect();
    Ok(Json(json!({ "items": items })))
}

#[utoipa::path(
    post,
    path = "/api/outbox/{id}/confirm",
    tag = "admin",
    operation_id = "confirm_held",
    summary = "Release a held message",
    params(("id" = i64, Path, description = "Outbox row id", example = 1)),
    responses(
        (status = 200, description = "Released", body = super::openapi::MessageView),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn confirm_held(
    State(state): State<AppState>,
    Admin(me): Admin,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let m = state.app.decide_held(OutboxId(id), me.id, true).await?;
    Ok(Json(json!({ "message": m })))
}

#[utoipa::path(
    post,
    path = "/api/outbox/{id}/cancel",
    tag = "admin",
    operation_id = "cancel_held",
    summary = "Cancel a held message",
    params(("id" = i64, Path, description = "Outbox row id", example = 1)),
    responses(
        (status = 200, description = "Cancelled", body = super::openapi::MessageView),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn cancel_held(
    State(state): State<AppState>,
    Admin(me): Admin,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let m = state.app.decide_held(OutboxId(id), me.id, false).await?;
    Ok(Json(json!({ "message": m })))
}
