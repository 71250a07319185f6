//! Supabase mode (`SUPABASE_URL`): tokens signed with the legacy secret (HS256) or with the
//! project's asymmetric keys (ES256 / RS256 from its JWKS), sign-in through Supabase Auth, the
//! host app's hand-over, refresh and sign-out — against a fake GoTrue on 127.0.0.1.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Method, StatusCode, header};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::fake_gotrue::{FakeGoTrue, SERVICE_KEY, ec_key, key_b, now, sign};
use crate::helpers::{
    JWT_SECRET, PASSWORD, TestApp, TestResponse, credentials, form_request, request, spawn_app,
    spawn_app_limited, spawn_app_with, unique_email,
};
use crate::test_keys::{EC_A_PEM, EC_A_X, EC_B_PEM, RSA_PEM};

async fn supabase_app(fake: &FakeGoTrue) -> TestApp {
    supabase_app_with_gap(fake, Duration::from_secs(30)).await
}

async fn supabase_app_with_gap(fake: &FakeGoTrue, gap: Duration) -> TestApp {
    spawn_app_limited(
        &[
            ("SUPABASE_URL", &fake.url),
            ("SUPABASE_SERVICE_KEY", SERVICE_KEY),
        ],
        Some(server::auth::rate_limit::Limits {
            jwks_refetch_gap: gap,
            ..Default::default()
        }),
    )
    .await
}

fn claims(fake: &FakeGoTrue, sub: Uuid) -> Value {
    json!({ "sub": sub.to_string(), "aud": "authenticated", "role": "authenticated",
            "email": "supa@example.com", "iss": fake.issuer(), "exp": now() + 3600 })
}

async fn me_with_bearer(app: &TestApp, token: &str) -> TestResponse {
    let mut req = request(Method::GET, "/api/me", None, None);
    req.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    app.send(req).await
}

fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).unwrap()
}

#[tokio::test]
async fn hs256_es256_and_rs256_tokens_are_accepted_on_the_api() {
    let fake = FakeGoTrue::start().await;
    let app = supabase_app(&fake).await;
    let cases = [
        (
            "HS256, legacy secret",
            sign(
                &claims(&fake, Uuid::new_v4()),
                Algorithm::HS256,
                None,
                &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
            ),
        ),
        (
            "ES256, JWKS key",
            sign(
                &claims(&fake, Uuid::new_v4()),
                Algorithm::ES256,
                Some("key-a"),
                &ec_key(EC_A_PEM),
            ),
        ),
        (
            "RS256, JWKS key",
            sign(
                &claims(&fake, Uuid::new_v4()),
                Algorithm::RS256,
                Some("key-rsa"),
                &rsa_key(),
            ),
        ),
    ];
    for (what, token) in cases {
        let me = me_with_bearer(&app, &token).await;
        assert_eq!(me.status, StatusCode::OK, "{what}: {}", me.body);
    }
    assert_eq!(
        fake.counts.jwks.load(Ordering::SeqCst),
        1,
        "the JWKS is fetched once and cached"
    );
}

#[tokio::test]
async fn wrong_keys_claims_and_algorithms_are_401_never_500() {
    let fake = FakeGoTrue::start().await;
    let app = supabase_app(&fake).await;
    let sub = Uuid::new_v4();
    let with = |change: Value| {
        let mut c = claims(&fake, sub);
        for (k, v) in change.as_object().cloned().unwrap() {
            c[k] = v;
        }
        c
    };
    let es = |c: &Value| sign(c, Algorithm::ES256, Some("key-a"), &ec_key(EC_A_PEM));
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"key-a"}"#),
        URL_SAFE_NO_PAD.encode(claims(&fake, sub).to_string())
    );
    // The classic confusion: an HS256 token "signed" with the public key, naming the JWKS key.
    let public_as_secret = [
        sign(
            &claims(&fake, sub),
            Algorithm::HS256,
            Some("key-a"),
            &EncodingKey::from_secret(EC_A_X.as_bytes()),
        ),
        sign(
            &claims(&fake, sub),
            Algorithm::HS256,
            Some("key-a"),
            &EncodingKey::from_secret(crate::fake_gotrue::key_a().to_string().as_bytes()),
        ),
    ];
    let mut cases = vec![
        (
            "signed by another key, claiming key A",
            sign(
                &claims(&fake, sub),
                Algorithm::ES256,
                Some("key-a"),
                &ec_key(EC_B_PEM),
            ),
        ),
        ("expired", es(&with(json!({ "exp": now() - 3600 })))),
        ("audience anon", es(&with(json!({ "aud": "anon" })))),
        (
            "another project's issuer",
            es(&with(
                json!({ "iss": "https://other-project.supabase.co/auth/v1" }),
            )),
        ),
        ("alg none", unsigned),
        (
            "RS256 token naming the EC key",
            sign(
                &claims(&fake, sub),
                Algorithm::RS256,
                Some("key-a"),
                &rsa_key(),
            ),
        ),
        (
            "ES256 token naming the RSA key",
            sign(
                &claims(&fake, sub),
                Algorithm::ES256,
                Some("key-rsa"),
                &ec_key(EC_A_PEM),
            ),
        ),
        (
            "unknown key id",
            sign(
                &claims(&fake, sub),
                Algorithm::ES256,
                Some("key-zzz"),
                &ec_key(EC_A_PEM),
            ),
        ),
        (
            "no key id",
            sign(
                &claims(&fake, sub),
                Algorithm::ES256,
                None,
                &ec_key(EC_A_PEM),
            ),
        ),
        (
            "HS256 with another secret",
            sign(
                &claims(&fake, sub),
                Algorithm::HS256,
                None,
                &EncodingKey::from_secret(b"another-secret-that-is-also-32-chars-long"),
            ),
        ),
        (
            "HS384 with the right secret",
            sign(
                &claims(&fake, sub),
                Algorithm::HS384,
                None,
                &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
            ),
        ),
    ];
    for token in public_as_secret {
        cases.push(("HS256 signed with the public key", token));
    }
    for (what, token) in cases {
        let response = me_with_bearer(&app, &token).await;
        assert_eq!(
            response.status,
            StatusCode::UNAUTHORIZED,
            "{what}: {}",
            response.body
        );
        assert_eq!(response.error_code(), "unauthorized", "{what}");
    }
}

#[tokio::test]
async fn a_rotated_in_key_is_fetched_when_a_token_names_it() {
    let fake = FakeGoTrue::start().await;
    let app = supabase_app_with_gap(&fake, Duration::ZERO).await;
    let token_a = sign(
        &claims(&fake, Uuid::new_v4()),
        Algorithm::ES256,
        Some("key-a"),
        &ec_key(EC_A_PEM),
    );
    assert_eq!(me_with_bearer(&app, &token_a).await.status, StatusCode::OK);
    assert_eq!(fake.counts.jwks.load(Ordering::SeqCst), 1);

    // Key B becomes the signing key in the dashboard; the JWKS now lists it.
    fake.set_jwks(json!({ "keys": [crate::fake_gotrue::key_a(), key_b()] }));
    let token_b = sign(
        &claims(&fake, Uuid::new_v4()),
        Algorithm::ES256,
        Some("key-b"),
        &ec_key(EC_B_PEM),
    );
    let me = me_with_bearer(&app, &token_b).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(fake.counts.jwks.load(Ordering::SeqCst), 2);
    // Known keys need no fetch.
    assert_eq!(me_with_bearer(&app, &token_b).await.status, StatusCode::OK);
    assert_eq!(me_with_bearer(&app, &token_a).await.status, StatusCode::OK);
    assert_eq!(fake.counts.jwks.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_flood_of_unknown_key_ids_costs_the_jwks_one_fetch_per_gap() {
    let fake = FakeGoTrue::start().await;
    let app = Arc::new(supabase_app_with_gap(&fake, Duration::from_secs(3600)).await);
    let token_a = sign(
        &claims(&fake, Uuid::new_v4()),
        Algorithm::ES256,
        Some("key-a"),
        &ec_key(EC_A_PEM),
    );
    assert_eq!(me_with_bearer(&app, &token_a).await.status, StatusCode::OK);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let app = Arc::clone(&app);
        let token = sign(
            &claims(&fake, Uuid::new_v4()),
            Algorithm::ES256,
            Some(&Uuid::new_v4().to_string()),
            &ec_key(EC_A_PEM),
        );
        tasks.push(tokio::spawn(async move {
            me_with_bearer(&app, &token).await.status
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        fake.counts.jwks.load(Ordering::SeqCst),
        1,
        "unknown key ids within the gap fetch nothing more"
    );
    // A real key is still accepted from the cache.
    assert_eq!(me_with_bearer(&app, &token_a).await.status, StatusCode::OK);
}

#[tokio::test]
async fn our_sign_up_is_off_in_supabase_mode_and_on_in_standalone_mode() {
    let fake = FakeGoTrue::start().await;
    let app = supabase_app(&fake).await;
    let page = app.get("/signup", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("data-testid=\"signup-disabled\""),
        "{}",
        page.body
    );
    assert!(!page.body.contains("action=\"/auth/signup\""));

    let posted = app
        .post_form(
            "/auth/signup",
            &credentials(&unique_email(), PASSWORD),
            None,
        )
        .await;
    assert_eq!(posted.status, StatusCode::FORBIDDEN, "{}", posted.body);
    assert_eq!(posted.error_code(), "signup_disabled");
    assert!(posted.session_cookie().is_none());
    let mut browser = form_request(
        "/auth/signup",
        &credentials(&unique_email(), PASSWORD),
        None,
        None,
    );
    browser
        .headers_mut()
        .insert(header::ACCEPT, "text/html".parse().unwrap());
    let posted = app.send(browser).await;
    assert_eq!(posted.status, StatusCode::FORBIDDEN);
    assert!(posted.body.contains("Accounts are created in the main app"));
    assert_eq!(fake.counts.password.load(Ordering::SeqCst), 0);

    let standalone = spawn_app().await;
    let cookie = standalone.signup(&unique_email()).await;
    assert_eq!(standalone.me(&cookie).await.status, StatusCode::OK);
    let page = standalone.get("/signup", None).await;
    assert!(page.body.contains("action=\"/auth/signup\""));
}

#[tokio::test]
async fn the_sign_in_form_signs_in_through_supabase_auth() {
    let fake = FakeGoTrue::start().await;
    let app = supabase_app(&fake).await;
    let email = unique_email();
    let id = fake.add_user(&email, PASSWORD);

    let wrong = app
        .post_form(
            "/auth/login",
            &credentials(&email, "not the password"),
            None,
        )
        .await;
    assert_eq!(wrong.status, StatusCode::SEE_OTHER);
    assert_eq!(wrong.location(), Some("/login?error=invalid_credentials"));
    assert!(wrong.session_cookie().is_none());

    let signed = app
        .post_form("/auth/login", &credentials(&email, PASSWORD), None)
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    assert_eq!(signed.location(), Some("/"));
    let cookie = signed.session_cookie().expect("a session cookie");
    let me = app.me(&cookie).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.json()["id"], id.to_string());
    assert_eq!(me.json()["email"], email);
    assert_eq!(fake.live_sessions(id), 1);
    // The dashboard page renders for this user.
    assert_eq!(
        app.get("/leads", Some(&cookie)).await.status,
        StatusCode::OK
    );

    // Signing out ends our session and the GoTrue session behind it.
    let out = app.post_form("/auth/logout", "", Some(&cookie)).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(app.me(&cookie).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(fake.logouts(), vec![("local".to_owned(), id)]);
    assert_eq!(fake.live_sessions(id), 0);
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_and_a_refused_refresh_signs_out() {
    let fake = FakeGoTrue::start().await;
    let app = supabase_app(&fake).await;
    let email = unique_email();
    let id = fake.add_user(&email, PASSWORD);
    // Tokens that are due for a refresh at once (the server refreshes 30 s before `exp`).
    fake.set_access_ttl(20);
    let signed = app
        .post_form("/auth/login", &credentials(&email, PASSWORD), None)
        .await;
    let cookie = signed.session_cookie().expect("signed in");

    for round in 1..=2 {
        let me = app.me(&cookie).await;
        assert_eq!(me.status, StatusCode::OK, "round {round}: {}", me.body);
        assert_eq!(fake.counts.refresh.load(Ordering::SeqCst), round);
    }
    // Tokens that last: no refresh.
    fake.set_access_ttl(3600);
    assert_eq!(app.me(&cookie).await.status, StatusCode::OK);
    assert_eq!(fake.counts.refresh.load(Ordering::SeqCst), 3);
    assert_eq!(app.me(&cookie).await.status, StatusCode::OK);
    assert_eq!(fake.counts.refresh.load(Ordering::SeqCst), 3);

    // The user signs out everywhere in the host app: our next refresh is refused.
    let other = app.login(&email).await;
    fake.set_access_ttl(20);
    let other_due = app.login(&email).await;
    fake.revoke_all(id);
    let me = app.me(&other_due).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{}", me.body);
    let page = app.get("/leads", Some(&other_due)).await;
    assert_eq!(
        page.location(),
        Some("/login"),
        "the dashboard sends them to sign in"
    );
    // A session whose access token is still current stands until that token expires.
    assert_eq!(app.me(&other).await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_outage_of_supabase_auth_is_a_message_or_a_503_and_the_session_survives_it() {
    let fake = FakeGoTrue::start().await;
    let app = supabase_app(&fake).await;
    let email = unique_email();
    fake.add_user(&email, PASSWORD);
    fake.set_access_ttl(20);
    let cookie = app.login(&email).await;

    fake.set_down(true);
    let refused = app
        .post_form("/auth/login", &credentials(&email, PASSWORD), None)
        .await;
    assert_eq!(refused.location(), Some("/login?error=auth_unavailable"));
    let me = app.me(&cookie).await;
    assert_eq!(me.status, StatusCode::SERVICE_UNAVAILABLE, "{}", me.body);
    assert_eq!(me.error_code(), "auth_unavailable");

    // Back up: the claim was released, so the next request refreshes and goes on.
    fake.set_down(false);
    let me = app.me(&cookie).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
}

#[tokio::test]
async fn the_supabase_tokens_are_stored_sealed() {
    let fake = FakeGoTrue::start().await;
    let app = supabase_app(&fake).await;
    let email = unique_email();
    fake.add_user(&email, PASSWORD);
    let cookie = app.login(&email).await;
    assert_eq!(app.me(&cookie).await.status, StatusCode::OK);

    let mut owner = <sqlx::PgConnection as sqlx::Connection>::connect(&app.database_url)
        .await
        .unwrap();
    let stored: Vec<u8> = sqlx::query_scalar(
        "SELECT supabase_tokens FROM app_private.web_sessions WHERE supabase_tokens IS NOT NULL",
    )
    .fetch_one(&mut owner)
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&stored);
    let refresh = fake.refresh_tokens();
    assert_eq!(refresh.len(), 1);
    assert!(
        !text.contains(&refresh[0]),
        "the refresh token is not in clear text"
    );
    assert!(!text.contains("eyJ"), "nor is the access token");
}

#[tokio::test]
async fn the_host_app_hands_over_a_signed_in_user() {
    let fake = FakeGoTrue::start().await;
    let app = supabase_app(&fake).await;
    let email = unique_email();
    let id = fake.add_user(&email, PASSWORD);
    // The host app's own session, as supabase-js holds it.
    let host = fake.open_session(id, &email);
    let access = host["access_token"].as_str().unwrap();

    let form = format!(
        "access_token={}&next={}",
        crate::helpers::encode(access),
        crate::helpers::encode("/chats")
    );
    let mut req = form_request("/auth/supabase", &form, None, None);
    req.headers_mut()
        .insert(header::ORIGIN, "http://localhost".parse().unwrap());
    req.headers_mut()
        .insert(header::HOST, "localhost".parse().unwrap());
    let handed = app.send(req).await;
    assert_eq!(handed.status, StatusCode::SEE_OTHER, "{}", handed.body);
    assert_eq!(handed.location(), Some("/chats"));
    let cookie = handed.session_cookie().expect("a session cookie");
    let me = app.me(&cookie).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.json()["id"], id.to_string());
    // A GoTrue session of our own (the host's refresh token was never sent to us).
    assert_eq!(fake.counts.generate_link.load(Ordering::SeqCst), 1);
    assert_eq!(fake.counts.verify.load(Ordering::SeqCst), 1);
    assert_eq!(fake.live_sessions(id), 2);

    // Another site cannot sign a visitor in (CSRF), a bad token is refused, `next` stays local.
    let mut req = form_request("/auth/supabase", &form, None, None);
    req.headers_mut()
        .insert(header::ORIGIN, "https://evil.example".parse().unwrap());
    req.headers_mut()
        .insert(header::HOST, "localhost".parse().unwrap());
    assert_eq!(app.send(req).await.status, StatusCode::FORBIDDEN);
    let forged = app
        .post_form("/auth/supabase", "access_token=not.a.token", None)
        .await;
    assert_eq!(forged.location(), Some("/login?error=invalid_session"));
    assert!(forged.session_cookie().is_none());
    let away = app
        .post_form(
            "/auth/supabase",
            &format!(
                "access_token={}&next={}",
                crate::helpers::encode(access),
                crate::helpers::encode("//evil.example/")
            ),
            None,
        )
        .await;
    assert_eq!(away.location(), Some("/"));

    // Not in standalone mode.
    let standalone = spawn_app().await;
    let response = standalone.post_form("/auth/supabase", &form, None).await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn standalone_sessions_do_not_carry_over_into_supabase_mode() {
    // One database, first served standalone, then in Supabase mode: the old cookie is refused.
    let fake = FakeGoTrue::start().await;
    let key = "ab".repeat(32);
    let standalone = spawn_app_with(&[("SESSION_ENCRYPTION_KEY", &key)]).await;
    let cookie = standalone.signup(&unique_email()).await;
    assert_eq!(standalone.me(&cookie).await.status, StatusCode::OK);
    let supabase = crate::helpers::spawn_app_on(
        &standalone.database_url,
        &[
            ("SESSION_ENCRYPTION_KEY", &key),
            ("SUPABASE_URL", &fake.url),
            ("SUPABASE_SERVICE_KEY", SERVICE_KEY),
        ],
    )
    .await;
    let refused = supabase.me(&cookie).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(
        refused
            .headers
            .get_all(header::SET_COOKIE)
            .iter()
            .any(|c| c.to_str().unwrap().contains("Max-Age=0")),
        "the stale cookie is cleared"
    );
    // And it is gone for good, even back in standalone mode.
    assert_eq!(
        standalone.me(&cookie).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_seeds_two_supabase_variables_alone_say_where_to_find_database_url() {
    let dir = std::env::temp_dir().join(format!("rarity-supabase-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATA_DIR", &dir)
        .env("SUPABASE_URL", "https://abcdefghijklmnop.supabase.co")
        .env("SUPABASE_SERVICE_KEY", SERVICE_KEY)
        .current_dir(&dir)
        .output();
    // It exits as soon as the configuration is read; the bound is generous because the other
    // tests of this binary start many servers at once on two cores.
    let output = tokio::time::timeout(Duration::from_secs(180), output)
        .await
        .expect("the server exits without serving")
        .expect("the server binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("config error: DATABASE_URL is required on Supabase"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Project Settings → Database → Connection string"),
        "{stderr}"
    );
    assert!(!stderr.contains(SERVICE_KEY), "the key is never printed");
    assert!(
        !dir.join("postgres").exists(),
        "no embedded PostgreSQL was started"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
