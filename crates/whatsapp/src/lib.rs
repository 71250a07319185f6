//! The WhatsApp Web multi-device engine's lower layers: protobufs, the Noise handshake with the
//! server's certificate chain, and the framing + transport cipher of the socket. Pure libraries:
//! no network, database or web dependencies; the client and the fake server share them.

pub mod frame;
pub mod proto;
