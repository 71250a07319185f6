//! The Signal protocol as WhatsApp uses it, written from Signal's published specifications
//! (X3DH, Double Ratchet, XEdDSA, Sender Keys) and checked against libsignal-node, the
//! implementation Baileys ships.
//!
//! Layout, one concept per module:
//! - [`keys`]: Curve25519 key pairs and the 0x05-prefixed public key encoding.
//! - [`xeddsa`]: signatures made with X25519 keys.

pub mod error;
pub mod keys;
pub mod xeddsa;

pub use error::SignalError;
pub use rand_core;
