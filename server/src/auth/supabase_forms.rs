//! Supabase mode's form endpoints: sign-in through GoTrue's password grant (called from
//! `forms::login` after its rate limits), the host app's hand-over (`POST /auth/supabase`), and
//! our sign-up turned off (the `/signup` page and `POST /auth/signup`).

use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::HeaderMap;

use super::forms::{FormError, back, rejected, signed_in};
use super::rate_limit::RetryAfter;
use super::supabase::{GoTrueError, Tokens};
use super::supabase_session::{self, StartError};
use crate::api::ApiError;
use crate::client_ip::{ClientIp, IpKey};
use crate::state::AppState;
use crate::throttle::too_many_requests;

/// Supabase mode's answer to `POST /auth/signup` (403; a short page for a browser).
pub(super) fn signup_disabled(headers: &HeaderMap) -> Response {
    if crate::throttle::wants_html(headers) {
        return (http::StatusCode::FORBIDDEN, Html(signup_disabled_page())).into_response();
    }
    ApiError::SignUpDisabled.into_response()
}

fn signup_disabled_page() -> String {
    "<!DOCTYPE html><html lang=\"en\" class=\"dark\"><head><meta charset=\"utf-8\">\
     <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
     <title>Create your account · Rarity Leads</title>\
     <link rel=\"stylesheet\" href=\"/pkg/rarity.css\"></head>\
     <body><main class=\"flex min-h-screen flex-col items-center justify-center gap-3 px-4 text-center\">\
     <h1 class=\"text-xl font-medium\">Accounts are created in the main app</h1>\
     <p class=\"max-w-sm text-sm text-muted\" data-testid=\"signup-disabled\">This dashboard signs \
     you in through your company's Supabase account. Create your account in the main app, then sign \
     in here with the same email and password.</p>\
     <a href=\"/login\" class=\"text-sm text-muted underline underline-offset-4\">Sign in</a>\
     </main></body></html>"
        .to_owned()
}

/// Supabase mode: `GET /signup` shows that accounts are created in the host app, instead of our
/// sign-up form (which would only be refused).
pub async fn signup_page_guard(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if state.gotrue.is_some()
        && matches!(*request.method(), http::Method::GET | http::Method::HEAD)
        && request.uri().path() == "/signup"
    {
        return Html(signup_disabled_page()).into_response();
    }
    next.run(request).await
}

/// Turns a GoTrue session into one of ours and answers as a form post does (303 to `to`, or back
/// to `/login` with the reason). `expected` is the user the session must belong to.
pub(super) async fn sign_in(
    state: &AppState,
    signed: Result<Tokens, GoTrueError>,
    expected: Option<uuid::Uuid>,
    to: &str,
    headers: &HeaderMap,
) -> Response {
    const PAGE: &str = "/login";
    let tokens = match signed {
        Ok(tokens) => tokens,
        Err(GoTrueError::Refused { code }) => {
            tracing::info!(%code, "Supabase Auth refused a sign-in");
            return back(
                PAGE,
                if code == "email_not_confirmed" {
                    FormError::EmailNotConfirmed
                } else {
                    FormError::InvalidCredentials
                },
            );
        }
        Err(GoTrueError::RateLimited) => {
            return too_many_requests(RetryAfter(std::time::Duration::from_secs(60)), headers);
        }
        Err(GoTrueError::Unavailable(why)) => {
            tracing::warn!(error = %why, "Supabase Auth is unavailable for sign-in");
            return back(PAGE, FormError::AuthUnavailable);
        }
    };
    match supabase_session::start(state, &tokens, expected).await {
        Ok((token, user)) => {
            tracing::info!(user_id = %user.id, "signed in through Supabase Auth");
            signed_in(
                state,
                Redirect::to(to).into_response(),
                &token,
                user.email.as_deref(),
            )
        }
        Err(StartError::Store(e)) => ApiError::internal(e).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "a Supabase session was not accepted");
            back(PAGE, FormError::InvalidSession)
        }
    }
}

/// What the host app posts to `/auth/supabase`.
#[derive(Debug, serde::Deserialize)]
pub struct Handover {
    access_token: String,
    /// Where to go once signed in: a path on this site (default `/`).
    #[serde(default)]
    next: Option<String>,
}

/// Only paths on this site: `/x`, never `//host` or `/\\host` (browsers read both as another host).
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && !p.chars().any(char::is_control) =>
        {
            p
        }
        _ => "/",
    }
}

/// `POST /auth/supabase` (Supabase mode; 404 otherwise): the host app hands over a user it has
/// signed in, as a form post from its page (`access_token`, optional `next`) — a top-level
/// navigation, so the session cookie we set is first-party. The access token is verified; then,
/// with the service key, GoTrue opens a session of our own for that user (the host's refresh
/// token is never shared: GoTrue's refresh tokens are single-use, and two holders of one would
/// sign each other out). A user without an email address cannot have one made that way: their
/// dashboard session then ends with the handed-over access token. The CSRF layer already admits
/// only our own origin and `FRONTEND_URL` here, so another site cannot sign a visitor in as
/// someone else.
pub async fn handover(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    form: Result<Form<Handover>, FormRejection>,
) -> Response {
    let (Some(gotrue), Some(verifier)) = (&state.gotrue, &state.jwt) else {
        return ApiError::NotFound.into_response();
    };
    if let Some(ip) = ip
        && let Err(retry) = state.limits.logins_per_ip.check(&IpKey::from(ip))
    {
        tracing::warn!(%ip, "Supabase hand-over rate limited");
        return too_many_requests(retry, &headers);
    }
    let handover = match form {
        Ok(Form(handover)) => handover,
        Err(rejection) => return rejected("/login", &rejection),
    };
    let to = local_path(handover.next.as_deref()).to_owned();
    let user = match verifier.verify(handover.access_token.trim()).await {
        Ok(user) => user,
        Err(e) => {
            tracing::info!(error = %e, "a handed-over Supabase token was refused");
            return back("/login", FormError::InvalidSession);
        }
    };
    let access = secrecy::SecretString::from(handover.access_token.trim().to_owned());
    let signed = match &user.email {
        Some(email) => match gotrue.open_session_for(email).await {
            Err(GoTrueError::Refused { code }) => {
                tracing::warn!(%code, user_id = %user.id, "Supabase Auth would not open a session for a handed-over user");
                return back("/login", FormError::InvalidSession);
            }
            other => other,
        },
        None => Ok(Tokens {
            access,
            refresh: None,
        }),
    };
    sign_in(&state, signed, Some(user.id), &to, &headers).await
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(local_path(Some("/chats?x=1")), "/chats?x=1");
        for away in [
            None,
            Some(""),
            Some("chats"),
            Some("//evil.example/"),
            Some("/\\evil.example"),
            Some("https://evil.example/"),
            Some("/a\nb"),
        ] {
            assert_eq!(local_path(away), "/", "{away:?}");
        }
    }
}
