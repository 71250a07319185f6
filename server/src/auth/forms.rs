//! The plain-HTML form endpoints: sign up, log in, log out, log out everywhere.
//!
//! They work without JavaScript: success is a 303 to `/` (to `/login` after logging out), failure a
//! 303 back to `/login?error=<code>` or `/signup?error=<code>`. The codes are a contract with the
//! app's pages, see [`FormError`].

use std::net::{IpAddr, SocketAddr};

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::header;
use http::request::Parts;

use app::ctx::CurrentUser;

use super::{password, session::SessionTokenHash, token};
use crate::api::ApiError;
use crate::state::AppState;

/// `?error=` codes shown by `/login` and `/signup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormError {
    InvalidCredentials,
    RateLimited,
    EmailTaken,
    InvalidEmail,
    WeakPassword,
    BadRequest,
}

impl FormError {
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidCredentials => "invalid_credentials",
            Self::RateLimited => "rate_limited",
            Self::EmailTaken => "email_taken",
            Self::InvalidEmail => "invalid_email",
            Self::WeakPassword => "weak_password",
            Self::BadRequest => "bad_request",
        }
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct CredentialsForm {
    email: String,
    password: String,
}

/// The TCP peer address, when the server was started with connect info (tests may omit it).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

fn back(page: &str, error: FormError) -> Response {
    Redirect::to(&format!("{page}?error={}", error.code())).into_response()
}

/// An oversized body is a 413 (our JSON error); any other unreadable form goes back with `bad_request`.
fn rejected(page: &str, rejection: &FormRejection) -> Response {
    if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::PayloadTooLarge.into_response();
    }
    back(page, FormError::BadRequest)
}

async fn start_session(state: &AppState, user_id: uuid::Uuid) -> Response {
    let token = token::generate();
    let created = state
        .store
        .accounts()
        .create_web_session(
            user_id,
            &token::hash(&token),
            state.settings.session_idle_timeout,
        )
        .await;
    match created {
        Ok(_) => (
            [(
                header::SET_COOKIE,
                token::set_cookie(&token, state.settings.cookie_secure),
            )],
            Redirect::to("/"),
        )
            .into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

pub async fn signup(
    State(state): State<AppState>,
    form: Result<Form<CredentialsForm>, FormRejection>,
) -> Response {
    const PAGE: &str = "/signup";
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejection) => return rejected(PAGE, &rejection),
    };
    let Some(email) = store::normalize_email(&form.email).ok() else {
        return back(PAGE, FormError::InvalidEmail);
    };
    if !(password::MIN_LEN..=password::MAX_LEN).contains(&form.password.chars().count()) {
        return back(PAGE, FormError::WeakPassword);
    }
    let hash = match password::hash_blocking(form.password).await {
        Ok(hash) => hash,
        Err(e) => return ApiError::internal(e).into_response(),
    };
    match state.store.accounts().create_user(&email, &hash).await {
        Ok(user_id) => {
            tracing::info!(%user_id, "account created");
            start_session(&state, user_id).await
        }
        Err(store::StoreError::EmailTaken) => back(PAGE, FormError::EmailTaken),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    form: Result<Form<CredentialsForm>, FormRejection>,
) -> Response {
    const PAGE: &str = "/login";
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejection) => return rejected(PAGE, &rejection),
    };
    // An impossible email cannot match an account; still count it so probing costs attempts.
    let email =
        store::normalize_email(&form.email).unwrap_or_else(|_| form.email.trim().to_lowercase());
    if !state.login_limiter.allows(&email, ip) {
        tracing::warn!(?ip, "login rate limited");
        return back(PAGE, FormError::RateLimited);
    }
    if form.password.len() > password::MAX_LEN * 4 {
        return back(PAGE, FormError::InvalidCredentials);
    }
    let credentials = match state.store.accounts().credentials(&email).await {
        Ok(credentials) => credentials,
        Err(e) => return ApiError::internal(e).into_response(),
    };
    let stored_hash = credentials.as_ref().map(|c| c.password_hash.clone());
    let valid = match password::verify_blocking(form.password, stored_hash).await {
        Ok(valid) => valid,
        Err(e) => return ApiError::internal(e).into_response(),
    };
    match credentials {
        Some(user) if valid => {
            state.login_limiter.record_success(&email);
            start_session(&state, user.user_id).await
        }
        _ => {
            state.login_limiter.record_failure(&email, ip);
            back(PAGE, FormError::InvalidCredentials)
        }
    }
}

fn signed_out(state: &AppState) -> Response {
    (
        [(
            header::SET_COOKIE,
            token::clear_cookie(state.settings.cookie_secure),
        )],
        Redirect::to("/login"),
    )
        .into_response()
}

pub async fn logout(
    State(state): State<AppState>,
    session: Option<axum::Extension<SessionTokenHash>>,
) -> Response {
    if let Some(axum::Extension(SessionTokenHash(hash))) = session
        && let Err(e) = state.store.accounts().end_web_session(&hash).await
    {
        return ApiError::internal(e).into_response();
    }
    signed_out(&state)
}

pub async fn logout_all(
    State(state): State<AppState>,
    user: Option<axum::Extension<CurrentUser>>,
) -> Response {
    if let Some(axum::Extension(user)) = user
        && let Err(e) = state.store.accounts().end_all_web_sessions(user.id).await
    {
        return ApiError::internal(e).into_response();
    }
    signed_out(&state)
}
