//! Campaigns over REST.
//!
//! - `GET /api/campaigns`, `POST /api/campaigns` (`store::NewCampaign`; 201 with the campaign)
//! - `GET /api/campaigns/{id}` (with its counts), `DELETE /api/campaigns/{id}`
//! - `POST /api/campaigns/{id}/start` (a draft, or resume a paused one), `/pause`, `/resume`,
//!   `/cancel`
//! - `GET /api/campaigns/{id}/leads?state=&after=&limit=`: per-lead tracking in send order
//!   (`after` is the last row's `position`).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::{ApiError, ApiJson, ApiUser, ResourceId};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/campaigns", get(list).post(create))
        .route("/campaigns/{id}", get(one).delete(remove))
        .route("/campaigns/{id}/start", post(start))
        .route("/campaigns/{id}/resume", post(start))
        .route("/campaigns/{id}/pause", post(pause))
        .route("/campaigns/{id}/cancel", post(cancel))
        .route("/campaigns/{id}/leads", get(leads))
}

async fn list(
    State(state): State<AppState>,
    user: ApiUser,
) -> Result<Json<Vec<store::Campaign>>, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let campaigns = tx.campaigns_list().await?;
    tx.commit().await?;
    Ok(Json(campaigns))
}

async fn create(
    State(state): State<AppState>,
    user: ApiUser,
    ApiJson(new): ApiJson<store::NewCampaign>,
) -> Result<Response, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let campaign = tx.campaign_create(new).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(campaign)).into_response())
}

async fn one(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
) -> Result<Json<store::Campaign>, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let campaign = tx.campaign_get(id).await?;
    tx.commit().await?;
    Ok(Json(campaign))
}

async fn remove(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
) -> Result<StatusCode, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    tx.campaign_delete(id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn start(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
) -> Result<Json<store::Campaign>, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let campaign = tx.campaign_start(id).await?;
    tx.commit().await?;
    Ok(Json(campaign))
}

async fn pause(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
) -> Result<Json<store::Campaign>, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let campaign = tx.campaign_pause(id).await?;
    tx.commit().await?;
    Ok(Json(campaign))
}

async fn cancel(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
) -> Result<Json<store::Campaign>, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let campaign = tx.campaign_cancel(id).await?;
    tx.commit().await?;
    Ok(Json(campaign))
}

#[derive(Deserialize, Default)]
struct LeadsParams {
    state: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

async fn leads(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
    query: Result<Query<LeadsParams>, QueryRejection>,
) -> Result<Json<Vec<store::CampaignLead>>, ApiError> {
    let Query(params) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let number = |field: &'static str, raw: Option<&str>, min: i64, max: i64| {
        raw.map(|raw| {
            raw.trim()
                .parse::<i64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| {
                    ApiError::validation(
                        field,
                        format!("must be a whole number from {min} to {max}"),
                    )
                })
        })
        .transpose()
    };
    let after = number("after", params.after.as_deref(), 0, i64::MAX)?;
    let limit = number("limit", params.limit.as_deref(), 1, 500)?.unwrap_or(100);
    let state_filter = params
        .state
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let mut tx = state.store.as_user(user.id).await?;
    let rows = tx.campaign_leads(id, state_filter, after, limit).await?;
    tx.commit().await?;
    Ok(Json(rows))
}
