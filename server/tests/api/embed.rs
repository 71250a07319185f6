//! Embedding: tokens from `POST /api/embed/tokens`, the `/embed/…` views they open (framable only
//! by `EMBED_ALLOWED_ORIGINS`), and the embed cookie that the views' server calls carry — limited
//! to the view's user and, for a chat, to its lead.

use http::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{TestApp, request, spawn_app, spawn_app_with, unique_email};

const HOST: &str = "https://app.example";
const OTHER_HOST: &str = "https://other.example";

async fn embedding_app() -> TestApp {
    spawn_app_with(&[("EMBED_ALLOWED_ORIGINS", &format!("{HOST}, {OTHER_HOST}"))]).await
}

async fn a_lead(app: &TestApp, cookie: &str, phone: &str) -> String {
    let made = app
        .json(
            Method::POST,
            "/api/leads",
            Some(cookie),
            &json!({"name": "Ada", "phone": phone}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    made.json()["id"].as_str().unwrap().to_owned()
}

async fn a_token(app: &TestApp, cookie: &str, body: Value) -> (StatusCode, Value) {
    let r = app
        .json(Method::POST, "/api/embed/tokens", Some(cookie), &body)
        .await;
    let v = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    (r.status, v)
}

fn header_of(r: &crate::helpers::TestResponse, name: header::HeaderName) -> String {
    r.headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// `name=value` of the embed cookie a response sets.
fn embed_cookie(r: &crate::helpers::TestResponse) -> String {
    r.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-rl_embed="))
        .unwrap_or_else(|| panic!("no embed cookie in {:?}", r.headers))
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

fn call(path: &str, cookie: &str, form: &str) -> http::Request<axum::body::Body> {
    let mut req = request(Method::POST, path, Some(cookie), Some(form.to_owned()));
    req.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    req
}

#[tokio::test]
async fn a_chat_token_opens_its_view_framable_by_the_allowed_origins_only() {
    let app = embedding_app().await;
    let cookie = app.signup(&unique_email()).await;
    let lead = a_lead(&app, &cookie, "+447700900123").await;
    let (status, body) = a_token(
        &app,
        &cookie,
        json!({"view": "chat", "lead_id": lead, "origin": HOST}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let url = body["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("/embed/chat/{lead}?token=v1.")),
        "{url}"
    );
    assert!(body["expires_at"].is_string());

    let page = app.get(url, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csp = header_of(&page, header::CONTENT_SECURITY_POLICY);
    assert!(
        csp.contains(&format!("frame-ancestors {HOST} {OTHER_HOST}")),
        "{csp}"
    );
    assert!(csp.contains("script-src 'self' 'nonce-"), "{csp}");
    assert!(page.headers.get(header::X_FRAME_OPTIONS).is_none());
    let set = page
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("__Host-rl_embed="))
        .expect("the embed cookie");
    for part in [
        "HttpOnly",
        "Secure",
        "SameSite=None",
        "Partitioned",
        "Path=/",
    ] {
        assert!(set.contains(part), "{set}");
    }
    assert!(page.body.contains("data-embed-root"), "{}", page.body);

    // Everything else is still never framed.
    for path in ["/login", "/api/me", "/chats"] {
        let r = app.get(path, Some(&cookie)).await;
        assert!(
            header_of(&r, header::CONTENT_SECURITY_POLICY).contains("frame-ancestors 'none'"),
            "{path}"
        );
        assert_eq!(header_of(&r, header::X_FRAME_OPTIONS), "DENY", "{path}");
    }
}

#[tokio::test]
async fn tokens_are_checked_for_view_lead_lifetime_and_origin() {
    let app = embedding_app().await;
    let cookie = app.signup(&unique_email()).await;
    let lead = a_lead(&app, &cookie, "+447700900124").await;
    let stranger = app.signup(&unique_email()).await;
    let theirs = a_lead(&app, &stranger, "+447700900125").await;

    let (status, _) = a_token(
        &app,
        &cookie,
        json!({"view": "chat", "lead_id": theirs, "origin": HOST}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for (bad, field) in [
        (
            json!({"view": "chat", "lead_id": lead, "origin": HOST, "ttl_seconds": 59}),
            "ttl_seconds",
        ),
        (
            json!({"view": "chat", "lead_id": lead, "origin": HOST, "ttl_seconds": 3601}),
            "ttl_seconds",
        ),
        (json!({"view": "chat", "origin": HOST}), "lead_id"),
        (
            json!({"view": "accounts", "lead_id": lead, "origin": HOST}),
            "lead_id",
        ),
        (json!({"view": "leads", "origin": HOST}), "view"),
        (
            json!({"view": "accounts", "origin": "https://evil.example"}),
            "origin",
        ),
        // Two origins are allowed: the token must say which one frames it.
        (json!({"view": "accounts"}), "origin"),
    ] {
        let (status, body) = a_token(&app, &cookie, bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad} → {body}");
        assert_eq!(body["error"]["field"], field, "{bad} → {body}");
    }
    let (status, _) = a_token(&app, "", json!({"view": "accounts", "origin": HOST})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A token opens only its own view.
    let (_, body) = a_token(&app, &cookie, json!({"view": "accounts", "origin": HOST})).await;
    let token = body["token"].as_str().unwrap().to_owned();
    assert!(
        body["url"]
            .as_str()
            .unwrap()
            .starts_with("/embed/accounts?token=")
    );
    let r = app
        .get(&format!("/embed/chat/{lead}?token={token}"), None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert!(
        header_of(&r, header::CONTENT_SECURITY_POLICY).contains(&format!("frame-ancestors {HOST}"))
    );
    assert!(r.headers.get(header::X_FRAME_OPTIONS).is_none());

    // Forged (one character of the claims changed), missing, or garbage → 401 page, never 500.
    let forged = token.replacen("v1.e", "v1.f", 1);
    for path in [
        format!("/embed/accounts?token={forged}"),
        "/embed/accounts".to_owned(),
        "/embed/accounts?token=garbage".to_owned(),
    ] {
        let r = app.get(&path, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}: {}", r.body);
        assert!(r.body.contains("embed-refused"), "{}", r.body);
    }
    let r = app
        .get(&format!("/embed/accounts?token={token}"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    // A known session key, so the test can sign a token as the server does, already past.
    let key = [9u8; 32];
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let app = spawn_app_with(&[
        ("EMBED_ALLOWED_ORIGINS", HOST),
        ("SESSION_ENCRYPTION_KEY", &hex),
    ])
    .await;
    let cookie = app.signup(&unique_email()).await;
    let me = app.me(&cookie).await.json();
    let user_id = uuid::Uuid::parse_str(me["id"].as_str().unwrap()).unwrap();
    // One origin allowed: it may be left out.
    let (status, body) = a_token(
        &app,
        &cookie,
        json!({"view": "accounts", "ttl_seconds": 60}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let fresh = app.get(body["url"].as_str().unwrap(), None).await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
    let embed = embed_cookie(&fresh);
    assert!(
        fresh.headers.get_all(header::SET_COOKIE).iter().any(|v| {
            let v = v.to_str().unwrap();
            v.starts_with("__Host-rl_embed=")
                && (v.contains("Max-Age=60") || v.contains("Max-Age=59"))
        }),
        "the cookie lives as long as the token"
    );
    assert_eq!(
        app.send(call("/fn/whatsapp/accounts", &embed, ""))
            .await
            .status,
        StatusCode::OK
    );

    let embed_key = server::auth::token::TokenKey::derive(&key, "embed-token-v1");
    let expired = server::embed::token::sign(
        &embed_key,
        &server::embed::EmbedClaims {
            user_id,
            view: app::ctx::EmbedView::Accounts,
            origin: HOST.to_owned(),
            expires_at: chrono::Utc::now().timestamp() - 1,
        },
    );
    let r = app
        .get(&format!("/embed/accounts?token={expired}"), None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert!(r.body.contains("expired"), "{}", r.body);
    // A page loaded before the expiry stops working with it: its calls carry the token.
    let stale = format!("__Host-rl_embed={expired}");
    let r = app.send(call("/fn/whatsapp/accounts", &stale, "")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
}

#[tokio::test]
async fn an_embed_session_reaches_only_its_view_and_its_lead() {
    let app = embedding_app().await;
    let cookie = app.signup(&unique_email()).await;
    let lead = a_lead(&app, &cookie, "+447700900126").await;
    let other = a_lead(&app, &cookie, "+447700900127").await;
    let (_, body) = a_token(
        &app,
        &cookie,
        json!({"view": "chat", "lead_id": lead, "origin": HOST}),
    )
    .await;
    let page = app.get(body["url"].as_str().unwrap(), None).await;
    assert_eq!(page.status, StatusCode::OK);
    let embed = embed_cookie(&page);

    let own = app
        .send(call("/fn/chats/thread", &embed, &format!("lead_id={lead}")))
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    assert!(own.body.contains("+447700900126"), "{}", own.body);
    let others = app
        .send(call(
            "/fn/chats/thread",
            &embed,
            &format!("lead_id={other}"),
        ))
        .await;
    assert_eq!(others.status, StatusCode::NOT_FOUND, "{}", others.body);
    // The conversation list (every lead) and the account manager are not this view's.
    let list = app.send(call("/fn/chats/conversations", &embed, "")).await;
    assert_eq!(list.status, StatusCode::FORBIDDEN, "{}", list.body);
    let accounts = app.send(call("/fn/whatsapp/accounts", &embed, "")).await;
    assert_eq!(accounts.status, StatusCode::FORBIDDEN, "{}", accounts.body);
    // Nor the dashboard or the REST API: the embed cookie is not a session there.
    assert_eq!(
        app.get("/api/me", Some(&embed)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/chats", Some(&embed)).await.status,
        StatusCode::SEE_OTHER
    );
    // The embed cookie wins over a dashboard session sent beside it.
    let both = format!("{embed}; {cookie}");
    let list = app.send(call("/fn/chats/conversations", &both, "")).await;
    assert_eq!(list.status, StatusCode::FORBIDDEN, "{}", list.body);
    // A forged embed cookie ends the embed: no fallback to the dashboard session.
    let forged = format!("__Host-rl_embed=v1.x.y; {cookie}");
    let r = app
        .send(call(
            "/fn/chats/thread",
            &forged,
            &format!("lead_id={lead}"),
        ))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
}

#[tokio::test]
async fn with_no_allowed_origins_embedding_is_off() {
    let app = spawn_app().await;
    let cookie = app.signup(&unique_email()).await;
    let (status, body) = a_token(&app, &cookie, json!({"view": "accounts"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    for path in [
        "/embed/accounts?token=x",
        "/embed/accounts",
        "/embed/chat/00000000-0000-0000-0000-000000000000",
    ] {
        assert_eq!(
            app.get(path, None).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}

#[tokio::test]
async fn api_keys_need_the_manage_scope() {
    let app = embedding_app().await;
    let cookie = app.signup(&unique_email()).await;
    for (scopes, expected) in [
        (json!(["read", "send"]), StatusCode::FORBIDDEN),
        (json!(["manage"]), StatusCode::CREATED),
    ] {
        let made = app
            .json(
                Method::POST,
                "/api/keys",
                Some(&cookie),
                &json!({"name": "Host", "scopes": scopes}),
            )
            .await;
        let secret = made.json()["secret"].as_str().unwrap().to_owned();
        let mut req = request(
            Method::POST,
            "/api/embed/tokens",
            None,
            Some(json!({"view": "accounts", "origin": HOST}).to_string()),
        );
        req.headers_mut().insert(
            header::AUTHORIZATION,
            format!("Bearer {secret}").parse().unwrap(),
        );
        req.headers_mut()
            .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        let r = app.send(req).await;
        assert_eq!(r.status, expected, "{scopes}: {}", r.body);
    }
}
