//! Switch-over import from the pharmacy's Django system (issue 13): `pharmacy-service
//! import-django --from db.sqlite3 [--dry-run] [--media-dir DIR]`.
//!
//! The Django database is opened read-only on its own connection ([`source`]). Its tables
//! (`auth_user` or the app's own user model, and `conversations_<model>` for agents, admins,
//! customers, tags, notes, tickets, state and transfer logs, messages, delivery logs,
//! templates, auto-reply triggers, response-time tracking, delay events, satisfaction ratings,
//! KPI rows, the activity log and login attempts) are mapped into the service's schema in
//! dependency order, all inside ONE write transaction: a run completes or changes nothing.
//! (`MessageSearchIndex` is not read: the service indexes every imported message itself.)
//!
//! - **Idempotent.** Every imported source row is recorded in `import_source_ids` with the
//!   row it became and a hash of its content; a second run skips them and changes nothing.
//!   Rows added to the Django database since (the last hours before the switch) are imported
//!   by the next run; rows *edited* since are listed in the report (`changed_since_import`)
//!   and not overwritten, since the service may have moved on from them.
//! - **Merges.** Customers are matched by normalised phone number ([`mapping`]): two Django
//!   rows for one number, or a customer who already wrote to the service, become one
//!   customer. Users whose login already exists are linked to it.
//! - **Unmappable rows** (no usable phone number, unknown status, a parent that was not
//!   imported...) are skipped, listed with the reason in the report, and not recorded, so a
//!   later run imports them once the source is fixed.
//! - **Dry run.** The same import runs against a throw-away copy of the service database
//!   (`VACUUM INTO` a temporary file; a fresh database if there is none yet) without copying
//!   media, and the copy is deleted: the report is exactly what a real run would do, and
//!   nothing is written.
//! - **Passwords.** Django `pbkdf2_sha256$...` hashes are kept and verified at the user's next
//!   login, which rehashes to argon2id ([`django_password`], `App::authenticate`).
//! - **Media** named by messages is copied from `--media-dir` into the content-addressed store;
//!   missing files are listed in the report and the message comes in without its file. Files
//!   copied by a run that then fails stay in the store unreferenced (content-addressed: the
//!   next run reuses them).
//! - **KPIs.** The samples the service's KPI report sums (Django's measured response times,
//!   resolutions of tickets Django closed, delays, ratings, messages credited to the agent who
//!   had the ticket at the time) are imported, so `App::kpi_report` covers the Django period;
//!   Django's own `AgentKPI`/`AgentKPIMonthly` rows and the figures on each `Agent` row are
//!   kept verbatim in `legacy_kpi_snapshots`. The event journal (`ticket_events`, which
//!   `App::kpi_fold` folds) starts at the switch-over: Django kept no such journal.
//!
//! The real run holds the service database's write lock from start to commit: run it before
//! the service takes traffic (or with it stopped). The big tables (messages, delivery logs,
//! activity log, login attempts) are read in pages; the others, and the ledger of imported
//! ids, are held in memory: fine for the pharmacy's size (hundreds of thousands of messages),
//! to be revisited for tens of millions.

mod audit;
mod catalog;
mod context;
mod customers;
pub mod django_password;
mod dry_run;
mod error;
pub mod mapping;
pub mod media;
mod messages;
mod metrics;
pub mod people;
pub mod report;
pub mod source;
mod tickets;
pub mod when;

pub use error::ImportError;
pub use report::{EntityCounts, ImportReport, MissingMedia, RowNote};

use crate::app::{App, Clock, ServiceConfig};
use crate::db;
use context::{Ctx, MediaSettings};
use error::WriteContext;
use jiff::tz::TimeZone;
use source::Source;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What to import and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// The Django `db.sqlite3`.
    pub source: PathBuf,
    /// Django's `MEDIA_ROOT` (the directory holding `messages/...`).
    pub media_dir: Option<PathBuf>,
    /// Report only; write nothing.
    pub dry_run: bool,
    /// The zone naive Django datetimes are in: `UTC` when Django ran with `USE_TZ = True`
    /// (its default), the local zone (`Africa/Cairo`) otherwise.
    pub source_time_zone: String,
    /// The Django app holding the models (`conversations`).
    pub app_label: String,
}

impl ImportOptions {
    /// Defaults for a Django database at `source`: real run, no media, UTC, `conversations`.
    pub fn new(source: impl Into<PathBuf>) -> ImportOptions {
        ImportOptions {
            source: source.into(),
            media_dir: None,
            dry_run: false,
            source_time_zone: "UTC".into(),
            app_label: "conversations".into(),
        }
    }
}

/// Runs the import against the service database file `target` (created, with its directory,
/// and migrated if needed, once the source has opened). A dry run works on a private temporary
/// copy (in a new 0700 directory, removed after) and leaves `target` untouched (not even created).
pub async fn run(
    target: &Path,
    config: ServiceConfig,
    clock: Arc<dyn Clock>,
    opts: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    if !opts.dry_run {
        // Refuse a wrong --from before the service database is created or migrated.
        Source::open(&opts.source, &opts.app_label)
            .await?
            .close()
            .await;
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| ImportError::TargetDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let app = App::open(target, clock, config).await?;
        let result = import_into(&app, opts).await;
        app.pool().close().await;
        return result;
    }
    dry_run_in(&std::env::temp_dir(), target, config, clock, opts).await
}

/// A dry run on a private copy of `target` made under `root` (`dry_run::DryRunCopy`); the copy is
/// gone when this returns, whatever the outcome.
async fn dry_run_in(
    root: &Path,
    target: &Path,
    config: ServiceConfig,
    clock: Arc<dyn Clock>,
    opts: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    let copy = dry_run::DryRunCopy::create_in(root, target).await?;
    let config = ServiceConfig {
        media_dir: copy.media_dir(),
        ..config
    };
    let app = App::open(copy.db(), clock, config).await?;
    let result = import_into(&app, opts).await;
    // Closed before the copy's directory goes.
    app.pool().close().await;
    result
}

/// Imports into `app`'s database in one transaction (`opts.dry_run` only stops media from
/// being written; [`run`] is what keeps a dry run off the real database).
pub async fn import_into(app: &App, opts: &ImportOptions) -> Result<ImportReport, ImportError> {
    let tz = match opts.source_time_zone.as_str() {
        "UTC" | "utc" => TimeZone::UTC,
        zone => crate::domain::time::time_zone(zone).ok_or_else(|| ImportError::TimeZone {
            zone: zone.to_owned(),
        })?,
    };
    let mut src = Source::open(&opts.source, &opts.app_label).await?;
    let tx = app.begin().await?;
    let report = ImportReport::new(&opts.source.display().to_string(), opts.dry_run);
    let media = MediaSettings {
        dir: opts.media_dir.clone(),
        copy: !opts.dry_run,
    };
    let mut ctx = Ctx::new(app, tx, tz, report, media).await?;
    let people_tables = people::tables(&src);
    people::import(&mut ctx, &mut src).await?;
    customers::import(&mut ctx, &mut src, &people_tables).await?;
    tickets::import(&mut ctx, &mut src, &people_tables).await?;
    messages::import(&mut ctx, &mut src, &people_tables).await?;
    catalog::import(&mut ctx, &mut src, &people_tables).await?;
    metrics::import(&mut ctx, &mut src, &people_tables).await?;
    audit::import(&mut ctx, &mut src, &people_tables).await?;
    finish(&mut ctx).await?;
    src.close().await;
    let Ctx { tx, report, .. } = ctx;
    tx.commit().await.step("commit")?;
    Ok(report)
}

/// Derived state of what was imported: ticket clocks from their messages (first response,
/// waiting since, last activity), each customer's last agent (so a returning customer goes
/// back to the pharmacist who served them), and one audit entry for the run.
async fn finish(ctx: &mut Ctx) -> Result<(), ImportError> {
    for t in std::mem::take(&mut ctx.touched_tickets) {
        sqlx::query(
            "UPDATE tickets SET
                 first_response_at = coalesce(first_response_at,
                     (SELECT min(created_at) FROM messages WHERE ticket_id = ?1 AND sender_kind = 'agent')),
                 last_activity_at = max(last_activity_at,
                     coalesce((SELECT max(created_at) FROM messages WHERE ticket_id = ?1), 0)),
                 waiting_since = CASE WHEN status = 'closed' THEN NULL ELSE
                     (SELECT min(m.created_at) FROM messages m WHERE m.ticket_id = ?1 AND m.direction = 'in'
                          AND m.created_at > coalesce((SELECT max(created_at) FROM messages
                              WHERE ticket_id = ?1 AND sender_kind = 'agent'), 0)) END
             WHERE id = ?1",
        )
        .bind(t)
        .execute(&mut *ctx.tx)
        .await
        .step("ticket clocks")?;
    }
    for c in std::mem::take(&mut ctx.touched_customers) {
        sqlx::query(
            "UPDATE customers SET
                 last_agent_id = (SELECT agent_id FROM tickets WHERE customer_id = ?1 AND agent_id IS NOT NULL
                                  ORDER BY last_activity_at DESC, id DESC LIMIT 1),
                 last_agent_at = (SELECT last_activity_at FROM tickets WHERE customer_id = ?1 AND agent_id IS NOT NULL
                                  ORDER BY last_activity_at DESC, id DESC LIMIT 1)
             WHERE id = ?1 AND last_agent_id IS NULL",
        )
        .bind(c)
        .execute(&mut *ctx.tx)
        .await
        .step("customers' last agents")?;
    }
    if ctx.report.total_imported() > 0 {
        let counts: serde_json::Map<String, serde_json::Value> = ctx
            .report
            .entities
            .iter()
            .map(|(e, c)| (e.clone(), serde_json::json!(c)))
            .collect();
        db::activity::log(
            &mut ctx.tx,
            None,
            "import.django",
            None,
            Some(&serde_json::json!({ "source": ctx.report.source, "counts": counts })),
            ctx.now,
        )
        .await
        .step("audit entry")?;
    }
    Ok(())
}
