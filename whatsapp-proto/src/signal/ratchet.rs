//! The key derivations of X3DH and the double ratchet, and of sender-key chains.
//!
//! Exposed so that tests can check every intermediate value against the known-answer vectors;
//! sessions ([`super::SessionRecord`]) and sender keys ([`super::SenderKeyRecord`]) use them.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::keys::{PrivateKey, PublicKey};

type HmacSha256 = Hmac<Sha256>;

/// Key material never reaches logs: these types print only what is not secret.
macro_rules! redacted_debug {
    ($type:ty, $name:literal $(, $field:ident)*) => {
        impl std::fmt::Debug for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct($name)$(.field(stringify!($field), &self.$field))*.finish_non_exhaustive()
            }
        }
    };
}

redacted_debug!(ChainKey, "ChainKey", index);
redacted_debug!(MessageKeys, "MessageKeys");
redacted_debug!(SenderMessageKeys, "SenderMessageKeys");
redacted_debug!(X3dhSecrets, "X3dhSecrets");

/// HKDF info of the X3DH master secret (part 2 §1.4).
pub const INFO_TEXT: &[u8] = b"WhisperText";
/// HKDF info of a root-key ratchet step (part 2 §1.5).
pub const INFO_RATCHET: &[u8] = b"WhisperRatchet";
/// HKDF info of message keys (part 2 §1.6).
pub const INFO_MESSAGE_KEYS: &[u8] = b"WhisperMessageKeys";
/// HKDF info of sender-key message keys (part 2 §1.11).
pub const INFO_GROUP: &[u8] = b"WhisperGroup";

/// The 32 0xFF bytes that open the X3DH master secret ("discontinuity bytes").
const DISCONTINUITY: [u8; 32] = [0xFF; 32];

fn hkdf<const N: usize>(salt: Option<&[u8]>, ikm: &[u8], info: &[u8]) -> [u8; N] {
    let mut okm = [0u8; N];
    // N ≤ 255·32 for every caller, so expand cannot fail; a zeroed output would only follow a
    // programming error, never untrusted input.
    let _ = Hkdf::<Sha256>::new(salt, ikm).expand(info, &mut okm);
    okm
}

/// HMAC-SHA256 keyed with a 32-byte key. HMAC pads a key shorter than the 64-byte block with
/// zeros, so keying with the padded block is the same MAC and needs no fallible constructor.
pub(crate) fn hmac_sha256(key: &[u8; 32]) -> HmacSha256 {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    <HmacSha256 as hmac::digest::KeyInit>::new(&block.into())
}

fn hmac(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    let mut mac = hmac_sha256(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn split64(bytes: [u8; 64]) -> ([u8; 32], [u8; 32]) {
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    a.copy_from_slice(&bytes[..32]);
    b.copy_from_slice(&bytes[32..]);
    (a, b)
}

/// A symmetric chain position: the chain key and the counter of the message it keys next.
#[derive(Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct ChainKey {
    /// The chain key.
    pub key: [u8; 32],
    /// The counter (message index, or sender-key iteration) this key produces.
    pub index: u32,
}

impl ChainKey {
    /// The message-key seed for `index`: HMAC-SHA256(key, 0x01).
    pub fn message_seed(&self) -> [u8; 32] {
        hmac(&self.key, &[0x01])
    }

    /// The chain key for `index + 1`: HMAC-SHA256(key, 0x02). `None` once the counter would wrap.
    pub fn next(&self) -> Option<Self> {
        Some(Self {
            key: hmac(&self.key, &[0x02]),
            index: self.index.checked_add(1)?,
        })
    }
}

/// AES-256-CBC key, HMAC key and IV of one WhisperMessage.
#[derive(Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct MessageKeys {
    /// AES-256 key.
    pub cipher_key: [u8; 32],
    /// HMAC-SHA256 key for the 8-byte MAC.
    pub mac_key: [u8; 32],
    /// AES-CBC IV.
    pub iv: [u8; 16],
}

impl MessageKeys {
    /// HKDF(seed, salt none, "WhisperMessageKeys", 80) → cipher key ‖ MAC key ‖ IV.
    pub fn derive(seed: &[u8; 32]) -> Self {
        let okm: [u8; 80] = hkdf(None, seed, INFO_MESSAGE_KEYS);
        let mut keys = Self {
            cipher_key: [0; 32],
            mac_key: [0; 32],
            iv: [0; 16],
        };
        keys.cipher_key.copy_from_slice(&okm[..32]);
        keys.mac_key.copy_from_slice(&okm[32..64]);
        keys.iv.copy_from_slice(&okm[64..80]);
        keys
    }
}

/// AES-256-CBC IV and key of one SenderKeyMessage.
#[derive(Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct SenderMessageKeys {
    /// AES-CBC IV.
    pub iv: [u8; 16],
    /// AES-256 key.
    pub cipher_key: [u8; 32],
}

impl SenderMessageKeys {
    /// HKDF(seed, salt none, "WhisperGroup", 48) → IV ‖ cipher key.
    pub fn derive(seed: &[u8; 32]) -> Self {
        let okm: [u8; 48] = hkdf(None, seed, INFO_GROUP);
        let mut keys = Self {
            iv: [0; 16],
            cipher_key: [0; 32],
        };
        keys.iv.copy_from_slice(&okm[..16]);
        keys.cipher_key.copy_from_slice(&okm[16..48]);
        keys
    }
}

/// The X3DH master secret and the root and chain keys it yields.
#[derive(Clone, PartialEq, Eq)]
pub struct X3dhSecrets {
    /// `FF×32 ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4]`.
    pub master_secret: Vec<u8>,
    /// First 32 bytes of HKDF(master, salt none, "WhisperText", 64).
    pub root_key: [u8; 32],
    /// Last 32 bytes: the chain key at index 0.
    pub chain_key: [u8; 32],
}

fn x3dh_from_parts(parts: &[[u8; 32]]) -> X3dhSecrets {
    let mut master = Vec::with_capacity(32 * (parts.len() + 1));
    master.extend_from_slice(&DISCONTINUITY);
    for part in parts {
        master.extend_from_slice(part);
    }
    let (root_key, chain_key) = split64(hkdf(None, &master, INFO_TEXT));
    X3dhSecrets {
        master_secret: master,
        root_key,
        chain_key,
    }
}

/// X3DH as the initiator computes it (part 2 §1.4):
/// `DH(IK_A, SPK_B) ‖ DH(EK_A, IK_B) ‖ DH(EK_A, SPK_B) [‖ DH(EK_A, OPK_B)]`.
pub fn x3dh_initiator(
    our_identity: &PrivateKey,
    our_base: &PrivateKey,
    their_identity: &PublicKey,
    their_signed_prekey: &PublicKey,
    their_one_time_prekey: Option<&PublicKey>,
) -> X3dhSecrets {
    let mut parts = vec![
        our_identity.agree(their_signed_prekey),
        our_base.agree(their_identity),
        our_base.agree(their_signed_prekey),
    ];
    if let Some(opk) = their_one_time_prekey {
        parts.push(our_base.agree(opk));
    }
    x3dh_from_parts(&parts)
}

/// X3DH as the responder computes it, with the same result as [`x3dh_initiator`]:
/// `DH(SPK_B, IK_A) ‖ DH(IK_B, EK_A) ‖ DH(SPK_B, EK_A) [‖ DH(OPK_B, EK_A)]`.
pub fn x3dh_responder(
    our_identity: &PrivateKey,
    our_signed_prekey: &PrivateKey,
    our_one_time_prekey: Option<&PrivateKey>,
    their_identity: &PublicKey,
    their_base: &PublicKey,
) -> X3dhSecrets {
    let mut parts = vec![
        our_signed_prekey.agree(their_identity),
        our_identity.agree(their_base),
        our_signed_prekey.agree(their_base),
    ];
    if let Some(opk) = our_one_time_prekey {
        parts.push(opk.agree(their_base));
    }
    x3dh_from_parts(&parts)
}

/// A root-key ratchet step: HKDF(DH(ours, theirs), salt = root, "WhisperRatchet", 64) → new root
/// key ‖ chain key (at index 0).
pub fn root_step(
    root_key: &[u8; 32],
    ours: &PrivateKey,
    theirs: &PublicKey,
) -> ([u8; 32], ChainKey) {
    let shared = ours.agree(theirs);
    let (root, chain) = split64(hkdf(Some(root_key), &shared, INFO_RATCHET));
    (
        root,
        ChainKey {
            key: chain,
            index: 0,
        },
    )
}
