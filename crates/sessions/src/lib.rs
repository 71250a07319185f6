//! The WhatsApp sessions of every user in this process: one engine task per linked account
//! (`whatsapp::client`), persisted in PostgreSQL (`store`), driven through one [`Sessions`]
//! command handle and reporting on one event [`Hub`].
//!
//! - [`Sessions`] (the supervisor): starts every linked account at start-up, starts linking on
//!   request, forwards commands, keeps the latest QR code per account, and isolates faults: a
//!   panic in one account's task ends that task only (the account is marked `error`).
//! - [`PgAccountStore`] (the engine's `AccountStore` over `store::EngineStore`): every commit is
//!   one transaction; the messages and status changes it stored are published to the hub with
//!   their database ids.
//! - [`Hub`]: typed events tagged with the user id, for the browser socket, webhooks, metrics.
//!
//! Server functions and REST handlers both act through [`Sessions`]; ownership is checked by the
//! caller under RLS (reading the account as the user) *and* again here against the account's
//! owner.

mod adapter;
mod hub;
mod supervisor;
pub mod telemetry;

pub use adapter::{PgAccountStore, PgStoreFactory, StoreFactory};
pub use hub::{AccountEvent, Hub, HubEvent};
pub use supervisor::{MEDIA_TIMEOUT, Sessions, SessionsError};
pub use whatsapp::client::media::{MediaHttp, MediaSource, MediaTransferError};
pub use whatsapp::client::{ClientConfig, CommandError, LinkMethod, LinkStarted, Timing};
pub use whatsapp::events::ChatState;
pub use whatsapp::media::{MediaDescriptor, MediaError, MediaKind, MediaMeta};
