//! Messages in SQLite: poll secrets, what we sent (for retries), and decrypt commits, one
//! transaction per batch.

use super::*;

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
