//! Identity trust: trust on first use.
//!
//! The first identity key seen for a peer address (in a bundle we fetched or a `pkmsg` we
//! received) is accepted and should be stored by the caller. A later, different key is refused with
//! [`SignalError::IdentityChanged`] and nothing is changed. The caller then decides — WhatsApp
//! clients normally accept the new key (whatsmeow's `AutoTrustIdentity`: replace the stored identity,
//! drop the old session, retry) and may show a "security code changed" notice.

use super::error::SignalError;
use super::keys::IdentityKey;

/// The outcome of a successful identity check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdentityStatus {
    /// No key was stored for the peer: this one is now trusted and should be stored.
    FirstUse,
    /// The key matches the stored one.
    Known,
}

/// Trust on first use: `stored` is what the caller keeps for the peer, `received` what it presents.
///
/// ```
/// use whatsapp_proto::signal::{IdentityStatus, PublicKey, SignalError, check_identity};
/// let a = PublicKey::from_raw([1; 32]);
/// let b = PublicKey::from_raw([2; 32]);
/// assert_eq!(check_identity(None, &a), Ok(IdentityStatus::FirstUse));
/// assert_eq!(check_identity(Some(&a), &a), Ok(IdentityStatus::Known));
/// assert!(matches!(check_identity(Some(&a), &b), Err(SignalError::IdentityChanged { .. })));
/// ```
pub fn check_identity(
    stored: Option<&IdentityKey>,
    received: &IdentityKey,
) -> Result<IdentityStatus, SignalError> {
    match stored {
        None => Ok(IdentityStatus::FirstUse),
        Some(stored) if stored == received => Ok(IdentityStatus::Known),
        Some(stored) => Err(SignalError::IdentityChanged {
            stored: *stored,
            received: *received,
        }),
    }
}
