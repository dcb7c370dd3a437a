//! The SQLite store: one database file per device, its own migrations, created with mode
//! 0600 on unix (it holds private keys), WAL journal with `synchronous=NORMAL`.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::error::BoxDynError;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
};
use sqlx::{Arguments, Row, Sqlite, Transaction};

use super::*;

mod appstate;
mod lid;
mod messages;
mod tokens;

/// A [`Store`] in a SQLite file.
///
/// ```no_run
/// # async fn f() -> Result<(), whatsapp_client::store::StoreError> {
/// use whatsapp_client::store::{DeviceStore, SqliteStore};
/// let store = SqliteStore::open("whatsapp-session.db").await?;
/// let paired = store.load_device().await?.is_some_and(|d| d.is_paired());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn file_error(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::File {
        path: path.display().to_string(),
        source,
    }
}

/// Creates the file if missing, readable and writable by its owner only (unix).
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map_err(|e| file_error(path, e))?;
    restrict(path)
}

/// Sets mode 0600 on an existing file (unix; elsewhere the folder's ACL applies).
fn restrict(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| file_error(path, e))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn blob32(bytes: Vec<u8>, what: &'static str) -> StoreResult<[u8; 32]> {
    bytes.try_into().map_err(|_| StoreError::Corrupt { what })
}

fn jid(text: Option<String>, what: &'static str) -> StoreResult<Option<Jid>> {
    text.map(|t| t.parse().map_err(|_| StoreError::Corrupt { what }))
        .transpose()
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path` and applies its migrations.
    pub async fn open(path: impl AsRef<Path>) -> StoreResult<SqliteStore> {
        let path = path.as_ref().to_path_buf();
        create_private_file(&path)?;
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            // A ping before each use is a round trip to the connection's thread that tells
            // nothing about an in-process database: it doubled the cost of every query.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        // The WAL and shared-memory files hold the same secrets.
        for suffix in ["-wal", "-shm"] {
            let mut side = path.clone().into_os_string();
            side.push(suffix);
            restrict(Path::new(&side))?;
        }
        Ok(SqliteStore { pool, path })
    }

    /// An in-memory SQLite database (tests of the SQL itself).
    pub async fn open_in_memory() -> StoreResult<SqliteStore> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?;
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(SqliteStore {
            pool,
            path: PathBuf::from(":memory:"),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the pool (waits for connections to finish).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin().await?)
    }

    /// Deletes the rows of `table` (keyed by Signal address) of every device of `users`, in
    /// one transaction. A range on the key rather than `LIKE`, whose `_` would match any
    /// character of a LID prefix (`99_1.`): `[prefix, prefix with the dot raised to '/')`.
    async fn delete_users(&self, table: &'static str, users: &[Jid]) -> StoreResult<u64> {
        let sql = format!("DELETE FROM {table} WHERE address >= ? AND address < ?");
        let mut tx = self.begin().await?;
        let mut deleted = 0;
        for user in users {
            let prefix = user.signal_address_prefix();
            let Some(stem) = prefix.strip_suffix('.') else {
                continue;
            };
            deleted += sqlx::query(&sql)
                .bind(&prefix)
                .bind(format!("{stem}/"))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(deleted)
    }
}

impl DeviceStore for SqliteStore {
    fn load_device(&self) -> StoreFuture<'_, Option<Device>> {
        Box::pin(async move {
            let Some(row) = sqlx::query(
                "SELECT noise_key, identity_key, registration_id, signed_prekey, adv_secret, \
                 account, jid, lid, push_name, platform, business_name, app_version FROM device \
                 WHERE id = 1",
            )
            .fetch_optional(&self.pool)
            .await?
            else {
                return Ok(None);
            };
            let registration_id: i64 = row.try_get(2)?;
            Ok(Some(Device {
                noise_key: blob32(row.try_get(0)?, "noise key")?,
                identity_key: blob32(row.try_get(1)?, "identity key")?,
                registration_id: u32::try_from(registration_id).map_err(|_| {
                    StoreError::Corrupt {
                        what: "registration id",
                    }
                })?,
                signed_prekey: row.try_get(3)?,
                adv_secret: blob32(row.try_get(4)?, "ADV secret")?,
                account: row.try_get(5)?,
                jid: jid(row.try_get(6)?, "JID")?,
                lid: jid(row.try_get(7)?, "LID")?,
                push_name: row.try_get(8)?,
                platform: row.try_get(9)?,
                business_name: row.try_get(10)?,
                // A fallback only: an unreadable value is as good as none.
                app_version: row
                    .try_get::<Option<String>, _>(11)?
                    .and_then(|v| AppVersion::parse(&v)),
            }))
        })
    }

    fn save_device<'a>(&'a self, device: &'a Device) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query(
                "INSERT OR REPLACE INTO device (id, noise_key, identity_key, registration_id, \
                 signed_prekey, adv_secret, account, jid, lid, push_name, platform, business_name, \
                 app_version) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&device.noise_key[..])
            .bind(&device.identity_key[..])
            .bind(i64::from(device.registration_id))
            .bind(&device.signed_prekey)
            .bind(&device.adv_secret[..])
            .bind(&device.account)
            .bind(device.jid.as_ref().map(ToString::to_string))
            .bind(device.lid.as_ref().map(ToString::to_string))
            .bind(&device.push_name)
            .bind(&device.platform)
            .bind(&device.business_name)
            .bind(device.app_version.map(|v| v.to_string()))
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn wipe(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut tx = self.begin().await?;
            for table in [
                "device",
                "prekeys",
                "sessions",
                "identities",
                "sender_keys",
                "app_state_keys",
                "app_state_versions",
                "app_state_mutation_macs",
                "pending_history",
                "lid_map",
                "lid_migration",
                "contacts",
                "privacy_tokens",
                "privacy_tokens_issued",
                "nct_salt",
                "sent_messages",
                "decrypted",
                "message_secrets",
            ] {
                sqlx::query(&format!("DELETE FROM {table}"))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }
}

impl PreKeyStore for SqliteStore {
    fn store_prekeys<'a>(&'a self, prekeys: &'a [(u32, Vec<u8>)]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.begin().await?;
            for (id, record) in prekeys {
                sqlx::query(
                    "INSERT OR REPLACE INTO prekeys (id, record, uploaded) VALUES (?, ?, 0)",
                )
                .bind(i64::from(*id))
                .bind(record)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn load_prekey(&self, id: u32) -> StoreFuture<'_, Option<Vec<u8>>> {
        Box::pin(async move {
            Ok(
                sqlx::query_scalar("SELECT record FROM prekeys WHERE id = ?")
                    .bind(i64::from(id))
                    .fetch_optional(&self.pool)
                    .await?,
            )
        })
    }

    fn remove_prekey(&self, id: u32) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            sqlx::query("DELETE FROM prekeys WHERE id = ?")
                .bind(i64::from(id))
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }

    fn mark_prekeys_uploaded<'a>(&'a self, ids: &'a [u32]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.begin().await?;
            for id in ids {
                sqlx::query("UPDATE prekeys SET uploaded = 1 WHERE id = ?")
                    .bind(i64::from(*id))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn uploaded_prekey_count(&self) -> StoreFuture<'_, u32> {
        Box::pin(async move {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM prekeys WHERE uploaded = 1")
                .fetch_one(&self.pool)
                .await?;
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        })
    }

    fn max_prekey_id(&self) -> StoreFuture<'_, u32> {
        Box::pin(async move {
            let n: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM prekeys")
                .fetch_one(&self.pool)
                .await?;
            Ok(n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0))
        })
    }
}

impl SessionStore for SqliteStore {
    fn load_session<'a>(&'a self, address: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            Ok(
                sqlx::query_scalar("SELECT record FROM sessions WHERE address = ?")
                    .bind(address)
                    .fetch_optional(&self.pool)
                    .await?,
            )
        })
    }

    fn store_session<'a>(&'a self, address: &'a str, record: &'a [u8]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query("INSERT OR REPLACE INTO sessions (address, record) VALUES (?, ?)")
                .bind(address)
                .bind(record)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }

    fn store_sessions<'a>(&'a self, records: &'a [(String, Vec<u8>)]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.begin().await?;
            for (address, record) in records {
                sqlx::query("INSERT OR REPLACE INTO sessions (address, record) VALUES (?, ?)")
                    .bind(address)
                    .bind(record)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn delete_session<'a>(&'a self, address: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query("DELETE FROM sessions WHERE address = ?")
                .bind(address)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }

    fn delete_all_sessions<'a>(&'a self, users: &'a [Jid]) -> StoreFuture<'a, u64> {
        Box::pin(self.delete_users("sessions", users))
    }

    fn migrate_pn_to_lid<'a>(&'a self, pn: &'a str, lid: &'a str) -> StoreFuture<'a, u64> {
        Box::pin(self.migrate_pn_to_lid_now(pn, lid))
    }

    fn migrate_all_pn_to_lid(&self) -> StoreFuture<'_, u64> {
        Box::pin(self.migrate_all_now())
    }
}

impl IdentityStore for SqliteStore {
    fn load_identity<'a>(&'a self, address: &'a str) -> StoreFuture<'a, Option<[u8; 32]>> {
        Box::pin(async move {
            let key: Option<Vec<u8>> =
                sqlx::query_scalar("SELECT key FROM identities WHERE address = ?")
                    .bind(address)
                    .fetch_optional(&self.pool)
                    .await?;
            key.map(|k| blob32(k, "identity")).transpose()
        })
    }

    fn store_identity<'a>(&'a self, address: &'a str, key: &'a [u8; 32]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query("INSERT OR REPLACE INTO identities (address, key) VALUES (?, ?)")
                .bind(address)
                .bind(&key[..])
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }

    fn delete_all_identities<'a>(&'a self, users: &'a [Jid]) -> StoreFuture<'a, u64> {
        Box::pin(self.delete_users("identities", users))
    }
}

impl SenderKeyStore for SqliteStore {
    fn load_sender_key<'a>(
        &'a self,
        group: &'a str,
        sender: &'a str,
    ) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            Ok(sqlx::query_scalar(
                "SELECT record FROM sender_keys WHERE group_id = ? AND sender = ?",
            )
            .bind(group)
            .bind(sender)
            .fetch_optional(&self.pool)
            .await?)
        })
    }

    fn store_sender_key<'a>(
        &'a self,
        group: &'a str,
        sender: &'a str,
        record: &'a [u8],
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query(
                "INSERT OR REPLACE INTO sender_keys (group_id, sender, record) VALUES (?, ?, ?)",
            )
            .bind(group)
            .bind(sender)
            .bind(record)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }
}

impl LidStore for SqliteStore {
    fn store_lid_mappings<'a>(&'a self, pairs: &'a [(String, String)]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.begin().await?;
            for (lid, pn) in pairs {
                sqlx::query("DELETE FROM lid_map WHERE pn = ? AND lid <> ?")
                    .bind(pn)
                    .bind(lid)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT OR REPLACE INTO lid_map (lid, pn) VALUES (?, ?)")
                    .bind(lid)
                    .bind(pn)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn pn_for_lid<'a>(&'a self, lid: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move {
            Ok(sqlx::query_scalar("SELECT pn FROM lid_map WHERE lid = ?")
                .bind(lid)
                .fetch_optional(&self.pool)
                .await?)
        })
    }

    fn lid_db_migrated(&self) -> StoreFuture<'_, bool> {
        Box::pin(self.lid_migrated_now())
    }

    fn lid_for_pn<'a>(&'a self, pn: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move {
            Ok(sqlx::query_scalar("SELECT lid FROM lid_map WHERE pn = ?")
                .bind(pn)
                .fetch_optional(&self.pool)
                .await?)
        })
    }
}

impl SqliteStore {
    /// Creates the contact or sets one of its name columns (`push_name`, `full_name`).
    async fn set_contact_name(
        &self,
        column: &'static str,
        jid: &str,
        name: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO contacts (jid, {column}) VALUES (?, ?) \
             ON CONFLICT (jid) DO UPDATE SET {column} = excluded.{column}"
        ))
        .bind(jid)
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

impl ContactStore for SqliteStore {
    fn store_push_name<'a>(&'a self, jid: &'a str, name: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(self.set_contact_name("push_name", jid, Some(name)))
    }

    fn store_full_name<'a>(&'a self, jid: &'a str, name: Option<&'a str>) -> StoreFuture<'a, ()> {
        Box::pin(self.set_contact_name("full_name", jid, name))
    }

    fn load_contact<'a>(&'a self, jid: &'a str) -> StoreFuture<'a, Option<Contact>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT push_name, full_name FROM contacts WHERE jid = ?")
                .bind(jid)
                .fetch_optional(&self.pool)
                .await?;
            row.map(|row| {
                Ok(Contact {
                    push_name: row.try_get(0)?,
                    full_name: row.try_get(1)?,
                })
            })
            .transpose()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("wa-client-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join("session.db")
    }

    #[tokio::test]
    async fn conformance_sqlite_file_with_reopen() {
        let path = temp_path("conformance");
        let store = SqliteStore::open(&path).await.unwrap();
        super::super::conformance::write_all(&store).await;
        store.close().await;
        let reopened = SqliteStore::open(&path).await.unwrap();
        super::super::conformance::check_all(&reopened).await;
        super::super::conformance::check_delete_users(&reopened).await;
        super::super::conformance::check_lid_migration(&reopened).await;
        super::super::conformance::check_wipe(&reopened).await;
    }

    #[tokio::test]
    async fn conformance_sqlite_memory() {
        let store = SqliteStore::open_in_memory().await.unwrap();
        super::super::conformance::write_all(&store).await;
        super::super::conformance::check_all(&store).await;
        super::super::conformance::check_delete_users(&store).await;
        super::super::conformance::check_lid_migration(&store).await;
        super::super::conformance::check_wipe(&store).await;
    }

    fn commit(n: usize) -> DecryptCommit {
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&(n as u64).to_be_bytes());
        DecryptCommit {
            plaintext: vec![2; 300],
            ..super::super::conformance::decrypt_commit(&format!("2010{n:07}.0"), &[1; 600], hash)
        }
    }

    /// A caller dropped while its commit is on SQLite's thread (a connection's tasks are
    /// aborted when it closes) must not leave a transaction open on a pooled connection: it
    /// would hold the write lock, and reads through it would see uncommitted sessions.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_commit_leaves_no_transaction_open() {
        use futures_util::FutureExt as _;
        let path = temp_path("dropped-commit");
        let store = SqliteStore::open(&path).await.unwrap();
        // Many statements (200 rows each), so that the script is mid-way when it is dropped.
        let first = DecryptBatch {
            commits: (0..4_000).map(commit).collect(),
            sender_keys: Vec::new(),
            ..DecryptBatch::default()
        };
        assert!(
            store
                .commit_decrypted_batch(&first)
                .now_or_never()
                .is_none()
        );
        let second = DecryptBatch {
            commits: (4_000..4_010).map(commit).collect(),
            sender_keys: Vec::new(),
            ..DecryptBatch::default()
        };
        for _ in 0..4 {
            // Every pooled connection takes a write: none may be stuck inside the first one.
            tokio::time::timeout(
                Duration::from_secs(5),
                store.commit_decrypted_batch(&second),
            )
            .await
            .expect("the write lock was released")
            .expect("a later commit goes through");
        }
        // The dropped commit ran to its end: all of it is there, on any connection.
        for n in [0, 1_999, 3_999, 4_009] {
            assert!(
                store
                    .load_decrypted(&commit(n).ciphertext_hash)
                    .await
                    .unwrap()
                    .is_some(),
                "row {n}"
            );
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let path = temp_path("mode");
        let store = SqliteStore::open(&path).await.unwrap();
        store
            .save_device(&Device::generate(&mut rand::thread_rng()))
            .await
            .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[tokio::test]
    async fn concurrent_writers() {
        let path = temp_path("concurrent");
        let store = std::sync::Arc::new(SqliteStore::open(&path).await.unwrap());
        let mut tasks = Vec::new();
        for t in 0..8u32 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..25u32 {
                    let address = format!("{t}.{i}");
                    store
                        .store_session(&address, &[t as u8, i as u8])
                        .await
                        .unwrap();
                    let batch: Vec<(u32, Vec<u8>)> =
                        vec![(t * 1000 + i, vec![1]), (t * 1000 + 500 + i, vec![2])];
                    store.store_prekeys(&batch).await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        for t in 0..8u32 {
            for i in 0..25u32 {
                let address = format!("{t}.{i}");
                assert_eq!(
                    store.load_session(&address).await.unwrap(),
                    Some(vec![t as u8, i as u8])
                );
            }
        }
        assert_eq!(store.max_prekey_id().await.unwrap(), 7524);
    }
}
