//! The responder side of the handshake, used by the fake WhatsApp server: XX for first contact
//! ([`ServerHandshake::respond`]), and [`ServerHandshake::accept`], which also completes a
//! resume (Noise IK, when the client's cached server key is current) or answers it with
//! XXfallback (when it is not), as the real server does. The flows are described in
//! [`super::resume`], the client side.

use prost::Message;

use super::noise::{self, SymmetricState};
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
        let state = SymmetricState::new(&PROLOGUE);
        Self::hello(
            state,
            client_ephemeral,
            ephemeral,
            server_static,
            cert_chain,
        )
    }

    /// Answers any client hello: XX (ephemeral only), IK (with `static` and `payload`) when they
    /// decrypt with `server_static`, XXfallback when `static` does not (the client cached another
    /// server key). A resume whose static decrypts but whose payload does not is tampering and
    /// fails with [`HandshakeError::Decrypt`].
    pub fn accept(
        client_hello: &[u8],
        server_static: &KeyPair,
        cert_chain: &[u8],
    ) -> Result<Accepted, HandshakeError> {
        Self::accept_with_ephemeral(client_hello, KeyPair::generate(), server_static, cert_chain)
    }

    /// As [`ServerHandshake::accept`] with a given ephemeral key.
    pub fn accept_with_ephemeral(
        client_hello: &[u8],
        ephemeral: KeyPair,
        server_static: &KeyPair,
        cert_chain: &[u8],
    ) -> Result<Accepted, HandshakeError> {
        let hello = HandshakeMessage::decode(client_hello)?
            .client_hello
            .ok_or(HandshakeError::Missing("clientHello"))?;
        let client_ephemeral = key32(hello.ephemeral.as_ref(), "clientHello.ephemeral")?;
        let Some(static_ct) = hello.r#static.as_ref() else {
            let state = SymmetricState::new(&PROLOGUE);
            let (handshake, reply) = Self::hello(
                state,
                client_ephemeral,
                ephemeral,
                server_static,
                cert_chain,
            )?;
            return Ok(Accepted::Hello {
                handshake: Box::new(handshake),
                reply,
                fallback: false,
            });
        };
        let payload_ct = hello
            .payload
            .as_ref()
            .ok_or(HandshakeError::Missing("clientHello.payload"))?;

        let mut state = SymmetricState::named(noise::IK_NAME, &PROLOGUE);
        state.mix_hash(server_static.public());
        state.mix_hash(&client_ephemeral);
        state.mix_key(&server_static.agree(&client_ephemeral, "client ephemeral")?);
        let Ok(static_pt) = state.decrypt_and_hash(static_ct) else {
            // Encrypted to a key we do not hold: answer with XXfallback, reusing the client's
            // ephemeral from its hello.
            let state = SymmetricState::named(noise::XX_FALLBACK_NAME, &PROLOGUE);
            let (handshake, reply) = Self::hello(
                state,
                client_ephemeral,
                ephemeral,
                server_static,
                cert_chain,
            )?;
            return Ok(Accepted::Hello {
                handshake: Box::new(handshake),
                reply,
                fallback: true,
            });
        };
        let client_static = key32(Some(&static_pt), "client static key")?;
        state.mix_key(&server_static.agree(&client_static, "client static")?);
        let client_payload = state
            .decrypt_and_hash(payload_ct)
            .map_err(|_| HandshakeError::Decrypt("clientHello.payload"))?;

        state.mix_hash(ephemeral.public());
        state.mix_key(&ephemeral.agree(&client_ephemeral, "client ephemeral")?);
        state.mix_key(&ephemeral.agree(&client_static, "client static")?);
        let payload = state
            .encrypt_and_hash(cert_chain)
            .map_err(|_| HandshakeError::Encrypt("serverHello.payload"))?;
        let reply = HandshakeMessage {
            server_hello: Some(ServerHello {
                ephemeral: Some(ephemeral.public().to_vec()),
                r#static: None,
                payload: Some(payload),
            }),
            ..Default::default()
        };
        // The initiator writes with the first key, so the responder reads with it.
        let (read, write) = state.split();
        Ok(Accepted::Resumed {
            reply: reply.encode_to_vec(),
            finished: ClientFinished {
                client_static,
                client_payload,
                keys: TransportKeys { write, read },
            },
        })
    }

    /// The XX server hello (also XXfallback's, from its own initial state): `e, ee, s, es`
    /// and the certificate chain as payload.
    fn hello(
        mut state: SymmetricState,
        client_ephemeral: [u8; 32],
        ephemeral: KeyPair,
        server_static: &KeyPair,
        cert_chain: &[u8],
    ) -> Result<(Self, Vec<u8>), HandshakeError> {
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

/// What [`ServerHandshake::accept`] made of a client hello.
pub enum Accepted {
    /// XX, or XXfallback for a resume with a stale server key: send `reply`, then read the
    /// client finish with `handshake`.
    Hello {
        handshake: Box<ServerHandshake>,
        reply: Vec<u8>,
        fallback: bool,
    },
    /// IK: the client is authenticated and its payload read in one message; send `reply` and
    /// switch to the transport.
    Resumed {
        reply: Vec<u8>,
        finished: ClientFinished,
    },
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
