//! The Signal protocol as WhatsApp uses it, written from Signal's published specifications
//! (X3DH, Double Ratchet, XEdDSA, Sender Keys) and checked against libsignal-node, the
//! implementation Baileys ships.
//!
//! Layout, one concept per module:
//! - [`keys`]: Curve25519 key pairs and the 0x05-prefixed public key encoding.
//! - [`xeddsa`]: signatures made with X25519 keys.
//! - [`prekeys`]: identity, registration id, pre-keys, signed pre-keys, bundles.
//! - [`wire`]: the v3 message formats (`msg`, `pkmsg`, `skmsg`, distribution messages).
//! - [`x3dh`], [`ratchet`], [`session`]: session setup, the double ratchet, session records.
//! - [`cipher`]: the store-driven 1:1 API (what an engine calls).
//! - [`sender_key`]: group messaging with sender keys.
//! - [`store`]: async storage traits and an in-memory store.

pub mod address;
pub mod cipher;
pub mod error;
mod kdf;
pub mod keys;
pub mod prekeys;
pub mod ratchet;
pub mod sender_key;
pub mod session;
pub mod store;
pub mod wire;
pub mod x3dh;
pub mod xeddsa;

pub use address::ProtocolAddress;
pub use cipher::{
    CiphertextMessage, decrypt_message, decrypt_pre_key_message, encrypt, process_bundle,
};
pub use error::SignalError;
pub use rand_core;
pub use sender_key::{
    SenderKeyName, create_distribution_message, group_decrypt, group_encrypt,
    process_distribution_message,
};
