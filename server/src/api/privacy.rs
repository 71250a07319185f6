//! Privacy and consent over REST: settings (opt-out keywords, the automatic reply, retention),
//! a lead's consent ledger, data export (streamed ZIP), erasure of a lead, deleting the whole
//! account, and the audit log.
//!
//! Exports stream: the handler checks and audits first (so a bad id is a 404, not a broken
//! download), then a task writes the ZIP into one end of a pipe whose other end is the response
//! body. Memory stays flat however big the export; a client that reads slowly slows the database
//! read. If writing fails midway the body ends with an error, so the client sees a failed download
//! rather than a truncated file. At most [`EXPORTS_AT_ONCE`] exports run per process (each holds a
//! database connection for as long as it streams); more get 503.

use std::sync::OnceLock;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{ApiError, ApiJson, ApiUser, ErrorBody, ResourceId};
use crate::state::AppState;

/// Exports streaming at the same time in this process.
pub const EXPORTS_AT_ONCE: usize = 2;
/// Bytes buffered between the ZIP writer and the response body.
const PIPE_BYTES: usize = 64 * 1024;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(settings, save_settings))
        .routes(routes!(audit))
        .routes(routes!(export_account))
        .routes(routes!(export_lead))
        .routes(routes!(consent, record_consent))
        .routes(routes!(erase_lead))
        .routes(routes!(delete_account))
}

const LEAD_ID: &str = "The lead's id";

#[utoipa::path(
    get,
    path = "/privacy/settings",
    tag = "privacy",
    operation_id = "get_privacy_settings",
    summary = "The user's privacy settings: opt-out keywords and reply, retention",
    responses((status = 200, description = "The settings (the defaults until saved once)", body = store::PrivacySettings)),
)]
async fn settings(
    State(state): State<AppState>,
    user: ApiUser,
) -> Result<Json<store::PrivacySettings>, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let settings = tx.privacy_settings().await?;
    tx.commit().await?;
    Ok(Json(settings))
}

/// The whole set (see `store::PrivacySettingsInput`); 422 names the field to fix.
#[utoipa::path(
    put,
    path = "/privacy/settings",
    tag = "privacy",
    operation_id = "save_privacy_settings",
    summary = "Replace the privacy settings",
    request_body = store::PrivacySettingsInput,
    responses(
        (status = 200, description = "The saved settings", body = store::PrivacySettings),
        (status = 422, description = "A field is not valid; `field` names it", body = ErrorBody),
    ),
)]
async fn save_settings(
    State(state): State<AppState>,
    user: ApiUser,
    ApiJson(input): ApiJson<store::PrivacySettingsInput>,
) -> Result<Json<store::PrivacySettings>, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let settings = tx.privacy_settings_save(input).await?;
    tx.commit().await?;
    Ok(Json(settings))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// `next_before` of the previous page: entries older than this id.
    #[param(value_type = Option<i64>, minimum = 1)]
    before: Option<String>,
    /// Entries per page, 1 to 500 (default 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    limit: Option<String>,
}

/// A page of the audit log, newest first.
#[derive(Serialize, utoipa::ToSchema)]
struct AuditPage {
    entries: Vec<store::AuditEntry>,
    /// Pass as `before` for older entries; null on the last page.
    next_before: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/audit",
    tag = "privacy",
    operation_id = "list_audit_entries",
    summary = "The user's audit log, newest first",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of entries", body = AuditPage),
        (status = 400, description = "The query string is malformed", body = ErrorBody),
        (status = 422, description = "`before` or `limit` is not valid", body = ErrorBody),
    ),
)]
async fn audit(
    State(state): State<AppState>,
    user: ApiUser,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = match query.limit.as_deref() {
        None => store::AUDIT_PAGE_DEFAULT,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=store::AUDIT_PAGE_MAX).contains(n))
            .ok_or_else(|| {
                ApiError::validation(
                    "limit",
                    format!("must be a whole number from 1 to {}", store::AUDIT_PAGE_MAX),
                )
            })?,
    };
    let before = match query.before.as_deref() {
        None => None,
        Some(raw) => Some(
            raw.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ApiError::validation("before", "must be an entry id"))?,
        ),
    };
    let mut tx = state.store.as_user(user.id).await?;
    let entries = tx.audit_log(before, limit).await?;
    tx.commit().await?;
    let next_before = (i64::try_from(entries.len()).unwrap_or(0) == limit)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(Json(AuditPage {
        entries,
        next_before,
    }))
}

#[utoipa::path(
    get,
    path = "/leads/{id}/consent",
    tag = "privacy",
    operation_id = "get_lead_consent",
    summary = "A lead's consent: its state and ledger",
    description = "`state` is `opted_out` while the number is on the suppression list, else \
        `opted_in` when the latest event is an opt-in, else `unknown`.",
    params(("id" = Uuid, Path, description = LEAD_ID)),
    responses((status = 200, description = "State and events, newest first", body = store::LeadConsent)),
)]
async fn consent(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
) -> Result<Json<store::LeadConsent>, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let consent = tx.consent_of(id).await?;
    tx.commit().await?;
    Ok(Json(consent))
}

/// `{"kind": "opt_in"|"opt_out", "source": "import"|"form"|"chat"|"api", "evidence"}` → 201.
#[utoipa::path(
    post,
    path = "/leads/{id}/consent",
    tag = "privacy",
    operation_id = "record_lead_consent",
    summary = "Record an opt-in or opt-out",
    description = "An opt-out puts the number on the suppression list and fails what is queued \
        to it; an opt-in is the only way off the list.",
    params(("id" = Uuid, Path, description = LEAD_ID)),
    request_body = store::NewConsent,
    responses(
        (status = 201, description = "The recorded event", body = store::ConsentEvent),
        (status = 422, description = "`kind`, `source` or `evidence` is not valid", body = ErrorBody),
    ),
)]
async fn record_consent(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
    ApiJson(input): ApiJson<store::NewConsent>,
) -> Result<Response, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let event = tx.consent_record(id, input).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(event)).into_response())
}

/// Erases the lead and everything about them; 200 with the counts.
#[utoipa::path(
    post,
    path = "/leads/{id}/erase",
    tag = "privacy",
    operation_id = "erase_lead",
    summary = "Erase a lead and everything about them",
    description = "Messages, Signal sessions, consent records and events about them go; an audit \
        entry with counts stays, and an opted-out number stays suppressed (as a hash).",
    params(("id" = Uuid, Path, description = LEAD_ID)),
    responses((status = 200, description = "What was removed", body = store::ErasureReport)),
)]
async fn erase_lead(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
) -> Result<Json<store::ErasureReport>, ApiError> {
    Ok(Json(state.store.erase_lead(user.id, id).await?))
}

/// The confirmation that deleting the account needs.
#[derive(Deserialize, utoipa::ToSchema)]
struct DeleteAccount {
    /// Exactly `delete my account`.
    #[serde(default)]
    #[schema(example = "delete my account")]
    confirm: String,
}

/// The phrase `POST /api/me/delete` wants in `confirm`.
pub const DELETE_ACCOUNT_PHRASE: &str = app::privacy::DELETE_ACCOUNT_PHRASE;

/// Logs every WhatsApp account out, then deletes the user and all their data; 200 with counts.
#[utoipa::path(
    post,
    path = "/me/delete",
    tag = "privacy",
    operation_id = "delete_me",
    summary = "Delete the user and all their data",
    description = "Logs every WhatsApp account out first. One `account_deleted` audit record \
        with counts and no user id remains.",
    request_body = DeleteAccount,
    responses(
        (status = 200, description = "What was removed", body = store::AccountDeletionReport),
        (status = 422, description = "`confirm` is not `delete my account`", body = ErrorBody),
    ),
)]
async fn delete_account(
    State(state): State<AppState>,
    user: ApiUser,
    ApiJson(body): ApiJson<DeleteAccount>,
) -> Result<Json<store::AccountDeletionReport>, ApiError> {
    if body.confirm.trim() != DELETE_ACCOUNT_PHRASE {
        return Err(ApiError::validation(
            "confirm",
            format!("type \"{DELETE_ACCOUNT_PHRASE}\" to confirm"),
        ));
    }
    Ok(Json(
        app::privacy::delete_account(&state.store, &state.sessions, user.id).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/export",
    tag = "privacy",
    operation_id = "export_account",
    summary = "Everything of the user's, as a ZIP of CSV and JSON files",
    description = "Streamed (no `Content-Length`; `X-Export-Estimated-Bytes` estimates it). At \
        most two exports stream at once per server: 503 `unavailable` beyond.",
    responses(
        (status = 200, description = "The ZIP", content_type = "application/zip", body = super::openapi::FileBytes,
            headers(("Content-Disposition" = String, description = "`attachment` with the file name"),
                ("X-Export-Estimated-Bytes" = u64, description = "The expected size"))),
        (status = 503, description = "`unavailable`: two exports are streaming already; try again later", body = ErrorBody),
    ),
)]
async fn export_account(
    State(state): State<AppState>,
    user: ApiUser,
) -> Result<Response, ApiError> {
    export(&state, user.id, store::ExportScope::Account).await
}

#[utoipa::path(
    get,
    path = "/leads/{id}/export",
    tag = "privacy",
    operation_id = "export_lead",
    summary = "Everything about one lead, as a ZIP of CSV and JSON files",
    description = "Streamed like `GET /api/export`.",
    params(("id" = Uuid, Path, description = LEAD_ID)),
    responses(
        (status = 200, description = "The ZIP", content_type = "application/zip", body = super::openapi::FileBytes,
            headers(("Content-Disposition" = String, description = "`attachment` with the file name"),
                ("X-Export-Estimated-Bytes" = u64, description = "The expected size"))),
        (status = 503, description = "`unavailable`: two exports are streaming already; try again later", body = ErrorBody),
    ),
)]
async fn export_lead(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
) -> Result<Response, ApiError> {
    export(&state, user.id, store::ExportScope::Lead(id)).await
}

fn exports() -> &'static Semaphore {
    static EXPORTS: OnceLock<Semaphore> = OnceLock::new();
    EXPORTS.get_or_init(|| Semaphore::new(EXPORTS_AT_ONCE))
}

async fn export(
    state: &AppState,
    user_id: Uuid,
    scope: store::ExportScope,
) -> Result<Response, ApiError> {
    let permit = exports().try_acquire().map_err(|_| {
        tracing::info!("export refused: {EXPORTS_AT_ONCE} exports already streaming");
        ApiError::Unavailable
    })?;
    let prepared = state.store.export_prepare(user_id, scope).await?;
    let file_name = prepared.file_name();
    let estimated = prepared.estimated_bytes();
    let (writer, reader) = tokio::io::duplex(PIPE_BYTES);
    let task = tokio::spawn(async move {
        let _permit = permit;
        prepared.write_zip(writer).await
    });
    // The body: the pipe's bytes, then the writer's verdict (an error aborts the response).
    let chunks = tokio_util::io::ReaderStream::new(reader);
    let body =
        futures_util::stream::unfold((chunks, Some(task)), |(mut chunks, task)| async move {
            match chunks.next().await {
                Some(chunk) => Some((chunk, (chunks, task))),
                None => {
                    let outcome = task?.await;
                    match outcome {
                        Ok(Ok(summary)) => {
                            tracing::info!(
                                messages = summary.messages,
                                leads = summary.leads,
                                "export finished"
                            );
                            None
                        }
                        // Still being read, so not a client that left: a real failure.
                        Ok(Err(e)) => {
                            tracing::error!(error = %e, "export failed midway");
                            Some((Err(std::io::Error::other("export failed")), (chunks, None)))
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "export task failed");
                            Some((Err(std::io::Error::other("export failed")), (chunks, None)))
                        }
                    }
                }
            }
        });
    let body = Body::from_stream(body.map(|r: std::io::Result<Bytes>| r));
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
            // The ZIP is streamed, so it has no Content-Length; the dashboard's progress bar
            // measures against this estimate instead.
            (
                header::HeaderName::from_static("x-export-estimated-bytes"),
                estimated.to_string(),
            ),
        ],
        body,
    )
        .into_response())
}
