//! Encryption at rest of the engine's secrets: AES-256-GCM under `SESSION_ENCRYPTION_KEY`.
//!
//! - A fresh random 96-bit nonce per value (a value is re-encrypted on every write, so nonces never
//!   repeat under one key in practice: 2^-32 collision odds only after ~2^32 writes).
//! - The associated data binds the row: `"rarity-wa-v1" 0x00 ‖ session_id (16 bytes) ‖ len(kind)
//!   (1 byte) ‖ kind ‖ name`, with kind `creds` and an empty name for the credentials row. A
//!   ciphertext copied into another row (another account, kind or name) fails to decrypt.
//! - `key_id` = the first 16 hex digits of SHA-256(`"rarity-session-key-v1"` ‖ key), stored beside
//!   every row so that start-up can tell a wrong key from a corrupt row and rotation can tell which
//!   rows are done. It identifies the key without revealing it.

use aes_gcm::aead::{Aead, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Key, KeyInit, Nonce};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use zeroize::Zeroize;

const AAD_PREFIX: &[u8] = b"rarity-wa-v1\0";
const KEY_ID_PREFIX: &[u8] = b"rarity-session-key-v1";
/// The "kind" of the credentials row in the associated data.
pub(crate) const CREDS_KIND: &str = "creds";

/// The AES-256-GCM key that encrypts the engine's credentials and keys. `Debug` shows only the key
/// id; the expanded key is wiped from memory when the cipher is dropped.
pub struct SessionCipher {
    aead: Aes256Gcm,
    key_id: String,
}

/// One encrypted value as stored.
pub(crate) struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl SessionCipher {
    /// From the 32 key bytes (`SESSION_ENCRYPTION_KEY`). The caller's copy is its own to wipe.
    pub fn new(key: [u8; 32]) -> SessionCipher {
        let mut key = key;
        let cipher = SessionCipher {
            aead: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
            key_id: key_id(&key),
        };
        key.zeroize();
        cipher
    }

    /// The key's public identifier (16 hex digits).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub(crate) fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Sealed, SealError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .aead
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| SealError)?;
        Ok(Sealed {
            key_id: self.key_id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// `None` when the value does not authenticate (wrong key, altered, or another row's).
    pub(crate) fn open(&self, aad: &[u8], nonce: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>> {
        if nonce.len() != 12 {
            return None;
        }
        self.aead
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .ok()
    }
}

impl std::fmt::Debug for SessionCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCipher")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// AES-GCM refuses only absurd inputs (over 64 GiB); kept typed rather than unwrapped.
#[derive(Debug)]
pub(crate) struct SealError;

fn key_id(key: &[u8; 32]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(KEY_ID_PREFIX);
    hasher.update(key);
    hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The associated data of one row (see the module docs).
pub(crate) fn aad(session_id: Uuid, kind: &str, name: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_PREFIX.len() + 17 + kind.len() + name.len());
    aad.extend_from_slice(AAD_PREFIX);
    aad.extend_from_slice(session_id.as_bytes());
    // Kinds are short fixed words; the length byte keeps kind and name apart.
    aad.push(u8::try_from(kind.len()).unwrap_or(u8::MAX));
    aad.extend_from_slice(kind.as_bytes());
    aad.extend_from_slice(name.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_only_in_their_own_row_and_under_their_own_key() {
        let cipher = SessionCipher::new([7; 32]);
        let session = Uuid::new_v4();
        let row = aad(session, "session", "4477.0");
        let sealed = cipher.seal(&row, b"ratchet state").unwrap();
        assert_eq!(sealed.nonce.len(), 12);
        assert_eq!(
            cipher
                .open(&row, &sealed.nonce, &sealed.ciphertext)
                .as_deref(),
            Some(&b"ratchet state"[..])
        );
        for other in [
            aad(Uuid::new_v4(), "session", "4477.0"),
            aad(session, "identity", "4477.0"),
            aad(session, "session", "4477.1"),
            aad(session, CREDS_KIND, ""),
        ] {
            assert!(
                cipher
                    .open(&other, &sealed.nonce, &sealed.ciphertext)
                    .is_none()
            );
        }
        let mut tampered = sealed.ciphertext.clone();
        tampered[0] ^= 1;
        assert!(cipher.open(&row, &sealed.nonce, &tampered).is_none());
        assert!(
            SessionCipher::new([8; 32])
                .open(&row, &sealed.nonce, &sealed.ciphertext)
                .is_none()
        );
        // Same plaintext twice: different nonces, different ciphertexts.
        let again = cipher.seal(&row, b"ratchet state").unwrap();
        assert_ne!(again.nonce, sealed.nonce);
    }

    #[test]
    fn key_ids_identify_keys_without_showing_them() {
        let a = SessionCipher::new([0xab; 32]);
        assert_eq!(a.key_id().len(), 16);
        assert!(a.key_id().chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a.key_id(), SessionCipher::new([0xab; 32]).key_id());
        assert_ne!(a.key_id(), SessionCipher::new([0xac; 32]).key_id());
        let shown = format!("{a:?}");
        assert!(
            shown.contains(a.key_id()) && !shown.contains("abab"),
            "{shown}"
        );
    }
}
