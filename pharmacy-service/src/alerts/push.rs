//! Web Push (RFC 8030) to the browsers of users who opted in: the message encrypted for the
//! subscription (RFC 8291, `aes128gcm`, by `web-push-native`) and signed for the push service
//! with the service's VAPID key (RFC 8292: an ES256 JWT for the endpoint's origin).
//!
//! The VAPID key is made once and kept in the data directory (`vapid-key`, 0600): browsers
//! bind a subscription to the public key, so a new key would orphan every subscription.
//! Subscription endpoints are customer-of-the-browser input: only `https` is accepted
//! (every browser's push service is https), unless `allow_http_endpoints` (tests, local
//! development). A 404 or 410 from the push service means the subscription is gone: it is
//! removed.

use super::post::{Answer, PostError, Poster};
use crate::app::{Audience, StoredPushSubscription};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

/// The key file's name in the data directory.
pub const KEY_FILE: &str = "vapid-key";

/// How long a push service keeps an undelivered message (seconds; `TTL`).
const TTL: Duration = Duration::from_secs(12 * 3600);

/// Why a key or a push failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The key file could not be read or written.
    #[error("VAPID key file: {0}")]
    Key(String),
    /// The subscription's keys or endpoint are not usable.
    #[error("subscription: {0}")]
    Subscription(String),
    /// The push service could not be reached.
    #[error(transparent)]
    Post(#[from] PostError),
}

/// The service's VAPID key pair.
#[derive(Clone)]
pub struct VapidKey {
    key: SigningKey,
}

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private half stays out of logs.
        f.debug_struct("VapidKey")
            .field("public", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl VapidKey {
    /// A fresh key (in memory).
    pub fn generate() -> VapidKey {
        VapidKey {
            key: SigningKey::random(&mut rand::rngs::OsRng),
        }
    }

    /// The key in `dir`'s [`KEY_FILE`], made there (0600) on first use.
    pub fn load_or_create(dir: &Path) -> Result<VapidKey, PushError> {
        let path = dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let bytes = B64
                    .decode(text.trim())
                    .map_err(|e| PushError::Key(format!("{}: {e}", path.display())))?;
                let key = SigningKey::from_slice(&bytes)
                    .map_err(|e| PushError::Key(format!("{}: {e}", path.display())))?;
                Ok(VapidKey { key })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let k = VapidKey::generate();
                let text = B64.encode(k.key.to_bytes());
                crate::ops::permissions::create_private_file(&path, text.as_bytes())
                    .map_err(|e| PushError::Key(format!("{}: {e}", path.display())))?;
                Ok(k)
            }
            Err(e) => Err(PushError::Key(format!("{}: {e}", path.display()))),
        }
    }

    /// The public key as browsers want it (`applicationServerKey`: the uncompressed point,
    /// base64url).
    pub fn public_key(&self) -> String {
        B64.encode(self.key.verifying_key().to_encoded_point(false).as_bytes())
    }

    /// `Authorization: vapid t=<JWT>, k=<public key>` for `endpoint` (RFC 8292 §3), valid
    /// until `expires` (unix seconds; at most 24 h ahead).
    pub fn authorization(&self, endpoint: &http::Uri, expires: i64, subject: &str) -> String {
        let aud = format!(
            "{}://{}",
            endpoint.scheme_str().unwrap_or("https"),
            endpoint.authority().map_or("", |a| a.as_str())
        );
        let header = B64.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = B64
            .encode(serde_json::json!({ "aud": aud, "exp": expires, "sub": subject }).to_string());
        let signed = format!("{header}.{claims}");
        // JWS ES256: the fixed-size r || s, not DER.
        let sig: Signature = self.key.sign(signed.as_bytes());
        format!(
            "vapid t={signed}.{}, k={}",
            B64.encode(sig.to_bytes()),
            self.public_key()
        )
    }
}

/// What a notification says, in both of the UI's languages (the service worker picks one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushMessage {
    /// `link_down`, `link_up`, `slow_response`, `new_ticket`, `alert`.
    pub kind: &'static str,
    /// Arabic title and text.
    pub ar: [String; 2],
    /// English title and text.
    pub en: [String; 2],
    /// The page to open (`#/inbox/12`).
    pub url: String,
    /// Notifications with the same tag replace each other.
    pub tag: String,
}

/// Checks a subscription's endpoint and keys before it is stored.
pub fn check_subscription(
    endpoint: &str,
    p256dh: &str,
    auth: &str,
    allow_http: bool,
) -> Result<(), PushError> {
    let uri = super::post::check_url(endpoint)?;
    if uri.scheme_str() != Some("https") && !allow_http {
        return Err(PushError::Subscription(
            "the endpoint must be an https URL".into(),
        ));
    }
    if endpoint.len() > 2048 {
        return Err(PushError::Subscription("the endpoint is too long".into()));
    }
    keys(p256dh, auth).map(|_| ())
}

fn keys(p256dh: &str, auth: &str) -> Result<(p256::PublicKey, web_push_native::Auth), PushError> {
    let public = B64
        .decode(p256dh.trim_end_matches('='))
        .ok()
        .and_then(|b| p256::PublicKey::from_sec1_bytes(&b).ok())
        .ok_or_else(|| PushError::Subscription("p256dh is not a P-256 public key".into()))?;
    let auth = B64
        .decode(auth.trim_end_matches('='))
        .ok()
        .filter(|b| b.len() == 16)
        .ok_or_else(|| PushError::Subscription("auth is not 16 bytes (base64url)".into()))?;
    Ok((public, web_push_native::Auth::clone_from_slice(&auth)))
}

/// Sends pushes to subscriptions.
#[derive(Debug, Clone)]
pub struct Pusher {
    key: VapidKey,
    poster: Poster,
    subject: String,
}

impl Pusher {
    /// A pusher signing with `key`; `subject` is the contact the push services see (a
    /// `mailto:` or `https:` URL).
    pub fn new(key: VapidKey, subject: String) -> Pusher {
        Pusher {
            key,
            poster: Poster::new(Duration::from_secs(10)),
            subject,
        }
    }

    /// The public key for browsers.
    pub fn public_key(&self) -> String {
        self.key.public_key()
    }

    /// Sends `msg` to one subscription at `now_s` (unix seconds); the push service's answer.
    pub async fn send(
        &self,
        sub: &StoredPushSubscription,
        msg: &PushMessage,
        now_s: i64,
    ) -> Result<Answer, PushError> {
        let endpoint = super::post::check_url(&sub.endpoint)?;
        let (public, auth) = keys(&sub.p256dh, &sub.auth)?;
        let body = serde_json::to_vec(msg).unwrap_or_default();
        let req = web_push_native::WebPushBuilder::new(endpoint.clone(), public, auth)
            .with_valid_duration(TTL)
            .build(body)
            .map_err(|e| PushError::Subscription(e.to_string()))?;
        let (mut parts, body) = req.into_parts();
        let auth_header = self
            .key
            .authorization(&endpoint, now_s + 12 * 3600, &self.subject);
        parts.headers.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(&auth_header)
                .map_err(|e| PushError::Subscription(e.to_string()))?,
        );
        // RFC 8030 §5.3: these are worth waking a phone for.
        parts
            .headers
            .insert("urgency", http::HeaderValue::from_static("high"));
        let req =
            http::Request::from_parts(parts, http_body_util::Full::new(bytes::Bytes::from(body)));
        Ok(self.poster.send(req).await?)
    }

    /// Sends `msg` to every subscription of `audience`; removes the ones the push service
    /// says are gone. Failures are logged, not retried (a notification is only worth it now).
    pub async fn notify(&self, app: &crate::app::App, audience: Audience, msg: &PushMessage) {
        let subs = match app.push_audience(&audience).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "push subscriptions");
                return;
            }
        };
        let now_s = app.now().0.div_euclid(1000);
        for sub in subs {
            match self.send(&sub, msg, now_s).await {
                Ok(a) if (200..300).contains(&a.status) => {}
                Ok(a) if a.status == 404 || a.status == 410 => {
                    if let Err(e) = app.forget_push_subscription(sub.id).await {
                        tracing::warn!(error = %e, "a gone push subscription was not removed");
                    }
                }
                Ok(a) => tracing::warn!(status = a.status, body = %a.body, "push refused"),
                Err(e) => tracing::warn!(error = %e, "push failed"),
            }
        }
    }
}
