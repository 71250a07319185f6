//! Accounts and authentication: password hashing, the session cookie, the form endpoints, Supabase
//! JWTs for the REST API, Supabase Auth sign-in (Supabase mode), the login rate limit and CSRF
//! checks.

pub mod csrf;
pub mod device;
pub mod forms;
pub mod jwt;
pub mod password;
pub mod rate_limit;
pub mod session;
pub mod supabase;
pub mod supabase_forms;
pub mod supabase_session;
pub mod token;

use axum::Router;
use axum::routing::post;

use crate::state::AppState;

/// `POST /auth/signup`, `/auth/login`, `/auth/logout`, `/auth/logout-all`, and in Supabase mode
/// `/auth/supabase` (the host app hands over a signed-in user).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/supabase", post(supabase_forms::handover))
        .route("/auth/signup", post(forms::signup))
        .route("/auth/login", post(forms::login))
        .route("/auth/logout", post(forms::logout))
        .route("/auth/logout-all", post(forms::logout_all))
}
