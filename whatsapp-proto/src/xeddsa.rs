//! XEdDSA signatures over Curve25519 keys, as libsignal makes them.
//!
//! Keys are X25519 (Montgomery) keys: the public key is the 32-byte `u`
//! coordinate, the private key a clamped 32-byte scalar. Signatures are
//! Ed25519 signatures made with the Edwards point of the same scalar; since a
//! Montgomery `u` loses the sign of the Edwards `x`, libsignal stores that sign
//! in bit 7 of the signature's last byte (which is always 0 in a valid `s`).
//!
//! Algorithm: libsignal's `curve25519_sign`/`curve25519_verify`
//! (whatsmeow uses go.mau.fi/libsignal `ecc/SignCurve25519.go`); fact sheet
//! part 1 §10.
//!
//! ```
//! use whatsapp_proto::xeddsa::{self, KeyPair};
//! let pair = KeyPair::from_private([7; 32]);
//! let sig = xeddsa::sign(pair.private(), b"hello", &[1; 64]);
//! assert!(xeddsa::verify(pair.public(), b"hello", &sig));
//! assert!(!xeddsa::verify(pair.public(), b"hullo", &sig));
//! ```

use curve25519_dalek::constants::ED25519_BASEPOINT_TABLE;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::{Scalar, clamp_integer};
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha512};

/// Length of a signature in bytes.
pub const SIGNATURE_LEN: usize = 64;

/// Prefix of the nonce hash: 0xFE then 31 × 0xFF (the XEdDSA `hash_1` domain
/// separator, libsignal `crypto_sign_modified`).
const NONCE_PREFIX: [u8; 32] = {
    let mut p = [0xFF; 32];
    p[0] = 0xFE;
    p
};

/// Clamps a private scalar as X25519 does (`k[0] &= 248; k[31] &= 127; k[31] |= 64`).
pub fn clamp(private_key: [u8; 32]) -> [u8; 32] {
    clamp_integer(private_key)
}

/// The Montgomery public key (`u`) of a private key; the key is clamped first.
pub fn public_key(private_key: &[u8; 32]) -> [u8; 32] {
    MontgomeryPoint::mul_base_clamped(*private_key).to_bytes()
}

/// Signs `message` with a Curve25519 private key, libsignal style.
///
/// `random` is the 64 bytes of fresh randomness libsignal mixes into the nonce;
/// pass output of a CSPRNG (it is an argument so that signing is deterministic
/// under test). The private key is clamped before use.
pub fn sign(private_key: &[u8; 32], message: &[u8], random: &[u8; 64]) -> [u8; 64] {
    let clamped = clamp(*private_key);
    let a = Scalar::from_bytes_mod_order(clamped);
    let big_a = EdwardsPoint::mul_base(&a).compress();
    let sign_bit = big_a.as_bytes()[31] & 0x80;

    let mut nonce_hash = Sha512::new();
    nonce_hash.update(NONCE_PREFIX);
    nonce_hash.update(clamped);
    nonce_hash.update(message);
    nonce_hash.update(random);
    let r = Scalar::from_bytes_mod_order_wide(&nonce_hash.finalize().into());
    let big_r = (&r * ED25519_BASEPOINT_TABLE).compress();

    let h = challenge(&big_r, &big_a, message);
    let s = h * a + r;

    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(big_r.as_bytes());
    signature[32..].copy_from_slice(s.as_bytes());
    // A reduced `s` is below 2^253, so bit 7 of the last byte is free for the sign.
    signature[63] = (signature[63] & 0x7F) | sign_bit;
    signature
}

/// Verifies a libsignal-style XEdDSA signature under a Curve25519 public key.
///
/// Never panics; any malformed key or signature is simply `false`. `s` must be
/// canonical (below the group order), as Go's `crypto/ed25519` requires.
pub fn verify(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    let sign_bit = signature[63] >> 7;
    // to_edwards ignores the top bit of u and refuses u = -1 (no Edwards image).
    let Some(a_point) = MontgomeryPoint(*public_key).to_edwards(sign_bit) else {
        return false;
    };
    let big_a = a_point.compress();

    let mut r_bytes = [0u8; 32];
    r_bytes.copy_from_slice(&signature[..32]);
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&signature[32..]);
    s_bytes[31] &= 0x7F;
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
        return false;
    };

    let big_r = CompressedEdwardsY(r_bytes);
    let h = challenge(&big_r, &big_a, message);
    // R' = s·B − h·A; the signature holds when R' encodes to the given R.
    let check = EdwardsPoint::vartime_double_scalar_mul_basepoint(&h, &-a_point, &s).compress();
    check.as_bytes() == &r_bytes
}

/// `SHA-512(R ‖ A ‖ M) mod L`, the Ed25519 challenge.
fn challenge(big_r: &CompressedEdwardsY, big_a: &CompressedEdwardsY, message: &[u8]) -> Scalar {
    let mut hash = Sha512::new();
    hash.update(big_r.as_bytes());
    hash.update(big_a.as_bytes());
    hash.update(message);
    Scalar::from_bytes_mod_order_wide(&hash.finalize().into())
}

/// A Curve25519 key pair used both for X25519 and for XEdDSA.
///
/// The private half is stored clamped. `Debug` does not print it; both halves are wiped when
/// the pair is dropped (it is the Noise static key and the ADV identity key).
#[derive(Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct KeyPair {
    private: [u8; 32],
    public: [u8; 32],
}

impl KeyPair {
    /// Builds the pair for a private key (clamped here).
    pub fn from_private(private_key: [u8; 32]) -> Self {
        let private = clamp(private_key);
        Self {
            public: public_key(&private),
            private,
        }
    }

    /// Generates a fresh pair from `rng`.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Self::from_private(bytes)
    }

    /// The clamped private scalar.
    pub fn private(&self) -> &[u8; 32] {
        &self.private
    }

    /// The public key (Montgomery `u`).
    pub fn public(&self) -> &[u8; 32] {
        &self.public
    }

    /// X25519 with another party's public key.
    pub fn dh(&self, their_public: &[u8; 32]) -> [u8; 32] {
        MontgomeryPoint(*their_public)
            .mul_clamped(self.private)
            .to_bytes()
    }

    /// Signs `message`, drawing the 64 random bytes from `rng`.
    pub fn sign(&self, message: &[u8], rng: &mut (impl RngCore + CryptoRng)) -> [u8; 64] {
        let mut random = [0u8; 64];
        rng.fill_bytes(&mut random);
        sign(&self.private, message, &random)
    }
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &Hex(&self.public))
            .finish_non_exhaustive()
    }
}

/// Lower-case hex for `Debug` output.
struct Hex<'a>(&'a [u8]);

impl std::fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex<const N: usize>(s: &str) -> [u8; N] {
        let mut out = [0u8; N];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    #[test]
    fn sign_verify_roundtrip_and_sign_bit_both_ways() {
        let mut seen = [false; 2];
        for seed in 0u8..32 {
            let pair = KeyPair::from_private([seed.wrapping_mul(37).wrapping_add(1); 32]);
            let sig = sign(pair.private(), b"msg", &[seed; 64]);
            seen[usize::from(sig[63] >> 7)] = true;
            assert!(verify(pair.public(), b"msg", &sig));
            let mut bad = sig;
            bad[63] ^= 0x80;
            assert!(!verify(pair.public(), b"msg", &bad));
        }
        assert!(seen[0] && seen[1], "both sign bits exercised");
    }

    #[test]
    fn whatsapp_root_signs_real_intermediate() {
        // Fact sheet part 1 §11.1: the captured intermediate certificate.
        let root: [u8; 32] =
            unhex("142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b");
        let details = unhex::<50>(
            "080310001a201c51a9ac303994c6c8d0b92ea1878a533476599cc599fbea35997d9aa90cce62208091aebe0628ffdeb7dc06",
        );
        let sig: [u8; 64] = unhex(
            "270f294648539fed4870e25054dd4e95983aba29189c2ba6c8eeda7055555f753740f5ec192ab64c26c26d6ade6d20b9f774aee37120a6b20395f53c66058507",
        );
        assert!(verify(&root, &details, &sig));
        assert!(!verify(&root, &details[1..], &sig));
    }

    #[test]
    fn malformed_inputs_are_false() {
        let minus_one: [u8; 32] =
            unhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
        assert!(!verify(&minus_one, b"", &[0; 64]));
        assert!(!verify(&[0; 32], b"", &[0xFF; 64]));
    }
}
