//! The crate's error type. Every failure on untrusted input is one of these variants; nothing
//! in this crate panics on bad bytes.

use thiserror::Error;

/// Everything that can go wrong in this crate.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SignalError {
    /// A key had the wrong length.
    #[error("bad key length: expected {expected} bytes, got {got}")]
    BadKeyLength { expected: usize, got: usize },
    /// A serialised public key did not start with the Curve25519 type byte 0x05.
    #[error("unknown key type byte {0:#04x}")]
    BadKeyType(u8),
}
