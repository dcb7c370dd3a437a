//! Alerts outside the browser: Web Push subscriptions (every user, their own browsers) and the
//! outbound webhooks with their delivery log (admins). See `crate::alerts`.

use super::AppState;
use super::auth::{Admin, CurrentUser};
use super::error::{ApiError, ApiJson, ApiQuery, ApiResult, Id, Limit};
use crate::alerts::webhook::{EVENTS, new_secret};
use crate::app::{Delivery, PushSubscription, Webhook, WebhookChange};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/push/key", get(push_key))
        .route("/api/push/subscribe", post(subscribe))
        .route("/api/push/unsubscribe", post(unsubscribe))
        .route("/api/webhooks", get(list_webhooks).post(create_webhook))
        .route(
            "/api/webhooks/{id}",
            patch(update_webhook).delete(delete_webhook),
        )
        .route("/api/webhooks/{id}/deliveries", get(deliveries))
}

/// `GET /api/push/key`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PushKeyView {
    /// The VAPID public key (`applicationServerKey`: uncompressed P-256 point, base64url).
    pub public_key: String,
    /// How many browsers the caller has subscribed.
    pub subscriptions: i64,
}

#[utoipa::path(
    get,
    path = "/api/push/key",
    tag = "alerts",
    operation_id = "push_key",
    summary = "The VAPID key to subscribe with, and the caller's subscription count",
    responses(
        (status = 200, description = "The key", body = PushKeyView),
        super::openapi::ReadErrors,
    ),
    security(("session" = []), ("bearer" = [])),
)]
async fn push_key(State(state): State<AppState>, me: CurrentUser) -> ApiResult<Json<PushKeyView>> {
    Ok(Json(PushKeyView {
        public_key: state.alerts.vapid_public_key(),
        subscriptions: state.app.push_subscriptions(me.id).await?,
    }))
}

/// A browser's `PushSubscription.toJSON().keys`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PushKeys {
    /// The browser's P-256 public key (base64url).
    #[schema(min_length = 1, max_length = 200)]
    pub p256dh: String,
    /// The 16-byte authentication secret (base64url).
    #[schema(min_length = 1, max_length = 100)]
    pub auth: String,
}

/// `POST /api/push/subscribe` body: `PushSubscription.toJSON()`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SubscribeBody {
    /// The push service URL (https).
    #[schema(min_length = 1, max_length = 2048)]
    pub endpoint: String,
    /// Its keys.
    pub keys: PushKeys,
}

/// `POST /api/push/unsubscribe` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct UnsubscribeBody {
    /// The push service URL the browser was subscribed with.
    #[schema(min_length = 1, max_length = 2048)]
    pub endpoint: String,
}

/// Whether the caller's browser is subscribed now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubscribedView {
    /// Subscribed.
    pub subscribed: bool,
}

#[utoipa::path(
    post,
    path = "/api/push/subscribe",
    tag = "alerts",
    operation_id = "push_subscribe",
    summary = "Subscribe this browser to the caller's notifications",
    description = "Admins get link down/up and admin alerts; agents get link down/up, a slow first response on their tickets and new tickets in their queue. The endpoint must be https.",
    request_body = SubscribeBody,
    responses(
        (status = 200, description = "Subscribed", body = SubscribedView),
        super::openapi::WriteErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
async fn subscribe(
    State(state): State<AppState>,
    me: CurrentUser,
    ApiJson(body): ApiJson<SubscribeBody>,
) -> ApiResult<Json<SubscribedView>> {
    crate::alerts::push::check_subscription(
        &body.endpoint,
        &body.keys.p256dh,
        &body.keys.auth,
        state.alerts.allow_http_push(),
    )
    .map_err(|e| ApiError::invalid("endpoint", e.to_string()))?;
    let subscription = PushSubscription {
        endpoint: &body.endpoint,
        p256dh: &body.keys.p256dh,
        auth: &body.keys.auth,
    };
    state.app.subscribe_push(me.id, &subscription).await?;
    Ok(Json(SubscribedView { subscribed: true }))
}

#[utoipa::path(
    post,
    path = "/api/push/unsubscribe",
    tag = "alerts",
    operation_id = "push_unsubscribe",
    summary = "Stop notifications to this browser",
    request_body = UnsubscribeBody,
    responses(
        (status = 200, description = "Unsubscribed (also when it was not subscribed)", body = SubscribedView),
        super::openapi::WriteErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
async fn unsubscribe(
    State(state): State<AppState>,
    me: CurrentUser,
    ApiJson(body): ApiJson<UnsubscribeBody>,
) -> ApiResult<Json<SubscribedView>> {
    // Only the caller's own: another user's endpoint is left alone, silently.
    state.app.unsubscribe_push(me.id, &body.endpoint).await?;
    Ok(Json(SubscribedView { subscribed: false }))
}

/// A webhook as admins see it (the secret is shown only when it is created).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    /// The webhook.
    #[serde(flatten)]
    pub webhook: Webhook,
    /// The events it receives (empty: all).
    pub events: Vec<String>,
}

impl From<Webhook> for WebhookView {
    fn from(webhook: Webhook) -> Self {
        WebhookView {
            events: webhook.event_names(),
            webhook,
        }
    }
}

/// `GET /api/webhooks`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookList {
    /// Every webhook.
    pub items: Vec<WebhookView>,
    /// The event names there are.
    pub events: Vec<String>,
}

/// A created webhook with its signing secret (shown this once).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookCreated {
    /// The webhook.
    pub webhook: WebhookView,
    /// The HMAC-SHA256 key of `X-Signature` (hex text, used as bytes).
    pub secret: String,
}

/// `POST /api/webhooks` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct WebhookBody {
    /// Where to POST (http or https; redirects are not followed).
    #[schema(
        min_length = 1,
        max_length = 2048,
        example = "https://erp.example/hooks/whatsapp"
    )]
    pub url: String,
    /// The events to receive (empty or absent: all).
    #[serde(default)]
    pub events: Vec<String>,
}

/// `PATCH /api/webhooks/{id}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct WebhookPatch {
    /// A new URL.
    #[schema(min_length = 1, max_length = 2048)]
    pub url: Option<String>,
    /// New events (empty: all).
    pub events: Option<Vec<String>>,
    /// Enable (clears the failure count) or disable.
    pub enabled: Option<bool>,
}

fn check_webhook(url: Option<&str>, events: Option<&[String]>) -> ApiResult<()> {
    if let Some(url) = url {
        if url.len() > 2048 {
            return Err(ApiError::invalid("url", "at most 2048 characters"));
        }
        crate::alerts::post::check_url(url).map_err(|e| ApiError::invalid("url", e.to_string()))?;
    }
    if let Some(bad) = events
        .into_iter()
        .flatten()
        .find(|e| !EVENTS.contains(&e.as_str()))
    {
        return Err(ApiError::invalid(
            "events",
            format!("unknown event {bad:?}; known: {}", EVENTS.join(", ")),
        ));
    }
    Ok(())
}

#[utoipa::path(
    get,
    path = "/api/webhooks",
    tag = "alerts",
    operation_id = "list_webhooks",
    summary = "Outbound webhooks",
    responses(
        (status = 200, description = "Webhooks", body = WebhookList),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn list_webhooks(
    State(state): State<AppState>,
    Admin(_): Admin,
) -> ApiResult<Json<WebhookList>> {
    Ok(Json(WebhookList {
        items: state
            .app
            .webhooks()
            .await?
            .into_iter()
            .map(WebhookView::from)
            .collect(),
        events: EVENTS.iter().map(|e| (*e).to_owned()).collect(),
    }))
}

#[utoipa::path(
    post,
    path = "/api/webhooks",
    tag = "alerts",
    operation_id = "create_webhook",
    summary = "Register an outbound webhook",
    description = "Deliveries are POSTed as JSON `{event, at, data}` with `X-Webhook-Event`, `X-Webhook-Delivery`, `X-Timestamp` and `X-Signature: sha256=<hex HMAC-SHA256 of \"<timestamp>.<body>\">` under the returned secret; retried with backoff; the webhook is disabled after repeated failures.",
    request_body = WebhookBody,
    responses(
        (status = 201, description = "Created; the secret is shown this once", body = WebhookCreated),
        super::openapi::WriteErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn create_webhook(
    State(state): State<AppState>,
    Admin(me): Admin,
    ApiJson(body): ApiJson<WebhookBody>,
) -> ApiResult<(StatusCode, Json<WebhookCreated>)> {
    check_webhook(Some(&body.url), Some(&body.events))?;
    let secret = new_secret();
    let hook = state
        .app
        .create_webhook(me.id, &body.url, &secret, &body.events)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookCreated {
            webhook: hook.into(),
            secret,
        }),
    ))
}

#[utoipa::path(
    patch,
    path = "/api/webhooks/{id}",
    tag = "alerts",
    operation_id = "update_webhook",
    summary = "Change, enable or disable a webhook",
    params(("id" = i64, Path, description = "Webhook id", example = 1)),
    request_body = WebhookPatch,
    responses(
        (status = 200, description = "The webhook now", body = WebhookView),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn update_webhook(
    State(state): State<AppState>,
    Admin(me): Admin,
    Id(id): Id,
    ApiJson(body): ApiJson<WebhookPatch>,
) -> ApiResult<Json<WebhookView>> {
    check_webhook(body.url.as_deref(), body.events.as_deref())?;
    let change = WebhookChange {
        url: body.url.as_deref(),
        events: body.events.as_deref(),
        enabled: body.enabled,
    };
    let hook = state.app.update_webhook(me.id, id, change).await?;
    Ok(Json(hook.into()))
}

#[utoipa::path(
    delete,
    path = "/api/webhooks/{id}",
    tag = "alerts",
    operation_id = "delete_webhook",
    summary = "Delete a webhook and its delivery log",
    params(("id" = i64, Path, description = "Webhook id", example = 1)),
    responses(
        (status = 200, description = "Deleted", body = DeletedView),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn delete_webhook(
    State(state): State<AppState>,
    Admin(me): Admin,
    Id(id): Id,
) -> ApiResult<Json<DeletedView>> {
    state.app.delete_webhook(me.id, id).await?;
    Ok(Json(DeletedView { deleted: true }))
}

/// A deleted webhook.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeletedView {
    /// Always true.
    pub deleted: bool,
}

/// Query of `GET /api/webhooks/{id}/deliveries`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Only deliveries older than this one (the last id of the previous page).
    #[param(minimum = 1)]
    pub before: Option<i64>,
    /// Page size.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<Limit>,
}

/// `GET /api/webhooks/{id}/deliveries`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryList {
    /// Newest first.
    pub items: Vec<Delivery>,
}

#[utoipa::path(
    get,
    path = "/api/webhooks/{id}/deliveries",
    tag = "alerts",
    operation_id = "webhook_deliveries",
    summary = "A webhook's delivery log, newest first",
    params(("id" = i64, Path, description = "Webhook id", example = 1), DeliveriesQuery),
    responses(
        (status = 200, description = "Deliveries", body = DeliveryList),
        super::openapi::ReadObjectErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn deliveries(
    State(state): State<AppState>,
    Admin(_): Admin,
    Id(id): Id,
    ApiQuery(q): ApiQuery<DeliveriesQuery>,
) -> ApiResult<Json<DeliveryList>> {
    let limit = q.limit.unwrap_or_default().0;
    let items = state.app.webhook_deliveries(id, q.before, limit).await?;
    Ok(Json(DeliveryList { items }))
}
