//! Messages as the user of a [`UserTx`] sees them, and the outbox: `message_enqueue` stores an
//! outgoing text as `queued`; the account's engine task sends it and moves its status on.

use crate::domain::{PhoneE164, multiline_text};
use crate::events::{EventKind, NewEvent};
use crate::lead_link::lead_for_phone;
use crate::records::{Message, NewOutgoing};
use crate::{StoreError, UserTx};
use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;
use uuid::Uuid;

/// The columns of [`Message`], over `public.whatsapp_messages m`.
pub(crate) const MESSAGE_COLUMNS: &str = "m.id, m.session_id AS account_id, m.lead_id, m.message_id, \
     m.direction, m.message_type AS \"type\", m.content->>'text' AS text, m.status, m.status_reason, \
     m.created_at, m.phone_number, \
     (SELECT jsonb_build_object('kind', x.kind, 'mimetype', x.mimetype, 'file_name', x.file_name, \
        'file_length', x.file_length, 'width', x.width, 'height', x.height, 'seconds', x.seconds, \
        'ptt', x.ptt, 'has_thumbnail', x.thumbnail IS NOT NULL, 'state', x.state, \
        'state_reason', x.state_reason) \
      FROM public.whatsapp_media x WHERE x.message_row_id = m.id) AS media";

/// Messages by row id, as the API shows them (for the event log), oldest first.
pub(crate) async fn messages_by_ids(
    conn: &mut sqlx::PgConnection,
    ids: &[Uuid],
) -> Result<Vec<Message>, StoreError> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM public.whatsapp_messages m WHERE m.id = ANY($1) \
         ORDER BY m.created_at, m.id"
    );
    Ok(sqlx::query_as(&sql).bind(ids).fetch_all(conn).await?)
}

/// WhatsApp's own limit is higher; this is the product's (and the REST API's) limit.
pub(crate) const TEXT_MAX: usize = 4096;
const IDEMPOTENCY_KEY_MAX: usize = 255;

/// A WhatsApp message id in the form WhatsApp Web uses: `3EB0` and 18 upper-case hex digits
/// (72 random bits). Generated before the insert, so a crash between insert and send re-sends the
/// same id and WhatsApp (and the contact's phone) see one message.
pub(crate) fn new_message_id() -> String {
    let mut bytes = [0u8; 9];
    OsRng.fill_bytes(&mut bytes);
    let mut id = String::with_capacity(22);
    id.push_str("3EB0");
    for b in bytes {
        id.push_str(&format!("{b:02X}"));
    }
    id
}

/// What [`UserTx::outgoing_insert`] stores.
pub(crate) struct OutgoingInsert<'a> {
    pub session_id: Uuid,
    pub to: &'a str,
    pub text: &'a str,
    /// A media caption may be empty; a text may not.
    pub allow_empty: bool,
    pub message_type: &'static str,
    pub idempotency_key: Option<&'a str>,
    /// The file of a media message (part of what makes a repeated request the same).
    pub file_sha256: Option<&'a str>,
}

fn idempotency_key(input: &str) -> Result<String, StoreError> {
    let field = "idempotency_key";
    if input.is_empty() || input.chars().count() > IDEMPOTENCY_KEY_MAX {
        return Err(StoreError::invalid(field, "must be 1 to 255 characters"));
    }
    if input.chars().any(char::is_control) {
        return Err(StoreError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(input.to_owned())
}

impl UserTx {
    /// One message; [`StoreError::NotFound`] if it does not exist or is someone else's.
    pub async fn message_get(&mut self, id: Uuid) -> Result<Message, StoreError> {
        let sql =
            format!("SELECT {MESSAGE_COLUMNS} FROM public.whatsapp_messages m WHERE m.id = $1");
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .fetch_one(&mut *self.tx)
            .await?)
    }

    /// Puts a text message in the account's outbox (status `queued`, direction `out`), linked to
    /// the user's lead with that phone number (created, named after the number, when missing).
    /// Returns the message and whether it was created now.
    ///
    /// Refusals: bad phone number or text → [`StoreError::Invalid`] (`to`, `text`); the account is
    /// not this user's → [`StoreError::NotFound`]; it is not linked → [`StoreError::NotLinked`].
    /// With an `idempotency_key` already used in this account, the earlier message is returned
    /// (`created = false`) when `to` and `text` are the same, and otherwise it is
    /// [`StoreError::Conflict`]. Concurrent requests with one key are settled by a unique index.
    pub async fn message_enqueue(
        &mut self,
        new: NewOutgoing<'_>,
    ) -> Result<(Message, bool), StoreError> {
        let (message, created) = self
            .outgoing_insert(OutgoingInsert {
                session_id: new.session_id,
                to: new.to,
                text: new.text,
                allow_empty: false,
                message_type: "text",
                idempotency_key: new.idempotency_key,
                file_sha256: None,
            })
            .await?;
        if created {
            self.append_events(&[message_event(EventKind::Message, &message)?])
                .await?;
        }
        Ok((message, created))
    }

    /// The outbox insert shared by texts and media (the caller logs the event once the message is
    /// complete). See [`UserTx::message_enqueue`] for the refusals and idempotency.
    pub(crate) async fn outgoing_insert(
        &mut self,
        new: OutgoingInsert<'_>,
    ) -> Result<(Message, bool), StoreError> {
        let phone = PhoneE164::parse(new.to).map_err(|err| match err {
            StoreError::Invalid { message, .. } => StoreError::Invalid {
                field: "to",
                message,
            },
            other => other,
        })?;
        let text = if new.allow_empty && new.text.trim().is_empty() {
            String::new()
        } else {
            let field = if new.allow_empty { "caption" } else { "text" };
            multiline_text(field, new.text, TEXT_MAX)?
        };
        let key = new.idempotency_key.map(idempotency_key).transpose()?;

        let visible: Option<Uuid> =
            sqlx::query_scalar("SELECT id FROM public.whatsapp_sessions WHERE id = $1")
                .bind(new.session_id)
                .fetch_optional(&mut *self.tx)
                .await?;
        if visible.is_none() {
            return Err(StoreError::NotFound);
        }
        if let Some(key) = &key
            && let Some(earlier) = self.keyed_message(new.session_id, key).await?
        {
            return self
                .same_request(earlier, &phone, &text, new.file_sha256)
                .await;
        }

        let (lead_id, _) =
            lead_for_phone(&mut self.tx, self.user_id, &phone, phone.as_str()).await?;
        let sql = format!(
            "INSERT INTO public.whatsapp_messages AS m \
               (session_id, lead_id, message_id, phone_number, direction, message_type, content, status, idempotency_key) \
             VALUES ($1, $2, $3, $4, 'out', $7, jsonb_build_object('text', $5::text), 'queued', $6) \
             ON CONFLICT (session_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
             RETURNING {MESSAGE_COLUMNS}"
        );
        let inserted: Option<Message> = sqlx::query_as(&sql)
            .bind(new.session_id)
            .bind(lead_id)
            .bind(new_message_id())
            .bind(phone.as_str())
            .bind(&text)
            .bind(&key)
            .bind(new.message_type)
            .fetch_optional(&mut *self.tx)
            .await?;
        match (inserted, key) {
            (Some(message), _) => Ok((message, true)),
            // Lost the race to a concurrent request with the same key, which has committed.
            (None, Some(key)) => {
                let earlier = self
                    .keyed_message(new.session_id, &key)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                self.same_request(earlier, &phone, &text, new.file_sha256)
                    .await
            }
            (None, None) => Err(StoreError::NotFound),
        }
    }

    /// The message an earlier request with this `Idempotency-Key` created in this account, when
    /// it was the same request (number, text, file); `None` when the key is new; a different
    /// request under a used key is [`StoreError::Conflict`]. Lets a media upload be skipped
    /// when it is a repeat.
    pub async fn outgoing_repeat(
        &mut self,
        session_id: Uuid,
        key: &str,
        to: &str,
        text: &str,
        file_sha256: Option<&str>,
    ) -> Result<Option<Message>, StoreError> {
        let key = idempotency_key(key)?;
        let Some(earlier) = self.keyed_message(session_id, &key).await? else {
            return Ok(None);
        };
        let phone = PhoneE164::parse(to)?;
        let text = if text.trim().is_empty() { "" } else { text };
        self.same_request(earlier, &phone, text, file_sha256)
            .await
            .map(|(m, _)| Some(m))
    }

    /// A repeated request must be the same request: same number, text and (for media) file.
    async fn same_request(
        &mut self,
        earlier: Message,
        phone: &PhoneE164,
        text: &str,
        file_sha256: Option<&str>,
    ) -> Result<(Message, bool), StoreError> {
        let earlier_file: Option<String> = sqlx::query_scalar(
            "SELECT sha256 FROM public.whatsapp_media WHERE message_row_id = $1",
        )
        .bind(earlier.id)
        .fetch_optional(&mut *self.tx)
        .await?
        .flatten();
        if earlier.phone_number.as_deref() == Some(phone.as_str())
            && earlier.text.as_deref().unwrap_or("") == text
            && earlier_file.as_deref() == file_sha256
        {
            Ok((earlier, false))
        } else {
            Err(StoreError::Conflict {
                field: "idempotency_key",
                message: "Idempotency-Key reused with a different request",
            })
        }
    }

    async fn keyed_message(
        &mut self,
        session_id: Uuid,
        key: &str,
    ) -> Result<Option<Message>, StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM public.whatsapp_messages m \
             WHERE m.session_id = $1 AND m.idempotency_key = $2"
        );
        Ok(sqlx::query_as(&sql)
            .bind(session_id)
            .bind(key)
            .fetch_optional(&mut *self.tx)
            .await?)
    }
}

/// The event log entry for a message (as the API shows it).
pub(crate) fn message_event(kind: EventKind, message: &Message) -> Result<NewEvent, StoreError> {
    Ok(NewEvent {
        account_id: Some(message.account_id),
        kind,
        payload: serde_json::to_value(message)
            .map_err(|_| StoreError::invalid("message", "cannot be shown as JSON"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_look_like_whatsapp_webs() {
        let id = new_message_id();
        assert_eq!(id.len(), 22, "{id}");
        assert!(id.starts_with("3EB0"), "{id}");
        assert!(
            id[4..].chars().all(|c| matches!(c, '0'..='9' | 'A'..='F')),
            "{id}"
        );
        assert_ne!(new_message_id(), id);
    }

    #[test]
    fn idempotency_keys_are_checked() {
        assert!(idempotency_key("order-42").is_ok());
        assert!(idempotency_key("").is_err());
        assert!(idempotency_key(&"k".repeat(256)).is_err());
        assert!(idempotency_key("a\nb").is_err());
    }
}
