//! `/api/alerts/email`: the optional e-mail for admin alerts (SMTP settings and a test
//! message), admins only. The password is stored with the settings and never answered.

use super::auth::Admin;
use super::error::{ApiError, ApiJson, ApiResult};
use super::{AppState, audit};
use crate::alerts::mail::{self, SmtpSettings, TlsMode};
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/alerts/email", get(settings).put(save))
        .route("/api/alerts/email/test", post(test))
}

/// The SMTP settings as admins see them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EmailSettingsView {
    /// Admin alerts are e-mailed.
    pub enabled: bool,
    /// The SMTP server.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// `starttls`, `tls` or `none`.
    pub tls: TlsMode,
    /// Login (empty: none).
    pub username: String,
    /// A password is stored (it is never shown).
    pub password_set: bool,
    /// The sender address.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
}

impl From<&SmtpSettings> for EmailSettingsView {
    fn from(s: &SmtpSettings) -> Self {
        EmailSettingsView {
            enabled: s.enabled,
            host: s.host.clone(),
            port: s.port,
            tls: s.tls,
            username: s.username.clone(),
            password_set: !s.password.is_empty(),
            from: s.from.clone(),
            to: s.to.clone(),
        }
    }
}

/// `PUT /api/alerts/email` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct EmailSettingsBody {
    /// E-mail admin alerts.
    pub enabled: bool,
    /// The SMTP server.
    #[schema(min_length = 1, max_length = 253, example = "smtp.example.com")]
    pub host: String,
    /// Its port.
    #[schema(minimum = 1, maximum = 65535, example = 587)]
    pub port: u16,
    /// `starttls` (default), `tls` or `none`.
    #[serde(default)]
    pub tls: TlsMode,
    /// Login (empty: none).
    #[serde(default)]
    #[schema(max_length = 254)]
    pub username: String,
    /// A new password; absent keeps the stored one.
    #[schema(max_length = 1024)]
    pub password: Option<String>,
    /// The sender address.
    #[schema(min_length = 3, max_length = 254, example = "alerts@pharmacy.example")]
    pub from: String,
    /// The recipients (1 to 20).
    #[schema(min_items = 1, max_items = 20)]
    pub to: Vec<String>,
}

/// `POST /api/alerts/email/test`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TestSent {
    /// The SMTP server accepted it.
    pub sent: bool,
}

#[utoipa::path(
    get,
    path = "/api/alerts/email",
    tag = "alerts",
    operation_id = "email_settings",
    summary = "The SMTP settings of the admin alert e-mails (no password)",
    responses(
        (status = 200, description = "Settings", body = EmailSettingsView),
        super::openapi::ReadErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn settings(
    State(state): State<AppState>,
    Admin(_): Admin,
) -> ApiResult<Json<EmailSettingsView>> {
    Ok(Json((&mail::load(&state.app).await?).into()))
}

#[utoipa::path(
    put,
    path = "/api/alerts/email",
    tag = "alerts",
    operation_id = "save_email_settings",
    summary = "Save the SMTP settings of the admin alert e-mails",
    request_body = EmailSettingsBody,
    responses(
        (status = 200, description = "Saved", body = EmailSettingsView),
        super::openapi::WriteErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn save(
    State(state): State<AppState>,
    Admin(me): Admin,
    ApiJson(body): ApiJson<EmailSettingsBody>,
) -> ApiResult<Json<EmailSettingsView>> {
    let old = mail::load(&state.app).await?;
    if body.username.len() > 254 || body.password.as_ref().is_some_and(|p| p.len() > 1024) {
        return Err(ApiError::invalid("username", "too long"));
    }
    let new = SmtpSettings {
        enabled: body.enabled,
        host: body.host.trim().to_owned(),
        port: body.port,
        tls: body.tls,
        username: body.username,
        password: body.password.unwrap_or(old.password),
        from: body.from.trim().to_owned(),
        to: body.to.iter().map(|t| t.trim().to_owned()).collect(),
    };
    new.check().map_err(|(f, m)| ApiError::invalid(f, m))?;
    mail::save(&state.app, &new, me.id).await?;
    Ok(Json((&new).into()))
}

#[utoipa::path(
    post,
    path = "/api/alerts/email/test",
    tag = "alerts",
    operation_id = "test_email",
    summary = "Send a test e-mail with the stored settings",
    description = "409 when e-mail is not set up; 503 with the server's answer when sending failed.",
    responses(
        (status = 200, description = "Sent", body = TestSent),
        super::openapi::LinkErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn test(State(state): State<AppState>, Admin(me): Admin) -> ApiResult<Json<TestSent>> {
    let s = mail::load(&state.app).await?;
    if s.check().is_err() {
        return Err(ApiError::Conflict("e-mail is not set up".into()));
    }
    s.send(
        "[Khalifa Pharmacies] test e-mail",
        &format!(
            "Admin alerts will reach this address. Sent by {}.\n",
            me.name
        ),
    )
    .await
    .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    // Who sent mail to which addresses is an admin action like any other.
    audit(
        &state,
        Some(me.id),
        "alerts.email_tested",
        None,
        json!({ "host": s.host, "to": s.to }),
    )
    .await?;
    Ok(Json(TestSent { sent: true }))
}
