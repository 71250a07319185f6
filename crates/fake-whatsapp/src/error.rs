//! Why a connection or a control call failed. A connection error ends that connection only.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum FakeError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("websocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("handshake: {0}")]
    Handshake(#[from] whatsapp::handshake::HandshakeError),
    #[error("frame: {0}")]
    Frame(#[from] whatsapp::frame::FrameError),
    #[error("channel: {0}")]
    Channel(#[from] whatsapp::frame::ChannelError),
    #[error("node decode: {0}")]
    Decode(#[from] whatsapp_binary::DecodeError),
    #[error("node encode: {0}")]
    Encode(#[from] whatsapp_binary::EncodeError),
    #[error("jid: {0}")]
    Jid(#[from] whatsapp_binary::JidError),
    #[error("protobuf: {0}")]
    Proto(#[from] prost::DecodeError),
    #[error("peer closed the connection")]
    Closed,
    /// The client closed the WebSocket with a close frame (code and reason when it gave them).
    #[error("client closed the WebSocket{}", close_detail(*code, reason))]
    ClosedByClient { code: Option<u16>, reason: String },
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// A pairing message or QR that does not check out (shared pairing crypto).
    #[error("pairing: {0}")]
    Adv(#[from] whatsapp::pairing::PairingError),
    #[error("no waiting client holds QR ref {0:?}")]
    UnknownRef(String),
    #[error("pairing rejected: {0}")]
    Pairing(&'static str),
    #[error("no account with phone number {0:?}")]
    UnknownAccount(String),
    #[error("an account with phone number or LID {0:?} already exists")]
    AccountExists(String),
    #[error("signal: {0}")]
    Signal(String),
    /// A media file that cannot be fetched or does not decrypt and verify.
    #[error("media: {0}")]
    Media(String),
}

fn close_detail(code: Option<u16>, reason: &str) -> String {
    match (code, reason.is_empty()) {
        (Some(code), true) => format!(" (code {code})"),
        (Some(code), false) => format!(" (code {code}: {reason})"),
        (None, _) => " (no close code)".to_owned(),
    }
}

impl FakeError {
    /// The connection ended because the client went away (a close frame, end of stream, or a
    /// reset without a close), not because anything failed.
    pub fn is_client_gone(&self) -> bool {
        use tokio_tungstenite::tungstenite::error::{Error, ProtocolError};
        match self {
            Self::Closed | Self::ClosedByClient { .. } => true,
            Self::WebSocket(Error::Protocol(ProtocolError::ResetWithoutClosingHandshake))
            | Self::WebSocket(Error::ConnectionClosed | Error::AlreadyClosed) => true,
            Self::WebSocket(Error::Io(e)) | Self::Io(e) => matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            ),
            _ => false,
        }
    }
}
