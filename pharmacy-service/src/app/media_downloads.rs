//! The media worker's use-cases (`whatsapp::media_worker`): which attachments are due for
//! download, and how an attempt ended, written in one transaction and, when the agents' view of
//! the message changed, published as [`LiveEvent::MessageUpdated`]. The worker decides (which
//! failure is worth another attempt, the backoff); these write what it decided.

use super::{App, AppError, LiveEvent};
use crate::db;
use crate::db::media_downloads::TOO_LARGE;
use crate::domain::ids::MessageId;
use crate::domain::time::Timestamp;

pub use crate::db::media_downloads::PendingDownload;

/// How one download attempt ended, as the worker decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadOutcome {
    /// The file is stored under this SHA-256: the message shows it.
    Stored(String),
    /// Beyond the maximum: `too_large`, never fetched.
    TooLarge,
    /// The attempt failed: due again at `next`, or `failed` for good when `None`.
    Failed {
        /// What went wrong.
        error: String,
        /// When to try again.
        next: Option<Timestamp>,
    },
    /// Downloaded, but the media disk is full: due again at `next` without spending an attempt
    /// (the agents still see it downloading).
    DiskFull {
        /// What went wrong.
        error: String,
        /// When to try again.
        next: Timestamp,
    },
}

impl App {
    /// At most `limit` downloads due at `now`.
    pub async fn due_downloads(
        &self,
        now: Timestamp,
        limit: i64,
    ) -> Result<Vec<PendingDownload>, AppError> {
        let mut c = self.read().await?;
        Ok(db::media_downloads::due(&mut c, now, limit).await?)
    }

    /// When the next download waiting for a retry after `now` is due.
    pub async fn next_download_after(&self, now: Timestamp) -> Result<Option<Timestamp>, AppError> {
        let mut c = self.read().await?;
        Ok(db::media_downloads::next_due_after(&mut c, now).await?)
    }

    /// Writes how the download of message `id`'s attachment ended and tells the agents when
    /// what they see of the message changed.
    pub async fn settle_download(
        &self,
        id: MessageId,
        outcome: &DownloadOutcome,
    ) -> Result<(), AppError> {
        let mut tx = self.begin().await?;
        match outcome {
            DownloadOutcome::Stored(sha) => db::media_downloads::complete(&mut tx, id, sha).await?,
            DownloadOutcome::TooLarge => {
                db::media_downloads::set_state(&mut tx, id, Some(TOO_LARGE)).await?
            }
            DownloadOutcome::Failed { error, next } => {
                db::media_downloads::attempt_failed(&mut tx, id, error, *next).await?
            }
            DownloadOutcome::DiskFull { error, next } => {
                db::media_downloads::postpone(&mut tx, id, error, *next).await?;
                // Still `downloading` for the agents: nothing they see changes.
                tx.commit().await?;
                return Ok(());
            }
        }
        // The agents' view of the message changes (the file arrived, or it is failed or too
        // large): read as this transaction wrote it.
        let message = db::messages::by_id(&mut tx, id).await?;
        tx.commit().await?;
        if let Some(message) = message {
            self.events()
                .publish(self.now(), LiveEvent::MessageUpdated { message });
        }
        Ok(())
    }
}
