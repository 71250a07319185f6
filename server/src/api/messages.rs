//! `/api/messages` and `/api/conversations`: the outbox (insert, then the account's engine sends
//! it) and what was said, newest first.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{ApiError, ApiJson, ApiUser, ErrorBody, ResourceId};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send))
        .routes(routes!(show))
        .routes(routes!(conversations))
        .routes(routes!(conversation_messages))
}

/// A text to send.
#[derive(Deserialize, utoipa::ToSchema)]
struct SendRequest {
    /// The WhatsApp account to send from.
    account_id: Uuid,
    /// The recipient's number with its country code (`+44 20 7946 0958`).
    to: String,
    /// 1 to 4096 characters.
    text: String,
}

/// The `Idempotency-Key` header of sends (for the OpenAPI document).
pub(super) const IDEMPOTENCY_KEY: &str = "Any printable text, unique per message. The same key \
    again (same account) answers 200 with the first message and never sends twice; a different \
    request under a used key is 409.";

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
#[utoipa::path(
    post,
    path = "/messages",
    tag = "messages",
    operation_id = "send_message",
    summary = "Send a text",
    description = "The message is queued and the account's engine sends it; follow its `status` \
        with `GET /api/messages/{id}`.",
    params(("Idempotency-Key" = Option<String>, Header, description = IDEMPOTENCY_KEY)),
    request_body = SendRequest,
    responses(
        (status = 200, description = "The message queued earlier under this `Idempotency-Key`", body = store::Message),
        (status = 202, description = "The queued message", body = store::Message),
        (status = 404, description = "The account is not the user's", body = ErrorBody),
        (status = 409, description = "`opted_out`: the recipient opted out; `conflict`: the account is not linked, or a different request used this `Idempotency-Key`", body = ErrorBody),
        (status = 422, description = "`to`, `text` or `Idempotency-Key` is not valid; `field` names it", body = ErrorBody),
    ),
)]
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

#[utoipa::path(
    get,
    path = "/messages/{id}",
    tag = "messages",
    operation_id = "get_message",
    summary = "One message, with its status",
    description = "`status` moves `queued` → `sent` → `delivered` → `read`, or ends `failed` with \
        `status_reason`. A media message carries `media`.",
    params(("id" = Uuid, Path, description = "The message's id")),
    responses((status = 200, description = "The message", body = store::Message)),
)]
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
#[utoipa::path(
    get,
    path = "/conversations",
    tag = "messages",
    operation_id = "list_conversations",
    summary = "Conversations (one per lead), latest first",
    description = "A page of at most `limit` conversations (default 50).",
    params(super::paging::BeforePage),
    responses(
        (status = 200, description = "A page of conversations", body = [store::ConversationSummary],
            headers(("Link" = String, description = "`<…&before=…>; rel=\"next\"` when more follow"))),
        (status = 400, description = "The query string is malformed", body = ErrorBody),
        (status = 422, description = "`limit` or `before` is not valid", body = ErrorBody),
    ),
)]
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// `next_cursor` of the previous page (opaque).
    before: Option<String>,
    /// Messages per page, 1 to 200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    limit: Option<String>,
}

#[utoipa::path(
    get,
    path = "/conversations/{id}/messages",
    tag = "messages",
    operation_id = "list_conversation_messages",
    summary = "A conversation's messages, newest first",
    description = "Page with `before` = the previous page's `next_cursor` (null on the last page).",
    params(("id" = Uuid, Path, description = "The lead's id"), PageQuery),
    responses(
        (status = 200, description = "A page of messages", body = store::MessagePage),
        (status = 400, description = "The query string is malformed", body = ErrorBody),
        (status = 422, description = "`limit` or `before` is not valid", body = ErrorBody),
    ),
)]
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
