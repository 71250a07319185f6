//! `/api/webhooks`: the user's webhook endpoints, their delivery log and redelivery. A URL is
//! checked by the SSRF guard (`crate::webhooks::destination`) when it is saved — and again at
//! every delivery, where it matters.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use uuid::Uuid;

use super::paging::{PageQuery, PageRequest, respond};
use super::{ApiError, ApiJson, ApiUser, ResourceId};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks", get(list).post(create))
        .route("/webhooks/{id}", get(show).patch(update).delete(remove))
        .route("/webhooks/{id}/rotate-secret", post(rotate_secret))
        .route("/webhooks/{id}/deliveries", get(deliveries))
        .route(
            "/webhooks/{id}/deliveries/{delivery}/redeliver",
            post(redeliver),
        )
}

/// 422 on `url` unless the guard lets it through.
async fn check_url(state: &AppState, url: &str) -> Result<(), ApiError> {
    state
        .webhooks
        .check(url)
        .await
        .map_err(|reason| ApiError::validation("url", reason))
}

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
