//! The client's error type.

use thiserror::Error;

use crate::store::StoreFailure;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot connect to the WhatsApp server: {0}")]
    Connect(String),
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    #[error("handshake failed: {0}")]
    Handshake(#[from] crate::handshake::HandshakeError),
    #[error("framing failed: {0}")]
    Frame(#[from] crate::frame::FrameError),
    #[error("the server broke the protocol: {0}")]
    Protocol(String),
    #[error("the server answered with error {code} {text}")]
    Iq { code: u16, text: String },
    #[error("not connected")]
    NotConnected,
    #[error("storage failed: {0}")]
    Store(#[source] StoreFailure),
    #[error("signal: {0}")]
    Signal(#[from] signal::SignalError),
    #[error("pairing failed: {0}")]
    Pairing(#[from] crate::pairing::PairingError),
    #[error("stored credentials are unusable: {0}")]
    Credentials(#[from] crate::creds::CredentialsError),
    #[error("bad JID: {0}")]
    Jid(#[from] whatsapp_binary::JidError),
}

impl ClientError {
    pub(crate) fn store(e: StoreFailure) -> Self {
        Self::Store(e)
    }

    /// Whether the server failed to prove it is WhatsApp (its certificate chain does not lead
    /// to the configured root key).
    pub fn is_untrusted_server(&self) -> bool {
        matches!(
            self,
            Self::Handshake(crate::handshake::HandshakeError::Certificate(_))
        )
    }
}

/// What the user is told when the server is not the one the root key names.
pub(crate) const UNTRUSTED_SERVER: &str = "The server at WHATSAPP_SERVER_URL did not prove it is WhatsApp: its certificate is not signed by WHATSAPP_ROOT_PUBLIC_KEY. Nothing was sent to it.";
