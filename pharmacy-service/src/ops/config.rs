//! The binary's configuration: command-line flags (clap), environment variables
//! (`PHARMACY_*`), a TOML file and compiled defaults, in that order of precedence.
//!
//! clap reads a flag or, when the flag is absent, its environment variable; [`FileConfig`]
//! fills what neither gave; [`Settings::resolve`] applies the defaults. The file is the one
//! named by `--config` / `PHARMACY_CONFIG`, or `pharmacy-service.toml` in the working
//! directory when that exists.
//!
//! ```
//! use clap::Parser;
//! use pharmacy_service::ops::config::{Cli, Command, FileConfig, Settings};
//! let cli = Cli::try_parse_from(["pharmacy-service", "serve", "--port", "9000"]).unwrap();
//! let Some(Command::Serve(args)) = cli.command else { unreachable!() };
//! let file: FileConfig = toml::from_str("port = 8000\nmedia_retention_days = 30").unwrap();
//! let s = Settings::resolve(&args, Some(file));
//! assert_eq!((s.port, s.media_retention_days), (9000, 30));
//! ```

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

/// The file read when no `--config` is given and it exists in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "pharmacy-service.toml";

/// `pharmacy-service [COMMAND]` (no command = `serve`).
#[derive(Debug, Parser)]
#[command(
    name = "pharmacy-service",
    version,
    about = "Khalifa Pharmacies' WhatsApp conversation-management service"
)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service (the real WhatsApp, or the server given by --wa-url).
    Serve(ServeArgs),
    /// The whole system on an embedded simulated WhatsApp, with simulated customers and agents
    /// (in builds with the `demo` feature, the default).
    #[cfg(feature = "demo")]
    Demo(DemoArgs),
    /// Create or upgrade the database, then exit.
    Migrate(CommonArgs),
    /// Add the demo branches, templates and logins (prints the logins as JSON).
    Seed(CommonArgs),
    /// Import the old Django system's database.
    #[command(name = "import-django")]
    ImportDjango(ImportArgs),
    /// Copy both databases and the media, online, into a new backup folder.
    Backup(BackupArgs),
    /// Restore a backup folder into the data directory (the service must be stopped).
    Restore(RestoreArgs),
    /// Print the effective configuration of `serve` as JSON (secrets masked).
    #[command(name = "show-config")]
    ShowConfig(ServeArgs),
}

/// Flags every command over the production data directory takes.
#[derive(Debug, Clone, Default, Args)]
pub struct CommonArgs {
    /// Configuration file (TOML); default ./pharmacy-service.toml when it exists.
    #[arg(long, env = "PHARMACY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the databases and media live (default ./data).
    #[arg(long, env = "PHARMACY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Log one JSON object per line on stderr.
    #[arg(long, env = "PHARMACY_LOG_JSON", num_args = 0..=1, default_missing_value = "true",
          value_parser = BoolishValueParser::new(), value_name = "BOOL")]
    pub log_json: Option<bool>,
    /// Log filter (`info`, `debug`, `pharmacy_service=debug,info`...); RUST_LOG wins.
    #[arg(long, env = "PHARMACY_LOG", value_name = "FILTER")]
    pub log: Option<String>,
}

/// `serve` (and `show-config`).
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Data directory, configuration file, logs.
    #[command(flatten)]
    pub common: CommonArgs,
    /// HTTP port (0 picks a free one; default 8080).
    #[arg(long, env = "PHARMACY_PORT")]
    pub port: Option<u16>,
    /// Address to listen on (default 127.0.0.1). Any other address needs --behind-proxy: the
    /// service speaks plain HTTP, so the branches' PCs reach it through a TLS reverse proxy.
    #[arg(long, env = "PHARMACY_BIND", value_name = "IP")]
    pub bind: Option<IpAddr>,
    /// A WhatsApp-compatible server (e.g. a whatsapp-sim); default the real WhatsApp.
    #[arg(
        long = "wa-url",
        alias = "whatsapp-url",
        env = "PHARMACY_WA_URL",
        value_name = "URL"
    )]
    pub wa_url: Option<String>,
    /// That server's certificate root (64 hex digits).
    #[arg(long, env = "PHARMACY_TRUST_ROOT", value_name = "HEX")]
    pub trust_root: Option<String>,
    /// Where media downloads go (a sim serves them on its WebSocket port by default).
    #[arg(long, env = "PHARMACY_MEDIA_URL", value_name = "URL")]
    pub media_url: Option<String>,
    /// The WhatsApp Web version to announce (`2.3000.N`), as is: nothing is fetched. By
    /// default the current one is read from `wa_version_url`.
    #[arg(long, env = "PHARMACY_WA_VERSION", value_name = "VERSION")]
    pub wa_version: Option<String>,
    /// The WhatsApp Web page the current version is read from, at start and after WhatsApp
    /// refuses the version (default web.whatsapp.com's; a sim serves one on its WebSocket port).
    #[arg(long, env = "PHARMACY_WA_VERSION_URL", value_name = "URL")]
    pub wa_version_url: Option<String>,
    /// Delete media files older than this many days (0 keeps them forever, the default).
    #[arg(long, env = "PHARMACY_MEDIA_RETENTION_DAYS", value_name = "DAYS")]
    pub media_retention_days: Option<u32>,
    /// Delete webhook deliveries finished (delivered or failed for good) more than this many
    /// days ago (default 30; 0 keeps them forever). Pending ones are always kept.
    #[arg(long, env = "PHARMACY_WEBHOOK_LOG_DAYS", value_name = "DAYS")]
    pub webhook_log_days: Option<u32>,
    /// The largest attachment downloaded from WhatsApp, in MiB (default 100); larger ones are
    /// shown as "too large to download".
    #[arg(long, env = "PHARMACY_MEDIA_MAX_MB", value_name = "MIB")]
    pub media_max_mb: Option<u64>,
    /// First run only: the `admin` login's password (prefer the environment variable or the
    /// file; default a random one, printed once).
    #[arg(
        long,
        env = "PHARMACY_ADMIN_PASSWORD",
        hide_env_values = true,
        value_name = "PW"
    )]
    pub admin_password: Option<String>,
    /// Shared secret for signed posts to /api/messages/receive (off when unset).
    #[arg(
        long,
        env = "PHARMACY_INGEST_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub ingest_secret: Option<String>,
    /// Mark session cookies Secure (behind HTTPS; --behind-proxy implies it).
    #[arg(long, env = "PHARMACY_SECURE_COOKIES", num_args = 0..=1, default_missing_value = "true",
          value_parser = BoolishValueParser::new(), value_name = "BOOL")]
    pub secure_cookies: Option<bool>,
    /// A reverse proxy terminates TLS in front of the service: session cookies are Secure,
    /// the login throttle trusts the proxy's X-Forwarded-For (its rightmost entry), and
    /// --bind may name a non-loopback address (default false).
    #[arg(long, env = "PHARMACY_BEHIND_PROXY", num_args = 0..=1, default_missing_value = "true",
          value_parser = BoolishValueParser::new(), value_name = "BOOL")]
    pub behind_proxy: Option<bool>,
    /// A browser session ends after this many minutes without a request (default 30).
    #[arg(long, env = "PHARMACY_SESSION_IDLE_MINUTES", value_name = "MINUTES")]
    pub session_idle_minutes: Option<u32>,
    /// A browser session ends this many hours after the login, however busy (default 12).
    #[arg(long, env = "PHARMACY_SESSION_MAX_HOURS", value_name = "HOURS")]
    pub session_max_hours: Option<u32>,
    /// Send pacing: `production` (the default), `demo` (seconds) or `fast` (milliseconds, for
    /// test harnesses against a simulated server; never for the real number).
    #[arg(long, env = "PHARMACY_PACING", value_name = "PROFILE")]
    pub pacing: Option<PacingProfile>,
    /// The async runtime's worker threads (default: the machine's available parallelism).
    #[arg(long, env = "PHARMACY_WORKER_THREADS", value_name = "N")]
    pub worker_threads: Option<usize>,
}

/// The outbox's pacing profiles (see [`crate::domain::pacing::PacingPolicy`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PacingProfile {
    /// Gaps of seconds, as a warm number needs.
    #[default]
    Production,
    /// The demo's shortened steps.
    Demo,
    /// Milliseconds: reliability harnesses and benchmarks against a sim.
    Fast,
}

impl PacingProfile {
    /// The policy this profile names.
    pub fn policy(self) -> crate::domain::pacing::PacingPolicy {
        match self {
            PacingProfile::Production => crate::domain::pacing::PacingPolicy::production(),
            PacingProfile::Demo => crate::domain::pacing::PacingPolicy::demo(),
            PacingProfile::Fast => crate::domain::pacing::PacingPolicy::fast(),
        }
    }
}

/// `demo`: never reads the production configuration (it runs only on its own data directory).
#[derive(Debug, Clone, Default, Args)]
pub struct DemoArgs {
    /// HTTP port (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Where the demo's data goes.
    #[arg(long, default_value = "demo-data", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Leave pairing to the pairing page's "simulate phone scan" button.
    #[arg(long)]
    pub manual_pair: bool,
    /// Log one JSON object per line on stderr.
    #[arg(long)]
    pub log_json: bool,
}

/// `import-django`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// Data directory, configuration file, logs.
    #[command(flatten)]
    pub common: CommonArgs,
    /// The Django `db.sqlite3`.
    #[arg(long, value_name = "PATH")]
    pub from: PathBuf,
    /// Django's MEDIA_ROOT.
    #[arg(long, value_name = "DIR")]
    pub media_dir: Option<PathBuf>,
    /// Report only; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The zone of Django's naive datetimes (UTC when Django ran with USE_TZ = True).
    #[arg(long = "source-tz", default_value = "UTC", value_name = "ZONE")]
    pub source_tz: String,
}

/// `backup`.
#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// Data directory, configuration file, logs.
    #[command(flatten)]
    pub common: CommonArgs,
    /// The backup folder to create (must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
}

/// `restore`.
#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    /// Data directory, configuration file, logs.
    #[command(flatten)]
    pub common: CommonArgs,
    /// The backup folder (made by `backup`).
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// Also restore the WhatsApp session store (only safe when nothing ran on the number
    /// since the backup; otherwise its encryption sessions are stale and chats break).
    #[arg(long)]
    pub keep_session: bool,
}

/// The TOML file: every key optional; unknown keys are an error (a typo must not be ignored).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// See [`CommonArgs::data_dir`]; relative paths are relative to the file's folder.
    pub data_dir: Option<PathBuf>,
    /// See [`ServeArgs::port`].
    pub port: Option<u16>,
    /// See [`ServeArgs::bind`].
    pub bind: Option<IpAddr>,
    /// See [`ServeArgs::wa_url`].
    pub wa_url: Option<String>,
    /// See [`ServeArgs::trust_root`].
    pub trust_root: Option<String>,
    /// See [`ServeArgs::media_url`].
    pub media_url: Option<String>,
    /// See [`ServeArgs::wa_version`].
    pub wa_version: Option<String>,
    /// See [`ServeArgs::wa_version_url`].
    pub wa_version_url: Option<String>,
    /// See [`ServeArgs::media_retention_days`].
    pub media_retention_days: Option<u32>,
    /// See [`ServeArgs::webhook_log_days`].
    pub webhook_log_days: Option<u32>,
    /// See [`ServeArgs::media_max_mb`].
    pub media_max_mb: Option<u64>,
    /// See [`ServeArgs::admin_password`].
    pub admin_password: Option<String>,
    /// See [`ServeArgs::ingest_secret`].
    pub ingest_secret: Option<String>,
    /// See [`ServeArgs::secure_cookies`].
    pub secure_cookies: Option<bool>,
    /// See [`ServeArgs::behind_proxy`].
    pub behind_proxy: Option<bool>,
    /// See [`ServeArgs::session_idle_minutes`].
    pub session_idle_minutes: Option<u32>,
    /// See [`ServeArgs::session_max_hours`].
    pub session_max_hours: Option<u32>,
    /// See [`ServeArgs::pacing`].
    pub pacing: Option<PacingProfile>,
    /// See [`ServeArgs::worker_threads`].
    pub worker_threads: Option<usize>,
    /// See [`CommonArgs::log_json`].
    pub log_json: Option<bool>,
    /// See [`CommonArgs::log`].
    pub log: Option<String>,
}

/// Why the configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Reading it failed.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A non-loopback `bind` without `behind_proxy`.
    #[error(
        "refusing to serve plain HTTP on {bind}: the service does not terminate TLS, so session \
         cookies and passwords would cross the network in clear text. Put a TLS reverse proxy \
         in front of it (deploy/README.md: Caddy or nginx) and either bind 127.0.0.1 (the proxy \
         on the same machine) or set behind_proxy = true (file), PHARMACY_BEHIND_PROXY=true \
         (environment) or --behind-proxy (flag)"
    )]
    UnsafeBind {
        /// The address asked for.
        bind: IpAddr,
    },
    /// It is not valid TOML for [`FileConfig`].
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What and where.
        message: String,
    },
}

impl FileConfig {
    /// Loads the file `explicit` names, or `pharmacy-service.toml` in the working directory
    /// when it exists; `Ok(None)` when there is none. A relative `data_dir` in the file is
    /// taken relative to the file's folder.
    pub fn load(explicit: Option<&Path>) -> Result<Option<FileConfig>, ConfigError> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => {
                let p = PathBuf::from(DEFAULT_CONFIG_FILE);
                if !p.is_file() {
                    return Ok(None);
                }
                p
            }
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let mut file: FileConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if let (Some(d), Some(base)) = (&file.data_dir, path.parent())
            && d.is_relative()
        {
            file.data_dir = Some(base.join(d));
        }
        Ok(Some(file))
    }
}

/// The resolved configuration of the service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Where `pharmacy.db`, `whatsapp-session.db` and `media/` live.
    pub data_dir: PathBuf,
    /// Listening address.
    pub bind: IpAddr,
    /// Listening port (0 = a free one).
    pub port: u16,
    /// WhatsApp server URL (`None` = the real WhatsApp).
    pub wa_url: Option<String>,
    /// That server's certificate root, hex.
    pub trust_root: Option<String>,
    /// Media download base URL.
    pub media_url: Option<String>,
    /// The WhatsApp Web version announced as is (`None`: fetched).
    pub wa_version: Option<String>,
    /// The page the current WhatsApp Web version is read from (`None`: the server's own).
    pub wa_version_url: Option<String>,
    /// Media files older than this many days are deleted (0 = never).
    pub media_retention_days: u32,
    /// Webhook deliveries finished more than this many days ago are deleted (0 = never).
    pub webhook_log_days: u32,
    /// The largest attachment downloaded, MiB.
    pub media_max_mb: u64,
    /// First-run admin password (`None` = random).
    #[serde(skip)]
    pub admin_password: Option<String>,
    /// Ingest secret for `/api/messages/receive`.
    #[serde(skip)]
    pub ingest_secret: Option<String>,
    /// Secure session cookies.
    pub secure_cookies: bool,
    /// Behind a TLS-terminating reverse proxy (Secure cookies, X-Forwarded-For trusted,
    /// non-loopback binds allowed).
    pub behind_proxy: bool,
    /// Minutes without a request that end a browser session.
    pub session_idle_minutes: u32,
    /// Hours after the login that end a browser session.
    pub session_max_hours: u32,
    /// Send pacing.
    pub pacing: PacingProfile,
    /// The async runtime's worker threads (at least 1).
    pub worker_threads: usize,
    /// JSON logs.
    pub log_json: bool,
    /// Log filter.
    pub log: String,
}

impl Settings {
    /// Flags and environment (in `args`) over the file over the defaults.
    pub fn resolve(args: &ServeArgs, file: Option<FileConfig>) -> Settings {
        let f = file.unwrap_or_default();
        let c = &args.common;
        Settings {
            data_dir: c
                .data_dir
                .clone()
                .or(f.data_dir)
                .unwrap_or_else(|| PathBuf::from("data")),
            bind: args
                .bind
                .or(f.bind)
                .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            port: args.port.or(f.port).unwrap_or(8080),
            wa_url: args.wa_url.clone().or(f.wa_url),
            trust_root: args.trust_root.clone().or(f.trust_root),
            media_url: args.media_url.clone().or(f.media_url),
            wa_version: non_empty(args.wa_version.clone().or(f.wa_version)),
            wa_version_url: non_empty(args.wa_version_url.clone().or(f.wa_version_url)),
            media_retention_days: args
                .media_retention_days
                .or(f.media_retention_days)
                .unwrap_or(0),
            webhook_log_days: args
                .webhook_log_days
                .or(f.webhook_log_days)
                .unwrap_or(crate::ops::retention::WEBHOOK_LOG_DAYS),
            media_max_mb: args
                .media_max_mb
                .or(f.media_max_mb)
                .unwrap_or(whatsapp_client::DEFAULT_MEDIA_MAX_BYTES >> 20),
            admin_password: non_empty(args.admin_password.clone().or(f.admin_password)),
            ingest_secret: non_empty(args.ingest_secret.clone().or(f.ingest_secret)),
            secure_cookies: args.secure_cookies.or(f.secure_cookies).unwrap_or(false),
            behind_proxy: args.behind_proxy.or(f.behind_proxy).unwrap_or(false),
            session_idle_minutes: args
                .session_idle_minutes
                .or(f.session_idle_minutes)
                .unwrap_or(30)
                .max(1),
            session_max_hours: args
                .session_max_hours
                .or(f.session_max_hours)
                .unwrap_or(12)
                .max(1),
            pacing: args.pacing.or(f.pacing).unwrap_or_default(),
            worker_threads: args
                .worker_threads
                .or(f.worker_threads)
                .unwrap_or_else(default_worker_threads)
                .max(1),
            log_json: c.log_json.or(f.log_json).unwrap_or(false),
            log: c.log.clone().or(f.log).unwrap_or_else(|| "info".into()),
        }
    }

    /// Loads the file the common flags name (or the default one) and resolves.
    pub fn load(args: &ServeArgs) -> Result<Settings, ConfigError> {
        let file = FileConfig::load(args.common.config.as_deref())?;
        Ok(Settings::resolve(args, file))
    }

    /// The effective configuration as JSON, secrets shown only as set or not.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "admin_password_set".into(),
                self.admin_password.is_some().into(),
            );
            o.insert(
                "ingest_secret_set".into(),
                self.ingest_secret.is_some().into(),
            );
        }
        v
    }

    /// Refuses a non-loopback `bind` unless a TLS reverse proxy is declared (`behind_proxy`):
    /// the service speaks plain HTTP.
    pub fn check_bind(&self) -> Result<(), ConfigError> {
        if self.bind.is_loopback() || self.behind_proxy {
            Ok(())
        } else {
            Err(ConfigError::UnsafeBind { bind: self.bind })
        }
    }

    /// The service database.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join(DB_FILE)
    }
}

/// The service database's file name in the data directory.
pub const DB_FILE: &str = "pharmacy.db";
/// The WhatsApp session store's file name in the data directory.
pub const SESSION_FILE: &str = "whatsapp-session.db";
/// The media folder's name in the data directory.
pub const MEDIA_DIR: &str = "media";

/// The machine's available parallelism (1 when it cannot be read).
pub fn default_worker_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

impl Command {
    /// The async runtime's worker threads for this command: the configured
    /// [`Settings::worker_threads`] for the commands that read the configuration, the
    /// machine's available parallelism otherwise.
    pub fn worker_threads(&self) -> Result<usize, ConfigError> {
        let settings = match self {
            Command::Serve(a) | Command::ShowConfig(a) => Settings::load(a)?,
            Command::Migrate(c) | Command::Seed(c) => c.settings()?,
            Command::ImportDjango(a) => a.common.settings()?,
            Command::Backup(a) => a.common.settings()?,
            Command::Restore(a) => a.common.settings()?,
            #[cfg(feature = "demo")]
            Command::Demo(_) => return Ok(default_worker_threads()),
        };
        Ok(settings.worker_threads)
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

impl CommonArgs {
    /// The settings these flags give (`serve`'s other options at their file values or
    /// defaults): for the commands that only need the data directory and logging.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        Settings::load(&ServeArgs {
            common: self.clone(),
            ..ServeArgs::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(args: &[&str], file: &str) -> Settings {
        let cli = Cli::try_parse_from(args).unwrap();
        let Some(Command::Serve(a)) = cli.command else {
            unreachable!()
        };
        Settings::resolve(&a, Some(toml::from_str(file).unwrap()))
    }

    #[test]
    fn a_lan_bind_needs_the_proxy_setting() {
        let s = resolve(&["p", "serve", "--bind", "0.0.0.0"], "");
        let e = s.check_bind().unwrap_err().to_string();
        assert!(
            e.contains("0.0.0.0") && e.contains("PHARMACY_BEHIND_PROXY"),
            "{e}"
        );
        assert!(!s.behind_proxy);
        for (args, file) in [
            (
                &["p", "serve", "--bind", "0.0.0.0", "--behind-proxy"][..],
                "",
            ),
            (
                &["p", "serve", "--bind", "192.168.1.5"][..],
                "behind_proxy = true",
            ),
            (&["p", "serve"][..], ""),
            (&["p", "serve", "--bind", "::1"][..], ""),
        ] {
            assert!(resolve(args, file).check_bind().is_ok(), "{args:?} {file}");
        }
    }

    #[test]
    fn session_lifetimes_default_to_half_an_hour_idle_and_a_shift() {
        let s = resolve(&["p", "serve"], "");
        assert_eq!((s.session_idle_minutes, s.session_max_hours), (30, 12));
        let s = resolve(
            &["p", "serve", "--session-idle-minutes", "10"],
            "session_max_hours = 9",
        );
        assert_eq!((s.session_idle_minutes, s.session_max_hours), (10, 9));
    }

    #[test]
    fn worker_threads_come_from_the_configuration_or_the_machine() {
        assert_eq!(
            resolve(&["p", "serve"], "").worker_threads,
            default_worker_threads()
        );
        assert_eq!(
            resolve(&["p", "serve"], "worker_threads = 6").worker_threads,
            6
        );
        let s = resolve(
            &["p", "serve", "--worker-threads", "3"],
            "worker_threads = 6",
        );
        assert_eq!(s.worker_threads, 3);
        assert_eq!(
            resolve(&["p", "serve"], "worker_threads = 0").worker_threads,
            1
        );
    }

    #[test]
    fn the_webhook_log_is_kept_thirty_days_unless_configured() {
        assert_eq!(resolve(&["p", "serve"], "").webhook_log_days, 30);
        let s = resolve(&["p", "serve"], "webhook_log_days = 0");
        assert_eq!(s.webhook_log_days, 0);
        let s = resolve(
            &["p", "serve", "--webhook-log-days", "7"],
            "webhook_log_days = 0",
        );
        assert_eq!(s.webhook_log_days, 7);
    }
}
