//! What the primary phone computes when it links a companion (fact sheet part 1 §7, part 2 §3.3):
//! reading the QR string, issuing the ADV device identity with the account signature and the
//! HMAC keyed by the QR's adv secret, and checking the companion's device signature. (The
//! account's key-index list is signed in `state/key_index.rs`.)
//!
//! This is the phone side only; the companion side lives in the client. The QR string
//! itself is `whatsapp_proto::pairing::QrData`, which both sides build and parse.

use hmac::{Hmac, Mac};
use prost::Message as _;
use rand::{CryptoRng, RngCore};
use sha2::Sha256;
use whatsapp_proto::pb::adv::{
    AdvDeviceIdentity, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac,
};
use whatsapp_proto::signal::KeyPair;
use whatsapp_proto::xeddsa;

/// Account signature prefix (whatsmeow `pair.go` `AdvAccountSignaturePrefix`).
pub const ADV_ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [6, 0];
/// Device signature prefix (whatsmeow `pair.go` `AdvDeviceSignaturePrefix`).
pub const ADV_DEVICE_SIGNATURE_PREFIX: [u8; 2] = [6, 1];

/// Why the phone refuses a QR code or a companion's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// The companion's `pair-device-sign` content is not an ADVSignedDeviceIdentity.
    #[error("pair-device-sign content is not an ADVSignedDeviceIdentity: {reason}")]
    Malformed {
        /// prost's description.
        reason: String,
    },
    /// The companion changed the details or the account signature it was given.
    #[error("pair-device-sign does not carry the identity that was issued ({field} differs)")]
    Altered {
        /// The field that differs.
        field: &'static str,
    },
    /// The device signature is missing, has the wrong length or does not verify.
    #[error("device signature does not verify")]
    BadDeviceSignature,
    /// The link-code key bundle does not open (wrong code) or names another phone.
    #[error("link-code key bundle refused: {0}")]
    LinkCodeBundle(&'static str),
    /// The `key-index` attribute differs from the issued key index.
    #[error("key-index {got:?} differs from the issued {expected}")]
    KeyIndex {
        /// The issued index.
        expected: u32,
        /// The attribute received.
        got: Option<String>,
    },
}

/// What the phone issued to a companion and later checks the companion's answer against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedIdentity {
    /// Serialized ADVDeviceIdentity (the bytes both signatures cover).
    pub details: Vec<u8>,
    /// The account signature over `06 00 ‖ details ‖ companion identity`.
    pub account_signature: [u8; 64],
    /// The account (primary identity) public key.
    pub account_signature_key: [u8; 32],
    /// The key index given to the companion.
    pub key_index: u32,
    /// `pair-success`'s `device-identity` content: ADVSignedDeviceIdentityHMAC.
    pub hmac_container: Vec<u8>,
}

/// Issues the ADV identity of a new companion as the primary phone does: ADVDeviceIdentity,
/// the account signature (prefix 6,0) and the HMAC-SHA256 keyed by the QR's adv secret.
pub fn issue_device_identity(
    account_key: &KeyPair,
    companion_identity: &[u8; 32],
    adv_secret: &[u8; 32],
    raw_id: u32,
    key_index: u32,
    timestamp: u64,
    rng: &mut (impl RngCore + CryptoRng),
) -> IssuedIdentity {
    let details = AdvDeviceIdentity {
        raw_id: Some(raw_id),
        timestamp: Some(timestamp),
        key_index: Some(key_index),
        account_type: None,
        device_type: None,
    }
    .encode_to_vec();
    let message = [
        &ADV_ACCOUNT_SIGNATURE_PREFIX[..],
        &details,
        companion_identity,
    ]
    .concat();
    let account_signature = account_key.private.sign(&message, rng);
    let account_signature_key = *account_key.public.as_bytes();
    let signed = AdvSignedDeviceIdentity {
        details: Some(details.clone()),
        account_signature_key: Some(account_signature_key.to_vec()),
        account_signature: Some(account_signature.to_vec()),
        device_signature: None,
    }
    .encode_to_vec();
    let hmac = adv_hmac(adv_secret, &signed);
    let hmac_container = AdvSignedDeviceIdentityHmac {
        details: Some(signed),
        hmac: Some(hmac.to_vec()),
        account_type: None,
    }
    .encode_to_vec();
    IssuedIdentity {
        details,
        account_signature,
        account_signature_key,
        key_index,
        hmac_container,
    }
}

/// HMAC-SHA256 keyed by the adv secret over the signed identity (E2EE accounts: no prefix).
pub fn adv_hmac(adv_secret: &[u8; 32], signed_identity: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length, so the error branch is never taken.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(adv_secret) else {
        return [0; 32];
    };
    mac.update(signed_identity);
    mac.finalize().into_bytes().into()
}

/// Checks the companion's `pair-device-sign` answer: the same details and account signature,
/// a `key-index` equal to the one issued, and a device signature (prefix 6,1) by the
/// companion's identity key over `details ‖ identity ‖ account key`. Returns the full
/// ADVSignedDeviceIdentity (with the account key) that bundles of this device will carry.
pub fn verify_device_sign(
    issued: &IssuedIdentity,
    companion_identity: &[u8; 32],
    key_index_attr: Option<&str>,
    content: &[u8],
) -> Result<Vec<u8>, PhoneError> {
    let reply = AdvSignedDeviceIdentity::decode(content).map_err(|e| PhoneError::Malformed {
        reason: e.to_string(),
    })?;
    if reply.details.as_deref() != Some(issued.details.as_slice()) {
        return Err(PhoneError::Altered { field: "details" });
    }
    if reply.account_signature.as_deref() != Some(issued.account_signature.as_slice()) {
        return Err(PhoneError::Altered {
            field: "account_signature",
        });
    }
    if key_index_attr.and_then(|k| k.parse::<u32>().ok()) != Some(issued.key_index) {
        return Err(PhoneError::KeyIndex {
            expected: issued.key_index,
            got: key_index_attr.map(str::to_owned),
        });
    }
    let signature: [u8; 64] = reply
        .device_signature
        .as_deref()
        .and_then(|s| s.try_into().ok())
        .ok_or(PhoneError::BadDeviceSignature)?;
    let message = [
        &ADV_DEVICE_SIGNATURE_PREFIX[..],
        &issued.details,
        companion_identity,
        &issued.account_signature_key,
    ]
    .concat();
    if !xeddsa::verify(companion_identity, &message, &signature) {
        return Err(PhoneError::BadDeviceSignature);
    }
    Ok(AdvSignedDeviceIdentity {
        details: Some(issued.details.clone()),
        account_signature_key: Some(issued.account_signature_key.to_vec()),
        account_signature: Some(issued.account_signature.to_vec()),
        device_signature: Some(signature.to_vec()),
    }
    .encode_to_vec())
}

/// HKDF info of the link-code key bundle key (part 1 §8 stage 2 step 5).
pub const LINK_CODE_BUNDLE_INFO: &[u8] = b"link_code_pairing_key_bundle_encryption_key";
/// HKDF info of the ADV secret derived in code pairing (part 1 §8 stage 2 step 8).
pub const LINK_CODE_ADV_SECRET_INFO: &[u8] = b"adv_secret";

/// The phone's side of `companion_finish` (part 1 §8): opens the 156-byte key bundle with the
/// ephemeral secret, checks it names this phone's identity, and derives the shared ADV secret.
/// `companion_ephemeral` is the companion's ephemeral key already unwrapped with the code.
/// Returns `(companion identity, adv secret)`.
pub fn open_link_code_bundle(
    companion_ephemeral: &[u8; 32],
    primary_ephemeral: &xeddsa::KeyPair,
    primary_identity: &xeddsa::KeyPair,
    wrapped_bundle: &[u8],
) -> Result<([u8; 32], [u8; 32]), PhoneError> {
    use aes_gcm::aead::{Aead, KeyInit};
    if wrapped_bundle.len() != 156 {
        return Err(PhoneError::LinkCodeBundle("not 156 bytes"));
    }
    let eph_shared = primary_ephemeral.dh(companion_ephemeral);
    let hkdf32 = |ikm: &[u8], salt: Option<&[u8]>, info: &[u8]| -> Option<[u8; 32]> {
        let mut out = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(salt, ikm)
            .expand(info, &mut out)
            .ok()
            .map(|()| out)
    };
    let bundle_key = hkdf32(
        &eph_shared,
        Some(&wrapped_bundle[..32]),
        LINK_CODE_BUNDLE_INFO,
    )
    .ok_or(PhoneError::LinkCodeBundle("hkdf"))?;
    let cipher = aes_gcm::Aes256Gcm::new(&bundle_key.into());
    let nonce = aes_gcm::Nonce::from_slice(&wrapped_bundle[32..44]);
    let plain = cipher
        .decrypt(nonce, &wrapped_bundle[44..])
        .map_err(|_| PhoneError::LinkCodeBundle("does not decrypt (wrong code?)"))?;
    if plain.len() != 96 || plain[32..64] != primary_identity.public()[..] {
        return Err(PhoneError::LinkCodeBundle("names another primary identity"));
    }
    let mut companion_identity = [0u8; 32];
    companion_identity.copy_from_slice(&plain[..32]);
    let identity_shared = primary_identity.dh(&companion_identity);
    let adv_secret = hkdf32(
        &[&eph_shared[..], &identity_shared, &plain[64..96]].concat(),
        None,
        LINK_CODE_ADV_SECRET_INFO,
    )
    .ok_or(PhoneError::LinkCodeBundle("hkdf"))?;
    Ok((companion_identity, adv_secret))
}

/// What a phone checks before accepting a `pkmsg` from a companion: the stanza's
/// `<device-identity>` (ADVSignedDeviceIdentity) carries a valid account signature (6,0) by the
/// sender's account key and a valid device signature (6,1) by the companion's identity key
/// (WA Web retry reason 12 "ADV failure", part 2 §6.2; WR `wacore/src/prekeys.rs`).
pub fn verify_companion_identity(
    bytes: &[u8],
    account_key: &[u8; 32],
    companion_identity: &[u8; 32],
) -> Result<(), PhoneError> {
    let signed = AdvSignedDeviceIdentity::decode(bytes).map_err(|e| PhoneError::Malformed {
        reason: e.to_string(),
    })?;
    let details = signed.details.as_deref().ok_or(PhoneError::Malformed {
        reason: "no details".into(),
    })?;
    if let Some(key) = signed.account_signature_key.as_deref()
        && key != account_key
    {
        return Err(PhoneError::Altered {
            field: "account_signature_key",
        });
    }
    let account_signature: [u8; 64] = signed
        .account_signature
        .as_deref()
        .and_then(|s| s.try_into().ok())
        .ok_or(PhoneError::Altered {
            field: "account_signature",
        })?;
    let message = [
        &ADV_ACCOUNT_SIGNATURE_PREFIX[..],
        details,
        companion_identity,
    ]
    .concat();
    if !xeddsa::verify(account_key, &message, &account_signature) {
        return Err(PhoneError::Altered {
            field: "account_signature",
        });
    }
    let device_signature: [u8; 64] = signed
        .device_signature
        .as_deref()
        .and_then(|s| s.try_into().ok())
        .ok_or(PhoneError::BadDeviceSignature)?;
    let message = [
        &ADV_DEVICE_SIGNATURE_PREFIX[..],
        details,
        companion_identity,
        account_key,
    ]
    .concat();
    if !xeddsa::verify(companion_identity, &message, &device_signature) {
        return Err(PhoneError::BadDeviceSignature);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    #[test]
    fn issued_identity_verifies_like_a_companion_would() {
        let mut rng = OsRng;
        let account = KeyPair::generate(&mut rng);
        let companion = KeyPair::generate(&mut rng);
        let secret = [9u8; 32];
        let issued = issue_device_identity(
            &account,
            companion.public.as_bytes(),
            &secret,
            7,
            1,
            100,
            &mut rng,
        );
        // Companion side: HMAC, account signature, device signature.
        let container = AdvSignedDeviceIdentityHmac::decode(issued.hmac_container.as_slice())
            .expect("container");
        let signed = container.details.expect("details");
        assert_eq!(
            container.hmac.expect("hmac"),
            adv_hmac(&secret, &signed).to_vec()
        );
        let mut identity = AdvSignedDeviceIdentity::decode(signed.as_slice()).expect("identity");
        let details = identity.details.clone().expect("details");
        let sig: [u8; 64] = identity
            .account_signature
            .clone()
            .expect("sig")
            .try_into()
            .expect("64");
        let msg = [&[6u8, 0][..], &details, companion.public.as_bytes()].concat();
        assert!(xeddsa::verify(account.public.as_bytes(), &msg, &sig));
        let dmsg = [
            &[6u8, 1][..],
            &details,
            companion.public.as_bytes(),
            account.public.as_bytes(),
        ]
        .concat();
        identity.device_signature = Some(companion.private.sign(&dmsg, &mut rng).to_vec());
        identity.account_signature_key = None;
        let reply = identity.encode_to_vec();
        assert!(
            verify_device_sign(&issued, companion.public.as_bytes(), Some("1"), &reply).is_ok()
        );
        assert_eq!(
            verify_device_sign(&issued, companion.public.as_bytes(), Some("2"), &reply),
            Err(PhoneError::KeyIndex {
                expected: 1,
                got: Some("2".into())
            })
        );
        identity.device_signature = Some(vec![0; 64]);
        assert_eq!(
            verify_device_sign(
                &issued,
                companion.public.as_bytes(),
                Some("1"),
                &identity.encode_to_vec()
            ),
            Err(PhoneError::BadDeviceSignature)
        );
    }
}
