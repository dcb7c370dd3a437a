//! Pairing crypto, both sides: the QR string, ADV verification of `pair-success` and the
//! device signature (companion), the signed identity a primary phone issues (phone), and the
//! "link with phone number" key derivations for the companion and for the phone.
//!
//! Facts: ../shared/protocol part 1 §7 (QR, ADV) and §8 (phone code); whatsmeow `pair.go`,
//! `pair-code.go`. Everything is pure: randomness comes in as an RNG argument.
//!
//! ```
//! use rand_chacha::rand_core::SeedableRng;
//! use whatsapp_proto::pairing::{self, QrData};
//! use whatsapp_proto::xeddsa::KeyPair;
//!
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
//! let (noise, identity, account) =
//!     (KeyPair::generate(&mut rng), KeyPair::generate(&mut rng), KeyPair::generate(&mut rng));
//! let adv_secret = [7u8; 32];
//! let qr = QrData { reference: "2@abc".into(), noise_public: *noise.public(),
//!     identity_public: *identity.public(), adv_secret, client_type: '9' };
//! let text = qr.to_string();
//! assert!(text.starts_with("https://wa.me/settings/linked_devices#2@abc,"));
//! // The phone scans it, signs the companion into the account ...
//! let scanned: QrData = text.parse()?;
//! let container = pairing::issue_device_identity(&account, &scanned.identity_public,
//!     &scanned.adv_secret, 12, 1, 1_700_000_000, &mut rng);
//! // ... and the companion verifies, countersigns and answers.
//! let paired = pairing::verify_pair_success(&container, &adv_secret, &identity, &mut rng)?;
//! let reply = paired.reply_identity();
//! pairing::verify_device_signature(&reply, account.public(), identity.public())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::str::FromStr;

use aes_gcm::aead::{Aead, KeyInit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use prost::Message;
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;

use crate::binary::Node;
use crate::jid::Jid;
use crate::pb::adv::{
    AdvDeviceIdentity, AdvEncryptionType, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac,
};
use crate::xeddsa::{self, KeyPair};

/// What a QR code string starts with (whatsmeow `pair.go` `makeQRData`, Baileys
/// `buildPairingQRData`).
pub const QR_PREFIX: &str = "https://wa.me/settings/linked_devices#";

/// Account-signature prefix for an E2EE device (whatsmeow `AdvAccountSignaturePrefix`).
pub const ADV_ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [6, 0];
/// Device-signature prefix (whatsmeow `AdvDeviceSignaturePrefix`; always this one, §7).
pub const ADV_DEVICE_SIGNATURE_PREFIX: [u8; 2] = [6, 1];
/// Prefix for hosted accounts, used by the HMAC and the account signature
/// (whatsmeow `AdvHostedAccountSignaturePrefix`).
pub const ADV_HOSTED_PREFIX: [u8; 2] = [6, 5];

/// PBKDF2 iterations of the phone-code wrapping: `2 << 16` (whatsmeow `pair-code.go`).
pub const LINK_CODE_PBKDF2_ROUNDS: u32 = 2 << 16;
/// The alphabet of pairing codes: Crockford-like base32 without 0, I, O, U
/// (whatsmeow `pair-code.go` `linkingBase32`).
pub const LINK_CODE_ALPHABET: &[u8; 32] = b"123456789ABCDEFGHJKLMNPQRSTVWXYZ";
/// HKDF info for the key-bundle key of phone-code pairing.
pub const LINK_CODE_BUNDLE_INFO: &[u8] = b"link_code_pairing_key_bundle_encryption_key";
/// HKDF info for the ADV secret derived by phone-code pairing.
pub const LINK_CODE_ADV_SECRET_INFO: &[u8] = b"adv_secret";
/// Length of a wrapped ephemeral key: salt(32) ‖ iv(16) ‖ ct(32).
pub const WRAPPED_EPHEMERAL_LEN: usize = 80;
/// Length of the wrapped key bundle: salt(32) ‖ nonce(12) ‖ GCM(96 + 16).
pub const WRAPPED_BUNDLE_LEN: usize = 156;

/// A pairing failure, split by blame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PairingError {
    /// A protobuf from the peer does not decode.
    #[error("{what} is not a valid protobuf: {reason}")]
    Malformed {
        /// Which message.
        what: &'static str,
        /// prost's description.
        reason: String,
    },
    /// A required field is absent or has the wrong length.
    #[error("{field} is missing or has the wrong length")]
    BadField {
        /// The field.
        field: &'static str,
    },
    /// The ADV HMAC does not match our ADV secret (server answer: 401 `hmac-mismatch`).
    #[error("pair-success HMAC does not match the ADV secret")]
    HmacMismatch,
    /// The account signature over our identity is invalid (server answer: 401
    /// `signature-mismatch`).
    #[error("pair-success account signature is invalid")]
    AccountSignatureMismatch,
    /// The device signature (checked by the phone side) is invalid.
    #[error("device signature is invalid")]
    DeviceSignatureMismatch,
    /// A QR string is not of the documented form.
    #[error("QR string is malformed: {reason}")]
    BadQr {
        /// What is wrong.
        reason: &'static str,
    },
    /// A pairing code is not 8 characters of the alphabet.
    #[error("pairing code is not 8 characters of the link-code alphabet")]
    BadCode,
    /// The phone-code key bundle failed to decrypt or names another primary.
    #[error("link-code key bundle failed to decrypt or does not match")]
    BadBundle,
}

impl PairingError {
    /// The `(code, text)` of the IQ error a companion answers `pair-success` with.
    pub fn iq_error(&self) -> (u16, &'static str) {
        match self {
            PairingError::HmacMismatch => (401, "hmac-mismatch"),
            PairingError::AccountSignatureMismatch => (401, "signature-mismatch"),
            _ => (500, "internal-error"),
        }
    }
}

// ------------------------------------------------------------------ QR

/// The content of one QR code: `PREFIX REF,NOISE,IDENTITY,ADV,TYPE` (§7 step 3).
#[derive(Clone, PartialEq, Eq)]
pub struct QrData {
    /// The `<ref>` from the server's `pair-device` IQ, as text.
    pub reference: String,
    /// Our Noise static public key.
    pub noise_public: [u8; 32],
    /// Our Signal identity public key.
    pub identity_public: [u8; 32],
    /// The ADV secret (random, made with the device).
    pub adv_secret: [u8; 32],
    /// The companion client type character ('9' = other web client, whatsmeow's default).
    pub client_type: char,
}

impl fmt::Debug for QrData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QrData")
            .field("reference", &self.reference)
            .field("client_type", &self.client_type)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for QrData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{QR_PREFIX}{},{},{},{},{}",
            self.reference,
            STANDARD.encode(self.noise_public),
            STANDARD.encode(self.identity_public),
            STANDARD.encode(self.adv_secret),
            self.client_type
        )
    }
}

impl FromStr for QrData {
    type Err = PairingError;

    /// Parses a QR string with or without the `wa.me` prefix (whatsapp-rust omits it); the
    /// obsolete four-field form gets client type '0'.
    fn from_str(s: &str) -> Result<QrData, PairingError> {
        let body = s.strip_prefix(QR_PREFIX).unwrap_or(s);
        let parts: Vec<&str> = body.split(',').collect();
        if parts.len() != 4 && parts.len() != 5 {
            return Err(PairingError::BadQr {
                reason: "expected 4 or 5 comma-separated fields",
            });
        }
        let key = |text: &str, reason| {
            STANDARD
                .decode(text)
                .ok()
                .and_then(|v| <[u8; 32]>::try_from(v).ok())
                .ok_or(PairingError::BadQr { reason })
        };
        let client_type = match parts.get(4) {
            Some(t) => {
                let mut chars = t.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => c,
                    _ => {
                        return Err(PairingError::BadQr {
                            reason: "client type is not one character",
                        });
                    }
                }
            }
            None => '0',
        };
        Ok(QrData {
            reference: parts[0].to_owned(),
            noise_public: key(parts[1], "noise key is not base64 of 32 bytes")?,
            identity_public: key(parts[2], "identity key is not base64 of 32 bytes")?,
            adv_secret: key(parts[3], "ADV secret is not base64 of 32 bytes")?,
            client_type,
        })
    }
}

// ------------------------------------------------------------------ ADV, companion side

/// The result of a verified `pair-success`: our countersigned account identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairedIdentity {
    /// The full ADVSignedDeviceIdentity with our new device signature (the "account" record
    /// to store; needed when sending pkmsg).
    pub account: AdvSignedDeviceIdentity,
    /// The parsed inner ADVDeviceIdentity.
    pub details: AdvDeviceIdentity,
    /// The primary device's identity key (the account signature key).
    pub account_signature_key: [u8; 32],
}

impl PairedIdentity {
    /// `ADVDeviceIdentity.keyIndex` (0 if absent), the `key-index` attribute of the reply.
    pub fn key_index(&self) -> u32 {
        self.details.key_index.unwrap_or(0)
    }

    /// The serialized identity for `pair-device-sign`: fields 1, 3 and 4 only (the account
    /// signature key removed).
    pub fn reply_identity(&self) -> Vec<u8> {
        AdvSignedDeviceIdentity {
            account_signature_key: None,
            ..self.account.clone()
        }
        .encode_to_vec()
    }

    /// The serialized account record as stored and as sent in `<device-identity>` of pkmsg
    /// (whatsmeow sends it without the account signature key as well).
    pub fn account_bytes(&self) -> Vec<u8> {
        self.account.encode_to_vec()
    }

    /// The `<iq type="result">` answering the pair-success IQ `request_id`.
    pub fn reply_node(&self, request_id: &str) -> Node {
        Node::new("iq")
            .attr("to", Jid::server_jid())
            .attr("type", "result")
            .attr("id", request_id)
            .children([
                Node::new("pair-device-sign").children([Node::new("device-identity")
                    .attr("key-index", self.key_index())
                    .bytes(self.reply_identity())]),
            ])
    }
}

/// The `<iq type="error">` answering a refused pair-success.
pub fn pair_error_node(request_id: &str, error: &PairingError) -> Node {
    let (code, text) = error.iq_error();
    Node::new("iq")
        .attr("to", Jid::server_jid())
        .attr("type", "error")
        .attr("id", request_id)
        .children([Node::new("error").attr("code", code).attr("text", text)])
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn decode<M: Message + Default>(bytes: &[u8], what: &'static str) -> Result<M, PairingError> {
    M::decode(bytes).map_err(|e| PairingError::Malformed {
        what,
        reason: e.to_string(),
    })
}

fn is_hosted(value: Option<i32>) -> bool {
    value == Some(AdvEncryptionType::Hosted as i32)
}

fn account_message(details: &[u8], hosted: bool, identity_public: &[u8; 32]) -> Vec<u8> {
    let prefix = if hosted {
        ADV_HOSTED_PREFIX
    } else {
        ADV_ACCOUNT_SIGNATURE_PREFIX
    };
    [&prefix[..], details, identity_public].concat()
}

fn device_message(details: &[u8], identity_public: &[u8; 32], account_key: &[u8; 32]) -> Vec<u8> {
    [
        &ADV_DEVICE_SIGNATURE_PREFIX[..],
        details,
        identity_public,
        account_key,
    ]
    .concat()
}

/// Verifies the `<device-identity>` content of `pair-success` and countersigns it.
///
/// Checks, in order: the HMAC keyed with `adv_secret` (constant-time), then the primary's
/// XEdDSA account signature over `06 00 ‖ details ‖ our identity` (`06 05` when the inner
/// device type is hosted). Both failures are refused — unlike Baileys, which skips the
/// signature check. Then signs `06 01 ‖ details ‖ identity ‖ account key` with our identity.
pub fn verify_pair_success(
    device_identity: &[u8],
    adv_secret: &[u8; 32],
    identity: &KeyPair,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<PairedIdentity, PairingError> {
    let container: AdvSignedDeviceIdentityHmac =
        decode(device_identity, "ADVSignedDeviceIdentityHMAC")?;
    let details = container
        .details
        .as_deref()
        .ok_or(PairingError::BadField { field: "details" })?;
    let received = container
        .hmac
        .as_deref()
        .ok_or(PairingError::BadField { field: "hmac" })?;
    let prefix: &[u8] = if is_hosted(container.account_type) {
        &ADV_HOSTED_PREFIX
    } else {
        &[]
    };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(adv_secret).expect("any key length");
    mac.update(prefix);
    mac.update(details);
    mac.verify_slice(received)
        .map_err(|_| PairingError::HmacMismatch)?;

    let mut account: AdvSignedDeviceIdentity = decode(details, "ADVSignedDeviceIdentity")?;
    let inner = account
        .details
        .clone()
        .ok_or(PairingError::BadField { field: "details" })?;
    let parsed: AdvDeviceIdentity = decode(&inner, "ADVDeviceIdentity")?;
    let account_key: [u8; 32] = account
        .account_signature_key
        .as_deref()
        .and_then(|k| k.try_into().ok())
        .ok_or(PairingError::AccountSignatureMismatch)?;
    let signature: [u8; 64] = account
        .account_signature
        .as_deref()
        .and_then(|s| s.try_into().ok())
        .ok_or(PairingError::AccountSignatureMismatch)?;
    let message = account_message(&inner, is_hosted(parsed.device_type), identity.public());
    if !xeddsa::verify(&account_key, &message, &signature) {
        return Err(PairingError::AccountSignatureMismatch);
    }
    let device_sig = identity.sign(
        &device_message(&inner, identity.public(), &account_key),
        rng,
    );
    account.device_signature = Some(device_sig.to_vec());
    Ok(PairedIdentity {
        account,
        details: parsed,
        account_signature_key: account_key,
    })
}

// ------------------------------------------------------------------ ADV, phone side

/// Phone side: issues the `<device-identity>` content of `pair-success` for a companion
/// whose identity key and ADV secret came from its QR code (an E2EE account).
///
/// `raw_id` identifies the account's ADV key family; `key_index` is the companion's index.
pub fn issue_device_identity(
    account: &KeyPair,
    companion_identity: &[u8; 32],
    adv_secret: &[u8; 32],
    raw_id: u32,
    key_index: u32,
    timestamp: u64,
    rng: &mut (impl RngCore + CryptoRng),
) -> Vec<u8> {
    let details = AdvDeviceIdentity {
        raw_id: Some(raw_id),
        timestamp: Some(timestamp),
        key_index: Some(key_index),
        account_type: Some(AdvEncryptionType::E2ee as i32),
        device_type: Some(AdvEncryptionType::E2ee as i32),
    }
    .encode_to_vec();
    let signature = account.sign(&account_message(&details, false, companion_identity), rng);
    let signed = AdvSignedDeviceIdentity {
        details: Some(details),
        account_signature_key: Some(account.public().to_vec()),
        account_signature: Some(signature.to_vec()),
        device_signature: None,
    }
    .encode_to_vec();
    let hmac = hmac_sha256(adv_secret, &[&signed]);
    AdvSignedDeviceIdentityHmac {
        details: Some(signed),
        hmac: Some(hmac.to_vec()),
        account_type: Some(AdvEncryptionType::E2ee as i32),
    }
    .encode_to_vec()
}

/// Phone side (or anyone holding the account key): checks the device signature in a
/// `pair-device-sign` identity (or a stored account record) and returns the parsed identity.
pub fn verify_device_signature(
    signed_identity: &[u8],
    account_key: &[u8; 32],
    companion_identity: &[u8; 32],
) -> Result<AdvSignedDeviceIdentity, PairingError> {
    let identity: AdvSignedDeviceIdentity = decode(signed_identity, "ADVSignedDeviceIdentity")?;
    let details = identity
        .details
        .as_deref()
        .ok_or(PairingError::BadField { field: "details" })?;
    let signature: [u8; 64] = identity
        .device_signature
        .as_deref()
        .and_then(|s| s.try_into().ok())
        .ok_or(PairingError::DeviceSignatureMismatch)?;
    let message = device_message(details, companion_identity, account_key);
    if !xeddsa::verify(companion_identity, &message, &signature) {
        return Err(PairingError::DeviceSignatureMismatch);
    }
    Ok(identity)
}

// ------------------------------------------------------------------ phone code

/// Encodes 5 random bytes as an 8-character pairing code (base32, most significant bit first,
/// [`LINK_CODE_ALPHABET`]).
pub fn pairing_code_from_bytes(bytes: [u8; 5]) -> String {
    let mut value = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let mut out = [0u8; 8];
    for slot in out.iter_mut().rev() {
        *slot = LINK_CODE_ALPHABET[(value & 31) as usize];
        value >>= 5;
    }
    out.iter().map(|&b| b as char).collect()
}

/// A fresh random pairing code (8 characters, no dash).
pub fn generate_pairing_code(rng: &mut (impl RngCore + CryptoRng)) -> String {
    let mut bytes = [0u8; 5];
    rng.fill_bytes(&mut bytes);
    pairing_code_from_bytes(bytes)
}

/// The code as shown to people: `ABCD-EFGH`.
pub fn format_pairing_code(code: &str) -> String {
    if code.len() == 8 && code.is_ascii() {
        format!("{}-{}", &code[..4], &code[4..])
    } else {
        code.to_owned()
    }
}

/// Normalises a code a person typed: drops a dash and spaces, upper-cases, checks the
/// alphabet and length.
pub fn normalize_pairing_code(code: &str) -> Result<String, PairingError> {
    let code: String = code
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if code.len() == 8 && code.bytes().all(|b| LINK_CODE_ALPHABET.contains(&b)) {
        Ok(code)
    } else {
        Err(PairingError::BadCode)
    }
}

fn link_code_key(code: &str, salt: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(code.as_bytes(), salt, LINK_CODE_PBKDF2_ROUNDS, &mut key);
    key
}

fn aes_ctr(key: &[u8; 32], iv: &[u8; 16], data: &mut [u8]) {
    let mut cipher = ctr::Ctr128BE::<aes::Aes256>::new(key.into(), iv.into());
    cipher.apply_keystream(data);
}

/// Wraps an ephemeral public key with the code (both sides use it): PBKDF2-HMAC-SHA256
/// (131 072 rounds) over the code, AES-256-CTR; output `salt ‖ iv ‖ ct` (80 bytes).
pub fn wrap_ephemeral(
    code: &str,
    public: &[u8; 32],
    rng: &mut (impl RngCore + CryptoRng),
) -> [u8; WRAPPED_EPHEMERAL_LEN] {
    let mut salt = [0u8; 32];
    let mut iv = [0u8; 16];
    rng.fill_bytes(&mut salt);
    rng.fill_bytes(&mut iv);
    wrap_ephemeral_with(code, public, &salt, &iv)
}

/// [`wrap_ephemeral`] with explicit salt and iv (for known-answer tests).
pub fn wrap_ephemeral_with(
    code: &str,
    public: &[u8; 32],
    salt: &[u8; 32],
    iv: &[u8; 16],
) -> [u8; WRAPPED_EPHEMERAL_LEN] {
    let key = link_code_key(code, salt);
    let mut ct = *public;
    aes_ctr(&key, iv, &mut ct);
    let mut out = [0u8; WRAPPED_EPHEMERAL_LEN];
    out[..32].copy_from_slice(salt);
    out[32..48].copy_from_slice(iv);
    out[48..].copy_from_slice(&ct);
    out
}

/// Unwraps a key wrapped by [`wrap_ephemeral`]. There is no MAC: a wrong code yields a wrong
/// key, which surfaces later as a failed bundle or HMAC.
pub fn unwrap_ephemeral(code: &str, wrapped: &[u8]) -> Result<[u8; 32], PairingError> {
    if wrapped.len() != WRAPPED_EPHEMERAL_LEN {
        return Err(PairingError::BadField {
            field: "link_code_pairing_wrapped_ephemeral_pub",
        });
    }
    let salt = &wrapped[..32];
    let iv: [u8; 16] = wrapped[32..48].try_into().expect("16 bytes");
    let mut key_bytes: [u8; 32] = wrapped[48..].try_into().expect("32 bytes");
    aes_ctr(&link_code_key(code, salt), &iv, &mut key_bytes);
    Ok(key_bytes)
}

fn hkdf32(ikm: &[u8], salt: Option<&[u8]>, info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    hkdf::Hkdf::<Sha256>::new(salt, ikm)
        .expand(info, &mut out)
        .expect("32 bytes is a valid HKDF length");
    out
}

/// The companion's finish step (§8 stage 2, steps 2-8).
#[derive(Clone, PartialEq, Eq)]
pub struct CompanionFinish {
    /// `link_code_pairing_wrapped_key_bundle` (156 bytes).
    pub wrapped_bundle: Vec<u8>,
    /// The new ADV secret; replaces the stored one before `pair-success` arrives.
    pub adv_secret: [u8; 32],
}

impl fmt::Debug for CompanionFinish {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompanionFinish").finish_non_exhaustive()
    }
}

/// Companion side of stage 2: unwraps the primary's ephemeral key with the code, builds the
/// encrypted key bundle and derives the new ADV secret.
pub fn companion_finish(
    code: &str,
    companion_ephemeral: &KeyPair,
    identity: &KeyPair,
    wrapped_primary_ephemeral: &[u8],
    primary_identity: &[u8; 32],
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<CompanionFinish, PairingError> {
    let primary_ephemeral = unwrap_ephemeral(code, wrapped_primary_ephemeral)?;
    let eph_shared = companion_ephemeral.dh(&primary_ephemeral);
    let mut adv_random = [0u8; 32];
    let mut bundle_salt = [0u8; 32];
    let mut nonce = [0u8; 12];
    rng.fill_bytes(&mut adv_random);
    rng.fill_bytes(&mut bundle_salt);
    rng.fill_bytes(&mut nonce);
    let bundle_key = hkdf32(&eph_shared, Some(&bundle_salt), LINK_CODE_BUNDLE_INFO);
    let plaintext = [&identity.public()[..], primary_identity, &adv_random].concat();
    let sealed = aes_gcm::Aes256Gcm::new(&bundle_key.into())
        .encrypt(&nonce.into(), plaintext.as_slice())
        .map_err(|_| PairingError::BadBundle)?;
    let wrapped_bundle = [&bundle_salt[..], &nonce, &sealed].concat();
    let identity_shared = identity.dh(primary_identity);
    let adv_secret = hkdf32(
        &[&eph_shared[..], &identity_shared, &adv_random].concat(),
        None,
        LINK_CODE_ADV_SECRET_INFO,
    );
    Ok(CompanionFinish {
        wrapped_bundle,
        adv_secret,
    })
}

/// What the phone learns from the companion's key bundle.
#[derive(Clone, PartialEq, Eq)]
pub struct PrimaryFinish {
    /// The companion's identity public key.
    pub companion_identity: [u8; 32],
    /// The ADV secret both sides now share (key of the pair-success HMAC).
    pub adv_secret: [u8; 32],
}

impl fmt::Debug for PrimaryFinish {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrimaryFinish")
            .field("companion_identity", &self.companion_identity)
            .finish_non_exhaustive()
    }
}

/// Phone side of stage 2: given the companion's wrapped ephemeral key (from
/// `companion_hello`), the phone's ephemeral key pair (whose wrapped public key it sent as
/// `primary_hello`), its identity and the companion's `companion_finish` bundle, recovers
/// the companion identity and the shared ADV secret.
pub fn primary_finish(
    code: &str,
    primary_ephemeral: &KeyPair,
    primary_identity: &KeyPair,
    wrapped_companion_ephemeral: &[u8],
    wrapped_bundle: &[u8],
) -> Result<PrimaryFinish, PairingError> {
    let companion_ephemeral = unwrap_ephemeral(code, wrapped_companion_ephemeral)?;
    if wrapped_bundle.len() != WRAPPED_BUNDLE_LEN {
        return Err(PairingError::BadBundle);
    }
    let eph_shared = primary_ephemeral.dh(&companion_ephemeral);
    let bundle_key = hkdf32(
        &eph_shared,
        Some(&wrapped_bundle[..32]),
        LINK_CODE_BUNDLE_INFO,
    );
    let nonce: [u8; 12] = wrapped_bundle[32..44].try_into().expect("12 bytes");
    let plain = aes_gcm::Aes256Gcm::new(&bundle_key.into())
        .decrypt(&nonce.into(), &wrapped_bundle[44..])
        .map_err(|_| PairingError::BadBundle)?;
    if plain.len() != 96 || plain[32..64] != primary_identity.public()[..] {
        return Err(PairingError::BadBundle);
    }
    let companion_identity: [u8; 32] = plain[..32].try_into().expect("32 bytes");
    let identity_shared = primary_identity.dh(&companion_identity);
    let adv_secret = hkdf32(
        &[&eph_shared[..], &identity_shared, &plain[64..]].concat(),
        None,
        LINK_CODE_ADV_SECRET_INFO,
    );
    Ok(PrimaryFinish {
        companion_identity,
        adv_secret,
    })
}

/// Strips a phone number to digits and checks it as whatsmeow does (more than 6 digits, no
/// leading 0).
pub fn normalize_phone(phone: &str) -> Option<String> {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    (digits.len() > 6 && !digits.starts_with('0')).then_some(digits)
}

/// Stage 1 request: `<iq xmlns="md" type="set"><link_code_companion_reg stage="companion_hello">`
/// (the caller sets the IQ `id`). `phone` is already normalised digits.
pub fn companion_hello_node(
    phone: &str,
    wrapped_ephemeral: &[u8],
    noise_public: &[u8; 32],
    client_type: char,
    platform_display: &str,
    show_push_notification: bool,
) -> Node {
    Node::new("iq")
        .attr("xmlns", "md")
        .attr("type", "set")
        .attr("to", Jid::server_jid())
        .children([Node::new("link_code_companion_reg")
            .attr("jid", Jid::user(phone))
            .attr("stage", "companion_hello")
            .attr("should_show_push_notification", show_push_notification)
            .children([
                Node::new("link_code_pairing_wrapped_companion_ephemeral_pub")
                    .bytes(wrapped_ephemeral.to_vec()),
                Node::new("companion_server_auth_key_pub").bytes(noise_public.to_vec()),
                Node::new("companion_platform_id").text(client_type.to_string()),
                Node::new("companion_platform_display").text(platform_display),
                // whatsmeow and WA Web send one zero byte (§8 item 5).
                Node::new("link_code_pairing_nonce").bytes(vec![0u8]),
            ])])
}

/// Stage 2 answer: `<iq xmlns="md" type="set"><link_code_companion_reg stage="companion_finish">`.
pub fn companion_finish_node(
    phone: &str,
    wrapped_bundle: &[u8],
    identity_public: &[u8; 32],
    pairing_ref: &[u8],
) -> Node {
    Node::new("iq")
        .attr("xmlns", "md")
        .attr("type", "set")
        .attr("to", Jid::server_jid())
        .children([Node::new("link_code_companion_reg")
            .attr("jid", Jid::user(phone))
            .attr("stage", "companion_finish")
            .children([
                Node::new("link_code_pairing_wrapped_key_bundle").bytes(wrapped_bundle.to_vec()),
                Node::new("companion_identity_public").bytes(identity_public.to_vec()),
                Node::new("link_code_pairing_ref").bytes(pairing_ref.to_vec()),
            ])])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;

    fn rng() -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(42)
    }

    #[test]
    fn qr_string_layout_and_round_trip() {
        let qr = QrData {
            reference: "2@ref".into(),
            noise_public: [1; 32],
            identity_public: [2; 32],
            adv_secret: [3; 32],
            client_type: '9',
        };
        let s = qr.to_string();
        assert_eq!(
            s,
            format!(
                "{QR_PREFIX}2@ref,{},{},{},9",
                STANDARD.encode([1; 32]),
                STANDARD.encode([2; 32]),
                STANDARD.encode([3; 32])
            )
        );
        assert_eq!(s.parse::<QrData>().unwrap(), qr);
        // whatsapp-rust's prefix-less form parses too.
        assert_eq!(
            s.strip_prefix(QR_PREFIX)
                .unwrap()
                .parse::<QrData>()
                .unwrap(),
            qr
        );
        assert!("a,b".parse::<QrData>().is_err());
    }

    fn pair(hmac_ok: bool, sig_ok: bool) -> Result<PairedIdentity, PairingError> {
        let mut rng = rng();
        let identity = KeyPair::generate(&mut rng);
        let account = KeyPair::generate(&mut rng);
        let adv = [9u8; 32];
        let other = KeyPair::generate(&mut rng);
        let signed_for = if sig_ok {
            identity.public()
        } else {
            other.public()
        };
        let container = issue_device_identity(&account, signed_for, &adv, 1, 3, 1, &mut rng);
        let key = if hmac_ok { adv } else { [8u8; 32] };
        verify_pair_success(&container, &key, &identity, &mut rng)
    }

    #[test]
    fn adv_good_identity_is_countersigned() {
        let paired = pair(true, true).unwrap();
        assert_eq!(paired.key_index(), 3);
        let reply = AdvSignedDeviceIdentity::decode(paired.reply_identity().as_slice()).unwrap();
        assert!(reply.account_signature_key.is_none());
        assert_eq!(reply.device_signature.as_ref().map(Vec::len), Some(64));
        let node = paired.reply_node("abc");
        let di = node.path(&["pair-device-sign", "device-identity"]).unwrap();
        assert_eq!(di.attrs().string("key-index").unwrap(), "3");
    }

    #[test]
    fn adv_bad_hmac_and_bad_signature_are_refused() {
        assert_eq!(pair(false, true).unwrap_err(), PairingError::HmacMismatch);
        assert_eq!(
            pair(true, false).unwrap_err(),
            PairingError::AccountSignatureMismatch
        );
        assert_eq!(
            PairingError::AccountSignatureMismatch.iq_error(),
            (401, "signature-mismatch")
        );
        let mut rng = rng();
        let identity = KeyPair::generate(&mut rng);
        assert!(matches!(
            verify_pair_success(b"\xff\xff", &[0; 32], &identity, &mut rng),
            Err(PairingError::Malformed { .. })
        ));
    }

    #[test]
    fn device_signature_verifies_on_the_phone_side() {
        let mut rng = rng();
        let identity = KeyPair::generate(&mut rng);
        let account = KeyPair::generate(&mut rng);
        let adv = [5u8; 32];
        let container = issue_device_identity(&account, identity.public(), &adv, 1, 1, 1, &mut rng);
        let paired = verify_pair_success(&container, &adv, &identity, &mut rng).unwrap();
        let reply = paired.reply_identity();
        verify_device_signature(&reply, account.public(), identity.public()).unwrap();
        let other = KeyPair::generate(&mut rng);
        assert_eq!(
            verify_device_signature(&reply, other.public(), identity.public()).unwrap_err(),
            PairingError::DeviceSignatureMismatch
        );
    }

    #[test]
    fn pairing_code_format() {
        assert_eq!(pairing_code_from_bytes([0; 5]), "11111111");
        assert_eq!(pairing_code_from_bytes([0xff; 5]), "ZZZZZZZZ");
        // 0x100 = 8·32: last digit index 0, the one before it index 8 (the character 9).
        assert_eq!(pairing_code_from_bytes([0, 0, 0, 1, 0]), "11111191");
        assert_eq!(format_pairing_code("ABCDEFGH"), "ABCD-EFGH");
        assert_eq!(normalize_pairing_code("abcd-efgh").unwrap(), "ABCDEFGH");
        assert_eq!(
            normalize_pairing_code("ABCD-EFG0"),
            Err(PairingError::BadCode)
        );
        assert_eq!(normalize_phone("+20 100 123 4567").unwrap(), "201001234567");
        assert!(normalize_phone("0123456789").is_none());
        let code = generate_pairing_code(&mut rng());
        assert_eq!(normalize_pairing_code(&code).unwrap(), code);
    }

    #[test]
    fn phone_code_both_sides_agree() {
        let mut rng = rng();
        let code = "ABCD1234";
        let companion_eph = KeyPair::generate(&mut rng);
        let companion_id = KeyPair::generate(&mut rng);
        let primary_eph = KeyPair::generate(&mut rng);
        let primary_id = KeyPair::generate(&mut rng);
        let hello = wrap_ephemeral(code, companion_eph.public(), &mut rng);
        let primary_hello = wrap_ephemeral(code, primary_eph.public(), &mut rng);
        assert_eq!(
            &unwrap_ephemeral(code, &hello).unwrap(),
            companion_eph.public()
        );
        let finish = companion_finish(
            code,
            &companion_eph,
            &companion_id,
            &primary_hello,
            primary_id.public(),
            &mut rng,
        )
        .unwrap();
        assert_eq!(finish.wrapped_bundle.len(), WRAPPED_BUNDLE_LEN);
        let phone = primary_finish(
            code,
            &primary_eph,
            &primary_id,
            &hello,
            &finish.wrapped_bundle,
        )
        .unwrap();
        assert_eq!(&phone.companion_identity, companion_id.public());
        assert_eq!(phone.adv_secret, finish.adv_secret);
        // A wrong code on the phone side yields a wrong key and a refused bundle.
        assert_eq!(
            primary_finish(
                "ZZZZ1234",
                &primary_eph,
                &primary_id,
                &hello,
                &finish.wrapped_bundle
            )
            .unwrap_err(),
            PairingError::BadBundle
        );
    }

    #[test]
    fn ctr_counter_spans_the_whole_iv() {
        // With iv = ff..ff the second block's counter wraps to 00..00 (128-bit increment).
        let key = [1u8; 32];
        let mut a = [0u8; 32];
        aes_ctr(&key, &[0xff; 16], &mut a);
        let mut b = [0u8; 16];
        aes_ctr(&key, &[0; 16], &mut b);
        assert_eq!(&a[16..], &b);
    }
}
