//! Server functions of the WhatsApp pages (accounts and chats), and the data they exchange with
//! the browser. Thin, like the rest: check the user, call the store or the sessions handle (the
//! same one the REST API uses), map errors to words and statuses.
//!
//! The pages also receive the same data as events on the browser socket (`crate::live`); the
//! `*Payload` types below read those events (the store's JSON) into the same views.

pub mod accounts;
pub mod campaigns;
pub mod chats;

use serde::{Deserialize, Serialize};

/// A moment as the store writes it (RFC 3339, UTC). Kept as text: formatted for people by
/// [`crate::time`], the same way on the server and in the browser.
pub type Instant = String;

/// An account as the store shows it (in events and server function answers).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountPayload {
    pub id: String,
    pub session_name: String,
    pub phone_number: Option<String>,
    pub status: Option<String>,
    pub status_reason: Option<String>,
    pub status_message: Option<String>,
    pub linked_at: Option<Instant>,
    pub last_seen: Option<Instant>,
}

/// A message as the store shows it (in events and server function answers).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessagePayload {
    pub id: String,
    pub account_id: String,
    pub lead_id: Option<String>,
    pub message_id: Option<String>,
    pub direction: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
    pub status: String,
    pub status_reason: Option<String>,
    pub created_at: Instant,
    pub phone_number: Option<String>,
    /// The file of a media message.
    #[serde(default)]
    pub media: Option<MediaPayload>,
}

/// A media message's file as the store shows it (`GET /api/media/{message id}` serves it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MediaPayload {
    /// `image`, `audio`, `video`, `document` or `sticker`.
    pub kind: String,
    pub mimetype: String,
    pub file_name: Option<String>,
    pub file_length: i64,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub seconds: Option<i32>,
    pub ptt: bool,
    pub has_thumbnail: bool,
    /// `pending`, `stored` or `failed`.
    pub state: String,
    pub state_reason: Option<String>,
}

impl MessagePayload {
    /// What a list or a notification says for this message: its text, else what it carries.
    pub fn summary(&self) -> String {
        if let Some(text) = self.text.as_deref().filter(|t| !t.trim().is_empty()) {
            return text.to_owned();
        }
        if let Some(m) = &self.media {
            return match m.kind.as_str() {
                "image" => "Photo".to_owned(),
                "sticker" => "Sticker".to_owned(),
                "audio" if m.ptt => "Voice note".to_owned(),
                "audio" => "Audio".to_owned(),
                "video" => "Video".to_owned(),
                _ => format!("Document: {}", m.file_name.as_deref().unwrap_or("file")),
            };
        }
        if self.status_reason.as_deref() == Some("undecryptable") {
            "Waiting for this message…".to_owned()
        } else {
            format!("[{}]", self.kind)
        }
    }
}

#[cfg(feature = "ssr")]
pub(crate) mod server {
    //! Conversions and error mapping shared by the server functions.

    use leptos::prelude::*;

    pub(crate) use crate::api::convert::{internal, parse_id, set_status, user_tx};

    pub fn instant(t: chrono::DateTime<chrono::Utc>) -> String {
        t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    pub fn account(s: store::WhatsappSession) -> super::AccountPayload {
        super::AccountPayload {
            id: s.id.to_string(),
            session_name: s.session_name,
            phone_number: s.phone_number,
            status: s.status,
            status_reason: s.status_reason,
            status_message: s.status_message,
            linked_at: s.linked_at.map(instant),
            last_seen: s.last_seen.map(instant),
        }
    }

    pub fn message(m: store::Message) -> super::MessagePayload {
        super::MessagePayload {
            id: m.id.to_string(),
            account_id: m.account_id.to_string(),
            lead_id: m.lead_id.map(|l| l.to_string()),
            message_id: m.message_id,
            direction: m.direction,
            kind: m.r#type,
            text: m.text,
            status: m.status,
            status_reason: m.status_reason,
            created_at: instant(m.created_at),
            phone_number: m.phone_number,
            media: m.media.map(|x| super::MediaPayload {
                kind: x.kind,
                mimetype: x.mimetype,
                file_name: x.file_name,
                file_length: x.file_length,
                width: x.width,
                height: x.height,
                seconds: x.seconds,
                ptt: x.ptt,
                has_thumbnail: x.has_thumbnail,
                state: x.state,
                state_reason: x.state_reason,
            }),
        }
    }

    /// A sessions error as the page shows it, with the status an API caller expects.
    pub fn sessions(err: sessions::SessionsError) -> ServerFnError {
        use sessions::CommandError as C;
        use sessions::SessionsError as E;
        let (status, message) = match &err {
            E::NotFound => (http::StatusCode::NOT_FOUND, "not found".to_owned()),
            E::Command(C::NotLinked) => (
                http::StatusCode::CONFLICT,
                "This account is not linked yet.".to_owned(),
            ),
            E::Command(C::AlreadyLinked) => (
                http::StatusCode::CONFLICT,
                "This account is already linked.".to_owned(),
            ),
            E::HeldElsewhere => (
                http::StatusCode::CONFLICT,
                "Another server of this service connects this account right now; please try again in a moment.".to_owned(),
            ),
            E::Command(C::Invalid(m)) => (
                http::StatusCode::UNPROCESSABLE_ENTITY,
                m.split_once(": ").map_or(m.clone(), |(_, m)| m.to_owned()),
            ),
            E::Command(C::Unavailable(m)) => (
                http::StatusCode::SERVICE_UNAVAILABLE,
                format!("WhatsApp is not reachable right now: {m}"),
            ),
            E::Command(C::Stopped) | E::Timeout => (
                http::StatusCode::SERVICE_UNAVAILABLE,
                "WhatsApp did not answer in time; please try again.".to_owned(),
            ),
            E::Store(_) => {
                leptos::logging::error!("sessions failed: {err}");
                (
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong; please try again.".to_owned(),
                )
            }
        };
        set_status(status);
        ServerFnError::new(message)
    }

    /// The signed-in user and the app context.
    pub fn context() -> Result<(crate::ctx::AppContext, uuid::Uuid), ServerFnError> {
        let ctx = crate::ctx::app_context()?;
        let user = crate::ctx::require_user().inspect_err(|_| {
            set_status(http::StatusCode::UNAUTHORIZED);
        })?;
        Ok((ctx, user.id))
    }

    /// The user's event-log cursor, read *before* a page's data: events after it may already
    /// show in the data (the page applies them idempotently), none can fall in between.
    pub async fn cursor(user_id: uuid::Uuid) -> Result<i64, ServerFnError> {
        let ctx = crate::ctx::app_context()?;
        let mut tx = ctx.store.as_user(user_id).await.map_err(internal)?;
        let cursor = tx.latest_event_id().await.map_err(internal)?;
        tx.commit().await.map_err(internal)?;
        Ok(cursor)
    }
}
