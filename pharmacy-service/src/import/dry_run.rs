//! The throw-away database a dry run imports into: a consistent copy of the service database
//! (when there is one) in a new directory with a random name that only this account can
//! enter (0700 on Unix; the database and its WAL/SHM files 0600), removed with everything in
//! it when the [`DryRunCopy`] drops, on success, error or panic alike.
//!
//! The directory is made by `tempfile`, which creates it exclusively (a name someone else
//! guessed and created first is never used).

use super::error::ImportError;
use std::path::{Path, PathBuf};

/// The copy's file name in its directory.
const DB_NAME: &str = "pharmacy.db";

/// A private scratch copy of the service database, deleted on drop.
#[derive(Debug)]
pub(crate) struct DryRunCopy {
    dir: tempfile::TempDir,
    db: PathBuf,
}

impl DryRunCopy {
    /// A new private directory under `root` holding an empty 0600 database file, then filled
    /// with a snapshot of `target` when that exists.
    pub(crate) async fn create_in(root: &Path, target: &Path) -> Result<DryRunCopy, ImportError> {
        let fail = |path: &Path, e: std::io::Error| ImportError::Snapshot {
            path: path.to_owned(),
            message: e.to_string(),
        };
        let mut builder = tempfile::Builder::new();
        builder.prefix("pharmacy-import-dry-run-");
        #[cfg(unix)]
        {
            // tempfile makes directories with the process's default mode (0755 under the
            // usual umask): ask for 0700.
            use std::os::unix::fs::PermissionsExt as _;
            builder.permissions(std::fs::Permissions::from_mode(0o700));
        }
        let dir = builder.tempdir_in(root).map_err(|e| fail(root, e))?;
        let db = dir.path().join(DB_NAME);
        // Created empty and private before SQLite opens it: SQLite gives the WAL and SHM
        // files the database file's permissions, and `VACUUM INTO` accepts an empty file.
        let mut file = std::fs::OpenOptions::new();
        file.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            file.mode(0o600);
        }
        file.open(&db).map_err(|e| fail(&db, e))?;
        let copy = DryRunCopy { dir, db };
        if target.is_file() {
            snapshot(target, &copy.db).await?;
        }
        Ok(copy)
    }

    /// The copy's database file.
    pub(crate) fn db(&self) -> &Path {
        &self.db
    }

    /// Where media would go (inside the private directory; a dry run writes none).
    pub(crate) fn media_dir(&self) -> PathBuf {
        self.dir.path().join("media")
    }
}

/// A consistent copy of a live database, made through a read-only connection.
async fn snapshot(target: &Path, copy: &Path) -> Result<(), ImportError> {
    use sqlx::{ConnectOptions, Connection};
    let fail = |e: sqlx::Error| ImportError::Snapshot {
        path: copy.to_owned(),
        message: e.to_string(),
    };
    let mut c = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(target)
        .read_only(true)
        .connect()
        .await
        .map_err(fail)?;
    sqlx::query("VACUUM INTO ?")
        .bind(copy.to_string_lossy().into_owned())
        .execute(&mut c)
        .await
        .map_err(fail)?;
    c.close().await.map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_root(name: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!(
            "pharmacy-dry-run-test-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        root
    }

    fn entries(dir: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    }

    #[tokio::test]
    async fn the_copy_is_private_randomly_named_and_removed_on_drop() {
        let root = scratch_root("private");
        let target = root.join("no-such.db");
        let a = DryRunCopy::create_in(&root, &target).await.unwrap();
        let b = DryRunCopy::create_in(&root, &target).await.unwrap();
        let dir = a.db().parent().unwrap().to_owned();
        assert_ne!(dir, b.db().parent().unwrap(), "a new name each run");
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.len() > "pharmacy-import-dry-run-".len(), "{name}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(mode(a.db()), 0o600);
        }
        // What SQLite leaves beside the database goes with it.
        std::fs::write(dir.join("pharmacy.db-wal"), b"x").unwrap();
        drop((a, b));
        assert!(entries(&root).is_empty(), "{:?}", entries(&root));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[tokio::test]
    async fn a_failed_dry_run_leaves_nothing_behind() {
        let root = scratch_root("failed");
        let target = root.join("service.db");
        let source = root.join("not-django.sqlite3");
        std::fs::write(&source, b"").unwrap();
        let config = crate::app::ServiceConfig {
            media_dir: root.join("media"),
            ..crate::app::ServiceConfig::default()
        };
        let app = crate::app::App::open(
            &target,
            std::sync::Arc::new(crate::app::SystemClock),
            config.clone(),
        )
        .await
        .unwrap();
        app.pool().close().await;
        let opts = super::super::ImportOptions {
            dry_run: true,
            ..super::super::ImportOptions::new(&source)
        };
        let r = super::super::dry_run_in(
            &root,
            &target,
            config,
            std::sync::Arc::new(crate::app::SystemClock),
            &opts,
        )
        .await;
        assert!(r.is_err(), "an empty file is no Django database");
        let left: Vec<_> = entries(&root)
            .into_iter()
            .filter(|p| p.to_string_lossy().contains("pharmacy-import-dry-run-"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
