//! Server functions under `/fn/…` get the same per-request context as pages: `AppContext` always,
//! `CurrentUser` only with a valid session. A server function defined here (as the app defines its
//! own) proves the contract of `app::ctx`.

use http::{Method, StatusCode, header};
use leptos::prelude::*;

use crate::helpers::{request, spawn_app, unique_email};

#[server(prefix = "/fn", endpoint = "test_whoami")]
async fn whoami() -> Result<String, ServerFnError> {
    let ctx = app::ctx::app_context()?;
    let user = app::ctx::require_user()?;
    Ok(format!("{} max={}", user.email, ctx.max_sessions_per_user))
}

fn call(cookie: Option<&str>) -> http::Request<axum::body::Body> {
    let mut req = request(Method::POST, "/fn/test_whoami", cookie, Some(String::new()));
    req.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    req
}

#[tokio::test]
async fn server_functions_see_the_signed_in_user_and_the_app_context() {
    let app = spawn_app().await;
    let email = unique_email();
    let cookie = app.signup(&email).await;
    let response = app.send(call(Some(&cookie))).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.body, format!("\"{email} max=5\""));
}

#[tokio::test]
async fn server_functions_without_a_session_get_no_user() {
    let app = spawn_app().await;
    let response = app.send(call(None)).await;
    assert_ne!(response.status, StatusCode::OK);
    assert!(response.body.contains("not signed in"), "{}", response.body);
}
