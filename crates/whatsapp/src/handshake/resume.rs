//! The initiator side of a resumed connection: Noise IK with the server static key cached from
//! the last handshake, and the XXfallback the server answers with when that key is stale.
//!
//! Why: WhatsApp Web reconnects this way (one round trip, and the server proves it still holds
//! the key the client trusted). Our engine connects with plain XX as Baileys does (see the
//! decision log in ARCHITECTURE.md); these pure functions exist so the fake's responder is tested
//! against a real initiator and the engine can switch.
//!
//! Facts (WhatsApp Web's `WAOpenChatSocket` module, "resumeNoiseHandshake" and
//! "doFallbackHandshake"):
//! 1. `Noise_IK_25519_AESGCM_SHA256` (zero-padded to 32 bytes), prologue `57 41 06 03`; MixHash
//!    the cached server static, MixHash our ephemeral, MixKey(DH(e, rs)), encrypt our static,
//!    MixKey(DH(s, rs)), encrypt the `ClientPayload`; send `clientHello{ephemeral, static,
//!    payload}`.
//! 2. A `serverHello` **without** `static` completes IK: MixHash its ephemeral, MixKey(DH(e, re)),
//!    MixKey(DH(s, re)), decrypt its payload (WhatsApp Web decrypts it and checks nothing else;
//!    authenticity comes from `es`/`ss`, which only the holder of the server key can match).
//!    Split as in XX: the initiator writes with the first key.
//! 3. A `serverHello` **with** `static` means the server could not decrypt our hello (key
//!    rotated): restart the transcript as `Noise_XXfallback_25519_AESGCM_SHA256` (36 bytes, so
//!    hashed), MixHash our same ephemeral, and continue exactly as XX from the server hello:
//!    verify the certificate chain, send `clientFinish{static, payload}` with the same payload.

use prost::Message;

use super::client::ClientHandshake;
use super::noise::{self, SymmetricState};
use super::{HandshakeError, KeyPair, PROLOGUE, VerifiedChain, key32};
use crate::frame::TransportKeys;
use crate::proto::HandshakeMessage;
use crate::proto::handshake_message::ClientHello;

/// An IK client hello sent; waiting for the server hello.
pub struct ResumeHandshake {
    state: SymmetricState,
    ephemeral: KeyPair,
    client_static: KeyPair,
    client_payload: Vec<u8>,
}

/// How a resume attempt ended.
#[derive(Debug)]
pub enum Resumed {
    /// The cached key was current: IK completed in one round trip. `server_payload` is what
    /// the server encrypted to us (the fake sends its certificate chain).
    Resumed {
        keys: TransportKeys,
        server_payload: Vec<u8>,
    },
    /// The server answered XXfallback: its new static key and certificate chain are verified
    /// (cache `server_static` for next time); send `finish`, then use `keys`.
    Fallback {
        finish: Vec<u8>,
        keys: TransportKeys,
        server_static: [u8; 32],
        certificate: VerifiedChain,
    },
}

impl ResumeHandshake {
    /// Starts a resume with a fresh ephemeral key: `client_payload` (an encoded login
    /// `ClientPayload`) travels in the first message, encrypted to `cached_server_static`.
    /// Returns the state and the encoded `HandshakeMessage{clientHello}`.
    pub fn start(
        client_static: &KeyPair,
        cached_server_static: &[u8; 32],
        client_payload: &[u8],
    ) -> Result<(Self, Vec<u8>), HandshakeError> {
        Self::with_ephemeral(
            KeyPair::generate(),
            client_static,
            cached_server_static,
            client_payload,
        )
    }

    /// As [`ResumeHandshake::start`] with a given ephemeral key.
    pub fn with_ephemeral(
        ephemeral: KeyPair,
        client_static: &KeyPair,
        cached_server_static: &[u8; 32],
        client_payload: &[u8],
    ) -> Result<(Self, Vec<u8>), HandshakeError> {
        let mut state = SymmetricState::named(noise::IK_NAME, &PROLOGUE);
        state.mix_hash(cached_server_static);
        state.mix_hash(ephemeral.public());
        state.mix_key(&ephemeral.agree(cached_server_static, "cached server static")?);
        let static_ct = state
            .encrypt_and_hash(client_static.public())
            .map_err(|_| HandshakeError::Encrypt("clientHello.static"))?;
        state.mix_key(&client_static.agree(cached_server_static, "cached server static")?);
        let payload_ct = state
            .encrypt_and_hash(client_payload)
            .map_err(|_| HandshakeError::Encrypt("clientHello.payload"))?;
        let hello = HandshakeMessage {
            client_hello: Some(ClientHello {
                ephemeral: Some(ephemeral.public().to_vec()),
                r#static: Some(static_ct),
                payload: Some(payload_ct),
            }),
            ..Default::default()
        };
        let handshake = Self {
            state,
            ephemeral,
            client_static: client_static.clone(),
            client_payload: client_payload.to_vec(),
        };
        Ok((handshake, hello.encode_to_vec()))
    }

    /// Processes the server hello: completes IK, or runs XXfallback (verifying the server's
    /// new certificate chain against `root_key` at `now_unix`).
    pub fn read_server_hello(
        mut self,
        message: &[u8],
        root_key: &[u8; 32],
        now_unix: u64,
    ) -> Result<Resumed, HandshakeError> {
        let hello = HandshakeMessage::decode(message)?
            .server_hello
            .ok_or(HandshakeError::Missing("serverHello"))?;
        if hello.r#static.is_some() {
            let accepted = ClientHandshake::fallback(self.ephemeral)
                .read_server_hello(message, root_key, now_unix)?;
            let server_static = *accepted.server_static();
            let certificate = accepted.certificate().clone();
            let (finish, keys) = accepted.finish(&self.client_static, &self.client_payload)?;
            return Ok(Resumed::Fallback {
                finish,
                keys,
                server_static,
                certificate,
            });
        }
        let server_ephemeral = key32(hello.ephemeral.as_ref(), "serverHello.ephemeral")?;
        let payload_ct = hello
            .payload
            .as_ref()
            .ok_or(HandshakeError::Missing("serverHello.payload"))?;
        let state = &mut self.state;
        state.mix_hash(&server_ephemeral);
        state.mix_key(
            &self
                .ephemeral
                .agree(&server_ephemeral, "server ephemeral")?,
        );
        state.mix_key(
            &self
                .client_static
                .agree(&server_ephemeral, "server ephemeral")?,
        );
        let server_payload = state
            .decrypt_and_hash(payload_ct)
            .map_err(|_| HandshakeError::Decrypt("serverHello.payload"))?;
        let (write, read) = state.split();
        Ok(Resumed::Resumed {
            keys: TransportKeys { write, read },
            server_payload,
        })
    }
}
