//! The four MACs of app-state sync: index, value, snapshot and patch.

use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha512};

use super::keys::AppStateKeys;
use super::lthash::LtHash;

/// A mutation's operation; its wire value + 1 is the first byte of the value MAC input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// Create or overwrite the record at an index.
    Set,
    /// Delete the record at an index.
    Remove,
}

impl Operation {
    /// The `SyncdMutation.operation` wire value (SET = 0, REMOVE = 1).
    pub fn wire_value(self) -> i32 {
        match self {
            Self::Set => 0,
            Self::Remove => 1,
        }
    }

    /// Parses a wire value; `None` for values the protocol does not define.
    pub fn from_wire(value: i32) -> Option<Self> {
        match value {
            0 => Some(Self::Set),
            1 => Some(Self::Remove),
            _ => None,
        }
    }
}

fn hmac256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// `HMAC-SHA256(indexKey, index JSON bytes)`: the record's index blob.
pub fn index_mac(keys: &AppStateKeys, index_json: &[u8]) -> [u8; 32] {
    hmac256(&keys.index, &[index_json])
}

/// The value MAC: `HMAC-SHA512(valueMacKey, (op + 1) ‖ keyId ‖ IV ‖ ciphertext ‖
/// u64be(len(keyId) + 1))`, first 32 bytes. `iv_and_ciphertext` is the value blob
/// without its trailing MAC.
pub fn value_mac(
    keys: &AppStateKeys,
    operation: Operation,
    key_id: &[u8],
    iv_and_ciphertext: &[u8],
) -> [u8; 32] {
    let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(&keys.value_mac)
        .expect("HMAC accepts any key length");
    mac.update(&[operation.wire_value() as u8 + 1]);
    mac.update(key_id);
    mac.update(iv_and_ciphertext);
    mac.update(&(key_id.len() as u64 + 1).to_be_bytes());
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; 32];
    out.copy_from_slice(&full[..32]);
    out
}

/// `HMAC-SHA256(snapshotMacKey, ltHash ‖ u64be(version) ‖ collection name)`.
pub fn snapshot_mac(
    keys: &AppStateKeys,
    hash: &LtHash,
    version: u64,
    collection: &str,
) -> [u8; 32] {
    hmac256(
        &keys.snapshot_mac,
        &[&hash.0, &version.to_be_bytes(), collection.as_bytes()],
    )
}

/// `HMAC-SHA256(patchMacKey, snapshotMac ‖ valueMac₁ ‖ … ‖ valueMacₙ ‖ u64be(version) ‖ name)`.
pub fn patch_mac<'a>(
    keys: &AppStateKeys,
    snapshot_mac: &[u8],
    value_macs: impl IntoIterator<Item = &'a [u8]>,
    version: u64,
    collection: &str,
) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&keys.patch_mac)
        .expect("HMAC accepts any key length");
    mac.update(snapshot_mac);
    for v in value_macs {
        mac.update(v);
    }
    mac.update(&version.to_be_bytes());
    mac.update(collection.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Constant-time equality of two MACs.
pub(crate) fn mac_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
