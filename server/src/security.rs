//! Response headers that every page and API answer carries, and CORS for `FRONTEND_URL`.

use axum::Router;
use http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

/// Scripts only from us (the hydration module script carries a per-response nonce, added by the
/// Leptos context), WebAssembly compilation allowed ('wasm-unsafe-eval', not 'unsafe-eval'), never
/// framed. Inline style attributes are allowed because components set them; styles cannot run code.
pub fn content_security_policy(nonce: Option<&str>) -> String {
    content_security_policy_framed(nonce, "'none'")
}

/// The same policy with other `frame-ancestors` (the embed views: `EMBED_ALLOWED_ORIGINS`).
pub fn content_security_policy_framed(nonce: Option<&str>, frame_ancestors: &str) -> String {
    let script = match nonce {
        Some(nonce) => format!("script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'"),
        None => "script-src 'self' 'wasm-unsafe-eval'".to_owned(),
    };
    format!(
        "default-src 'self'; {script}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; \
         frame-ancestors {frame_ancestors}"
    )
}

/// Adds the fixed security headers; the CSP only when the handler did not set its own (pages do).
pub fn with_security_headers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    let csp = HeaderValue::from_str(&content_security_policy(None))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'"));
    router
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            csp,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        // Never framed, except the embed views (marked `Framable`), whose CSP names who may frame
        // them: X-Frame-Options cannot name several origins, so it is left out there.
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            |response: &http::Response<axum::body::Body>| {
                (response
                    .extensions()
                    .get::<crate::embed::Framable>()
                    .is_none())
                .then(|| HeaderValue::from_static("DENY"))
            },
        ))
}

/// CORS for the one configured frontend origin, with credentials (cookies). No origin configured =
/// no CORS headers, so browsers refuse every cross-origin read.
pub fn cors(frontend_url: Option<&str>) -> Option<CorsLayer> {
    let origin = frontend_url?;
    let origin = match HeaderValue::from_str(origin) {
        Ok(origin) => origin,
        Err(_) => {
            tracing::error!("FRONTEND_URL is not a valid header value; CORS disabled");
            return None;
        }
    };
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list([origin]))
            .allow_credentials(true)
            // Every method the API answers (PUT: the privacy settings).
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                header::RANGE,
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("x-requested-with"),
            ])
            // What a page on FRONTEND_URL needs to read: the next page, when to retry, a download's
            // name, a range answer, the request id to quote.
            .expose_headers([
                header::LINK,
                header::RETRY_AFTER,
                header::CONTENT_DISPOSITION,
                header::CONTENT_RANGE,
                HeaderName::from_static("x-request-id"),
            ]),
    )
}
