use std::time::Duration;

use http::StatusCode;

use crate::helpers::{
    PASSWORD, credentials, form_request, spawn_app, spawn_app_with, unique_email,
};

#[tokio::test]
async fn signup_sets_a_hardened_cookie_that_authenticates_the_api() {
    let app = spawn_app().await;
    let email = unique_email();
    let response = app
        .post_form("/auth/signup", &credentials(&email, PASSWORD), None)
        .await;
    assert_eq!(response.status, StatusCode::SEE_OTHER);
    assert_eq!(response.location(), Some("/"));
    let set_cookie = response.headers["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(
        !set_cookie.contains("Secure"),
        "loopback default is not Secure: {set_cookie}"
    );

    let me = app.me(&response.session_cookie().unwrap()).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["email"], email.as_str());
    assert!(uuid::Uuid::parse_str(me.json()["id"].as_str().unwrap()).is_ok());
}

#[tokio::test]
async fn api_without_credentials_is_401_json() {
    let app = spawn_app().await;
    let response = app.get("/api/me", None).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(response.error_code(), "unauthorized");
    let forged = app
        .me("rl_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert!(
        forged.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0"),
        "unknown cookie is cleared"
    );
}

#[tokio::test]
async fn signup_failures_redirect_back_with_a_code() {
    let app = spawn_app().await;
    let email = unique_email();
    app.signup(&email).await;
    let cases = [
        (credentials(&email.to_uppercase(), PASSWORD), "email_taken"),
        (credentials("not-an-email", PASSWORD), "invalid_email"),
        (credentials(&unique_email(), "short"), "weak_password"),
        (
            credentials(&unique_email(), &"x".repeat(1025)),
            "weak_password",
        ),
        ("email=a%40b.io".to_owned(), "bad_request"),
    ];
    for (form, code) in cases {
        let response = app.post_form("/auth/signup", &form, None).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER, "{code}");
        assert_eq!(
            response.location(),
            Some(format!("/signup?error={code}").as_str())
        );
        assert!(
            response.session_cookie().is_none(),
            "{code} must not sign in"
        );
    }
}

#[tokio::test]
async fn login_with_the_right_password_starts_a_new_session() {
    let app = spawn_app().await;
    let email = unique_email();
    app.signup(&email).await;
    let response = app
        .post_form(
            "/auth/login",
            &credentials(&format!("  {}", email.to_uppercase()), PASSWORD),
            None,
        )
        .await;
    assert_eq!(response.location(), Some("/"));
    let cookie = response.session_cookie().expect("login sets a cookie");
    assert_eq!(app.me(&cookie).await.status, StatusCode::OK);
}

#[tokio::test]
async fn login_with_a_wrong_password_or_unknown_email_is_refused_without_a_cookie() {
    let app = spawn_app().await;
    let email = unique_email();
    app.signup(&email).await;
    for form in [
        credentials(&email, "wrong password!!"),
        credentials(&unique_email(), PASSWORD),
    ] {
        let response = app.post_form("/auth/login", &form, None).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER);
        assert_eq!(
            response.location(),
            Some("/login?error=invalid_credentials")
        );
        assert!(response.session_cookie().is_none());
    }
}

#[tokio::test]
async fn logout_ends_only_this_session() {
    let app = spawn_app().await;
    let email = unique_email();
    let first = app.signup(&email).await;
    let second = app.login(&email).await;
    let response = app.post_form("/auth/logout", "", Some(&first)).await;
    assert_eq!(response.location(), Some("/login"));
    assert!(
        response.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        app.me(&first).await.status,
        StatusCode::UNAUTHORIZED,
        "the old cookie is dead"
    );
    assert_eq!(
        app.me(&second).await.status,
        StatusCode::OK,
        "other sessions survive"
    );
}

#[tokio::test]
async fn logout_all_ends_every_session_of_the_user() {
    let app = spawn_app().await;
    let email = unique_email();
    let first = app.signup(&email).await;
    let second = app.login(&email).await;
    let other_user = app.signup(&unique_email()).await;
    let response = app.post_form("/auth/logout-all", "", Some(&second)).await;
    assert_eq!(response.location(), Some("/login"));
    assert_eq!(app.me(&first).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.me(&second).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.me(&other_user).await.status, StatusCode::OK);
}

#[tokio::test]
async fn idle_sessions_expire_and_activity_keeps_them_alive() {
    let app = spawn_app_with(&[("SESSION_IDLE_TIMEOUT", "2s")]).await;
    let cookie = app.signup(&unique_email()).await;
    // Activity every second keeps the session alive past the 2 s idle timeout (sliding expiry)...
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(app.me(&cookie).await.status, StatusCode::OK);
    }
    // ...and idleness ends it.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let response = app.me(&cookie).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert!(
        response.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let page = app.get("/leads", Some(&cookie)).await;
    assert_eq!(page.location(), Some("/login"));
}

#[tokio::test]
async fn five_failures_for_one_email_lock_it_even_for_the_right_password() {
    let app = spawn_app().await;
    let email = unique_email();
    app.signup(&email).await;
    for _ in 0..5 {
        let response = app
            .post_form(
                "/auth/login",
                &credentials(&email, "wrong password!!"),
                None,
            )
            .await;
        assert_eq!(
            response.location(),
            Some("/login?error=invalid_credentials")
        );
    }
    let response = app
        .post_form("/auth/login", &credentials(&email, PASSWORD), None)
        .await;
    assert_eq!(response.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.error_code(), "rate_limited");
    let retry: u64 = response.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    assert!(response.session_cookie().is_none());
}

#[tokio::test]
async fn twenty_failures_from_one_ip_lock_that_ip() {
    let app = spawn_app().await;
    let victim = unique_email();
    app.signup(&victim).await;
    for _ in 0..20 {
        let req = form_request(
            "/auth/login",
            &credentials(&unique_email(), "guess guess guess"),
            None,
            Some([10, 0, 0, 7]),
        );
        assert_eq!(
            app.send(req).await.location(),
            Some("/login?error=invalid_credentials")
        );
    }
    let blocked = form_request(
        "/auth/login",
        &credentials(&victim, PASSWORD),
        None,
        Some([10, 0, 0, 7]),
    );
    let blocked = app.send(blocked).await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(blocked.headers.contains_key("retry-after"));
    let other_ip = form_request(
        "/auth/login",
        &credentials(&victim, PASSWORD),
        None,
        Some([10, 0, 0, 8]),
    );
    assert_eq!(app.send(other_ip).await.location(), Some("/"));
}

#[tokio::test]
async fn cross_origin_form_posts_are_refused() {
    let app = spawn_app().await;
    let cookie = app.signup(&unique_email()).await;
    let mut req = form_request("/auth/logout-all", "", Some(&cookie), None);
    req.headers_mut()
        .insert("host", "127.0.0.1:3001".parse().unwrap());
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    let response = app.send(req).await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    assert_eq!(response.error_code(), "forbidden");
    assert_eq!(
        app.me(&cookie).await.status,
        StatusCode::OK,
        "the session survived"
    );

    let mut same = form_request("/auth/logout", "", Some(&cookie), None);
    same.headers_mut()
        .insert("host", "127.0.0.1:3001".parse().unwrap());
    same.headers_mut()
        .insert("origin", "http://127.0.0.1:3001".parse().unwrap());
    assert_eq!(app.send(same).await.location(), Some("/login"));
}
