//! Rows as the store returns them, and the inputs it accepts.

use crate::domain::{LeadStatus, PhoneE164};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A lead (a contact in the sales pipeline), owned by one user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
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
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Input for [`crate::UserTx::lead_create`]; raw user input, validated by the store. Missing JSON
/// fields default to empty, so a missing name is a validation error rather than a parse error.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
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
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NewTemplate {
    pub name: String,
    pub content: String,
    pub variables: Vec<String>,
    pub category: Option<String>,
}

/// A linked (or linking) WhatsApp account. The encrypted credentials are not part of this view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct WhatsappSession {
    pub id: Uuid,
    pub user_id: Uuid,
    pub phone_number: Option<String>,
    pub session_name: String,
    pub status: Option<String>,
    pub last_seen: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
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
