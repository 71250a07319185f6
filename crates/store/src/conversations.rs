//! Conversations (one per lead) and their messages, paged newest first with an opaque keyset
//! cursor over `(created_at, id)`, as seen by the user of a [`UserTx`] (RLS-scoped).

use crate::messages::MESSAGE_COLUMNS;
use crate::records::{ConversationSummary, Message, MessagePage};
use crate::{StoreError, UserTx};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Upper bound on the conversation list; paging it comes with the chat page.
const CONVERSATIONS_MAX: i64 = 500;
/// Page sizes are clamped to this range.
pub const PAGE_MIN: i64 = 1;
pub const PAGE_MAX: i64 = 200;

#[derive(sqlx::FromRow)]
struct SummaryRow {
    summary_lead_id: Uuid,
    lead_name: String,
    lead_phone: String,
    unread_count: i64,
    #[sqlx(flatten)]
    message: Message,
}

/// Where a page ends: the last message's `(created_at, id)`. Serialised as 48 hex digits (the
/// timestamp in microseconds since the epoch, big-endian, then the UUID); clients treat it as
/// opaque.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cursor {
    created_at: DateTime<Utc>,
    id: Uuid,
}

impl Cursor {
    fn of(message: &Message) -> Cursor {
        Cursor {
            created_at: message.created_at,
            id: message.id,
        }
    }

    fn encode(self) -> String {
        let mut bytes = Vec::with_capacity(24);
        bytes.extend_from_slice(&self.created_at.timestamp_micros().to_be_bytes());
        bytes.extend_from_slice(self.id.as_bytes());
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn decode(input: &str) -> Result<Cursor, StoreError> {
        let bad = || StoreError::invalid("before", "is not a cursor this API returned");
        if input.len() != 48 || !input.is_ascii() {
            return Err(bad());
        }
        let bytes = (0..24)
            .map(|i| u8::from_str_radix(&input[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| bad())?;
        let (micros, id) = bytes.split_at(8);
        let micros = i64::from_be_bytes(micros.try_into().map_err(|_| bad())?);
        let created_at = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
        let id = Uuid::from_slice(id).map_err(|_| bad())?;
        Ok(Cursor { created_at, id })
    }
}

impl UserTx {
    /// One entry per lead that has messages, with its latest message (whichever account carried
    /// it) and how many inbound messages are not read yet; the most recent conversation first.
    pub async fn conversations(&mut self) -> Result<Vec<ConversationSummary>, StoreError> {
        // Per lead: one index probe for the latest message (lead_timeline_idx) and one count over
        // the partial unread index. RLS applies to both tables.
        let sql = format!(
            "SELECT l.id AS summary_lead_id, l.name AS lead_name, l.phone AS lead_phone, \
                    (SELECT count(*) FROM public.whatsapp_messages u \
                     WHERE u.lead_id = l.id AND u.direction = 'in' AND u.status = 'delivered') AS unread_count, \
                    {MESSAGE_COLUMNS} \
             FROM public.leads l \
             CROSS JOIN LATERAL ( \
                 SELECT * FROM public.whatsapp_messages x WHERE x.lead_id = l.id \
                 ORDER BY x.created_at DESC, x.id DESC LIMIT 1) m \
             ORDER BY m.created_at DESC, m.id DESC \
             LIMIT $1"
        );
        let rows: Vec<SummaryRow> = sqlx::query_as(&sql)
            .bind(CONVERSATIONS_MAX)
            .fetch_all(&mut *self.tx)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| ConversationSummary {
                lead_id: r.summary_lead_id,
                lead_name: r.lead_name,
                phone_number: r.lead_phone,
                account_id: r.message.account_id,
                last_message: r.message,
                unread_count: r.unread_count,
            })
            .collect())
    }

    /// A lead's messages, newest first, `limit` (clamped to 1..=200) at a time. `before` is the
    /// `next_cursor` of the previous page (a malformed one is [`StoreError::Invalid`]); another
    /// user's lead is [`StoreError::NotFound`].
    pub async fn conversation_messages(
        &mut self,
        lead_id: Uuid,
        before: Option<&str>,
        limit: i64,
    ) -> Result<MessagePage, StoreError> {
        let before = before.map(Cursor::decode).transpose()?;
        let limit = limit.clamp(PAGE_MIN, PAGE_MAX);
        let lead: Option<Uuid> = sqlx::query_scalar("SELECT id FROM public.leads WHERE id = $1")
            .bind(lead_id)
            .fetch_optional(&mut *self.tx)
            .await?;
        if lead.is_none() {
            return Err(StoreError::NotFound);
        }
        // One more than asked for tells whether another page follows.
        let mut messages: Vec<Message> = match before {
            None => {
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM public.whatsapp_messages m WHERE m.lead_id = $1 \
                     ORDER BY m.created_at DESC, m.id DESC LIMIT $2"
                );
                sqlx::query_as(&sql)
                    .bind(lead_id)
                    .bind(limit + 1)
                    .fetch_all(&mut *self.tx)
                    .await?
            }
            Some(cursor) => {
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM public.whatsapp_messages m \
                     WHERE m.lead_id = $1 AND (m.created_at, m.id) < ($2, $3) \
                     ORDER BY m.created_at DESC, m.id DESC LIMIT $4"
                );
                sqlx::query_as(&sql)
                    .bind(lead_id)
                    .bind(cursor.created_at)
                    .bind(cursor.id)
                    .bind(limit + 1)
                    .fetch_all(&mut *self.tx)
                    .await?
            }
        };
        let more = messages.len() as i64 > limit;
        messages.truncate(limit as usize);
        let next_cursor = if more {
            messages.last().map(|m| Cursor::of(m).encode())
        } else {
            None
        };
        Ok(MessagePage {
            messages,
            next_cursor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_invalid() {
        let cursor = Cursor {
            created_at: DateTime::from_timestamp_micros(1_765_000_000_123_456).unwrap(),
            id: Uuid::new_v4(),
        };
        let text = cursor.encode();
        assert_eq!(text.len(), 48);
        assert_eq!(Cursor::decode(&text).ok(), Some(cursor));
        for bad in [
            "",
            "zz",
            &"g".repeat(48),
            &"0".repeat(47),
            "é".repeat(24).as_str(),
        ] {
            assert!(
                matches!(
                    Cursor::decode(bad),
                    Err(StoreError::Invalid {
                        field: "before",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
    }
}
