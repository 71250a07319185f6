//! An offline WhatsApp server for tests, demos and benchmarks (issue 4, first slice): the
//! responder handshake with its own certificate chain, pairing by QR with a scripted phone,
//! login, answers to the IQs a client waits on after login, a pre-key directory, stream errors
//! and dropped sockets on demand. The unmodified Baileys client pairs, logs in and is logged out
//! through it (`tests/fidelity.rs`).
//!
//! Modules: `server` (listener + [`FakeWhatsApp`] handle), `conn` (one socket: upgrade,
//! handshake, stanza loop), `login` (registration vs login), [`pairing`] (QR, ADV identity),
//! `phone` (the scripted phone), `iq` (IQ answers), [`prekeys`] (bundles), `stanza` (builders),
//! `state` (shared state), [`control`] (HTTP control API), `error`.
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

mod conn;
pub mod control;
mod error;
mod iq;
mod login;
pub mod pairing;
mod phone;
pub mod prekeys;
mod server;
mod stanza;
mod state;

pub use error::FakeError;
pub use phone::Phone;
pub use server::{Config, FakeWhatsApp};
pub use state::Device;
