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
}
