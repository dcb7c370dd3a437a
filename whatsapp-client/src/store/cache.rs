//! A write-through cache in front of the client's store for what every inbound message reads:
//! session records, identity keys and LID mappings.
//!
//! Without it each message cost a store round trip per lookup before its commit (about five
//! per message, the largest part of the inbound time). The client is the only writer of these
//! tables while it runs, and every write goes through this wrapper, so the cache stays equal
//! to the store:
//! - a write changes the cache only after the store accepted it; a failed write drops the
//!   affected entries (the next read goes to the store, whatever the store ended up with);
//! - writes to cached tables are serialised, so the cache sees them in the store's order;
//! - a read that missed fills the cache only if no write happened since it started (a
//!   generation counter), so a slow read never puts back a value a write replaced;
//! - absent values are cached too (`None`), and the cache forgets everything when it grows
//!   past [`CAPACITY`] entries (a miss only costs a read).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

use super::*;

/// Entries kept per table before the table's cache starts over.
pub const CAPACITY: usize = 20_000;

/// One table's cached rows: `None` is a row known to be absent.
struct Table<K, V> {
    rows: HashMap<K, Option<V>>,
    /// Bumped by every write: a read started before it must not fill the cache.
    generation: u64,
}

impl<K: Hash + Eq, V: Clone> Table<K, V> {
    fn new() -> Self {
        Table {
            rows: HashMap::new(),
            generation: 0,
        }
    }

    fn get(&self, key: &K) -> Option<Option<V>> {
        self.rows.get(key).cloned()
    }

    fn fill(&mut self, key: K, value: Option<V>, generation: u64) {
        if generation == self.generation {
            self.make_room();
            self.rows.entry(key).or_insert(value);
        }
    }

    fn put(&mut self, key: K, value: Option<V>) {
        self.generation += 1;
        self.make_room();
        self.rows.insert(key, value);
    }

    fn forget(&mut self, key: &K) {
        self.generation += 1;
        self.rows.remove(key);
    }

    /// Forgets every row whose key `matches`.
    fn forget_where(&mut self, matches: impl Fn(&K) -> bool) {
        self.generation += 1;
        self.rows.retain(|key, _| !matches(key));
    }

    fn clear(&mut self) {
        self.generation += 1;
        self.rows.clear();
    }

    fn make_room(&mut self) {
        if self.rows.len() >= CAPACITY {
            self.rows.clear();
        }
    }
}

#[derive(Default)]
struct Tables {
    sessions: Option<Table<String, Vec<u8>>>,
    identities: Option<Table<String, [u8; 32]>>,
    pn_by_lid: Option<Table<String, String>>,
    lid_by_pn: Option<Table<String, String>>,
}

/// A [`Store`] that caches sessions, identities and LID mappings of another one
/// ([`crate::Client::start`] puts every store behind it). It assumes it is the only writer
/// of the inner store while it lives.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use whatsapp_client::store::{CachedStore, MemoryStore, SessionStore};
///
/// let store = CachedStore::new(Arc::new(MemoryStore::new()));
/// store.store_session("2010.0", b"record").await?;
/// assert_eq!(store.load_session("2010.0").await?.as_deref(), Some(&b"record"[..]));
/// # Ok::<(), whatsapp_client::store::StoreError>(())
/// # }).unwrap();
/// ```
pub struct CachedStore {
    inner: Arc<dyn Store>,
    tables: Mutex<Tables>,
    /// Serialises writes to cached tables (the cache must see them in the store's order).
    write: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for CachedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedStore").finish_non_exhaustive()
    }
}

impl CachedStore {
    /// Caches `inner`, which nothing else may write while this lives.
    pub fn new(inner: Arc<dyn Store>) -> CachedStore {
        CachedStore {
            inner,
            tables: Mutex::new(Tables::default()),
            write: tokio::sync::Mutex::new(()),
        }
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        // The tables are plain maps: a panic elsewhere leaves them usable.
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads through the cache: a hit answers at once, a miss reads the store and fills in.
    async fn read<K, V>(
        &self,
        table: fn(&mut Tables) -> &mut Option<Table<K, V>>,
        key: &K,
        load: StoreFuture<'_, Option<V>>,
    ) -> StoreResult<Option<V>>
    where
        K: Hash + Eq + Clone,
        V: Clone,
    {
        let generation = {
            let mut tables = self.tables();
            let t = table(&mut tables).get_or_insert_with(Table::new);
            if let Some(hit) = t.get(key) {
                return Ok(hit);
            }
            t.generation
        };
        let value = load.await?;
        let mut tables = self.tables();
        table(&mut tables).get_or_insert_with(Table::new).fill(
            key.clone(),
            value.clone(),
            generation,
        );
        Ok(value)
    }

    /// Runs a write to cached tables; on success `done` updates the cache, on failure
    /// `failed` drops what the write touched.
    async fn write<T>(
        &self,
        write: StoreFuture<'_, T>,
        done: impl FnOnce(&mut Tables),
        failed: impl FnOnce(&mut Tables),
    ) -> StoreResult<T> {
        let _order = self.write.lock().await;
        match write.await {
            Ok(value) => {
                done(&mut self.tables());
                Ok(value)
            }
            Err(e) => {
                failed(&mut self.tables());
                Err(e)
            }
        }
    }
}

fn sessions(t: &mut Tables) -> &mut Option<Table<String, Vec<u8>>> {
    &mut t.sessions
}

fn identities(t: &mut Tables) -> &mut Option<Table<String, [u8; 32]>> {
    &mut t.identities
}

fn pn_by_lid(t: &mut Tables) -> &mut Option<Table<String, String>> {
    &mut t.pn_by_lid
}

fn lid_by_pn(t: &mut Tables) -> &mut Option<Table<String, String>> {
    &mut t.lid_by_pn
}

impl Tables {
    fn sessions(&mut self) -> &mut Table<String, Vec<u8>> {
        self.sessions.get_or_insert_with(Table::new)
    }

    fn identities(&mut self) -> &mut Table<String, [u8; 32]> {
        self.identities.get_or_insert_with(Table::new)
    }

    /// Takes what a committed decrypt wrote.
    fn apply(&mut self, commit: &DecryptCommit) {
        if let Some(session) = &commit.session {
            self.sessions()
                .put(commit.address.clone(), Some(session.clone()));
        }
        if let Some(key) = commit.identity {
            self.identities().put(commit.address.clone(), Some(key));
        }
    }

    /// Drops what a failed decrypt commit may have touched.
    fn forget(&mut self, commit: &DecryptCommit) {
        self.sessions().forget(&commit.address);
        self.identities().forget(&commit.address);
    }

    /// Forgets the sessions and identities of every device of `users` (rows the store
    /// deleted, or may have, when the delete failed).
    fn forget_users(&mut self, users: &[Jid]) {
        let prefixes: Vec<String> = users.iter().map(Jid::signal_address_prefix).collect();
        let of_users = |address: &String| prefixes.iter().any(|p| address.starts_with(p.as_str()));
        self.sessions().forget_where(of_users);
        self.identities().forget_where(of_users);
    }

    fn clear_lid(&mut self) {
        for table in [&mut self.pn_by_lid, &mut self.lid_by_pn] {
            table.get_or_insert_with(Table::new).clear();
        }
    }
}

impl SessionStore for CachedStore {
    fn load_session<'a>(&'a self, address: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            self.read(
                sessions,
                &address.to_owned(),
                self.inner.load_session(address),
            )
            .await
        })
    }

    fn store_session<'a>(&'a self, address: &'a str, record: &'a [u8]) -> StoreFuture<'a, ()> {
        Box::pin(self.write(
            self.inner.store_session(address, record),
            move |t| t.sessions().put(address.to_owned(), Some(record.to_vec())),
            move |t| t.sessions().forget(&address.to_owned()),
        ))
    }

    fn store_sessions<'a>(&'a self, records: &'a [(String, Vec<u8>)]) -> StoreFuture<'a, ()> {
        Box::pin(self.write(
            self.inner.store_sessions(records),
            move |t| {
                for (address, record) in records {
                    t.sessions().put(address.clone(), Some(record.clone()));
                }
            },
            move |t| {
                for (address, _) in records {
                    t.sessions().forget(address);
                }
            },
        ))
    }

    fn delete_session<'a>(&'a self, address: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(self.write(
            self.inner.delete_session(address),
            move |t| t.sessions().put(address.to_owned(), None),
            move |t| t.sessions().forget(&address.to_owned()),
        ))
    }

    fn delete_all_sessions<'a>(&'a self, users: &'a [Jid]) -> StoreFuture<'a, u64> {
        Box::pin(self.write(
            self.inner.delete_all_sessions(users),
            move |t| t.forget_users(users),
            move |t| t.forget_users(users),
        ))
    }

    fn migrate_pn_to_lid<'a>(&'a self, pn: &'a str, lid: &'a str) -> StoreFuture<'a, u64> {
        let users = [
            Jid::user(pn),
            Jid::new(lid, whatsapp_proto::jid::Server::Lid),
        ];
        Box::pin(async move {
            self.write(
                self.inner.migrate_pn_to_lid(pn, lid),
                |t| t.forget_users(&users),
                |t| t.forget_users(&users),
            )
            .await
        })
    }

    fn migrate_all_pn_to_lid(&self) -> StoreFuture<'_, u64> {
        let clear = |t: &mut Tables| {
            t.sessions().clear();
            t.identities().clear();
        };
        Box::pin(self.write(self.inner.migrate_all_pn_to_lid(), clear, clear))
    }
}

impl IdentityStore for CachedStore {
    fn load_identity<'a>(&'a self, address: &'a str) -> StoreFuture<'a, Option<[u8; 32]>> {
        Box::pin(async move {
            self.read(
                identities,
                &address.to_owned(),
                self.inner.load_identity(address),
            )
            .await
        })
    }

    fn store_identity<'a>(&'a self, address: &'a str, key: &'a [u8; 32]) -> StoreFuture<'a, ()> {
        Box::pin(self.write(
            self.inner.store_identity(address, key),
            move |t| t.identities().put(address.to_owned(), Some(*key)),
            move |t| t.identities().forget(&address.to_owned()),
        ))
    }

    fn delete_all_identities<'a>(&'a self, users: &'a [Jid]) -> StoreFuture<'a, u64> {
        Box::pin(self.write(
            self.inner.delete_all_identities(users),
            move |t| t.forget_users(users),
            move |t| t.forget_users(users),
        ))
    }
}

impl LidStore for CachedStore {
    fn store_lid_mappings<'a>(&'a self, pairs: &'a [(String, String)]) -> StoreFuture<'a, ()> {
        // A new pair may replace an old one on either side: start the LID tables over.
        Box::pin(self.write(
            self.inner.store_lid_mappings(pairs),
            Tables::clear_lid,
            Tables::clear_lid,
        ))
    }

    fn pn_for_lid<'a>(&'a self, lid: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move {
            self.read(pn_by_lid, &lid.to_owned(), self.inner.pn_for_lid(lid))
                .await
        })
    }

    fn lid_db_migrated(&self) -> StoreFuture<'_, bool> {
        self.inner.lid_db_migrated()
    }

    fn lid_for_pn<'a>(&'a self, pn: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move {
            self.read(lid_by_pn, &pn.to_owned(), self.inner.lid_for_pn(pn))
                .await
        })
    }
}

impl MessageStore for CachedStore {
    fn commit_decrypted<'a>(&'a self, commit: &'a DecryptCommit) -> StoreFuture<'a, ()> {
        Box::pin(self.write(
            self.inner.commit_decrypted(commit),
            move |t| t.apply(commit),
            move |t| t.forget(commit),
        ))
    }

    fn commit_decrypted_batch<'a>(&'a self, batch: &'a DecryptBatch) -> StoreFuture<'a, ()> {
        Box::pin(self.write(
            self.inner.commit_decrypted_batch(batch),
            move |t| batch.commits.iter().for_each(|c| t.apply(c)),
            move |t| batch.commits.iter().for_each(|c| t.forget(c)),
        ))
    }

    fn load_decrypted<'a>(&'a self, hash: &'a [u8; 32]) -> StoreFuture<'a, Option<Vec<u8>>> {
        self.inner.load_decrypted(hash)
    }

    fn prune_decrypted(&self, before: i64) -> StoreFuture<'_, u64> {
        self.inner.prune_decrypted(before)
    }
}

impl DeviceStore for CachedStore {
    fn load_device(&self) -> StoreFuture<'_, Option<Device>> {
        self.inner.load_device()
    }
    fn save_device<'a>(&'a self, device: &'a Device) -> StoreFuture<'a, ()> {
        self.inner.save_device(device)
    }
    fn wipe(&self) -> StoreFuture<'_, ()> {
        // Whatever the outcome, the store may have changed: forget everything.
        Box::pin(self.write(
            self.inner.wipe(),
            |t| *t = Tables::default(),
            |t| *t = Tables::default(),
        ))
    }
}

/// Methods the cache does not concern: handed to the inner store as they are.
macro_rules! pass_through {
    ($trait:ident { $(fn $name:ident<$($lt:lifetime),*>(&$slf:lifetime self $(, $arg:ident: $ty:ty)*) -> $out:ty;)* }) => {
        impl $trait for CachedStore {
            $(
                fn $name<$($lt),*>(&$slf self $(, $arg: $ty)*) -> StoreFuture<$slf, $out> {
                    self.inner.$name($($arg),*)
                }
            )*
        }
    };
}

pass_through!(PreKeyStore {
    fn store_prekeys<'a>(&'a self, prekeys: &'a [(u32, Vec<u8>)]) -> ();
    fn load_prekey<'a>(&'a self, id: u32) -> Option<Vec<u8>>;
    fn remove_prekey<'a>(&'a self, id: u32) -> ();
    fn mark_prekeys_uploaded<'a>(&'a self, ids: &'a [u32]) -> ();
    fn uploaded_prekey_count<'a>(&'a self) -> u32;
    fn max_prekey_id<'a>(&'a self) -> u32;
});

pass_through!(SenderKeyStore {
    fn load_sender_key<'a>(&'a self, group: &'a str, sender: &'a str) -> Option<Vec<u8>>;
    fn store_sender_key<'a>(&'a self, group: &'a str, sender: &'a str, record: &'a [u8]) -> ();
});

pass_through!(AppStateStore {
    fn load_app_state_key<'a>(&'a self, key_id: &'a [u8]) -> Option<Vec<u8>>;
    fn store_app_state_keys<'a>(&'a self, keys: &'a [(Vec<u8>, Vec<u8>)]) -> ();
    fn load_app_state_version<'a>(&'a self, name: &'a str) -> Option<(u64, Vec<u8>)>;
    fn store_app_state_version<'a>(&'a self, name: &'a str, version: u64, hash: &'a [u8]) -> ();
    fn store_app_state_sync_keys<'a>(&'a self, keys: &'a [AppStateSyncKey]) -> ();
    fn latest_app_state_key<'a>(&'a self) -> Option<AppStateSyncKey>;
    fn load_app_state_mutation_macs<'a>(&'a self, name: &'a str, index_macs: &'a [[u8; 32]]) -> Vec<([u8; 32], [u8; 32])>;
    fn apply_app_state_patch<'a>(&'a self, name: &'a str, update: &'a AppStatePatchUpdate) -> ();
    fn delete_app_state<'a>(&'a self, name: &'a str) -> ();
    fn store_pending_history<'a>(&'a self, message_id: &'a str, notification: &'a [u8]) -> ();
    fn pending_history<'a>(&'a self) -> Vec<(String, Vec<u8>)>;
    fn delete_pending_history<'a>(&'a self, message_id: &'a str) -> ();
});

pass_through!(ContactStore {
    fn store_push_name<'a>(&'a self, jid: &'a str, name: &'a str) -> ();
    fn load_contact<'a>(&'a self, jid: &'a str) -> Option<Contact>;
    fn store_full_name<'a>(&'a self, jid: &'a str, name: Option<&'a str>) -> ();
});

pass_through!(PrivacyTokenStore {
    fn store_privacy_token<'a>(&'a self, jid: &'a str, token: &'a [u8], timestamp: i64) -> ();
    fn load_privacy_token<'a>(&'a self, jid: &'a str) -> Option<(Vec<u8>, i64)>;
    fn store_token_issued<'a>(&'a self, jid: &'a str, timestamp: i64) -> ();
    fn load_token_issued<'a>(&'a self, jid: &'a str) -> Option<i64>;
    fn store_nct_salt<'a>(&'a self, salt: Option<&'a [u8]>) -> ();
    fn load_nct_salt<'a>(&'a self) -> Option<Vec<u8>>;
});

pass_through!(SentMessageStore {
    fn store_sent<'a>(&'a self, chat: &'a str, id: &'a str, message: &'a [u8], created_at: i64) -> ();
    fn load_sent<'a>(&'a self, chat: &'a str, id: &'a str) -> Option<Vec<u8>>;
    fn prune_sent<'a>(&'a self, before: i64) -> u64;
});

pass_through!(MessageSecretStore {
    fn store_message_secrets<'a>(&'a self, secrets: &'a [MessageSecret]) -> ();
    fn load_message_secret<'a>(&'a self, chat: &'a str, sender: &'a str, message_id: &'a str) -> Option<Vec<u8>>;
});

#[cfg(test)]
mod tests {
    use super::*;

    fn cached() -> (Arc<MemoryStore>, CachedStore) {
        let inner = Arc::new(MemoryStore::new());
        (inner.clone(), CachedStore::new(inner))
    }

    #[tokio::test]
    async fn conformance_cached_memory() {
        let (_, store) = cached();
        super::super::conformance::write_all(&store).await;
        super::super::conformance::check_all(&store).await;
        super::super::conformance::check_delete_users(&store).await;
        super::super::conformance::check_lid_migration(&store).await;
        super::super::conformance::check_wipe(&store).await;
    }

    fn commit(address: &str, session: &[u8], hash: u8) -> DecryptCommit {
        DecryptCommit {
            identity: Some([hash; 32]),
            ..crate::store::conformance::decrypt_commit(address, session, [hash; 32])
        }
    }

    #[tokio::test]
    async fn reads_see_every_write_through_the_cache() {
        let (inner, store) = cached();
        // A cached absence is replaced by a write.
        assert_eq!(store.load_session("a.0").await.unwrap(), None);
        assert_eq!(store.load_identity("a.0").await.unwrap(), None);
        store
            .commit_decrypted(&commit("a.0", b"v1", 1))
            .await
            .unwrap();
        assert_eq!(
            store.load_session("a.0").await.unwrap().as_deref(),
            Some(&b"v1"[..])
        );
        assert_eq!(store.load_identity("a.0").await.unwrap(), Some([1; 32]));
        let batch = DecryptBatch {
            commits: vec![commit("a.0", b"v2", 2), commit("a.0", b"v3", 3)],
            sender_keys: vec![],
            ..DecryptBatch::default()
        };
        store.commit_decrypted_batch(&batch).await.unwrap();
        assert_eq!(
            store.load_session("a.0").await.unwrap().as_deref(),
            Some(&b"v3"[..])
        );
        store
            .store_sessions(&[("a.0".into(), b"v4".to_vec())])
            .await
            .unwrap();
        assert_eq!(
            store.load_session("a.0").await.unwrap().as_deref(),
            Some(&b"v4"[..])
        );
        store.delete_session("a.0").await.unwrap();
        assert_eq!(store.load_session("a.0").await.unwrap(), None);
        assert_eq!(inner.load_session("a.0").await.unwrap(), None);
        // LID mappings: a new pair replaces the old one on both sides.
        assert_eq!(store.pn_for_lid("9").await.unwrap(), None);
        store
            .store_lid_mappings(&[("9".into(), "1".into())])
            .await
            .unwrap();
        assert_eq!(store.pn_for_lid("9").await.unwrap().as_deref(), Some("1"));
        assert_eq!(store.lid_for_pn("1").await.unwrap().as_deref(), Some("9"));
        store
            .store_lid_mappings(&[("8".into(), "1".into())])
            .await
            .unwrap();
        assert_eq!(store.lid_for_pn("1").await.unwrap().as_deref(), Some("8"));
        assert_eq!(
            store.pn_for_lid("9").await.unwrap(),
            inner.pn_for_lid("9").await.unwrap()
        );
        // A wipe forgets the cache with the store.
        store.store_session("b.0", b"x").await.unwrap();
        store.wipe().await.unwrap();
        assert_eq!(store.load_session("b.0").await.unwrap(), None);
    }

    #[test]
    fn a_read_started_before_a_write_does_not_fill_in_the_old_value() {
        let mut table: Table<String, u8> = Table::new();
        let generation = table.generation;
        table.put("k".into(), Some(2));
        table.fill("k".into(), Some(1), generation);
        assert_eq!(table.get(&"k".to_string()), Some(Some(2)));
        table.forget(&"k".to_string());
        table.fill("k".into(), Some(1), generation);
        assert_eq!(table.get(&"k".to_string()), None);
    }
}
