//! The import report: counts per entity, every row that could not be mapped and why, the
//! adjustments made on the way in, and the media files that were not found. Printed as JSON on
//! stdout (for scripts) and summarised for people on stderr.

use serde::{Serialize, Serializer};

/// What happened to the rows of one entity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EntityCounts {
    /// New rows written (or that a dry run would write).
    pub imported: u64,
    /// Rows a previous run already imported (recorded in `import_source_ids`).
    pub skipped_existing: u64,
    /// Rows folded into a row that already existed (the same customer twice, a user whose
    /// login already exists, a tag already on the customer).
    pub merged: u64,
    /// Rows that could not be mapped; each one is listed in [`ImportReport::unmappable`].
    pub unmappable: u64,
    /// Already imported rows that changed in Django since (listed in
    /// [`ImportReport::changed_since_import`]).
    pub changed_since_import: u64,
}

/// One source row and a sentence about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowNote {
    /// The service entity (`customers`, `messages`...).
    pub entity: String,
    /// The Django table.
    pub source_table: String,
    /// The row's primary key there.
    pub source_id: String,
    /// Why it was not imported, or what was adjusted.
    pub reason: String,
}

/// A media file a message refers to that could not be copied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingMedia {
    /// The Django message.
    pub message_id: String,
    /// The path as Django stored it.
    pub path: String,
    /// Why (`not found`, `no --media-dir given`, `unsafe path`).
    pub reason: String,
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportReport {
    /// The Django database read.
    pub source: String,
    /// True when nothing was written.
    pub dry_run: bool,
    /// Counts per entity, in import order.
    #[serde(serialize_with = "as_map")]
    pub entities: Vec<(String, EntityCounts)>,
    /// Rows that could not be mapped, with the reason.
    pub unmappable: Vec<RowNote>,
    /// Rows imported with an adjustment worth knowing (a ticket closed because the customer
    /// has a newer one, a pending message marked failed...).
    pub adjustments: Vec<RowNote>,
    /// Already imported rows that changed in Django since; the service keeps what it imported.
    pub changed_since_import: Vec<RowNote>,
    /// Media files not copied; their messages are imported without the file.
    pub missing_media: Vec<MissingMedia>,
    /// Django tables the import knows but the database does not have.
    pub absent_tables: Vec<String>,
    /// Tickets imported open or pending: they wait in the carried-over view (never closed for
    /// inactivity) until an admin or their agent keeps, reassigns or closes them.
    pub carried_over: u64,
    /// The admin page that finishes the switch-over: branch mapping, addresses, hours, what is
    /// still missing before going live.
    pub switchover_page: &'static str,
}

/// Where the switch-over page lives in the web UI.
pub const SWITCHOVER_PAGE: &str = "/app#/switchover";

fn as_map<S: Serializer>(v: &[(String, EntityCounts)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(v.iter().map(|(k, c)| (k, c)))
}

impl ImportReport {
    /// An empty report.
    pub fn new(source: &str, dry_run: bool) -> ImportReport {
        ImportReport {
            source: source.to_owned(),
            dry_run,
            entities: Vec::new(),
            unmappable: Vec::new(),
            adjustments: Vec::new(),
            changed_since_import: Vec::new(),
            missing_media: Vec::new(),
            absent_tables: Vec::new(),
            carried_over: 0,
            switchover_page: SWITCHOVER_PAGE,
        }
    }

    /// The counts of `entity` (created at zero on first use, keeping first-use order).
    pub fn counts(&mut self, entity: &str) -> &mut EntityCounts {
        let i = match self.entities.iter().position(|(e, _)| e == entity) {
            Some(i) => i,
            None => {
                self.entities
                    .push((entity.to_owned(), EntityCounts::default()));
                self.entities.len() - 1
            }
        };
        &mut self.entities[i].1
    }

    /// The counts of `entity`, if it was seen.
    pub fn get(&self, entity: &str) -> EntityCounts {
        self.entities
            .iter()
            .find(|(e, _)| e == entity)
            .map(|(_, c)| *c)
            .unwrap_or_default()
    }

    /// Counts a row as not mappable and records why.
    pub fn unmappable(&mut self, entity: &str, table: &str, id: &str, reason: impl Into<String>) {
        self.counts(entity).unmappable += 1;
        self.unmappable.push(note(entity, table, id, reason.into()));
    }

    /// Records an adjustment made to an imported row.
    pub fn adjusted(&mut self, entity: &str, table: &str, id: &str, reason: impl Into<String>) {
        self.adjustments
            .push(note(entity, table, id, reason.into()));
    }

    /// Total rows imported over all entities.
    pub fn total_imported(&self) -> u64 {
        self.entities
            .iter()
            .map(|(_, c)| c.imported + c.merged)
            .sum()
    }

    /// A summary for people (stderr).
    pub fn human_summary(&self) -> String {
        let mut s = format!(
            "{} from {}\n",
            if self.dry_run {
                "DRY RUN (nothing written): would import"
            } else {
                "Imported"
            },
            self.source
        );
        s.push_str(&format!(
            "  {:<22} {:>9} {:>9} {:>9} {:>11}\n",
            "entity", "imported", "existing", "merged", "unmappable"
        ));
        for (e, c) in &self.entities {
            s.push_str(&format!(
                "  {:<22} {:>9} {:>9} {:>9} {:>11}\n",
                e, c.imported, c.skipped_existing, c.merged, c.unmappable
            ));
        }
        if !self.unmappable.is_empty() {
            s.push_str(&format!("Rows not imported ({}):\n", self.unmappable.len()));
            for n in self.unmappable.iter().take(SUMMARY_ROWS) {
                s.push_str(&format!(
                    "  {} {} #{}: {}\n",
                    n.entity, n.source_table, n.source_id, n.reason
                ));
            }
            more(&mut s, self.unmappable.len());
        }
        if !self.adjustments.is_empty() {
            s.push_str(&format!(
                "Adjusted on import ({}):\n",
                self.adjustments.len()
            ));
            for n in self.adjustments.iter().take(SUMMARY_ROWS) {
                s.push_str(&format!(
                    "  {} {} #{}: {}\n",
                    n.entity, n.source_table, n.source_id, n.reason
                ));
            }
            more(&mut s, self.adjustments.len());
        }
        if !self.changed_since_import.is_empty() {
            s.push_str(&format!(
                "Changed in Django since imported, not updated ({}):\n",
                self.changed_since_import.len()
            ));
            for n in self.changed_since_import.iter().take(SUMMARY_ROWS) {
                s.push_str(&format!(
                    "  {} {} #{}\n",
                    n.entity, n.source_table, n.source_id
                ));
            }
            more(&mut s, self.changed_since_import.len());
        }
        if !self.missing_media.is_empty() {
            s.push_str(&format!(
                "Media not copied ({}; the messages are imported without the file):\n",
                self.missing_media.len()
            ));
            for m in self.missing_media.iter().take(SUMMARY_ROWS) {
                s.push_str(&format!(
                    "  message #{}: {} ({})\n",
                    m.message_id, m.path, m.reason
                ));
            }
            more(&mut s, self.missing_media.len());
        }
        if !self.absent_tables.is_empty() {
            s.push_str(&format!(
                "Tables not in the Django database: {}\n",
                self.absent_tables.join(", ")
            ));
        }
        s.push_str(&format!(
            "Carried over (open or pending, kept open until reviewed): {} tickets
",
            self.carried_over
        ));
        s.push_str(&format!(
            "Next: map the imported branches and check what is missing at {}\n",
            self.switchover_page
        ));
        s
    }
}

/// Rows listed per section of the human summary (the JSON has them all).
const SUMMARY_ROWS: usize = 100;

fn more(s: &mut String, total: usize) {
    if total > SUMMARY_ROWS {
        s.push_str(&format!(
            "  ... and {} more (all are in the JSON report)\n",
            total - SUMMARY_ROWS
        ));
    }
}

fn note(entity: &str, table: &str, id: &str, reason: String) -> RowNote {
    RowNote {
        entity: entity.to_owned(),
        source_table: table.to_owned(),
        source_id: id.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        let mut r = ImportReport::new("db.sqlite3", true);
        r.counts("users").imported += 2;
        r.unmappable("tickets", "conversations_ticket", "9", "status \"weird\"");
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["entities"]["users"]["imported"], 2);
        assert_eq!(j["entities"]["tickets"]["unmappable"], 1);
        assert_eq!(j["unmappable"][0]["source_id"], "9");
        assert!(r.human_summary().contains("status \"weird\""));
    }
}
