//! Tag bytes and token lookup (../shared/protocol part 1 §5.2, §5.6).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::LazyLock;

use super::token_table::{DOUBLE_BYTE, SINGLE_BYTE};

/// Token dictionary version; the last byte of the intro header must match it.
pub const DICT_VERSION: u8 = 3;

pub(crate) const LIST_EMPTY: u8 = 0;
pub(crate) const DICTIONARY_0: u8 = 236;
pub(crate) const DICTIONARY_3: u8 = 239;
pub(crate) const INTEROP_JID: u8 = 245;
pub(crate) const FB_JID: u8 = 246;
pub(crate) const AD_JID: u8 = 247;
pub(crate) const LIST_8: u8 = 248;
pub(crate) const LIST_16: u8 = 249;
pub(crate) const JID_PAIR: u8 = 250;
pub(crate) const HEX_8: u8 = 251;
pub(crate) const BINARY_8: u8 = 252;
pub(crate) const BINARY_20: u8 = 253;
pub(crate) const BINARY_32: u8 = 254;
pub(crate) const NIBBLE_8: u8 = 255;
/// The longest string that may be nibble- or hex-packed.
pub(crate) const PACKED_MAX: usize = 127;

/// Where a string sits in the dictionaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token {
    Single(u8),
    Double(u8, u8),
}

/// Word-at-a-time multiplicative hash (FxHash's mixing): token strings are short and
/// trusted, so a fast unkeyed hash is right here; it is a large share of encoding time.
#[derive(Default)]
struct WordHash(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl WordHash {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for WordHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, byte: u8) {
        self.mix(u64::from(byte));
    }
}

static INDEX: LazyLock<HashMap<&'static str, Token, BuildHasherDefault<WordHash>>> =
    LazyLock::new(|| {
        let mut map =
            HashMap::with_capacity_and_hasher(SINGLE_BYTE.len() + 1024, Default::default());
        for (dict, table) in DOUBLE_BYTE.iter().enumerate() {
            for (index, token) in table.iter().enumerate() {
                map.insert(*token, Token::Double(dict as u8, index as u8));
            }
        }
        // Index 0 is the empty string, never written as a token.
        for (index, token) in SINGLE_BYTE.iter().enumerate().skip(1) {
            map.insert(*token, Token::Single(index as u8));
        }
        map
    });

/// The token for a string, if it has one.
pub(crate) fn lookup(s: &str) -> Option<Token> {
    // The longest token is 48 bytes.
    if s.is_empty() || s.len() > 48 {
        return None;
    }
    INDEX.get(s).copied()
}

/// The string of a single-byte token (1..=235).
pub(crate) fn single(index: u8) -> Option<&'static str> {
    match index {
        0 => None,
        i => SINGLE_BYTE.get(usize::from(i)).copied(),
    }
}

/// The string of a double-byte token.
pub(crate) fn double(dict: u8, index: u8) -> Option<&'static str> {
    DOUBLE_BYTE
        .get(usize::from(dict))
        .map(|table| table[usize::from(index)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn digest(table: &[&str]) -> String {
        Sha256::digest(table.join("\n").as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn tables_match_the_fact_sheet_digests() {
        assert_eq!(SINGLE_BYTE.len(), 236);
        assert_eq!(
            digest(&SINGLE_BYTE),
            "1e8302d2aba0d8c40d09fd79fc9c70347350cb00926dd0e3565683b347be35a5"
        );
        let expected = [
            "c19c763b07f7684fc58490eb838873edeec498d59bf4d56bbb33d8e7af4cb112",
            "e8894a798e1d92bc5f5f5cd1c2ffeef43a5c03acb1775b34d121ffe0a19b8f6a",
            "8f4081781e324d9ab95574b01ff37a44753403cebd0d1feeeb985661cc86cae8",
            "8e397aec42a6a503621910cf3d7a8f9e287e94192031265b6e55519e0e19fadc",
        ];
        for (table, want) in DOUBLE_BYTE.iter().zip(expected) {
            assert_eq!(digest(table), want);
        }
    }

    #[test]
    fn spot_check_indices() {
        for (s, i) in [
            ("type", 4),
            ("from", 6),
            ("id", 8),
            ("to", 17),
            ("iq", 25),
            ("device-identity", 230),
        ] {
            assert_eq!(lookup(s), Some(Token::Single(i)), "{s}");
        }
        for (s, d, i) in [
            ("active", 0, 1),
            ("conflict", 0, 14),
            ("offline_batch", 1, 8),
            ("pair-device", 1, 238),
            ("503", 2, 208),
        ] {
            assert_eq!(lookup(s), Some(Token::Double(d, i)), "{s}");
        }
        for s in ["ib", "md", "pair-success", "newsletter", "hosted", ""] {
            assert_eq!(lookup(s), None, "{s}");
        }
        assert_eq!(single(0), None);
        assert_eq!(single(236), None);
        assert_eq!(double(4, 0), None);
    }
}
