//! Dashboard page protection (the pages themselves are tested by the app and Playwright).

use http::StatusCode;

use crate::helpers::{spawn_app, unique_email};

#[tokio::test]
async fn dashboard_pages_redirect_to_login_when_signed_out() {
    let app = spawn_app().await;
    for path in [
        "/",
        "/accounts",
        "/chats",
        "/leads",
        "/templates",
        "/settings",
        "/leads/some-id",
    ] {
        let response = app.get(path, None).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(response.location(), Some("/login"), "{path}");
    }
}

#[tokio::test]
async fn login_and_signup_redirect_to_the_dashboard_when_signed_in() {
    let app = spawn_app().await;
    let cookie = app.signup(&unique_email()).await;
    for path in ["/login", "/signup"] {
        let response = app.get(path, Some(&cookie)).await;
        assert_eq!(response.location(), Some("/"), "{path}");
    }
}

#[tokio::test]
async fn the_dashboard_renders_for_a_signed_in_user_with_a_nonce_csp() {
    let app = spawn_app().await;
    let cookie = app.signup(&unique_email()).await;
    let response = app.get("/", Some(&cookie)).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert!(response.body.contains("<html"), "{}", response.body);
    assert_eq!(response.headers["cache-control"], "no-store");
    let csp = response.headers["content-security-policy"]
        .to_str()
        .unwrap();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("page CSP carries a nonce: {csp}"));
    assert!(
        response.body.contains(&format!("nonce=\"{nonce}\"")),
        "inline scripts carry the same nonce"
    );
}
