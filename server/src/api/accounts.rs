//! `/api/accounts`: the user's WhatsApp accounts, linking (QR or pairing code) and logout. Reads
//! and renames go through RLS; everything that touches the connection goes through the one
//! sessions handle.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sessions::{LinkMethod, LinkStarted};
use uuid::Uuid;

use super::{ApiError, ApiJson, ApiUser, ResourceId};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/accounts", get(list).post(create))
        .route("/accounts/{id}", get(show).patch(rename).delete(remove))
        .route("/accounts/{id}/link", post(link))
        .route("/accounts/{id}/qr", get(qr))
        .route("/accounts/{id}/logout", post(logout))
        .route("/accounts/{id}/reconnect", post(reconnect))
}

/// An account as the API shows it.
#[derive(Debug, Serialize)]
pub struct Account {
    id: Uuid,
    session_name: String,
    phone_number: Option<String>,
    status: String,
    status_reason: Option<String>,
    status_message: Option<String>,
    last_seen: Option<DateTime<Utc>>,
    linked_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<store::WhatsappSession> for Account {
    fn from(s: store::WhatsappSession) -> Self {
        Self {
            id: s.id,
            session_name: s.session_name,
            phone_number: s.phone_number,
            status: s.status.unwrap_or_else(|| "inactive".to_owned()),
            status_reason: s.status_reason,
            status_message: s.status_message,
            last_seen: s.last_seen,
            linked_at: s.linked_at,
            created_at: s.created_at,
        }
    }
}

#[derive(Deserialize)]
#[serde(default)]
#[derive(Default)]
struct Name {
    session_name: String,
}

async fn list(
    State(state): State<AppState>,
    user: ApiUser,
) -> Result<Json<Vec<Account>>, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let accounts = tx.whatsapp_sessions_list().await?;
    tx.commit().await?;
    Ok(Json(accounts.into_iter().map(Account::from).collect()))
}

async fn create(
    State(state): State<AppState>,
    user: ApiUser,
    ApiJson(body): ApiJson<Name>,
) -> Result<Response, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let account = tx.whatsapp_session_create(&body.session_name).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(Account::from(account))).into_response())
}

/// The account, read as the user (RLS: another user's id is a 404).
async fn owned(
    state: &AppState,
    user: &ApiUser,
    id: Uuid,
) -> Result<store::WhatsappSession, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let account = tx.whatsapp_session_get(id).await?;
    tx.commit().await?;
    Ok(account)
}

async fn show(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(owned(&state, &user, id).await?.into()))
}

async fn rename(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
    ApiJson(body): ApiJson<Name>,
) -> Result<Json<Account>, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let account = tx.whatsapp_session_rename(id, &body.session_name).await?;
    tx.commit().await?;
    Ok(Json(account.into()))
}

/// Logs the device out (so the phone forgets it too), then deletes the account and its data.
async fn remove(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
) -> Result<StatusCode, ApiError> {
    owned(&state, &user, id).await?;
    state.sessions.remove(user.id, id).await?;
    let mut tx = state.store.as_user(user.id).await?;
    tx.whatsapp_session_delete(id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct LinkRequest {
    method: String,
    #[serde(default)]
    phone: Option<String>,
}

#[derive(Serialize)]
struct QrView {
    qr: String,
    expires_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct CodeView {
    code: String,
    expires_at: DateTime<Utc>,
}

/// `{"method":"qr"}` → 202 with the first QR; `{"method":"code","phone":"+<E.164>"}` → 200 with
/// the pairing code.
async fn link(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
    ApiJson(body): ApiJson<LinkRequest>,
) -> Result<Response, ApiError> {
    let method = match body.method.as_str() {
        "qr" => LinkMethod::Qr,
        "code" => {
            let raw = body
                .phone
                .ok_or_else(|| ApiError::validation("phone", "is required for a pairing code"))?;
            let phone = store::PhoneE164::parse(&raw).map_err(|_| {
                ApiError::validation(
                    "phone",
                    "must be a phone number in E.164 form, like +4915112345678",
                )
            })?;
            LinkMethod::Code {
                phone: phone.as_str().to_owned(),
            }
        }
        _ => return Err(ApiError::validation("method", "must be \"qr\" or \"code\"")),
    };
    let account = owned(&state, &user, id).await?;
    if account.status.as_deref() == Some("active") {
        return Err(ApiError::Conflict(
            "this WhatsApp account is already linked".into(),
        ));
    }
    Ok(match state.sessions.link(user.id, id, method).await? {
        LinkStarted::Qr { qr, expires_at } => (
            StatusCode::ACCEPTED,
            Json(QrView {
                qr,
                expires_at: expires_at.into(),
            }),
        )
            .into_response(),
        LinkStarted::Code { code, expires_at } => (
            StatusCode::OK,
            Json(CodeView {
                code,
                expires_at: expires_at.into(),
            }),
        )
            .into_response(),
    })
}

/// The QR code on show while linking; 409 when the account is not linking by QR right now.
async fn qr(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
) -> Result<Json<QrView>, ApiError> {
    owned(&state, &user, id).await?;
    state
        .sessions
        .current_qr(user.id, id)
        .map(|(qr, expires_at)| Json(QrView { qr, expires_at }))
        .ok_or_else(|| {
            ApiError::Conflict("no QR code: this account is not linking by QR right now".into())
        })
}

async fn logout(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
) -> Result<StatusCode, ApiError> {
    owned(&state, &user, id).await?;
    state.sessions.logout(user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Connects a linked account again after it stopped (e.g. WhatsApp Web was opened elsewhere).
async fn reconnect(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
) -> Result<StatusCode, ApiError> {
    let account = owned(&state, &user, id).await?;
    if account.linked_at.is_none() {
        return Err(ApiError::Conflict(
            "this WhatsApp account is not linked".into(),
        ));
    }
    state.sessions.reconnect(user.id, id).await?;
    Ok(StatusCode::ACCEPTED)
}
