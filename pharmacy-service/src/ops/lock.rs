//! One service per data directory. The lock is an exclusive SQLite lock on
//! `DATA_DIR/service.lock`, held by an open connection for the life of the process: the
//! operating system releases it when the process ends, however it ends (no stale PID files),
//! on unix and Windows alike.

use sqlx::ConnectOptions;
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteLockingMode};
use std::path::Path;
use std::time::Duration;

/// The lock file's name in the data directory.
pub const LOCK_FILE: &str = "service.lock";

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error("another pharmacy-service process is using {dir}")]
    Held {
        /// The data directory.
        dir: String,
    },
    /// The lock file could not be opened.
    #[error("lock file {path}: {source}")]
    Open {
        /// The lock file.
        path: String,
        /// Why.
        source: sqlx::Error,
    },
}

/// Held while it lives.
#[derive(Debug)]
pub struct InstanceLock {
    conn: SqliteConnection,
}

impl InstanceLock {
    /// Takes the lock on `data_dir` (which must exist), failing at once when it is held.
    pub async fn acquire(data_dir: &Path) -> Result<InstanceLock, LockError> {
        let path = data_dir.join(LOCK_FILE);
        let open_err = |source| LockError::Open {
            path: path.display().to_string(),
            source,
        };
        let mut conn = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Delete)
            .locking_mode(SqliteLockingMode::Exclusive)
            .busy_timeout(Duration::ZERO)
            .disable_statement_logging()
            .connect()
            .await
            .map_err(|e| classify(e, data_dir).unwrap_or_else(open_err))?;
        // A write in exclusive locking mode keeps the exclusive lock until the connection
        // closes.
        let pid = i64::from(std::process::id());
        let mut tx = conn
            .begin_with("BEGIN EXCLUSIVE")
            .await
            .map_err(|e| classify(e, data_dir).unwrap_or_else(open_err))?;
        for q in [
            "CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL)",
            "DELETE FROM holder",
        ] {
            sqlx::query(q)
                .execute(&mut *tx)
                .await
                .map_err(|e| classify(e, data_dir).unwrap_or_else(open_err))?;
        }
        sqlx::query("INSERT INTO holder (pid) VALUES (?)")
            .bind(pid)
            .execute(&mut *tx)
            .await
            .map_err(|e| classify(e, data_dir).unwrap_or_else(open_err))?;
        tx.commit()
            .await
            .map_err(|e| classify(e, data_dir).unwrap_or_else(open_err))?;
        Ok(InstanceLock { conn })
    }

    /// Gives the lock up now. Dropping an `InstanceLock` releases it too, but sqlx closes a
    /// dropped connection on its worker thread a moment later; this waits for the close.
    pub async fn release(self) {
        if let Err(e) = self.conn.close().await {
            tracing::warn!(error = %e, "closing the instance lock");
        }
    }
}

/// `Some(Held)` for SQLite's busy and locked errors.
fn classify(e: sqlx::Error, dir: &Path) -> Result<LockError, sqlx::Error> {
    let busy = matches!(&e, sqlx::Error::Database(d)
        if matches!(d.code().as_deref(), Some("5" | "6" | "517" | "261" | "262")));
    if busy {
        Ok(LockError::Held {
            dir: dir.display().to_string(),
        })
    } else {
        Err(e)
    }
}
