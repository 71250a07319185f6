//! What crosses server instances through PostgreSQL (several instances on one database):
//!
//! - **Account commands** ([`EngineStore::account_command_push`] /
//!   [`EngineStore::account_commands_take`]): a request for an account another instance holds
//!   (read receipts, typing, presence) is stored and announced on [`COMMAND_CHANNEL`]; the holder
//!   takes it and carries it out. Stored, not only notified, so a notice lost while the holder's
//!   listener reconnects is still found by its periodic look.
//! - **Live-only events** ([`Store::notify_live`] on [`LIVE_CHANNEL`]): typing, presence, QR codes
//!   — what the event log does not keep — published by the holder, relayed by every other instance
//!   to its browsers. Ephemeral by nature: a notice lost is an indicator missed, nothing more.
//!
//! [`Store::listen`] opens a dedicated `LISTEN` connection for either.

use crate::engine::EngineStore;
use crate::{Store, StoreError};
use uuid::Uuid;

/// Announces stored account commands; the payload is the account id.
pub const COMMAND_CHANNEL: &str = "rarity_account_command";
/// Carries live-only events between instances; the payload is the event as JSON.
pub const LIVE_CHANNEL: &str = "rarity_live";
/// PostgreSQL refuses notification payloads of 8000 bytes or more.
pub const NOTIFY_MAX: usize = 7900;
/// Commands older than this are dropped rather than carried out.
pub const COMMAND_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(120);

/// A dedicated listening connection: `(channel, payload)` notices.
pub struct Notices {
    listener: sqlx::postgres::PgListener,
}

impl std::fmt::Debug for Notices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notices").finish_non_exhaustive()
    }
}

impl Notices {
    /// The next notice; an error means the connection was lost (listen again).
    pub async fn next(&mut self) -> Result<(String, String), StoreError> {
        let n = self.listener.recv().await?;
        Ok((n.channel().to_owned(), n.payload().to_owned()))
    }
}

impl Store {
    /// Listens on `channels`, on a connection of its own (a listener keeps its connection for
    /// life; taking it from the runtime pool would leave requests one short).
    pub async fn listen(&self, channels: &[&str]) -> Result<Notices, StoreError> {
        let own = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_with((*self.pool.connect_options()).clone())
            .await?;
        let mut listener = sqlx::postgres::PgListener::connect_with(&own).await?;
        listener.listen_all(channels.iter().copied()).await?;
        Ok(Notices { listener })
    }

    /// Sends a live-only event to the other instances ([`LIVE_CHANNEL`]); a payload over
    /// [`NOTIFY_MAX`] is refused as invalid (the caller drops it).
    pub async fn notify_live(&self, payload: &str) -> Result<(), StoreError> {
        if payload.len() > NOTIFY_MAX {
            return Err(StoreError::invalid("payload", "is too large to notify"));
        }
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(LIVE_CHANNEL)
            .bind(payload)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

impl EngineStore {
    /// Stores a command for the user's account (held by another instance) and announces it.
    /// [`StoreError::NotFound`] when the account is not the user's.
    pub async fn account_command_push(
        &self,
        session_id: Uuid,
        user_id: Uuid,
        command: &serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query("SELECT app_api.account_command_push($1, $2, $3)")
            .bind(session_id)
            .bind(user_id)
            .bind(command)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Takes the stored commands of the listed accounts (the ones this instance holds), oldest
    /// first; commands older than [`COMMAND_MAX_AGE`] are dropped.
    pub async fn account_commands_take(
        &self,
        session_ids: &[Uuid],
    ) -> Result<Vec<(Uuid, serde_json::Value)>, StoreError> {
        if session_ids.is_empty() {
            return Ok(Vec::new());
        }
        let age = i32::try_from(COMMAND_MAX_AGE.as_secs()).unwrap_or(i32::MAX);
        Ok(
            sqlx::query_as("SELECT session_id, command FROM app_api.account_commands_take($1, $2)")
                .bind(session_ids)
                .bind(age)
                .fetch_all(self.pool())
                .await?,
        )
    }
}

/// An account's `media_conn` as its holder shared it (see the shared media_conn migration).
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SharedMediaConn {
    /// `[{"hostname", "max_content_length"}]`, as the holder parsed them.
    pub hosts: serde_json::Value,
    pub auth: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

impl std::fmt::Debug for SharedMediaConn {
    // The upload token stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedMediaConn")
            .field("hosts", &self.hosts)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl EngineStore {
    /// Shares the account's current `media_conn` with the other instances (until it expires).
    pub async fn media_conn_put(
        &self,
        session_id: Uuid,
        conn: &SharedMediaConn,
    ) -> Result<(), StoreError> {
        sqlx::query("SELECT app_api.account_media_conn_put($1, $2, $3, $4)")
            .bind(session_id)
            .bind(&conn.hosts)
            .bind(&conn.auth)
            .bind(conn.expires_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The account's shared `media_conn`, when it is still good for `margin`.
    pub async fn media_conn_get(
        &self,
        session_id: Uuid,
        margin: std::time::Duration,
    ) -> Result<Option<SharedMediaConn>, StoreError> {
        let margin = i32::try_from(margin.as_secs()).unwrap_or(i32::MAX);
        Ok(sqlx::query_as(
            "SELECT hosts, auth, expires_at FROM app_api.account_media_conn_get($1, $2)",
        )
        .bind(session_id)
        .bind(margin)
        .fetch_optional(self.pool())
        .await?)
    }
}
