//! The crate's error type. Every failure on untrusted input is one of these variants; nothing
//! in this crate panics on bad bytes.

use thiserror::Error;

/// A storage backend's own failure, passed through unchanged.
pub type StoreFailure = Box<dyn std::error::Error + Send + Sync>;

/// Everything that can go wrong in this crate.
#[derive(Debug, Error)]
pub enum SignalError {
    /// A key had the wrong length.
    #[error("bad key length: expected {expected} bytes, got {got}")]
    BadKeyLength { expected: usize, got: usize },
    /// A serialised public key did not start with the Curve25519 type byte 0x05.
    #[error("unknown key type byte {0:#04x}")]
    BadKeyType(u8),
    /// A message's version byte is not protocol version 3.
    #[error("unsupported message version byte {0:#04x}")]
    BadVersion(u8),
    /// A message was too short, not valid protobuf, or missing a required field.
    #[error("malformed {what}: {reason}")]
    Malformed {
        what: &'static str,
        reason: &'static str,
    },
    /// A signature (signed pre-key, sender key message) did not verify.
    #[error("bad signature on {0}")]
    BadSignature(&'static str),
    /// The message authentication code did not match: tampered, or not for this session.
    #[error("bad message MAC")]
    BadMac,
    /// The ciphertext did not decrypt to validly padded plaintext.
    #[error("bad ciphertext (length or padding)")]
    BadCiphertext,
    /// A message whose key was already used: delivered twice.
    #[error("duplicate message (chain index {0})")]
    DuplicateMessage(u32),
    /// A message too far ahead of the chain; deriving that many keys is refused.
    #[error("message index {index} is more than {limit} ahead of the chain")]
    TooFarInFuture { index: u32, limit: u32 },
    /// No session (or no usable one) with this address.
    #[error("no session for {0}")]
    NoSession(String),
    /// No sender key state for this group and sender (or for this key id).
    #[error("no sender key for {0}")]
    NoSenderKey(String),
    /// The message references a pre-key we do not have (used already, or never ours).
    #[error("unknown pre-key {0}")]
    UnknownPreKey(u32),
    /// The message references a signed pre-key we do not have.
    #[error("unknown signed pre-key {0}")]
    UnknownSignedPreKey(u32),
    /// The remote identity key differs from the one we trust for that address.
    #[error("untrusted identity for {0}")]
    UntrustedIdentity(String),
    /// A counter would overflow its 32 bits.
    #[error("chain counter exhausted")]
    CounterExhausted,
    /// A stored record could not be decoded.
    #[error("corrupt stored {0}")]
    CorruptRecord(&'static str),
    /// The storage backend failed.
    #[error("store: {0}")]
    Store(#[source] StoreFailure),
}

impl SignalError {
    pub(crate) const fn malformed(what: &'static str, reason: &'static str) -> Self {
        Self::Malformed { what, reason }
    }
}
