//! What a simulated account sent, in order, found by message id without a scan: receipts and
//! acks name messages by id, and a scan per receipt made a long run quadratic.

use std::collections::HashMap;

use super::SentRecord;

/// The sent records of one account (append-only), indexed by message id.
#[derive(Default)]
pub(super) struct SentLog {
    records: Vec<SentRecord>,
    /// Positions in `records` per id (an id is normally sent once; a resend repeats it).
    by_id: HashMap<String, Vec<usize>>,
}

impl SentLog {
    pub(super) fn push(&mut self, record: SentRecord) {
        self.by_id
            .entry(record.entry.id.clone())
            .or_default()
            .push(self.records.len());
        self.records.push(record);
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &SentRecord> {
        self.records.iter()
    }

    /// The first record sent under `id`.
    pub(super) fn find(&self, id: &str) -> Option<&SentRecord> {
        let at = *self.by_id.get(id)?.first()?;
        self.records.get(at)
    }

    /// The first record sent under `id`, to update.
    pub(super) fn find_mut(&mut self, id: &str) -> Option<&mut SentRecord> {
        let at = *self.by_id.get(id)?.first()?;
        self.records.get_mut(at)
    }

    /// Applies `update` to every record sent under one of `ids`.
    pub(super) fn update_each(&mut self, ids: &[String], mut update: impl FnMut(&mut SentRecord)) {
        for id in ids {
            for &at in self.by_id.get(id).into_iter().flatten() {
                if let Some(record) = self.records.get_mut(at) {
                    update(record);
                }
            }
        }
    }
}
