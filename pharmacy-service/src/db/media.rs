//! The `media` table (content-addressed files) as seen by the readers: what is stored, and
//! which messages carry a file.

use super::Conn;
use crate::domain::ids::TicketId;

/// The stored type of the file with this content address, if the service has its row.
pub async fn mime(c: &mut Conn, sha256: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT mime FROM media WHERE sha256 = ?")
        .bind(sha256)
        .fetch_optional(&mut *c)
        .await
}

/// The tickets with a message carrying the file, newest first, at most `limit`.
pub async fn tickets_carrying(
    c: &mut Conn,
    sha256: &str,
    limit: i64,
) -> Result<Vec<TicketId>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT ticket_id FROM messages WHERE media_sha256 = ?
         ORDER BY ticket_id DESC LIMIT ?",
    )
    .bind(sha256)
    .bind(limit)
    .fetch_all(&mut *c)
    .await
}

/// The file name of the first message carrying the file (in `ticket` only, when given).
pub async fn file_name(
    c: &mut Conn,
    sha256: &str,
    ticket: Option<TicketId>,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT media_name FROM messages WHERE media_sha256 = ?1 AND media_name IS NOT NULL
           AND (?2 IS NULL OR ticket_id = ?2) ORDER BY id LIMIT 1",
    )
    .bind(sha256)
    .bind(ticket)
    .fetch_optional(&mut *c)
    .await
}
