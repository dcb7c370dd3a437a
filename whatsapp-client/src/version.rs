//! The WhatsApp Web version the client announces, and keeping it current.
//!
//! The server refuses a stale version with `<failure reason="405">`. Which version is sent:
//! the configured one ([`crate::Config::app_version`], never fetched) > the one fetched from
//! [`crate::Config::version_url`] (at start, and once more after a 405) > the last version that
//! logged in, kept in the store > the built-in [`AppVersion::CURRENT`] (the newer of these
//! last two: a stored value older than the library's own is stale).

use http::Uri;
use whatsapp_proto::payload::AppVersion;

use crate::context::Shared;

/// The page [`crate::Config::version_url`] names for the real server: whatsmeow's
/// `GetLatestVersion` (`update.go`) reads the web client's revision from it.
pub const DEFAULT_VERSION_URL: &str = "https://web.whatsapp.com/";

/// The largest page read for the version (the real page is a few hundred KiB).
const PAGE_LIMIT: u64 = 8 << 20;

/// How long connecting waits for the version page. guess: whatsmeow's `GetLatestVersion`
/// leaves it to the caller's HTTP client; the media timeouts this client uses (a 30 s read
/// wait, 10 min overall) suit attachments, not a page that only delays the login.
const FETCH_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Where a chosen version came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Configured,
    Fetched,
    Stored,
    BuiltIn,
}

/// The version to announce, by precedence (see the module documentation).
pub(crate) fn choose(
    configured: Option<AppVersion>,
    fetched: Option<AppVersion>,
    stored: Option<AppVersion>,
    built_in: AppVersion,
) -> (AppVersion, Origin) {
    match (configured, fetched, stored) {
        (Some(v), _, _) => (v, Origin::Configured),
        (None, Some(v), _) => (v, Origin::Fetched),
        (None, None, Some(v)) if v > built_in => (v, Origin::Stored),
        _ => (built_in, Origin::BuiltIn),
    }
}

/// The version of one driver, across its connections.
pub(crate) struct VersionKeeper {
    current: AppVersion,
    origin: Origin,
    /// A refetch was made since the last login: a second 405 stops the client.
    refetched: bool,
}

impl VersionKeeper {
    /// The version before any fetch: configured, else stored or built-in.
    pub(crate) fn new(shared: &Shared) -> VersionKeeper {
        let config = &shared.config;
        let (current, origin) = choose(
            config.app_version,
            None,
            shared.device().app_version,
            config.payload.app_version,
        );
        VersionKeeper {
            current,
            origin,
            refetched: false,
        }
    }

    /// The page to read the version from before the first connection: the configured one,
    /// unless a version is configured.
    pub(crate) fn fetch_url(&self, shared: &Shared) -> Option<String> {
        match self.origin {
            Origin::Stored | Origin::BuiltIn => shared.config.version_url.clone(),
            Origin::Configured | Origin::Fetched => None,
        }
    }

    /// The start's fetch ended: its version, if it gave one, is announced from now on.
    pub(crate) fn fetched(&mut self, fetched: Option<AppVersion>) {
        if let Some(fetched) = fetched {
            self.current = fetched;
            self.origin = Origin::Fetched;
        }
        tracing::info!(version = %self.current, origin = ?self.origin, "WhatsApp Web version");
    }

    /// The version to announce now.
    pub(crate) fn current(&self) -> AppVersion {
        self.current
    }

    /// After a 405: the page to read a newer version from, once per login; `None` when the
    /// client should stop.
    pub(crate) fn refetch_url(&mut self, shared: &Shared) -> Option<String> {
        let url = shared.config.version_url.clone()?;
        if self.origin == Origin::Configured || self.refetched {
            return None;
        }
        self.refetched = true;
        Some(url)
    }

    /// The refetch after a 405 ended: true when it gave a newer version to try; false when
    /// the client should stop.
    pub(crate) fn refetched(&mut self, fetched: Option<AppVersion>) -> bool {
        match fetched {
            Some(newer) if newer != self.current => {
                tracing::warn!(old = %self.current, new = %newer, "405: trying the newer version");
                self.current = newer;
                self.origin = Origin::Fetched;
                true
            }
            _ => false,
        }
    }

    /// After `<success>`: this version is good; kept in the store for the next start.
    pub(crate) async fn logged_in(&mut self, shared: &Shared) {
        self.refetched = false;
        let mut device = shared.device();
        if device.app_version == Some(self.current) {
            return;
        }
        device.app_version = Some(self.current);
        match shared.store.save_device(&device).await {
            Ok(()) => shared.set_device(device),
            Err(e) => tracing::warn!(error = %e, "could not keep the app version"),
        }
    }
}

/// Reads the version from the page at `url`, giving up after [`FETCH_WAIT`]; a failure is
/// logged and gives `None` (the client connects with the version it has).
pub(crate) async fn fetch_logged(shared: &Shared, url: &str) -> Option<AppVersion> {
    let failed = match tokio::time::timeout(FETCH_WAIT, fetch(shared, url)).await {
        Ok(Ok(v)) => return Some(v),
        Ok(Err(e)) => e,
        Err(_) => format!("no answer within {FETCH_WAIT:?}"),
    };
    tracing::warn!(%url, error = %failed, "fetching the WhatsApp Web version failed");
    None
}

/// Reads the current version from the page at `url`.
async fn fetch(shared: &Shared, url: &str) -> Result<AppVersion, String> {
    let uri: Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
    let mut page = Vec::new();
    shared
        .http
        .get(&uri, PAGE_LIMIT, |chunk| {
            page.extend_from_slice(chunk);
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())?;
    AppVersion::from_web_page(&String::from_utf8_lossy(&page))
        .ok_or_else(|| "no client_revision in the page".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_beats_fetched_beats_stored_beats_built_in() {
        let v = |n| AppVersion {
            primary: 2,
            secondary: 3000,
            tertiary: n,
        };
        let built_in = v(10);
        assert_eq!(
            choose(Some(v(1)), Some(v(30)), Some(v(20)), built_in),
            (v(1), Origin::Configured)
        );
        assert_eq!(
            choose(None, Some(v(5)), Some(v(20)), built_in),
            (v(5), Origin::Fetched)
        );
        assert_eq!(
            choose(None, None, Some(v(20)), built_in),
            (v(20), Origin::Stored)
        );
        // A stored version older than the library's own is stale.
        assert_eq!(
            choose(None, None, Some(v(9)), built_in),
            (v(10), Origin::BuiltIn)
        );
        assert_eq!(choose(None, None, None, built_in), (v(10), Origin::BuiltIn));
    }
}
