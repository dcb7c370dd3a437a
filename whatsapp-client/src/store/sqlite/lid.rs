//! Moving a phone-number user's Signal records to its LID (whatsmeow
//! `store/sqlstore/store.go` `MigratePNToLID`), for one user or, once, for the whole store.

use sqlx::{Sqlite, Transaction};

use super::*;

/// Renames the rows of every device of `pn` to `lid` in the three tables keyed by Signal
/// address; a PN row replaces the LID row of the same device. Ranges on the key, not `LIKE`
/// (see `SqliteStore::delete_users`).
async fn migrate_user(
    tx: &mut Transaction<'static, Sqlite>,
    pn: &str,
    lid: &str,
) -> StoreResult<u64> {
    let (from, to) = migration_prefixes(pn, lid);
    let Some(stem) = from.strip_suffix('.') else {
        return Ok(0);
    };
    let end = format!("{stem}/");
    // SQLite's substr counts from 1: the rest of the address after the prefix.
    let rest = i64::try_from(from.len() + 1).unwrap_or(i64::MAX);
    let mut moved = 0;
    for (table, column, others) in [
        ("sessions", "address", "record"),
        ("identities", "address", "key"),
        ("sender_keys", "sender", "group_id, record"),
    ] {
        moved += sqlx::query(&format!(
            "INSERT OR REPLACE INTO {table} ({column}, {others}) \
             SELECT ? || substr({column}, ?), {others} FROM {table} \
             WHERE {column} >= ? AND {column} < ?"
        ))
        .bind(&to)
        .bind(rest)
        .bind(&from)
        .bind(&end)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE {column} >= ? AND {column} < ?"
        ))
        .bind(&from)
        .bind(&end)
        .execute(&mut **tx)
        .await?;
    }
    Ok(moved)
}

impl SqliteStore {
    pub(super) async fn migrate_pn_to_lid_now(&self, pn: &str, lid: &str) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let moved = migrate_user(&mut tx, pn, lid).await?;
        tx.commit().await?;
        Ok(moved)
    }

    pub(super) async fn migrate_all_now(&self) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let pairs: Vec<(String, String)> = sqlx::query_as("SELECT lid, pn FROM lid_map")
            .fetch_all(&mut *tx)
            .await?;
        let mut moved = 0;
        for (lid, pn) in &pairs {
            moved += migrate_user(&mut tx, pn, lid).await?;
        }
        sqlx::query("INSERT OR IGNORE INTO lid_migration (id) VALUES (1)")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(moved)
    }

    pub(super) async fn lid_migrated_now(&self) -> StoreResult<bool> {
        let row: Option<i64> = sqlx::query_scalar("SELECT id FROM lid_migration")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }
}
