//! Optional e-mail for admin alerts over SMTP (`lettre`, tokio + rustls). The settings live in
//! the service's database (`settings` key [`KEY`]), a file only the service account may read;
//! the password is never sent back by the API. TLS modes: `starttls` (the default, port 587),
//! `tls` (implicit TLS, port 465) and `none` (plain text: only for a relay on the same host).

use crate::app::{Alert, App, AppError};
use crate::domain::ids::UserId;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The settings key.
pub const KEY: &str = "alerts.smtp";

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// Plain, then STARTTLS (required).
    #[default]
    Starttls,
    /// TLS from the first byte.
    Tls,
    /// No TLS at all (a relay on the same host).
    None,
}

/// The SMTP settings as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SmtpSettings {
    /// Send alerts by e-mail.
    pub enabled: bool,
    /// The SMTP server.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// How the connection is secured.
    pub tls: TlsMode,
    /// Login (empty: none).
    pub username: String,
    /// Password (never shown).
    pub password: String,
    /// The sender address.
    pub from: String,
    /// The admins' addresses.
    pub to: Vec<String>,
}

/// Why an e-mail could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Not set up, or an address does not parse.
    #[error("{0}")]
    Settings(String),
    /// The server refused or could not be reached.
    #[error("SMTP: {0}")]
    Smtp(String),
}

impl SmtpSettings {
    /// Checks what an admin entered; `field` names the wrong one.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.host.trim().is_empty() || self.host.contains(['/', ' ', '@']) {
            return Err(("host", "a host name or address".into()));
        }
        if self.port == 0 {
            return Err(("port", "1 to 65535".into()));
        }
        self.from
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| ("from", e.to_string()))?;
        if self.to.is_empty() || self.to.len() > 20 {
            return Err(("to", "1 to 20 addresses".into()));
        }
        for t in &self.to {
            t.parse::<lettre::message::Mailbox>()
                .map_err(|e| ("to", format!("{t}: {e}")))?;
        }
        Ok(())
    }

    /// Sends one plain-text message to every `to` address.
    pub async fn send(&self, subject: &str, body: &str) -> Result<(), MailError> {
        self.check()
            .map_err(|(f, m)| MailError::Settings(format!("{f}: {m}")))?;
        let builder = match self.tls {
            TlsMode::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&self.host)
                .map_err(|e| MailError::Smtp(e.to_string()))?,
            TlsMode::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&self.host)
                .map_err(|e| MailError::Smtp(e.to_string()))?,
            TlsMode::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host),
        };
        let mut builder = builder
            .port(self.port)
            .timeout(Some(Duration::from_secs(15)));
        if !self.username.is_empty() {
            builder = builder.credentials(Credentials::new(
                self.username.clone(),
                self.password.clone(),
            ));
        }
        let mailer = builder.build();
        let mut message = Message::builder()
            .from(
                self.from
                    .parse()
                    .map_err(|e: lettre::address::AddressError| {
                        MailError::Settings(e.to_string())
                    })?,
            )
            .subject(subject)
            .header(ContentType::TEXT_PLAIN);
        for t in &self.to {
            message = message.to(t
                .parse()
                .map_err(|e: lettre::address::AddressError| MailError::Settings(e.to_string()))?);
        }
        let message = message
            .body(body.to_owned())
            .map_err(|e| MailError::Settings(e.to_string()))?;
        mailer
            .send(message)
            .await
            .map_err(|e| MailError::Smtp(e.to_string()))?;
        Ok(())
    }
}

/// The stored settings (defaults when none).
pub async fn load(app: &App) -> Result<SmtpSettings, AppError> {
    Ok(app
        .stored_setting(KEY)
        .await?
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_else(|| SmtpSettings {
            port: 587,
            ..SmtpSettings::default()
        }))
}

/// Stores the settings, an admin's change (`by`), logged in the same transaction (the host and
/// whether mail is on; never the password).
pub async fn save(app: &App, s: &SmtpSettings, by: UserId) -> Result<(), AppError> {
    let v = serde_json::to_value(s).unwrap_or_default();
    app.save_stored_setting(
        KEY,
        &v,
        by,
        "alerts.email_saved",
        &serde_json::json!({ "host": s.host, "enabled": s.enabled }),
    )
    .await
}

/// E-mails an admin alert when e-mail is enabled; failures are logged.
pub async fn alert(app: &App, alert: &Alert) {
    let settings = match load(app).await {
        Ok(s) if s.enabled => s,
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(error = %e, "e-mail settings");
            return;
        }
    };
    let subject = format!("[Khalifa Pharmacies] {}", alert.kind);
    let body = format!(
        "{}\n\n{}\n\nAcknowledge it in the activity log of the service.\n",
        alert.message,
        alert.details_json.as_deref().unwrap_or("")
    );
    if let Err(e) = settings.send(&subject, &body).await {
        tracing::warn!(error = %e, kind = %alert.kind, "the alert e-mail was not sent");
    }
}
