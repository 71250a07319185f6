//! The responder side of the handshake, used by the fake WhatsApp server.

use prost::Message;

use super::noise::SymmetricState;
use super::{HandshakeError, KeyPair, PROLOGUE, key32};
use crate::frame::TransportKeys;
use crate::proto::HandshakeMessage;
use crate::proto::handshake_message::ServerHello;

/// Server hello sent; waiting for the client finish.
pub struct ServerHandshake {
    state: SymmetricState,
    ephemeral: KeyPair,
}

impl ServerHandshake {
    /// Answers a client hello with a fresh ephemeral key. `cert_chain` is an encoded `CertChain`
    /// whose leaf key is `server_static`'s public key (see
    /// [`CertificateAuthority`](super::CertificateAuthority)). Returns the state and the encoded
    /// `HandshakeMessage{serverHello}`.
    pub fn respond(
        client_hello: &[u8],
        server_static: &KeyPair,
        cert_chain: &[u8],
    ) -> Result<(Self, Vec<u8>), HandshakeError> {
        Self::respond_with_ephemeral(client_hello, KeyPair::generate(), server_static, cert_chain)
    }

    /// As [`ServerHandshake::respond`] with a given ephemeral key.
    pub fn respond_with_ephemeral(
        client_hello: &[u8],
        ephemeral: KeyPair,
        server_static: &KeyPair,
        cert_chain: &[u8],
    ) -> Result<(Self, Vec<u8>), HandshakeError> {
        let hello = HandshakeMessage::decode(client_hello)?
            .client_hello
            .ok_or(HandshakeError::Missing("clientHello"))?;
        let client_ephemeral = key32(hello.ephemeral.as_ref(), "clientHello.ephemeral")?;

        let mut state = SymmetricState::new(&PROLOGUE);
        state.mix_hash(&client_ephemeral);
        state.mix_hash(ephemeral.public());
        state.mix_key(&ephemeral.agree(&client_ephemeral, "client ephemeral")?);
        let static_ct = state
            .encrypt_and_hash(server_static.public())
            .map_err(|_| HandshakeError::Encrypt("serverHello.static"))?;
        state.mix_key(&server_static.agree(&client_ephemeral, "client ephemeral")?);
        let payload_ct = state
            .encrypt_and_hash(cert_chain)
            .map_err(|_| HandshakeError::Encrypt("serverHello.payload"))?;

        let reply = HandshakeMessage {
            server_hello: Some(ServerHello {
                ephemeral: Some(ephemeral.public().to_vec()),
                r#static: Some(static_ct),
                payload: Some(payload_ct),
            }),
            ..Default::default()
        };
        Ok((Self { state, ephemeral }, reply.encode_to_vec()))
    }

    /// Processes the client finish: the client's static key (its device identity on the noise
    /// layer) and its `ClientPayload` bytes, plus the server's transport keys.
    pub fn read_client_finish(mut self, message: &[u8]) -> Result<ClientFinished, HandshakeError> {
        let finish = HandshakeMessage::decode(message)?
            .client_finish
            .ok_or(HandshakeError::Missing("clientFinish"))?;
        let static_ct = finish
            .r#static
            .as_ref()
            .ok_or(HandshakeError::Missing("clientFinish.static"))?;
        let payload_ct = finish
            .payload
            .as_ref()
            .ok_or(HandshakeError::Missing("clientFinish.payload"))?;

        let state = &mut self.state;
        let static_pt = state
            .decrypt_and_hash(static_ct)
            .map_err(|_| HandshakeError::Decrypt("clientFinish.static"))?;
        let client_static = key32(Some(&static_pt), "client static key")?;
        state.mix_key(&self.ephemeral.agree(&client_static, "client static")?);
        let payload = state
            .decrypt_and_hash(payload_ct)
            .map_err(|_| HandshakeError::Decrypt("clientFinish.payload"))?;
        // The initiator writes with the first key, so the responder reads with it.
        let (read, write) = state.split();
        Ok(ClientFinished {
            client_static,
            client_payload: payload,
            keys: TransportKeys { write, read },
        })
    }
}

/// The outcome of a completed handshake on the server side.
#[derive(Debug)]
pub struct ClientFinished {
    /// The client's noise static public key.
    pub client_static: [u8; 32],
    /// The encoded `ClientPayload` (login or registration).
    pub client_payload: Vec<u8>,
    pub keys: TransportKeys,
}
