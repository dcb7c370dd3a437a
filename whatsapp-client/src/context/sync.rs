//! What the app-state and history syncs share across tasks (`appstate`, `history`).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

/// Per-client state of the syncs (app state and history).
#[derive(Default)]
pub(crate) struct SyncState {
    /// One app-state sync or send at a time (whatsmeow `appStateSyncLock`).
    pub(crate) lock: tokio::sync::Mutex<()>,
    /// When each missing key was last requested (requests older than the re-request
    /// interval are dropped).
    pub(crate) key_requests: Mutex<HashMap<Vec<u8>, Instant>>,
    /// History-sync notifications are processed one at a time.
    pub(crate) history: tokio::sync::Mutex<()>,
    /// Ids of the history notifications being imported (a resume skips them).
    pub(crate) history_in_flight: Mutex<HashSet<String>>,
}
