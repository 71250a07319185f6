//! What operators watch (`/metrics`): account counts by status and the outbox across all users,
//! the webhook backlog and the runtime pool's use. Counts only, read through SECURITY DEFINER
//! functions (migrations …200001 and the webhooks one), so the runtime role still cannot read anyone's rows.

use chrono::{DateTime, Utc};

use crate::{RUNTIME_POOL_SIZE, Store, StoreError};

/// Every account status the schema allows (`whatsapp_sessions_status_check`), so a gauge per
/// status exists even while no account has it.
pub const ACCOUNT_STATUSES: [&str; 5] = ["inactive", "connecting", "active", "expired", "error"];

/// A point-in-time view of the database for metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpsSnapshot {
    /// `(status, accounts)` for every status in [`ACCOUNT_STATUSES`] (zero when none).
    pub accounts_by_status: Vec<(&'static str, i64)>,
    /// Outgoing messages still queued.
    pub outbox_depth: i64,
    /// When the oldest queued outgoing message was queued (`None` when the outbox is empty).
    pub outbox_oldest: Option<DateTime<Utc>>,
    /// Webhook deliveries not yet delivered nor failed (including those waiting to be retried).
    pub webhook_backlog: i64,
    /// When the oldest of them was queued.
    pub webhook_oldest: Option<DateTime<Utc>>,
}

/// The runtime pool right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open (idle + in use).
    pub open: u32,
    /// Open connections not checked out.
    pub idle: u32,
    /// The pool's maximum.
    pub max: u32,
}

impl PoolStats {
    pub fn in_use(&self) -> u32 {
        self.open.saturating_sub(self.idle)
    }
}

impl Store {
    /// Account counts by status and the outbox's depth and oldest entry (two cheap queries).
    pub async fn ops_snapshot(&self) -> Result<OpsSnapshot, StoreError> {
        let counts: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, accounts FROM app_api.account_status_counts()")
                .fetch_all(&self.pool)
                .await?;
        let accounts_by_status = ACCOUNT_STATUSES
            .iter()
            .map(|status| {
                let n = counts
                    .iter()
                    .filter(|(s, _)| s == status)
                    .map(|(_, n)| *n)
                    .sum();
                (*status, n)
            })
            .collect();
        let (outbox_depth, outbox_oldest): (i64, Option<DateTime<Utc>>) =
            sqlx::query_as("SELECT depth, oldest FROM app_api.outbox_stats()")
                .fetch_one(&self.pool)
                .await?;
        let (webhook_backlog, webhook_oldest): (i64, Option<DateTime<Utc>>) =
            sqlx::query_as("SELECT pending, oldest FROM app_api.webhook_stats()")
                .fetch_one(&self.pool)
                .await?;
        Ok(OpsSnapshot {
            accounts_by_status,
            outbox_depth,
            outbox_oldest,
            webhook_backlog,
            webhook_oldest,
        })
    }

    /// How many runtime connections are open and idle (no database round trip).
    pub fn pool_stats(&self) -> PoolStats {
        PoolStats {
            open: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: RUNTIME_POOL_SIZE,
        }
    }
}
