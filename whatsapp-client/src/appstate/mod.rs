//! App-state sync (part 2 §8): the five collections of chat settings and contact names our
//! phone keeps on the server, fetched as snapshots and patches, verified and applied.
//!
//! Architecture Invariant: nothing of a snapshot or patch reaches the store or the
//! application unless every MAC checks — value MAC, index MAC, snapshot MAC (the LTHash) and
//! patch MAC ([`whatsapp_proto::appstate::decode_patch`] computes a new state and never
//! changes one). A verified patch is stored (version, LTHash, index MAC map) in one
//! transaction before its events are emitted; a refused one leaves the collection where it
//! was and is reported as [`AppStateEvent::SyncFailed`] or as the error of
//! [`Client::sync_app_state`](crate::Client::sync_app_state).
//!
//! Sync keys come from our own phone ([`AppStateSyncKeyShare`] in a peer message). A key
//! that is missing is requested from the phone (at most once a day per key, as whatsmeow
//! `requestMissingAppStateKeys`), and the collections are synced again when it arrives.
//!
//! [`AppStateSyncKeyShare`]: whatsapp_proto::pb::e2e::AppStateSyncKeyShare

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message as _;
use whatsapp_proto::appstate::{
    self, AppStateError, AppStateKeys, CollectionState, DecodeOptions, LtHash, PatchOutcome,
};
use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::Jid;
use whatsapp_proto::media::MediaType;
use whatsapp_proto::pb::e2e;
use whatsapp_proto::pb::syncd::{ExternalBlobReference, SyncdMutations, SyncdPatch, SyncdSnapshot};

pub use crate::event::{AppStateEvent, AppStateMutation};
pub use whatsapp_proto::appstate::{Collection, Operation, SyncAction, TypedMutation};

use crate::context::Shared;
use crate::event::Event;
use crate::store::{AppStatePatchUpdate, AppStateSyncKey};
use crate::{ClientError, MediaRef};

/// The IQ namespace of app-state sync.
const XMLNS: &str = "w:sync:app:state";
/// How often the same missing key may be requested (whatsmeow: 24 h).
const KEY_REQUEST_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Rounds of `has_more_patches` one sync follows before giving up (a server that never
/// says "no more" must not keep us busy for ever).
const MAX_FETCH_ROUNDS: usize = 1000;

/// A decoded `<collection>` answer: an optional snapshot and patches, external blobs loaded.
#[derive(Debug, Default)]
struct PatchList {
    snapshot: Option<SyncdSnapshot>,
    patches: Vec<SyncdPatch>,
    has_more: bool,
}

/// Re-exported so that callers can build their own mutations for
/// [`Client::send_app_state`](crate::Client::send_app_state).
pub use whatsapp_proto::appstate::OutgoingMutation;

// ------------------------------------------------------------------ keys

/// Handles an `AppStateSyncKeyShare` from our own phone (whatsmeow
/// `handleAppStateSyncKeyShare`): stores the keys now, then syncs in the background every
/// collection — all of them again when a key we had asked for arrived, else those never synced.
pub(crate) async fn on_key_share(shared: &Arc<Shared>, share: &e2e::AppStateSyncKeyShare) {
    let mut keys: Vec<AppStateSyncKey> = share
        .keys
        .iter()
        .filter_map(|k| {
            let id = k.key_id.as_ref()?.key_id.clone()?;
            let data = k.key_data.as_ref()?;
            Some(AppStateSyncKey {
                id,
                data: data.key_data.clone()?,
                timestamp: data.timestamp.unwrap_or(0),
            })
        })
        .collect();
    if keys.is_empty() {
        return;
    }
    keys.sort_by_key(|k| k.timestamp);
    let was_requested = {
        let requests = lock(&shared.sync.key_requests);
        keys.iter().any(|k| requests.contains_key(&k.id))
    };
    if let Err(e) = shared.store.store_app_state_sync_keys(&keys).await {
        tracing::warn!(error = %e, "storing app-state keys failed");
        return;
    }
    tracing::info!(count = keys.len(), "app-state keys received");
    shared.spawn(sync_after_keys(shared.clone(), was_requested));
}

async fn sync_after_keys(shared: Arc<Shared>, all: bool) {
    for collection in Collection::ALL {
        if !all
            && matches!(
                shared.store.load_app_state_version(collection.name()).await,
                Ok(Some((v, _))) if v > 0
            )
        {
            continue;
        }
        if let Err(error) = sync_collection(&shared, collection, false).await {
            let stop = stops_syncing(&error);
            report_failure(&shared, collection, error);
            if stop {
                return;
            }
        }
    }
}

/// Errors after which further collections are not tried (whatsmeow stops on disconnects).
fn stops_syncing(error: &ClientError) -> bool {
    matches!(
        error,
        ClientError::NotConnected | ClientError::Disconnected | ClientError::Stopped
    )
}

/// Handles `<notification type="server_sync">`: syncs each collection it names.
pub(crate) fn on_server_sync(shared: &Arc<Shared>, node: &Node) {
    let collections: Vec<Collection> = node
        .children_by_tag("collection")
        .filter_map(|c| {
            c.attrs()
                .optional_str("name")
                .and_then(Collection::from_name)
        })
        .collect();
    if collections.is_empty() {
        return;
    }
    let owned = shared.clone();
    shared.spawn(async move {
        let shared = owned;
        for collection in collections {
            if let Err(error) = sync_collection(&shared, collection, false).await {
                let stop = stops_syncing(&error);
                report_failure(&shared, collection, error);
                if stop {
                    return;
                }
            }
        }
    });
}

fn report_failure(shared: &Shared, collection: Collection, error: ClientError) {
    tracing::warn!(collection = collection.name(), %error, "app-state sync failed");
    shared.emit_now(Event::AppState(AppStateEvent::SyncFailed {
        collection,
        error,
    }));
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Asks our phone for keys we lack (whatsmeow `requestMissingAppStateKeys`): a peer
/// `AppStateSyncKeyRequest`, each key at most once per [`KEY_REQUEST_INTERVAL`].
async fn request_missing_keys(shared: &Arc<Shared>, missing: &[Vec<u8>]) {
    let due: Vec<Vec<u8>> = {
        let mut requests = lock(&shared.sync.key_requests);
        let now = Instant::now();
        // A request older than the interval counts as never made: forgetting it keeps the
        // map to the keys asked for within one interval.
        requests.retain(|_, at| now.duration_since(*at) < KEY_REQUEST_INTERVAL);
        missing
            .iter()
            .filter(|id| {
                let due = requests
                    .get(*id)
                    .is_none_or(|at| now.duration_since(*at) >= KEY_REQUEST_INTERVAL);
                if due {
                    requests.insert((*id).clone(), now);
                }
                due
            })
            .cloned()
            .collect()
    };
    if due.is_empty() {
        return;
    }
    let message = key_request_message(&due);
    tracing::info!(
        count = due.len(),
        "requesting app-state keys from the phone"
    );
    if let Err(e) = crate::peer::send_peer_message(shared, message).await {
        tracing::warn!(error = %e, "sending the app-state key request failed");
    }
}

/// `protocolMessage{type=APP_STATE_SYNC_KEY_REQUEST(7), appStateSyncKeyRequest{keyIDs}}`.
pub(crate) fn key_request_message(ids: &[Vec<u8>]) -> e2e::Message {
    e2e::Message {
        protocol_message: Some(Box::new(e2e::ProtocolMessage {
            r#type: Some(e2e::protocol_message::Type::AppStateSyncKeyRequest as i32),
            app_state_sync_key_request: Some(e2e::AppStateSyncKeyRequest {
                key_ids: ids
                    .iter()
                    .map(|id| e2e::AppStateSyncKeyId {
                        key_id: Some(id.clone()),
                    })
                    .collect(),
            }),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// Loads and expands every key in `ids`; the missing ones are requested and reported as
/// [`AppStateError::MissingKey`] (the first of them).
async fn load_keys(
    shared: &Arc<Shared>,
    ids: HashSet<Vec<u8>>,
) -> Result<HashMap<Vec<u8>, AppStateKeys>, ClientError> {
    let mut keys = HashMap::new();
    let mut missing = Vec::new();
    for id in ids {
        match shared.store.load_app_state_key(&id).await? {
            Some(data) => {
                keys.insert(id, AppStateKeys::expand(&data));
            }
            None => missing.push(id),
        }
    }
    if missing.is_empty() {
        return Ok(keys);
    }
    missing.sort();
    request_missing_keys(shared, &missing).await;
    Err(ClientError::AppState(AppStateError::MissingKey {
        key_id: missing.swap_remove(0),
    }))
}

fn key_id_of(key: Option<&whatsapp_proto::pb::syncd::KeyId>) -> Option<Vec<u8>> {
    key.and_then(|k| k.id.clone())
}

// ------------------------------------------------------------------ fetch

/// The `w:sync:app:state` fetch IQ of one collection (whatsmeow `fetchAppStatePatches`):
/// `version` only when no snapshot is wanted.
pub(crate) fn fetch_iq(collection: Collection, version: u64, snapshot: bool) -> Node {
    let mut node = Node::new("collection")
        .attr("name", collection.name())
        .attr("return_snapshot", if snapshot { "true" } else { "false" });
    if !snapshot {
        node = node.attr("version", version.to_string());
    }
    Node::new("iq")
        .attr("xmlns", XMLNS)
        .attr("type", "set")
        .attr("to", Jid::server_jid())
        .children([Node::new("sync").children([node])])
}

/// Downloads an external blob (snapshot or mutations) as `md-app-state` media.
async fn download_blob(
    shared: &Shared,
    blob: &ExternalBlobReference,
) -> Result<Vec<u8>, ClientError> {
    let media = MediaRef {
        media_type: MediaType::AppState,
        direct_path: blob.direct_path.clone(),
        url: None,
        media_key: blob.media_key.clone().unwrap_or_default(),
        file_sha256: blob.file_sha256.clone().unwrap_or_default(),
        file_enc_sha256: blob.file_enc_sha256.clone().unwrap_or_default(),
        mimetype: None,
        file_length: blob.file_size_bytes,
        origin: None,
    };
    crate::media::download(shared, &media).await
}

fn bad(reason: impl Into<String>, node: &Node) -> ClientError {
    ClientError::unexpected(reason, node)
}

/// Parses a `<collection>` answer, downloading the snapshot and external mutations
/// (whatsmeow `ParsePatchList`).
async fn parse_collection(shared: &Shared, collection: &Node) -> Result<PatchList, ClientError> {
    let attrs = collection.attrs();
    if attrs.optional_str("type") == Some("error") {
        let error = collection.child("error");
        return Err(ClientError::Server {
            code: error
                .and_then(|e| e.attrs().optional_u64("code").ok().flatten())
                .unwrap_or(0),
            text: error
                .and_then(|e| e.attrs().optional_string("text"))
                .unwrap_or_default(),
        });
    }
    let mut list = PatchList {
        has_more: attrs.optional_str("has_more_patches") == Some("true"),
        ..Default::default()
    };
    if let Some(bytes) = collection.child("snapshot").and_then(Node::content_bytes) {
        let reference = ExternalBlobReference::decode(bytes)
            .map_err(|e| bad(format!("snapshot reference: {e}"), collection))?;
        let raw = download_blob(shared, &reference).await?;
        list.snapshot = Some(
            SyncdSnapshot::decode(raw.as_slice())
                .map_err(|e| bad(format!("snapshot: {e}"), collection))?,
        );
    }
    let patches = collection
        .child("patches")
        .map(|p| p.children_by_tag("patch").collect::<Vec<_>>())
        .unwrap_or_default();
    for (i, node) in patches.into_iter().enumerate() {
        let Some(bytes) = node.content_bytes() else {
            continue;
        };
        let mut patch = SyncdPatch::decode(bytes)
            .map_err(|e| bad(format!("patch #{}: {e}", i + 1), collection))?;
        if let Some(external) = &patch.external_mutations {
            let raw = download_blob(shared, external).await?;
            let downloaded = SyncdMutations::decode(raw.as_slice())
                .map_err(|e| bad(format!("external mutations #{}: {e}", i + 1), collection))?;
            if downloaded.mutations.is_empty() {
                return Err(bad("external mutations are empty", collection));
            }
            patch.mutations = downloaded.mutations;
        }
        list.patches.push(patch);
    }
    Ok(list)
}

async fn fetch_patches(
    shared: &Shared,
    collection: Collection,
    version: u64,
    snapshot: bool,
) -> Result<PatchList, ClientError> {
    let answer = shared.iq(fetch_iq(collection, version, snapshot)).await?;
    let node = answer
        .path(&["sync", "collection"])
        .ok_or_else(|| bad("no <sync><collection>", &answer))?;
    parse_collection(shared, node).await
}

// ------------------------------------------------------------------ apply

async fn load_state(
    shared: &Shared,
    collection: Collection,
) -> Result<CollectionState, ClientError> {
    Ok(
        match shared
            .store
            .load_app_state_version(collection.name())
            .await?
        {
            Some((version, hash)) => CollectionState {
                version,
                hash: LtHash::from_slice(&hash).ok_or(crate::store::StoreError::Corrupt {
                    what: "app-state hash",
                })?,
            },
            None => CollectionState::default(),
        },
    )
}

/// Syncs one collection (whatsmeow `fetchAppState`): under the sync lock, fetch from the
/// stored version (a snapshot when there is none), apply, repeat while `has_more_patches`.
pub(crate) async fn sync_collection(
    shared: &Arc<Shared>,
    collection: Collection,
    full: bool,
) -> Result<u64, ClientError> {
    let _guard = shared.sync.lock.lock().await;
    sync_locked(shared, collection, full).await
}

async fn sync_locked(
    shared: &Arc<Shared>,
    collection: Collection,
    full: bool,
) -> Result<u64, ClientError> {
    if full {
        shared.store.delete_app_state(collection.name()).await?;
    }
    let mut state = load_state(shared, collection).await?;
    let full_sync = state.version == 0;
    let mut want_snapshot = full_sync;
    for _ in 0..MAX_FETCH_ROUNDS {
        let list = fetch_patches(shared, collection, state.version, want_snapshot).await?;
        if list.snapshot.is_some() && !want_snapshot {
            return Err(ClientError::InvalidArgument(format!(
                "the server sent a snapshot of {} without being asked",
                collection.name()
            )));
        }
        if list.has_more && list.snapshot.is_none() && list.patches.is_empty() {
            return Err(ClientError::InvalidArgument(format!(
                "the server says {} has more patches but sent none",
                collection.name()
            )));
        }
        want_snapshot = false;
        state = apply_list(shared, collection, state, &list, full_sync).await?;
        if !list.has_more {
            shared.emit_now(Event::AppState(AppStateEvent::Synced {
                collection,
                version: state.version,
                full_sync,
            }));
            return Ok(state.version);
        }
    }
    Err(ClientError::InvalidArgument(format!(
        "{} still has more patches after {MAX_FETCH_ROUNDS} rounds",
        collection.name()
    )))
}

/// Verifies, stores and emits a snapshot and patches in order; stops at the first refusal
/// (what came before it stays applied, nothing of it does).
async fn apply_list(
    shared: &Arc<Shared>,
    collection: Collection,
    mut state: CollectionState,
    list: &PatchList,
    full_sync: bool,
) -> Result<CollectionState, ClientError> {
    let name = collection.name();
    if let Some(snapshot) = &list.snapshot {
        let mut ids: HashSet<Vec<u8>> = snapshot
            .records
            .iter()
            .filter_map(|r| key_id_of(r.key_id.as_ref()))
            .collect();
        ids.extend(key_id_of(snapshot.key_id.as_ref()));
        let keys = load_keys(shared, ids).await?;
        let outcome = appstate::decode_snapshot(
            name,
            snapshot,
            |id| keys.get(id).cloned(),
            DecodeOptions::default(),
        )?;
        state = commit(shared, collection, outcome, full_sync).await?;
    }
    for patch in &list.patches {
        let mut ids: HashSet<Vec<u8>> = patch
            .mutations
            .iter()
            .filter_map(|m| key_id_of(m.record.as_ref()?.key_id.as_ref()))
            .collect();
        ids.extend(key_id_of(patch.key_id.as_ref()));
        let keys = load_keys(shared, ids).await?;
        let index_macs: Vec<[u8; 32]> = patch
            .mutations
            .iter()
            .filter_map(|m| m.record.as_ref()?.index.as_ref()?.blob.as_deref())
            .filter_map(|b| <[u8; 32]>::try_from(b).ok())
            .collect();
        let stored = stored_value_macs(shared, name, &index_macs).await?;
        let outcome = appstate::decode_patch(
            name,
            &state,
            patch,
            |id| keys.get(id).cloned(),
            |index| stored.get(index).copied(),
            DecodeOptions::default(),
        )?;
        for warning in &outcome.warnings {
            tracing::debug!(collection = name, ?warning, "app-state patch warning");
        }
        state = commit(shared, collection, outcome, false).await?;
    }
    Ok(state)
}

/// The stored value MACs of some index MACs of a collection.
async fn stored_value_macs(
    shared: &Shared,
    name: &str,
    index_macs: &[[u8; 32]],
) -> Result<HashMap<[u8; 32], [u8; 32]>, ClientError> {
    Ok(shared
        .store
        .load_app_state_mutation_macs(name, index_macs)
        .await?
        .into_iter()
        .collect())
}

/// Stores a verified outcome in one transaction, then emits its mutations.
async fn commit(
    shared: &Shared,
    collection: Collection,
    outcome: PatchOutcome,
    full_sync: bool,
) -> Result<CollectionState, ClientError> {
    let update = AppStatePatchUpdate {
        version: outcome.state.version,
        hash: outcome.state.hash.0.to_vec(),
        replaces_all: outcome.replaces_all,
        removed: outcome.removed,
        added: outcome.added,
    };
    shared
        .store
        .apply_app_state_patch(collection.name(), &update)
        .await?;
    for decoded in &outcome.mutations {
        let mutation = TypedMutation::from_decoded(decoded);
        remember(shared, &mutation).await;
        shared.emit_now(Event::AppState(AppStateEvent::Mutation(AppStateMutation {
            collection,
            version: outcome.state.version,
            full_sync,
            mutation,
        })));
    }
    Ok(outcome.state)
}

/// Keeps what the store holds besides the collection: contact names (whatsmeow
/// `PutContactName`), our own push name and the NCT salt.
async fn remember(shared: &Shared, mutation: &TypedMutation) {
    let set = mutation.operation == Operation::Set;
    let result = match &mutation.action {
        SyncAction::PushName { name } if set => {
            remember_push_name(shared, name).await;
            Ok(())
        }
        SyncAction::Contact {
            jid,
            full_name,
            first_name,
            ..
        }
        | SyncAction::LidContact {
            jid,
            full_name,
            first_name,
            ..
        } => {
            let name = full_name
                .as_deref()
                .or(first_name.as_deref())
                .filter(|_| set);
            shared.store.store_full_name(jid, name).await
        }
        // A removed salt is forgotten (whatsmeow appstate.go `nct_salt_sync`).
        SyncAction::NctSalt { salt } => {
            let salt = Some(salt.as_slice()).filter(|s| set && !s.is_empty());
            shared.store.store_nct_salt(salt).await
        }
        _ => Ok(()),
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "storing a contact name failed");
    }
}

/// Our own push name from `setting_pushName` is kept on the device (whatsmeow does the same).
async fn remember_push_name(shared: &Shared, name: &str) {
    let mut device = shared.device();
    if device.push_name == name {
        return;
    }
    device.push_name = name.to_owned();
    match shared.store.save_device(&device).await {
        Ok(()) => shared.set_device(device),
        Err(e) => tracing::warn!(error = %e, "saving the push name failed"),
    }
}

// ------------------------------------------------------------------ send

/// The set IQ carrying our patch (whatsmeow `sendAppState`).
pub(crate) fn send_iq(collection: Collection, version: u64, patch: &SyncdPatch) -> Node {
    Node::new("iq")
        .attr("xmlns", XMLNS)
        .attr("type", "set")
        .attr("to", Jid::server_jid())
        .children([Node::new("sync").children([Node::new("collection")
            .attr("name", collection.name())
            .attr("version", version.to_string())
            .attr("return_snapshot", "false")
            .children([Node::new("patch").bytes(patch.encode_to_vec())])])])
}

pub(crate) async fn send_patch(
    shared: &Arc<Shared>,
    collection: Collection,
    mutations: &[OutgoingMutation],
) -> Result<(), ClientError> {
    if mutations.is_empty() {
        return Ok(());
    }
    let _guard = shared.sync.lock.lock().await;
    let name = collection.name();
    let key = shared
        .store
        .latest_app_state_key()
        .await?
        .ok_or(ClientError::AppState(AppStateError::MissingKey {
            key_id: Vec::new(),
        }))?;
    let keys = AppStateKeys::expand(&key.data);
    // Up to two tries: a conflict brings newer patches, applied before the second.
    for attempt in 0..2 {
        let state = load_state(shared, collection).await?;
        let index_macs: Vec<[u8; 32]> = mutations
            .iter()
            .map(|m| appstate::index_mac(&keys, &appstate::encode_index(&m.index)))
            .collect();
        let stored = stored_value_macs(shared, name, &index_macs).await?;
        let encoded = {
            let mut rng = rand::thread_rng();
            appstate::encode_patch(
                name,
                &state,
                &key.id,
                &keys,
                mutations,
                |index| stored.get(index).copied(),
                &mut rng,
            )
        };
        let answer = shared
            .iq(send_iq(collection, state.version, &encoded.patch))
            .await?;
        let node = answer
            .path(&["sync", "collection"])
            .ok_or_else(|| bad("no <sync><collection>", &answer))?;
        if node.attrs().optional_str("type") == Some("error") {
            let code = node
                .child("error")
                .and_then(|e| e.attrs().optional_u64("code").ok().flatten());
            if code == Some(409) && attempt == 0 {
                tracing::info!(
                    collection = name,
                    "app-state conflict; applying newer patches"
                );
                let mut list = parse_collection_ignoring_error(shared, node).await?;
                list.has_more = false;
                apply_list(shared, collection, state, &list, false).await?;
                continue;
            }
            return Err(parse_collection(shared, node).await.err().unwrap_or(
                ClientError::Server {
                    code: code.unwrap_or(0),
                    text: String::new(),
                },
            ));
        }
        // Pick up the server's copy of our patch (and anything newer).
        sync_locked(shared, collection, false).await?;
        return Ok(());
    }
    Err(ClientError::Server {
        code: 409,
        text: format!("app-state conflict on {name} persists"),
    })
}

/// The patches of a `type="error"` collection (a 409 answer carries the newer ones).
async fn parse_collection_ignoring_error(
    shared: &Shared,
    node: &Node,
) -> Result<PatchList, ClientError> {
    let mut copy = node.clone();
    copy.set_attr("type", "result");
    parse_collection(shared, &copy).await
}

#[cfg(test)]
pub(crate) mod tests;
