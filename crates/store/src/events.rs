//! Each user's event log (`public.user_events`, see its migration): what a dashboard must learn
//! about, appended in the same transaction as the change itself, read back after a cursor.
//!
//! Writers are the engine's commit (messages stored, statuses moved), the account state updates,
//! and the user's own changes (an account created, renamed or deleted, a message queued). They
//! append through `app_api.append_user_events` as `rarity_app`; a transaction acting as a user
//! steps out of the user's role for that one call and back in ([`append_as_user`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::user_tx::act_as;
use crate::{Store, StoreError, UserTx};

/// What an event reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A message was stored or completed; the payload is the message as the API shows it.
    Message,
    /// A message's status moved; the payload is the message as the API shows it.
    MessageStatus,
    /// An account was created or changed; the payload is the account.
    Account,
    /// An account was deleted; the payload is `{"id": …}`.
    AccountRemoved,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Message => "message",
            EventKind::MessageStatus => "message_status",
            EventKind::Account => "account",
            EventKind::AccountRemoved => "account_removed",
        }
    }
}

/// An event to append.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub account_id: Option<Uuid>,
    pub kind: EventKind,
    pub payload: serde_json::Value,
}

/// An event as stored; `id` is the cursor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct UserEvent {
    pub id: i64,
    pub account_id: Option<Uuid>,
    pub kind: String,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// Most events one read returns.
pub const EVENTS_PAGE_MAX: i64 = 500;

/// Appends `events` for `user_id` on a connection in the system role (`rarity_app`); returns the
/// last id, or `None` when there was nothing to append.
pub(crate) async fn append(
    conn: &mut PgConnection,
    user_id: Uuid,
    events: &[NewEvent],
) -> Result<Option<i64>, StoreError> {
    if events.is_empty() {
        return Ok(None);
    }
    let accounts: Vec<Option<Uuid>> = events.iter().map(|e| e.account_id).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let payloads: Vec<&serde_json::Value> = events.iter().map(|e| &e.payload).collect();
    Ok(
        sqlx::query_scalar("SELECT app_api.append_user_events($1, $2, $3, $4)")
            .bind(user_id)
            .bind(accounts)
            .bind(kinds)
            .bind(payloads)
            .fetch_one(conn)
            .await?,
    )
}

/// [`append`] from a transaction that acts as `user_id` (and still does afterwards).
pub(crate) async fn append_as_user(
    conn: &mut PgConnection,
    user_id: Uuid,
    events: &[NewEvent],
) -> Result<Option<i64>, StoreError> {
    if events.is_empty() {
        return Ok(None);
    }
    crate::user_tx::act_as_system(&mut *conn).await?;
    let last = append(conn, user_id, events).await?;
    act_as(conn, user_id).await?;
    Ok(last)
}

impl UserTx {
    /// The user's events after `cursor`, oldest first, at most `limit` (1..=500).
    pub async fn events_after(
        &mut self,
        cursor: i64,
        limit: i64,
    ) -> Result<Vec<UserEvent>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, account_id, kind, payload, created_at FROM public.user_events \
             WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(self.user_id)
        .bind(cursor)
        .bind(limit.clamp(1, EVENTS_PAGE_MAX))
        .fetch_all(&mut *self.tx)
        .await?)
    }

    /// The id of the user's latest event (0 when there is none): where a fresh page starts.
    pub async fn latest_event_id(&mut self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT coalesce(max(id), 0) FROM public.user_events WHERE user_id = $1",
        )
        .bind(self.user_id)
        .fetch_one(&mut *self.tx)
        .await?)
    }

    /// The oldest event id still kept (0 when none): a cursor below it missed pruned events.
    pub async fn oldest_event_id(&mut self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT coalesce(min(id), 0) FROM public.user_events WHERE user_id = $1",
        )
        .bind(self.user_id)
        .fetch_one(&mut *self.tx)
        .await?)
    }

    /// Appends events for this transaction's user (it keeps acting as the user).
    pub(crate) async fn append_events(
        &mut self,
        events: &[NewEvent],
    ) -> Result<Option<i64>, StoreError> {
        append_as_user(&mut self.tx, self.user_id, events).await
    }
}

/// The channel `app_api.append_user_events` notifies on commit.
pub const EVENTS_CHANNEL: &str = "rarity_user_events";

/// Commit-time notices of new events (see [`Store::listen_events`]).
pub struct EventListener {
    listener: sqlx::postgres::PgListener,
}

impl EventListener {
    /// The next notice: the user whose log grew, and the id of its last new event. Waits; after
    /// a lost connection it reconnects (notices sent meanwhile are lost — readers also poll the
    /// log now and then for that reason).
    pub async fn next(&mut self) -> Result<(Uuid, i64), StoreError> {
        loop {
            let notification = self.listener.recv().await?;
            let Some((user, id)) = notification.payload().split_once(':') else {
                continue;
            };
            if let (Ok(user), Ok(id)) = (user.parse(), id.parse()) {
                return Ok((user, id));
            }
        }
    }
}

impl Store {
    /// Listens for new events of every user (a dedicated connection).
    pub async fn listen_events(&self) -> Result<EventListener, StoreError> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen(EVENTS_CHANNEL).await?;
        Ok(EventListener { listener })
    }

    /// Deletes events older than `age` (in batches); returns how many.
    pub async fn prune_events(&self, age: std::time::Duration) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT app_api.prune_user_events($1, 5000)")
                .bind(age)
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
