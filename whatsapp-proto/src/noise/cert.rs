//! The server's Noise certificate chain: root key → intermediate → leaf, where
//! the leaf key is the server's static Noise key.
//!
//! Checks and order follow whatsmeow `handshake.go` `verifyServerCert`
//! (fact sheet part 1 §3.3). Signatures are XEdDSA over the `details` bytes
//! exactly as received; they are verified before the bytes are parsed.

use prost::Message;
use rand_core::{CryptoRng, RngCore};

use crate::pb::cert::CertChain;
use crate::pb::cert::cert_chain::NoiseCertificate;
use crate::pb::cert::cert_chain::noise_certificate::Details;
use crate::xeddsa::{self, KeyPair};

/// WhatsApp's root certificate key (Montgomery form, XEdDSA).
/// Source: whatsmeow `handshake.go` `WACertPubKey`; Baileys `WA_CERT_DETAILS.PUBLIC_KEY`.
pub const WHATSAPP_ROOT_KEY: [u8; 32] = [
    0x14, 0x23, 0x75, 0x57, 0x4d, 0x0a, 0x58, 0x71, 0x66, 0xaa, 0xe7, 0x1e, 0xbe, 0x51, 0x64, 0x37,
    0xc4, 0xa2, 0x8b, 0x73, 0xe3, 0x69, 0x5c, 0x6c, 0xe1, 0xf7, 0xf9, 0x54, 0x5d, 0xa8, 0xee, 0x6b,
];

/// The issuer serial an intermediate must carry (the root's serial).
/// Source: whatsmeow `WACertIssuerSerial`.
pub const ROOT_SERIAL: u32 = 0;

/// Which certificate of the chain an error concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertRole {
    /// The intermediate, signed by the root key.
    Intermediate,
    /// The leaf, signed by the intermediate key; carries the server static key.
    Leaf,
}

/// Why a certificate chain was refused. Every variant is the server's fault
/// (or an attacker's): the connection must be dropped before ClientFinish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// The chain is not a valid `CertChain` protobuf.
    #[error("certificate chain is not a valid protobuf: {reason}")]
    Malformed {
        /// prost's description.
        reason: String,
    },
    /// A certificate, or its `details` or `signature`, is absent.
    #[error("{cert:?} certificate lacks its {field}")]
    Missing {
        /// The certificate concerned.
        cert: CertRole,
        /// `"certificate"`, `"details"` or `"signature"`.
        field: &'static str,
    },
    /// A signature is not 64 bytes.
    #[error("{cert:?} signature is {len} bytes, not 64")]
    SignatureLength {
        /// The certificate concerned.
        cert: CertRole,
        /// Its length.
        len: usize,
    },
    /// The intermediate is not signed by the configured root key.
    #[error("intermediate certificate is not signed by the root key")]
    IntermediateSignature,
    /// The leaf is not signed by the intermediate's key.
    #[error("leaf certificate is not signed by the intermediate key")]
    LeafSignature,
    /// Signed `details` bytes that do not parse.
    #[error("{cert:?} details are not a valid protobuf: {reason}")]
    MalformedDetails {
        /// The certificate concerned.
        cert: CertRole,
        /// prost's description.
        reason: String,
    },
    /// The intermediate's issuer serial is not the root's.
    #[error("intermediate issuer serial {actual}, expected {expected}")]
    IntermediateIssuerSerial {
        /// The root serial.
        expected: u32,
        /// What the intermediate says.
        actual: u32,
    },
    /// A certified key is not 32 bytes.
    #[error("{cert:?} key is {len} bytes, not 32")]
    KeyLength {
        /// The certificate concerned.
        cert: CertRole,
        /// Its length.
        len: usize,
    },
    /// The leaf names an issuer other than the intermediate.
    #[error("leaf issuer serial {actual}, intermediate serial is {expected}")]
    LeafIssuerSerial {
        /// The intermediate's serial.
        expected: u32,
        /// What the leaf says.
        actual: u32,
    },
    /// The leaf key differs from the static key the server proved in the handshake.
    #[error("leaf key does not match the server's static key")]
    LeafKeyMismatch,
    /// `now` is before `not_before`.
    #[error("{cert:?} certificate not valid before {not_before} (now {now})")]
    NotYetValid {
        /// The certificate concerned.
        cert: CertRole,
        /// Its start, unix seconds.
        not_before: u64,
        /// The time checked.
        now: u64,
    },
    /// `now` is after `not_after` (a missing `not_after` reads as 0: expired).
    #[error("{cert:?} certificate expired at {not_after} (now {now})")]
    Expired {
        /// The certificate concerned.
        cert: CertRole,
        /// Its end, unix seconds.
        not_after: u64,
        /// The time checked.
        now: u64,
    },
}

/// The parsed, verified contents of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertDetails {
    /// This certificate's serial.
    pub serial: u32,
    /// The serial of the certificate that signed it.
    pub issuer_serial: u32,
    /// The certified Curve25519 key.
    pub key: [u8; 32],
    /// Start of validity, unix seconds (inclusive).
    pub not_before: u64,
    /// End of validity, unix seconds (inclusive).
    pub not_after: u64,
}

impl CertDetails {
    /// The `Details` protobuf with every field present (the real intermediate
    /// carries `issuer_serial = 0` explicitly).
    pub fn encode(&self) -> Vec<u8> {
        Details {
            serial: Some(self.serial),
            issuer_serial: Some(self.issuer_serial),
            key: Some(self.key.to_vec()),
            not_before: Some(self.not_before),
            not_after: Some(self.not_after),
        }
        .encode_to_vec()
    }

    fn check_validity(&self, cert: CertRole, now: u64) -> Result<(), CertError> {
        if now < self.not_before {
            return Err(CertError::NotYetValid {
                cert,
                not_before: self.not_before,
                now,
            });
        }
        if now > self.not_after {
            return Err(CertError::Expired {
                cert,
                not_after: self.not_after,
                now,
            });
        }
        Ok(())
    }
}

/// A chain that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedChain {
    /// The intermediate certificate.
    pub intermediate: CertDetails,
    /// The leaf certificate (its key is the server static key).
    pub leaf: CertDetails,
}

/// Verifies a serialized `CertChain` (the decrypted ServerHello payload).
///
/// `server_static` is the key decrypted from ServerHello; `now` is unix
/// seconds. Safe on any input.
///
/// ```
/// use whatsapp_proto::noise::cert::{verify_cert_chain, CertError, WHATSAPP_ROOT_KEY};
/// assert!(matches!(
///     verify_cert_chain(b"\xff", &WHATSAPP_ROOT_KEY, &[0; 32], 0),
///     Err(CertError::Malformed { .. })
/// ));
/// ```
pub fn verify_cert_chain(
    chain: &[u8],
    root_key: &[u8; 32],
    server_static: &[u8; 32],
    now: u64,
) -> Result<VerifiedChain, CertError> {
    let chain = CertChain::decode(chain).map_err(|e| CertError::Malformed {
        reason: e.to_string(),
    })?;
    let (inter_details, inter_sig) = parts(chain.intermediate.as_ref(), CertRole::Intermediate)?;
    let (leaf_details, leaf_sig) = parts(chain.leaf.as_ref(), CertRole::Leaf)?;
    let inter_sig = signature(inter_sig, CertRole::Intermediate)?;
    let leaf_sig = signature(leaf_sig, CertRole::Leaf)?;

    if !xeddsa::verify(root_key, inter_details, &inter_sig) {
        return Err(CertError::IntermediateSignature);
    }
    let intermediate = parse_details(inter_details, CertRole::Intermediate)?;
    if intermediate.issuer_serial != ROOT_SERIAL {
        return Err(CertError::IntermediateIssuerSerial {
            expected: ROOT_SERIAL,
            actual: intermediate.issuer_serial,
        });
    }
    if !xeddsa::verify(&intermediate.key, leaf_details, &leaf_sig) {
        return Err(CertError::LeafSignature);
    }
    intermediate.check_validity(CertRole::Intermediate, now)?;

    let leaf = parse_details(leaf_details, CertRole::Leaf)?;
    if leaf.issuer_serial != intermediate.serial {
        return Err(CertError::LeafIssuerSerial {
            expected: intermediate.serial,
            actual: leaf.issuer_serial,
        });
    }
    if !constant_time_eq(&leaf.key, server_static) {
        return Err(CertError::LeafKeyMismatch);
    }
    leaf.check_validity(CertRole::Leaf, now)?;
    Ok(VerifiedChain { intermediate, leaf })
}

fn parts(cert: Option<&NoiseCertificate>, role: CertRole) -> Result<(&[u8], &[u8]), CertError> {
    let missing = |field| CertError::Missing { cert: role, field };
    let cert = cert.ok_or(missing("certificate"))?;
    let details = cert.details.as_deref().ok_or(missing("details"))?;
    let signature = cert.signature.as_deref().ok_or(missing("signature"))?;
    Ok((details, signature))
}

fn signature(bytes: &[u8], cert: CertRole) -> Result<[u8; 64], CertError> {
    bytes.try_into().map_err(|_| CertError::SignatureLength {
        cert,
        len: bytes.len(),
    })
}

fn parse_details(bytes: &[u8], cert: CertRole) -> Result<CertDetails, CertError> {
    let details = Details::decode(bytes).map_err(|e| CertError::MalformedDetails {
        cert,
        reason: e.to_string(),
    })?;
    let key = details.key.unwrap_or_default();
    let key: [u8; 32] = key
        .as_slice()
        .try_into()
        .map_err(|_| CertError::KeyLength {
            cert,
            len: key.len(),
        })?;
    Ok(CertDetails {
        serial: details.serial.unwrap_or(0),
        issuer_serial: details.issuer_serial.unwrap_or(0),
        key,
        not_before: details.not_before.unwrap_or(0),
        not_after: details.not_after.unwrap_or(0),
    })
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Signs `details` with `signer`, giving one `NoiseCertificate`.
pub fn sign_certificate(
    details: &CertDetails,
    signer: &KeyPair,
    rng: &mut (impl RngCore + CryptoRng),
) -> NoiseCertificate {
    let bytes = details.encode();
    let signature = signer.sign(&bytes, rng);
    NoiseCertificate {
        details: Some(bytes),
        signature: Some(signature.to_vec()),
    }
}

/// Builds a serialized chain, as a (simulated) server sends it: the
/// intermediate signed by `root`, the leaf signed by `intermediate_key`.
///
/// The caller chooses every field, so invalid chains can be built as well;
/// for a valid one `intermediate.key` must be `intermediate_key.public()`,
/// `intermediate.issuer_serial` [`ROOT_SERIAL`], `leaf.issuer_serial`
/// `intermediate.serial` and `leaf.key` the server's static public key.
///
/// ```
/// use rand_chacha::rand_core::SeedableRng;
/// use whatsapp_proto::noise::cert::*;
/// use whatsapp_proto::xeddsa::KeyPair;
/// let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
/// let (root, inter, server) = (KeyPair::from_private([1; 32]), KeyPair::from_private([2; 32]), KeyPair::from_private([3; 32]));
/// let i = CertDetails { serial: 7, issuer_serial: ROOT_SERIAL, key: *inter.public(), not_before: 0, not_after: 100 };
/// let l = CertDetails { serial: 8, issuer_serial: 7, key: *server.public(), not_before: 0, not_after: 100 };
/// let chain = build_cert_chain(&root, &i, &inter, &l, &mut rng);
/// assert!(verify_cert_chain(&chain, root.public(), server.public(), 50).is_ok());
/// ```
pub fn build_cert_chain(
    root: &KeyPair,
    intermediate: &CertDetails,
    intermediate_key: &KeyPair,
    leaf: &CertDetails,
    rng: &mut (impl RngCore + CryptoRng),
) -> Vec<u8> {
    CertChain {
        leaf: Some(sign_certificate(leaf, intermediate_key, rng)),
        intermediate: Some(sign_certificate(intermediate, root, rng)),
    }
    .encode_to_vec()
}
