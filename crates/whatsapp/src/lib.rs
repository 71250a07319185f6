//! The WhatsApp Web multi-device engine: the protocol's layers (protobufs, the Noise handshake
//! with the server's certificate chain, framing + transport cipher, pairing crypto, padding),
//! which the fake server shares, and the client built on them. No database or web dependencies:
//! the client persists through the [`store::AccountStore`] trait and reports [`events::Event`]s.
//!
//! - [`proto`]: WhatsApp's protobuf messages (our own subset, prost).
//! - [`handshake`]: Noise XX (WhatsApp flavour) for client and server; the certificate chain.
//! - [`frame`]: length-prefixed frames, the transport cipher, the payload flag byte.
//! - [`pairing`]: linking a companion (QR, ADV identity signatures, pairing by code), both sides.
//! - [`padding`]: the random padding around every message plaintext.
//! - [`media`]: WhatsApp's media encryption (streaming), message descriptors, the media retry
//!   payloads; the transfers themselves are [`client::media`].
//! - [`creds`]: a companion device's credentials; [`keys`]: the staged Signal store;
//!   [`store`]: the persistence trait (and an in-memory implementation); [`events`].
//! - [`client`]: one task per account — linking, login, keep-alive, reconnects, receive, send.

pub mod client;
pub mod creds;
pub mod events;
pub mod frame;
pub mod handshake;
pub mod keys;
pub mod media;
pub mod padding;
pub mod pairing;
pub mod proto;
pub mod store;
