//! Privacy tokens in SQLite: the ones users issued to us, when we issued ours, the NCT salt.

use super::*;

impl PrivacyTokenStore for SqliteStore {
    fn store_privacy_token<'a>(
        &'a self,
        jid: &'a str,
        token: &'a [u8],
        timestamp: i64,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            // An older token never replaces a newer one (whatsmeow `putPrivacyTokens`).
            sqlx::query(
                "INSERT INTO privacy_tokens (jid, token, timestamp) VALUES (?, ?, ?) \
                 ON CONFLICT (jid) DO UPDATE SET token = excluded.token, \
                 timestamp = excluded.timestamp WHERE excluded.timestamp >= privacy_tokens.timestamp",
            )
            .bind(jid)
            .bind(token)
            .bind(timestamp)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn load_privacy_token<'a>(&'a self, jid: &'a str) -> StoreFuture<'a, Option<(Vec<u8>, i64)>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT token, timestamp FROM privacy_tokens WHERE jid = ?")
                .bind(jid)
                .fetch_optional(&self.pool)
                .await?;
            row.map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .transpose()
        })
    }

    fn store_token_issued<'a>(&'a self, jid: &'a str, timestamp: i64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query(
                "INSERT OR REPLACE INTO privacy_tokens_issued (jid, timestamp) VALUES (?, ?)",
            )
            .bind(jid)
            .bind(timestamp)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn load_token_issued<'a>(&'a self, jid: &'a str) -> StoreFuture<'a, Option<i64>> {
        Box::pin(async move {
            Ok(
                sqlx::query_scalar("SELECT timestamp FROM privacy_tokens_issued WHERE jid = ?")
                    .bind(jid)
                    .fetch_optional(&self.pool)
                    .await?,
            )
        })
    }

    fn store_nct_salt<'a>(&'a self, salt: Option<&'a [u8]>) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            match salt {
                Some(salt) => {
                    sqlx::query("INSERT OR REPLACE INTO nct_salt (id, salt) VALUES (0, ?)")
                        .bind(salt)
                        .execute(&self.pool)
                        .await?;
                }
                None => {
                    sqlx::query("DELETE FROM nct_salt")
                        .execute(&self.pool)
                        .await?;
                }
            }
            Ok(())
        })
    }

    fn load_nct_salt(&self) -> StoreFuture<'_, Option<Vec<u8>>> {
        Box::pin(async move {
            Ok(sqlx::query_scalar("SELECT salt FROM nct_salt WHERE id = 0")
                .fetch_optional(&self.pool)
                .await?)
        })
    }
}
