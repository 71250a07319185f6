//! Delivery states move forward only. Receipts arrive out of order and more than once (a `read`
//! before its `delivered`, a redelivered `delivered` after `read`), so each change is a guarded
//! UPDATE: `queued < sent < delivered < read`, and `failed` only from `queued`. Reaching a state
//! also stamps the earlier ones it implies (`read` sets `delivered_at` if it was never set).

use crate::StoreError;
use crate::domain::{MessageStatus, display_name};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// One message's new status, from a server ack, a receipt or the engine giving up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusChange {
    /// WhatsApp's id of the message (in this account).
    pub message_id: String,
    pub status: MessageStatus,
    /// Why (for `failed`), e.g. `retries_exhausted`; stored in `status_reason`.
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

const REASON_MAX: usize = 200;

pub(crate) struct ValidStatusChange {
    pub message_id: String,
    pub status: MessageStatus,
    reason: Option<String>,
    at: DateTime<Utc>,
}

impl ValidStatusChange {
    pub(crate) fn parse(change: StatusChange) -> Result<ValidStatusChange, StoreError> {
        if change.message_id.is_empty() || change.message_id.chars().count() > 128 {
            return Err(StoreError::invalid(
                "message_id",
                "must be 1 to 128 characters",
            ));
        }
        Ok(ValidStatusChange {
            message_id: change.message_id,
            status: change.status,
            reason: display_name(change.reason.as_deref(), REASON_MAX),
            at: change.at,
        })
    }
}

/// Applies one change; the row id when it took effect, `None` when ignored (unknown id, or not a
/// step forward).
pub(crate) async fn apply(
    conn: &mut PgConnection,
    session_id: Uuid,
    change: &ValidStatusChange,
) -> Result<Option<Uuid>, StoreError> {
    Ok(sqlx::query_scalar(
        "UPDATE public.whatsapp_messages m SET \
           status = $3, \
           status_reason = $4, \
           sent_at = CASE WHEN $3 IN ('sent', 'delivered', 'read') THEN coalesce(m.sent_at, $5) ELSE m.sent_at END, \
           delivered_at = CASE WHEN $3 IN ('delivered', 'read') THEN coalesce(m.delivered_at, $5) ELSE m.delivered_at END, \
           read_at = CASE WHEN $3 = 'read' THEN coalesce(m.read_at, $5) ELSE m.read_at END \
         WHERE m.session_id = $1 AND m.message_id = $2 \
           AND ((m.status = 'queued' AND $3 = 'failed') \
                OR array_position(ARRAY['queued', 'sent', 'delivered', 'read'], m.status) \
                   < array_position(ARRAY['queued', 'sent', 'delivered', 'read'], $3::text)) \
         RETURNING m.id",
    )
    .bind(session_id)
    .bind(&change.message_id)
    .bind(change.status.as_str())
    .bind(&change.reason)
    .bind(change.at)
    .fetch_optional(conn)
    .await?)
}
