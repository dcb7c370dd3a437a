//! The media store: attachments as files named by their SHA-256 under the media directory
//! (`ab/abcdef...`), written through the [`MediaDisk`] port so that a full disk can be
//! simulated where no small file system can be mounted.
//!
//! A file is written to `<name>.partial`, synced, then renamed: a crash or a full disk never
//! leaves a truncated file under its final name, and a failed write leaves nothing behind. A
//! file is read back only when its bytes still hash to its name: a damaged file (bit rot, a
//! bad restore) is reported as [`AppError::MediaCorrupt`] and raises one `media_corrupt`
//! admin alert; the messages that carry it are kept.

use super::events::LiveEvent;
use super::{App, AppError};
use crate::db;
use sha2::Digest;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where media bytes are written (the local file system; tests inject a full one).
pub trait MediaDisk: Send + Sync + 'static {
    /// Writes `bytes` as the new file `path` (its folder exists) and syncs it to the disk.
    fn write_new(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()>;
}

/// The local file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalDisk;

impl MediaDisk for LocalDisk {
    fn write_new(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let mut f = std::fs::File::create(path)?;
        f.write_all(bytes)?;
        // Synced before the rename and before the database names the file, so a power cut
        // cannot leave a row pointing at an empty file.
        f.sync_all()
    }
}

/// Whether an I/O failure means the disk (or the user's quota) is full.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

impl App {
    /// Replaces the file system media are written to (tests: a disk that is full).
    pub fn set_media_disk(&self, disk: std::sync::Arc<dyn MediaDisk>) {
        *self
            .inner
            .media_disk
            .write()
            .unwrap_or_else(|p| p.into_inner()) = disk;
    }

    fn media_disk(&self) -> std::sync::Arc<dyn MediaDisk> {
        self.inner
            .media_disk
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stores media bytes content-addressed under the media directory and returns the SHA-256
    /// hex. Writing the same bytes twice stores them once; a damaged copy already there is
    /// replaced. A full disk is an [`AppError::Io`] that [`is_disk_full`] recognises, with
    /// nothing written.
    pub async fn store_media(&self, bytes: &[u8], mime: &str) -> Result<String, AppError> {
        let sha = sha256_hex(bytes);
        let path = self.media_path(&sha);
        let sound = match tokio::fs::read(&path).await {
            Ok(held) => sha256_hex(&held) == sha,
            Err(_) => false,
        };
        if !sound {
            let disk = self.media_disk();
            let owned = bytes.to_vec();
            let target = path.clone();
            let written = tokio::task::spawn_blocking(move || write_file(&*disk, &target, &owned))
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))
                .and_then(|r| r);
            match written {
                Err(e) if is_disk_full(&e) => {
                    self.media_disk_filled(&e).await;
                    return Err(e.into());
                }
                Err(e) => return Err(e.into()),
                Ok(()) => self.media_disk_has_space(),
            }
        }
        let mut c = self.read().await?;
        db::messages::insert_media(&mut c, &sha, mime, bytes.len() as i64, self.now()).await?;
        Ok(sha)
    }

    /// Whether the last media write found the disk full (cleared by the next write that
    /// succeeds): `GET /readyz` reports it.
    pub fn media_disk_full(&self) -> bool {
        self.inner
            .media_disk_full
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The first full-disk write of an episode raises one `media_disk_full` admin alert (the
    /// database usually lives elsewhere or still has room for a row).
    async fn media_disk_filled(&self, e: &std::io::Error) {
        use std::sync::atomic::Ordering;
        if self.inner.media_disk_full.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::error!(error = %e, "the media disk is full: attachments wait until space returns");
        let now = self.now();
        let raised = async {
            let mut c = self.read().await?;
            let alert = db::activity::raise(
                &mut c,
                "media_disk_full",
                "The media disk is full: attachments cannot be saved. Incoming ones wait and are downloaded once there is space; uploads are refused until then",
                Some(&serde_json::json!({ "error": e.to_string() })),
                now,
            )
            .await?;
            Ok::<_, AppError>(alert)
        }
        .await;
        match raised {
            Ok(alert) => {
                self.events().publish(now, LiveEvent::AdminAlert { alert });
            }
            Err(e) => tracing::warn!(error = %e, "could not record the media disk alert"),
        }
    }

    fn media_disk_has_space(&self) {
        if self
            .inner
            .media_disk_full
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            tracing::info!("the media disk has space again");
        }
    }

    /// Where the media file with this content address lives.
    pub fn media_path(&self, sha256: &str) -> PathBuf {
        let safe: String = sha256.chars().filter(|c| c.is_ascii_hexdigit()).collect();
        let prefix: String = safe.chars().take(2).collect();
        self.config().media_dir.join(prefix).join(safe)
    }

    /// The bytes of the stored file `sha256` (lowercase hex), checked against its name: `None`
    /// when there is no file (never stored, or deleted by retention). A file whose bytes no
    /// longer hash to its name is [`AppError::MediaCorrupt`], reported once as a
    /// `media_corrupt` admin alert.
    pub async fn read_media(&self, sha256: &str) -> Result<Option<Vec<u8>>, AppError> {
        let path = self.media_path(sha256);
        let bytes = match tokio::fs::read(&path).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if sha256_hex(&bytes) == sha256 {
            return Ok(Some(bytes));
        }
        tracing::error!(sha256, path = %path.display(), "a stored media file is damaged");
        if let Err(e) = self.report_corrupt(sha256).await {
            tracing::warn!(error = %e, "could not record the damaged media file");
        }
        Err(AppError::MediaCorrupt(sha256.to_owned()))
    }

    /// One open `media_corrupt` alert per file, naming the messages that carry it.
    async fn report_corrupt(&self, sha256: &str) -> Result<(), AppError> {
        let mut tx = self.begin().await?;
        let open: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM admin_alerts WHERE kind = 'media_corrupt' AND acknowledged_at IS NULL
               AND json_extract(details_json, '$.sha256') = ?",
        )
        .bind(sha256)
        .fetch_optional(&mut *tx)
        .await?;
        if open.is_some() {
            return Ok(());
        }
        let messages: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM messages WHERE media_sha256 = ? ORDER BY id LIMIT 20",
        )
        .bind(sha256)
        .fetch_all(&mut *tx)
        .await?;
        let now = self.now();
        let alert = db::activity::raise(
            &mut tx,
            "media_corrupt",
            "A stored attachment is damaged (its SHA-256 does not match); restore it from a backup",
            Some(&serde_json::json!({ "sha256": sha256, "messages": messages })),
            now,
        )
        .await?;
        tx.commit().await?;
        self.events().publish(now, LiveEvent::AdminAlert { alert });
        Ok(())
    }
}

/// Writes `bytes` under `path` through `<path>.partial`, removing the partial file on failure.
fn write_file(disk: &dyn MediaDisk, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("partial");
    let written = disk
        .write_new(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}
