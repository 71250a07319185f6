//! The socket's framing and transport encryption.
//!
//! Every WebSocket message carries one or more (possibly partial) frames: a 3-byte big-endian length
//! and the payload ([`codec`]). The client's first frame is preceded by the 4-byte intro
//! [`INTRO`]. After the handshake each payload is AES-256-GCM encrypted per direction with a 32-bit
//! counter nonce ([`cipher`]); the decrypted payload is a flag byte plus a binary node, optionally
//! zlib-compressed ([`payload`]). [`SecureChannel`] ties the three together for an established
//! connection.

pub mod channel;
pub mod cipher;
pub mod codec;
pub mod payload;

pub use channel::{ChannelError, ChannelReader, ChannelWriter, SecureChannel};
pub use cipher::{CipherError, RecvCipher, SendCipher, TransportCipher, TransportKeys};
pub use codec::{FrameDecoder, FrameEncoder, FrameError, HEADER_LEN, INTRO, MAX_FRAME_LEN};
pub use payload::{DEFAULT_MAX_INFLATED_LEN, PayloadError, decode_payload, encode_payload};
