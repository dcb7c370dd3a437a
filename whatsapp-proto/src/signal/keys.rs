//! Curve25519 keys as Signal uses them: public keys, private keys, key pairs, identity keys,
//! one-time and signed prekeys, prekey bundles and registration IDs.

use rand_core::{CryptoRng, RngCore};

use super::error::SignalError;
use crate::xeddsa;

/// Type byte that prefixes a Curve25519 public key inside Signal protobufs and signed data
/// ("DJB" type; part 2 §1.1, libsignal-protocol-go `ecc/Curve.go` DjbType).
pub const DJB_TYPE: u8 = 0x05;

/// Length of an XEdDSA signature.
pub const SIGNATURE_LEN: usize = 64;

/// A Curve25519 (X25519) public key, kept in its raw 32-byte form.
///
/// WhatsApp nodes carry the 32-byte form; Signal protobufs, MAC inputs and signed data carry the
/// 33-byte form `05 ‖ key` ([`PublicKey::serialize`]).
///
/// ```
/// use whatsapp_proto::signal::PublicKey;
/// let raw = [9u8; 32];
/// let key = PublicKey::from_slice(&raw).unwrap();
/// assert_eq!(key.serialize()[0], 0x05);
/// assert_eq!(PublicKey::from_slice(&key.serialize()).unwrap(), key);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Wraps raw key bytes.
    pub const fn from_raw(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Accepts the 32-byte raw form or the 33-byte `05 ‖ key` form; anything else is an error.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, SignalError> {
        let raw: Option<&[u8]> = match bytes {
            [DJB_TYPE, rest @ ..] if rest.len() == 32 => Some(rest),
            _ if bytes.len() == 32 => Some(bytes),
            _ => None,
        };
        raw.and_then(|r| <[u8; 32]>::try_from(r).ok())
            .map(Self)
            .ok_or(SignalError::InvalidPublicKey {
                len: bytes.len(),
                first: bytes.first().copied(),
            })
    }

    /// The raw 32 bytes (what WhatsApp puts in `<identity>`, `<value>`, …).
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 33-byte `05 ‖ key` form used in protobufs, MAC inputs and signatures.
    pub fn serialize(&self) -> [u8; 33] {
        let mut out = [0u8; 33];
        out[0] = DJB_TYPE;
        out[1..].copy_from_slice(&self.0);
        out
    }

    /// Checks an XEdDSA signature made by the private half of this key.
    pub fn verify_signature(&self, message: &[u8], signature: &[u8]) -> bool {
        match <&[u8; SIGNATURE_LEN]>::try_from(signature) {
            Ok(sig) => xeddsa::verify(&self.0, message, sig),
            Err(_) => false,
        }
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// A Curve25519 private key (32 bytes, stored as given; X25519 and XEdDSA clamp on use).
///
/// Wiped when dropped, and deliberately not `Copy`: every copy is a clone that is wiped too.
///
/// ```compile_fail
/// use whatsapp_proto::signal::PrivateKey;
/// let key = PrivateKey::from_bytes([1; 32]);
/// let moved = key;
/// let copied = key; // error: `PrivateKey` is not `Copy`
/// ```
#[derive(Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct PrivateKey([u8; 32]);

impl PrivateKey {
    /// Wraps stored private key bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Accepts exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, SignalError> {
        <[u8; 32]>::try_from(bytes)
            .map(Self)
            .map_err(|_| SignalError::InvalidPrivateKey { len: bytes.len() })
    }

    /// A fresh key, clamped as whatsmeow and libsignal-protocol-go store theirs (part 2 §1.1).
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Self(xeddsa::clamp(bytes))
    }

    /// The stored bytes.
    pub const fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        let secret = x25519_dalek::StaticSecret::from(self.0);
        PublicKey(x25519_dalek::PublicKey::from(&secret).to_bytes())
    }

    /// X25519 agreement with a public key.
    pub fn agree(&self, their: &PublicKey) -> [u8; 32] {
        let secret = x25519_dalek::StaticSecret::from(self.0);
        secret
            .diffie_hellman(&x25519_dalek::PublicKey::from(their.0))
            .to_bytes()
    }

    /// XEdDSA signature with 64 caller-supplied random bytes (deterministic; used for test vectors).
    pub fn sign_with_random(&self, message: &[u8], random: &[u8; 64]) -> [u8; SIGNATURE_LEN] {
        xeddsa::sign(&self.0, message, random)
    }

    /// XEdDSA signature with fresh randomness, as libsignal makes them.
    pub fn sign(
        &self,
        message: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> [u8; SIGNATURE_LEN] {
        let mut random = [0u8; 64];
        rng.fill_bytes(&mut random);
        self.sign_with_random(message, &random)
    }
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

/// A private key with its public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPair {
    /// The public half.
    pub public: PublicKey,
    /// The private half.
    pub private: PrivateKey,
}

impl KeyPair {
    /// A fresh random key pair.
    ///
    /// ```
    /// use rand::SeedableRng;
    /// use whatsapp_proto::signal::KeyPair;
    /// let mut rng = rand_chacha::ChaCha20Rng::from_seed([7; 32]);
    /// let pair = KeyPair::generate(&mut rng);
    /// assert_eq!(pair.private.public_key(), pair.public);
    /// ```
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        Self::from_private(PrivateKey::generate(rng))
    }

    /// Derives the public half from a private key.
    pub fn from_private(private: PrivateKey) -> Self {
        Self {
            public: private.public_key(),
            private,
        }
    }
}

/// A device's long-term identity public key (the peer's, as trusted on first use).
pub type IdentityKey = PublicKey;

/// A device's long-term identity key pair.
pub type IdentityKeyPair = KeyPair;

/// Largest prekey ID: WhatsApp carries prekey IDs as 3 bytes (part 2 §2.1).
pub const MAX_PREKEY_ID: u32 = 0x00FF_FFFF;

/// A fresh registration ID: non-zero and at most 14 bits, the most conservative of the ranges the
/// libraries use (part 2 §1.3).
pub fn generate_registration_id(rng: &mut (impl RngCore + CryptoRng)) -> u32 {
    rng.next_u32() % 0x3FFF + 1
}

/// A one-time prekey: ID and key pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyRecord {
    /// The prekey ID (1..=0xFFFFFF; 0 means "none" on the wire, part 2 §1.8).
    pub id: u32,
    /// The key pair.
    pub key_pair: KeyPair,
}

impl PreKeyRecord {
    /// A fresh prekey with the given ID.
    pub fn generate(id: u32, rng: &mut (impl RngCore + CryptoRng)) -> Self {
        Self {
            id,
            key_pair: KeyPair::generate(rng),
        }
    }

    /// `count` fresh prekeys with consecutive IDs from `start`, wrapping from 0xFFFFFF to 1 so that
    /// ID 0 is never handed out.
    pub fn generate_batch(
        start: u32,
        count: u32,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Vec<Self> {
        let mut id = start.clamp(1, MAX_PREKEY_ID);
        (0..count)
            .map(|_| {
                let record = Self::generate(id, rng);
                id = if id >= MAX_PREKEY_ID { 1 } else { id + 1 };
                record
            })
            .collect()
    }
}

/// A signed prekey: ID, key pair, and the identity key's XEdDSA signature over `05 ‖ public`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedPreKeyRecord {
    /// The signed prekey ID.
    pub id: u32,
    /// The key pair.
    pub key_pair: KeyPair,
    /// Signature by the identity key over the 33-byte public key.
    pub signature: [u8; SIGNATURE_LEN],
    /// Creation time in milliseconds since the Unix epoch, as the caller supplied it (0 if unknown).
    pub timestamp: u64,
}

impl SignedPreKeyRecord {
    /// A fresh signed prekey signed by `identity`.
    ///
    /// ```
    /// use rand::SeedableRng;
    /// use whatsapp_proto::signal::{KeyPair, SignedPreKeyRecord};
    /// let mut rng = rand_chacha::ChaCha20Rng::from_seed([1; 32]);
    /// let identity = KeyPair::generate(&mut rng);
    /// let spk = SignedPreKeyRecord::generate(1, &identity, 0, &mut rng);
    /// assert!(spk.verify(&identity.public));
    /// ```
    pub fn generate(
        id: u32,
        identity: &IdentityKeyPair,
        timestamp: u64,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Self {
        let key_pair = KeyPair::generate(rng);
        let mut random = [0u8; 64];
        rng.fill_bytes(&mut random);
        Self::from_key_pair(id, key_pair, identity, &random, timestamp)
    }

    /// Signs a given key pair with 64 given random bytes (deterministic; for test vectors).
    pub fn from_key_pair(
        id: u32,
        key_pair: KeyPair,
        identity: &IdentityKeyPair,
        random: &[u8; 64],
        timestamp: u64,
    ) -> Self {
        let signature = identity
            .private
            .sign_with_random(&key_pair.public.serialize(), random);
        Self {
            id,
            key_pair,
            signature,
            timestamp,
        }
    }

    /// Checks the signature against an identity key.
    pub fn verify(&self, identity: &IdentityKey) -> bool {
        identity.verify_signature(&self.key_pair.public.serialize(), &self.signature)
    }
}

/// What a peer publishes so that others can start a session with it (part 2 §2.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyBundle {
    /// The peer's registration ID.
    pub registration_id: u32,
    /// The peer's identity key.
    pub identity_key: IdentityKey,
    /// ID of its signed prekey.
    pub signed_prekey_id: u32,
    /// Its signed prekey.
    pub signed_prekey: PublicKey,
    /// Signature of `05 ‖ signed_prekey` by `identity_key`.
    pub signed_prekey_signature: [u8; SIGNATURE_LEN],
    /// A one-time prekey (ID, key), if the server handed one out.
    pub prekey: Option<(u32, PublicKey)>,
}

impl PreKeyBundle {
    /// Checks the signed-prekey signature.
    pub fn verify_signature(&self) -> bool {
        self.identity_key.verify_signature(
            &self.signed_prekey.serialize(),
            &self.signed_prekey_signature,
        )
    }
}
