//! What an account's engine reports while it runs. Connection-level facts (state, QR codes,
//! pairing codes, typing, presence) exist only here; messages and status changes are reported
//! *after* their commit, so a listener never shows something that is not stored.

use std::time::SystemTime;

use crate::store::{AccountState, InboundMessage, InboundOutcome, MessageStatus};

/// A chat state shown by the other side (or sent by us).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatState {
    Composing,
    Recording,
    Paused,
}

impl ChatState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Composing => "composing",
            Self::Recording => "recording",
            Self::Paused => "paused",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The account's state changed (also persisted through the store).
    State(AccountState),
    /// A QR code to show: the exact string a phone scans, until `expires_at`. Each new one
    /// replaces the previous.
    Qr { qr: String, expires_at: SystemTime },
    /// A pairing code to type on the phone (`ABCD-EFGH`).
    PairingCode {
        code: String,
        expires_at: SystemTime,
    },
    /// A message arrived (or our own phone sent one), and is stored.
    Message {
        message: InboundMessage,
        outcome: InboundOutcome,
    },
    /// One of our messages changed status (stored).
    Status {
        message_id: String,
        status: MessageStatus,
        reason: Option<String>,
    },
    /// Someone is typing (or stopped) in a chat; `chat` is their user JID.
    Typing { chat: String, state: ChatState },
    /// A contact's presence (after we subscribed).
    Presence {
        chat: String,
        available: bool,
        /// Unix seconds, when the server tells it.
        last_seen: Option<u64>,
    },
    /// The server finished delivering what it kept while we were away.
    OfflineDone { count: u32 },
}
