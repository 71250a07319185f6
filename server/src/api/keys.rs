//! `/api/keys`: the signed-in user's API keys — list, create (the secret is in the answer, once),
//! revoke. An API key itself can never reach these routes (see `extract::required_scope`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;

use super::{ApiError, ApiJson, ApiUser, ResourceId};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/keys", get(list).post(create))
        .route("/keys/{id}", delete(revoke))
}

#[derive(Deserialize)]
struct NewKey {
    name: String,
    scopes: Vec<String>,
}

async fn list(
    State(state): State<AppState>,
    user: ApiUser,
) -> Result<Json<Vec<store::ApiKey>>, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let keys = tx.api_keys_list().await?;
    tx.commit().await?;
    Ok(Json(keys))
}

/// 201 with the key and its `secret` (shown this once; only its hash is kept).
async fn create(
    State(state): State<AppState>,
    user: ApiUser,
    ApiJson(new): ApiJson<NewKey>,
) -> Result<Response, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let created = tx.api_key_create(&new.name, &new.scopes).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// Revokes at once → 200 with the key (marked revoked); unknown or already revoked → 404.
async fn revoke(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
) -> Result<Json<store::ApiKey>, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let key = tx.api_key_revoke(id).await?;
    tx.commit().await?;
    Ok(Json(key))
}
