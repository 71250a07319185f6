//! The chat pages' server functions: conversations (with search), a thread and its older pages,
//! sending (idempotent per client key), retry, mark read, typing, and following a contact's
//! presence.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::MessagePayload;

/// One conversation in the list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversationItem {
    pub lead_id: String,
    pub name: String,
    pub phone: String,
    pub last: MessagePayload,
    pub unread: i64,
}

/// An account the user can send from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountChoice {
    pub id: String,
    pub name: String,
    pub phone: Option<String>,
    pub status: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversationsView {
    pub items: Vec<ConversationItem>,
    /// Pass as `before` for older conversations.
    pub next: Option<String>,
    pub accounts: Vec<AccountChoice>,
    pub cursor: i64,
}

/// The lead beside a thread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadCard {
    pub id: String,
    pub name: String,
    pub phone: String,
    pub company: Option<String>,
    pub email: Option<String>,
    pub status: String,
    pub source: Option<String>,
    pub campaign: Option<String>,
    /// Imported columns (template variables).
    #[serde(default)]
    pub fields: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThreadView {
    pub lead: LeadCard,
    /// Oldest first (the order they are shown in).
    pub messages: Vec<MessagePayload>,
    /// Pass to [`older_messages`] for the page before; `None` when this is the start.
    pub before: Option<String>,
    /// The account the lead last spoke with (the composer's default).
    pub default_account: Option<String>,
    pub cursor: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OlderPage {
    /// Oldest first.
    pub messages: Vec<MessagePayload>,
    pub before: Option<String>,
}

/// Messages in the newest page of a thread.
pub const THREAD_PAGE: i64 = 50;
/// Messages per older page.
pub const OLDER_PAGE: i64 = 200;

#[cfg(feature = "ssr")]
fn lead_card(l: store::Lead) -> LeadCard {
    LeadCard {
        id: l.id.to_string(),
        name: l.name,
        phone: l.phone,
        company: l.company,
        email: l.email,
        status: l.status.as_str().to_owned(),
        source: l.source,
        campaign: l.campaign,
        fields: l.fields.0.into_iter().collect(),
    }
}

#[server(prefix = "/fn", endpoint = "chats/conversations")]
pub async fn conversations(
    #[server(default)] search: String,
    #[server(default)] before: String,
) -> Result<ConversationsView, ServerFnError> {
    use super::server::*;
    let (_, user) = context()?;
    let cursor = cursor(user).await?;
    let mut tx = user_tx().await?;
    let before = crate::api::convert::optional(before);
    let page = tx
        .conversations_search(Some(search.as_str()), before.as_deref(), 50)
        .await
        .map_err(|e| match e {
            e @ store::StoreError::Invalid { .. } => {
                set_status(http::StatusCode::UNPROCESSABLE_ENTITY);
                ServerFnError::new(crate::components::ui::sentence(&e.to_string()))
            }
            other => internal(other),
        })?;
    let accounts = tx.whatsapp_sessions_list().await.map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    Ok(ConversationsView {
        items: page
            .conversations
            .into_iter()
            .map(|c| ConversationItem {
                lead_id: c.lead_id.to_string(),
                name: c.lead_name,
                phone: c.phone_number,
                last: message(c.last_message),
                unread: c.unread_count,
            })
            .collect(),
        next: page.next_cursor,
        accounts: accounts.into_iter().map(account_choice).collect(),
        cursor,
    })
}

#[server(prefix = "/fn", endpoint = "chats/thread")]
pub async fn thread(#[server(default)] lead_id: String) -> Result<ThreadView, ServerFnError> {
    use super::server::*;
    let lead_id = parse_id(&lead_id)?;
    crate::ctx::check_embed_lead(lead_id)?;
    let (_, user) = context()?;
    let cursor = cursor(user).await?;
    let mut tx = user_tx().await?;
    let lead = tx.lead_get(lead_id).await.map_err(internal)?;
    let page = tx
        .conversation_messages(lead_id, None, THREAD_PAGE)
        .await
        .map_err(internal)?;
    let default_account = tx.lead_last_account(lead_id).await.map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    let mut messages: Vec<MessagePayload> = page.messages.into_iter().map(message).collect();
    messages.reverse();
    Ok(ThreadView {
        lead: lead_card(lead),
        messages,
        before: page.next_cursor,
        default_account: default_account.map(|a| a.to_string()),
        cursor,
    })
}

#[server(prefix = "/fn", endpoint = "chats/older")]
pub async fn older_messages(
    #[server(default)] lead_id: String,
    #[server(default)] before: String,
) -> Result<OlderPage, ServerFnError> {
    use super::server::*;
    let lead_id = parse_id(&lead_id)?;
    crate::ctx::check_embed_lead(lead_id)?;
    let mut tx = user_tx().await?;
    let page = tx
        .conversation_messages(lead_id, Some(before.as_str()), OLDER_PAGE)
        .await
        .map_err(|e| match e {
            store::StoreError::Invalid { .. } => {
                set_status(http::StatusCode::UNPROCESSABLE_ENTITY);
                ServerFnError::new("That page no longer exists; reload the conversation.")
            }
            other => internal(other),
        })?;
    tx.commit().await.map_err(internal)?;
    let mut messages: Vec<MessagePayload> = page.messages.into_iter().map(message).collect();
    messages.reverse();
    Ok(OlderPage {
        messages,
        before: page.next_cursor,
    })
}

/// The accounts the user can send from (what the conversation list also carries): the embedded
/// chat has no list, and must not read the other conversations to get them.
#[server(prefix = "/fn", endpoint = "chats/accounts")]
pub async fn send_accounts() -> Result<Vec<AccountChoice>, ServerFnError> {
    use super::server::*;
    let mut tx = user_tx().await?;
    let accounts = tx.whatsapp_sessions_list().await.map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    Ok(accounts.into_iter().map(account_choice).collect())
}

#[cfg(feature = "ssr")]
fn account_choice(a: store::WhatsappSession) -> AccountChoice {
    AccountChoice {
        id: a.id.to_string(),
        name: a.session_name,
        phone: a.phone_number,
        status: a.status.unwrap_or_else(|| "inactive".into()),
    }
}

/// Queues a text to the lead through `account_id`. `client_key` (any unique string the browser
/// picks) makes a repeated call — a retry after a network error — return the same message.
#[server(prefix = "/fn", endpoint = "chats/send")]
pub async fn send_message(
    #[server(default)] account_id: String,
    #[server(default)] lead_id: String,
    #[server(default)] text: String,
    #[server(default)] client_key: String,
) -> Result<MessagePayload, ServerFnError> {
    use super::server::*;
    let account_id = parse_id(&account_id)?;
    let lead_id = parse_id(&lead_id)?;
    crate::ctx::check_embed_lead(lead_id)?;
    let (ctx, _) = context()?;
    let mut tx = user_tx().await?;
    let lead = tx.lead_get(lead_id).await.map_err(internal)?;
    let key = crate::api::convert::optional(client_key);
    let (sent, created) = tx
        .message_enqueue(store::NewOutgoing {
            session_id: account_id,
            to: &lead.phone,
            text: &text,
            idempotency_key: key.as_deref(),
        })
        .await
        .map_err(refused)?;
    tx.commit().await.map_err(internal)?;
    if created {
        ctx.sessions.wake(account_id);
    }
    Ok(message(sent))
}

/// Sends a failed message again (a new message with the same text; the failed one stays, marked).
#[server(prefix = "/fn", endpoint = "chats/retry")]
pub async fn retry_message(#[server(default)] id: String) -> Result<MessagePayload, ServerFnError> {
    use super::server::*;
    let id = parse_id(&id)?;
    let (ctx, _) = context()?;
    let mut tx = user_tx().await?;
    let failed = tx.message_get(id).await.map_err(internal)?;
    if failed.status != "failed" || failed.direction != "out" {
        set_status(http::StatusCode::CONFLICT);
        return Err(ServerFnError::new(
            "Only a failed message can be sent again.",
        ));
    }
    let (Some(to), Some(text)) = (failed.phone_number.clone(), failed.text.clone()) else {
        set_status(http::StatusCode::CONFLICT);
        return Err(ServerFnError::new("This message cannot be sent again."));
    };
    let key = format!("retry-{}", failed.id);
    let (sent, created) = tx
        .message_enqueue(store::NewOutgoing {
            session_id: failed.account_id,
            to: &to,
            text: &text,
            idempotency_key: Some(&key),
        })
        .await
        .map_err(refused)?;
    tx.commit().await.map_err(internal)?;
    if created {
        ctx.sessions.wake(failed.account_id);
    }
    Ok(message(sent))
}

/// A refused send, in words the composer can show.
#[cfg(feature = "ssr")]
fn refused(err: store::StoreError) -> ServerFnError {
    use super::server::{internal, set_status};
    match err {
        e @ (store::StoreError::Invalid { .. }
        | store::StoreError::NotLinked
        | store::StoreError::OptedOut
        | store::StoreError::Conflict { .. }) => {
            let status = if matches!(e, store::StoreError::Invalid { .. }) {
                http::StatusCode::UNPROCESSABLE_ENTITY
            } else {
                http::StatusCode::CONFLICT
            };
            set_status(status);
            ServerFnError::new(match e {
                store::StoreError::Invalid {
                    field: "text",
                    message,
                } => {
                    format!("The message {message}.")
                }
                store::StoreError::NotLinked => {
                    "That WhatsApp account is not linked; link it on the Accounts page.".into()
                }
                store::StoreError::OptedOut => "This contact opted out of your WhatsApp \
                    messages: nothing was sent. Record their opt-in on the Leads page (Privacy) \
                    before messaging them again."
                    .into(),
                other => crate::components::ui::sentence(&other.to_string()),
            })
        }
        other => internal(other),
    }
}

/// Marks the lead's unread messages read and sends WhatsApp's read receipts.
#[server(prefix = "/fn", endpoint = "chats/read")]
pub async fn mark_read(#[server(default)] lead_id: String) -> Result<(), ServerFnError> {
    use super::server::*;
    let lead_id = parse_id(&lead_id)?;
    crate::ctx::check_embed_lead(lead_id)?;
    let (ctx, user) = context()?;
    let mut tx = user_tx().await?;
    let receipts = tx.mark_conversation_read(lead_id).await.map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    for r in receipts {
        // An account that is offline now cannot send the receipt; the message stays read here.
        if let Err(e) = ctx
            .sessions
            .mark_read(user, r.account_id, &r.chat, r.message_ids)
            .await
        {
            leptos::logging::log!("read receipt not sent: {e}");
        }
    }
    Ok(())
}

/// Shows (or stops showing) the user typing to the lead, through `account_id`.
#[server(prefix = "/fn", endpoint = "chats/typing")]
pub async fn typing(
    #[server(default)] account_id: String,
    #[server(default)] lead_id: String,
    #[server(default)] composing: bool,
) -> Result<(), ServerFnError> {
    use super::server::*;
    let account_id = parse_id(&account_id)?;
    let lead_id = parse_id(&lead_id)?;
    crate::ctx::check_embed_lead(lead_id)?;
    let (ctx, user) = context()?;
    let mut tx = user_tx().await?;
    let lead = tx.lead_get(lead_id).await.map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    let state = if composing {
        sessions::ChatState::Composing
    } else {
        sessions::ChatState::Paused
    };
    match ctx
        .sessions
        .typing(user, account_id, &lead.phone, state)
        .await
    {
        // Not connected right now: nobody can see the typing anyway.
        Ok(()) | Err(sessions::SessionsError::Command(_)) => Ok(()),
        Err(e) => Err(sessions(e)),
    }
}

/// Follows the lead's presence (online / last seen) through `account_id`.
#[server(prefix = "/fn", endpoint = "chats/presence")]
pub async fn follow_presence(
    #[server(default)] account_id: String,
    #[server(default)] lead_id: String,
) -> Result<(), ServerFnError> {
    use super::server::*;
    let account_id = parse_id(&account_id)?;
    let lead_id = parse_id(&lead_id)?;
    crate::ctx::check_embed_lead(lead_id)?;
    let (ctx, user) = context()?;
    let mut tx = user_tx().await?;
    let lead = tx.lead_get(lead_id).await.map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    match ctx
        .sessions
        .subscribe_presence(user, account_id, &lead.phone)
        .await
    {
        Ok(()) | Err(sessions::SessionsError::Command(_)) => Ok(()),
        Err(e) => Err(sessions(e)),
    }
}

/// Edits the lead beside a thread (empty company clears it).
#[server(prefix = "/fn", endpoint = "chats/lead")]
pub async fn update_lead(
    #[server(default)] lead_id: String,
    #[server(default)] name: String,
    #[server(default)] company: String,
    #[server(default)] status: String,
) -> Result<LeadCard, crate::api::FormError> {
    use crate::api::FormError;
    use crate::api::convert::{form_tx, refusal, with_status};
    let result = async {
        let id = uuid::Uuid::parse_str(&lead_id)
            .map_err(|_| FormError::Failed("That lead no longer exists.".into()))?;
        crate::ctx::check_embed_lead(id)
            .map_err(|_| FormError::Failed("That lead no longer exists.".into()))?;
        let status = if status.trim().is_empty() {
            None
        } else {
            Some(store::LeadStatus::parse(&status).map_err(refusal)?)
        };
        let patch = store::LeadPatch {
            name: Some(name),
            company: Some(company),
            status,
            ..store::LeadPatch::default()
        };
        let mut tx = form_tx().await?;
        let lead = tx.lead_update(id, patch).await.map_err(refusal)?;
        tx.commit().await.map_err(refusal)?;
        Ok(lead_card(lead))
    }
    .await;
    with_status(result)
}
