//! The whole HTTP surface in one place: `router(state)` is used by `main` and by the tests.

use std::path::PathBuf;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes as _, ResponseOptions, generate_route_list};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::ServeDir;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};

use app::ctx::CurrentUser;

use crate::state::AppState;
use crate::{api, auth, health, security};

/// Largest request body we read (JSON, forms, server-function arguments).
pub const BODY_LIMIT: usize = 64 * 1024;

pub fn router(state: AppState) -> Router {
    let site_root = PathBuf::from(&*state.leptos_options.site_root);
    let pages = leptos_pages(&state)
        // Server functions read the raw body, which DefaultBodyLimit does not cover.
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT));

    let app = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/ws", get(crate::ws::upgrade))
        .merge(auth::routes())
        .nest("/api", api::routes(&state))
        .merge(pages)
        .nest_service("/pkg", ServeDir::new(site_root.join("pkg")))
        .nest_service("/fonts", ServeDir::new(site_root.join("fonts")))
        .fallback(fallback)
        // Layers run outside-in from the last one added: trace → headers → body limit → CSRF →
        // session → page protection → handler.
        .layer(from_fn(auth::session::protect_pages))
        .layer(from_fn_with_state(
            state.clone(),
            auth::session::resolve_session,
        ))
        .layer(from_fn_with_state(state.clone(), auth::csrf::check_origin))
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    security::with_security_headers(app)
        // One INFO line per request (method, path, status, latency); bodies and headers are not
        // logged, so cookies and tokens never reach the log.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO))
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .with_state(state)
}

/// Leptos pages and server functions (`/fn/…`), both with the same per-request context.
fn leptos_pages(state: &AppState) -> Router<AppState> {
    let routes = generate_route_list(app::App);
    let context = {
        let state = state.clone();
        move || provide_request_context(&state)
    };
    let shell = {
        let options = state.leptos_options.clone();
        move || app::shell(options.clone())
    };
    Router::new().leptos_routes_with_context(state, routes, context, shell)
}

/// `AppContext` always; `CurrentUser` only when `resolve_session` authenticated the request; and the
/// page's CSP carrying this response's script nonce.
fn provide_request_context(state: &AppState) {
    provide_context(state.app_context());
    if let Some(parts) = use_context::<http::request::Parts>()
        && let Some(user) = parts.extensions.get::<CurrentUser>()
    {
        provide_context(user.clone());
    }
    if let (Some(nonce), Some(response)) =
        (leptos::nonce::use_nonce(), use_context::<ResponseOptions>())
        && let Ok(csp) = HeaderValue::from_str(&security::content_security_policy(Some(&nonce)))
    {
        response.insert_header(header::CONTENT_SECURITY_POLICY, csp);
    }
}

/// Unknown page URLs get the dashboard's own "Page not found" view (status 404, rendered by the
/// Leptos router's fallback); anything else that no route claims gets a plain 404.
async fn fallback(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
) -> Response {
    if request.method() != http::Method::GET {
        return not_found();
    }
    let context = {
        let state = state.clone();
        move || provide_request_context(&state)
    };
    let shell = {
        let options = state.leptos_options.clone();
        move || app::shell(options.clone())
    };
    leptos_axum::render_app_to_stream_with_context(context, shell)(request)
        .await
        .into_response()
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}
