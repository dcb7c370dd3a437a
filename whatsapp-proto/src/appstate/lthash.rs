//! LTHash ("WhatsApp Patch Integrity"): a homomorphic hash of the set of live
//! value MACs of a collection, so adding and removing records updates it
//! without rehashing everything.

use crate::media::hkdf_sha256;

/// HKDF info that expands an item into LTHash lanes.
pub const PATCH_INTEGRITY_INFO: &str = "WhatsApp Patch Integrity";
/// Size of the hash state in bytes (64 little-endian u16 lanes).
pub const LTHASH_LEN: usize = 128;

/// The 128-byte LTHash state of a collection.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LtHash(pub [u8; LTHASH_LEN]);

impl Default for LtHash {
    fn default() -> Self {
        Self::ZERO
    }
}

impl std::fmt::Debug for LtHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LtHash(")?;
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

/// `HKDF(item, info "WhatsApp Patch Integrity", 128)`: what gets added or subtracted.
pub fn expand_item(item: &[u8]) -> [u8; LTHASH_LEN] {
    let mut out = [0u8; LTHASH_LEN];
    hkdf_sha256(item, PATCH_INTEGRITY_INFO.as_bytes(), &mut out);
    out
}

impl LtHash {
    /// The hash of the empty set (a fresh collection, or the start of a snapshot).
    pub const ZERO: Self = Self([0; LTHASH_LEN]);

    /// Restores a stored state; `None` unless exactly 128 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// Adds an item (a 32-byte value MAC) lane-wise modulo 2^16.
    ///
    /// ```
    /// use whatsapp_proto::appstate::LtHash;
    /// let mut h = LtHash::ZERO;
    /// h.add(b"value mac 1");
    /// h.add(b"value mac 2");
    /// h.subtract(b"value mac 1");
    /// let mut only2 = LtHash::ZERO;
    /// only2.add(b"value mac 2");
    /// assert_eq!(h, only2);
    /// ```
    pub fn add(&mut self, item: &[u8]) {
        self.combine(item, u16::wrapping_add);
    }

    /// Subtracts an item lane-wise modulo 2^16.
    pub fn subtract(&mut self, item: &[u8]) {
        self.combine(item, u16::wrapping_sub);
    }

    fn combine(&mut self, item: &[u8], op: fn(u16, u16) -> u16) {
        let e = expand_item(item);
        for (lane, add) in self.0.chunks_exact_mut(2).zip(e.chunks_exact(2)) {
            let x = u16::from_le_bytes([lane[0], lane[1]]);
            let y = u16::from_le_bytes([add[0], add[1]]);
            lane.copy_from_slice(&op(x, y).to_le_bytes());
        }
    }
}
