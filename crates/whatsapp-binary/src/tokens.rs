//! Wire tags of the binary XML format and lookups into the token dictionary.
//!
//! The byte values are protocol facts shared by every client (WhatsApp Web, Baileys,
//! whatsmeow, wacore); the dictionary itself lives in `token_table.rs` as plain data.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::token_table::{DOUBLE_BYTE, SINGLE_BYTE};

/// Dictionary version sent in the connection intro (`57 41 06 03`).
pub const DICT_VERSION: u8 = 3;

pub const LIST_EMPTY: u8 = 0;
pub const DICTIONARY_0: u8 = 236;
pub const DICTIONARY_3: u8 = 239;
pub const INTEROP_JID: u8 = 245;
pub const FB_JID: u8 = 246;
pub const AD_JID: u8 = 247;
pub const LIST_8: u8 = 248;
pub const LIST_16: u8 = 249;
pub const JID_PAIR: u8 = 250;
pub const HEX_8: u8 = 251;
pub const BINARY_8: u8 = 252;
pub const BINARY_20: u8 = 253;
pub const BINARY_32: u8 = 254;
pub const NIBBLE_8: u8 = 255;

/// Longest string (in characters) that fits a packed NIBBLE_8/HEX_8 value: the length byte
/// keeps 7 bits for the number of packed bytes, and each byte holds two characters, but
/// every client caps the *character* count at 127, so we do too.
pub const PACKED_MAX: usize = 127;

/// Where a string sits in the dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// One byte on the wire.
    Single(u8),
    /// `DICTIONARY_0 + dict`, then `index`.
    Double { dict: u8, index: u8 },
}

/// Reverse index, built once. A `HashMap` keeps this readable; the encoder's hot path is
/// dominated by copying, not by this lookup (see the bench).
fn index() -> &'static HashMap<&'static str, Token> {
    static INDEX: OnceLock<HashMap<&'static str, Token>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut map = HashMap::with_capacity(SINGLE_BYTE.len() + 4 * 256);
        // Index 0 is the empty string, which is written as BINARY_8 0, never as a token.
        for (i, token) in SINGLE_BYTE.iter().enumerate().skip(1) {
            if let Ok(byte) = u8::try_from(i) {
                map.entry(*token).or_insert(Token::Single(byte));
            }
        }
        for (dict, table) in DOUBLE_BYTE.iter().enumerate() {
            for (i, token) in table.iter().enumerate() {
                if let (Ok(dict), Ok(index)) = (u8::try_from(dict), u8::try_from(i)) {
                    map.entry(*token).or_insert(Token::Double { dict, index });
                }
            }
        }
        map
    })
}

/// The dictionary entry for `s`, if it has one.
pub fn lookup(s: &str) -> Option<Token> {
    if s.is_empty() {
        return None;
    }
    index().get(s).copied()
}

/// The single-byte token at `byte` (1..=235); `None` for tags and out-of-range bytes.
pub fn single(byte: u8) -> Option<&'static str> {
    if byte == 0 {
        return None;
    }
    SINGLE_BYTE.get(usize::from(byte)).copied()
}

/// The double-byte token `index` of dictionary `dict` (0..=3).
pub fn double(dict: u8, index: u8) -> Option<&'static str> {
    DOUBLE_BYTE
        .get(usize::from(dict))
        .and_then(|table| table.get(usize::from(index)))
        .copied()
}

/// Every token in the dictionary (single-byte first), for tests and generators.
pub fn all() -> impl Iterator<Item = &'static str> {
    SINGLE_BYTE
        .iter()
        .skip(1)
        .chain(DOUBLE_BYTE.iter().flatten())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_token_maps_back_to_its_own_position() {
        for byte in 1..=235u8 {
            let token = single(byte).expect("single-byte table has 236 entries");
            assert_eq!(lookup(token), Some(Token::Single(byte)), "{token}");
        }
        for dict in 0..4u8 {
            for index in 0..=255u8 {
                let token = double(dict, index).expect("double tables have 256 entries");
                assert_eq!(
                    lookup(token),
                    Some(Token::Double { dict, index }),
                    "{token}"
                );
            }
        }
    }

    #[test]
    fn well_known_positions_match_the_protocol() {
        // Spot checks restated from the published dictionary (Baileys constants.js).
        assert_eq!(single(3), Some("s.whatsapp.net"));
        assert_eq!(single(19), Some("message"));
        assert_eq!(single(25), Some("iq"));
        assert_eq!(double(0, 0), Some("read-self"));
        assert_eq!(single(236), None);
        assert_eq!(double(4, 0), None);
        assert_eq!(lookup(""), None);
        assert_eq!(lookup("definitely-not-a-token"), None);
    }
}
