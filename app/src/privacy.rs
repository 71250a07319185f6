//! Server functions for privacy and consent (the Settings page and the lead panel), the data they
//! exchange, and the account-deletion action shared with the REST API. Thin like `api`: check the
//! user, call the store, map errors. Exports are plain links to the REST routes (`/api/export`,
//! `/api/leads/{id}/export`): a browser download streams, a server function would not.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::api::FormError;

/// What a user types to confirm deleting their account (UI and `POST /api/me/delete`).
pub const DELETE_ACCOUNT_PHRASE: &str = "delete my account";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrivacyView {
    /// Comma-separated, as the form shows them.
    pub keywords: String,
    pub reply: String,
    pub messages_days: Option<i32>,
    pub media_days: Option<i32>,
    pub closed_leads_days: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditView {
    pub id: i64,
    pub at: String,
    pub action: String,
    /// A sentence for people.
    pub summary: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConsentEventView {
    pub kind: String,
    pub source: String,
    pub evidence: String,
    pub at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConsentView {
    /// `opted_in`, `opted_out` or `unknown`.
    pub state: String,
    pub events: Vec<ConsentEventView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadConsentState {
    pub lead_id: String,
    pub state: String,
}

/// What an audit entry says, in words.
pub fn audit_summary(action: &str, details: &serde_json::Value) -> String {
    let n = |key: &str| {
        details
            .get(key)
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0)
    };
    let name = details
        .get("account_name")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("a WhatsApp account");
    let days = |key: &str| match details.get(key).and_then(serde_json::Value::as_i64) {
        Some(d) => format!("{d} days"),
        None => "kept".to_owned(),
    };
    match action {
        "sign_in" => "Signed in".to_owned(),
        "whatsapp_linked" => format!("Linked {name}"),
        "whatsapp_unlinked" => format!("Unlinked {name}"),
        "whatsapp_removed" => format!("Removed {name}"),
        "key_rotated" => "Session encryption key rotated".to_owned(),
        "export" => "Exported all data".to_owned(),
        "lead_export" => "Exported a lead's data".to_owned(),
        "lead_erased" => format!("Erased a lead and {} messages", n("messages")),
        "opt_out" => format!(
            "A lead opted out ({})",
            details
                .get("source")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("recorded")
        ),
        "opt_in" => "A lead opted in".to_owned(),
        "retention_changed" => format!(
            "Retention set: messages {}, media {}, closed leads {}",
            days("messages_days"),
            days("media_days"),
            days("closed_leads_days")
        ),
        "opt_out_settings_changed" => format!(
            "Opt-out settings changed: {} keywords, automatic reply {}",
            n("keywords"),
            if details
                .get("automatic_reply")
                .and_then(serde_json::Value::as_bool)
                == Some(true)
            {
                "on"
            } else {
                "off"
            }
        ),
        "retention_purge" => format!(
            "Retention purge deleted {} messages and {} closed leads",
            n("messages"),
            n("closed_leads")
        ),
        other => other.replace('_', " "),
    }
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;

    pub fn privacy(s: store::PrivacySettings) -> PrivacyView {
        PrivacyView {
            keywords: s.opt_out_keywords.join(", "),
            reply: s.opt_out_reply.unwrap_or_default(),
            messages_days: s.retention_messages_days,
            media_days: s.retention_media_days,
            closed_leads_days: s.retention_closed_leads_days,
        }
    }

    pub fn event(e: store::ConsentEvent) -> ConsentEventView {
        ConsentEventView {
            kind: e.kind.as_str().to_owned(),
            source: e.source.as_str().to_owned(),
            evidence: e.evidence,
            at: crate::api::convert::utc_minute(e.created_at),
        }
    }

    /// A retention field of the form: blank = keep, else whole days.
    pub fn days(field: &'static str, raw: &str) -> Result<Option<i32>, FormError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        raw.parse::<i32>()
            .map(Some)
            .map_err(|_| FormError::Invalid {
                field: field.to_owned(),
                message: "must be a whole number of days, or empty to keep everything".to_owned(),
            })
    }

    pub async fn user() -> Result<(crate::ctx::AppContext, uuid::Uuid), ServerFnError> {
        let ctx = crate::ctx::app_context()?;
        let user = crate::ctx::require_user()?;
        Ok((ctx, user.id))
    }
}

/// Logs every WhatsApp account of the user out (best effort: an unreachable WhatsApp must not
/// keep someone's data), then deletes the user and all their data (`store::Store::delete_user`).
#[cfg(feature = "ssr")]
pub async fn delete_account(
    store: &store::Store,
    sessions: &sessions::Sessions,
    user_id: uuid::Uuid,
) -> Result<store::AccountDeletionReport, store::StoreError> {
    let accounts = {
        let mut tx = store.as_user(user_id).await?;
        let list = tx.whatsapp_sessions_list().await?;
        tx.commit().await?;
        list
    };
    for account in accounts {
        if let Err(e) = sessions.remove(user_id, account.id).await {
            leptos::logging::warn!("account deletion: logging out {} failed: {e}", account.id);
        }
    }
    store.delete_user(user_id).await
}

#[server(prefix = "/fn", endpoint = "privacy/settings")]
pub async fn privacy_settings() -> Result<PrivacyView, ServerFnError> {
    let mut tx = crate::api::convert::user_tx().await?;
    let settings = tx
        .privacy_settings()
        .await
        .map_err(crate::api::convert::internal)?;
    tx.commit().await.map_err(crate::api::convert::internal)?;
    Ok(ssr::privacy(settings))
}

#[server(prefix = "/fn", endpoint = "privacy/save")]
pub async fn save_privacy(
    #[server(default)] keywords: String,
    #[server(default)] reply: String,
    #[server(default)] messages_days: String,
    #[server(default)] media_days: String,
    #[server(default)] closed_leads_days: String,
) -> Result<PrivacyView, FormError> {
    use crate::api::convert;
    let result: Result<PrivacyView, FormError> = async {
        let input = store::PrivacySettingsInput {
            opt_out_keywords: keywords.split([',', '\n']).map(str::to_owned).collect(),
            opt_out_reply: convert::optional(reply),
            retention_messages_days: ssr::days("messages_days", &messages_days)?,
            retention_media_days: ssr::days("media_days", &media_days)?,
            retention_closed_leads_days: ssr::days("closed_leads_days", &closed_leads_days)?,
        };
        let mut tx = convert::form_tx().await?;
        let saved = tx.privacy_settings_save(input).await.map_err(|e| match e {
            // The store names the input's fields; the form's are shorter.
            store::StoreError::Invalid { field, message } => FormError::Invalid {
                field: match field {
                    "opt_out_keywords" => "keywords",
                    "opt_out_reply" => "reply",
                    "retention_messages_days" => "messages_days",
                    "retention_media_days" => "media_days",
                    "retention_closed_leads_days" => "closed_leads_days",
                    other => other,
                }
                .to_owned(),
                message,
            },
            other => convert::refusal(other),
        })?;
        tx.commit().await.map_err(convert::refusal)?;
        Ok(ssr::privacy(saved))
    }
    .await;
    convert::with_status(result)
}

#[server(prefix = "/fn", endpoint = "privacy/audit")]
pub async fn audit_log() -> Result<Vec<AuditView>, ServerFnError> {
    let mut tx = crate::api::convert::user_tx().await?;
    let entries = tx
        .audit_log(None, 50)
        .await
        .map_err(crate::api::convert::internal)?;
    tx.commit().await.map_err(crate::api::convert::internal)?;
    Ok(entries
        .into_iter()
        .map(|e| AuditView {
            id: e.id,
            at: crate::api::convert::utc_minute(e.created_at),
            summary: audit_summary(&e.action, &e.details),
            action: e.action,
        })
        .collect())
}

#[server(prefix = "/fn", endpoint = "leads/consents")]
pub async fn lead_consents() -> Result<Vec<LeadConsentState>, ServerFnError> {
    let mut tx = crate::api::convert::user_tx().await?;
    let states = tx
        .consent_states()
        .await
        .map_err(crate::api::convert::internal)?;
    tx.commit().await.map_err(crate::api::convert::internal)?;
    Ok(states
        .into_iter()
        .map(|(id, state)| LeadConsentState {
            lead_id: id.to_string(),
            state: state.as_str().to_owned(),
        })
        .collect())
}

#[server(prefix = "/fn", endpoint = "leads/consent")]
pub async fn lead_consent(#[server(default)] id: String) -> Result<ConsentView, ServerFnError> {
    let id = crate::api::convert::parse_id(&id)?;
    crate::ctx::check_embed_lead(id)?;
    let mut tx = crate::api::convert::user_tx().await?;
    let consent = tx
        .consent_of(id)
        .await
        .map_err(crate::api::convert::internal)?;
    tx.commit().await.map_err(crate::api::convert::internal)?;
    Ok(ConsentView {
        state: consent.state.as_str().to_owned(),
        events: consent.events.into_iter().map(ssr::event).collect(),
    })
}

#[server(prefix = "/fn", endpoint = "leads/record-consent")]
pub async fn record_consent(
    #[server(default)] id: String,
    #[server(default)] kind: String,
    #[server(default)] source: String,
    #[server(default)] evidence: String,
) -> Result<ConsentEventView, FormError> {
    use crate::api::convert;
    let result: Result<ConsentEventView, FormError> = async {
        let id = uuid::Uuid::parse_str(id.trim())
            .map_err(|_| FormError::Failed("That lead no longer exists.".into()))?;
        let mut tx = convert::form_tx().await?;
        let event = tx
            .consent_record(
                id,
                store::NewConsent {
                    kind,
                    source,
                    evidence,
                },
            )
            .await
            .map_err(convert::refusal)?;
        tx.commit().await.map_err(convert::refusal)?;
        Ok(ssr::event(event))
    }
    .await;
    convert::with_status(result)
}

#[server(prefix = "/fn", endpoint = "leads/erase")]
pub async fn erase_lead(#[server(default)] id: String) -> Result<i64, ServerFnError> {
    let id = crate::api::convert::parse_id(&id)?;
    let (ctx, user) = ssr::user().await.inspect_err(|_| {
        crate::api::convert::set_status(http::StatusCode::UNAUTHORIZED);
    })?;
    let report = ctx
        .store
        .erase_lead(user, id)
        .await
        .map_err(crate::api::convert::internal)?;
    Ok(report.messages)
}

#[server(prefix = "/fn", endpoint = "account/delete")]
pub async fn delete_my_account(#[server(default)] confirm: String) -> Result<(), FormError> {
    use crate::api::convert;
    let result: Result<(), FormError> = async {
        if confirm.trim() != DELETE_ACCOUNT_PHRASE {
            return Err(FormError::Invalid {
                field: "confirm".into(),
                message: format!("type \"{DELETE_ACCOUNT_PHRASE}\" to confirm"),
            });
        }
        let (ctx, user) = ssr::user().await.map_err(|_| {
            FormError::Failed("Your session has ended. Sign in again to continue.".into())
        })?;
        delete_account(&ctx.store, &ctx.sessions, user)
            .await
            .map_err(convert::refusal)?;
        leptos_axum::redirect("/signup?deleted=1");
        Ok(())
    }
    .await;
    convert::with_status(result)
}

#[cfg(test)]
mod tests {
    use super::audit_summary;
    use serde_json::json;

    #[test]
    fn audit_entries_read_as_sentences() {
        assert_eq!(audit_summary("sign_in", &json!({})), "Signed in");
        assert_eq!(
            audit_summary("lead_erased", &json!({"messages": 12})),
            "Erased a lead and 12 messages"
        );
        assert_eq!(
            audit_summary(
                "retention_changed",
                &json!({"messages_days": 30, "media_days": null})
            ),
            "Retention set: messages 30 days, media kept, closed leads kept"
        );
        assert_eq!(audit_summary("something_new", &json!({})), "something new");
    }
}
