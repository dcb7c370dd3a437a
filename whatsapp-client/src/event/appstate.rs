//! What app-state sync tells the application.

use whatsapp_proto::appstate::{Collection, TypedMutation};

use crate::ClientError;

/// What app-state sync tells the application (in [`super::Event::AppState`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum AppStateEvent {
    /// A record of a collection was set or removed: a contact name, a push name, a chat
    /// archived, muted, pinned, marked read, a label… It is stored before this is emitted.
    Mutation(AppStateMutation),
    /// A collection is synced up to `version`.
    Synced {
        /// The collection.
        collection: Collection,
        /// Its version now.
        version: u64,
        /// Whether this sync started from a snapshot.
        full_sync: bool,
    },
    /// A background sync of a collection failed (a MAC or LTHash mismatch, a missing key, a
    /// download error…). Nothing of the failing snapshot or patch was applied.
    SyncFailed {
        /// The collection.
        collection: Collection,
        /// Why; [`ClientError::AppState`] for verification failures and missing keys.
        error: ClientError,
    },
}

/// One verified app-state record, typed.
///
/// ```
/// use whatsapp_client::appstate::{AppStateMutation, SyncAction};
/// fn contact_name(m: &AppStateMutation) -> Option<(&str, &str)> {
///     match &m.mutation.action {
///         SyncAction::Contact { jid, full_name: Some(name), .. } => Some((jid, name)),
///         _ => None,
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AppStateMutation {
    /// The collection it belongs to.
    pub collection: Collection,
    /// The version of the snapshot or patch that carried it.
    pub version: u64,
    /// Whether it came from a snapshot (initial or full sync) rather than a live change.
    pub full_sync: bool,
    /// The operation, timestamp and typed action.
    pub mutation: TypedMutation,
}
