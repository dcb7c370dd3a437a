//! Media types (issue 18, Critical): the one rule for what a stored file's type is and whether
//! it may be shown inline on the service's origin.
//!
//! A customer, an agent's upload, an import file or the ingest webhook names a type; none of
//! them is trusted. [`normalise`] turns any of them into one of a few canonical strings, and
//! [`is_inline`] says which of those the browser may render on our origin: passive images,
//! audio and video only. A type that could carry script (HTML, SVG, XML, PDF, ...) is stored as
//! `application/octet-stream` and served as a download.

/// The type of anything not recognised.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// A WhatsApp voice note (the one parameter kept: WhatsApp marks push-to-talk audio with it).
pub const OGG_OPUS: &str = "audio/ogg; codecs=opus";

/// Canonical types a browser only ever renders as pixels or sound, with the spellings that
/// name the same thing. Served inline.
const INLINE: &[(&str, &[&str])] = &[
    ("image/jpeg", &["image/jpg", "image/pjpeg"]),
    ("image/png", &[]),
    ("image/webp", &[]),
    ("image/gif", &[]),
    (OGG_OPUS, &[]),
    ("audio/ogg", &[]),
    ("audio/mpeg", &["audio/mp3"]),
    ("audio/mp4", &["audio/x-m4a", "audio/m4a"]),
    ("video/mp4", &[]),
];

/// Canonical types kept by name but always served as a download: a PDF is the pharmacy's
/// invoice or a prescription, and WhatsApp shows a document by its type when an agent
/// forwards it, so the name is worth keeping; a PDF viewer on our origin is not (it runs
/// script).
const DOWNLOAD: &[&str] = &["application/pdf"];

/// The canonical form of a claimed media type: lowercased, parameters dropped (but an Ogg
/// file's `codecs=opus`), an alias mapped to its usual name; anything not in the short list
/// of known types becomes [`OCTET_STREAM`].
pub fn normalise(raw: &str) -> &'static str {
    let mut parts = raw.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    if essence == "audio/ogg" {
        let opus = parts.any(|p| {
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("codecs")
                    && v.trim().trim_matches('"').eq_ignore_ascii_case("opus")
            })
        });
        return if opus { OGG_OPUS } else { "audio/ogg" };
    }
    INLINE
        .iter()
        .find(|(canon, aliases)| *canon == essence || aliases.contains(&essence.as_str()))
        .map(|(canon, _)| *canon)
        .or_else(|| DOWNLOAD.iter().copied().find(|d| *d == essence))
        .unwrap_or(OCTET_STREAM)
}

/// Whether a file of this (claimed or stored) type may be rendered inline on the service's
/// origin. Decided from [`normalise`] of it, never from the string alone, so a row stored before
/// the rule existed (`text/html`) is still a download.
pub fn is_inline(mime: &str) -> bool {
    let canon = normalise(mime);
    INLINE.iter().any(|(c, _)| *c == canon)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passive_types_stay_inline() {
        assert_eq!(normalise("image/png"), "image/png");
        assert_eq!(normalise(" IMAGE/JPG ; q=1"), "image/jpeg");
        assert_eq!(normalise("audio/ogg; codecs=opus"), OGG_OPUS);
        assert_eq!(normalise("audio/OGG;Codecs=\"Opus\""), OGG_OPUS);
        assert_eq!(normalise("audio/ogg; codecs=vorbis"), "audio/ogg");
        assert_eq!(normalise("video/mp4; codecs=avc1"), "video/mp4");
        for m in [
            "image/jpeg",
            "image/webp",
            "image/gif",
            "audio/mpeg",
            "audio/mp4",
            OGG_OPUS,
        ] {
            assert!(is_inline(m), "{m}");
            assert_eq!(normalise(normalise(m)), normalise(m), "idempotent: {m}");
        }
    }

    #[test]
    fn active_or_unknown_types_are_downloads() {
        for m in [
            "text/html",
            "TEXT/HTML; charset=utf-8",
            "image/svg+xml",
            "application/xhtml+xml",
            "text/xml",
            "application/xml",
            "text/javascript",
            "application/x-shockwave-flash",
            "multipart/x-mixed-replace",
            "text/plain",
            "",
            "image",
            "image/png\r\nx-evil: 1",
        ] {
            assert_eq!(normalise(m), OCTET_STREAM, "{m:?}");
            assert!(!is_inline(m), "{m:?}");
        }
        assert_eq!(normalise("Application/PDF; name=x"), "application/pdf");
        assert!(!is_inline("application/pdf"));
    }
}
