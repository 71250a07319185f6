//! `/api/keys`: the signed-in user's API keys — list, create (the secret is in the answer, once),
//! revoke. An API key itself can never reach these routes (see `extract::required_scope`).

use axum::Json;
use axum::extract::State;
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
        .routes(routes!(revoke))
}

/// A key to create.
#[derive(Deserialize, utoipa::ToSchema)]
struct NewKey {
    /// 1 to 100 characters.
    name: String,
    /// Any of `read`, `send`, `manage`, each once.
    #[schema(example = json!(["read", "send"]))]
    scopes: Vec<String>,
}

#[utoipa::path(
    get,
    path = "/keys",
    tag = "keys",
    operation_id = "list_keys",
    summary = "The user's API keys (never their secrets)",
    responses((status = 200, description = "Every key, revoked ones included", body = [store::ApiKey])),
)]
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
#[utoipa::path(
    post,
    path = "/keys",
    tag = "keys",
    operation_id = "create_key",
    summary = "Create an API key",
    description = "The answer carries the key's `secret` (`rk_…`) this once; only its hash is kept.",
    request_body = NewKey,
    responses(
        (status = 201, description = "The key with its secret", body = store::CreatedApiKey),
        (status = 409, description = "The user has 50 active keys already", body = ErrorBody),
        (status = 422, description = "`name` or `scopes` is not valid", body = ErrorBody),
    ),
)]
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
#[utoipa::path(
    delete,
    path = "/keys/{id}",
    tag = "keys",
    operation_id = "revoke_key",
    summary = "Revoke an API key at once",
    params(("id" = Uuid, Path, description = "The key's id")),
    responses(
        (status = 200, description = "The key, revoked", body = store::ApiKey),
        (status = 404, description = "No such active key of the user's (revoked already, or not theirs)", body = ErrorBody),
    ),
)]
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
