//! The ingest webhook's signature (`POST /api/messages/receive`): `X-Timestamp` (unix
//! seconds) and `X-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` under the
//! configured secret. The timestamp is inside the MAC and must be within [`MAX_SKEW`] of our
//! clock, so a captured request cannot be replayed later; there is no unsigned-time mode.

use crate::domain::time::Timestamp;
use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;

/// The shortest secret the service accepts (HMAC-SHA256's output size): refused at start.
pub const MIN_SECRET_LEN: usize = 32;

/// How far a request's timestamp may be from our clock, either way.
pub const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

/// Why a webhook request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Timestamp`, or not unix seconds.
    #[error("X-Timestamp (unix seconds) is required")]
    MissingTimestamp,
    /// The timestamp is more than [`MAX_SKEW`] away from now.
    #[error("X-Timestamp is more than 5 minutes from the server's clock")]
    Stale,
    /// No `X-Signature: sha256=<hex>`, or it does not match.
    #[error("X-Signature does not match")]
    BadSignature,
}

/// Checks the configured secret's length; the message says what to do.
pub fn check_secret(secret: &[u8]) -> Result<(), String> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(format!(
            "the ingest secret is {} bytes; it must be at least {MIN_SECRET_LEN} (e.g. `openssl rand -hex 32`)",
            secret.len()
        ));
    }
    Ok(())
}

/// The `X-Signature` value for `body` sent at `timestamp` (unix seconds) under `secret`:
/// `sha256=<hex>`, what [`verify`] checks. The outbound webhooks sign with it.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length; new_from_slice cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Verifies a request's timestamp and signature at `now`.
pub fn verify(
    secret: &[u8],
    headers: &HeaderMap,
    body: &[u8],
    now: Timestamp,
) -> Result<(), SignatureError> {
    // The MAC covers the header exactly as sent; its value must be unix seconds.
    let (raw, ts) = headers
        .get("x-timestamp")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .and_then(|v| Some((v, v.parse::<i64>().ok()?)))
        .ok_or(SignatureError::MissingTimestamp)?;
    let skew = Duration::from_secs(now.0.div_euclid(1000).abs_diff(ts));
    if skew > MAX_SKEW {
        return Err(SignatureError::Stale);
    }
    let sig = headers
        .get("x-signature")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(|h| hex::decode(h.trim()).ok())
        .ok_or(SignatureError::BadSignature)?;
    // HMAC takes a key of any length (`check_secret` is what demands a strong one).
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret).map_err(|_| SignatureError::BadSignature)?;
    mac.update(raw.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&sig)
        .map_err(|_| SignatureError::BadSignature)
}
