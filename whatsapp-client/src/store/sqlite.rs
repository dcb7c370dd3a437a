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
            let prefix = address_prefix(user);
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
                 account, jid, lid, push_name, platform, business_name FROM device WHERE id = 1",
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
            }))
        })
    }

    fn save_device<'a>(&'a self, device: &'a Device) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query(
                "INSERT OR REPLACE INTO device (id, noise_key, identity_key, registration_id, \
                 signed_prekey, adv_secret, account, jid, lid, push_name, platform, business_name) \
                 VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                "contacts",
                "privacy_tokens",
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

impl AppStateStore for SqliteStore {
    fn load_app_state_key<'a>(&'a self, key_id: &'a [u8]) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            Ok(
                sqlx::query_scalar("SELECT data FROM app_state_keys WHERE key_id = ?")
                    .bind(key_id)
                    .fetch_optional(&self.pool)
                    .await?,
            )
        })
    }

    fn store_app_state_keys<'a>(&'a self, keys: &'a [(Vec<u8>, Vec<u8>)]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.begin().await?;
            for (id, data) in keys {
                sqlx::query("INSERT OR REPLACE INTO app_state_keys (key_id, data) VALUES (?, ?)")
                    .bind(id)
                    .bind(data)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn load_app_state_version<'a>(
        &'a self,
        name: &'a str,
    ) -> StoreFuture<'a, Option<(u64, Vec<u8>)>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT version, hash FROM app_state_versions WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
            row.map(|row| {
                let version: i64 = row.try_get(0)?;
                Ok((
                    u64::try_from(version).map_err(|_| StoreError::Corrupt {
                        what: "app-state version",
                    })?,
                    row.try_get(1)?,
                ))
            })
            .transpose()
        })
    }

    fn store_app_state_version<'a>(
        &'a self,
        name: &'a str,
        version: u64,
        hash: &'a [u8],
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query(
                "INSERT OR REPLACE INTO app_state_versions (name, version, hash) VALUES (?, ?, ?)",
            )
            .bind(name)
            .bind(i64::try_from(version).unwrap_or(i64::MAX))
            .bind(hash)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn store_app_state_sync_keys<'a>(&'a self, keys: &'a [AppStateSyncKey]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.begin().await?;
            for key in keys {
                sqlx::query(
                    "INSERT OR REPLACE INTO app_state_keys (key_id, data, timestamp) VALUES (?, ?, ?)",
                )
                .bind(&key.id)
                .bind(&key.data)
                .bind(key.timestamp)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn latest_app_state_key(&self) -> StoreFuture<'_, Option<AppStateSyncKey>> {
        Box::pin(async move {
            // REPLACE gives a row a new rowid, so among equal timestamps the last stored wins.
            let row = sqlx::query(
                "SELECT key_id, data, timestamp FROM app_state_keys \
                 ORDER BY timestamp DESC, rowid DESC LIMIT 1",
            )
            .fetch_optional(&self.pool)
            .await?;
            row.map(|row| {
                Ok(AppStateSyncKey {
                    id: row.try_get(0)?,
                    data: row.try_get(1)?,
                    timestamp: row.try_get(2)?,
                })
            })
            .transpose()
        })
    }

    fn load_app_state_mutation_macs<'a>(
        &'a self,
        name: &'a str,
        index_macs: &'a [[u8; 32]],
    ) -> StoreFuture<'a, Vec<([u8; 32], [u8; 32])>> {
        Box::pin(async move {
            let mut found = Vec::new();
            for index in index_macs {
                let value: Option<Vec<u8>> = sqlx::query_scalar(
                    "SELECT value_mac FROM app_state_mutation_macs WHERE name = ? AND index_mac = ?",
                )
                .bind(name)
                .bind(index.as_slice())
                .fetch_optional(&self.pool)
                .await?;
                if let Some(value) = value {
                    found.push((*index, blob32(value, "app-state value MAC")?));
                }
            }
            Ok(found)
        })
    }

    fn apply_app_state_patch<'a>(
        &'a self,
        name: &'a str,
        update: &'a AppStatePatchUpdate,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.begin().await?;
            if update.replaces_all {
                sqlx::query("DELETE FROM app_state_mutation_macs WHERE name = ?")
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
            }
            for index in &update.removed {
                sqlx::query("DELETE FROM app_state_mutation_macs WHERE name = ? AND index_mac = ?")
                    .bind(name)
                    .bind(index.as_slice())
                    .execute(&mut *tx)
                    .await?;
            }
            for (index, value) in &update.added {
                sqlx::query(
                    "INSERT OR REPLACE INTO app_state_mutation_macs (name, index_mac, value_mac) \
                     VALUES (?, ?, ?)",
                )
                .bind(name)
                .bind(index.as_slice())
                .bind(value.as_slice())
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(
                "INSERT OR REPLACE INTO app_state_versions (name, version, hash) VALUES (?, ?, ?)",
            )
            .bind(name)
            .bind(i64::try_from(update.version).unwrap_or(i64::MAX))
            .bind(&update.hash)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn delete_app_state<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.begin().await?;
            for table in ["app_state_versions", "app_state_mutation_macs"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE name = ?"))
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn store_pending_history<'a>(
        &'a self,
        message_id: &'a str,
        notification: &'a [u8],
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query(
                "INSERT OR IGNORE INTO pending_history (message_id, notification) VALUES (?, ?)",
            )
            .bind(message_id)
            .bind(notification)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn pending_history(&self) -> StoreFuture<'_, Vec<(String, Vec<u8>)>> {
        Box::pin(async move {
            let rows =
                sqlx::query("SELECT message_id, notification FROM pending_history ORDER BY rowid")
                    .fetch_all(&self.pool)
                    .await?;
            rows.into_iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect()
        })
    }

    fn delete_pending_history<'a>(&'a self, message_id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query("DELETE FROM pending_history WHERE message_id = ?")
                .bind(message_id)
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

    fn store_privacy_token<'a>(
        &'a self,
        jid: &'a str,
        token: &'a [u8],
        timestamp: i64,
    ) -> StoreFuture<'a, ()> {
        Box::pin(self.put_privacy_token(jid, token, timestamp))
    }

    fn load_privacy_token<'a>(&'a self, jid: &'a str) -> StoreFuture<'a, Option<(Vec<u8>, i64)>> {
        Box::pin(self.get_privacy_token(jid))
    }
}

impl SqliteStore {
    async fn put_privacy_token(&self, jid: &str, token: &[u8], timestamp: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT OR REPLACE INTO privacy_tokens (jid, token, timestamp) VALUES (?, ?, ?)",
        )
        .bind(jid)
        .bind(token)
        .bind(timestamp)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_privacy_token(&self, jid: &str) -> StoreResult<Option<(Vec<u8>, i64)>> {
        let row = sqlx::query("SELECT token, timestamp FROM privacy_tokens WHERE jid = ?")
            .bind(jid)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .transpose()
    }
}

/// The first secret of a message stays (whatsmeow `putMsgSecret`: `ON CONFLICT DO NOTHING`).
const MESSAGE_SECRET_INSERT: &str =
    "INSERT OR IGNORE INTO message_secrets (chat, sender, message_id, secret)";

fn bind_message_secret(
    args: &mut SqliteArguments<'static>,
    secret: &MessageSecret,
) -> Result<(), BoxDynError> {
    args.add(secret.chat.clone())?;
    args.add(secret.sender.clone())?;
    args.add(secret.message_id.clone())?;
    args.add(secret.secret.clone())
}

impl MessageSecretStore for SqliteStore {
    fn store_message_secrets<'a>(&'a self, secrets: &'a [MessageSecret]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if secrets.is_empty() {
                return Ok(());
            }
            let mut script = Script::default();
            script.insert(MESSAGE_SECRET_INSERT, 4, secrets, bind_message_secret)?;
            let mut tx = self.begin().await?;
            sqlx::query_with(&script.sql, script.args)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn load_message_secret<'a>(
        &'a self,
        chat: &'a str,
        sender: &'a str,
        message_id: &'a str,
    ) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            Ok(sqlx::query_scalar(
                "SELECT secret FROM message_secrets \
                 WHERE chat = ? AND sender = ? AND message_id = ?",
            )
            .bind(chat)
            .bind(sender)
            .bind(message_id)
            .fetch_optional(&self.pool)
            .await?)
        })
    }
}

impl SentMessageStore for SqliteStore {
    fn store_sent<'a>(
        &'a self,
        chat: &'a str,
        id: &'a str,
        message: &'a [u8],
        created_at: i64,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query(
                "INSERT OR REPLACE INTO sent_messages (chat, id, message, created_at) \
                 VALUES (?, ?, ?, ?)",
            )
            .bind(chat)
            .bind(id)
            .bind(message)
            .bind(created_at)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn load_sent<'a>(&'a self, chat: &'a str, id: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            Ok(
                sqlx::query_scalar("SELECT message FROM sent_messages WHERE chat = ? AND id = ?")
                    .bind(chat)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?,
            )
        })
    }

    fn prune_sent(&self, before: i64) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let done = sqlx::query("DELETE FROM sent_messages WHERE created_at < ?")
                .bind(before)
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected())
        })
    }
}

impl MessageStore for SqliteStore {
    fn commit_decrypted<'a>(&'a self, commit: &'a DecryptCommit) -> StoreFuture<'a, ()> {
        Box::pin(self.write_decrypted(std::slice::from_ref(commit), &[], &[]))
    }

    fn commit_decrypted_batch<'a>(&'a self, batch: &'a DecryptBatch) -> StoreFuture<'a, ()> {
        Box::pin(self.write_decrypted(&batch.commits, &batch.sender_keys, &batch.message_secrets))
    }

    fn load_decrypted<'a>(&'a self, hash: &'a [u8; 32]) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            Ok(
                sqlx::query_scalar("SELECT plaintext FROM decrypted WHERE hash = ?")
                    .bind(&hash[..])
                    .fetch_optional(&self.pool)
                    .await?,
            )
        })
    }

    fn prune_decrypted(&self, before: i64) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let done = sqlx::query("DELETE FROM decrypted WHERE created_at < ?")
                .bind(before)
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected())
        })
    }
}

/// Rows per multi-row statement (well under SQLite's limit of bound variables).
const ROWS_PER_STATEMENT: usize = 200;

/// A write of several statements sent to SQLite's connection thread at once: one round trip
/// instead of one per statement (each costs a hand-over to sqlx's worker thread). Its values
/// are owned, so that it can run on a task of its own ([`SqliteStore::write_decrypted`]).
#[derive(Default)]
struct Script {
    sql: String,
    args: SqliteArguments<'static>,
}

impl Script {
    /// Adds `head VALUES (?, ..), ..;` for `rows`, each binding its values through `bind`.
    fn insert<T>(
        &mut self,
        head: &str,
        width: usize,
        rows: &[T],
        mut bind: impl FnMut(&mut SqliteArguments<'static>, &T) -> Result<(), BoxDynError>,
    ) -> StoreResult<()> {
        let row = format!("({})", vec!["?"; width].join(", "));
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            self.sql.push_str(head);
            self.sql.push_str(" VALUES ");
            self.sql
                .push_str(&vec![row.as_str(); chunk.len()].join(", "));
            self.sql.push(';');
            for r in chunk {
                bind(&mut self.args, r).map_err(|e| StoreError::backend(sqlx::Error::Encode(e)))?;
            }
        }
        Ok(())
    }
}

impl SqliteStore {
    /// Writes decrypt commits (and the final sender keys of a batch) in one transaction sent as
    /// one script: multi-row statements in commit order, so a later record for the same row
    /// wins as it would statement by statement.
    async fn write_decrypted(
        &self,
        commits: &[DecryptCommit],
        sender_keys: &[(String, String, Vec<u8>)],
        secrets: &[MessageSecret],
    ) -> StoreResult<()> {
        if commits.is_empty() && sender_keys.is_empty() && secrets.is_empty() {
            return Ok(());
        }
        // The last record of each session is the one that stays: the others are not written.
        let mut last_session = std::collections::HashMap::new();
        for (at, c) in commits.iter().enumerate() {
            if c.session.is_some() {
                last_session.insert(c.address.as_str(), at);
            }
        }
        let sessions: Vec<(&str, &[u8])> = commits
            .iter()
            .enumerate()
            .filter(|(at, c)| last_session.get(c.address.as_str()) == Some(at))
            .filter_map(|(_, c)| c.session.as_deref().map(|s| (c.address.as_str(), s)))
            .collect();
        let sender_keys: Vec<(&str, &str, &[u8])> = commits
            .iter()
            .filter_map(|c| c.sender_key.as_ref())
            .chain(sender_keys)
            .map(|(g, s, r)| (g.as_str(), s.as_str(), r.as_slice()))
            .collect();
        let identities: Vec<(&str, &[u8])> = commits
            .iter()
            .filter_map(|c| c.identity.as_ref().map(|k| (c.address.as_str(), &k[..])))
            .collect();
        let prekeys: Vec<i64> = commits
            .iter()
            .filter_map(|c| c.consumed_prekey.map(i64::from))
            .collect();
        let mut script = Script {
            sql: String::from("BEGIN IMMEDIATE;"),
            args: SqliteArguments::default(),
        };
        script.insert(
            "INSERT OR REPLACE INTO sessions (address, record)",
            2,
            &sessions,
            |a, (address, record)| {
                a.add(address.to_string())?;
                a.add(record.to_vec())
            },
        )?;
        script.insert(
            "INSERT OR REPLACE INTO sender_keys (group_id, sender, record)",
            3,
            &sender_keys,
            |a, (group, sender, record)| {
                a.add(group.to_string())?;
                a.add(sender.to_string())?;
                a.add(record.to_vec())
            },
        )?;
        script.insert(
            "INSERT OR REPLACE INTO identities (address, key)",
            2,
            &identities,
            |a, (address, key)| {
                a.add(address.to_string())?;
                a.add(key.to_vec())
            },
        )?;
        for chunk in prekeys.chunks(ROWS_PER_STATEMENT) {
            script.sql.push_str(&format!(
                "DELETE FROM prekeys WHERE id IN ({});",
                vec!["?"; chunk.len()].join(", ")
            ));
            for id in chunk {
                script
                    .args
                    .add(*id)
                    .map_err(|e| StoreError::backend(sqlx::Error::Encode(e)))?;
            }
        }
        script.insert(
            "INSERT OR REPLACE INTO decrypted (hash, sender, message_id, plaintext, created_at)",
            5,
            commits,
            |a, c| {
                a.add(c.ciphertext_hash.to_vec())?;
                a.add(c.sender.clone())?;
                a.add(c.message_id.clone())?;
                a.add(c.plaintext.clone())?;
                a.add(c.created_at)
            },
        )?;
        script.insert(MESSAGE_SECRET_INSERT, 4, secrets, bind_message_secret)?;
        script.sql.push_str("COMMIT;");
        // Single messages repeat a few shapes of script: keep those prepared.
        let persistent = commits.len() <= 1;
        // On a task of its own, so that it runs to its end even if the caller is dropped (the
        // tasks of a connection are aborted when it closes): sqlx's worker stops a script
        // between statements once nobody reads its results, which left `BEGIN IMMEDIATE` open
        // on a pooled connection. That connection held the write lock (others failed with
        // "database is locked"), and reads through it saw an uncommitted session: a
        // redelivered message then failed as a duplicate with no buffered plaintext and was
        // acknowledged without reaching the application.
        let pool = self.pool.clone();
        let Script { sql, args } = script;
        tokio::spawn(async move {
            let mut conn = pool.acquire().await?;
            let written = sqlx::query_with(&sql, args)
                .persistent(persistent)
                .execute(&mut *conn)
                .await;
            if let Err(e) = written {
                // The script stopped inside its transaction: end it before the connection
                // goes back to the pool, or drop the connection if even that fails.
                if sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err() {
                    conn.close_on_drop();
                }
                return Err(e.into());
            }
            Ok(())
        })
        .await
        .map_err(|_| StoreError::backend(sqlx::Error::WorkerCrashed))?
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
        super::super::conformance::check_wipe(&reopened).await;
    }

    #[tokio::test]
    async fn conformance_sqlite_memory() {
        let store = SqliteStore::open_in_memory().await.unwrap();
        super::super::conformance::write_all(&store).await;
        super::super::conformance::check_all(&store).await;
        super::super::conformance::check_delete_users(&store).await;
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
