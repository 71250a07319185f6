//! Rows as the store returns them, and the inputs it accepts.

use crate::domain::{LeadStatus, PhoneE164};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A lead (a contact in the sales pipeline), owned by one user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Lead {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    /// E.164, e.g. `+442079460958`.
    pub phone: String,
    pub company: Option<String>,
    pub email: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: LeadStatus,
    pub source: Option<String>,
    pub campaign: Option<String>,
    /// Extra columns from a CSV import (`{"city": "Leeds"}`), usable as template variables.
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub fields: sqlx::types::Json<std::collections::BTreeMap<String, String>>,
    /// The contact's WhatsApp LID once known (`…@lid`).
    pub wa_lid: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Input for [`crate::UserTx::lead_create`]; raw user input, validated by the store. Missing JSON
/// fields default to empty, so a missing name is a validation error rather than a parse error.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(
    description = "A new lead. Every field is validated by the server: a missing or bad \
    one is a 422 naming it; a phone number the user already has is a 409."
)]
#[serde(default)]
pub struct NewLead {
    pub name: String,
    /// Human input such as `+44 20 7946 0958`; stored normalised.
    pub phone: String,
    pub company: Option<String>,
    pub email: Option<String>,
    pub status: Option<LeadStatus>,
    pub source: Option<String>,
    pub campaign: Option<String>,
}

/// Changes for [`crate::UserTx::lead_update`]. `None` keeps a field; for the optional text fields
/// `Some("")` clears it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(
    description = "Changes to a lead: a missing field is kept; an empty string clears an \
    optional text field."
)]
#[serde(default)]
pub struct LeadPatch {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub email: Option<String>,
    pub status: Option<LeadStatus>,
    pub source: Option<String>,
    pub campaign: Option<String>,
}

/// A message template with `{{variables}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Template {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub content: String,
    #[sqlx(json)]
    pub variables: Vec<String>,
    pub category: String,
    pub created_at: DateTime<Utc>,
}

/// Input for [`crate::UserTx::template_create`]. Variables are taken from `{{…}}` in the content
/// when `variables` is empty.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(
    description = "A template's name, content and category. Variables are taken from \
    `{{…}}` in the content when `variables` is empty."
)]
#[serde(default)]
pub struct NewTemplate {
    pub name: String,
    pub content: String,
    pub variables: Vec<String>,
    pub category: Option<String>,
}

/// A linked (or linking) WhatsApp account. The encrypted credentials are not part of this view (the
/// user cannot read them at all); the connection state is written by the engine only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct WhatsappSession {
    pub id: Uuid,
    pub user_id: Uuid,
    /// E.164 of the linked phone, once linked.
    pub phone_number: Option<String>,
    pub session_name: String,
    /// `active`, `inactive`, `connecting`, `expired` or `error` (see [`crate::SessionStatus`]).
    pub status: Option<String>,
    /// Machine-readable cause of `status`, e.g. `qr_timeout`, `logged_out`, `replaced`.
    pub status_reason: Option<String>,
    /// The same cause as a sentence for people.
    pub status_message: Option<String>,
    /// The account's own WhatsApp JID and LID, and its WhatsApp display name.
    pub jid: Option<String>,
    pub lid: Option<String>,
    pub push_name: Option<String>,
    /// When the current link was made; `None` when not linked.
    pub linked_at: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A stored WhatsApp message as the REST API shows it: `{id, account_id, lead_id, message_id,
/// direction, type, text, status, status_reason, created_at, phone_number}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Message {
    pub id: Uuid,
    /// The WhatsApp account (`whatsapp_sessions.id`) it went through.
    pub account_id: Uuid,
    pub lead_id: Option<Uuid>,
    /// WhatsApp's own id of the message (`3EB0…` for ours).
    pub message_id: Option<String>,
    /// `in` or `out`.
    pub direction: String,
    /// `text`, `image`, `audio`, `video` or `document`.
    #[serde(rename = "type")]
    #[sqlx(rename = "type")]
    pub r#type: String,
    /// The text; `None` for media and for a placeholder still waiting to be decrypted.
    pub text: Option<String>,
    /// `queued`, `sent`, `delivered`, `read` or `failed` (the values of `MessageStatus`).
    pub status: String,
    /// Why it failed (or `undecryptable` for a placeholder).
    pub status_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The contact's E.164 phone number, when known.
    pub phone_number: Option<String>,
    /// The file of a media message (`type` other than `text`); its bytes are served by
    /// `GET /api/media/{id}` once `state` is `stored`.
    #[sqlx(json(nullable))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<MessageMedia>,
}

/// What a media message carries, as the REST API shows it (never the key or WhatsApp's URLs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessageMedia {
    /// `image`, `audio`, `video`, `document` or `sticker`.
    pub kind: String,
    pub mimetype: String,
    pub file_name: Option<String>,
    /// Bytes of the file.
    pub file_length: i64,
    pub width: Option<i32>,
    pub height: Option<i32>,
    /// Duration of audio or video.
    pub seconds: Option<i32>,
    /// A voice note (push-to-talk audio).
    pub ptt: bool,
    /// Whether `GET /api/media/{id}/thumbnail` has a preview.
    pub has_thumbnail: bool,
    /// `pending` (being downloaded), `stored` or `failed` (see `state_reason`).
    pub state: String,
    pub state_reason: Option<String>,
}

/// Input for [`crate::UserTx::message_enqueue`]: raw user input, validated by the store.
#[derive(Clone, Copy, Debug)]
pub struct NewOutgoing<'a> {
    pub session_id: Uuid,
    /// Human input such as `+44 20 7946 0958`; normalised like a lead's phone.
    pub to: &'a str,
    /// 1 to 4096 characters, not blank.
    pub text: &'a str,
    /// The `Idempotency-Key` header: the same key in the same account returns the same message.
    pub idempotency_key: Option<&'a str>,
}

/// One conversation (a lead) with its latest message, for the conversation list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConversationSummary {
    pub lead_id: Uuid,
    pub lead_name: String,
    /// The lead's E.164 phone number.
    pub phone_number: String,
    /// The account that carried the latest message.
    pub account_id: Uuid,
    pub last_message: Message,
    /// Inbound messages not read yet (status `delivered`).
    pub unread_count: i64,
}

/// One page of a conversation, newest first. `next_cursor` continues with older messages; `None`
/// on the last page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessagePage {
    pub messages: Vec<Message>,
    pub next_cursor: Option<String>,
}

/// The latest message of one chat (one phone number on one linked account).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Conversation {
    pub session_id: Uuid,
    pub phone_number: String,
    pub lead_id: Option<Uuid>,
    pub lead_name: Option<String>,
    pub direction: String,
    pub message_type: String,
    pub content: serde_json::Value,
    pub status: String,
    pub last_message_at: DateTime<Utc>,
}

impl NewLead {
    /// Convenience for tests and seed data.
    pub fn new(name: impl Into<String>, phone: impl Into<String>) -> Self {
        NewLead {
            name: name.into(),
            phone: phone.into(),
            ..NewLead::default()
        }
    }
}

/// A validated lead, ready to bind.
pub(crate) struct ValidLead {
    pub name: String,
    pub phone: PhoneE164,
    pub company: Option<String>,
    pub email: Option<String>,
    pub status: LeadStatus,
    pub source: Option<String>,
    pub campaign: Option<String>,
}
