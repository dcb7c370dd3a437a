//! Expansion of an app-state sync key into its five working keys.

use crate::media::hkdf_sha256;

/// HKDF info of the app-state key expansion.
pub const MUTATION_KEYS_INFO: &str = "WhatsApp Mutation Keys";

/// The five keys expanded from one 32-byte app-state sync key
/// (`HKDF(keyData, info "WhatsApp Mutation Keys", 160)`, in this order). Wiped when dropped.
#[derive(Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct AppStateKeys {
    /// HMAC-SHA256 key of index MACs.
    pub index: [u8; 32],
    /// AES-256-CBC key of mutation values.
    pub value_encryption: [u8; 32],
    /// HMAC-SHA512 key of value MACs.
    pub value_mac: [u8; 32],
    /// HMAC-SHA256 key of snapshot MACs (over the LTHash).
    pub snapshot_mac: [u8; 32],
    /// HMAC-SHA256 key of patch MACs.
    pub patch_mac: [u8; 32],
}

impl std::fmt::Debug for AppStateKeys {
    // Key material stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppStateKeys(..)")
    }
}

impl AppStateKeys {
    /// Expands the key data of an `AppStateSyncKey`.
    ///
    /// ```
    /// use whatsapp_proto::appstate::AppStateKeys;
    /// let keys = AppStateKeys::expand(&[3; 32]);
    /// assert_ne!(keys.index, keys.patch_mac);
    /// ```
    pub fn expand(key_data: &[u8]) -> Self {
        let mut x = zeroize::Zeroizing::new([0u8; 160]);
        hkdf_sha256(key_data, MUTATION_KEYS_INFO.as_bytes(), &mut x[..]);
        let part = |i: usize| -> [u8; 32] {
            let mut k = [0u8; 32];
            k.copy_from_slice(&x[i * 32..(i + 1) * 32]);
            k
        };
        Self {
            index: part(0),
            value_encryption: part(1),
            value_mac: part(2),
            snapshot_mac: part(3),
            patch_mac: part(4),
        }
    }

    /// The 160 expanded bytes, in wire order.
    pub fn to_bytes(&self) -> [u8; 160] {
        let mut out = [0u8; 160];
        for (i, k) in [
            &self.index,
            &self.value_encryption,
            &self.value_mac,
            &self.snapshot_mac,
            &self.patch_mac,
        ]
        .into_iter()
        .enumerate()
        {
            out[i * 32..(i + 1) * 32].copy_from_slice(k);
        }
        out
    }
}
