//! Cross-site request forgery defence for cookie-authenticated writes.
//!
//! Two layers: the session cookie is `SameSite=Lax`, so browsers do not attach it to cross-site POSTs
//! at all; and every unsafe request (POST/PUT/PATCH/DELETE) that carries an `Origin` header — or,
//! failing that, a `Referer` — must come from this server's own host or from `FRONTEND_URL`.
//! Requests with neither header are allowed: browsers always send `Origin` on cross-origin POSTs, so
//! only non-browser clients omit both, and they cannot ride a victim's cookie. We chose this over a
//! double-submit token because the login/signup forms must work without JavaScript and before a
//! session exists.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use http::{HeaderMap, Method, header};

use crate::api::ApiError;
use crate::state::AppState;

pub async fn check_origin(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let unsafe_method = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if unsafe_method && !same_origin(request.headers(), state.settings.frontend_url.as_deref()) {
        tracing::warn!(path = %request.uri().path(), "cross-origin write refused");
        return ApiError::Forbidden.into_response();
    }
    next.run(request).await
}

/// True when the request's `Origin` (or `Referer`) names our own host or the configured frontend.
pub fn same_origin(headers: &HeaderMap, frontend_url: Option<&str>) -> bool {
    let claimed = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .map(|v| v.to_str().unwrap_or(""));
    let Some(claimed) = claimed else { return true };
    if claimed == "null" {
        return false;
    }
    if let Some(frontend) = frontend_url
        && (claimed == frontend || claimed.starts_with(&format!("{frontend}/")))
    {
        return true;
    }
    let claimed_authority = claimed
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""));
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    matches!((claimed_authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn own_host_and_frontend_pass_others_fail() {
        let own = headers(&[
            (header::HOST, "127.0.0.1:3001"),
            (header::ORIGIN, "http://127.0.0.1:3001"),
        ]);
        assert!(same_origin(&own, None));
        let evil = headers(&[
            (header::HOST, "127.0.0.1:3001"),
            (header::ORIGIN, "https://evil.example"),
        ]);
        assert!(!same_origin(&evil, None));
        let front = headers(&[
            (header::HOST, "api.x.io"),
            (header::ORIGIN, "https://app.x.io"),
        ]);
        assert!(same_origin(&front, Some("https://app.x.io")));
        let referer = headers(&[
            (header::HOST, "a.io"),
            (header::REFERER, "https://a.io/login?x=1"),
        ]);
        assert!(same_origin(&referer, None));
        let lookalike = headers(&[
            (header::HOST, "a.io"),
            (header::REFERER, "https://a.io.evil.example/"),
        ]);
        assert!(!same_origin(&lookalike, None));
        assert!(!same_origin(&headers(&[(header::ORIGIN, "null")]), None));
        assert!(same_origin(&HeaderMap::new(), None));
    }
}
