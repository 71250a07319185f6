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
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use app::ctx::{CurrentUser, EmbedScope};

use crate::state::AppState;
use crate::{
    api, auth, client_ip, embed, form_errors, health, request_id, security, stats, throttle,
};

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
        .route("/metrics", get(stats::metrics))
        .route("/ws", get(crate::ws::upgrade))
        .merge(auth::routes())
        .nest("/api", api::routes(&state))
        .merge(pages)
        .nest_service("/pkg", ServeDir::new(site_root.join("pkg")))
        .nest_service("/fonts", ServeDir::new(site_root.join("fonts")))
        .fallback(fallback)
        // Layers run outside-in from the last one added: request id → trace → headers → latency
        // metric → body limit → client IP → form-error guard → CSRF → limit per IP → session →
        // embed token or cookie (replaces the session on embed requests) → limit per user → page
        // protection → handler.
        .layer(from_fn_with_state(
            state.clone(),
            auth::supabase_forms::signup_page_guard,
        ))
        .layer(from_fn(auth::session::protect_pages))
        .layer(from_fn_with_state(state.clone(), throttle::limit_by_user))
        .layer(from_fn_with_state(state.clone(), embed::resolve))
        .layer(from_fn_with_state(
            state.clone(),
            auth::session::resolve_session,
        ))
        .layer(from_fn_with_state(state.clone(), throttle::limit_by_ip))
        .layer(from_fn_with_state(state.clone(), auth::csrf::check_origin))
        .layer(from_fn_with_state(state.clone(), form_errors::guard))
        .layer(from_fn({
            let trusted = state.settings.trusted_proxies.clone();
            move |request, next| client_ip::resolve(trusted.clone(), request, next)
        }))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(from_fn(stats::track));
    security::with_security_headers(app)
        // One INFO line per request (method, path, status, latency) in a span carrying the request
        // id, so every line logged while serving it carries the id too; bodies, headers and query
        // strings are not logged, so cookies and tokens never reach the log.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_id::span)
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(from_fn(request_id::assign))
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

/// `AppContext` always; `CurrentUser` only when `resolve_session` (or an embed token) authenticated
/// the request; `EmbedScope` for an embed view's requests; and the page's CSP carrying this
/// response's script nonce (framable by the allowed host origins for an embed view).
fn provide_request_context(state: &AppState) {
    provide_context(state.app_context());
    if let Some(parts) = use_context::<http::request::Parts>()
        && let Some(user) = parts.extensions.get::<CurrentUser>()
    {
        provide_context(user.clone());
    }
    let embedded = use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<EmbedScope>().cloned());
    let ancestors = match &embedded {
        Some(_) => embed::frame_ancestors(&state.settings.embed_origins),
        None => "'none'".to_owned(),
    };
    if let Some(scope) = embedded {
        provide_context(scope);
    }
    if let (Some(nonce), Some(response)) =
        (leptos::nonce::use_nonce(), use_context::<ResponseOptions>())
        && let Ok(csp) = HeaderValue::from_str(&security::content_security_policy_framed(
            Some(&nonce),
            &ancestors,
        ))
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
