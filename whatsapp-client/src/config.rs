//! Client configuration.

use std::time::Duration;

use whatsapp_proto::noise::cert::WHATSAPP_ROOT_KEY;
use whatsapp_proto::payload::{AppVersion, PayloadConfig};

/// WhatsApp's WebSocket endpoint (fact sheet part 1 §1.1).
pub const DEFAULT_URL: &str = "wss://web.whatsapp.com/ws/chat";
/// The `Origin` header WhatsApp Web sends.
pub const DEFAULT_ORIGIN: &str = "https://web.whatsapp.com";

/// The default [`Config::media_max_bytes`]: 100 MiB.
pub const DEFAULT_MEDIA_MAX_BYTES: u64 = 100 << 20;

/// How the supervisor waits between reconnect attempts: exponential from `initial`, capped
/// at `max`, with ± `jitter` (a fraction) of randomness.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ReconnectPolicy {
    /// The first pause.
    pub initial: Duration,
    /// The longest pause.
    pub max: Duration,
    /// Relative jitter, 0.0 to 1.0 (0.1 = ±10 %).
    pub jitter: f64,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(120),
            jitter: 0.1,
        }
    }
}

impl ReconnectPolicy {
    /// A policy from its three settings.
    pub fn new(initial: Duration, max: Duration, jitter: f64) -> Self {
        Self {
            initial,
            max,
            jitter,
        }
    }

    /// The pause before attempt `attempt` (1 = first retry), given a random `unit` in [0, 1).
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let exp = 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
        let base = (self.initial.as_secs_f64() * exp).min(self.max.as_secs_f64());
        let factor = 1.0 + self.jitter * (2.0 * unit - 1.0);
        Duration::from_secs_f64((base * factor).clamp(0.0, self.max.as_secs_f64()))
    }
}

/// Everything a [`crate::Client`] needs besides its store.
///
/// ```
/// use whatsapp_client::Config;
/// let config = Config::default().with_url("ws://127.0.0.1:9000/ws/chat");
/// assert_eq!(config.url, "ws://127.0.0.1:9000/ws/chat");
/// ```
///
/// Built from [`Default`] and the `with_` methods, or by setting its fields (more settings may
/// come, so it cannot be written as a struct literal outside this crate).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The WebSocket URL ([`DEFAULT_URL`]).
    pub url: String,
    /// The `Origin` header ([`DEFAULT_ORIGIN`]).
    pub origin: String,
    /// The certificate root the server's chain must lead to (WhatsApp's by default; a
    /// simulated server has its own).
    pub trust_root: [u8; 32],
    /// What the client says about itself in the ClientPayload. Its `app_version` is the
    /// built-in fallback; the version sent is chosen as [`Config::app_version`] says.
    pub payload: PayloadConfig,
    /// The WhatsApp Web version to announce, as is: nothing is fetched. `None` (the default):
    /// the version read from [`Config::version_url`], else the last one that logged in (kept
    /// in the store), else the payload's built-in one.
    pub app_version: Option<AppVersion>,
    /// A WhatsApp Web page to read the current version from, at start and once more after
    /// the server answers `<failure reason="405">` (client outdated); `None` fetches nothing.
    /// [`crate::DEFAULT_VERSION_URL`] is the real one.
    pub version_url: Option<String>,
    /// The companion client-type character of QR codes and phone-code pairing ('9' = other
    /// web client, whatsmeow's default; part 1 §7).
    pub client_type: char,
    /// `companion_platform_display` of phone-code pairing, e.g. `"Chrome (Linux)"`.
    pub platform_display: String,
    /// Reconnect backoff.
    pub reconnect: ReconnectPolicy,
    /// How long the first QR code is valid (60 s, whatsmeow `qrchan.go`).
    pub qr_first_timeout: Duration,
    /// How long each later QR code is valid (20 s).
    pub qr_timeout: Duration,
    /// Prekeys uploaded on the first login (812, whatsmeow and WA Web).
    pub prekeys_initial: u32,
    /// Prekeys uploaded when the server runs low (50, whatsmeow `WantedPreKeyCount`).
    pub prekeys_refill: u32,
    /// Below this server count the client uploads more (5, `MinPreKeyCount`).
    pub prekeys_min: u32,
    /// After the server logged this device out, make a new one and pair again (QR events
    /// follow). When false the client stops after [`crate::Event::LoggedOut`].
    pub pair_again_after_logout: bool,
    /// Scheme and host every media download and upload goes to instead of the hosts of the
    /// latest `media_conn` answer (`None`: those hosts, over https only). Trusted as given, so
    /// plain `http` works: a simulated server serves media at its own address, e.g.
    /// `http://127.0.0.1:PORT`.
    pub media_base_url: Option<String>,
    /// The largest attachment downloaded (100 MiB): a message declaring more is refused with
    /// [`crate::TransferError::TooLarge`] without a request.
    pub media_max_bytes: u64,
    /// Connect, read and overall timeouts of media requests.
    pub media_timeouts: crate::HttpTimeouts,
    /// Opens the connections media requests run over (direct TCP by default; a proxy hook).
    pub media_connector: crate::Connector,
    /// How long a download of media the server expired (404/410) waits for the sender's
    /// phone to upload it again (30 s; see [`crate::Client::request_media_reupload`]). `None`:
    /// downloads do not ask, and fail with the HTTP status.
    pub media_reupload_wait: Option<Duration>,
    /// How long a user's device list (usync) is reused for sends (5 min); device notifications
    /// and messages from unlisted devices refresh it sooner. Zero disables the cache.
    pub device_cache_ttl: Duration,
    /// At most this many messages of the offline queue are decrypted into one store
    /// transaction before they reach the application (64); 1 commits each on its own.
    pub catch_up_group: usize,
    /// Protocol timers (IQ timeout, keepalive).
    pub timeouts: whatsapp_proto::connection::Timeouts,
    /// Events held for the application before the client waits for it to read (256): a slow
    /// reader of the [`crate::EventStream`] slows the reading of the socket instead of
    /// growing memory (see [`crate::Client`]).
    pub event_queue: usize,
    /// Stanzas read off the socket and not yet processed at which the client stops reading
    /// it (512), unless it awaits an answer (an IQ, a message's ack, the keepalive): then it
    /// reads on up to [`Config::stanza_backlog_awaiting`].
    pub stanza_backlog: usize,
    /// Stanzas read and not yet processed up to which the client reads on while an answer
    /// is awaited (16,384; never less than [`Config::stanza_backlog`]). An application that
    /// awaits a send's ack or an IQ while its event reader waits on that same call (a
    /// service storing each message before acknowledging it) must not stall behind the
    /// backlog, and an offline queue of a few thousand messages has to fit. Past it the
    /// awaited answer waits for the backlog to drain, or times out; the client never
    /// reconnects for it (the server would deliver the offline queue again). An answer
    /// whose caller gave up (dropped the call's future) is not awaited.
    pub stanza_backlog_awaiting: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            url: DEFAULT_URL.into(),
            origin: DEFAULT_ORIGIN.into(),
            trust_root: WHATSAPP_ROOT_KEY,
            payload: PayloadConfig::default(),
            app_version: None,
            version_url: None,
            client_type: '9',
            platform_display: "Chrome (Linux)".into(),
            reconnect: ReconnectPolicy::default(),
            qr_first_timeout: Duration::from_secs(60),
            qr_timeout: Duration::from_secs(20),
            prekeys_initial: 812,
            prekeys_refill: 50,
            prekeys_min: 5,
            pair_again_after_logout: true,
            media_base_url: None,
            media_max_bytes: DEFAULT_MEDIA_MAX_BYTES,
            media_timeouts: crate::HttpTimeouts::default(),
            media_connector: crate::Connector::default(),
            media_reupload_wait: Some(Duration::from_secs(30)),
            device_cache_ttl: Duration::from_secs(300),
            catch_up_group: 64,
            timeouts: whatsapp_proto::connection::Timeouts::default(),
            event_queue: 256,
            stanza_backlog: 512,
            stanza_backlog_awaiting: 16_384,
        }
    }
}

impl Config {
    /// Sets the WebSocket URL.
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// Sets the certificate root.
    pub fn with_trust_root(mut self, root: [u8; 32]) -> Self {
        self.trust_root = root;
        self
    }

    /// Sends every media request to this scheme and host (see [`Config::media_base_url`]).
    pub fn with_media_base_url(mut self, base: impl Into<String>) -> Self {
        self.media_base_url = Some(base.into());
        self
    }

    /// Sets how long downloads wait for a re-upload of expired media (`None`: they do not
    /// ask; see [`Config::media_reupload_wait`]).
    pub fn with_media_reupload_wait(mut self, wait: Option<Duration>) -> Self {
        self.media_reupload_wait = wait;
        self
    }

    /// Sets the reconnect backoff.
    pub fn with_reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.reconnect = policy;
        self
    }

    /// Sets what the client says about itself in the ClientPayload.
    pub fn with_payload(mut self, payload: PayloadConfig) -> Self {
        self.payload = payload;
        self
    }

    /// Reads the current WhatsApp Web version from `url` (see [`Config::version_url`]).
    pub fn with_version_url(mut self, url: impl Into<String>) -> Self {
        self.version_url = Some(url.into());
        self
    }

    /// Announces `version` as is, fetching nothing (see [`Config::app_version`]).
    pub fn with_app_version(mut self, version: AppVersion) -> Self {
        self.app_version = Some(version);
        self
    }

    /// Parses a trust root given as 64 hex digits (or 66 with the `05` key-type prefix).
    pub fn parse_trust_root(hex_text: &str) -> Option<[u8; 32]> {
        let bytes = hex::decode(hex_text.trim()).ok()?;
        match bytes.len() {
            32 => bytes.try_into().ok(),
            33 if bytes[0] == 5 => bytes[1..].try_into().ok(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let p = ReconnectPolicy::default();
        assert_eq!(p.delay(1, 0.5), Duration::from_secs(1));
        assert_eq!(p.delay(3, 0.5), Duration::from_secs(4));
        assert_eq!(p.delay(50, 0.5), Duration::from_secs(120));
        assert!(p.delay(2, 0.0) < Duration::from_secs(2));
        assert!(p.delay(2, 0.99) > Duration::from_secs(2));
    }

    #[cfg(feature = "tls")]
    #[test]
    fn a_tls_provider_is_available_for_wss() {
        // tokio-tungstenite builds its rustls config from the process default provider.
        let _ = rustls::ClientConfig::builder();
    }

    #[test]
    fn trust_root_forms() {
        let hex32 = "11".repeat(32);
        assert_eq!(Config::parse_trust_root(&hex32), Some([0x11; 32]));
        assert_eq!(
            Config::parse_trust_root(&format!("05{hex32}")),
            Some([0x11; 32])
        );
        assert_eq!(Config::parse_trust_root("abcd"), None);
    }
}
