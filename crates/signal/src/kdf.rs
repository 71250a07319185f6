//! Key derivation and the symmetric primitives of the v3 protocol, with the constants
//! libsignal-node uses (checked against node_modules/libsignal/src): HKDF-SHA256 with the info
//! strings "WhisperText" (X3DH), "WhisperRatchet" (root chain), "WhisperMessageKeys" (message
//! keys) and "WhisperGroup" (sender keys); HMAC-SHA256 chain steps with seeds 0x01 (message key)
//! and 0x02 (next chain key); AES-256-CBC with PKCS#7 padding for bodies.

use aes::Aes256;
use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::SignalError;

pub(crate) const INFO_X3DH: &[u8] = b"WhisperText";
pub(crate) const INFO_RATCHET: &[u8] = b"WhisperRatchet";
pub(crate) const INFO_MESSAGE_KEYS: &[u8] = b"WhisperMessageKeys";
pub(crate) const INFO_GROUP: &[u8] = b"WhisperGroup";

const MESSAGE_KEY_SEED: u8 = 0x01;
const CHAIN_KEY_SEED: u8 = 0x02;

/// HKDF-SHA256 producing `N` bytes (libsignal-node's `deriveSecrets`, which returns the same
/// bytes as RFC 5869 in 32-byte chunks).
pub(crate) fn derive<const N: usize>(input: &[u8], salt: &[u8; 32], info: &[u8]) -> [u8; N] {
    // HKDF-SHA256's only failure is an output over 255 * 32 bytes; rule it out at compile time.
    const { assert!(N <= 255 * 32) };
    let mut out = [0u8; N];
    let _infallible = Hkdf::<Sha256>::new(Some(salt), input).expand(info, &mut out);
    out
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub(crate) fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// One step of a symmetric chain: (message key seed, next chain key).
pub(crate) fn chain_step(chain_key: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    (
        hmac(chain_key, &[&[MESSAGE_KEY_SEED]]),
        hmac(chain_key, &[&[CHAIN_KEY_SEED]]),
    )
}

/// The keys for one 1:1 message, expanded from its chain's message key seed.
pub(crate) struct MessageKeys {
    pub cipher_key: [u8; 32],
    pub mac_key: [u8; 32],
    pub iv: [u8; 16],
}

impl MessageKeys {
    pub(crate) fn derive(seed: &[u8; 32]) -> Self {
        let okm: [u8; 96] = derive(seed, &[0u8; 32], INFO_MESSAGE_KEYS);
        let mut keys = Self {
            cipher_key: [0; 32],
            mac_key: [0; 32],
            iv: [0; 16],
        };
        keys.cipher_key.copy_from_slice(&okm[..32]);
        keys.mac_key.copy_from_slice(&okm[32..64]);
        keys.iv.copy_from_slice(&okm[64..80]);
        keys
    }

    /// Sender-key message keys: IV = first 16 bytes, key = the next 32 (libsignal's group
    /// derivation, as Baileys' SenderMessageKey does it).
    pub(crate) fn derive_group(seed: &[u8; 32]) -> Self {
        let okm: [u8; 64] = derive(seed, &[0u8; 32], INFO_GROUP);
        let mut keys = Self {
            cipher_key: [0; 32],
            mac_key: [0; 32],
            iv: [0; 16],
        };
        keys.iv.copy_from_slice(&okm[..16]);
        keys.cipher_key.copy_from_slice(&okm[16..48]);
        keys
    }
}

pub(crate) fn aes_cbc_encrypt(key: &[u8; 32], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    cbc::Encryptor::<Aes256>::new(key.into(), iv.into()).encrypt_padded_vec_mut::<Pkcs7>(plaintext)
}

pub(crate) fn aes_cbc_decrypt(
    key: &[u8; 32],
    iv: &[u8; 16],
    ciphertext: &[u8],
) -> Result<Vec<u8>, SignalError> {
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(16) {
        return Err(SignalError::BadCiphertext);
    }
    cbc::Decryptor::<Aes256>::new(key.into(), iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
        .map_err(|_| SignalError::BadCiphertext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hkdf_matches_rfc5869_case_3() {
        // RFC 5869 appendix A.3 (empty salt, empty info), restated as data: an empty HMAC key
        // and 32 zero bytes pad to the same block, so the first 32 bytes of OKM must match.
        let ikm = [0x0bu8; 22];
        let okm: [u8; 32] = derive(&ikm, &[0u8; 32], b"");
        assert_eq!(
            hex::encode(okm),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
        );
    }

    #[test]
    fn cbc_round_trip_and_bad_padding() {
        let key = [7u8; 32];
        let iv = [9u8; 16];
        for len in [0usize, 1, 15, 16, 17, 100] {
            let pt = vec![0xabu8; len];
            let ct = aes_cbc_encrypt(&key, &iv, &pt);
            assert_eq!(ct.len(), (len / 16 + 1) * 16);
            assert_eq!(aes_cbc_decrypt(&key, &iv, &ct).unwrap(), pt);
        }
        assert!(matches!(
            aes_cbc_decrypt(&key, &iv, &[0u8; 15]),
            Err(SignalError::BadCiphertext)
        ));
        assert!(matches!(
            aes_cbc_decrypt(&key, &iv, &[]),
            Err(SignalError::BadCiphertext)
        ));
    }
}
