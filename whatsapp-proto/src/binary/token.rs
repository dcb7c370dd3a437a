//! Tag bytes and token lookup (../shared/protocol part 1 §5.2, §5.6).

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

/// Open-addressing index of every token, built at compile time: a slot holds 0 (empty),
/// a single-byte token's index (1..=235) or `256 + dictionary * 256 + index`. Token
/// lookup is most of the encoder's work, so the key reads at most 16 bytes of the string
/// (its head, tail and length) and a probe usually ends at the first slot (1,260 tokens
/// in 4,096 slots).
static INDEX: [u16; SLOTS] = build_index();

const SLOT_BITS: u32 = 12;
const SLOTS: usize = 1 << SLOT_BITS;
/// The longest token (`urn:xmpp:whatsapp:...` entries are the long ones).
const LONGEST: usize = 48;

#[inline(always)]
const fn u64_le(s: &[u8], at: usize) -> u64 {
    match s.split_at(at).1.first_chunk::<8>() {
        Some(b) => u64::from_le_bytes(*b),
        None => 0,
    }
}

#[inline(always)]
const fn u32_le(s: &[u8], at: usize) -> u64 {
    match s.split_at(at).1.first_chunk::<4>() {
        Some(b) => u32::from_le_bytes(*b) as u64,
        None => 0,
    }
}

/// The first slot to probe for `s` (non-empty).
#[inline(always)]
const fn home_slot(s: &[u8]) -> usize {
    let n = s.len();
    let (a, b) = if n >= 8 {
        (u64_le(s, 0), u64_le(s, n - 8))
    } else if n >= 4 {
        (u32_le(s, 0), u32_le(s, n - 4))
    } else {
        (
            s[0] as u64 | (s[n / 2] as u64) << 8 | (s[n - 1] as u64) << 16,
            0,
        )
    };
    let h = (a ^ b.rotate_left(32) ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> (64 - SLOT_BITS)) as usize
}

const fn code_str(code: u16) -> &'static str {
    let code = code as usize;
    if code < 256 {
        SINGLE_BYTE[code]
    } else {
        DOUBLE_BYTE[(code - 256) / 256][(code - 256) % 256]
    }
}

const fn build_index() -> [u16; SLOTS] {
    let mut table = [0u16; SLOTS];
    let mut code = 1;
    while code < 256 + 4 * 256 {
        if code < SINGLE_BYTE.len() || code >= 256 {
            let s = code_str(code as u16).as_bytes();
            let mut slot = home_slot(s);
            while table[slot] != 0 {
                slot = (slot + 1) % SLOTS;
            }
            table[slot] = code as u16;
        }
        code += 1;
    }
    table
}

/// The token for a string, if it has one.
#[inline]
pub(crate) fn lookup(s: &str) -> Option<Token> {
    // Index 0 (the empty string) is never written as a token.
    if s.is_empty() || s.len() > LONGEST {
        return None;
    }
    let mut slot = home_slot(s.as_bytes());
    loop {
        let code = INDEX[slot];
        if code == 0 {
            return None;
        }
        if code_str(code) == s {
            return Some(if code < 256 {
                Token::Single(code as u8)
            } else {
                Token::Double(((code - 256) / 256) as u8, ((code - 256) % 256) as u8)
            });
        }
        slot = (slot + 1) % SLOTS;
    }
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
    fn every_token_is_found_at_its_index() {
        for (index, token) in SINGLE_BYTE.iter().enumerate().skip(1) {
            assert_eq!(lookup(token), Some(Token::Single(index as u8)), "{token}");
        }
        for (dict, table) in DOUBLE_BYTE.iter().enumerate() {
            for (index, token) in table.iter().enumerate() {
                let want = Token::Double(dict as u8, index as u8);
                assert_eq!(lookup(token), Some(want), "{token}");
            }
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
        for s in ["typ", "types", "Type", "s.whatsapp.ne", "0123456789", "x"] {
            assert_eq!(lookup(s), None, "{s}");
        }
        assert_eq!(single(0), None);
        assert_eq!(single(236), None);
        assert_eq!(double(4, 0), None);
    }
}
