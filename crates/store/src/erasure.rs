//! Erasure: "Erase this lead" and deleting a user's whole account. Both run through SECURITY
//! DEFINER functions (migration …_retention_and_erasure.sql) because they reach rows no user may
//! touch directly — the Signal sessions held for the contact's devices, the event log — and check
//! ownership themselves, like the engine's functions. The caller passes the authenticated user.

use crate::{Store, StoreError};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What erasing a lead removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErasureReport {
    pub messages: i64,
    pub signal_keys: i64,
    pub consent_records: i64,
    pub events: i64,
    /// The number stays on the suppression list (as a hash): the person had opted out.
    pub still_suppressed: bool,
}

/// What deleting an account removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccountDeletionReport {
    pub leads: i64,
    pub accounts: i64,
    pub messages: i64,
}

impl Store {
    /// Erases one of `user_id`'s leads and everything about that person (see the migration);
    /// [`StoreError::NotFound`] when the lead is not theirs. Audited as `lead_erased` with counts.
    pub async fn erase_lead(
        &self,
        user_id: Uuid,
        lead_id: Uuid,
    ) -> Result<ErasureReport, StoreError> {
        let counts: serde_json::Value = sqlx::query_scalar("SELECT app_api.erase_lead($1, $2)")
            .bind(user_id)
            .bind(lead_id)
            .fetch_one(&self.pool)
            .await?;
        serde_json::from_value(counts)
            .map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))
    }

    /// Deletes the user and all their data (leads, WhatsApp accounts with their credentials, keys
    /// and messages, templates, consent records, suppression list, settings, sign-in sessions,
    /// event log). Their audit log becomes one `account_deleted` entry without a user id. Log the
    /// WhatsApp accounts out first (the caller's job: the store cannot reach WhatsApp).
    pub async fn delete_user(&self, user_id: Uuid) -> Result<AccountDeletionReport, StoreError> {
        let counts: serde_json::Value = sqlx::query_scalar("SELECT app_api.delete_user($1)")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await?;
        serde_json::from_value(counts)
            .map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))
    }
}
