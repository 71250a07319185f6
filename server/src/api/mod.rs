//! The JSON REST API under `/api`, authenticated by the session cookie or a Supabase bearer JWT.
//!
//! Every handler acts through [`store::Store::as_user`], so row-level security decides what the caller
//! may see; another user's id is indistinguishable from a missing one (404). What touches a
//! WhatsApp connection goes through the one [`sessions::Sessions`] handle (see `accounts`,
//! `messages`).

mod accounts;
mod campaigns;
mod error;
mod extract;
mod keys;
mod leads;
mod media;
mod messages;
mod paging;
mod privacy;
mod webhooks;

pub use error::ApiError;
pub use extract::{ApiJson, ApiUser, ResourceId};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Serialize;
use uuid::Uuid;

use crate::security;
use crate::state::AppState;

pub fn routes(state: &AppState) -> Router<AppState> {
    let router = Router::new()
        .route("/me", get(me))
        .route("/leads", get(leads::list).post(lead_create))
        .route("/leads/count", get(leads::count))
        .route("/leads/bulk", axum::routing::post(leads::bulk))
        .route(
            "/leads/import/preview",
            axum::routing::post(leads::import_preview)
                .layer(axum::extract::DefaultBodyLimit::max(leads::IMPORT_LIMIT)),
        )
        .route(
            "/leads/import",
            axum::routing::post(leads::import)
                .layer(axum::extract::DefaultBodyLimit::max(leads::IMPORT_LIMIT)),
        )
        .route(
            "/leads/{id}",
            get(lead_get).patch(lead_update).delete(lead_delete),
        )
        .route("/templates", get(templates_list).post(template_create))
        .route(
            "/templates/{id}",
            delete(template_delete).patch(template_update),
        )
        .merge(accounts::routes())
        .merge(campaigns::routes())
        .merge(messages::routes())
        .merge(media::routes())
        .merge(keys::routes())
        .merge(privacy::routes())
        .merge(webhooks::routes())
        .route_layer(axum::middleware::from_fn(crate::stats::tag_route))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed });
    match security::cors(state.settings.frontend_url.as_deref()) {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

#[derive(Serialize)]
struct Me {
    id: Uuid,
    email: Option<String>,
}

async fn me(user: ApiUser) -> Json<Me> {
    Json(Me {
        id: user.id,
        email: user.email,
    })
}

async fn lead_get(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
) -> Result<Json<store::Lead>, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let lead = tx.lead_get(id).await?;
    tx.commit().await?;
    Ok(Json(lead))
}

async fn lead_create(
    State(state): State<AppState>,
    user: ApiUser,
    ApiJson(new): ApiJson<store::NewLead>,
) -> Result<Response, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let lead = tx.lead_create(new).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(lead)).into_response())
}

async fn lead_update(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
    ApiJson(patch): ApiJson<store::LeadPatch>,
) -> Result<Json<store::Lead>, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let lead = tx.lead_update(id, patch).await?;
    tx.commit().await?;
    Ok(Json(lead))
}

async fn lead_delete(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
) -> Result<StatusCode, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    tx.lead_delete(id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/templates?limit=&after=`: by name, paged (see `paging`).
async fn templates_list(
    State(state): State<AppState>,
    user: ApiUser,
    query: Result<
        axum::extract::Query<paging::PageQuery>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Result<Response, ApiError> {
    let page = paging::PageRequest::parse(query, "after", 100)?;
    let mut tx = state.store.as_user(user.id).await?;
    let templates = tx
        .templates_page(page.cursor.as_deref(), page.limit)
        .await?;
    tx.commit().await?;
    Ok(paging::respond(
        "/api/templates",
        "after",
        page.limit,
        templates.templates,
        templates.next_cursor,
    ))
}

async fn template_create(
    State(state): State<AppState>,
    user: ApiUser,
    ApiJson(new): ApiJson<store::NewTemplate>,
) -> Result<Response, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let template = tx.template_create(new).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(template)).into_response())
}

async fn template_update(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
    ApiJson(new): ApiJson<store::NewTemplate>,
) -> Result<Json<store::Template>, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let template = tx.template_update(id, new).await?;
    tx.commit().await?;
    Ok(Json(template))
}

async fn template_delete(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
) -> Result<StatusCode, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    tx.template_delete(id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
