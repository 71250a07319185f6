//! The symmetric half of Noise (`h`, `ck`, the handshake cipher key and its counter) for
//! WhatsApp's three handshakes: `Noise_XX_25519_AESGCM_SHA256` (first contact),
//! `Noise_IK_25519_AESGCM_SHA256` (resume with the server key cached from the last connection)
//! and `Noise_XXfallback_25519_AESGCM_SHA256` (the server's answer to a resume with a stale key).
//!
//! Kept separate from the message flow (`client.rs`, `resume.rs`, `server.rs`) so the one
//! WhatsApp quirk is visible there: message 1's empty payload is *not* mixed into `h`. Everything
//! here is standard Noise: a protocol name of at most 32 bytes is used raw (zero-padded) as the
//! initial `h` and `ck`, a longer one (XXfallback, 36 bytes) is hashed with SHA-256 first; MixKey
//! is HKDF-SHA256(salt = ck, ikm = DH) → 64 bytes = new `ck` ‖ new key; the AEAD uses `h` as
//! associated data and a nonce of 8 zero bytes + 32-bit big-endian counter.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::frame::cipher::nonce;

/// The protocol name, padded with zeros to the hash length.
pub(crate) const PROTOCOL_NAME: &[u8; 32] = b"Noise_XX_25519_AESGCM_SHA256\0\0\0\0";
/// The resume handshake (WhatsApp Web's `WAOpenChatSocket`: "resumeNoiseHandshake").
pub(crate) const IK_NAME: &[u8] = b"Noise_IK_25519_AESGCM_SHA256";
/// The server's answer to a resume it cannot complete ("doFallbackHandshake").
pub(crate) const XX_FALLBACK_NAME: &[u8] = b"Noise_XXfallback_25519_AESGCM_SHA256";

/// An AEAD operation failed: wrong key, tampered bytes, or (encrypting) no key yet.
#[derive(Debug)]
pub(crate) struct AeadFailure;

pub(crate) struct SymmetricState {
    hash: [u8; 32],
    chaining_key: [u8; 32],
    cipher: Option<Aes256Gcm>,
    counter: u32,
}

impl Drop for SymmetricState {
    fn drop(&mut self) {
        self.chaining_key.zeroize();
    }
}

impl SymmetricState {
    /// Initial state of the XX handshake with the prologue already mixed into `h`.
    pub(crate) fn new(prologue: &[u8]) -> Self {
        Self::named(PROTOCOL_NAME, prologue)
    }

    /// Initial state of the handshake called `name`, with the prologue mixed into `h`.
    pub(crate) fn named(name: &[u8], prologue: &[u8]) -> Self {
        let mut initial = [0u8; 32];
        if name.len() <= initial.len() {
            initial[..name.len()].copy_from_slice(name);
        } else {
            initial = Sha256::digest(name).into();
        }
        let mut state = Self {
            hash: initial,
            chaining_key: initial,
            cipher: None,
            counter: 0,
        };
        state.mix_hash(prologue);
        state
    }

    pub(crate) fn hash(&self) -> [u8; 32] {
        self.hash
    }

    #[cfg(test)]
    pub(crate) fn chaining_key(&self) -> [u8; 32] {
        self.chaining_key
    }

    pub(crate) fn mix_hash(&mut self, data: &[u8]) {
        let mut hasher = Sha256::new();
        hasher.update(self.hash);
        hasher.update(data);
        self.hash = hasher.finalize().into();
    }

    pub(crate) fn mix_key(&mut self, input_key_material: &[u8; 32]) {
        let mut okm = hkdf64(&self.chaining_key, input_key_material);
        self.chaining_key.copy_from_slice(&okm[..32]);
        let mut key = [0u8; 32];
        key.copy_from_slice(&okm[32..]);
        self.cipher = Some(Aes256Gcm::new((&key).into()));
        self.counter = 0;
        key.zeroize();
        okm.zeroize();
    }

    pub(crate) fn encrypt_and_hash(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, AeadFailure> {
        let cipher = self.cipher.as_ref().ok_or(AeadFailure)?;
        let iv = nonce(self.counter);
        let payload = Payload {
            msg: plaintext,
            aad: &self.hash,
        };
        let ciphertext = cipher
            .encrypt(Nonce::from_slice(&iv), payload)
            .map_err(|_| AeadFailure)?;
        self.counter = self.counter.checked_add(1).ok_or(AeadFailure)?;
        self.mix_hash(&ciphertext);
        Ok(ciphertext)
    }

    pub(crate) fn decrypt_and_hash(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, AeadFailure> {
        let cipher = self.cipher.as_ref().ok_or(AeadFailure)?;
        let iv = nonce(self.counter);
        let payload = Payload {
            msg: ciphertext,
            aad: &self.hash,
        };
        let plaintext = cipher
            .decrypt(Nonce::from_slice(&iv), payload)
            .map_err(|_| AeadFailure)?;
        self.counter = self.counter.checked_add(1).ok_or(AeadFailure)?;
        self.mix_hash(ciphertext);
        Ok(plaintext)
    }

    /// The two transport keys: (initiator → responder, responder → initiator).
    pub(crate) fn split(&self) -> ([u8; 32], [u8; 32]) {
        let mut okm = hkdf64(&self.chaining_key, &[]);
        let mut first = [0u8; 32];
        let mut second = [0u8; 32];
        first.copy_from_slice(&okm[..32]);
        second.copy_from_slice(&okm[32..]);
        okm.zeroize();
        (first, second)
    }
}

fn hkdf64(salt: &[u8; 32], ikm: &[u8]) -> [u8; 64] {
    let mut okm = [0u8; 64];
    // 64 bytes is far below HKDF-SHA256's 255 * 32 byte output limit, so expand cannot fail;
    // if it somehow did, the all-zero key would only make the handshake fail to authenticate.
    let _ = Hkdf::<Sha256>::new(Some(salt), ikm).expand(&[], &mut okm);
    okm
}

#[cfg(test)]
mod tests {
    //! Step-by-step transcript of a captured real-server handshake, restated from the MIT-licensed
    //! crate `wacore` 0.7.0, `tests/noise_handshake_test.rs` (`test_full_handshake_flow_with_go_data`;
    //! values produced by whatsmeow against WhatsApp's server). The full message flow is tested in
    //! `tests/handshake_vector.rs`.
    use super::*;
    use crate::frame::INTRO;

    fn h32(s: &str) -> [u8; 32] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    #[test]
    fn protocol_name_is_used_raw_as_h_and_ck() {
        let s = SymmetricState::new(&[]);
        // SHA-256(name ‖ "") would differ; the raw name is the chaining key.
        assert_eq!(&s.chaining_key(), PROTOCOL_NAME);
    }

    #[test]
    fn transcript_matches_the_captured_handshake_step_by_step() {
        let client_eph_pub =
            h32("8537e1daadfb8e9ff8491896f5733008bad4967c2ba97670f69cf3053762ea4d");
        let client_eph_priv =
            h32("b8de0b5ebad3e7879fa659c0d27baa6c3e3f32a10f7c4cb2613cb4182fe83047");
        let server_eph_pub =
            h32("27692cf5d6a08e51f2d601f2e475378456bda16f96255c5121d081d0aa4a815d");

        let mut s = SymmetricState::new(&INTRO);
        assert_eq!(
            s.hash(),
            h32("ffff0c9267310966f1311170c04b38c79504285bf5edf763e5c946492a50a755")
        );
        s.mix_hash(&client_eph_pub);
        assert_eq!(
            s.hash(),
            h32("86790a969b7100866dfbf74fcfe5a175f8adff7f8c5139f74cd2f14a8fa5f11f")
        );
        // WhatsApp quirk: no MixHash of message 1's empty payload before the server ephemeral.
        s.mix_hash(&server_eph_pub);
        assert_eq!(
            s.hash(),
            h32("9fd7bf2736e1e5b48b2759fd5806225ccb6822d557579d725459795cdd0885d3")
        );
        let ee = x25519_dalek::x25519(client_eph_priv, server_eph_pub);
        s.mix_key(&ee);
        assert_eq!(
            s.chaining_key(),
            h32("a505e995a2068e7103a582be6f6ba9d6b447a80db4e679209b2f7cc6da633709")
        );
        let server_static = s
            .decrypt_and_hash(&hex::decode("0addd1ce96c55699824fc20ef2a73928dd8168bc29ef863bdea6dc69002b00054add28f7711e3a7dff984d3f31badaa2").unwrap())
            .unwrap();
        assert_eq!(
            server_static,
            h32("5854d333d8e13975abd6597bbaddd49d6935ced25c93a44bd3ade508f2bec330")
        );
        assert_eq!(
            s.hash(),
            h32("8f29e8901b6ffb3cb393795c023d6d219ceb447dbbbae075533010907cbfbc6c")
        );
        let es = x25519_dalek::x25519(client_eph_priv, server_static.try_into().unwrap());
        s.mix_key(&es);
        assert_eq!(
            s.chaining_key(),
            h32("5092572187a71abe8044010b9c8419633272b45b2babf4ca316966edc3eb9bde")
        );
    }

    #[test]
    fn short_names_are_padded_and_long_ones_hashed() {
        let xx = SymmetricState::named(b"Noise_XX_25519_AESGCM_SHA256", &[]);
        assert_eq!(&xx.chaining_key(), PROTOCOL_NAME);
        let ik = SymmetricState::named(IK_NAME, &[]);
        assert_eq!(&ik.chaining_key()[..IK_NAME.len()], IK_NAME);
        assert_eq!(&ik.chaining_key()[IK_NAME.len()..], &[0; 4]);
        let fallback = SymmetricState::named(XX_FALLBACK_NAME, &[]);
        assert_eq!(XX_FALLBACK_NAME.len(), 36);
        let digest: [u8; 32] = Sha256::digest(XX_FALLBACK_NAME).into();
        assert_eq!(fallback.chaining_key(), digest);
    }

    #[test]
    fn encrypt_without_a_key_fails() {
        let mut s = SymmetricState::new(&INTRO);
        assert!(s.encrypt_and_hash(b"x").is_err());
        assert!(s.decrypt_and_hash(&[0; 16]).is_err());
    }
}
