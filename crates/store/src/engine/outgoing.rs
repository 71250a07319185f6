//! The outbox as the engine reads it, acting as the account's owner under RLS. `attempts` goes up
//! only in a commit, just before the message is written to the socket, so a queued row with
//! `attempts > 0` is one a crash interrupted — it is re-sent with the same WhatsApp id, and
//! WhatsApp and the contact's phone collapse the two into one message.
//!
//! Consent: the one write a read does is to fail queued rows whose recipient opted out after they
//! were queued (status `failed`, reason `opted_out`) instead of handing them out; a retry receipt
//! for such a message gets nothing to re-send; and counting an attempt re-checks the suppression
//! list under the recipient's lock (the database refuses it with `StoreError::OptedOut`), so a
//! send that begins after an opt-out was stored never reaches the socket.

use super::EngineStore;
use crate::StoreError;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// A text message to send.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct OutgoingMessage {
    /// The row id (`whatsapp_messages.id`).
    pub id: Uuid,
    /// WhatsApp's id for it, fixed when it was queued.
    pub message_id: String,
    /// E.164 of the recipient.
    pub phone_number: String,
    pub contact_jid: Option<String>,
    pub text: String,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}

/// `status_reason` of a queued message whose recipient opted out before it was sent.
pub(crate) const OPTED_OUT: &str = "opted_out";

/// Outgoing text rows the engine can send (rows written by hand without a WhatsApp id, number or
/// text are not its to guess at).
const OUTGOING: &str = "SELECT m.id, m.message_id, m.phone_number, m.contact_jid, \
     m.content->>'text' AS text, m.attempts, m.created_at \
     FROM public.whatsapp_messages m \
     WHERE m.session_id = $1 AND m.direction = 'out' AND m.message_id IS NOT NULL \
       AND m.phone_number IS NOT NULL AND m.content ? 'text'";

impl EngineStore {
    /// Up to `limit` of the account's queued outgoing messages, oldest first. Changes nothing.
    pub async fn queued_outgoing(
        &self,
        session_id: Uuid,
        user_id: Uuid,
        limit: i64,
    ) -> Result<Vec<OutgoingMessage>, StoreError> {
        let sql = format!(
            "WITH batch AS ({OUTGOING} AND m.status = 'queued' ORDER BY m.created_at, m.id LIMIT $2), \
             refused AS ( \
               UPDATE public.whatsapp_messages u SET status = 'failed', status_reason = '{OPTED_OUT}' \
               FROM batch b \
               WHERE u.id = b.id AND u.status = 'queued' AND u.consent_exempt IS NULL \
                 AND public.rarity_is_suppressed(b.phone_number) \
               RETURNING u.id) \
             SELECT * FROM batch WHERE id NOT IN (SELECT id FROM refused) ORDER BY created_at, id"
        );
        let mut tx = self.as_user(user_id).await?;
        let rows = sqlx::query_as(&sql)
            .bind(session_id)
            .bind(limit.max(0))
            .fetch_all(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// One outgoing message by its WhatsApp id, whatever its status (to answer a retry receipt).
    pub async fn outgoing_by_message_id(
        &self,
        session_id: Uuid,
        user_id: Uuid,
        message_id: &str,
    ) -> Result<Option<OutgoingMessage>, StoreError> {
        let sql = format!(
            "{OUTGOING} AND m.message_id = $2 \
             AND (m.consent_exempt IS NOT NULL OR NOT public.rarity_is_suppressed(m.phone_number))"
        );
        let mut tx = self.as_user(user_id).await?;
        let row = sqlx::query_as(&sql)
            .bind(session_id)
            .bind(message_id)
            .fetch_optional(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Whether a real message (not a placeholder waiting for its resend) with this WhatsApp id is
    /// stored in the account: the engine drops such a redelivery before decrypting it.
    pub async fn message_exists(
        &self,
        session_id: Uuid,
        user_id: Uuid,
        message_id: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.as_user(user_id).await?;
        let exists = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM public.whatsapp_messages m \
             WHERE m.session_id = $1 AND m.message_id = $2 AND NOT (m.content ? 'placeholder'))",
        )
        .bind(session_id)
        .bind(message_id)
        .fetch_one(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(exists)
    }
}

/// `attempts += 1` for the listed outgoing messages of the account (inside a commit).
pub(crate) async fn count_attempts(
    conn: &mut PgConnection,
    session_id: Uuid,
    message_ids: &[String],
) -> Result<(), StoreError> {
    if message_ids.is_empty() {
        return Ok(());
    }
    // The recipients' consent locks first, in a fixed order, before the UPDATE locks the rows:
    // an opt-out holds the same lock while it fails the rows, so taking them the other way round
    // could deadlock. The UPDATE's trigger then checks the list (see the migration).
    sqlx::query(
        "SELECT pg_advisory_xact_lock(k.key) FROM ( \
           SELECT DISTINCT hashtextextended('rarity.consent:' || s.user_id::text || ':' || m.phone_number, 0) AS key \
           FROM public.whatsapp_messages m JOIN public.whatsapp_sessions s ON s.id = m.session_id \
           WHERE m.session_id = $1 AND m.direction = 'out' AND m.message_id = ANY ($2) \
             AND m.phone_number IS NOT NULL \
           ORDER BY 1 OFFSET 0) k",
    )
    .bind(session_id)
    .bind(message_ids)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE public.whatsapp_messages SET attempts = attempts + 1 \
         WHERE session_id = $1 AND direction = 'out' AND message_id = ANY ($2)",
    )
    .bind(session_id)
    .bind(message_ids)
    .execute(conn)
    .await?;
    Ok(())
}
