//! What `GET /readyz` and `GET /metrics` report (the HTTP layer serves them; `/healthz`,
//! liveness, is the HTTP layer's own).
//!
//! Ready means: the database answers, and every migration embedded in this binary is applied.
//! The WhatsApp link's state is reported but does not make the service unready: a fresh
//! install must be ready so that an admin can sign in and pair the number.
//!
//! These endpoints answer anyone (a load balancer, a monitoring probe): they show the link's
//! state, never the paired number or the account's name (admins read those in
//! `/api/whatsapp/status`).

use crate::app::{App, WhatsappLink};
use crate::ops::metrics::{global, link_state_name};
use serde::Serialize;
use std::time::Duration;

/// How long a check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The answer of `GET /readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` when the database answers and every migration is applied.
    pub status: ReadyStatus,
    /// Each check; `whatsapp` and `media` are informational.
    pub checks: ReadinessChecks,
}

/// Ready or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadyStatus {
    /// Serving.
    Ready,
    /// A check failed: it says why.
    NotReady,
}

/// The checks of [`Readiness`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReadinessChecks {
    /// The database answers a query.
    pub database: Check,
    /// Every migration embedded in this binary is applied.
    pub migrations: MigrationsCheck,
    /// The WhatsApp link's state (informational).
    pub whatsapp: LinkCheck,
    /// The media disk (informational: text still flows with a full media disk).
    pub media: MediaCheck,
}

/// A check that passes or fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Check {
    /// Passed.
    pub ok: bool,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The migrations check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MigrationsCheck {
    /// Every embedded migration is applied.
    pub ok: bool,
    /// How many are applied (when they could be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<usize>,
    /// Why it failed (the versions not applied, or the database's error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The link's state, or `unknown` with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LinkCheck {
    /// The link's state (`connected`, `unpaired`...) or `unknown`.
    pub state: String,
    /// Why it is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The media disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MediaCheck {
    /// The last attachment write found the disk full.
    pub disk_full: bool,
}

/// Runs the readiness checks, each bounded by [`CHECK_TIMEOUT`].
pub async fn readiness(app: &App, link: &dyn WhatsappLink) -> Readiness {
    let database = tokio::time::timeout(
        CHECK_TIMEOUT,
        sqlx::query_scalar::<_, i64>("SELECT 1").fetch_one(app.pool()),
    )
    .await;
    let database = match database {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_owned()),
    };
    let migrations = if database.is_ok() {
        migrations(app).await
    } else {
        Err("database unreachable".to_owned())
    };
    let whatsapp = match tokio::time::timeout(CHECK_TIMEOUT, link.status()).await {
        Ok(Ok(s)) => LinkCheck {
            state: link_state_name(s.state).to_owned(),
            error: None,
        },
        // The error's text is the link's own; it stays in the log.
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readyz: the WhatsApp link's state");
            LinkCheck {
                state: "unknown".into(),
                error: Some("the link did not answer".into()),
            }
        }
        Err(_) => LinkCheck {
            state: "unknown".into(),
            error: Some("timed out".into()),
        },
    };
    let ready = database.is_ok() && migrations.is_ok();
    Readiness {
        status: if ready {
            ReadyStatus::Ready
        } else {
            ReadyStatus::NotReady
        },
        checks: ReadinessChecks {
            database: Check {
                ok: database.is_ok(),
                error: database.err(),
            },
            migrations: match migrations {
                Ok(applied) => MigrationsCheck {
                    ok: true,
                    applied: Some(applied),
                    error: None,
                },
                Err(e) => MigrationsCheck {
                    ok: false,
                    applied: None,
                    error: Some(e),
                },
            },
            whatsapp,
            media: MediaCheck {
                disk_full: app.media_disk_full(),
            },
        },
    }
}

/// Applied vs embedded migrations: the number applied when every embedded one is applied
/// successfully.
async fn migrations(app: &App) -> Result<usize, String> {
    let applied: Vec<i64> = tokio::time::timeout(
        CHECK_TIMEOUT,
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = 1")
            .fetch_all(app.pool()),
    )
    .await
    .map_err(|_| "timed out".to_owned())?
    .map_err(|e| e.to_string())?;
    let missing: Vec<i64> = crate::db::MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .filter(|v| !applied.contains(v))
        .collect();
    if missing.is_empty() {
        Ok(applied.len())
    } else {
        Err(format!("not applied: {missing:?}"))
    }
}

/// The Prometheus text exposition of [`crate::ops::metrics`] with the outbox depth and the
/// link's state read now.
pub async fn metrics_text(app: &App, link: &dyn WhatsappLink) -> String {
    let depth = match app.outbox_depth().await {
        Ok(d) => u64::try_from(d).unwrap_or(0),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: outbox depth");
            0
        }
    };
    let link = match tokio::time::timeout(CHECK_TIMEOUT, link.status()).await {
        Ok(Ok(s)) => Some(s.state),
        _ => None,
    };
    global().render(depth, link)
}
