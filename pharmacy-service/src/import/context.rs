//! The state of one run: the open transaction, the ledger of source ids, the report.

use super::error::{ImportError, WriteContext};
use super::report::{ImportReport, RowNote};
use super::source::Row;
use crate::app::App;
use crate::domain::time::Timestamp;
use jiff::tz::TimeZone;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

/// The run's transaction.
pub(crate) type Tx = sqlx::Transaction<'static, sqlx::Sqlite>;

/// Where media comes from and whether it is written.
pub(crate) struct MediaSettings {
    /// `--media-dir`.
    pub dir: Option<PathBuf>,
    /// False on dry runs: files are read and hashed, not stored.
    pub copy: bool,
}

/// One run.
pub(crate) struct Ctx {
    pub app: App,
    pub tx: Tx,
    pub now: Timestamp,
    pub tz: TimeZone,
    pub report: ImportReport,
    pub media: MediaSettings,
    /// Service tickets that got rows in this run (their clocks are recomputed at the end).
    pub touched_tickets: BTreeSet<i64>,
    /// Service customers that got rows in this run.
    pub touched_customers: BTreeSet<i64>,
    ledger: HashMap<(String, String), (Option<i64>, Option<String>)>,
    /// Hashes of source rows being imported, recorded with them by [`Ctx::record`].
    pending: HashMap<(String, String), String>,
}

impl Ctx {
    /// Starts a run: loads the ledger inside the transaction.
    pub async fn new(
        app: &App,
        mut tx: Tx,
        tz: TimeZone,
        report: ImportReport,
        media: MediaSettings,
    ) -> Result<Ctx, ImportError> {
        let rows: Vec<(String, String, Option<i64>, Option<String>)> = sqlx::query_as(
            "SELECT source_table, source_id, target_id, source_hash FROM import_source_ids",
        )
        .fetch_all(&mut *tx)
        .await
        .step("reading the import ledger")?;
        Ok(Ctx {
            app: app.clone(),
            tx,
            now: app.now(),
            tz,
            report,
            media,
            touched_tickets: BTreeSet::new(),
            touched_customers: BTreeSet::new(),
            ledger: rows
                .into_iter()
                .map(|(t, s, id, h)| ((t, s), (id, h)))
                .collect(),
            pending: HashMap::new(),
        })
    }

    /// Whether a previous run (or this one) imported this source row.
    pub fn seen(&self, table: &str, id: &str) -> bool {
        self.ledger.contains_key(&(table.to_owned(), id.to_owned()))
    }

    /// The service row a source row became.
    pub fn target(&self, table: &str, id: &str) -> Option<i64> {
        self.ledger
            .get(&(table.to_owned(), id.to_owned()))
            .and_then(|(id, _)| *id)
    }

    /// Counts the row as already imported if it is in the ledger; true then.
    pub fn skip_seen(&mut self, entity: &str, table: &str, id: &str) -> bool {
        let seen = self.seen(table, id);
        if seen {
            self.report.counts(entity).skipped_existing += 1;
        }
        seen
    }

    /// Like [`Ctx::skip_seen`] for a whole Django row; an imported row whose content changed in
    /// Django since is also listed in the report (the service keeps its copy).
    pub fn skip_row(&mut self, entity: &str, r: &Row) -> bool {
        let id = r.id();
        let hash = row_hash(r);
        match self.ledger.get(&(r.table.clone(), id.clone())) {
            Some((_, stored)) => {
                if stored.as_ref().is_some_and(|h| *h != hash) {
                    self.report.counts(entity).changed_since_import += 1;
                    self.report.changed_since_import.push(RowNote {
                        entity: entity.to_owned(),
                        source_table: r.table.clone(),
                        source_id: id,
                        reason: "changed in Django since it was imported: the service keeps the imported version".into(),
                    });
                }
                self.report.counts(entity).skipped_existing += 1;
                true
            }
            None => {
                self.pending.insert((r.table.clone(), id), hash);
                false
            }
        }
    }

    /// Records that `table`/`id` became (or was merged into) `target_table`/`target_id`.
    pub async fn record(
        &mut self,
        table: &str,
        id: &str,
        target_table: &str,
        target_id: Option<i64>,
    ) -> Result<(), ImportError> {
        let hash = self.pending.remove(&(table.to_owned(), id.to_owned()));
        sqlx::query(
            "INSERT INTO import_source_ids (source_table, source_id, target_table, target_id, imported_at, source_hash)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(table)
        .bind(id)
        .bind(target_table)
        .bind(target_id)
        .bind(self.now)
        .bind(&hash)
        .execute(&mut *self.tx)
        .await
        .row("import ledger", table, id)?;
        self.ledger
            .insert((table.to_owned(), id.to_owned()), (target_id, hash));
        Ok(())
    }
}

/// A short fingerprint of a row's content.
fn row_hash(r: &Row) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(r.to_json().to_string().as_bytes())[..16])
}
