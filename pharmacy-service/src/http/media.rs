//! Stored media (issue 18, Critical): how a file is answered so that nothing a customer or an
//! agent sent ever runs on the service's origin (who may read it is `App::readable_media`).
//!
//! Only passive images, audio and video (see [`crate::domain::mime`]) are answered inline, with
//! their canonical type; everything else is `application/octet-stream` as an attachment. Every
//! answer is `nosniff` and carries a Content-Security-Policy that lets nothing load or run.

use crate::app::ReadableMedia;
use crate::domain::mime;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

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
