//! WhatsApp's media encryption, written from its public description (pure functions, no I/O).
//!
//! A sender picks a random 32-byte media key and expands it with HKDF-SHA256 (no salt, an info
//! string per media type) to 112 bytes: IV (16) | cipher key (32) | MAC key (32) | ref key (32).
//! The file is encrypted with AES-256-CBC (PKCS#7), and HMAC-SHA256(IV ‖ ciphertext) truncated
//! to 10 bytes is appended. The message carries the key, `fileSha256` (of the plaintext),
//! `fileEncSha256` (of ciphertext ‖ MAC) and `fileLength` (plaintext bytes); the media host
//! stores only the encrypted blob.
//!
//! [`Encryptor`] and [`Decryptor`] work chunk by chunk, so a 100 MB video never has to be held
//! in memory; [`encrypt`] and [`decrypt`] are the whole-buffer conveniences. I/O (the
//! `media_conn` IQ, upload, download) lives in [`crate::client::media`].

mod cipher;
mod descriptor;
mod hashing;
mod kind;
pub mod retry;

pub use cipher::{
    Decryptor, EncryptedInfo, Encryptor, Expected, MAC_LEN, decrypt, encrypt, new_media_key,
};
pub use descriptor::{MediaDescriptor, MediaMeta};
pub use kind::{MediaKeys, MediaKind};

/// Why encrypted media was refused. Every check of a download ends in one of these, never in
/// a panic, and none of them means the plaintext can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The HMAC over IV ‖ ciphertext does not match the file's last 10 bytes: tampered with,
    /// corrupted, or decrypted with the wrong key or media type.
    #[error("the media's MAC does not match (tampered, corrupted or the wrong key)")]
    MacMismatch,
    /// The SHA-256 of the encrypted file is not the message's `fileEncSha256`.
    #[error("the encrypted file's SHA-256 is not the one the message announced")]
    EncHashMismatch,
    /// The SHA-256 of the decrypted file is not the message's `fileSha256`.
    #[error("the decrypted file's SHA-256 is not the one the message announced")]
    FileHashMismatch,
    /// Too short, or not a whole number of AES blocks plus the MAC.
    #[error("the encrypted file is truncated ({0} bytes)")]
    Truncated(u64),
    /// The last block's PKCS#7 padding is invalid (only reachable when the MAC matched, i.e.
    /// the sender itself encrypted garbage).
    #[error("the media's padding is invalid")]
    BadPadding,
    /// A media retry request or answer that does not decrypt with this media key and message
    /// id (or is not what it claims).
    #[error("the media retry message does not decrypt with this key")]
    RetryUndecryptable,
    /// A media key that is not 32 bytes.
    #[error("a media key must be 32 bytes, not {0}")]
    BadKey(usize),
}

#[cfg(test)]
mod tests;
