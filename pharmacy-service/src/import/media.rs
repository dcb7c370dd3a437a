//! Media files referenced by Django messages: read from `--media-dir` and written into the
//! service's content-addressed store (`media/ab/abcdef...`). A file that is missing does not
//! stop the import: the message comes in without it and the report lists the file.

use super::context::Ctx;
use super::error::{ImportError, WriteContext};
use super::mapping::mime_from_name;
use crate::db;
use crate::domain::mime;
use std::path::PathBuf;

/// What became of a message's file.
pub(crate) enum Media {
    /// In the store.
    Stored {
        /// Content address.
        sha256: String,
        /// Media type.
        mime: String,
        /// Original file name.
        name: String,
    },
    /// Not copied.
    NotCopied {
        /// Original file name.
        name: String,
        /// Why.
        reason: String,
    },
}

/// The path inside the media directory a Django `FileField` value or media URL names, as
/// path components; `None` if it tries to leave the directory.
pub fn relative_components(stored: &str) -> Option<Vec<String>> {
    let mut s = stored.trim();
    for scheme in ["http://", "https://"] {
        if let Some(rest) = s.strip_prefix(scheme) {
            s = rest.split_once('/').map_or("", |(_, p)| p);
        }
    }
    let s = s.split(['?', '#']).next().unwrap_or("");
    let mut out = Vec::new();
    for part in s.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return None,
            p if p.contains(':') => return None,
            p => out.push(p.to_owned()),
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Brings one referenced file into the store (on dry runs: reads and hashes it only).
pub(crate) async fn bring(
    ctx: &mut Ctx,
    stored: &str,
    mime_hint: Option<&str>,
) -> Result<Media, ImportError> {
    let name = stored
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(stored)
        .to_owned();
    let not_copied = |reason: &str| Media::NotCopied {
        name: name.clone(),
        reason: reason.to_owned(),
    };
    let Some(dir) = ctx.media.dir.clone() else {
        return Ok(not_copied("no --media-dir given"));
    };
    let Some(parts) = relative_components(stored) else {
        return Ok(not_copied("unsafe path"));
    };
    let mut candidates: Vec<PathBuf> = vec![parts.iter().fold(dir.clone(), |p, c| p.join(c))];
    if parts.len() > 1 && parts[0] == "media" {
        candidates.push(parts[1..].iter().fold(dir.clone(), |p, c| p.join(c)));
    }
    let mut bytes = None;
    for c in &candidates {
        if let Ok(b) = tokio::fs::read(c).await {
            bytes = Some(b);
            break;
        }
    }
    let Some(bytes) = bytes else {
        return Ok(not_copied("not found"));
    };
    use sha2::Digest;
    let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
    let mime = mime::normalise(mime_hint.unwrap_or_else(|| mime_from_name(&name))).to_owned();
    if ctx.media.copy {
        let path = ctx.app.media_path(&sha256);
        if tokio::fs::metadata(&path).await.is_err() {
            let err = |source| ImportError::Media {
                path: path.clone(),
                source,
            };
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(parent).await.map_err(err)?;
            }
            // Write then rename: a crash never leaves a truncated file under the final name.
            let tmp = path.with_extension("partial");
            tokio::fs::write(&tmp, &bytes).await.map_err(err)?;
            tokio::fs::rename(&tmp, &path).await.map_err(err)?;
        }
    }
    let existed: bool = sqlx::query_scalar("SELECT count(*) > 0 FROM media WHERE sha256 = ?")
        .bind(&sha256)
        .fetch_one(&mut *ctx.tx)
        .await
        .step("reading media")?;
    db::messages::insert_media(&mut ctx.tx, &sha256, &mime, bytes.len() as i64, ctx.now)
        .await
        .step("recording media")?;
    let c = ctx.report.counts("media_files");
    if existed {
        c.merged += 1;
    } else {
        c.imported += 1;
    }
    Ok(Media::Stored { sha256, mime, name })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_paths() {
        let v = |s: &str| relative_components(s).map(|p| p.join("/"));
        assert_eq!(
            v("messages/2025/03/a.jpg").as_deref(),
            Some("messages/2025/03/a.jpg")
        );
        assert_eq!(
            v("/media/messages/a.jpg").as_deref(),
            Some("media/messages/a.jpg")
        );
        assert_eq!(
            v("http://localhost:8000/media/messages/a.jpg?x=1").as_deref(),
            Some("media/messages/a.jpg")
        );
        assert_eq!(v("messages\\a.ogg").as_deref(), Some("messages/a.ogg"));
        assert_eq!(v("../etc/passwd"), None);
        assert_eq!(v("C:/x.jpg"), None);
        assert_eq!(v(""), None);
    }
}
