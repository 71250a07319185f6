//! Conversations (one per lead) and their messages, paged newest first with an opaque keyset
//! cursor over `(created_at, id)`, as seen by the user of a [`UserTx`] (RLS-scoped).

use crate::messages::MESSAGE_COLUMNS;
use crate::records::{ConversationSummary, Message, MessagePage};

/// One page of [`UserTx::conversations_page`].
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ConversationPage {
    pub conversations: Vec<ConversationSummary>,
    /// Pass as `before` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}
use crate::{StoreError, UserTx};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Conversations per page when the caller does not say.
pub const CONVERSATIONS_PAGE_DEFAULT: i64 = 50;
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
pub(crate) struct Cursor {
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

    pub(crate) fn encode(self) -> String {
        let mut bytes = Vec::with_capacity(24);
        bytes.extend_from_slice(&self.created_at.timestamp_micros().to_be_bytes());
        bytes.extend_from_slice(self.id.as_bytes());
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(crate) fn decode(input: &str) -> Result<Cursor, StoreError> {
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
    /// The first page of [`UserTx::conversations_page`] (at most
    /// [`CONVERSATIONS_PAGE_DEFAULT`] conversations).
    pub async fn conversations(&mut self) -> Result<Vec<ConversationSummary>, StoreError> {
        Ok(self
            .conversations_page(None, CONVERSATIONS_PAGE_DEFAULT)
            .await?
            .conversations)
    }

    /// One entry per lead that has messages, with its latest message (whichever account carried
    /// it) and how many inbound messages are not read yet; the most recent conversation first,
    /// `limit` (clamped to 1..=200) at a time. `before` is the previous page's `next_cursor`.
    pub async fn conversations_page(
        &mut self,
        before: Option<&str>,
        limit: i64,
    ) -> Result<ConversationPage, StoreError> {
        self.conversations_search(None, before, limit).await
    }

    /// [`UserTx::conversations_page`] limited to leads whose name or phone number contains
    /// `search` (case-insensitive; digits of a phone number match however the user typed them).
    pub async fn conversations_search(
        &mut self,
        search: Option<&str>,
        before: Option<&str>,
        limit: i64,
    ) -> Result<ConversationPage, StoreError> {
        let before = before.map(Cursor::decode).transpose()?;
        let search = search.map(str::trim).filter(|s| !s.is_empty());
        if search.is_some_and(|s| s.chars().count() > 100) {
            return Err(StoreError::invalid(
                "search",
                "is too long (at most 100 characters)",
            ));
        }
        // LIKE wildcards in the user's text are literal.
        let pattern = search.map(|s| {
            let escaped = s
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        let digits = search
            .map(|s| s.chars().filter(char::is_ascii_digit).collect::<String>())
            .filter(|d| d.len() >= 3)
            .map(|d| format!("%{d}%"));
        let limit = limit.clamp(PAGE_MIN, PAGE_MAX);
        // Per lead: one index probe for the latest message (lead_timeline_idx) and one count over
        // the partial unread index. RLS applies to both tables.
        let sql = format!(
            "SELECT l.id AS summary_lead_id, coalesce(l.name, '') AS lead_name, coalesce(l.phone, '') AS lead_phone, \
                    (SELECT count(*) FROM public.whatsapp_messages u \
                     WHERE u.lead_id = l.id AND u.direction = 'in' AND u.status = 'delivered') AS unread_count, \
                    {MESSAGE_COLUMNS} \
             FROM public.leads l \
             CROSS JOIN LATERAL ( \
                 SELECT * FROM public.whatsapp_messages x WHERE x.lead_id = l.id \
                 ORDER BY x.created_at DESC, x.id DESC LIMIT 1) m \
             WHERE ($2::timestamptz IS NULL OR (m.created_at, m.id) < ($2::timestamptz, $3::uuid)) \
               AND ($4::text IS NULL OR l.name ILIKE $4 OR l.phone ILIKE $4 OR ($5::text IS NOT NULL AND l.phone LIKE $5)) \
             ORDER BY m.created_at DESC, m.id DESC \
             LIMIT $1"
        );
        let mut rows: Vec<SummaryRow> = sqlx::query_as(&sql)
            .bind(limit + 1)
            .bind(before.map(|c| c.created_at))
            .bind(before.map(|c| c.id))
            .bind(pattern)
            .bind(digits)
            .fetch_all(&mut *self.tx)
            .await?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| Cursor::of(&r.message).encode())
        } else {
            None
        };
        Ok(ConversationPage {
            conversations: rows
                .into_iter()
                .map(|r| ConversationSummary {
                    lead_id: r.summary_lead_id,
                    lead_name: r.lead_name,
                    phone_number: r.lead_phone,
                    account_id: r.message.account_id,
                    last_message: r.message,
                    unread_count: r.unread_count,
                })
                .collect(),
            next_cursor,
        })
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
