//! App-state keys, versions, mutation MACs and pending history blobs in SQLite.

use super::*;

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
