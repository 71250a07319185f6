//! Per-request session resolution and dashboard page protection.
//!
//! `resolve_session` turns a valid `rl_session` cookie into a [`CurrentUser`] request extension (read
//! by the API extractor and handed to Leptos as context). Resuming a session slides its idle timeout
//! forward in the store (within the absolute lifetime); an expired, unknown, forged or malformed
//! cookie is treated as signed out and cleared.
//!
//! Only cookies carrying our signature reach the database (see `token`), and at most
//! `Limits::session_lookups` lookups run at once, so neither a flood of random cookies nor one of
//! real ones can take every pooled connection away from the rest of the server.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Redirect, Response};
use http::{Method, header};

use app::ctx::CurrentUser;

use super::supabase_session::{self, Alive, SupabaseLink};
use super::token;
use crate::api::ApiError;
use crate::state::AppState;

/// How long a request waits for a session-lookup slot before it is answered 503.
const LOOKUP_WAIT: Duration = Duration::from_secs(5);

/// The hash of the cookie token that authenticated this request (for logout).
#[derive(Debug, Clone, Copy)]
pub struct SessionTokenHash(pub [u8; 32]);

/// Dashboard pages: these paths and everything below them need a session.
const DASHBOARD: &[&str] = &["/accounts", "/chats", "/leads", "/templates", "/settings"];

pub fn is_dashboard_page(path: &str) -> bool {
    path == "/"
        || DASHBOARD.iter().any(|p| {
            path == *p
                || path
                    .strip_prefix(p)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
}

/// Static assets and probes never need the database round trip.
fn skips_session(path: &str) -> bool {
    ["/pkg/", "/fonts/", "/favicon"]
        .iter()
        .any(|p| path.starts_with(p))
        || path == "/healthz"
        || path == "/readyz"
}

pub async fn resolve_session(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if skips_session(request.uri().path()) {
        return next.run(request).await;
    }
    let mut clear_cookie = false;
    let secure = state.settings.cookie_secure;
    match token::from_headers(request.headers(), &state.keys.session, secure) {
        None => {}
        Some(Err(())) => clear_cookie = true,
        Some(Ok(token)) => {
            let hash = token::hash(&token);
            let lookup = tokio::time::timeout(
                LOOKUP_WAIT,
                Arc::clone(&state.limits.session_lookups).acquire_owned(),
            )
            .await;
            let Ok(Ok(_slot)) = lookup else {
                tracing::warn!("session lookups are saturated; asking the client to retry");
                return ApiError::Overloaded { retry_after: 1 }.into_response();
            };
            let resumed = state
                .store
                .accounts()
                .resume_linked_web_session(&hash, state.settings.session_lifetime)
                .await;
            match resumed {
                Ok(Some(session)) => match backed(&state, &hash, &session).await {
                    Ok(Backed::Yes(link)) => {
                        request.extensions_mut().insert(CurrentUser {
                            id: session.user_id,
                            email: session.email,
                        });
                        request.extensions_mut().insert(SessionTokenHash(hash));
                        if let Some(link) = link {
                            request.extensions_mut().insert(link);
                        }
                    }
                    Ok(Backed::No) => clear_cookie = true,
                    Ok(Backed::Unavailable) => {
                        return ApiError::AuthUnavailable.into_response();
                    }
                    Err(e) => return ApiError::internal(e).into_response(),
                },
                Ok(None) => clear_cookie = true,
                Err(e) => return ApiError::internal(e).into_response(),
            }
        }
    }
    let mut response = next.run(request).await;
    // Pages and API answers are per-user: never let a shared cache or the back button after logout
    // show them again.
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(http::HeaderValue::from_static("no-store"));
    if clear_cookie && !response.headers().contains_key(header::SET_COOKIE) {
        response
            .headers_mut()
            .append(header::SET_COOKIE, token::clear_cookie(secure));
    }
    response
}

enum Backed {
    /// The session stands; `Some` for a Supabase-backed one.
    Yes(Option<SupabaseLink>),
    /// Ended (a refused refresh), or of the other mode: signed out.
    No,
    /// Supabase Auth could not be asked whether the session still stands.
    Unavailable,
}

/// Whether a resumed session still has what backs it. In Supabase mode every session must be
/// backed by a Supabase Auth session that is current or refreshes; in standalone mode none may be
/// (there is nobody to refresh it with). A session of the other mode — the server was switched
/// between modes — is ended.
async fn backed(
    state: &AppState,
    hash: &[u8; 32],
    session: &store::LinkedSession,
) -> Result<Backed, store::StoreError> {
    let link = match (&session.supabase_tokens, session.supabase_expires_at) {
        (Some(sealed), Some(expires_at)) => Some(SupabaseLink {
            sealed: sealed.clone(),
            expires_at,
        }),
        _ => None,
    };
    match (state.gotrue.is_some(), link) {
        (false, None) => Ok(Backed::Yes(None)),
        (true, Some(link)) => Ok(
            match supabase_session::keep_alive(state, hash, session.user_id, link).await? {
                Alive::Yes(link) => Backed::Yes(Some(link)),
                Alive::Ended => Backed::No,
                Alive::Unavailable => Backed::Unavailable,
            },
        ),
        (_, _) => {
            state.store.accounts().end_web_session(hash).await?;
            Ok(Backed::No)
        }
    }
}

/// Signed-out visitors of dashboard pages go to `/login`; signed-in visitors of `/login` and
/// `/signup` go to the dashboard. Runs after [`resolve_session`].
pub async fn protect_pages(request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        let path = request.uri().path();
        let signed_in = request.extensions().get::<CurrentUser>().is_some();
        if !signed_in && is_dashboard_page(path) {
            return Redirect::to("/login").into_response();
        }
        if signed_in && (path == "/login" || path == "/signup") {
            return Redirect::to("/").into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashboard_paths() {
        for p in ["/", "/leads", "/leads/123", "/settings", "/accounts/x/y"] {
            assert!(is_dashboard_page(p), "{p}");
        }
        for p in ["/login", "/signup", "/leadsX", "/pkg/rarity.js", "/api/me"] {
            assert!(!is_dashboard_page(p), "{p}");
        }
    }
}
