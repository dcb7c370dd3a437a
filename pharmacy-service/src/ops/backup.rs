//! Online backup and offline restore of a data directory.
//!
//! A backup folder holds `pharmacy.db` and `whatsapp-session.db` (each a consistent snapshot
//! taken with SQLite's `VACUUM INTO` while the service may be running), `media/` and, written
//! last, `manifest.json` (sizes and SHA-256 of every file). The databases are copied before the
//! media: media files are written before the message that names them commits and are never
//! changed (content-addressed), so every file the copied database names is in the set.
//!
//! Restore needs the service stopped (it takes the data directory's [`InstanceLock`]), checks
//! every file against the manifest, moves the current databases aside into
//! `pre-restore-<time>/`, then copies the backup in. The WhatsApp session store is NOT
//! restored by default: an old store holds encryption sessions that the number has moved past
//! since, and chats with them break; the restored service re-pairs (or keeps the session store
//! already in the data directory). `keep_session` restores it anyway.

use crate::ops::config::{DB_FILE, MEDIA_DIR, SESSION_FILE};
use crate::ops::lock::{InstanceLock, LockError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::ConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The manifest's file name in a backup folder.
pub const MANIFEST: &str = "manifest.json";

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version of the backup folder (1).
    pub format: u32,
    /// When it was taken (RFC 3339, UTC).
    pub created_at: String,
    /// The service version that took it.
    pub service_version: String,
    /// Every file, relative to the backup folder, with `/` separators.
    pub files: Vec<ManifestFile>,
    /// Media files whose bytes no longer hash to their name (`media/ab/abcd...`): copied as
    /// they are, and reported, since the backup is the moment someone looks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub damaged: Vec<String>,
}

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Relative path (`pharmacy.db`, `media/ab/abcd...`).
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestoreReport {
    /// Files copied in.
    pub files: usize,
    /// Where the replaced databases went (`None` when there were none).
    pub moved_aside: Option<PathBuf>,
    /// The backup's session store was restored.
    pub session_restored: bool,
    /// The number must be paired again (no session store in the data directory now).
    pub repair_needed: bool,
}

/// Why a backup or restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Files.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// SQLite refused the snapshot.
    #[error("snapshot of {path}: {source}")]
    Sqlite {
        /// The database.
        path: PathBuf,
        /// Why.
        source: sqlx::Error,
    },
    /// The target folder exists and is not empty.
    #[error("{0} exists and is not empty")]
    TargetNotEmpty(PathBuf),
    /// The data directory has no service database.
    #[error("no {DB_FILE} in {0}")]
    NoDatabase(PathBuf),
    /// The backup folder has no manifest, or not a readable one.
    #[error("{path} is not a complete backup: {reason}")]
    BadManifest {
        /// The backup folder.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file differs from its manifest entry.
    #[error("{path} does not match the manifest ({reason})")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Size or hash.
        reason: String,
    },
    /// The service runs on the data directory.
    #[error("stop the service first: {0}")]
    Running(#[from] LockError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Backs `data_dir` up into the new folder `to` (created; an existing empty folder is fine)
/// while the service may be running.
pub async fn backup(data_dir: &Path, to: &Path) -> Result<Manifest, BackupError> {
    let db = data_dir.join(DB_FILE);
    if !db.is_file() {
        return Err(BackupError::NoDatabase(data_dir.to_path_buf()));
    }
    if to.exists() {
        let mut entries = std::fs::read_dir(to).map_err(io(to))?;
        if entries.next().is_some() {
            return Err(BackupError::TargetNotEmpty(to.to_path_buf()));
        }
    }
    std::fs::create_dir_all(to).map_err(io(to))?;
    let mut files = Vec::new();
    for name in [DB_FILE, SESSION_FILE] {
        let src = data_dir.join(name);
        if !src.is_file() {
            continue;
        }
        let dst = to.join(name);
        snapshot(&src, &dst).await?;
        files.push(hash_file(&dst, name.to_owned())?);
    }
    let media = data_dir.join(MEDIA_DIR);
    let mut damaged = Vec::new();
    for (src, rel) in walk(&media)? {
        // A write cut short (`.partial`) is no file of the service's.
        if rel.extension().is_some_and(|e| e == "partial") {
            continue;
        }
        let dst = to.join(MEDIA_DIR).join(&rel);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let f = copy_hashing(&src, Some(&dst), media_name(&rel))?;
        // Media are named by their SHA-256 (`App::media_path`).
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase());
        if name.is_some_and(|n| n.len() == 64 && n != f.sha256) {
            tracing::error!(file = %f.path, "a media file is damaged: its SHA-256 is not its name");
            damaged.push(f.path.clone());
        }
        files.push(f);
    }
    let manifest = Manifest {
        format: 1,
        created_at: jiff::Timestamp::now().to_string(),
        service_version: env!("CARGO_PKG_VERSION").to_owned(),
        files,
        damaged,
    };
    // Written last: a folder without a manifest is an interrupted backup.
    let path = to.join(MANIFEST);
    let text = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    write_synced(&path, &text)?;
    Ok(manifest)
}

/// Restores the backup folder `from` into `data_dir` (created when missing). Fails while a
/// service runs on `data_dir`, and before touching anything when a file of the backup does not
/// match its manifest.
pub async fn restore(
    data_dir: &Path,
    from: &Path,
    keep_session: bool,
) -> Result<RestoreReport, BackupError> {
    let manifest = read_manifest(from)?;
    verify(from, &manifest)?;
    std::fs::create_dir_all(data_dir).map_err(io(data_dir))?;
    let lock = InstanceLock::acquire(data_dir).await?;

    let restore_session = keep_session && manifest.files.iter().any(|f| f.path == SESSION_FILE);
    let mut replaced = vec![DB_FILE];
    if restore_session {
        replaced.push(SESSION_FILE);
    }
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let aside = data_dir.join(format!("pre-restore-{stamp}"));
    let mut moved = false;
    for name in replaced {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let file = format!("{name}{suffix}");
            let src = data_dir.join(&file);
            if src.exists() {
                std::fs::create_dir_all(&aside).map_err(io(&aside))?;
                std::fs::rename(&src, aside.join(&file)).map_err(io(&src))?;
                moved = true;
            }
        }
    }
    let mut count = 0;
    for f in &manifest.files {
        if f.path == SESSION_FILE && !restore_session {
            continue;
        }
        let src = from.join(rel_path(&f.path));
        let dst = data_dir.join(rel_path(&f.path));
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::copy(&src, &dst).map_err(io(&src))?;
        count += 1;
    }
    // Released before returning, so a service started right after (even in this process)
    // finds the directory free.
    lock.release().await;
    Ok(RestoreReport {
        files: count,
        moved_aside: moved.then_some(aside),
        session_restored: restore_session,
        repair_needed: !data_dir.join(SESSION_FILE).is_file(),
    })
}

/// Reads and parses `from/manifest.json`.
pub fn read_manifest(from: &Path) -> Result<Manifest, BackupError> {
    let bad = |reason: String| BackupError::BadManifest {
        path: from.to_path_buf(),
        reason,
    };
    let text = std::fs::read(from.join(MANIFEST)).map_err(|e| bad(e.to_string()))?;
    let m: Manifest = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
    if m.format != 1 {
        return Err(bad(format!("unknown format {}", m.format)));
    }
    if !m.files.iter().any(|f| f.path == DB_FILE) {
        return Err(bad(format!("no {DB_FILE}")));
    }
    if let Some(f) = m.files.iter().find(|f| !safe_relative(&f.path)) {
        return Err(bad(format!("unsafe path {}", f.path)));
    }
    Ok(m)
}

/// Checks every file's size and hash.
pub fn verify(from: &Path, manifest: &Manifest) -> Result<(), BackupError> {
    for f in &manifest.files {
        let path = from.join(rel_path(&f.path));
        let got = hash_file(&path, f.path.clone())?;
        if got.bytes != f.bytes || got.sha256 != f.sha256 {
            return Err(BackupError::Corrupt {
                path,
                reason: format!(
                    "{} bytes, sha256 {} (manifest: {} bytes, {})",
                    got.bytes, got.sha256, f.bytes, f.sha256
                ),
            });
        }
    }
    Ok(())
}

/// A consistent copy of the database at `src` into `dst` (`VACUUM INTO`: one read
/// transaction, so concurrent writers of a WAL database are neither blocked nor half-seen).
async fn snapshot(src: &Path, dst: &Path) -> Result<(), BackupError> {
    let err = |source| BackupError::Sqlite {
        path: src.to_path_buf(),
        source,
    };
    let mut conn = SqliteConnectOptions::new()
        .filename(src)
        .read_only(true)
        .busy_timeout(std::time::Duration::from_secs(30))
        .disable_statement_logging()
        .connect()
        .await
        .map_err(err)?;
    sqlx::query("VACUUM INTO ?")
        .bind(dst.to_string_lossy().into_owned())
        .execute(&mut conn)
        .await
        .map_err(err)?;
    Ok(())
}

/// Regular files under `dir` with their paths relative to it (empty when `dir` is missing).
fn walk(dir: &Path) -> Result<Vec<(PathBuf, PathBuf)>, BackupError> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let d = dir.join(&rel);
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(&d)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io(&d))?;
            let kind = entry.file_type().map_err(io(&d))?;
            let r = rel.join(entry.file_name());
            if kind.is_dir() {
                stack.push(r);
            } else if kind.is_file() {
                out.push((entry.path(), r));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `media/<rel>` with `/` separators on every platform.
fn media_name(rel: &Path) -> String {
    let mut s = MEDIA_DIR.to_owned();
    for c in rel.components() {
        s.push('/');
        s.push_str(&c.as_os_str().to_string_lossy());
    }
    s
}

/// A manifest path (`/`-separated) as a native relative path.
fn rel_path(p: &str) -> PathBuf {
    p.split('/').collect()
}

/// No absolute paths, no `..`: a manifest cannot write outside the data directory.
fn safe_relative(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && !p.contains('\\')
        && !p.contains(':')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

fn hash_file(path: &Path, name: String) -> Result<ManifestFile, BackupError> {
    copy_hashing(path, None, name)
}

/// Reads `src` once, hashing it and (when `dst` is given) writing a synced copy.
fn copy_hashing(src: &Path, dst: Option<&Path>, name: String) -> Result<ManifestFile, BackupError> {
    let mut input = std::fs::File::open(src).map_err(io(src))?;
    let mut output = match dst {
        Some(d) => Some((std::fs::File::create(d).map_err(io(d))?, d)),
        None => None,
    };
    let mut h = Sha256::new();
    let mut buf = vec![0; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = input.read(&mut buf).map_err(io(src))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        if let Some((out, d)) = &mut output {
            out.write_all(&buf[..n]).map_err(io(d))?;
        }
        bytes += n as u64;
    }
    if let Some((out, d)) = output {
        out.sync_all().map_err(io(d))?;
    }
    Ok(ManifestFile {
        path: name,
        bytes,
        sha256: hex::encode(h.finalize()),
    })
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    let mut f = std::fs::File::create(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}
