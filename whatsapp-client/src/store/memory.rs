//! An in-memory store for tests: everything in one mutex, gone when dropped.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use super::*;

#[derive(Default)]
struct Inner {
    device: Option<Device>,
    prekeys: BTreeMap<u32, (Vec<u8>, bool)>,
    sessions: HashMap<String, Vec<u8>>,
    identities: HashMap<String, [u8; 32]>,
    sender_keys: HashMap<(String, String), Vec<u8>>,
    app_state_keys: HashMap<Vec<u8>, Vec<u8>>,
    app_state_versions: HashMap<String, (u64, Vec<u8>)>,
    /// (timestamp, insertion sequence) of each sync key: the newest encrypts our patches.
    app_state_key_order: HashMap<Vec<u8>, (i64, u64)>,
    app_state_key_seq: u64,
    /// Per collection: index MAC -> value MAC of every live record.
    app_state_macs: HashMap<String, HashMap<[u8; 32], [u8; 32]>>,
    /// Pending history-sync notifications, in order of arrival.
    pending_history: Vec<(String, Vec<u8>)>,
    lid_to_pn: HashMap<String, String>,
    /// The whole store was migrated to LIDs once.
    lid_migrated: bool,
    contacts: HashMap<String, Contact>,
    privacy_tokens: HashMap<String, (Vec<u8>, i64)>,
    /// When we last issued our own token to each user.
    tokens_issued: HashMap<String, i64>,
    nct_salt: Option<Vec<u8>>,
    sent: HashMap<(String, String), (Vec<u8>, i64)>,
    decrypted: HashMap<[u8; 32], (Vec<u8>, i64)>,
    /// (chat, sender, message id) -> secret.
    message_secrets: HashMap<(String, String, String), Vec<u8>>,
}

/// A [`Store`] held in memory (tests, short-lived tools). Cheap to create; not durable.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    /// While set, the reads a decrypt makes fail ([`MemoryStore::set_read_fault`]).
    read_fault: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain maps behind; keep using them.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ready<'a, T: Send + 'a>(value: T) -> StoreFuture<'a, T> {
        Box::pin(std::future::ready(Ok(value)))
    }

    /// Fault injection for tests: while `on`, the reads a decrypt makes (sessions,
    /// identities, prekeys, sender keys, the decrypted buffer) fail as a database that does
    /// not answer (`PoolTimedOut`); writes and other reads go on.
    pub fn set_read_fault(&self, on: bool) {
        self.read_fault
            .store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// A decrypt's read: fails while the read fault is set.
    fn read<'a, T: Send + 'a>(&self, value: impl FnOnce(&Inner) -> T) -> StoreFuture<'a, T> {
        if self.read_fault.load(std::sync::atomic::Ordering::SeqCst) {
            return Box::pin(std::future::ready(Err(StoreError::backend(
                std::io::Error::from(std::io::ErrorKind::TimedOut),
            ))));
        }
        Self::ready(value(&self.lock()))
    }
}

/// Removes the entries (keyed by Signal address) of every device of `users`; how many went.
fn remove_users<V>(map: &mut HashMap<String, V>, users: &[Jid]) -> u64 {
    let prefixes: Vec<String> = users.iter().map(Jid::signal_address_prefix).collect();
    let before = map.len();
    map.retain(|address, _| !prefixes.iter().any(|p| address.starts_with(p.as_str())));
    (before - map.len()) as u64
}

/// Renames the keys starting with `from` to start with `to` (a PN record replaces the LID
/// one); how many moved.
fn move_prefix<K, V>(
    map: &mut HashMap<K, V>,
    address: impl Fn(&K) -> &str,
    renamed: impl Fn(&K, String) -> K,
    (from, to): (&str, &str),
) -> u64
where
    K: std::hash::Hash + Eq + Clone,
{
    let keys: Vec<K> = map
        .keys()
        .filter(|k| address(k).starts_with(from))
        .cloned()
        .collect();
    for key in &keys {
        if let Some(value) = map.remove(key) {
            let new = format!("{to}{}", &address(key)[from.len()..]);
            map.insert(renamed(key, new), value);
        }
    }
    keys.len() as u64
}

impl Inner {
    fn migrate_pn_to_lid(&mut self, pn: &str, lid: &str) -> u64 {
        let (from, to) = migration_prefixes(pn, lid);
        let prefixes = (from.as_str(), to.as_str());
        move_prefix(&mut self.sessions, |k| k, |_, a| a, prefixes)
            + move_prefix(&mut self.identities, |k| k, |_, a| a, prefixes)
            + move_prefix(
                &mut self.sender_keys,
                |(_, sender)| sender,
                |(group, _), a| (group.clone(), a),
                prefixes,
            )
    }
}

impl DeviceStore for MemoryStore {
    fn load_device(&self) -> StoreFuture<'_, Option<Device>> {
        Self::ready(self.lock().device.clone())
    }
    fn save_device<'a>(&'a self, device: &'a Device) -> StoreFuture<'a, ()> {
        self.lock().device = Some(device.clone());
        Self::ready(())
    }
    fn wipe(&self) -> StoreFuture<'_, ()> {
        *self.lock() = Inner::default();
        Self::ready(())
    }
}

impl PreKeyStore for MemoryStore {
    fn store_prekeys<'a>(&'a self, prekeys: &'a [(u32, Vec<u8>)]) -> StoreFuture<'a, ()> {
        let mut inner = self.lock();
        for (id, record) in prekeys {
            inner.prekeys.insert(*id, (record.clone(), false));
        }
        Self::ready(())
    }
    fn load_prekey(&self, id: u32) -> StoreFuture<'_, Option<Vec<u8>>> {
        self.read(|i| i.prekeys.get(&id).map(|(r, _)| r.clone()))
    }
    fn remove_prekey(&self, id: u32) -> StoreFuture<'_, ()> {
        self.lock().prekeys.remove(&id);
        Self::ready(())
    }
    fn mark_prekeys_uploaded<'a>(&'a self, ids: &'a [u32]) -> StoreFuture<'a, ()> {
        let mut inner = self.lock();
        for id in ids {
            if let Some(entry) = inner.prekeys.get_mut(id) {
                entry.1 = true;
            }
        }
        Self::ready(())
    }
    fn uploaded_prekey_count(&self) -> StoreFuture<'_, u32> {
        let n = self.lock().prekeys.values().filter(|(_, up)| *up).count();
        Self::ready(u32::try_from(n).unwrap_or(u32::MAX))
    }
    fn max_prekey_id(&self) -> StoreFuture<'_, u32> {
        let inner = self.lock();
        Self::ready(inner.prekeys.keys().next_back().copied().unwrap_or(0))
    }
}

impl SessionStore for MemoryStore {
    fn load_session<'a>(&'a self, address: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        self.read(|i| i.sessions.get(address).cloned())
    }
    fn store_session<'a>(&'a self, address: &'a str, record: &'a [u8]) -> StoreFuture<'a, ()> {
        self.lock()
            .sessions
            .insert(address.to_owned(), record.to_vec());
        Self::ready(())
    }
    fn store_sessions<'a>(&'a self, records: &'a [(String, Vec<u8>)]) -> StoreFuture<'a, ()> {
        let mut inner = self.lock();
        for (address, record) in records {
            inner.sessions.insert(address.clone(), record.clone());
        }
        Self::ready(())
    }
    fn delete_session<'a>(&'a self, address: &'a str) -> StoreFuture<'a, ()> {
        self.lock().sessions.remove(address);
        Self::ready(())
    }
    fn delete_all_sessions<'a>(&'a self, users: &'a [Jid]) -> StoreFuture<'a, u64> {
        Self::ready(remove_users(&mut self.lock().sessions, users))
    }
    fn migrate_pn_to_lid<'a>(&'a self, pn: &'a str, lid: &'a str) -> StoreFuture<'a, u64> {
        Self::ready(self.lock().migrate_pn_to_lid(pn, lid))
    }
    fn migrate_all_pn_to_lid(&self) -> StoreFuture<'_, u64> {
        let mut inner = self.lock();
        let pairs: Vec<(String, String)> = inner
            .lid_to_pn
            .iter()
            .map(|(lid, pn)| (lid.clone(), pn.clone()))
            .collect();
        let moved = pairs
            .iter()
            .map(|(lid, pn)| inner.migrate_pn_to_lid(pn, lid))
            .sum();
        inner.lid_migrated = true;
        Self::ready(moved)
    }
}

impl IdentityStore for MemoryStore {
    fn load_identity<'a>(&'a self, address: &'a str) -> StoreFuture<'a, Option<[u8; 32]>> {
        self.read(|i| i.identities.get(address).copied())
    }
    fn store_identity<'a>(&'a self, address: &'a str, key: &'a [u8; 32]) -> StoreFuture<'a, ()> {
        self.lock().identities.insert(address.to_owned(), *key);
        Self::ready(())
    }
    fn delete_all_identities<'a>(&'a self, users: &'a [Jid]) -> StoreFuture<'a, u64> {
        Self::ready(remove_users(&mut self.lock().identities, users))
    }
}

impl SenderKeyStore for MemoryStore {
    fn load_sender_key<'a>(
        &'a self,
        group: &'a str,
        sender: &'a str,
    ) -> StoreFuture<'a, Option<Vec<u8>>> {
        let key = (group.to_owned(), sender.to_owned());
        self.read(move |i| i.sender_keys.get(&key).cloned())
    }
    fn store_sender_key<'a>(
        &'a self,
        group: &'a str,
        sender: &'a str,
        record: &'a [u8],
    ) -> StoreFuture<'a, ()> {
        self.lock()
            .sender_keys
            .insert((group.to_owned(), sender.to_owned()), record.to_vec());
        Self::ready(())
    }
}

impl AppStateStore for MemoryStore {
    fn load_app_state_key<'a>(&'a self, key_id: &'a [u8]) -> StoreFuture<'a, Option<Vec<u8>>> {
        Self::ready(self.lock().app_state_keys.get(key_id).cloned())
    }
    fn store_app_state_keys<'a>(&'a self, keys: &'a [(Vec<u8>, Vec<u8>)]) -> StoreFuture<'a, ()> {
        let mut inner = self.lock();
        for (id, data) in keys {
            inner.app_state_keys.insert(id.clone(), data.clone());
            inner.app_state_key_seq += 1;
            let seq = inner.app_state_key_seq;
            inner.app_state_key_order.insert(id.clone(), (0, seq));
        }
        Self::ready(())
    }
    fn load_app_state_version<'a>(
        &'a self,
        name: &'a str,
    ) -> StoreFuture<'a, Option<(u64, Vec<u8>)>> {
        Self::ready(self.lock().app_state_versions.get(name).cloned())
    }
    fn store_app_state_version<'a>(
        &'a self,
        name: &'a str,
        version: u64,
        hash: &'a [u8],
    ) -> StoreFuture<'a, ()> {
        self.lock()
            .app_state_versions
            .insert(name.to_owned(), (version, hash.to_vec()));
        Self::ready(())
    }
    fn store_app_state_sync_keys<'a>(&'a self, keys: &'a [AppStateSyncKey]) -> StoreFuture<'a, ()> {
        let mut inner = self.lock();
        for key in keys {
            inner
                .app_state_keys
                .insert(key.id.clone(), key.data.clone());
            inner.app_state_key_seq += 1;
            let seq = inner.app_state_key_seq;
            inner
                .app_state_key_order
                .insert(key.id.clone(), (key.timestamp, seq));
        }
        Self::ready(())
    }
    fn latest_app_state_key(&self) -> StoreFuture<'_, Option<AppStateSyncKey>> {
        let inner = self.lock();
        let latest = inner
            .app_state_key_order
            .iter()
            .max_by_key(|(_, order)| **order)
            .and_then(|(id, (timestamp, _))| {
                inner.app_state_keys.get(id).map(|data| AppStateSyncKey {
                    id: id.clone(),
                    data: data.clone(),
                    timestamp: *timestamp,
                })
            });
        Self::ready(latest)
    }
    fn load_app_state_mutation_macs<'a>(
        &'a self,
        name: &'a str,
        index_macs: &'a [[u8; 32]],
    ) -> StoreFuture<'a, Vec<([u8; 32], [u8; 32])>> {
        let inner = self.lock();
        let found = inner
            .app_state_macs
            .get(name)
            .map(|map| {
                index_macs
                    .iter()
                    .filter_map(|index| map.get(index).map(|value| (*index, *value)))
                    .collect()
            })
            .unwrap_or_default();
        Self::ready(found)
    }
    fn apply_app_state_patch<'a>(
        &'a self,
        name: &'a str,
        update: &'a AppStatePatchUpdate,
    ) -> StoreFuture<'a, ()> {
        let mut inner = self.lock();
        inner
            .app_state_versions
            .insert(name.to_owned(), (update.version, update.hash.clone()));
        let map = inner.app_state_macs.entry(name.to_owned()).or_default();
        if update.replaces_all {
            map.clear();
        }
        for index in &update.removed {
            map.remove(index);
        }
        map.extend(update.added.iter().copied());
        Self::ready(())
    }
    fn delete_app_state<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()> {
        let mut inner = self.lock();
        inner.app_state_versions.remove(name);
        inner.app_state_macs.remove(name);
        Self::ready(())
    }
    fn store_pending_history<'a>(
        &'a self,
        message_id: &'a str,
        notification: &'a [u8],
    ) -> StoreFuture<'a, ()> {
        let mut inner = self.lock();
        if !inner.pending_history.iter().any(|(id, _)| id == message_id) {
            inner
                .pending_history
                .push((message_id.to_owned(), notification.to_vec()));
        }
        Self::ready(())
    }
    fn pending_history(&self) -> StoreFuture<'_, Vec<(String, Vec<u8>)>> {
        Self::ready(self.lock().pending_history.clone())
    }
    fn delete_pending_history<'a>(&'a self, message_id: &'a str) -> StoreFuture<'a, ()> {
        self.lock()
            .pending_history
            .retain(|(id, _)| id != message_id);
        Self::ready(())
    }
}

impl LidStore for MemoryStore {
    fn store_lid_mappings<'a>(&'a self, pairs: &'a [(String, String)]) -> StoreFuture<'a, ()> {
        let mut inner = self.lock();
        for (lid, pn) in pairs {
            inner.lid_to_pn.retain(|_, p| p != pn);
            inner.lid_to_pn.insert(lid.clone(), pn.clone());
        }
        Self::ready(())
    }
    fn pn_for_lid<'a>(&'a self, lid: &'a str) -> StoreFuture<'a, Option<String>> {
        Self::ready(self.lock().lid_to_pn.get(lid).cloned())
    }
    fn lid_db_migrated(&self) -> StoreFuture<'_, bool> {
        Self::ready(self.lock().lid_migrated)
    }
    fn lid_for_pn<'a>(&'a self, pn: &'a str) -> StoreFuture<'a, Option<String>> {
        let inner = self.lock();
        let lid = inner
            .lid_to_pn
            .iter()
            .find(|(_, p)| p.as_str() == pn)
            .map(|(l, _)| l.clone());
        Self::ready(lid)
    }
}

impl ContactStore for MemoryStore {
    fn store_push_name<'a>(&'a self, jid: &'a str, name: &'a str) -> StoreFuture<'a, ()> {
        self.lock()
            .contacts
            .entry(jid.to_owned())
            .or_default()
            .push_name = Some(name.to_owned());
        Self::ready(())
    }
    fn load_contact<'a>(&'a self, jid: &'a str) -> StoreFuture<'a, Option<Contact>> {
        Self::ready(self.lock().contacts.get(jid).cloned())
    }
    fn store_full_name<'a>(&'a self, jid: &'a str, name: Option<&'a str>) -> StoreFuture<'a, ()> {
        self.lock()
            .contacts
            .entry(jid.to_owned())
            .or_default()
            .full_name = name.map(str::to_owned);
        Self::ready(())
    }
}

impl PrivacyTokenStore for MemoryStore {
    fn store_privacy_token<'a>(
        &'a self,
        jid: &'a str,
        token: &'a [u8],
        timestamp: i64,
    ) -> StoreFuture<'a, ()> {
        let mut inner = self.lock();
        if inner
            .privacy_tokens
            .get(jid)
            .is_none_or(|(_, held)| *held <= timestamp)
        {
            inner
                .privacy_tokens
                .insert(jid.to_owned(), (token.to_vec(), timestamp));
        }
        Self::ready(())
    }
    fn load_privacy_token<'a>(&'a self, jid: &'a str) -> StoreFuture<'a, Option<(Vec<u8>, i64)>> {
        Self::ready(self.lock().privacy_tokens.get(jid).cloned())
    }
    fn store_token_issued<'a>(&'a self, jid: &'a str, timestamp: i64) -> StoreFuture<'a, ()> {
        self.lock().tokens_issued.insert(jid.to_owned(), timestamp);
        Self::ready(())
    }
    fn load_token_issued<'a>(&'a self, jid: &'a str) -> StoreFuture<'a, Option<i64>> {
        Self::ready(self.lock().tokens_issued.get(jid).copied())
    }
    fn store_nct_salt<'a>(&'a self, salt: Option<&'a [u8]>) -> StoreFuture<'a, ()> {
        self.lock().nct_salt = salt.map(<[u8]>::to_vec);
        Self::ready(())
    }
    fn load_nct_salt(&self) -> StoreFuture<'_, Option<Vec<u8>>> {
        Self::ready(self.lock().nct_salt.clone())
    }
}

impl SentMessageStore for MemoryStore {
    fn store_sent<'a>(
        &'a self,
        chat: &'a str,
        id: &'a str,
        message: &'a [u8],
        created_at: i64,
    ) -> StoreFuture<'a, ()> {
        self.lock().sent.insert(
            (chat.to_owned(), id.to_owned()),
            (message.to_vec(), created_at),
        );
        Self::ready(())
    }
    fn load_sent<'a>(&'a self, chat: &'a str, id: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        let key = (chat.to_owned(), id.to_owned());
        Self::ready(self.lock().sent.get(&key).map(|(m, _)| m.clone()))
    }
    fn prune_sent(&self, before: i64) -> StoreFuture<'_, u64> {
        let mut inner = self.lock();
        let n = inner.sent.len();
        inner.sent.retain(|_, (_, t)| *t >= before);
        Self::ready((n - inner.sent.len()) as u64)
    }
}

impl MessageStore for MemoryStore {
    fn commit_decrypted<'a>(&'a self, commit: &'a DecryptCommit) -> StoreFuture<'a, ()> {
        apply_commit(&mut self.lock(), commit);
        Self::ready(())
    }
    fn commit_decrypted_batch<'a>(&'a self, batch: &'a DecryptBatch) -> StoreFuture<'a, ()> {
        // One lock: nobody sees half a batch.
        let mut inner = self.lock();
        for commit in &batch.commits {
            apply_commit(&mut inner, commit);
        }
        for (group, sender, record) in &batch.sender_keys {
            inner
                .sender_keys
                .insert((group.clone(), sender.clone()), record.clone());
        }
        put_secrets(&mut inner, &batch.message_secrets);
        Self::ready(())
    }
    fn load_decrypted<'a>(&'a self, hash: &'a [u8; 32]) -> StoreFuture<'a, Option<Vec<u8>>> {
        self.read(|i| i.decrypted.get(hash).map(|(p, _)| p.clone()))
    }
    fn prune_decrypted(&self, before: i64) -> StoreFuture<'_, u64> {
        let mut inner = self.lock();
        let n = inner.decrypted.len();
        inner.decrypted.retain(|_, (_, t)| *t >= before);
        Self::ready((n - inner.decrypted.len()) as u64)
    }
}

impl MessageSecretStore for MemoryStore {
    fn store_message_secrets<'a>(&'a self, secrets: &'a [MessageSecret]) -> StoreFuture<'a, ()> {
        put_secrets(&mut self.lock(), secrets);
        Self::ready(())
    }
    fn load_message_secret<'a>(
        &'a self,
        chat: &'a str,
        sender: &'a str,
        message_id: &'a str,
    ) -> StoreFuture<'a, Option<Vec<u8>>> {
        let key = (chat.to_owned(), sender.to_owned(), message_id.to_owned());
        Self::ready(self.lock().message_secrets.get(&key).cloned())
    }
}

/// The first secret of a message stays, as in the SQLite store.
fn put_secrets(inner: &mut Inner, secrets: &[MessageSecret]) {
    for s in secrets {
        inner
            .message_secrets
            .entry((s.chat.clone(), s.sender.clone(), s.message_id.clone()))
            .or_insert_with(|| s.secret.clone());
    }
}

fn apply_commit(inner: &mut Inner, commit: &DecryptCommit) {
    if let Some(session) = &commit.session {
        inner
            .sessions
            .insert(commit.address.clone(), session.clone());
    }
    if let Some((group, sender, record)) = &commit.sender_key {
        inner
            .sender_keys
            .insert((group.clone(), sender.clone()), record.clone());
    }
    if let Some(key) = commit.identity {
        inner.identities.insert(commit.address.clone(), key);
    }
    if let Some(id) = commit.consumed_prekey {
        inner.prekeys.remove(&id);
    }
    inner.decrypted.insert(
        commit.ciphertext_hash,
        (commit.plaintext.clone(), commit.created_at),
    );
}
