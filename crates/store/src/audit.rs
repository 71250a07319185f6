//! The audit log as its user reads it. Entries are written by the database (triggers and the
//! privacy functions, see migration …_privacy_settings_and_audit.sql), never through this module:
//! users can read their log, not write it.

use crate::{StoreError, UserTx};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Entries returned when the caller does not say, and at most.
pub const AUDIT_PAGE_DEFAULT: i64 = 100;
pub const AUDIT_PAGE_MAX: i64 = 500;

/// One audit entry. `action` is one of `sign_in`, `whatsapp_linked`, `whatsapp_unlinked`,
/// `whatsapp_removed`, `key_rotated`, `export`, `lead_export`, `lead_erased`, `opt_out`, `opt_in`,
/// `retention_changed`, `opt_out_settings_changed`, `retention_purge` (and `account_deleted`,
/// which outlives the user). `details` holds ids and counts, never a phone number, name or text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub action: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl UserTx {
    /// The user's audit log, newest first; `before` (an entry id) pages further back.
    pub async fn audit_log(
        &mut self,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, action, details, created_at FROM public.audit_log \
             WHERE user_id = $1 AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(self.user_id)
        .bind(before)
        .bind(limit.clamp(1, AUDIT_PAGE_MAX))
        .fetch_all(&mut *self.tx)
        .await?)
    }
}
