//! Linked WhatsApp accounts and their chats, as seen by the user of a [`UserTx`] (RLS-scoped).
//! The engine's own persistence (credentials, Signal keys, message writes) arrives with the engine.

use crate::domain::required_text;
use crate::records::{Conversation, WhatsappSession};
use crate::{StoreError, UserTx};

const SESSION_COLUMNS: &str =
    "id, user_id, phone_number, session_name, status, last_seen, created_at, updated_at";
const SESSION_NAME_MAX: usize = 100;

impl UserTx {
    /// The user's linked WhatsApp accounts, oldest first.
    pub async fn whatsapp_sessions_list(&mut self) -> Result<Vec<WhatsappSession>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM public.whatsapp_sessions ORDER BY created_at, id"
        );
        Ok(sqlx::query_as(&sql).fetch_all(&mut *self.tx).await?)
    }

    /// Registers a new (not yet linked) account, status `inactive`.
    pub async fn whatsapp_session_create(
        &mut self,
        session_name: &str,
    ) -> Result<WhatsappSession, StoreError> {
        let name = required_text("session_name", session_name, SESSION_NAME_MAX)?;
        let sql = format!(
            "INSERT INTO public.whatsapp_sessions (user_id, session_name) VALUES ($1, $2) RETURNING {SESSION_COLUMNS}"
        );
        Ok(sqlx::query_as(&sql)
            .bind(self.user_id)
            .bind(name)
            .fetch_one(&mut *self.tx)
            .await?)
    }

    /// One row per chat (linked account × phone number) with its latest message, newest chat first.
    pub async fn conversations_list(&mut self) -> Result<Vec<Conversation>, StoreError> {
        let sql = "SELECT c.session_id, c.phone_number, c.lead_id, l.name AS lead_name, c.direction, \
                          c.message_type, c.content, c.status, c.created_at AS last_message_at \
                   FROM (SELECT DISTINCT ON (m.session_id, m.phone_number) m.* \
                         FROM public.whatsapp_messages m \
                         ORDER BY m.session_id, m.phone_number, m.created_at DESC, m.id DESC) c \
                   LEFT JOIN public.leads l ON l.id = c.lead_id \
                   ORDER BY c.created_at DESC, c.session_id, c.phone_number";
        Ok(sqlx::query_as(sql).fetch_all(&mut *self.tx).await?)
    }
}
