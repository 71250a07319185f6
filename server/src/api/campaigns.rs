//! Campaigns over REST.
//!
//! - `GET /api/campaigns`, `POST /api/campaigns` (`store::NewCampaign`; 201 with the campaign)
//! - `GET /api/campaigns/{id}` (with its counts), `DELETE /api/campaigns/{id}`
//! - `POST /api/campaigns/{id}/start` (a draft, or resume a paused one), `/pause`, `/resume`,
//!   `/cancel`
//! - `GET /api/campaigns/{id}/leads?state=&after=&limit=`: per-lead tracking in send order
//!   (`after` is the last row's `position`).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ApiJson, ApiUser, ErrorBody, ResourceId};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(one, remove))
        .routes(routes!(start))
        .routes(routes!(resume))
        .routes(routes!(pause))
        .routes(routes!(cancel))
        .routes(routes!(leads))
}

const ID: &str = "The campaign's id";

#[utoipa::path(
    get,
    path = "/campaigns",
    tag = "campaigns",
    operation_id = "list_campaigns",
    summary = "The user's campaigns, with their counts",
    responses((status = 200, description = "Every campaign, newest first", body = [store::Campaign])),
)]
async fn list(
    State(state): State<AppState>,
    user: ApiUser,
) -> Result<Json<Vec<store::Campaign>>, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let campaigns = tx.campaigns_list().await?;
    tx.commit().await?;
    Ok(Json(campaigns))
}

#[utoipa::path(
    post,
    path = "/campaigns",
    tag = "campaigns",
    operation_id = "create_campaign",
    summary = "Create a campaign (a draft, or running with `start`)",
    request_body = store::NewCampaign,
    responses(
        (status = 201, description = "The new campaign (`draft` or `running`) with its counts", body = store::Campaign),
        (status = 422, description = "A field is missing or not valid (a template, account or lead that is not the user's, no accounts, no leads, pacing, quiet hours, time zone …); `field` names it", body = ErrorBody),
    ),
)]
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

#[utoipa::path(
    get,
    path = "/campaigns/{id}",
    tag = "campaigns",
    operation_id = "get_campaign",
    summary = "One campaign with its counts",
    params(("id" = Uuid, Path, description = ID)),
    responses((status = 200, description = "The campaign", body = store::Campaign)),
)]
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

#[utoipa::path(
    delete,
    path = "/campaigns/{id}",
    tag = "campaigns",
    operation_id = "delete_campaign",
    summary = "Delete a campaign and its per-lead rows",
    description = "Messages already sent stay in the chats.",
    params(("id" = Uuid, Path, description = ID)),
    responses((status = 204, description = "Deleted")),
)]
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

#[utoipa::path(
    post,
    path = "/campaigns/{id}/start",
    tag = "campaigns",
    operation_id = "start_campaign",
    summary = "Start a draft (or resume a paused campaign)",
    params(("id" = Uuid, Path, description = ID)),
    responses(
        (status = 200, description = "The campaign, `running` (already running: unchanged)", body = store::Campaign),
        (status = 409, description = "A finished or cancelled campaign cannot start again", body = ErrorBody),
    ),
)]
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

/// The same as start: a paused campaign runs again.
#[utoipa::path(
    post,
    path = "/campaigns/{id}/resume",
    tag = "campaigns",
    operation_id = "resume_campaign",
    summary = "Resume a paused campaign (the same as start)",
    params(("id" = Uuid, Path, description = ID)),
    responses(
        (status = 200, description = "The campaign, `running`", body = store::Campaign),
        (status = 409, description = "A finished or cancelled campaign cannot run again", body = ErrorBody),
    ),
)]
async fn resume(
    state: State<AppState>,
    user: ApiUser,
    id: ResourceId,
) -> Result<Json<store::Campaign>, ApiError> {
    start(state, user, id).await
}

#[utoipa::path(
    post,
    path = "/campaigns/{id}/pause",
    tag = "campaigns",
    operation_id = "pause_campaign",
    summary = "Pause a campaign (nothing more is queued until it resumes)",
    params(("id" = Uuid, Path, description = ID)),
    responses(
        (status = 200, description = "The campaign, `paused`", body = store::Campaign),
        (status = 409, description = "Only a running (or draft) campaign can be paused", body = ErrorBody),
    ),
)]
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

#[utoipa::path(
    post,
    path = "/campaigns/{id}/cancel",
    tag = "campaigns",
    operation_id = "cancel_campaign",
    summary = "Cancel a campaign",
    description = "Leads not queued yet are skipped (\"campaign cancelled\"); queued messages are \
        still sent. Cancelling a finished campaign changes nothing.",
    params(("id" = Uuid, Path, description = ID)),
    responses((status = 200, description = "The campaign, `cancelled`", body = store::Campaign)),
)]
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

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct LeadsParams {
    /// Only leads in this state: `pending`, `skipped`, `queued`, `sent`, `delivered`, `read`,
    /// `replied` or `failed`.
    state: Option<String>,
    /// The last row's `position` of the previous page.
    #[param(value_type = Option<i64>, minimum = 0)]
    after: Option<String>,
    /// Rows per page, 1 to 500 (default 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    limit: Option<String>,
}

#[utoipa::path(
    get,
    path = "/campaigns/{id}/leads",
    tag = "campaigns",
    operation_id = "list_campaign_leads",
    summary = "The campaign's leads in send order, with each one's state",
    description = "Page with `after` = the last row's `position`.",
    params(("id" = Uuid, Path, description = ID), LeadsParams),
    responses(
        (status = 200, description = "Rows in send order", body = [store::CampaignLead]),
        (status = 400, description = "The query string is malformed", body = ErrorBody),
        (status = 422, description = "`state`, `after` or `limit` is not valid", body = ErrorBody),
    ),
)]
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
