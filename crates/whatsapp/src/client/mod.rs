//! The WhatsApp Web multi-device client: one task per linked account ([`run_account`]) that
//! links by QR or pairing code, logs in, keeps the connection alive, reconnects with backoff,
//! decrypts and stores what arrives before acknowledging it, and sends what the outbox holds.
//!
//! One file per concern, as whatsmeow is organised: [`socket`] (WebSocket + handshake + reader
//! and writer tasks, IQ request/response), [`payload`] (login and registration payloads),
//! [`pair`] (linking), [`account`] (the account's life cycle and commands), [`session`] (a
//! logged-in connection: stanza loop, keep-alive), [`recv`] (incoming messages), [`send`]
//! (outgoing messages), [`receipts`], [`presence`] (typing and presence), [`prekeys`],
//! [`usync`] (device lists), [`disconnect`] (why a connection ended).

pub mod account;
pub mod config;
pub mod disconnect;
pub mod error;
pub mod media;
mod pair;
pub mod payload;
mod prekeys;
mod presence;
mod receipts;
mod recv;
mod send;
mod session;
pub mod socket;
mod usync;

pub use account::{
    AccountCtx, Command, CommandError, EventSink, LinkMethod, LinkStarted, backoff, run_account,
};
pub use config::{ClientConfig, Timing, WEB_VERSION, WHATSAPP_URL};
pub use disconnect::Disconnect;
pub use error::ClientError;
pub use send::jid_for_phone;
