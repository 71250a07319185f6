//! The transport cipher used after the handshake: AES-256-GCM, one key per direction, empty
//! associated data, and a 12-byte nonce of zeros whose last 4 bytes are a big-endian message
//! counter starting at 0.
//!
//! Unlike stock Noise transports there is no 64 KiB message cap: frames go up to the 24-bit limit.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// AES-GCM authentication tag length.
pub const TAG_LEN: usize = 16;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CipherError {
    #[error("transport frame failed authentication (message #{counter})")]
    Decrypt { counter: u32 },
    #[error("transport encryption failed (message #{counter})")]
    Encrypt { counter: u32 },
    #[error("2^32 messages sent in one direction; reconnect to get fresh keys")]
    CounterExhausted,
}

/// The two keys the handshake's split produces, already oriented for one side.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct TransportKeys {
    pub write: [u8; 32],
    pub read: [u8; 32],
}

impl std::fmt::Debug for TransportKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TransportKeys(..)")
    }
}

/// One direction: key + counter.
///
/// The key, not an expanded `Aes256Gcm`: the expanded cipher is ~1 KiB (both AES key schedules
/// plus GHASH's, for the hardware and the software backends), and every idle linked account
/// holds two of these for as long as it is connected. Expanding the key again for each frame
/// costs ~0.1 µs (`benches/transport.rs`: a 64-byte frame 113 → 206 ns, a 1 KiB one 720 → 808
/// ns), next to a frame's decoding and Signal work.
#[derive(Zeroize, ZeroizeOnDrop)]
struct CipherState {
    key: [u8; 32],
    counter: u32,
    exhausted: bool,
}

impl CipherState {
    fn new(key: &[u8; 32]) -> Self {
        Self {
            key: *key,
            counter: 0,
            exhausted: false,
        }
    }

    fn aead(&self) -> Aes256Gcm {
        Aes256Gcm::new((&self.key).into())
    }

    fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, CipherError> {
        if self.exhausted {
            return Err(CipherError::CounterExhausted);
        }
        let counter = self.counter;
        let out = self
            .aead()
            .encrypt(Nonce::from_slice(&nonce(counter)), plaintext)
            .map_err(|_| CipherError::Encrypt { counter })?;
        self.advance();
        Ok(out)
    }

    fn open(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, CipherError> {
        if self.exhausted {
            return Err(CipherError::CounterExhausted);
        }
        let counter = self.counter;
        let out = self
            .aead()
            .decrypt(Nonce::from_slice(&nonce(counter)), ciphertext)
            .map_err(|_| CipherError::Decrypt { counter })?;
        self.advance();
        Ok(out)
    }

    /// Moves to the next nonce. After the last one (2^32 - 1) the state refuses to continue rather
    /// than wrap around, because a repeated nonce would break GCM.
    fn advance(&mut self) {
        match self.counter.checked_add(1) {
            Some(next) => self.counter = next,
            None => self.exhausted = true,
        }
    }
}

/// Nonce for message number `counter`.
pub fn nonce(counter: u32) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[8..].copy_from_slice(&counter.to_be_bytes());
    iv
}

/// Both directions of an established connection.
pub struct TransportCipher {
    send: CipherState,
    recv: CipherState,
}

impl std::fmt::Debug for TransportCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportCipher")
            .field("sent", &self.send.counter)
            .field("received", &self.recv.counter)
            .finish_non_exhaustive()
    }
}

impl TransportCipher {
    pub fn new(keys: &TransportKeys) -> Self {
        Self {
            send: CipherState::new(&keys.write),
            recv: CipherState::new(&keys.read),
        }
    }

    /// Encrypts the next outgoing frame payload (ciphertext = plaintext + 16-byte tag).
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, CipherError> {
        self.send.seal(plaintext)
    }

    /// Decrypts the next incoming frame payload. On failure the counter does not move; the caller
    /// should drop the connection, since the peer and we no longer agree on the stream.
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, CipherError> {
        self.recv.open(ciphertext)
    }

    /// Messages sent so far in each direction: `(sent, received)`.
    pub fn counters(&self) -> (u32, u32) {
        (self.send.counter, self.recv.counter)
    }

    /// Splits into independent sending and receiving halves, so a connection can write from one
    /// task while another reads (each direction has its own key and counter anyway).
    pub fn split(self) -> (SendCipher, RecvCipher) {
        (SendCipher(self.send), RecvCipher(self.recv))
    }
}

/// The sending direction of a [`TransportCipher`].
pub struct SendCipher(CipherState);

/// The receiving direction of a [`TransportCipher`].
pub struct RecvCipher(CipherState);

impl std::fmt::Debug for SendCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendCipher")
            .field("sent", &self.0.counter)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RecvCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvCipher")
            .field("received", &self.0.counter)
            .finish_non_exhaustive()
    }
}

impl SendCipher {
    /// See [`TransportCipher::encrypt`].
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, CipherError> {
        self.0.seal(plaintext)
    }
}

impl RecvCipher {
    /// See [`TransportCipher::decrypt`].
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, CipherError> {
        self.0.open(ciphertext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (TransportCipher, TransportCipher) {
        let a = TransportKeys {
            write: [1; 32],
            read: [2; 32],
        };
        let b = TransportKeys {
            write: [2; 32],
            read: [1; 32],
        };
        (TransportCipher::new(&a), TransportCipher::new(&b))
    }

    #[test]
    fn a_direction_keeps_its_key_not_an_expanded_cipher() {
        // Every connected account holds both halves for as long as it is connected; the
        // expanded AES-GCM state is ~1 KiB each (see `CipherState`).
        assert!(std::mem::size_of::<SendCipher>() <= 64);
        assert!(std::mem::size_of::<RecvCipher>() <= 64);
        assert!(
            std::mem::size_of::<Aes256Gcm>() > 256,
            "the reason for keeping the key is gone"
        );
    }

    #[test]
    fn nonce_is_zeros_then_big_endian_counter() {
        assert_eq!(nonce(0x0102_0304), [0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
    }

    #[test]
    fn first_message_uses_counter_zero_and_empty_aad() {
        // Independent of TransportCipher: encrypt with the raw AEAD at nonce 0, no AAD.
        let (mut a, _) = pair();
        let reference = Aes256Gcm::new((&[1u8; 32]).into())
            .encrypt(Nonce::from_slice(&[0; 12]), &b"node"[..])
            .unwrap();
        assert_eq!(a.encrypt(b"node").unwrap(), reference);
        let second = Aes256Gcm::new((&[1u8; 32]).into())
            .encrypt(Nonce::from_slice(&nonce(1)), &b"node"[..])
            .unwrap();
        assert_eq!(a.encrypt(b"node").unwrap(), second);
    }

    #[test]
    fn each_side_decrypts_the_other_in_order_and_rejects_replays() {
        let (mut a, mut b) = pair();
        let m1 = a.encrypt(b"one").unwrap();
        let m2 = a.encrypt(b"two").unwrap();
        assert_eq!(b.decrypt(&m1).unwrap(), b"one");
        assert_eq!(b.decrypt(&m1), Err(CipherError::Decrypt { counter: 1 }));
        assert_eq!(b.decrypt(&m2).unwrap(), b"two");
        let back = b.encrypt(b"three").unwrap();
        assert_eq!(a.decrypt(&back).unwrap(), b"three");
        assert_eq!(a.counters(), (2, 1));
    }

    #[test]
    fn short_or_tampered_ciphertext_is_an_error() {
        let (mut a, mut b) = pair();
        assert!(b.decrypt(&[]).is_err());
        let mut m = a.encrypt(b"payload").unwrap();
        m[0] ^= 1;
        assert_eq!(b.decrypt(&m), Err(CipherError::Decrypt { counter: 0 }));
    }

    #[test]
    fn the_last_counter_is_used_once_then_the_cipher_refuses() {
        let (mut a, mut b) = pair();
        a.send.counter = u32::MAX;
        b.recv.counter = u32::MAX;
        let m = a.encrypt(b"last").unwrap();
        assert_eq!(b.decrypt(&m).unwrap(), b"last");
        assert_eq!(a.encrypt(b"again"), Err(CipherError::CounterExhausted));
        assert_eq!(b.decrypt(&m), Err(CipherError::CounterExhausted));
    }
}
