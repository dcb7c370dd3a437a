//! The import boundary's error: what stopped a run (nothing was written when it is returned).
//! Rows that cannot be mapped are not errors; they are listed in the report.

use std::path::PathBuf;

/// Why an import run stopped. A real run returns this only after rolling back.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The Django database file could not be opened read-only.
    #[error("cannot open the Django database {path}: {source}")]
    OpenSource {
        /// The `--from` path.
        path: PathBuf,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// There is no file at the `--from` path.
    #[error("the Django database {path} does not exist")]
    SourceMissing {
        /// The `--from` path.
        path: PathBuf,
    },
    /// The directory of the service database could not be created.
    #[error("creating {path}: {source}")]
    TargetDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file opened but has none of the tables the import reads.
    #[error("{path} does not look like the Django system's database: no table {table}")]
    NotDjango {
        /// The `--from` path.
        path: PathBuf,
        /// The first required table that is missing.
        table: String,
    },
    /// Reading a Django table failed.
    #[error("reading Django table {table}: {source}")]
    Read {
        /// The table.
        table: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// Writing one mapped row failed (the whole run was rolled back).
    #[error("writing {entity} from Django {source_table} id {source_id}: {source}")]
    Write {
        /// The service entity (`tickets`, `messages`...).
        entity: &'static str,
        /// The Django table the row came from.
        source_table: String,
        /// Its primary key.
        source_id: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A statement on the service database outside any one row failed.
    #[error("service database ({step}): {source}")]
    Target {
        /// What was being done.
        step: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// Opening or migrating the service database failed.
    #[error("service database: {0}")]
    App(#[from] crate::app::AppError),
    /// Writing a media file into the content-addressed store failed (missing source files
    /// are not errors: they are reported).
    #[error("storing media file {path}: {source}")]
    Media {
        /// The store path being written.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The throw-away copy a dry run works on could not be made or removed.
    #[error("dry-run copy {path}: {message}")]
    Snapshot {
        /// The copy's path.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The configured source time zone is unknown.
    #[error("unknown time zone {zone:?} for the Django timestamps")]
    TimeZone {
        /// The zone name given.
        zone: String,
    },
}

/// Attaches the row a failed write was for.
pub(crate) trait WriteContext<T> {
    /// Wraps a driver error as [`ImportError::Write`].
    fn row(self, entity: &'static str, table: &str, id: &str) -> Result<T, ImportError>;
    /// Wraps a driver error as [`ImportError::Target`].
    fn step(self, step: &'static str) -> Result<T, ImportError>;
}

impl<T> WriteContext<T> for Result<T, sqlx::Error> {
    fn row(self, entity: &'static str, table: &str, id: &str) -> Result<T, ImportError> {
        self.map_err(|source| ImportError::Write {
            entity,
            source_table: table.to_owned(),
            source_id: id.to_owned(),
            source,
        })
    }

    fn step(self, step: &'static str) -> Result<T, ImportError> {
        self.map_err(|source| ImportError::Target { step, source })
    }
}
