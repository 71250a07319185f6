//! Server functions (under `/fn/…`, explicit endpoints so tests and other clients can call them by
//! URL) and the plain data they exchange with the browser. Thin: check the user, call the store,
//! map errors. Create forms fail with a [`FormError`] that names the field to blame, so forms
//! can show it next to the field.

use leptos::prelude::*;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadView {
    pub id: String,
    pub name: String,
    pub phone: String,
    pub company: Option<String>,
    pub email: Option<String>,
    pub status: String,
    pub created: String,
    /// Imported columns (template variables).
    #[serde(default)]
    pub fields: Vec<(String, String)>,
}

/// One page of leads, newest first; `next` is the cursor of the following page (`?before=`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadPageView {
    pub leads: Vec<LeadView>,
    pub next: Option<String>,
    /// Leads matching the filters, on every page.
    pub total: i64,
}

/// One page of templates by name; `next` is the cursor of the following page (`?after=`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplatePageView {
    pub templates: Vec<TemplateView>,
    pub next: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplateView {
    pub id: String,
    pub name: String,
    pub category: String,
    pub content: String,
    pub variables: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountView {
    pub id: String,
    pub name: String,
    pub phone: Option<String>,
    pub status: String,
    pub last_seen: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountsView {
    pub accounts: Vec<AccountView>,
    pub max_accounts: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversationView {
    pub key: String,
    pub phone: String,
    pub lead_name: Option<String>,
    pub preview: String,
    pub direction: String,
    pub at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeView {
    pub email: String,
    pub idle_timeout_minutes: u64,
}

/// Why a create form was refused. An error type (not an `Ok` variant) on purpose: without
/// JavaScript the server function redirects back with the error in the URL (`__path`/`__err`), the
/// router hands it to the page's `ServerAction`, and the form shows it next to the field just as it
/// does once hydrated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum FormError {
    /// The user can fix this: `field` names the input to blame.
    Invalid { field: String, message: String },
    /// Anything else, already worded for the user (never internals).
    Failed(String),
}

impl FormError {
    pub fn field(&self) -> Option<&str> {
        match self {
            FormError::Invalid { field, .. } => Some(field),
            FormError::Failed(_) => None,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            FormError::Invalid { message, .. } | FormError::Failed(message) => message,
        }
    }
}

impl std::fmt::Display for FormError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for FormError {}

impl FromServerFnError for FormError {
    type Encoder = JsonEncoding;

    /// Transport and decoding failures (a missing form field, a dropped connection): one plain
    /// sentence; the technical detail stays out of the page.
    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Request(_) => FormError::Failed(
                "Could not reach the server. Check the connection and try again.".into(),
            ),
            _ => FormError::Failed("That request could not be processed. Please try again.".into()),
        }
    }
}

/// Shared with the store, so the live preview shows exactly what will be saved.
pub use templating::template_variables;

#[cfg(feature = "ssr")]
pub(crate) mod convert {
    use super::*;

    /// A moment as the pages print it when the time of day is enough: `2026-12-07 02:30 UTC`.
    pub fn utc_minute(t: chrono::DateTime<chrono::Utc>) -> String {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    }

    pub fn lead(l: store::Lead) -> LeadView {
        LeadView {
            id: l.id.to_string(),
            name: l.name,
            phone: l.phone,
            company: l.company,
            email: l.email,
            status: l.status.as_str().to_string(),
            created: l.created_at.format("%Y-%m-%d").to_string(),
            fields: l.fields.0.into_iter().collect(),
        }
    }

    pub fn template(t: store::Template) -> TemplateView {
        TemplateView {
            id: t.id.to_string(),
            name: t.name,
            category: t.category,
            content: t.content,
            variables: t.variables,
        }
    }

    pub fn account(s: store::WhatsappSession) -> AccountView {
        AccountView {
            id: s.id.to_string(),
            name: s.session_name,
            phone: s.phone_number,
            status: s.status.unwrap_or_else(|| "inactive".into()),
            last_seen: s.last_seen.map(utc_minute),
        }
    }

    pub fn conversation(c: store::Conversation) -> ConversationView {
        let preview = c
            .content
            .get("text")
            .and_then(|t| t.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| format!("[{}]", c.message_type));
        ConversationView {
            key: format!("{}:{}", c.session_id, c.phone_number),
            phone: c.phone_number,
            lead_name: c.lead_name,
            preview,
            direction: c.direction,
            at: c.last_message_at.format("%Y-%m-%d %H:%M").to_string(),
        }
    }

    /// Client errors name their field; anything else is logged and shown generically.
    pub fn refusal(err: store::StoreError) -> FormError {
        match err {
            store::StoreError::Invalid { field, message } => FormError::Invalid {
                field: field.to_string(),
                message,
            },
            store::StoreError::Conflict { field, message } => FormError::Invalid {
                field: field.to_string(),
                message: message.to_string(),
            },
            store::StoreError::NotFound | store::StoreError::Forbidden => {
                FormError::Failed("That item no longer exists.".into())
            }
            // The contact opted out: say so (409 for API callers), never queue it.
            err @ store::StoreError::OptedOut => {
                set_status(http::StatusCode::CONFLICT);
                FormError::Failed(err.to_string())
            }
            quota @ store::StoreError::QuotaReached { .. } => {
                FormError::Failed(format!("{}. Delete some to add more.", sentence(&quota)))
            }
            other => {
                leptos::logging::error!("server function failed: {other} ({:?})", other);
                failed()
            }
        }
    }

    /// For form server functions: the same checks as [`user_tx`], as a [`FormError`].
    pub async fn form_tx() -> Result<store::UserTx, FormError> {
        let ctx = crate::ctx::app_context().map_err(|_| failed())?;
        let Ok(user) = crate::ctx::require_user() else {
            return Err(FormError::Failed(SIGNED_OUT.into()));
        };
        ctx.store.as_user(user.id).await.map_err(refusal)
    }

    /// The HTTP status for a refused form: 422 (invalid field) or 401 (signed out) for API callers
    /// and the hydrated page, so nothing a user typed shows up as a 500. Plain form posts (no
    /// JavaScript) are left alone: they must stay a redirect back to the page, which carries the
    /// error in its URL.
    pub fn with_status<T>(result: Result<T, FormError>) -> Result<T, FormError> {
        if let Err(err) = &result {
            match err {
                FormError::Invalid { .. } => set_status(http::StatusCode::UNPROCESSABLE_ENTITY),
                FormError::Failed(m) if m == SIGNED_OUT => {
                    set_status(http::StatusCode::UNAUTHORIZED)
                }
                FormError::Failed(_) => {}
            }
        }
        result
    }

    /// Sets the response status, except for plain form posts: those must stay a redirect back to
    /// the page (leptos_axum turns them into one), which carries any error in its URL.
    pub(crate) fn set_status(status: http::StatusCode) {
        let plain_form_post = use_context::<http::request::Parts>().is_some_and(|parts| {
            parts
                .headers
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/html"))
        });
        if !plain_form_post && let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(status);
        }
    }

    const SIGNED_OUT: &str = "Your session has ended. Sign in again to continue.";

    /// An error's text with a capital first letter.
    fn sentence(err: &store::StoreError) -> String {
        let text = err.to_string();
        let mut chars = text.chars();
        chars.next().map_or_else(String::new, |first| {
            first.to_uppercase().chain(chars).collect()
        })
    }

    fn failed() -> FormError {
        FormError::Failed("Something went wrong; please try again.".into())
    }

    pub fn internal(err: store::StoreError) -> ServerFnError {
        match err {
            store::StoreError::NotFound | store::StoreError::Forbidden => {
                set_status(http::StatusCode::NOT_FOUND);
                ServerFnError::new("not found")
            }
            err @ store::StoreError::OptedOut => {
                set_status(http::StatusCode::CONFLICT);
                ServerFnError::new(err.to_string())
            }
            other => {
                leptos::logging::error!("server function failed: {other} ({:?})", other);
                ServerFnError::new("Something went wrong; please try again.")
            }
        }
    }

    pub fn parse_id(id: &str) -> Result<uuid::Uuid, ServerFnError> {
        uuid::Uuid::parse_str(id).map_err(|_| {
            set_status(http::StatusCode::NOT_FOUND);
            ServerFnError::new("not found")
        })
    }

    /// Blank form fields mean "not given".
    pub fn optional(value: String) -> Option<String> {
        let t = value.trim();
        (!t.is_empty()).then(|| t.to_string())
    }

    pub async fn user_tx() -> Result<store::UserTx, ServerFnError> {
        let ctx = crate::ctx::app_context()?;
        let user = crate::ctx::require_user().inspect_err(|_| {
            set_status(http::StatusCode::UNAUTHORIZED);
        })?;
        ctx.store.as_user(user.id).await.map_err(internal)
    }
}

/// Leads on one dashboard page.
pub const LEADS_PER_PAGE: i64 = 50;

/// A page of leads matching the filters (all optional; empty = any): `search` (name, phone,
/// company, email), `status`, `sort` (newest, oldest, name, name_desc, updated), `conversation`
/// (`yes`/`no`: has WhatsApp messages), `campaign` (a campaign's id: its leads); `before` is the
/// previous page's `next`.
#[server(prefix = "/fn", endpoint = "leads/list")]
pub async fn list_leads(
    #[server(default)] before: String,
    #[server(default)] search: String,
    #[server(default)] status: String,
    #[server(default)] sort: String,
    #[server(default)] conversation: String,
    #[server(default)] campaign: String,
) -> Result<LeadPageView, ServerFnError> {
    let bad = |e: store::StoreError| {
        convert::set_status(http::StatusCode::UNPROCESSABLE_ENTITY);
        ServerFnError::new(e.to_string())
    };
    let query = store::LeadQuery {
        search: convert::optional(search),
        status: convert::optional(status)
            .map(|s| store::LeadStatus::parse(&s))
            .transpose()
            .map_err(bad)?,
        sort: convert::optional(sort)
            .map(|s| store::LeadSort::parse(&s))
            .transpose()
            .map_err(bad)?
            .unwrap_or_default(),
        has_conversation: match convert::optional(conversation).as_deref() {
            Some("yes") => Some(true),
            Some("no") => Some(false),
            _ => None,
        },
        campaign_id: match convert::optional(campaign) {
            None => None,
            Some(raw) => Some(uuid::Uuid::parse_str(&raw).map_err(|_| {
                convert::set_status(http::StatusCode::UNPROCESSABLE_ENTITY);
                ServerFnError::new("campaign: not a campaign id")
            })?),
        },
    };
    let mut tx = convert::user_tx().await?;
    let page = tx
        .leads_query(&query, convert::optional(before).as_deref(), LEADS_PER_PAGE)
        .await
        .map_err(|e| match e {
            e @ store::StoreError::Invalid { .. } => bad(e),
            other => convert::internal(other),
        })?;
    let total = tx.leads_count(&query).await.map_err(convert::internal)?;
    tx.commit().await.map_err(convert::internal)?;
    Ok(LeadPageView {
        leads: page.leads.into_iter().map(convert::lead).collect(),
        next: page.next_cursor,
        total,
    })
}

/// A bulk action on the listed leads (`ids`: comma-separated): `delete`, or `set_status` with
/// `status`. Returns how many leads changed.
#[server(prefix = "/fn", endpoint = "leads/bulk")]
pub async fn bulk_leads(
    #[server(default)] ids: String,
    #[server(default)] action: String,
    #[server(default)] status: String,
) -> Result<u64, ServerFnError> {
    let ids = ids
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(convert::parse_id)
        .collect::<Result<Vec<_>, _>>()?;
    let action = match action.as_str() {
        "delete" => store::BulkAction::Delete,
        "set_status" => store::BulkAction::SetStatus(
            store::LeadStatus::parse(&status).map_err(|e| ServerFnError::new(e.to_string()))?,
        ),
        _ => return Err(ServerFnError::new("Unknown action")),
    };
    let mut tx = convert::user_tx().await?;
    let changed = tx
        .leads_bulk(&ids, action)
        .await
        .map_err(convert::internal)?;
    tx.commit().await.map_err(convert::internal)?;
    Ok(changed)
}

#[server(prefix = "/fn", endpoint = "leads/create")]
pub async fn create_lead(
    // Every argument defaults to empty: a missing field then gets the store's "is required"
    // (422) instead of an argument-decoding failure (500).
    #[server(default)] name: String,
    #[server(default)] phone: String,
    #[server(default)] company: String,
    #[server(default)] email: String,
    #[server(default)] status: String,
) -> Result<LeadView, FormError> {
    let result: Result<LeadView, FormError> = async {
        let status = match convert::optional(status) {
            None => None,
            Some(s) => Some(store::LeadStatus::parse(&s).map_err(convert::refusal)?),
        };
        let new = store::NewLead {
            name,
            phone,
            company: convert::optional(company),
            email: convert::optional(email),
            status,
            ..store::NewLead::default()
        };
        let mut tx = convert::form_tx().await?;
        let lead = tx.lead_create(new).await.map_err(convert::refusal)?;
        tx.commit().await.map_err(convert::refusal)?;
        Ok(convert::lead(lead))
    }
    .await;
    convert::with_status(result)
}

#[server(prefix = "/fn", endpoint = "leads/delete")]
pub async fn delete_lead(#[server(default)] id: String) -> Result<(), ServerFnError> {
    let id = convert::parse_id(&id)?;
    let mut tx = convert::user_tx().await?;
    tx.lead_delete(id).await.map_err(convert::internal)?;
    tx.commit().await.map_err(convert::internal)
}

/// Templates on one dashboard page.
pub const TEMPLATES_PER_PAGE: i64 = 50;

/// A page of templates; `after` is the previous page's `next` (empty = from the start).
#[server(prefix = "/fn", endpoint = "templates/list")]
pub async fn list_templates(
    #[server(default)] after: String,
) -> Result<TemplatePageView, ServerFnError> {
    let mut tx = convert::user_tx().await?;
    let page = tx
        .templates_page(convert::optional(after).as_deref(), TEMPLATES_PER_PAGE)
        .await
        .map_err(convert::internal)?;
    tx.commit().await.map_err(convert::internal)?;
    Ok(TemplatePageView {
        templates: page.templates.into_iter().map(convert::template).collect(),
        next: page.next_cursor,
    })
}

#[server(prefix = "/fn", endpoint = "templates/create")]
pub async fn create_template(
    #[server(default)] name: String,
    #[server(default)] content: String,
    #[server(default)] category: String,
) -> Result<TemplateView, FormError> {
    let result: Result<TemplateView, FormError> = async {
        let new = store::NewTemplate {
            name,
            content,
            variables: Vec::new(),
            category: convert::optional(category),
        };
        let mut tx = convert::form_tx().await?;
        let template = tx.template_create(new).await.map_err(convert::refusal)?;
        tx.commit().await.map_err(convert::refusal)?;
        Ok(convert::template(template))
    }
    .await;
    convert::with_status(result)
}

#[server(prefix = "/fn", endpoint = "templates/update")]
pub async fn update_template(
    #[server(default)] id: String,
    #[server(default)] name: String,
    #[server(default)] content: String,
    #[server(default)] category: String,
) -> Result<TemplateView, FormError> {
    let result: Result<TemplateView, FormError> = async {
        let id = convert::parse_id(&id)
            .map_err(|_| FormError::Failed("That template no longer exists.".into()))?;
        let new = store::NewTemplate {
            name,
            content,
            variables: Vec::new(),
            category: convert::optional(category),
        };
        let mut tx = convert::form_tx().await?;
        let template = tx
            .template_update(id, new)
            .await
            .map_err(convert::refusal)?;
        tx.commit().await.map_err(convert::refusal)?;
        Ok(convert::template(template))
    }
    .await;
    convert::with_status(result)
}

/// The categories every user starts with (their own are added by using a new one).
pub const STARTER_CATEGORIES: [&str; 5] = ["general", "welcome", "follow-up", "offer", "reminder"];

/// (name, category, content) of the templates a new user can add in one click.
pub const STARTER_TEMPLATES: [(&str, &str, &str); 4] = [
    (
        "Welcome",
        "welcome",
        "Hi {{first_name|there}}, thanks for getting in touch! How can we help?",
    ),
    (
        "Follow-up",
        "follow-up",
        "Hi {{first_name|there}}, just following up on our conversation. Any questions I can answer?",
    ),
    (
        "Special offer",
        "offer",
        "Hi {{first_name|there}}, we have an offer for {{company|you}} this week. Would you like the details?",
    ),
    (
        "Call reminder",
        "reminder",
        "Hi {{first_name|there}}, a quick reminder of our call. Reply here if the time no longer suits you.",
    ),
];

/// Adds the starter templates for a user who has none yet; returns how many were added.
#[server(prefix = "/fn", endpoint = "templates/starters")]
pub async fn add_starter_templates() -> Result<usize, ServerFnError> {
    let mut tx = convert::user_tx().await?;
    let existing = tx
        .templates_page(None, 1)
        .await
        .map_err(convert::internal)?;
    if !existing.templates.is_empty() {
        convert::set_status(http::StatusCode::CONFLICT);
        return Err(ServerFnError::new(
            "You already have templates; the starters are for an empty list.",
        ));
    }
    for (name, category, content) in STARTER_TEMPLATES {
        tx.template_create(store::NewTemplate {
            name: name.to_owned(),
            content: content.to_owned(),
            variables: Vec::new(),
            category: Some(category.to_owned()),
        })
        .await
        .map_err(convert::internal)?;
    }
    tx.commit().await.map_err(convert::internal)?;
    Ok(STARTER_TEMPLATES.len())
}

#[server(prefix = "/fn", endpoint = "templates/delete")]
pub async fn delete_template(#[server(default)] id: String) -> Result<(), ServerFnError> {
    let id = convert::parse_id(&id)?;
    let mut tx = convert::user_tx().await?;
    tx.template_delete(id).await.map_err(convert::internal)?;
    tx.commit().await.map_err(convert::internal)
}

#[server(prefix = "/fn", endpoint = "accounts/list")]
pub async fn list_accounts() -> Result<AccountsView, ServerFnError> {
    let max_accounts = crate::ctx::app_context()?.max_sessions_per_user;
    let mut tx = convert::user_tx().await?;
    let sessions = tx
        .whatsapp_sessions_list()
        .await
        .map_err(convert::internal)?;
    tx.commit().await.map_err(convert::internal)?;
    Ok(AccountsView {
        accounts: sessions.into_iter().map(convert::account).collect(),
        max_accounts,
    })
}

#[server(prefix = "/fn", endpoint = "chats/list")]
pub async fn list_conversations() -> Result<Vec<ConversationView>, ServerFnError> {
    let mut tx = convert::user_tx().await?;
    let conversations = tx.conversations_list().await.map_err(convert::internal)?;
    tx.commit().await.map_err(convert::internal)?;
    Ok(conversations
        .into_iter()
        .map(convert::conversation)
        .collect())
}

#[server(prefix = "/fn", endpoint = "settings/me")]
pub async fn me() -> Result<MeView, ServerFnError> {
    let ctx = crate::ctx::app_context()?;
    let user = crate::ctx::require_user()?;
    Ok(MeView {
        email: user.email,
        idle_timeout_minutes: ctx.session_idle_timeout.as_secs().div_ceil(60),
    })
}

#[cfg(test)]
mod tests {
    use super::FormError;
    use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};

    #[test]
    fn form_errors_survive_the_url_round_trip_and_hide_decoding_details() {
        // A no-JavaScript post carries the error through the redirect URL as encoded bytes.
        let invalid = FormError::Invalid {
            field: "phone".into(),
            message: "must start with +".into(),
        };
        assert_eq!(FormError::de(invalid.ser()), invalid);
        assert_eq!(invalid.field(), Some("phone"));

        let decoding = FormError::from_server_fn_error(ServerFnErrorErr::Args(
            "missing field `name` at line 1".into(),
        ));
        assert_eq!(decoding.field(), None);
        assert!(!decoding.message().contains("missing field"));
        // Garbage in the URL decodes to a generic failure, not a panic.
        assert!(matches!(
            FormError::de(b"not json".to_vec().into()),
            FormError::Failed(_)
        ));
    }
}
