//! Stored media (issue 18, Critical): who may read a file, and how it is answered so that
//! nothing a customer or an agent sent ever runs on the service's origin.
//!
//! Only passive images, audio and video (see [`crate::domain::mime`]) are answered inline, with
//! their canonical type; everything else is `application/octet-stream` as an attachment. Every
//! answer is `nosniff` and carries a Content-Security-Policy that lets nothing load or run.

use super::access::readable_ticket;
use super::auth::CurrentUser;
use super::error::ApiResult;
use crate::app::App;
use crate::db::Conn;
use crate::domain::ids::TicketId;
use crate::domain::mime;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// A stored file the caller may read.
#[derive(Debug)]
pub struct ReadableMedia {
    /// Content address (lowercase hex).
    pub sha256: String,
    /// Canonical type ([`mime::normalise`] of the stored one).
    pub mime: &'static str,
    /// The file name of a message that carries it and the caller may read.
    pub name: Option<String>,
}

/// The media with this content address if the caller may read it: an admin any; anyone else
/// only if a message carrying it is in a ticket they may read (the rule of
/// `GET /api/media/{sha256}`, also applied to `send` with `media_sha256`). `None` when it does
/// not exist or they may not read it: the two are not told apart.
pub async fn readable_media(
    c: &mut Conn,
    me: &CurrentUser,
    sha: &str,
) -> ApiResult<Option<ReadableMedia>> {
    let sha = sha.to_ascii_lowercase();
    if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let row: Option<(String,)> = sqlx::query_as("SELECT mime FROM media WHERE sha256 = ?")
        .bind(&sha)
        .fetch_optional(&mut *c)
        .await?;
    let Some((stored,)) = row else {
        return Ok(None);
    };
    let ticket = if me.is_admin() {
        None
    } else {
        // Newest first: a file the pharmacy sent to many customers (a price list) is most
        // likely in a ticket the agent works now. Bounded, so a popular file costs little.
        let tickets: Vec<TicketId> = sqlx::query_scalar(
            "SELECT DISTINCT ticket_id FROM messages WHERE media_sha256 = ?
             ORDER BY ticket_id DESC LIMIT 50",
        )
        .bind(&sha)
        .fetch_all(&mut *c)
        .await?;
        let mut found = None;
        for t in tickets {
            if readable_ticket(c, me, t).await.is_ok() {
                found = Some(t);
                break;
            }
        }
        match found {
            Some(t) => Some(t),
            None => return Ok(None),
        }
    };
    let name: Option<String> = sqlx::query_scalar(
        "SELECT media_name FROM messages WHERE media_sha256 = ?1 AND media_name IS NOT NULL
           AND (?2 IS NULL OR ticket_id = ?2) ORDER BY id LIMIT 1",
    )
    .bind(&sha)
    .bind(ticket)
    .fetch_optional(&mut *c)
    .await?;
    Ok(Some(ReadableMedia {
        sha256: sha,
        mime: mime::normalise(&stored),
        name,
    }))
}

/// Whether the service holds the file with this content address: its row and its bytes.
pub async fn held(app: &App, sha: &str) -> ApiResult<bool> {
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(false);
    }
    let mut c = app.pool().acquire().await?;
    let row: Option<i64> = sqlx::query_scalar("SELECT 1 FROM media WHERE sha256 = ?")
        .bind(sha)
        .fetch_optional(&mut *c)
        .await?;
    drop(c);
    Ok(row.is_some() && tokio::fs::metadata(app.media_path(sha)).await.is_ok())
}

/// The Content-Security-Policy of every media answer but audio and video. Opened as a page of
/// its own, the file gets no script, plugin, form, fetch or frame, and an opaque origin
/// (`sandbox`), so even a file served inline by mistake could not read the session's CSRF
/// token. Nothing is added for images: a top-level image is drawn from the response itself,
/// not fetched again under the policy (checked in Chromium 156).
const CSP: &str = "default-src 'none'; sandbox";

/// Audio and video opened as a page of their own: the browser's player page fetches the file
/// again as a media source under this policy, so it needs `media-src 'self'`, and from an
/// opaque origin that fetch is a CORS request from `null` that never plays, so the sandbox
/// keeps the origin (`allow-same-origin`). Script stays off twice over (no `allow-scripts`,
/// no `script-src`). Checked in Chromium 156; the UI's own players are on the UI page, where
/// this policy does not apply.
const CSP_PLAYER: &str = "default-src 'none'; media-src 'self'; sandbox allow-same-origin";

/// Characters left as they are in an RFC 5987 `filename*` value (its `attr-char`).
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// The answer of `GET /api/media/{sha256}` for a readable file's bytes.
pub fn answer(m: &ReadableMedia, bytes: Vec<u8>) -> Response {
    let (content_type, disposition, csp) = if mime::is_inline(m.mime) {
        let csp = if m.mime.starts_with("image/") {
            CSP
        } else {
            CSP_PLAYER
        };
        (m.mime, None, csp)
    } else {
        let d = attachment(m.name.as_deref(), &m.sha256);
        (mime::OCTET_STREAM, Some(d), CSP)
    };
    let mut r = (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "private, max-age=86400"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, csp),
        ],
        bytes,
    )
        .into_response();
    if let Some(d) = disposition.and_then(|d| d.parse().ok()) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, d);
    }
    r
}

/// `attachment` with a file name every browser takes: an ASCII `filename` (what is not plain
/// ASCII becomes `_`; a name with nothing left becomes `file-<sha>`), and the real name, Arabic
/// included, as RFC 5987 `filename*` for the browsers that read it (all current ones).
pub fn attachment(name: Option<&str>, sha: &str) -> String {
    // The last path component, without control characters or quotes, no leading dots (a
    // hidden file) and not absurdly long.
    let name: String = name
        .unwrap_or("")
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(120)
        .collect();
    let name = name.trim().trim_start_matches('.').trim();
    let short = &sha[..sha.len().min(12)];
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " .-_()+,".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let (stem, ext) = match ascii.rsplit_once('.') {
        Some((s, e))
            if !e.is_empty() && e.len() <= 8 && e.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            (s, Some(e))
        }
        _ => (ascii.as_str(), None),
    };
    let fallback = if stem.chars().any(|c| c.is_ascii_alphanumeric()) {
        ascii.clone()
    } else {
        match ext {
            Some(e) => format!("file-{short}.{e}"),
            None => format!("file-{short}"),
        }
    };
    let full = if name.is_empty() {
        fallback.as_str()
    } else {
        name
    };
    format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        utf8_percent_encode(full, ATTR_CHAR)
    )
}

#[cfg(test)]
mod tests {
    use super::attachment;

    const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn attachment_names() {
        assert_eq!(
            attachment(Some("invoice.html"), SHA),
            "attachment; filename=\"invoice.html\"; filename*=UTF-8''invoice.html"
        );
        assert_eq!(
            attachment(Some("روشتة.pdf"), SHA),
            "attachment; filename=\"file-0123456789ab.pdf\"; \
             filename*=UTF-8''%D8%B1%D9%88%D8%B4%D8%AA%D8%A9.pdf"
        );
        assert_eq!(
            attachment(Some("..\\..\\a \"b\"\r\n.pdf"), SHA),
            "attachment; filename=\"a b.pdf\"; filename*=UTF-8''a%20b.pdf"
        );
        assert_eq!(
            attachment(Some("Mona روشتة 2.pdf"), SHA),
            "attachment; filename=\"Mona _____ 2.pdf\"; \
             filename*=UTF-8''Mona%20%D8%B1%D9%88%D8%B4%D8%AA%D8%A9%202.pdf"
        );
        assert_eq!(
            attachment(None, SHA),
            "attachment; filename=\"file-0123456789ab\"; filename*=UTF-8''file-0123456789ab"
        );
        assert_eq!(
            attachment(Some(".htaccess"), SHA),
            "attachment; filename=\"htaccess\"; filename*=UTF-8''htaccess"
        );
    }
}
