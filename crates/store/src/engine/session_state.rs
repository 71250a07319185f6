//! The account's connection state, written by the engine only (users cannot: column privileges),
//! through `app_api.whatsapp_update_session`.

use super::EngineStore;
use crate::StoreError;
use crate::domain::{PhoneE164, SessionStatus, display_name};
use crate::events;
use crate::whatsapp::account_event;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Changes to an account's state; `None` keeps a field as it is. Give `status_reason` and
/// `status_message` with every `status` (they are not cleared by a new status).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionStatusUpdate {
    /// `active`, `inactive`, `connecting`, `expired` or `error` (`SessionStatus::X.into()`).
    pub status: Option<String>,
    /// Machine-readable: a lower-case word such as `linked`, `qr_timeout`, `logged_out`,
    /// `replaced`, `connection_lost`, `banned`, `client_outdated`, `unpaired`.
    pub status_reason: Option<String>,
    /// A sentence for people (at most 500 characters; longer is cut).
    pub status_message: Option<String>,
    /// The linked phone, E.164.
    pub phone_number: Option<String>,
    pub jid: Option<String>,
    pub lid: Option<String>,
    pub push_name: Option<String>,
    pub linked_at: Option<DateTime<Utc>>,
    /// Set `last_seen` to now.
    pub touch_last_seen: bool,
}

const REASON_MAX: usize = 64;
const MESSAGE_MAX: usize = 500;
const JID_MAX: usize = 128;
const NAME_MAX: usize = 200;

fn check_reason(reason: &str) -> Result<(), StoreError> {
    let mut chars = reason.chars();
    let ok = reason.len() <= REASON_MAX
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid(
            "status_reason",
            "must be a lower-case word like qr_timeout (letters, digits, _; at most 64)",
        ))
    }
}

fn check_jid(field: &'static str, jid: &str) -> Result<(), StoreError> {
    if jid.is_empty() || jid.chars().count() > JID_MAX || jid.chars().any(char::is_control) {
        return Err(StoreError::invalid(
            field,
            "must be 1 to 128 characters without control characters",
        ));
    }
    Ok(())
}

impl EngineStore {
    /// Applies `update` to any user's account (system path); [`StoreError::NotFound`] when the
    /// account does not exist (e.g. deleted meanwhile).
    /// Appends an `account` event to the owner's event log in the same transaction and returns
    /// its cursor.
    pub async fn update_session(
        &self,
        session_id: Uuid,
        update: SessionStatusUpdate,
    ) -> Result<i64, StoreError> {
        if let Some(status) = &update.status {
            SessionStatus::parse(status)?;
        }
        if let Some(reason) = &update.status_reason {
            check_reason(reason)?;
        }
        let phone = update
            .phone_number
            .as_deref()
            .map(PhoneE164::parse)
            .transpose()?;
        for (field, jid) in [("jid", &update.jid), ("lid", &update.lid)] {
            if let Some(jid) = jid {
                check_jid(field, jid)?;
            }
        }
        let mut tx = self.pool.begin().await?;
        let found: bool = sqlx::query_scalar(
            "SELECT app_api.whatsapp_update_session($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(session_id)
        .bind(&update.status)
        .bind(&update.status_reason)
        .bind(display_name(update.status_message.as_deref(), MESSAGE_MAX))
        .bind(phone.as_ref().map(PhoneE164::as_str))
        .bind(&update.jid)
        .bind(&update.lid)
        .bind(display_name(update.push_name.as_deref(), NAME_MAX))
        .bind(update.linked_at)
        .bind(update.touch_last_seen)
        .fetch_one(&mut *tx)
        .await?;
        if !found {
            return Err(StoreError::NotFound);
        }
        let owner: Uuid = sqlx::query_scalar("SELECT app_api.whatsapp_account_owner($1)")
            .bind(session_id)
            .fetch_one(&mut *tx)
            .await?;
        let account = crate::whatsapp::account_as_system(&mut tx, owner, session_id).await?;
        let cursor = events::append(&mut tx, owner, &[account_event(&account)?])
            .await?
            .unwrap_or_default();
        tx.commit().await?;
        Ok(cursor)
    }
}
