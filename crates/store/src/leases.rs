//! Account leases: which server instance connects which WhatsApp account, when several run on one
//! database. A lease is a session-level advisory lock (`pg_try_advisory_lock`) held by one
//! dedicated connection per instance, keyed by the account id:
//!
//! - at most one connection holds a given lock, so at most one instance runs an account;
//! - when an instance dies its connection closes and PostgreSQL drops its locks at once (a crash
//!   closes the socket; across a network, TCP keepalives on this connection bound it to ~30 s);
//! - an instance that loses its lease connection cannot know whether its locks are still held, so
//!   it must stop every account it runs before connecting again ([`Leases::check`] says so).
//!
//! No table, no heartbeat row, no clock: PostgreSQL already knows which sessions are alive.

use std::collections::HashSet;
use std::sync::Mutex;

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use uuid::Uuid;

use crate::StoreError;

/// The SQL for the lock key of the account `arg` names (a bigint from its id, in its own
/// namespace).
fn lease_key(arg: &str) -> String {
    format!("hashtextextended('rarity.account-lease:' || {arg}::text, 0)")
}

/// The leases this instance holds, on its own connection.
pub struct Leases {
    options: PgConnectOptions,
    conn: tokio::sync::Mutex<Option<PgConnection>>,
    held: Mutex<HashSet<Uuid>>,
}

impl std::fmt::Debug for Leases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leases")
            .field("held", &self.held().len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Leases {
    async fn open(options: &PgConnectOptions) -> Result<PgConnection, StoreError> {
        let mut conn = PgConnection::connect_with(options).await?;
        // Over TCP, let the server notice a vanished instance within ~30 s, so its leases pass on.
        // (Ignored on Unix sockets, where a dead process closes the socket at once.)
        sqlx::query(
            "SELECT set_config('tcp_keepalives_idle', '10', false), \
                    set_config('tcp_keepalives_interval', '5', false), \
                    set_config('tcp_keepalives_count', '3', false), \
                    set_config('application_name', 'rarity-leases', false)",
        )
        .execute(&mut conn)
        .await?;
        Ok(conn)
    }

    /// Takes `account`'s lease if no instance holds it. `Ok(true)`: this instance holds it now
    /// (or already did).
    pub async fn try_acquire(&self, account: Uuid) -> Result<bool, StoreError> {
        Ok(!self.try_acquire_many(&[account]).await?.is_empty())
    }

    /// [`Leases::try_acquire`] for many accounts in one round trip (start-up and the take-over
    /// scan ask for every linked account): returns those this instance holds now.
    pub async fn try_acquire_many(&self, accounts: &[Uuid]) -> Result<Vec<Uuid>, StoreError> {
        let (mut got, wanted): (Vec<Uuid>, Vec<Uuid>) = {
            let held = lock(&self.held);
            accounts.iter().partition(|a| held.contains(a))
        };
        if wanted.is_empty() {
            return Ok(got);
        }
        let mut guard = self.conn.lock().await;
        if guard.is_none() {
            *guard = Some(Self::open(&self.options).await?);
        }
        let Some(conn) = guard.as_mut() else {
            return Ok(got);
        };
        // Each account's lock is tried once (a session-level lock taken twice would need two
        // unlocks; the `held` set keeps us from asking again).
        let key = lease_key("a");
        let taken: Vec<Uuid> = sqlx::query_scalar(&format!(
            "SELECT a FROM unnest($1::uuid[]) AS a WHERE pg_try_advisory_lock({key})"
        ))
        .bind(&wanted)
        .fetch_all(&mut *conn)
        .await?;
        lock(&self.held).extend(taken.iter().copied());
        got.extend(taken);
        Ok(got)
    }

    /// Gives `account`'s lease up (logged out, deleted): another instance may take it.
    pub async fn release(&self, account: Uuid) -> Result<(), StoreError> {
        if !lock(&self.held).remove(&account) {
            return Ok(());
        }
        let mut guard = self.conn.lock().await;
        if let Some(conn) = guard.as_mut() {
            sqlx::query(&format!("SELECT pg_advisory_unlock({})", lease_key("$1")))
                .bind(account)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// Whether this instance holds `account`'s lease.
    pub fn holds(&self, account: Uuid) -> bool {
        lock(&self.held).contains(&account)
    }

    /// The accounts whose lease this instance holds.
    pub fn held(&self) -> Vec<Uuid> {
        lock(&self.held).iter().copied().collect()
    }

    /// Checks the lease connection. `Err` = it was lost: every lease this instance held may now
    /// be another's, so the caller must stop those accounts (they are forgotten here); the next
    /// [`Leases::try_acquire`] opens a new connection.
    pub async fn check(&self) -> Result<(), Vec<Uuid>> {
        let mut guard = self.conn.lock().await;
        let alive = match guard.as_mut() {
            None => return Ok(()),
            // A dead network can leave a query waiting forever: five seconds is "lost".
            Some(conn) => matches!(
                tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    sqlx::query("SELECT 1").execute(&mut *conn),
                )
                .await,
                Ok(Ok(_))
            ),
        };
        if alive {
            return Ok(());
        }
        *guard = None;
        let lost: Vec<Uuid> = lock(&self.held).drain().collect();
        Err(lost)
    }

    /// Gives every lease up at once (graceful shutdown, after the accounts stopped).
    pub async fn close(&self) {
        lock(&self.held).clear();
        if let Some(conn) = self.conn.lock().await.take() {
            let _ = conn.close().await;
        }
    }
}

impl crate::Store {
    /// This instance's account leases, on a connection of their own (opened on first use).
    pub fn leases(&self) -> Leases {
        Leases {
            options: (*self.pool.connect_options()).clone(),
            conn: tokio::sync::Mutex::new(None),
            held: Mutex::default(),
        }
    }
}
