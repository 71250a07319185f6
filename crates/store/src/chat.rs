//! What the chat pages need beyond conversations and their messages: marking a conversation
//! read (and learning which WhatsApp receipts that calls for), the account a lead last spoke
//! through, and a lead's card for the panel beside the thread.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::events::EventKind;
use crate::messages::{MESSAGE_COLUMNS, message_event};
use crate::records::Message;
use crate::{StoreError, UserTx};

/// Messages of one contact on one account that were just marked read: their read receipt goes
/// out through that account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadReceipts {
    pub account_id: Uuid,
    /// The contact as WhatsApp names it (`…@s.whatsapp.net`/`…@lid`), else its E.164 number.
    pub chat: String,
    /// WhatsApp message ids.
    pub message_ids: Vec<String>,
}

/// Read receipts are sent for at most this many messages at once (WhatsApp's receipts carry a
/// list; older unread messages are simply marked read).
const RECEIPTS_MAX: usize = 200;

impl UserTx {
    /// Marks the lead's unread inbound messages read (status `delivered` → `read`); returns the
    /// receipts to send, per account and contact, newest messages first. Another user's lead is
    /// [`StoreError::NotFound`].
    pub async fn mark_conversation_read(
        &mut self,
        lead_id: Uuid,
    ) -> Result<Vec<ReadReceipts>, StoreError> {
        let lead: Option<Uuid> = sqlx::query_scalar("SELECT id FROM public.leads WHERE id = $1")
            .bind(lead_id)
            .fetch_optional(&mut *self.tx)
            .await?;
        if lead.is_none() {
            return Err(StoreError::NotFound);
        }
        let sql = format!(
            "UPDATE public.whatsapp_messages m SET status = 'read', read_at = now() \
             WHERE m.lead_id = $1 AND m.direction = 'in' AND m.status = 'delivered' \
             RETURNING {MESSAGE_COLUMNS}, m.contact_jid"
        );
        let rows: Vec<(Message, Option<String>)> = sqlx::query_as::<_, ReadRow>(&sql)
            .bind(lead_id)
            .fetch_all(&mut *self.tx)
            .await?
            .into_iter()
            .map(|r| (r.message, r.contact_jid))
            .collect();
        let events = rows
            .iter()
            .map(|(m, _)| message_event(EventKind::MessageStatus, m))
            .collect::<Result<Vec<_>, _>>()?;
        self.append_events(&events).await?;
        // (account, chat) → (sent at, WhatsApp id) of the messages to mark read there.
        type Unread = Vec<(chrono::DateTime<chrono::Utc>, String)>;
        let mut grouped: BTreeMap<(Uuid, String), Unread> = BTreeMap::new();
        for (message, jid) in rows {
            let Some(chat) = jid.or(message.phone_number.clone()) else {
                continue;
            };
            if let Some(id) = message.message_id {
                grouped
                    .entry((message.account_id, chat))
                    .or_default()
                    .push((message.created_at, id));
            }
        }
        Ok(grouped
            .into_iter()
            .map(|((account_id, chat), mut ids)| {
                ids.sort_by_key(|m| std::cmp::Reverse(m.0));
                ids.truncate(RECEIPTS_MAX);
                ReadReceipts {
                    account_id,
                    chat,
                    message_ids: ids.into_iter().map(|(_, id)| id).collect(),
                }
            })
            .collect())
    }

    /// The account of the lead's latest message that is still this user's (the default for
    /// replies), if any.
    pub async fn lead_last_account(&mut self, lead_id: Uuid) -> Result<Option<Uuid>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT m.session_id FROM public.whatsapp_messages m WHERE m.lead_id = $1 \
             ORDER BY m.created_at DESC, m.id DESC LIMIT 1",
        )
        .bind(lead_id)
        .fetch_optional(&mut *self.tx)
        .await?)
    }

    /// One message by its WhatsApp id in one account (for "retry").
    pub async fn message_by_wa_id(
        &mut self,
        account_id: Uuid,
        message_id: &str,
    ) -> Result<Message, StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM public.whatsapp_messages m \
             WHERE m.session_id = $1 AND m.message_id = $2"
        );
        Ok(sqlx::query_as(&sql)
            .bind(account_id)
            .bind(message_id)
            .fetch_one(&mut *self.tx)
            .await?)
    }
}

#[derive(sqlx::FromRow)]
struct ReadRow {
    #[sqlx(flatten)]
    message: Message,
    contact_jid: Option<String>,
}
