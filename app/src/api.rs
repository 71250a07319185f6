//! Server functions (under `/fn/…`, explicit endpoints so tests and other clients can call them by
//! URL) and the plain data they exchange with the browser. Thin: check the user, call the store,
//! map errors. A validation failure is a normal outcome (`Saved::Invalid`), not an error, so forms
//! can show it next to the field.

use leptos::prelude::*;
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

/// Result of a create form: saved, or refused with the field to blame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Saved<T> {
    Ok(T),
    Invalid { field: String, message: String },
}

/// Variables (`{{name}}`) in a template body, in order of first use. Shared by the live preview in
/// the browser and shown for saved templates.
pub fn template_variables(content: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = content;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim();
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if valid && !out.iter().any(|v| v == name) {
            out.push(name.to_string());
        }
        rest = &after[end + 2..];
    }
    out
}

#[cfg(feature = "ssr")]
mod convert {
    use super::*;

    pub fn lead(l: store::Lead) -> LeadView {
        LeadView {
            id: l.id.to_string(),
            name: l.name,
            phone: l.phone,
            company: l.company,
            email: l.email,
            status: l.status.as_str().to_string(),
            created: l.created_at.format("%Y-%m-%d").to_string(),
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
            last_seen: s
                .last_seen
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()),
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

    /// Client errors become a form outcome; anything else is logged and shown generically.
    pub fn refusal<T>(err: store::StoreError) -> Result<Saved<T>, ServerFnError> {
        match err {
            store::StoreError::Invalid { field, message } => Ok(Saved::Invalid {
                field: field.to_string(),
                message,
            }),
            store::StoreError::Conflict { field, message } => Ok(Saved::Invalid {
                field: field.to_string(),
                message: message.to_string(),
            }),
            other => Err(internal(other)),
        }
    }

    pub fn internal(err: store::StoreError) -> ServerFnError {
        match err {
            store::StoreError::NotFound | store::StoreError::Forbidden => {
                ServerFnError::new("not found")
            }
            other => {
                leptos::logging::error!("server function failed: {other} ({:?})", other);
                ServerFnError::new("something went wrong; please try again")
            }
        }
    }

    pub fn parse_id(id: &str) -> Result<uuid::Uuid, ServerFnError> {
        uuid::Uuid::parse_str(id).map_err(|_| ServerFnError::new("not found"))
    }

    /// Blank form fields mean "not given".
    pub fn optional(value: String) -> Option<String> {
        let t = value.trim();
        (!t.is_empty()).then(|| t.to_string())
    }

    pub async fn user_tx() -> Result<store::UserTx, ServerFnError> {
        let ctx = crate::ctx::app_context()?;
        let user = crate::ctx::require_user()?;
        ctx.store.as_user(user.id).await.map_err(internal)
    }
}

#[server(prefix = "/fn", endpoint = "leads/list")]
pub async fn list_leads() -> Result<Vec<LeadView>, ServerFnError> {
    let mut tx = convert::user_tx().await?;
    let leads = tx.leads_list().await.map_err(convert::internal)?;
    tx.commit().await.map_err(convert::internal)?;
    Ok(leads.into_iter().map(convert::lead).collect())
}

#[server(prefix = "/fn", endpoint = "leads/create")]
pub async fn create_lead(
    name: String,
    phone: String,
    #[server(default)] company: String,
    #[server(default)] email: String,
    #[server(default)] status: String,
) -> Result<Saved<LeadView>, ServerFnError> {
    let status = match convert::optional(status) {
        None => None,
        Some(s) => match store::LeadStatus::parse(&s) {
            Ok(s) => Some(s),
            Err(e) => return convert::refusal(e),
        },
    };
    let new = store::NewLead {
        name,
        phone,
        company: convert::optional(company),
        email: convert::optional(email),
        status,
        ..store::NewLead::default()
    };
    let mut tx = convert::user_tx().await?;
    match tx.lead_create(new).await {
        Ok(lead) => {
            tx.commit().await.map_err(convert::internal)?;
            Ok(Saved::Ok(convert::lead(lead)))
        }
        Err(e) => convert::refusal(e),
    }
}

#[server(prefix = "/fn", endpoint = "leads/delete")]
pub async fn delete_lead(id: String) -> Result<(), ServerFnError> {
    let id = convert::parse_id(&id)?;
    let mut tx = convert::user_tx().await?;
    tx.lead_delete(id).await.map_err(convert::internal)?;
    tx.commit().await.map_err(convert::internal)
}

#[server(prefix = "/fn", endpoint = "templates/list")]
pub async fn list_templates() -> Result<Vec<TemplateView>, ServerFnError> {
    let mut tx = convert::user_tx().await?;
    let templates = tx.templates_list().await.map_err(convert::internal)?;
    tx.commit().await.map_err(convert::internal)?;
    Ok(templates.into_iter().map(convert::template).collect())
}

#[server(prefix = "/fn", endpoint = "templates/create")]
pub async fn create_template(
    name: String,
    content: String,
    #[server(default)] category: String,
) -> Result<Saved<TemplateView>, ServerFnError> {
    let new = store::NewTemplate {
        name,
        content,
        variables: Vec::new(),
        category: convert::optional(category),
    };
    let mut tx = convert::user_tx().await?;
    match tx.template_create(new).await {
        Ok(t) => {
            tx.commit().await.map_err(convert::internal)?;
            Ok(Saved::Ok(convert::template(t)))
        }
        Err(e) => convert::refusal(e),
    }
}

#[server(prefix = "/fn", endpoint = "templates/delete")]
pub async fn delete_template(id: String) -> Result<(), ServerFnError> {
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
    use super::template_variables;

    #[test]
    fn variables_are_found_once_in_order_and_junk_is_ignored() {
        assert_eq!(
            template_variables("Hi {{ name }}, {{company}} and {{name}} {{}} {{bad name}} {{x"),
            vec!["name".to_string(), "company".to_string()]
        );
        assert!(template_variables("no variables").is_empty());
    }
}
