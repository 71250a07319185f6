//! `/api/messages` and `/api/conversations`: the outbox (insert, then the account's engine sends
//! it) and what was said, newest first.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use uuid::Uuid;

use super::{ApiError, ApiJson, ApiUser, ResourceId};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/messages", post(send))
        .route("/messages/{id}", get(show))
        .route("/conversations", get(conversations))
        .route("/conversations/{id}/messages", get(conversation_messages))
}

#[derive(Deserialize)]
struct SendRequest {
    account_id: Uuid,
    to: String,
    text: String,
}

/// The request's `Idempotency-Key`, if any (text sends and media sends).
pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    headers
        .get("idempotency-key")
        .map(|value| {
            value
                .to_str()
                .map_err(|_| ApiError::validation("Idempotency-Key", "must be printable text"))
        })
        .transpose()
}

/// 202 with the queued message; the same `Idempotency-Key` again → 200 with that message.
async fn send(
    State(state): State<AppState>,
    user: ApiUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SendRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let mut tx = state.store.as_user(user.id).await?;
    let (message, created) = tx
        .message_enqueue(store::NewOutgoing {
            session_id: body.account_id,
            to: &body.to,
            text: &body.text,
            idempotency_key: key,
        })
        .await?;
    tx.commit().await?;
    if created {
        state.sessions.wake(body.account_id);
    }
    let status = if created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(message)).into_response())
}

async fn show(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
) -> Result<Json<store::Message>, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let message = tx.message_get(id).await?;
    tx.commit().await?;
    Ok(Json(message))
}

/// `GET /api/conversations?limit=&before=`: the latest conversation first, paged (see `paging`).
async fn conversations(
    State(state): State<AppState>,
    user: ApiUser,
    query: Result<Query<super::paging::PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let page = super::paging::PageRequest::parse(query, "before", 50)?;
    let mut tx = state.store.as_user(user.id).await?;
    let list = tx
        .conversations_page(page.cursor.as_deref(), page.limit)
        .await?;
    tx.commit().await?;
    Ok(super::paging::respond(
        "/api/conversations",
        "before",
        page.limit,
        list.conversations,
        list.next_cursor,
    ))
}

#[derive(Deserialize)]
struct PageQuery {
    before: Option<String>,
    limit: Option<String>,
}

async fn conversation_messages(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(lead_id): ResourceId,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<store::MessagePage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = match query.limit.as_deref() {
        None => 50,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=200).contains(n))
            .ok_or_else(|| ApiError::validation("limit", "must be a whole number from 1 to 200"))?,
    };
    let mut tx = state.store.as_user(user.id).await?;
    let page = tx
        .conversation_messages(lead_id, query.before.as_deref(), limit)
        .await?;
    tx.commit().await?;
    Ok(Json(page))
}
