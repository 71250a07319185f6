//! Form errors in the URL must come from us.
//!
//! Without JavaScript a failed server-function form post is redirected back to its page with the
//! error in the URL (`?__path=/fn/…&__err=<base64 JSON>`), and the page shows the error's message
//! next to the form (Leptos' router reads those two parameters). Left alone, anyone could send a
//! victim a link whose `__err` makes our page display any text they like ("Your account is
//! suspended, call …").
//!
//! So the redirect we send also sets a short-lived cookie holding the SHA-256 of that `__err`
//! value; a page request carrying `__err` is served only when the cookie matches (and the cookie is
//! then cleared), and anything else is redirected to the same URL without `__err`/`__path`. Another
//! site cannot set that cookie for us, and a link cannot carry it.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Redirect, Response};
use http::{HeaderValue, Method, header};
use sha2::{Digest as _, Sha256};

use crate::auth::token::{cookie_header, cookie_value};
use crate::state::AppState;

const COOKIE: &str = "rl_form_error";
const SECURE_COOKIE: &str = "__Host-rl_form_error";
/// The redirect is followed at once; two minutes is plenty.
const COOKIE_MAX_AGE: u32 = 120;

fn cookie_name(secure: bool) -> &'static str {
    if secure { SECURE_COOKIE } else { COOKIE }
}

/// The raw (still URL-encoded) value of `name` in a query string.
fn query_value<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn digest(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `path?query` without the `__err` and `__path` parameters.
fn without_error(path: &str, query: &str) -> String {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or("");
            !pair.is_empty() && key != "__err" && key != "__path"
        })
        .collect();
    if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let secure = state.settings.cookie_secure;
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();

    let mut served_error = false;
    if method == Method::GET
        && let Some(err) = query_value(&query, "__err")
    {
        let vouched = cookie_value(request.headers(), cookie_name(secure))
            .is_some_and(|cookie| cookie == digest(err));
        if !vouched {
            tracing::info!(path = %path, "dropped a form error that this server did not send");
            return Redirect::to(&without_error(&path, &query)).into_response();
        }
        served_error = true;
    }

    let mut response = next.run(request).await;

    if served_error {
        response.headers_mut().append(
            header::SET_COOKIE,
            cookie_header(cookie_name(secure), "", secure, "; Max-Age=0"),
        );
    }
    // A server function's no-JavaScript redirect back to its page, with the error attached.
    if method == Method::POST
        && path.starts_with("/fn/")
        && response.status().is_redirection()
        && let Some(location) = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
        && let Some((_, location_query)) = location.split_once('?')
        && let Some(err) = query_value(location_query, "__err")
    {
        let cookie = cookie_header(
            cookie_name(secure),
            &digest(err),
            secure,
            &format!("; Max-Age={COOKIE_MAX_AGE}"),
        );
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// For tests: the `Set-Cookie` value a genuine redirect carrying `err` would set.
pub fn vouching_cookie(err: &str, secure: bool) -> HeaderValue {
    cookie_header(cookie_name(secure), &digest(err), secure, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_parameters_are_found_and_removed() {
        let query = "tab=2&__path=%2Ffn%2Fleads%2Fcreate&__err=eyJ4Ijo%3D";
        assert_eq!(query_value(query, "__err"), Some("eyJ4Ijo%3D"));
        assert_eq!(query_value(query, "missing"), None);
        assert_eq!(without_error("/leads", query), "/leads?tab=2");
        assert_eq!(without_error("/leads", "__err=x"), "/leads");
    }
}
