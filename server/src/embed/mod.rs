//! Embedding: a lead's chat and the account manager inside the host app's iframe.
//!
//! - The host app's backend asks `POST /api/embed/tokens` (see `api::embed`) for a short-lived
//!   signed token ([`token`]) naming the user, the view (one lead's chat, or the accounts) and the
//!   host origin, and puts `/embed/…?token=…` in an iframe.
//! - [`resolve`] (a layer just inside the session layer) serves `/embed/…` only for a valid token
//!   of that very view: the request then acts as the token's user with an [`EmbedScope`], and the
//!   answer sets the token as the **embed cookie** (`__Host-rl_embed`, `SameSite=None; Secure;
//!   Partitioned`): the hydrated page's server functions and its `/ws` socket are requests the
//!   iframe makes without the token, and the dashboard's `SameSite=Lax` session cookie is never
//!   sent inside another site's frame. The embed cookie is honoured on `/fn/…` and `/ws` only
//!   (never on dashboard pages or `/api`), replaces any dashboard session there, and reaches only
//!   the server functions its view uses; functions that take a lead refuse any other lead
//!   (`app::ctx::check_embed_lead`), and the socket forwards only the view's events (`ws`).
//! - `/embed/…` answers carry `frame-ancestors <EMBED_ALLOWED_ORIGINS>` and no `X-Frame-Options`
//!   ([`Framable`]); everything else stays `frame-ancestors 'none'` + `DENY`. With no allowed
//!   origins configured the embed views answer 404.

pub mod token;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse as _, Response};
use http::{HeaderValue, StatusCode, header};
use uuid::Uuid;

use app::ctx::{CurrentUser, EmbedScope, EmbedView};

use crate::auth::session::SessionTokenHash;
use crate::auth::supabase_session::SupabaseLink;
use crate::auth::token::cookie_value;
use crate::state::AppState;
pub use token::{EmbedClaims, EmbedTokenError};

/// The embed cookie. Always `Secure` (browsers drop `SameSite=None` cookies that are not), so the
/// `__Host-` prefix is always possible; embedding therefore needs https (or a loopback host, which
/// browsers treat as secure).
pub const COOKIE_NAME: &str = "__Host-rl_embed";

/// A response extension: this answer may be framed by the allowed origins (no `X-Frame-Options`).
#[derive(Clone, Copy, Debug)]
pub struct Framable;

/// The `frame-ancestors` sources of the embed views.
pub fn frame_ancestors(origins: &[String]) -> String {
    origins.join(" ")
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Server functions each view uses; an embed session reaches no other.
fn allowed_function(view: &EmbedView, path: &str) -> bool {
    let Some(name) = path.strip_prefix("/fn/") else {
        return false;
    };
    match view {
        EmbedView::Chat { .. } => matches!(
            name,
            "chats/thread"
                | "chats/older"
                | "chats/send"
                | "chats/read"
                | "chats/typing"
                | "chats/presence"
                | "chats/lead"
                | "chats/accounts"
                | "leads/consent"
                | "templates/list"
        ),
        EmbedView::Accounts => {
            name == "whatsapp/accounts" || name.starts_with("whatsapp/accounts/")
        }
    }
}

/// The view an `/embed/…` path shows; `None` = no such view.
fn view_of(path: &str) -> Option<EmbedView> {
    let rest = path.strip_prefix("/embed/")?.trim_end_matches('/');
    if rest == "accounts" {
        return Some(EmbedView::Accounts);
    }
    let lead = rest.strip_prefix("chat/")?;
    Uuid::parse_str(lead)
        .ok()
        .map(|lead_id| EmbedView::Chat { lead_id })
}

fn query_token(request: &Request) -> Option<String> {
    let query = request.uri().query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

/// Checks a token: signature, expiry, and that its host origin is still allowed.
pub fn check(state: &AppState, token: &str) -> Result<EmbedClaims, EmbedTokenError> {
    let claims = token::verify(&state.keys.embed, token, now())?;
    if !state.settings.embed_origins.contains(&claims.origin) {
        return Err(EmbedTokenError::Invalid);
    }
    Ok(claims)
}

fn act_as(request: &mut Request, claims: &EmbedClaims) {
    let extensions = request.extensions_mut();
    extensions.remove::<SessionTokenHash>();
    extensions.remove::<SupabaseLink>();
    extensions.insert(CurrentUser {
        id: claims.user_id,
        email: String::new(),
    });
    extensions.insert(EmbedScope {
        view: claims.view.clone(),
        origin: claims.origin.clone(),
    });
}

pub async fn resolve(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path == "/embed" || path.starts_with("/embed/") {
        return page(state, request, next).await;
    }
    if state.settings.embed_origins.is_empty() || !(path.starts_with("/fn/") || path == "/ws") {
        return next.run(request).await;
    }
    let Some(cookie) = cookie_value(request.headers(), COOKIE_NAME) else {
        return next.run(request).await;
    };
    match check(&state, &cookie) {
        Ok(claims) if path == "/ws" || allowed_function(&claims.view, path) => {
            act_as(&mut request, &claims);
            next.run(request).await
        }
        Ok(_) => crate::api::ApiError::InsufficientScope(
            "an embedded view can only do what that view does".into(),
        )
        .into_response(),
        // The embed is over: its requests must not fall back on a dashboard session.
        Err(_) => {
            let mut response = crate::api::ApiError::Unauthorized.into_response();
            response
                .headers_mut()
                .append(header::SET_COOKIE, clear_cookie());
            response
        }
    }
}

async fn page(state: AppState, mut request: Request, next: Next) -> Response {
    let origins = &state.settings.embed_origins;
    if origins.is_empty() {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    let Some(view) = view_of(request.uri().path()) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let Some(token) = query_token(&request) else {
        return refused(origins, "This embedded view needs a token.");
    };
    let claims = match check(&state, &token) {
        Ok(claims) if claims.view == view => claims,
        Ok(_) => return refused(origins, "This token is for another view."),
        Err(e) => return refused(origins, &app::components::ui::sentence(&e.to_string())),
    };
    act_as(&mut request, &claims);
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(&token, claims.expires_at));
    response.extensions_mut().insert(Framable);
    response
}

/// 401 with a short page the host's frame can show (framable like the views themselves).
fn refused(origins: &[String], why: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not signed in · Rarity Leads</title></head>\
         <body style=\"margin:0;padding:24px;font:14px system-ui,sans-serif;background:#0a0a0a;color:#ededed\">\
         <p data-testid=\"embed-refused\">{}</p></body></html>",
        escape(why)
    );
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors {}",
        frame_ancestors(origins)
    );
    let mut response = (StatusCode::UNAUTHORIZED, Html(body)).into_response();
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response.extensions_mut().insert(Framable);
    response
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn set_cookie(token: &str, expires_at: i64) -> HeaderValue {
    let max_age = (expires_at - now()).max(0);
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={token}; HttpOnly; Secure; SameSite=None; Partitioned; Path=/; Max-Age={max_age}"
    ))
    .unwrap_or_else(|_| clear_cookie())
}

fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "__Host-rl_embed=; HttpOnly; Secure; SameSite=None; Partitioned; Path=/; Max-Age=0",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_by_path() {
        let lead = Uuid::new_v4();
        assert_eq!(
            view_of(&format!("/embed/chat/{lead}")),
            Some(EmbedView::Chat { lead_id: lead })
        );
        assert_eq!(view_of("/embed/accounts"), Some(EmbedView::Accounts));
        for p in [
            "/embed",
            "/embed/",
            "/embed/chat/x",
            "/embed/leads",
            "/embedx/accounts",
        ] {
            assert_eq!(view_of(p), None, "{p}");
        }
    }

    #[test]
    fn a_chat_embed_reaches_only_its_functions() {
        let chat = EmbedView::Chat {
            lead_id: Uuid::new_v4(),
        };
        assert!(allowed_function(&chat, "/fn/chats/send"));
        assert!(!allowed_function(&chat, "/fn/chats/conversations"));
        assert!(!allowed_function(&chat, "/fn/whatsapp/accounts/delete"));
        assert!(allowed_function(
            &EmbedView::Accounts,
            "/fn/whatsapp/accounts/link"
        ));
        assert!(!allowed_function(&EmbedView::Accounts, "/fn/chats/thread"));
        assert!(!allowed_function(&EmbedView::Accounts, "/fn/keys/create"));
    }
}
