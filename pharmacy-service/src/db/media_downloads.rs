//! Attachments waiting for their file (`media_downloads`, `messages.media_state`): what the
//! media worker needs to download one, kept until the file is stored.

use super::Conn;
use crate::domain::ids::MessageId;
use crate::domain::time::Timestamp;

/// `messages.media_state` while the worker fetches the file.
pub const DOWNLOADING: &str = "downloading";
/// `messages.media_state` after the worker gave up (an agent may retry).
pub const FAILED: &str = "failed";
/// `messages.media_state` of an attachment beyond the configured maximum (never fetched).
pub const TOO_LARGE: &str = "too_large";

/// What a download needs (all from the customer's message, untrusted until verified).
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PendingDownload {
    /// The message the file belongs to (0 before it is stored).
    pub message_id: MessageId,
    /// The media key type: `image`, `video`, `audio`, `ptt`, `document`, `sticker`.
    pub media_type: String,
    /// The server path.
    pub direct_path: Option<String>,
    /// The full URL (used only without a direct path, and only to a WhatsApp media host).
    pub url: Option<String>,
    /// The 32-byte media key.
    pub media_key: Vec<u8>,
    /// SHA-256 of the plaintext.
    pub file_sha256: Vec<u8>,
    /// SHA-256 of the encrypted blob.
    pub file_enc_sha256: Vec<u8>,
    /// The MIME type the message claims.
    pub mime: String,
    /// The plaintext length the message declares.
    pub file_length: Option<i64>,
    /// Attempts made so far.
    pub attempts: i64,
}

impl std::fmt::Debug for PendingDownload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The media key stays out of logs.
        f.debug_struct("PendingDownload")
            .field("message_id", &self.message_id)
            .field("media_type", &self.media_type)
            .field("direct_path", &self.direct_path)
            .field("file_length", &self.file_length)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// Marks a stored message as downloading and keeps what its download needs.
pub async fn insert(
    c: &mut Conn,
    message_id: MessageId,
    d: &PendingDownload,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    set_state(c, message_id, Some(DOWNLOADING)).await?;
    sqlx::query(
        "INSERT OR REPLACE INTO media_downloads (message_id, media_type, direct_path, url, media_key,
             file_sha256, file_enc_sha256, mime, file_length, attempts, next_attempt_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
    )
    .bind(message_id)
    .bind(&d.media_type)
    .bind(&d.direct_path)
    .bind(&d.url)
    .bind(&d.media_key)
    .bind(&d.file_sha256)
    .bind(&d.file_enc_sha256)
    .bind(&d.mime)
    .bind(d.file_length)
    .bind(now)
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Sets `messages.media_state`.
pub async fn set_state(
    c: &mut Conn,
    message_id: MessageId,
    state: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE messages SET media_state = ? WHERE id = ?")
        .bind(state)
        .bind(message_id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Downloads due now (still `downloading`), oldest first.
pub async fn due(
    c: &mut Conn,
    now: Timestamp,
    limit: i64,
) -> Result<Vec<PendingDownload>, sqlx::Error> {
    sqlx::query_as(
        "SELECT d.message_id, d.media_type, d.direct_path, d.url, d.media_key, d.file_sha256,
                d.file_enc_sha256, d.mime, d.file_length, d.attempts
         FROM media_downloads d JOIN messages m ON m.id = d.message_id
         WHERE m.media_state = 'downloading' AND d.next_attempt_at <= ?
         ORDER BY d.next_attempt_at, d.message_id LIMIT ?",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *c)
    .await
}

/// When the next download that is not due yet at `now` becomes due.
pub async fn next_due_after(
    c: &mut Conn,
    now: Timestamp,
) -> Result<Option<Timestamp>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT MIN(d.next_attempt_at) FROM media_downloads d JOIN messages m ON m.id = d.message_id
         WHERE m.media_state = 'downloading' AND d.next_attempt_at > ?",
    )
    .bind(now)
    .fetch_one(&mut *c)
    .await
}

/// The file is stored: the message points at it and the download is forgotten.
pub async fn complete(
    c: &mut Conn,
    message_id: MessageId,
    sha256: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE messages SET media_sha256 = ?, media_state = NULL WHERE id = ?")
        .bind(sha256)
        .bind(message_id)
        .execute(&mut *c)
        .await?;
    sqlx::query("DELETE FROM media_downloads WHERE message_id = ?")
        .bind(message_id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// One more failed attempt: due again at `next` or, when `next` is `None`, given up
/// (`failed`, kept for a retry).
pub async fn attempt_failed(
    c: &mut Conn,
    message_id: MessageId,
    error: &str,
    next: Option<Timestamp>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE media_downloads SET attempts = attempts + 1, last_error = ?,
             next_attempt_at = COALESCE(?, next_attempt_at)
         WHERE message_id = ?",
    )
    .bind(error)
    .bind(next)
    .bind(message_id)
    .execute(&mut *c)
    .await?;
    if next.is_none() {
        set_state(c, message_id, Some(FAILED)).await?;
    }
    Ok(())
}

/// A failed download starts over (attempts reset, due now); false when the message has no
/// failed download.
pub async fn retry(
    c: &mut Conn,
    message_id: MessageId,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE messages SET media_state = 'downloading'
         WHERE id = ? AND media_state = 'failed'
           AND EXISTS (SELECT 1 FROM media_downloads WHERE message_id = ?)",
    )
    .bind(message_id)
    .bind(message_id)
    .execute(&mut *c)
    .await?
    .rows_affected();
    if done == 0 {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE media_downloads SET attempts = 0, next_attempt_at = ?, last_error = NULL
         WHERE message_id = ?",
    )
    .bind(now)
    .bind(message_id)
    .execute(&mut *c)
    .await?;
    Ok(true)
}

/// Due again at `next` without spending an attempt (the fault was the service's own, a full
/// media disk, not the attachment's).
pub async fn postpone(
    c: &mut Conn,
    message_id: MessageId,
    error: &str,
    next: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE media_downloads SET last_error = ?, next_attempt_at = ? WHERE message_id = ?",
    )
    .bind(error)
    .bind(next)
    .bind(message_id)
    .execute(&mut *c)
    .await?;
    Ok(())
}
