//! The WhatsApp Web multi-device engine's lower layers: protobufs, the Noise handshake with the
//! server's certificate chain, and the framing + transport cipher of the socket. Pure libraries:
//! no network, database or web dependencies; the client and the fake server share them.
//!
//! - [`proto`]: WhatsApp's protobuf messages (our own subset, prost).
//! - [`handshake`]: Noise XX (WhatsApp flavour) for client and server; the certificate chain.
//! - [`frame`]: length-prefixed frames, the transport cipher, the payload flag byte.
//! - [`pairing`]: linking a companion (QR, ADV identity signatures, pairing by code), both sides.
//! - [`padding`]: the random padding around every message plaintext.

pub mod frame;
pub mod handshake;
pub mod padding;
pub mod pairing;
pub mod proto;
