//! The session engine's persistence: encrypted credentials and Signal keys, the engine's commits
//! (secrets + messages + statuses in one transaction), its outbox reads and its connection-state
//! writes. One concept per module:
//!
//! - `cipher`: AES-256-GCM at rest ([`SessionCipher`], key ids, row-binding associated data).
//! - `keys`: credentials and keys by kind and name ([`KeyKind`], [`KeyWrite`]), loads and wipes.
//! - `commit`: [`EngineCommit`] → one transaction ([`CommitReport`]).
//! - `inbound`: storing a received message, completing placeholders, linking leads.
//! - `statuses`: monotonic delivery states ([`StatusChange`]).
//! - `outgoing`: the outbox as the engine reads it ([`OutgoingMessage`]).
//! - `session_state`: the account's connection state ([`SessionStatusUpdate`]).
//! - `rotation`: the start-up key check and `server rotate-key` ([`RotationReport`]).
//!
//! # Two paths, one boundary
//!
//! The engine acts for every user, but it does not get to bypass tenancy. Secrets and account state
//! go through the `app_api` SECURITY DEFINER functions that only `rarity_app` may execute (the
//! "system path": the engine must read every account's credentials at start-up, before any user
//! asks for anything). Everything user-visible — messages, leads, statuses — is written acting as
//! the account's owner under RLS, exactly like a request ([`crate::UserTx`]'s `set_config` shape),
//! inside the same transaction. A commit for user A's account with user B's id is refused and
//! changes nothing.

mod cipher;
mod commit;
mod inbound;
mod keys;
mod outgoing;
mod rotation;
mod session_state;
mod statuses;

pub use cipher::SessionCipher;
pub use commit::{CommitReport, EngineCommit};
pub use inbound::{InboundOutcome, InboundRecord};
pub use keys::{KeyKind, KeyWrite};
pub use outgoing::OutgoingMessage;
pub use rotation::RotationReport;
pub use session_state::SessionStatusUpdate;
pub use statuses::StatusChange;

use crate::{Store, StoreError, UserTx};
use sqlx::PgPool;
use std::sync::Arc;
use uuid::Uuid;

/// The engine's handle on the store (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct EngineStore {
    pool: PgPool,
    cipher: Arc<SessionCipher>,
}

impl std::fmt::Debug for EngineStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineStore")
            .field("key_id", &self.cipher.key_id())
            .finish_non_exhaustive()
    }
}

/// A WhatsApp account as the engine sees it.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct EngineAccount {
    pub session_id: Uuid,
    pub user_id: Uuid,
    /// `whatsapp_sessions.status` (`inactive` when unset).
    pub status: String,
}

impl Store {
    /// The engine's store, encrypting with `cipher` (built from `SESSION_ENCRYPTION_KEY`). Call
    /// [`EngineStore::check_key`] at start-up before connecting any account.
    pub fn engine(&self, cipher: SessionCipher) -> EngineStore {
        EngineStore {
            pool: self.pool.clone(),
            cipher: Arc::new(cipher),
        }
    }
}

impl EngineStore {
    /// The configured key's id.
    pub fn key_id(&self) -> &str {
        self.cipher.key_id()
    }

    /// Every linked account (credentials stored) whose status is not `expired`, oldest first: the
    /// accounts to reconnect at start-up.
    pub async fn accounts_to_start(&self) -> Result<Vec<EngineAccount>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT session_id, user_id, status FROM app_api.whatsapp_accounts_to_start()",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Any user's account by id (system path), linked or not.
    pub async fn account(&self, session_id: Uuid) -> Result<Option<EngineAccount>, StoreError> {
        Ok(
            sqlx::query_as("SELECT session_id, user_id, status FROM app_api.whatsapp_account($1)")
                .bind(session_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A transaction acting as the account's owner under RLS (for the engine's reads).
    async fn as_user(&self, user_id: Uuid) -> Result<UserTx, StoreError> {
        UserTx::begin(&self.pool, user_id).await
    }
}
