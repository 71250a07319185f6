//! The account manager's server functions: list, create, rename, link (QR or pairing code),
//! log out, reconnect, delete.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::AccountPayload;
use crate::api::FormError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountsView {
    pub accounts: Vec<AccountPayload>,
    pub max_accounts: u32,
    /// The event-log cursor the page's data is current to (see `crate::live`).
    pub cursor: i64,
}

/// The first code to show after "Link".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkCode {
    /// The QR text (what a phone scans) and its SVG, for linking by QR.
    pub qr: Option<String>,
    pub svg: Option<String>,
    /// The pairing code (`ABCD-EFGH`), for linking by phone number.
    pub code: Option<String>,
    /// Milliseconds since the epoch.
    pub expires_at_ms: i64,
}

#[server(prefix = "/fn", endpoint = "whatsapp/accounts")]
pub async fn accounts_page() -> Result<AccountsView, ServerFnError> {
    use super::server::*;
    let (ctx, user) = context()?;
    let cursor = cursor(user).await?;
    let mut tx = user_tx().await?;
    let accounts = tx.whatsapp_sessions_list().await.map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    Ok(AccountsView {
        accounts: accounts.into_iter().map(account).collect(),
        max_accounts: ctx.max_sessions_per_user,
        cursor,
    })
}

#[server(prefix = "/fn", endpoint = "whatsapp/accounts/create")]
pub async fn create_account(#[server(default)] name: String) -> Result<AccountPayload, FormError> {
    use crate::api::convert::{form_tx, refusal, with_status};
    let result = async {
        let mut tx = form_tx().await?;
        let created = tx
            .whatsapp_session_create(&name)
            .await
            .map_err(|e| match e {
                e @ store::StoreError::LimitReached { .. } => {
                    super::server::set_status(http::StatusCode::CONFLICT);
                    FormError::Failed(format!(
                        "{}.",
                        crate::components::ui::sentence(&e.to_string())
                    ))
                }
                other => refusal(other),
            })?;
        tx.commit().await.map_err(refusal)?;
        Ok(super::server::account(created))
    }
    .await;
    with_status(result)
}

#[server(prefix = "/fn", endpoint = "whatsapp/accounts/rename")]
pub async fn rename_account(
    #[server(default)] id: String,
    #[server(default)] name: String,
) -> Result<AccountPayload, FormError> {
    use crate::api::convert::{form_tx, refusal, with_status};
    let result = async {
        let id = uuid::Uuid::parse_str(&id)
            .map_err(|_| FormError::Failed("That account no longer exists.".into()))?;
        let mut tx = form_tx().await?;
        let renamed = tx
            .whatsapp_session_rename(id, &name)
            .await
            .map_err(refusal)?;
        tx.commit().await.map_err(refusal)?;
        Ok(super::server::account(renamed))
    }
    .await;
    with_status(result)
}

/// Reads the account as the user (RLS: someone else's is a 404) before acting on it.
#[cfg(feature = "ssr")]
async fn owned(
    id: &str,
) -> Result<(crate::ctx::AppContext, uuid::Uuid, store::WhatsappSession), ServerFnError> {
    use super::server::*;
    let id = parse_id(id)?;
    let (ctx, user) = context()?;
    let mut tx = user_tx().await?;
    let account = tx.whatsapp_session_get(id).await.map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    Ok((ctx, user, account))
}

/// `method` is `qr` or `code` (then `phone` is the account's number, any common format).
#[server(prefix = "/fn", endpoint = "whatsapp/accounts/link")]
pub async fn link_account(
    #[server(default)] id: String,
    #[server(default)] method: String,
    #[server(default)] phone: String,
) -> Result<LinkCode, ServerFnError> {
    use super::server::*;
    use sessions::{LinkMethod, LinkStarted};
    let (ctx, user, account) = owned(&id).await?;
    let method = match method.as_str() {
        "qr" => LinkMethod::Qr,
        "code" => {
            let phone = store::PhoneE164::parse(&phone).map_err(|_| {
                set_status(http::StatusCode::UNPROCESSABLE_ENTITY);
                ServerFnError::new("Enter the phone number of the WhatsApp account, with its country code (e.g. +49 151 12345678).")
            })?;
            LinkMethod::Code {
                phone: phone.as_str().to_owned(),
            }
        }
        _ => {
            set_status(http::StatusCode::UNPROCESSABLE_ENTITY);
            return Err(ServerFnError::new("Choose QR code or phone number."));
        }
    };
    let started = ctx
        .sessions
        .link(user, account.id, method)
        .await
        .map_err(sessions)?;
    let ms = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    };
    Ok(match started {
        LinkStarted::Qr { qr, expires_at } => LinkCode {
            svg: crate::qr::svg(&qr),
            qr: Some(qr),
            code: None,
            expires_at_ms: ms(expires_at),
        },
        LinkStarted::Code { code, expires_at } => LinkCode {
            qr: None,
            svg: None,
            code: Some(code),
            expires_at_ms: ms(expires_at),
        },
    })
}

#[server(prefix = "/fn", endpoint = "whatsapp/accounts/logout")]
pub async fn logout_account(#[server(default)] id: String) -> Result<(), ServerFnError> {
    let (ctx, user, account) = owned(&id).await?;
    ctx.sessions
        .logout(user, account.id)
        .await
        .map_err(super::server::sessions)
}

#[server(prefix = "/fn", endpoint = "whatsapp/accounts/reconnect")]
pub async fn reconnect_account(#[server(default)] id: String) -> Result<(), ServerFnError> {
    let (ctx, user, account) = owned(&id).await?;
    ctx.sessions
        .reconnect(user, account.id)
        .await
        .map_err(super::server::sessions)
}

/// Logs the device out (so the phone forgets it too), then deletes the account and its data.
#[server(prefix = "/fn", endpoint = "whatsapp/accounts/delete")]
pub async fn delete_account(#[server(default)] id: String) -> Result<(), ServerFnError> {
    use super::server::*;
    let (ctx, user, account) = owned(&id).await?;
    ctx.sessions
        .remove(user, account.id)
        .await
        .map_err(sessions)?;
    let mut tx = user_tx().await?;
    tx.whatsapp_session_delete(account.id)
        .await
        .map_err(internal)?;
    tx.commit().await.map_err(internal)
}
