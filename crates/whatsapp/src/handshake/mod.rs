//! WhatsApp's Noise handshake (`Noise_XX_25519_AESGCM_SHA256`, prologue `57 41 06 03`), for both
//! the connecting client ([`client`]) and the accepting server ([`server`], used by the fake
//! WhatsApp), and the server's certificate chain ([`cert`]). A client that cached the server's
//! static key may resume with Noise IK instead; the server completes it or answers with
//! XXfallback ([`resume`] is that client side, [`ServerHandshake::accept`] the server side).
//!
//! The flow, as bytes on the wire (each message is a `HandshakeMessage` protobuf in one frame):
//! 1. client → `clientHello{ephemeral}`
//! 2. server → `serverHello{ephemeral, static: enc(server static), payload: enc(CertChain)}`
//! 3. client → `clientFinish{static: enc(client static), payload: enc(ClientPayload)}`
//!
//! then both sides hold [`TransportKeys`](crate::frame::TransportKeys).

pub mod cert;
pub mod client;
mod noise;
pub mod resume;
pub mod server;

use rand_core::{OsRng, RngCore};
use thiserror::Error;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop};

pub use cert::{
    CertDetails, CertError, CertificateAuthority, VerifiedChain, WHATSAPP_ROOT_KEY, verify_chain,
};
pub use client::{ClientHandshake, ServerHelloAccepted};
pub use resume::{ResumeHandshake, Resumed};
pub use server::{Accepted, ClientFinished, ServerHandshake};

/// The Noise prologue: the same four bytes as the connection intro.
pub const PROLOGUE: [u8; 4] = crate::frame::INTRO;

#[derive(Debug, Error)]
pub enum HandshakeError {
    #[error("handshake message is not a valid protobuf")]
    Decode(#[from] prost::DecodeError),
    #[error("handshake message lacks `{0}`")]
    Missing(&'static str),
    #[error("`{field}` must be 32 bytes, got {len}")]
    BadKeyLength { field: &'static str, len: usize },
    #[error("peer key `{0}` is a low-order point (no shared secret)")]
    WeakKey(&'static str),
    #[error("could not decrypt `{0}`: wrong key or tampered message")]
    Decrypt(&'static str),
    #[error("could not encrypt `{0}`")]
    Encrypt(&'static str),
    #[error("server certificate rejected: {0}")]
    Certificate(#[from] CertError),
}

/// A Curve25519 key pair, usable both for X25519 (Noise) and XEdDSA (certificate signatures).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct KeyPair {
    private: [u8; 32],
    #[zeroize(skip)]
    public: [u8; 32],
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    /// A fresh key pair from the operating system's RNG.
    pub fn generate() -> Self {
        let mut private = [0u8; 32];
        OsRng.fill_bytes(&mut private);
        let pair = Self::from_private(private);
        private.zeroize();
        pair
    }

    /// From stored private bytes. The scalar is clamped, as X25519 would do anyway, so that
    /// XEdDSA and X25519 agree on the public key.
    pub fn from_private(mut private: [u8; 32]) -> Self {
        private[0] &= 248;
        private[31] &= 127;
        private[31] |= 64;
        let public = PublicKey::from(&StaticSecret::from(private)).to_bytes();
        Self { private, public }
    }

    pub fn public(&self) -> &[u8; 32] {
        &self.public
    }

    pub fn private(&self) -> &[u8; 32] {
        &self.private
    }

    /// X25519 with a peer key; a non-contributory result (low-order peer point) is refused.
    pub(crate) fn agree(
        &self,
        peer: &[u8; 32],
        what: &'static str,
    ) -> Result<[u8; 32], HandshakeError> {
        let shared = StaticSecret::from(self.private).diffie_hellman(&PublicKey::from(*peer));
        if !shared.was_contributory() {
            return Err(HandshakeError::WeakKey(what));
        }
        Ok(shared.to_bytes())
    }
}

/// A required 32-byte key field of a handshake message.
pub(crate) fn key32(
    field: Option<&Vec<u8>>,
    name: &'static str,
) -> Result<[u8; 32], HandshakeError> {
    let bytes = field.ok_or(HandshakeError::Missing(name))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| HandshakeError::BadKeyLength {
        field: name,
        len: bytes.len(),
    })
}
