//! Command-line options shared by the `pair_qr` and `pair_code` examples: `--url URL`,
//! `--trust-root HEX` (64 hex digits, or 66 with the 05 prefix), `--store PATH`,
//! `--phone DIGITS`; and the client configuration they imply.

use anyhow::{Context, bail};
use whatsapp_client::Config;

/// Command-line options shared by the examples.
pub struct Options {
    pub url: Option<String>,
    pub trust_root: Option<[u8; 32]>,
    pub store: String,
    pub phone: Option<String>,
}

/// Parses the process arguments.
pub fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        url: None,
        trust_root: None,
        store: "whatsapp-session.db".into(),
        phone: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--url" => options.url = Some(value()?),
            "--trust-root" => {
                let hex = value()?;
                options.trust_root = Some(
                    Config::parse_trust_root(&hex)
                        .context("--trust-root takes 64 hex digits (or 66 with the 05 prefix)")?,
                );
            }
            "--store" => options.store = value()?,
            "--phone" => options.phone = Some(value()?),
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(options)
}

/// The client configuration for these options.
pub fn config(options: &Options) -> Config {
    let mut config = Config::default();
    if let Some(url) = &options.url {
        config = config.with_url(url.clone());
    }
    if let Some(root) = options.trust_root {
        config = config.with_trust_root(root);
    }
    config
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
}
