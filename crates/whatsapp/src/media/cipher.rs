//! AES-256-CBC + truncated HMAC-SHA256 over media, chunk by chunk.

use aes::Aes256;
use cbc::cipher::inout::InOutBuf;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use super::hashing::Hasher;
use super::{MediaError, MediaKeys, MediaKind};

/// Bytes of HMAC-SHA256 appended to the ciphertext.
pub const MAC_LEN: usize = 10;
const BLOCK: usize = 16;

type HmacSha256 = Hmac<Sha256>;

/// A fresh random media key.
pub fn new_media_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    OsRng.fill_bytes(&mut key);
    key
}

/// CBC over whole blocks of `buf`, in place (`buf.len()` is a multiple of 16).
fn encrypt_blocks(cipher: &mut cbc::Encryptor<Aes256>, buf: &mut [u8]) {
    let (blocks, tail) = InOutBuf::from(buf).into_chunks();
    debug_assert!(tail.is_empty());
    cipher.encrypt_blocks_inout_mut(blocks);
}

fn decrypt_blocks(cipher: &mut cbc::Decryptor<Aes256>, buf: &mut [u8]) {
    let (blocks, tail) = InOutBuf::from(buf).into_chunks();
    debug_assert!(tail.is_empty());
    cipher.decrypt_blocks_inout_mut(blocks);
}

/// What encrypting a file produced, for the message and the upload URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedInfo {
    /// SHA-256 of the plaintext (`fileSha256`).
    pub file_sha256: [u8; 32],
    /// SHA-256 of ciphertext ‖ MAC, i.e. of the uploaded blob (`fileEncSha256`).
    pub file_enc_sha256: [u8; 32],
    /// Plaintext bytes (`fileLength`).
    pub file_length: u64,
    /// Bytes of the encrypted blob (ciphertext + MAC).
    pub enc_length: u64,
}

/// Encrypts a file chunk by chunk: [`Encryptor::update`] appends the ciphertext of every whole
/// block seen so far to `out`; [`Encryptor::finish`] appends the padded last block and the MAC.
/// Memory use is one partial block, whatever the file's size.
pub struct Encryptor {
    cipher: cbc::Encryptor<Aes256>,
    hasher: Hasher,
    pending: [u8; BLOCK],
    pending_len: usize,
    plain_len: u64,
    enc_len: u64,
}

impl Encryptor {
    pub fn new(media_key: &[u8; 32], kind: MediaKind) -> Self {
        let keys = MediaKeys::expand(media_key, kind);
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&keys.mac_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(&keys.iv);
        Self {
            cipher: cbc::Encryptor::new(&keys.cipher_key.into(), &keys.iv.into()),
            hasher: Hasher::new(mac),
            pending: [0; BLOCK],
            pending_len: 0,
            plain_len: 0,
            enc_len: 0,
        }
    }

    /// Encrypts freshly appended whole blocks in place and feeds them to the MAC and hash.
    fn emit(&mut self, blocks: &mut [u8]) {
        encrypt_blocks(&mut self.cipher, blocks);
        self.hasher.ciphertext(blocks);
        self.enc_len += blocks.len() as u64;
    }

    /// Feeds the next plaintext chunk; appends the ciphertext of the whole blocks it completes.
    pub fn update(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        self.hasher.plaintext(input);
        self.plain_len += input.len() as u64;
        let start = out.len();
        if self.pending_len > 0 {
            let take = (BLOCK - self.pending_len).min(input.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&input[..take]);
            self.pending_len += take;
            input = &input[take..];
            if self.pending_len < BLOCK {
                return;
            }
            out.extend_from_slice(&self.pending);
            self.pending_len = 0;
        }
        let whole = input.len() / BLOCK * BLOCK;
        out.extend_from_slice(&input[..whole]);
        let rest = &input[whole..];
        self.pending[..rest.len()].copy_from_slice(rest);
        self.pending_len = rest.len();
        if out.len() > start {
            self.emit(&mut out[start..]);
        }
    }

    /// Appends the last (PKCS#7-padded) block and the 10-byte MAC; returns the hashes.
    pub fn finish(mut self, out: &mut Vec<u8>) -> EncryptedInfo {
        let start = out.len();
        let pad = BLOCK - self.pending_len; // 1..=16: PKCS#7 always pads
        out.extend_from_slice(&self.pending[..self.pending_len]);
        out.resize(start + BLOCK, pad as u8);
        self.emit(&mut out[start..]);
        let mut hashes = self.hasher.finish();
        let mac = hashes.mac.finalize().into_bytes();
        let mac = &mac[..MAC_LEN];
        out.extend_from_slice(mac);
        hashes.enc.update(mac);
        EncryptedInfo {
            file_sha256: hashes.plain.finalize().into(),
            file_enc_sha256: hashes.enc.finalize().into(),
            file_length: self.plain_len,
            enc_length: self.enc_len + MAC_LEN as u64,
        }
    }
}

/// Encrypts a whole buffer: (ciphertext ‖ MAC, its hashes).
pub fn encrypt(
    media_key: &[u8; 32],
    kind: MediaKind,
    plaintext: &[u8],
) -> (Vec<u8>, EncryptedInfo) {
    let mut out = Vec::with_capacity(plaintext.len() + BLOCK + MAC_LEN);
    let mut encryptor = Encryptor::new(media_key, kind);
    encryptor.update(plaintext, &mut out);
    let info = encryptor.finish(&mut out);
    (out, info)
}

/// The hashes a download is checked against (from the message); `None` skips that check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expected {
    pub file_sha256: Option<[u8; 32]>,
    pub file_enc_sha256: Option<[u8; 32]>,
}

/// Decrypts a downloaded blob chunk by chunk. [`Decryptor::update`] appends plaintext as soon
/// as it can — **unauthenticated** until [`Decryptor::finish`] returns `Ok`: a caller streaming
/// to a file must discard it on any error. It holds back the last block (its padding) and the
/// MAC, so memory use stays under three blocks plus the caller's chunk.
pub struct Decryptor {
    cipher: cbc::Decryptor<Aes256>,
    mac: HmacSha256,
    plain_hash: Sha256,
    enc_hash: Sha256,
    expected: Expected,
    /// Input not decrypted yet: always at least the last block + MAC once that much arrived.
    pending: Vec<u8>,
    enc_len: u64,
    plain_len: u64,
}

/// Bytes always held back: one block (for the padding) and the MAC.
const HOLD_BACK: usize = BLOCK + MAC_LEN;

impl Decryptor {
    pub fn new(media_key: &[u8; 32], kind: MediaKind, expected: Expected) -> Self {
        let keys = MediaKeys::expand(media_key, kind);
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&keys.mac_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(&keys.iv);
        Self {
            cipher: cbc::Decryptor::new(&keys.cipher_key.into(), &keys.iv.into()),
            mac,
            plain_hash: Sha256::new(),
            enc_hash: Sha256::new(),
            expected,
            pending: Vec::with_capacity(3 * BLOCK + MAC_LEN),
            enc_len: 0,
            plain_len: 0,
        }
    }

    /// A decryptor for a key given as bytes (as it arrives in a message).
    pub fn from_slice(
        media_key: &[u8],
        kind: MediaKind,
        expected: Expected,
    ) -> Result<Self, MediaError> {
        let key: [u8; 32] = media_key
            .try_into()
            .map_err(|_| MediaError::BadKey(media_key.len()))?;
        Ok(Self::new(&key, kind, expected))
    }

    fn decrypt_into(&mut self, ciphertext: &[u8], out: &mut Vec<u8>) {
        self.mac.update(ciphertext);
        let start = out.len();
        out.extend_from_slice(ciphertext);
        decrypt_blocks(&mut self.cipher, &mut out[start..]);
        self.plain_hash.update(&out[start..]);
        self.plain_len += ciphertext.len() as u64;
    }

    /// Feeds the next chunk of the encrypted blob.
    pub fn update(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.enc_hash.update(input);
        self.enc_len += input.len() as u64;
        // Whole blocks that are certainly not the last block nor the MAC.
        let total = self.pending.len() + input.len();
        let ready = total.saturating_sub(HOLD_BACK) / BLOCK * BLOCK;
        if ready == 0 {
            self.pending.extend_from_slice(input);
            return;
        }
        // `pending` starts on a block boundary (what went before was whole blocks), but may
        // not end on one: complete its block from `input`, then decrypt `input` in place.
        let held = self.pending.len();
        if ready <= held {
            let head: Vec<u8> = self.pending.drain(..ready).collect();
            self.decrypt_into(&head, out);
            self.pending.extend_from_slice(input);
            return;
        }
        let from_input = ready - held;
        let align = (BLOCK - held % BLOCK) % BLOCK; // ≤ from_input, as `ready` is whole blocks
        if held > 0 {
            self.pending.extend_from_slice(&input[..align]);
            let head = std::mem::take(&mut self.pending);
            self.decrypt_into(&head, out);
        }
        self.decrypt_into(&input[align..from_input], out);
        self.pending.extend_from_slice(&input[from_input..]);
    }

    /// Checks the MAC, `fileEncSha256`, the padding and `fileSha256` (in that order) and
    /// appends the last block's plaintext. On `Ok`, everything appended to `out` is the file.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<EncryptedInfo, MediaError> {
        if self.enc_len < HOLD_BACK as u64
            || !(self.enc_len - MAC_LEN as u64).is_multiple_of(BLOCK as u64)
        {
            return Err(MediaError::Truncated(self.enc_len));
        }
        // By the hold-back rule and the length check, exactly the last block + MAC remain.
        if self.pending.len() != HOLD_BACK {
            return Err(MediaError::Truncated(self.enc_len));
        }
        let (last, mac) = self.pending.split_at(BLOCK);
        self.mac.update(last);
        if self.mac.verify_truncated_left(mac).is_err() {
            return Err(MediaError::MacMismatch);
        }
        let file_enc_sha256: [u8; 32] = self.enc_hash.finalize().into();
        if self
            .expected
            .file_enc_sha256
            .is_some_and(|want| want != file_enc_sha256)
        {
            return Err(MediaError::EncHashMismatch);
        }
        let mut block = [0u8; BLOCK];
        block.copy_from_slice(last);
        decrypt_blocks(&mut self.cipher, &mut block);
        let pad = usize::from(block[BLOCK - 1]);
        if pad == 0 || pad > BLOCK || block[BLOCK - pad..].iter().any(|b| usize::from(*b) != pad) {
            return Err(MediaError::BadPadding);
        }
        let tail = &block[..BLOCK - pad];
        self.plain_hash.update(tail);
        let file_sha256: [u8; 32] = self.plain_hash.finalize().into();
        if self
            .expected
            .file_sha256
            .is_some_and(|want| want != file_sha256)
        {
            return Err(MediaError::FileHashMismatch);
        }
        out.extend_from_slice(tail);
        Ok(EncryptedInfo {
            file_sha256,
            file_enc_sha256,
            file_length: self.plain_len + tail.len() as u64,
            enc_length: self.enc_len,
        })
    }
}

/// Decrypts and verifies a whole blob: the plaintext, or why it was refused.
pub fn decrypt(
    media_key: &[u8],
    kind: MediaKind,
    blob: &[u8],
    expected: Expected,
) -> Result<(Vec<u8>, EncryptedInfo), MediaError> {
    let mut decryptor = Decryptor::from_slice(media_key, kind, expected)?;
    let mut out = Vec::with_capacity(blob.len());
    decryptor.update(blob, &mut out);
    let info = decryptor.finish(&mut out)?;
    Ok((out, info))
}
