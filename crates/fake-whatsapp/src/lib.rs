//! An offline WhatsApp server for tests, demos, benchmarks and soaks. It speaks the real
//! multi-device protocol: the responder handshake (XX, and the Noise IK resume or XXfallback of
//! clients that cached its key) with its own certificate chain; accounts whose scripted phones
//! link companions (QR or pairing code), share app-state keys and talk to them as real Signal
//! parties (ignoring duplicate ids, answering retry receipts); login and the IQs a client waits
//! on (pre-keys and their digest, usync device lists with LIDs and signed key-index lists, app
//! state, privacy, ping); routing of messages, receipts, chat states and
//! presence between clients and phones, with an offline queue; the initial history sync; and
//! faults on demand (stream errors, `<failure>`, dropped sockets, delays, withheld acks and
//! receipts, duplicates, undecryptable messages, idle hang-ups). The unmodified Baileys client is
//! driven through all of it by `tests/fidelity.rs` with the client-agnostic [`scenarios`].
//!
//! Modules: `server` (listener + [`FakeWhatsApp`] handle), `conn` (one socket: upgrade,
//! handshake, stanza loop, offline queue), `login` (registration vs login), [`link_code`]
//! (pairing by code: the server's and phone's part), `phone` (the scripted phones), [`party`]
//! (their Signal side), `app_state` (app-state key share), `retry` (duplicates and retry receipts), `routing` (messages, receipts, chat states, presence), `iq` (IQ answers),
//! `usync` (device lists), [`prekeys`] (bundles), `stanza` (builders), `state` (shared state),
//! [`media`] (the media host and the `media_conn` IQ),
//! [`control`] (HTTP control API), [`scenarios`] (client-agnostic checks), `error`. The pairing
//! crypto (QR, ADV identities, key-index lists, code pairing) and the message padding are
//! [`whatsapp::pairing`] and [`whatsapp::padding`], shared with our engine: one implementation,
//! proven here against Baileys.
//!
//! ```no_run
//! # async fn demo() -> Result<(), fake_whatsapp::FakeError> {
//! let fake = fake_whatsapp::FakeWhatsApp::start(Default::default()).await?;
//! println!("{} trusts {}", fake.url(), hex::encode(fake.root_public_key()));
//! // … the client shows a QR string …
//! # let qr = "";
//! fake.phone().scan(qr)?;
//! # Ok(()) }
//! ```

mod app_state;
mod conn;
pub mod control;
mod error;
mod iq;
pub mod link_code;
mod login;
pub mod media;
pub mod party;
mod phone;
pub mod prekeys;
mod retry;
mod routing;
pub mod scenarios;
mod server;
mod stanza;
mod state;
mod usync;

pub use error::FakeError;
pub use phone::{Phone, new_message_id};
pub use server::{Config, DEFAULT_RESTART_DELAY, FakeWhatsApp};
pub use state::{Device, Faults, Received, Seen, Stats};
