//! The JSON REST API under `/api`, authenticated by the session cookie or a Supabase bearer JWT.
//!
//! Every handler acts through [`store::Store::as_user`], so row-level security decides what the caller
//! may see; another user's id is indistinguishable from a missing one (404). What touches a
//! WhatsApp connection goes through the one [`sessions::Sessions`] handle (see `accounts`,
//! `messages`).

mod accounts;
mod campaigns;
mod docs;
mod embed;
mod error;
mod extract;
mod keys;
mod leads;
mod media;
mod messages;
mod openapi;
mod paging;
mod privacy;
mod webhooks;

pub use error::{ApiError, ErrorBody};
pub use extract::{ApiJson, ApiUser, ResourceId};

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt as _};
use utoipa_axum::routes;
use uuid::Uuid;

use crate::security;
use crate::state::AppState;

pub fn routes(state: &AppState) -> Router<AppState> {
    let (router, _) = documented().split_for_parts();
    let router = router
        .route_layer(axum::middleware::from_fn(crate::stats::tag_route))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed });
    match security::cors(state.settings.frontend_url.as_deref()) {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// Every route under `/api`, each registered with its documentation: `routes!` takes handlers
/// annotated with `#[utoipa::path]` and adds them to the router and to the OpenAPI document at
/// once, so no route can exist undocumented. Handlers sharing a path go in one `routes!`; a
/// route that needs its own layer gets it through `UtoipaMethodRouterExt::layer`. Never use
/// axum's `.route(…)` here (the coverage test in `server/tests/api/openapi.rs` fails on it).
fn documented() -> OpenApiRouter<AppState> {
    let import_limit = || axum::extract::DefaultBodyLimit::max(leads::IMPORT_LIMIT);
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(openapi_json))
        .routes(routes!(docs_page))
        .routes(routes!(me))
        .routes(routes!(leads::list, lead_create))
        .routes(routes!(leads::count))
        .routes(routes!(leads::bulk))
        .routes(routes!(leads::import_preview).layer(import_limit()))
        .routes(routes!(leads::import).layer(import_limit()))
        .routes(routes!(lead_get, lead_update, lead_delete))
        .routes(routes!(templates_list, template_create))
        .routes(routes!(template_delete, template_update))
        .merge(accounts::routes())
        .merge(campaigns::routes())
        .merge(messages::routes())
        .merge(media::routes())
        .merge(keys::routes())
        .merge(embed::routes())
        .merge(privacy::routes())
        .merge(webhooks::routes())
}

/// The scope an API key needs for `method` on `path` (`/api/…`); `None`: no API key may do it.
pub fn api_key_scope(method: &http::Method, path: &str) -> Option<&'static str> {
    extract::required_scope(method, path).ok()
}

/// The OpenAPI document of `/api`, as `GET /api/openapi.json` serves it (built once).
pub fn openapi() -> &'static utoipa::openapi::OpenApi {
    &published().doc
}

struct Published {
    doc: utoipa::openapi::OpenApi,
    json: String,
    html: String,
}

fn published() -> &'static Published {
    static PUBLISHED: OnceLock<Published> = OnceLock::new();
    PUBLISHED.get_or_init(|| {
        let (_, doc) = documented().split_for_parts();
        let doc = openapi::finish(doc);
        let value = serde_json::to_value(&doc).unwrap_or_default();
        Published {
            html: docs::render(&value),
            json: value.to_string(),
            doc,
        }
    })
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "docs",
    operation_id = "openapi_document",
    summary = "This document (OpenAPI 3.1, JSON)",
    security(()),
    responses((status = 200, description = "The OpenAPI document", body = Object, content_type = "application/json")),
)]
async fn openapi_json() -> Response {
    (
        [(http::header::CONTENT_TYPE, "application/json")],
        published().json.as_str(),
    )
        .into_response()
}

#[utoipa::path(
    get,
    path = "/docs",
    tag = "docs",
    operation_id = "docs_page",
    summary = "This document as a readable HTML page",
    security(()),
    responses((status = 200, description = "An HTML page (no scripts)", body = String, content_type = "text/html")),
)]
async fn docs_page() -> Html<&'static str> {
    Html(published().html.as_str())
}

/// The caller.
#[derive(Serialize, ToSchema)]
struct Me {
    id: Uuid,
    /// Null for an API key.
    email: Option<String>,
}

#[utoipa::path(
    get,
    path = "/me",
    tag = "me",
    operation_id = "me",
    summary = "The caller's user id and email",
    responses((status = 200, description = "The caller", body = Me)),
)]
async fn me(user: ApiUser) -> Json<Me> {
    Json(Me {
        id: user.id,
        email: user.email,
    })
}

#[utoipa::path(
    get,
    path = "/leads/{id}",
    tag = "leads",
    operation_id = "get_lead",
    summary = "One lead",
    params(("id" = Uuid, Path, description = "The lead's id")),
    responses((status = 200, description = "The lead", body = store::Lead)),
)]
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

#[utoipa::path(
    post,
    path = "/leads",
    tag = "leads",
    operation_id = "create_lead",
    summary = "Create a lead",
    request_body = store::NewLead,
    responses(
        (status = 201, description = "The new lead", body = store::Lead),
        (status = 409, description = "A lead with this phone number exists already (`conflict`), or the lead quota (10,000 by default) is reached", body = ErrorBody),
        (status = 422, description = "A field is missing or not valid; `field` names it", body = ErrorBody),
    ),
)]
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

#[utoipa::path(
    patch,
    path = "/leads/{id}",
    tag = "leads",
    operation_id = "update_lead",
    summary = "Change a lead",
    params(("id" = Uuid, Path, description = "The lead's id")),
    request_body = store::LeadPatch,
    responses(
        (status = 200, description = "The changed lead", body = store::Lead),
        (status = 409, description = "Another lead has this phone number", body = ErrorBody),
        (status = 422, description = "A field is not valid; `field` names it", body = ErrorBody),
    ),
)]
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

#[utoipa::path(
    delete,
    path = "/leads/{id}",
    tag = "leads",
    operation_id = "delete_lead",
    summary = "Delete a lead",
    params(("id" = Uuid, Path, description = "The lead's id")),
    responses((status = 204, description = "Deleted")),
)]
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
#[utoipa::path(
    get,
    path = "/templates",
    tag = "templates",
    operation_id = "list_templates",
    summary = "The user's templates, by name",
    description = "A page of at most `limit` templates (default 100), ordered by name.",
    params(paging::AfterPage),
    responses(
        (status = 200, description = "A page of templates", body = [store::Template],
            headers(("Link" = String, description = "`<…&after=…>; rel=\"next\"` when more follow"))),
        (status = 400, description = "The query string is malformed", body = ErrorBody),
        (status = 422, description = "`limit` or `after` is not valid", body = ErrorBody),
    ),
)]
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

#[utoipa::path(
    post,
    path = "/templates",
    tag = "templates",
    operation_id = "create_template",
    summary = "Create a template",
    request_body = store::NewTemplate,
    responses(
        (status = 201, description = "The new template", body = store::Template),
        (status = 409, description = "The template quota (500 by default) is reached", body = ErrorBody),
        (status = 422, description = "A field is missing or not valid; `field` names it", body = ErrorBody),
    ),
)]
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

#[utoipa::path(
    patch,
    path = "/templates/{id}",
    tag = "templates",
    operation_id = "update_template",
    summary = "Replace a template's name, content and category",
    params(("id" = Uuid, Path, description = "The template's id")),
    request_body = store::NewTemplate,
    responses(
        (status = 200, description = "The changed template", body = store::Template),
        (status = 422, description = "A field is missing or not valid; `field` names it", body = ErrorBody),
    ),
)]
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

#[utoipa::path(
    delete,
    path = "/templates/{id}",
    tag = "templates",
    operation_id = "delete_template",
    summary = "Delete a template",
    params(("id" = Uuid, Path, description = "The template's id")),
    responses((status = 204, description = "Deleted")),
)]
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
