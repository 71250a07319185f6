//! The plain-HTML form endpoints: sign up, log in, log out, log out everywhere.
//!
//! They work without JavaScript: success is a 303 to `/` (to `/login` after logging out), failure a
//! 303 back to `/login?error=<code>` or `/signup?error=<code>`. The codes are a contract with the
//! app's pages, see [`FormError`]. Rate limits answer 429 with `Retry-After` (a short page for a
//! browser, JSON otherwise).
//!
//! Sign-in is limited three ways, each counted *before* the slow password check so a burst of
//! parallel attempts cannot overshoot: per client IP (in memory), per account (failures counted in
//! the database, where no flood of random emails can flush them) and — for browsers presenting the
//! account's device cookie, which are exempt from the first two — per device cookie. See
//! `auth::device` for why.
//!
//! In Supabase mode (`SUPABASE_URL`) accounts live in the host's Supabase Auth: sign-up is off
//! (the page says so, the POST answers 403 `signup_disabled`), sign-in checks the password with
//! GoTrue's password grant instead of our own table (the per-IP and device limits still apply;
//! GoTrue keeps its own per-account ones), and `POST /auth/supabase` takes a user the host app has
//! signed in already (those handlers are in `supabase_forms`). Either way the dashboard session is
//! backed by a GoTrue session of its own (`supabase_session`), and signing out ends that one too.

use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, header};

use app::ctx::CurrentUser;

use super::rate_limit::RetryAfter;
use super::supabase_session::{self, SupabaseLink};
use super::{device, password, session::SessionTokenHash, supabase_forms, token};
use crate::api::ApiError;
use crate::client_ip::{ClientIp, IpKey};
use crate::state::AppState;
use crate::throttle::too_many_requests;

/// `?error=` codes shown by `/login` and `/signup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormError {
    InvalidCredentials,
    RateLimited,
    EmailTaken,
    InvalidEmail,
    WeakPassword,
    BadRequest,
    /// Supabase mode: GoTrue says the address is not confirmed yet.
    EmailNotConfirmed,
    /// Supabase mode: GoTrue could not be reached.
    AuthUnavailable,
    /// Supabase mode: the session the host app handed over is not valid (expired, forged).
    InvalidSession,
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
            Self::EmailNotConfirmed => "email_not_confirmed",
            Self::AuthUnavailable => "auth_unavailable",
            Self::InvalidSession => "invalid_session",
        }
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct CredentialsForm {
    email: String,
    password: String,
}

pub(super) fn back(page: &str, error: FormError) -> Response {
    Redirect::to(&format!("{page}?error={}", error.code())).into_response()
}

/// An oversized body is a 413 (our JSON error); any other unreadable form goes back with `bad_request`.
pub(super) fn rejected(page: &str, rejection: &FormRejection) -> Response {
    if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::PayloadTooLarge.into_response();
    }
    back(page, FormError::BadRequest)
}

/// Starts a web session for `user_id` and leaves a device cookie for `email` (normalised).
async fn start_session(state: &AppState, user_id: uuid::Uuid, email: &str) -> Response {
    let token = token::generate(&state.keys.session);
    let created = state
        .store
        .accounts()
        .start_web_session(
            user_id,
            &token::hash(&token),
            state.settings.session_lifetime,
        )
        .await;
    match created {
        Ok(()) => signed_in(
            state,
            Redirect::to("/").into_response(),
            &token,
            Some(email),
        ),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// `response` with the session cookie for `token` and, when the email is known, the device cookie.
pub(super) fn signed_in(
    state: &AppState,
    mut response: Response,
    token: &str,
    email: Option<&str>,
) -> Response {
    let secure = state.settings.cookie_secure;
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, token::set_cookie(token, secure));
    if let Some(email) = email {
        let email = store::normalize_email(email).unwrap_or_else(|_| email.to_lowercase());
        headers.append(
            header::SET_COOKIE,
            device::set_cookie(&email, &state.keys.device, secure),
        );
    }
    response
}

pub async fn signup(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    form: Result<Form<CredentialsForm>, FormRejection>,
) -> Response {
    const PAGE: &str = "/signup";
    if state.gotrue.is_some() {
        return supabase_forms::signup_disabled(&headers);
    }
    if let Some(ip) = ip
        && let Err(retry) = state.limits.signups_per_ip.check(&IpKey::from(ip))
    {
        tracing::warn!(%ip, "sign-up rate limited");
        return too_many_requests(retry, &headers);
    }
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
    let password = form.password;
    let hash = match state
        .limits
        .hashing
        .run(move || password::hash(&password))
        .await
    {
        Ok(Ok(hash)) => hash,
        Ok(Err(e)) => return ApiError::internal(e).into_response(),
        Err(busy) => return busy.into_response(),
    };
    match state.store.accounts().create_user(&email, &hash).await {
        Ok(user_id) => {
            tracing::info!(%user_id, "account created");
            start_session(&state, user_id, &email).await
        }
        Err(store::StoreError::EmailTaken) => back(PAGE, FormError::EmailTaken),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
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
    let limits = &state.limits;
    let secure = state.settings.cookie_secure;
    let device = device::from_headers(&headers, &state.keys.device, secure)
        .filter(|d| d.vouches_for(&email));
    // One unit per attempt, taken before anything slow happens.
    let counted = match (&device, ip) {
        (Some(device), _) => limits.logins_per_device.check(&device.nonce),
        (None, Some(ip)) => limits.logins_per_ip.check(&IpKey::from(ip)),
        (None, None) => Ok(()),
    };
    if let Err(retry) = counted {
        tracing::warn!(?ip, device = device.is_some(), "sign-in rate limited");
        return too_many_requests(retry, &headers);
    }
    if form.password.len() > password::MAX_LEN * 4 {
        return back(PAGE, FormError::InvalidCredentials);
    }
    if let Some(gotrue) = &state.gotrue {
        let signed = gotrue.password(form.email.trim(), &form.password).await;
        return supabase_forms::sign_in(&state, signed, None, "/", &headers).await;
    }
    let attempt = state
        .store
        .accounts()
        .login_attempt(
            &email,
            limits.limits.login_failures_per_account,
            limits.limits.login_window,
            device.is_some(),
        )
        .await;
    let credentials = match attempt {
        Ok(store::LoginAttempt::Check(credentials)) => Some(credentials),
        Ok(store::LoginAttempt::UnknownEmail) => None,
        Ok(store::LoginAttempt::LockedOut { retry_after }) => {
            tracing::warn!(?ip, "sign-in refused: too many failures for this account");
            return too_many_requests(RetryAfter(retry_after), &headers);
        }
        Err(e) => return ApiError::internal(e).into_response(),
    };
    let stored_hash = credentials.as_ref().map(|c| c.password_hash.clone());
    let password = form.password;
    let valid = match limits
        .hashing
        .run(move || password::verify_or_dummy(&password, stored_hash.as_deref()))
        .await
    {
        Ok(valid) => valid,
        Err(busy) => return busy.into_response(),
    };
    match credentials {
        Some(user) if valid => {
            if let Err(e) = state.store.accounts().login_succeeded(user.user_id).await {
                return ApiError::internal(e).into_response();
            }
            start_session(&state, user.user_id, &user.email).await
        }
        _ => back(PAGE, FormError::InvalidCredentials),
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
    link: Option<axum::Extension<SupabaseLink>>,
) -> Response {
    if let Some(axum::Extension(SessionTokenHash(hash))) = session {
        if let Err(e) = state.store.accounts().end_web_session(&hash).await {
            return ApiError::internal(e).into_response();
        }
        if let Some(axum::Extension(link)) = link {
            supabase_session::sign_out(&state, &hash, &link, false).await;
        }
    }
    signed_out(&state)
}

pub async fn logout_all(
    State(state): State<AppState>,
    user: Option<axum::Extension<CurrentUser>>,
    session: Option<axum::Extension<SessionTokenHash>>,
    link: Option<axum::Extension<SupabaseLink>>,
) -> Response {
    if let Some(axum::Extension(user)) = user
        && let Err(e) = state.store.accounts().end_all_web_sessions(user.id).await
    {
        return ApiError::internal(e).into_response();
    }
    if let (Some(axum::Extension(SessionTokenHash(hash))), Some(axum::Extension(link))) =
        (session, link)
    {
        supabase_session::sign_out(&state, &hash, &link, true).await;
    }
    signed_out(&state)
}
