//! `/api/webhooks`: the user's webhook endpoints, their delivery log and redelivery. A URL is
//! checked by the SSRF guard (`crate::webhooks::destination`) when it is saved — and again at
//! every delivery, where it matters.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::paging::{PageQuery, PageRequest, respond};
use super::{ApiError, ApiJson, ApiUser, ErrorBody, ResourceId};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, remove))
        .routes(routes!(rotate_secret))
        .routes(routes!(deliveries))
        .routes(routes!(redeliver))
}

const ID: &str = "The endpoint's id";

/// 422 on `url` unless the guard lets it through.
async fn check_url(state: &AppState, url: &str) -> Result<(), ApiError> {
    state
        .webhooks
        .check(url)
        .await
        .map_err(|reason| ApiError::validation("url", reason))
}

#[utoipa::path(
    get,
    path = "/webhooks",
    tag = "webhooks",
    operation_id = "list_webhooks",
    summary = "The user's webhook endpoints (never their secrets)",
    responses((status = 200, description = "Every endpoint, oldest first", body = [store::Webhook])),
)]
async fn list(
    State(state): State<AppState>,
    user: ApiUser,
) -> Result<Json<Vec<store::Webhook>>, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let hooks = tx.webhooks_list().await?;
    tx.commit().await?;
    Ok(Json(hooks))
}

/// 201 with the endpoint and its `secret` (shown this once).
#[utoipa::path(
    post,
    path = "/webhooks",
    tag = "webhooks",
    operation_id = "create_webhook",
    summary = "Register a webhook endpoint",
    description = "The answer carries the endpoint's signing `secret` (`whsec_…`, Standard \
        Webhooks) this once.",
    request_body = store::NewWebhook,
    responses(
        (status = 201, description = "The endpoint with its secret", body = store::CreatedWebhook),
        (status = 409, description = "The user has the most endpoints allowed already", body = ErrorBody),
        (status = 422, description = "`url` (not https, or pointing into a private network), `event_types` or `description` is not valid", body = ErrorBody),
    ),
)]
async fn create(
    State(state): State<AppState>,
    user: ApiUser,
    ApiJson(new): ApiJson<store::NewWebhook>,
) -> Result<Response, ApiError> {
    check_url(&state, &new.url).await?;
    let mut tx = state.store.as_user(user.id).await?;
    let created = tx.webhook_create(&new).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[utoipa::path(
    get,
    path = "/webhooks/{id}",
    tag = "webhooks",
    operation_id = "get_webhook",
    summary = "One webhook endpoint",
    params(("id" = Uuid, Path, description = ID)),
    responses((status = 200, description = "The endpoint", body = store::Webhook)),
)]
async fn show(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
) -> Result<Json<store::Webhook>, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let hook = tx.webhook_get(id).await?;
    tx.commit().await?;
    Ok(Json(hook))
}

#[utoipa::path(
    patch,
    path = "/webhooks/{id}",
    tag = "webhooks",
    operation_id = "update_webhook",
    summary = "Change an endpoint's URL, description, event types or enabled flag",
    params(("id" = Uuid, Path, description = ID)),
    request_body = store::WebhookPatch,
    responses(
        (status = 200, description = "The changed endpoint", body = store::Webhook),
        (status = 422, description = "A field is not valid (or not known); `field` names it", body = ErrorBody),
    ),
)]
async fn update(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
    ApiJson(patch): ApiJson<store::WebhookPatch>,
) -> Result<Json<store::Webhook>, ApiError> {
    if let Some(url) = &patch.url {
        check_url(&state, url).await?;
    }
    let mut tx = state.store.as_user(user.id).await?;
    let hook = tx.webhook_update(id, &patch).await?;
    tx.commit().await?;
    Ok(Json(hook))
}

#[utoipa::path(
    delete,
    path = "/webhooks/{id}",
    tag = "webhooks",
    operation_id = "delete_webhook",
    summary = "Delete an endpoint and its delivery log",
    params(("id" = Uuid, Path, description = ID)),
    responses((status = 204, description = "Deleted")),
)]
async fn remove(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
) -> Result<StatusCode, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    tx.webhook_delete(id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new secret (in the answer, once); the old one stops signing at once.
#[utoipa::path(
    post,
    path = "/webhooks/{id}/rotate-secret",
    tag = "webhooks",
    operation_id = "rotate_webhook_secret",
    summary = "Give an endpoint a new signing secret",
    description = "The new secret is in the answer, this once; the old one stops signing at once.",
    params(("id" = Uuid, Path, description = ID)),
    responses((status = 200, description = "The endpoint with its new secret", body = store::CreatedWebhook)),
)]
async fn rotate_secret(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
) -> Result<Json<store::CreatedWebhook>, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let created = tx.webhook_rotate_secret(id).await?;
    tx.commit().await?;
    Ok(Json(created))
}

/// `GET /api/webhooks/{id}/deliveries?limit=&before=`: the log, newest first, paged.
#[utoipa::path(
    get,
    path = "/webhooks/{id}/deliveries",
    tag = "webhooks",
    operation_id = "list_webhook_deliveries",
    summary = "An endpoint's delivery log, newest first",
    description = "A page of at most `limit` deliveries (default 50, at most 100).",
    params(("id" = Uuid, Path, description = ID), super::paging::BeforePage),
    responses(
        (status = 200, description = "A page of deliveries", body = [store::WebhookDelivery],
            headers(("Link" = String, description = "`<…&before=…>; rel=\"next\"` when more follow"))),
        (status = 400, description = "The query string is malformed", body = ErrorBody),
        (status = 422, description = "`limit` or `before` is not valid", body = ErrorBody),
    ),
)]
async fn deliveries(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let page = PageRequest::parse(query, "before", 50)?;
    let limit = page.limit.min(store::WEBHOOK_DELIVERIES_PAGE_MAX);
    let mut tx = state.store.as_user(user.id).await?;
    let found = tx
        .webhook_deliveries(id, page.cursor.as_deref(), limit)
        .await?;
    tx.commit().await?;
    Ok(respond(
        &format!("/api/webhooks/{id}/deliveries"),
        "before",
        limit,
        found.deliveries,
        found.next_cursor,
    ))
}

/// 202 with the new delivery: the same event queued again (same `webhook-id`).
#[utoipa::path(
    post,
    path = "/webhooks/{id}/deliveries/{delivery}/redeliver",
    tag = "webhooks",
    operation_id = "redeliver_webhook_delivery",
    summary = "Queue a delivery's event again",
    description = "The new delivery carries the same `webhook-id`, so receivers can tell a repeat.",
    params(
        ("id" = Uuid, Path, description = ID),
        ("delivery" = i64, Path, description = "The delivery's id (from the log)"),
    ),
    responses((status = 202, description = "The new delivery, pending", body = store::WebhookDelivery)),
)]
async fn redeliver(
    State(state): State<AppState>,
    user: ApiUser,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let delivery = delivery.parse::<i64>().map_err(|_| ApiError::NotFound)?;
    let mut tx = state.store.as_user(user.id).await?;
    let queued = tx.webhook_redeliver(id, delivery).await?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, Json(queued)).into_response())
}
