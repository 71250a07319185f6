//! `/api/accounts`: the user's WhatsApp accounts, linking (QR or pairing code) and logout. Reads
//! and renames go through RLS; everything that touches the connection goes through the one
//! sessions handle.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sessions::{LinkMethod, LinkStarted};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{ApiError, ApiJson, ApiUser, ErrorBody, ResourceId};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, rename, remove))
        .routes(routes!(link))
        .routes(routes!(qr))
        .routes(routes!(logout))
        .routes(routes!(reconnect))
}

/// A linked (or linking) WhatsApp account.
#[derive(Debug, Serialize, ToSchema)]
pub struct Account {
    id: Uuid,
    session_name: String,
    /// E.164 of the linked phone, once linked.
    phone_number: Option<String>,
    /// `inactive` (not linked), `connecting`, `active`, `expired` (logged out from the phone) or
    /// `error`.
    #[schema(example = "active")]
    status: String,
    /// Why, in a word: `qr_timeout`, `logged_out`, `replaced`, `unreachable`, …
    status_reason: Option<String>,
    /// Why, in a sentence.
    status_message: Option<String>,
    last_seen: Option<DateTime<Utc>>,
    /// When the current link was made; null when not linked.
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

/// The account's name.
#[derive(Deserialize, Default, ToSchema)]
#[serde(default)]
struct AccountName {
    /// 1 to 100 characters.
    session_name: String,
}

const ID: &str = "The account's id";

#[utoipa::path(
    get,
    path = "/accounts",
    tag = "accounts",
    operation_id = "list_accounts",
    summary = "The user's WhatsApp accounts",
    responses((status = 200, description = "Every account, oldest first", body = [Account])),
)]
async fn list(
    State(state): State<AppState>,
    user: ApiUser,
) -> Result<Json<Vec<Account>>, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let accounts = tx.whatsapp_sessions_list().await?;
    tx.commit().await?;
    Ok(Json(accounts.into_iter().map(Account::from).collect()))
}

#[utoipa::path(
    post,
    path = "/accounts",
    tag = "accounts",
    operation_id = "create_account",
    summary = "Add a WhatsApp account (not linked yet)",
    request_body = AccountName,
    responses(
        (status = 201, description = "The new account, `inactive` until linked", body = Account),
        (status = 409, description = "The user has `WHATSAPP_MAX_SESSIONS_PER_USER` accounts already", body = ErrorBody),
        (status = 422, description = "`session_name` is missing or not valid", body = ErrorBody),
    ),
)]
async fn create(
    State(state): State<AppState>,
    user: ApiUser,
    ApiJson(body): ApiJson<AccountName>,
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

#[utoipa::path(
    get,
    path = "/accounts/{id}",
    tag = "accounts",
    operation_id = "get_account",
    summary = "One account",
    params(("id" = Uuid, Path, description = ID)),
    responses((status = 200, description = "The account", body = Account)),
)]
async fn show(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(owned(&state, &user, id).await?.into()))
}

#[utoipa::path(
    patch,
    path = "/accounts/{id}",
    tag = "accounts",
    operation_id = "rename_account",
    summary = "Rename an account",
    params(("id" = Uuid, Path, description = ID)),
    request_body = AccountName,
    responses(
        (status = 200, description = "The renamed account", body = Account),
        (status = 422, description = "`session_name` is not valid", body = ErrorBody),
    ),
)]
async fn rename(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
    ApiJson(body): ApiJson<AccountName>,
) -> Result<Json<Account>, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let account = tx.whatsapp_session_rename(id, &body.session_name).await?;
    tx.commit().await?;
    Ok(Json(account.into()))
}

/// Logs the device out (so the phone forgets it too), then deletes the account and its data.
#[utoipa::path(
    delete,
    path = "/accounts/{id}",
    tag = "accounts",
    operation_id = "delete_account",
    summary = "Log the device out, then delete the account and its messages",
    description = "The phone forgets the linked device too.",
    params(("id" = Uuid, Path, description = ID)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "Another server holds the account and did not answer", body = ErrorBody),
        (status = 503, description = "The account's engine did not answer in time (`unavailable`) or WhatsApp is not reachable (`whatsapp_unavailable`)", body = ErrorBody),
    ),
)]
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

/// How to link: `{"method":"qr"}`, or `{"method":"code","phone":"+<E.164>"}`.
#[derive(Deserialize, ToSchema)]
struct LinkRequest {
    /// `qr` or `code`.
    #[schema(example = "qr")]
    method: String,
    /// The phone's number in E.164 form (`+4915112345678`), for `code`.
    #[serde(default)]
    phone: Option<String>,
}

/// A QR code to scan (WhatsApp → Linked devices → Link a device).
#[derive(Serialize, ToSchema)]
struct QrView {
    /// The exact string the phone scans; render it as a QR code.
    qr: String,
    /// The next QR replaces this one then (every ~20 s).
    expires_at: DateTime<Utc>,
}

/// A pairing code to type on the phone (Linked devices → Link with phone number).
#[derive(Serialize, ToSchema)]
struct CodeView {
    #[schema(example = "ABCD-EFGH")]
    code: String,
    expires_at: DateTime<Utc>,
}

/// `{"method":"qr"}` → 202 with the first QR; `{"method":"code","phone":"+<E.164>"}` → 200 with
/// the pairing code.
#[utoipa::path(
    post,
    path = "/accounts/{id}/link",
    tag = "accounts",
    operation_id = "link_account",
    summary = "Start linking: a QR code, or a pairing code for a phone number",
    description = "With `{\"method\":\"qr\"}`: 202 with the first QR (follow it with \
        `GET /api/accounts/{id}/qr`). With `{\"method\":\"code\",\"phone\":\"+…\"}`: 200 with the \
        pairing code. The account turns `active` once the phone links.",
    params(("id" = Uuid, Path, description = ID)),
    request_body = LinkRequest,
    responses(
        (status = 200, description = "The pairing code (method `code`)", body = CodeView),
        (status = 202, description = "The first QR code (method `qr`)", body = QrView),
        (status = 409, description = "The account is linked already, or another server holds it", body = ErrorBody),
        (status = 422, description = "`method` or `phone` is not valid", body = ErrorBody),
        (status = 503, description = "WhatsApp is not reachable (`whatsapp_unavailable`) or the engine did not answer (`unavailable`)", body = ErrorBody),
    ),
)]
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
#[utoipa::path(
    get,
    path = "/accounts/{id}/qr",
    tag = "accounts",
    operation_id = "get_account_qr",
    summary = "The QR code on show while linking by QR",
    params(("id" = Uuid, Path, description = ID)),
    responses(
        (status = 200, description = "The current QR code", body = QrView),
        (status = 409, description = "The account is not linking by QR right now", body = ErrorBody),
    ),
)]
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

#[utoipa::path(
    post,
    path = "/accounts/{id}/logout",
    tag = "accounts",
    operation_id = "logout_account",
    summary = "Unlink the device on WhatsApp and here",
    params(("id" = Uuid, Path, description = ID)),
    responses(
        (status = 204, description = "Logged out; the account stays, unlinked"),
        (status = 409, description = "The account is not linked, or another server holds it", body = ErrorBody),
        (status = 503, description = "WhatsApp is not reachable (`whatsapp_unavailable`) or the engine did not answer (`unavailable`)", body = ErrorBody),
    ),
)]
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
#[utoipa::path(
    post,
    path = "/accounts/{id}/reconnect",
    tag = "accounts",
    operation_id = "reconnect_account",
    summary = "Connect a linked account that stopped (e.g. opened elsewhere)",
    params(("id" = Uuid, Path, description = ID)),
    responses(
        (status = 202, description = "Connecting; watch `status`"),
        (status = 409, description = "The account is not linked", body = ErrorBody),
        (status = 503, description = "The engine did not answer (`unavailable`)", body = ErrorBody),
    ),
)]
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
