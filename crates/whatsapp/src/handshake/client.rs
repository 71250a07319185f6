//! The initiator (our client) side of the handshake.

use prost::Message;

use super::noise::{self, SymmetricState};
use super::{HandshakeError, KeyPair, PROLOGUE, VerifiedChain, cert, key32};
use crate::frame::TransportKeys;
use crate::proto::HandshakeMessage;
use crate::proto::handshake_message::{ClientFinish, ClientHello};

/// Message 1 sent; waiting for the server hello.
pub struct ClientHandshake {
    state: SymmetricState,
    ephemeral: KeyPair,
}

impl ClientHandshake {
    /// Starts a handshake with a fresh ephemeral key. Returns the state and the encoded
    /// `HandshakeMessage{clientHello}` to send as the first frame.
    pub fn start() -> (Self, Vec<u8>) {
        Self::with_ephemeral(KeyPair::generate())
    }

    /// The XXfallback handshake after a failed resume: WhatsApp Web restarts the transcript
    /// under the fallback name with the ephemeral key its IK hello already sent, then reads the
    /// server hello exactly as in XX (see [`super::resume`]).
    pub(crate) fn fallback(ephemeral: KeyPair) -> Self {
        let mut state = SymmetricState::named(noise::XX_FALLBACK_NAME, &PROLOGUE);
        state.mix_hash(ephemeral.public());
        Self { state, ephemeral }
    }

    /// As [`ClientHandshake::start`] with a given ephemeral key (for test vectors).
    pub fn with_ephemeral(ephemeral: KeyPair) -> (Self, Vec<u8>) {
        let mut state = SymmetricState::new(&PROLOGUE);
        // WhatsApp's deviation from Noise: message 1's empty payload is not mixed into `h`.
        state.mix_hash(ephemeral.public());
        let hello = HandshakeMessage {
            client_hello: Some(ClientHello {
                ephemeral: Some(ephemeral.public().to_vec()),
                ..Default::default()
            }),
            ..Default::default()
        };
        (Self { state, ephemeral }, hello.encode_to_vec())
    }

    /// Processes the server hello: decrypts the server's static key and certificate chain and
    /// verifies the chain against `root_key` at time `now_unix` (seconds).
    pub fn read_server_hello(
        mut self,
        message: &[u8],
        root_key: &[u8; 32],
        now_unix: u64,
    ) -> Result<ServerHelloAccepted, HandshakeError> {
        let hello = HandshakeMessage::decode(message)?
            .server_hello
            .ok_or(HandshakeError::Missing("serverHello"))?;
        let server_ephemeral = key32(hello.ephemeral.as_ref(), "serverHello.ephemeral")?;
        let static_ct = hello
            .r#static
            .as_ref()
            .ok_or(HandshakeError::Missing("serverHello.static"))?;
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
        let static_pt = state
            .decrypt_and_hash(static_ct)
            .map_err(|_| HandshakeError::Decrypt("serverHello.static"))?;
        let server_static = key32(Some(&static_pt), "server static key")?;
        state.mix_key(&self.ephemeral.agree(&server_static, "server static")?);
        let chain = state
            .decrypt_and_hash(payload_ct)
            .map_err(|_| HandshakeError::Decrypt("serverHello.payload"))?;
        let certificate = cert::verify_chain(&chain, root_key, &server_static, now_unix)?;

        Ok(ServerHelloAccepted {
            state: self.state,
            server_ephemeral,
            server_static,
            certificate,
        })
    }
}

/// The server is authenticated; sending the client finish completes the handshake.
pub struct ServerHelloAccepted {
    state: SymmetricState,
    server_ephemeral: [u8; 32],
    server_static: [u8; 32],
    certificate: VerifiedChain,
}

impl ServerHelloAccepted {
    pub fn server_static(&self) -> &[u8; 32] {
        &self.server_static
    }

    pub fn certificate(&self) -> &VerifiedChain {
        &self.certificate
    }

    /// The transcript hash so far (Noise `h`).
    pub fn handshake_hash(&self) -> [u8; 32] {
        self.state.hash()
    }

    /// Encrypts our static key and `client_payload` (an encoded `ClientPayload`). Returns the
    /// encoded `HandshakeMessage{clientFinish}` to send and the client's transport keys.
    pub fn finish(
        mut self,
        client_static: &KeyPair,
        client_payload: &[u8],
    ) -> Result<(Vec<u8>, TransportKeys), HandshakeError> {
        let state = &mut self.state;
        let static_ct = state
            .encrypt_and_hash(client_static.public())
            .map_err(|_| HandshakeError::Encrypt("clientFinish.static"))?;
        state.mix_key(&client_static.agree(&self.server_ephemeral, "server ephemeral")?);
        let payload_ct = state
            .encrypt_and_hash(client_payload)
            .map_err(|_| HandshakeError::Encrypt("clientFinish.payload"))?;
        let (write, read) = state.split();
        let finish = HandshakeMessage {
            client_finish: Some(ClientFinish {
                r#static: Some(static_ct),
                payload: Some(payload_ct),
            }),
            ..Default::default()
        };
        Ok((finish.encode_to_vec(), TransportKeys { write, read }))
    }
}
