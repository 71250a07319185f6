//! Linked WhatsApp accounts, as seen by the user of a [`UserTx`] (RLS-scoped). The user may create,
//! rename and delete an account and read its state; column privileges keep everything else (status,
//! phone number, JIDs, credentials) the engine's to write (see `crate::engine`).

use crate::domain::required_text;
use crate::events::{EventKind, NewEvent};
use crate::records::{Conversation, WhatsappSession};
use crate::{StoreError, UserTx};
use uuid::Uuid;

/// Every column `authenticated` may read (not `session_data` or `qr_code`, and so never `*`).
const SESSION_COLUMNS: &str = "id, user_id, phone_number, session_name, status, status_reason, \
     status_message, jid, lid, push_name, linked_at, last_seen, created_at, updated_at";
const SESSION_NAME_MAX: usize = 100;

/// The event log entry for an account (as the store shows it).
pub(crate) fn account_event(account: &WhatsappSession) -> Result<NewEvent, StoreError> {
    Ok(NewEvent {
        account_id: Some(account.id),
        kind: EventKind::Account,
        payload: serde_json::to_value(account)
            .map_err(|_| StoreError::invalid("account", "cannot be shown as JSON"))?,
    })
}

/// One account read by the system path (for the event an engine state change appends).
pub(crate) async fn account_as_system(
    conn: &mut sqlx::PgConnection,
    user_id: Uuid,
    id: Uuid,
) -> Result<WhatsappSession, StoreError> {
    crate::user_tx::act_as(&mut *conn, user_id).await?;
    let sql = format!("SELECT {SESSION_COLUMNS} FROM public.whatsapp_sessions WHERE id = $1");
    let account = sqlx::query_as(&sql).bind(id).fetch_one(&mut *conn).await?;
    crate::user_tx::act_as_system(&mut *conn).await?;
    Ok(account)
}

impl UserTx {
    /// The user's linked WhatsApp accounts, oldest first.
    pub async fn whatsapp_sessions_list(&mut self) -> Result<Vec<WhatsappSession>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM public.whatsapp_sessions ORDER BY created_at, id"
        );
        Ok(sqlx::query_as(&sql).fetch_all(&mut *self.tx).await?)
    }

    /// One account; [`StoreError::NotFound`] if it does not exist or is someone else's.
    pub async fn whatsapp_session_get(&mut self, id: Uuid) -> Result<WhatsappSession, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM public.whatsapp_sessions WHERE id = $1");
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .fetch_one(&mut *self.tx)
            .await?)
    }

    /// Registers a new (not yet linked) account, status `inactive`. Beyond the per-user limit
    /// (`WHATSAPP_MAX_SESSIONS_PER_USER`, enforced by the database) it is
    /// [`StoreError::LimitReached`]. Only the name is written: the owner is `auth.uid()`.
    pub async fn whatsapp_session_create(
        &mut self,
        session_name: &str,
    ) -> Result<WhatsappSession, StoreError> {
        let name = required_text("session_name", session_name, SESSION_NAME_MAX)?;
        let sql = format!(
            "INSERT INTO public.whatsapp_sessions (session_name) VALUES ($1) RETURNING {SESSION_COLUMNS}"
        );
        let account: WhatsappSession = sqlx::query_as(&sql)
            .bind(name)
            .fetch_one(&mut *self.tx)
            .await?;
        self.append_events(&[account_event(&account)?]).await?;
        Ok(account)
    }

    /// Renames an account; [`StoreError::NotFound`] if it is not this user's.
    pub async fn whatsapp_session_rename(
        &mut self,
        id: Uuid,
        session_name: &str,
    ) -> Result<WhatsappSession, StoreError> {
        let name = required_text("session_name", session_name, SESSION_NAME_MAX)?;
        let sql = format!(
            "UPDATE public.whatsapp_sessions SET session_name = $2 WHERE id = $1 RETURNING {SESSION_COLUMNS}"
        );
        let account: WhatsappSession = sqlx::query_as(&sql)
            .bind(id)
            .bind(name)
            .fetch_one(&mut *self.tx)
            .await?;
        self.append_events(&[account_event(&account)?]).await?;
        Ok(account)
    }

    /// Deletes an account with its credentials, keys and messages (the caller logs it out of
    /// WhatsApp first); [`StoreError::NotFound`] if it is not this user's.
    pub async fn whatsapp_session_delete(&mut self, id: Uuid) -> Result<(), StoreError> {
        let result = sqlx::query("DELETE FROM public.whatsapp_sessions WHERE id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.append_events(&[NewEvent {
            // The account row is gone, and with it every event that named it.
            account_id: None,
            kind: EventKind::AccountRemoved,
            payload: serde_json::json!({ "id": id }),
        }])
        .await?;
        Ok(())
    }

    /// One row per chat (linked account × contact) with its latest message, newest chat first.
    /// The contact is its phone number, or its LID/JID when the phone number is unknown.
    /// (The dashboard's list; the REST API uses [`UserTx::conversations`], one row per lead.)
    pub async fn conversations_list(&mut self) -> Result<Vec<Conversation>, StoreError> {
        let sql = "SELECT c.session_id, c.contact AS phone_number, c.lead_id, l.name AS lead_name, \
                          c.direction, c.message_type, c.content, c.status, c.created_at AS last_message_at \
                   FROM (SELECT DISTINCT ON (m.session_id, contact) m.*, \
                                coalesce(m.phone_number, m.contact_lid, m.contact_jid) AS contact \
                         FROM public.whatsapp_messages m \
                         ORDER BY m.session_id, contact, m.created_at DESC, m.id DESC) c \
                   LEFT JOIN public.leads l ON l.id = c.lead_id \
                   ORDER BY c.created_at DESC, c.session_id, c.contact";
        Ok(sqlx::query_as(sql).fetch_all(&mut *self.tx).await?)
    }
}
