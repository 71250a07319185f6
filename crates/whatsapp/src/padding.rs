//! The random padding WhatsApp puts around every encrypted message plaintext (the encoded
//! `Message` protobuf) before Signal encryption, and strips after decryption.
//!
//! Why it exists: the Signal ciphertext length would otherwise reveal the exact length of the
//! message; a few random bytes blur it. Why it matters to us: a receiver that forgets to strip it
//! decodes garbage trailing bytes as protobuf fields, and a sender that forgets it is refused by
//! nobody but stands out.
//!
//! Facts (Baileys 7.0.0-rc14 `Utils/generics.js` `writeRandomPadMax16` / `unpadRandomMax16`,
//! whatsmeow `padMessage` / `unpadMessage`): `n` bytes each equal to `n` are appended, PKCS#7
//! style. whatsmeow draws `n` as a random nibble with 0 replaced by 15 (so 1..=15); Baileys draws
//! `(nibble + 1)` (1..=16). Receivers only read the last byte, so both interoperate; we send
//! 1..=15 like whatsmeow. On receipt the last byte is the pad length; it must be at least 1 and
//! at most the plaintext length.

use rand_core::{OsRng, RngCore};
use thiserror::Error;

/// Why a decrypted plaintext has no valid padding (a bug or tampering on the sender's side; the
/// Signal layer already authenticated the bytes).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PaddingError {
    #[error("plaintext is empty: no padding to strip")]
    Empty,
    #[error("pad length byte is 0")]
    ZeroLength,
    #[error("pad length {pad} exceeds the {len}-byte plaintext")]
    TooLong { pad: usize, len: usize },
}

/// Appends WhatsApp's random padding: 1..=15 bytes, each equal to the pad length.
pub fn pad(mut plaintext: Vec<u8>) -> Vec<u8> {
    let mut nibble = [0u8; 1];
    OsRng.fill_bytes(&mut nibble);
    let n = match nibble[0] & 0x0f {
        0 => 0x0f,
        n => n,
    };
    plaintext.extend(std::iter::repeat_n(n, usize::from(n)));
    plaintext
}

/// Strips WhatsApp's padding: the last byte says how many bytes to drop.
pub fn unpad(plaintext: &[u8]) -> Result<&[u8], PaddingError> {
    let pad = usize::from(*plaintext.last().ok_or(PaddingError::Empty)?);
    if pad == 0 {
        return Err(PaddingError::ZeroLength);
    }
    let len = plaintext.len();
    if pad > len {
        return Err(PaddingError::TooLong { pad, len });
    }
    Ok(&plaintext[..len - pad])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_round_trips_with_1_to_15_bytes() {
        let mut lengths = std::collections::BTreeSet::new();
        for _ in 0..512 {
            let padded = pad(b"hello".to_vec());
            let n = padded.len() - 5;
            assert!((1..=15).contains(&n), "{n}");
            assert!(padded[5..].iter().all(|b| usize::from(*b) == n));
            assert_eq!(unpad(&padded), Ok(&b"hello"[..]));
            lengths.insert(n);
        }
        assert_eq!(lengths.len(), 15, "every length occurs: {lengths:?}");
    }

    #[test]
    fn an_empty_message_pads_and_unpads() {
        assert_eq!(unpad(&pad(Vec::new())), Ok(&[][..]));
    }

    #[test]
    fn impossible_padding_is_a_typed_error() {
        assert_eq!(unpad(&[]), Err(PaddingError::Empty));
        assert_eq!(unpad(&[1, 2, 0]), Err(PaddingError::ZeroLength));
        assert_eq!(
            unpad(&[9, 9]),
            Err(PaddingError::TooLong { pad: 9, len: 2 })
        );
        // Baileys pads up to 16 bytes; we accept what any sender produces.
        let mut sixteen = b"x".to_vec();
        sixteen.extend([16u8; 16]);
        assert_eq!(unpad(&sixteen), Ok(&b"x"[..]));
    }
}
