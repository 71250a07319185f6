//! Findings from the security review, each shown fixed: the session cookie's prefix, `Secure` and
//! absolute lifetime; form errors in the URL that we did not send; quotas and paging on every list;
//! `/readyz` keeping its causes to itself; request ids; `server --version`.

use std::time::Duration;

use http::{Method, StatusCode, header};
use serde_json::json;

use crate::helpers::{TestApp, request, spawn_app, spawn_app_with, unique_email};

#[tokio::test]
async fn an_https_public_url_gives_a_host_prefixed_secure_cookie() {
    let app = spawn_app_with(&[("PUBLIC_URL", "https://crm.example.com")]).await;
    let response = app
        .post_form(
            "/auth/signup",
            &crate::helpers::credentials(&unique_email(), crate::helpers::PASSWORD),
            None,
        )
        .await;
    assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
    let cookies: Vec<String> = response
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("__Host-rl_session="))
        .unwrap_or_else(|| panic!("{cookies:?}"));
    for attribute in ["; Secure", "; Path=/", "; HttpOnly", "; SameSite=Lax"] {
        assert!(session.contains(attribute), "{session}");
    }
    assert!(!session.contains("Domain"), "{session}");
    assert!(
        cookies.iter().all(|c| c.contains("; Secure")),
        "every cookie we set is Secure: {cookies:?}"
    );
    let pair = session.split(';').next().unwrap();
    assert_eq!(app.me(pair).await.status, StatusCode::OK);
    // The unprefixed name is not read on such a deployment.
    let unprefixed = pair.replacen("__Host-", "", 1);
    assert_eq!(app.me(&unprefixed).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sessions_end_at_their_absolute_lifetime_however_active() {
    let app = spawn_app_with(&[
        ("SESSION_IDLE_TIMEOUT", "30m"),
        ("SESSION_MAX_LIFETIME", "2"),
    ])
    .await;
    let cookie = app.signup(&unique_email()).await;
    for _ in 0..3 {
        assert_eq!(app.me(&cookie).await.status, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let expired = app.me(&cookie).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert!(
        expired.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}

/// A no-JavaScript form post of `leads/create` from the leads page, as a browser sends it.
fn plain_form_post(cookie: &str, body: &str) -> http::Request<axum::body::Body> {
    let mut req = request(
        Method::POST,
        "/fn/leads/create",
        Some(cookie),
        Some(body.to_owned()),
    );
    let headers = req.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    headers.insert(header::ACCEPT, "text/html".parse().unwrap());
    headers.insert(header::HOST, "127.0.0.1:3001".parse().unwrap());
    headers.insert(
        header::REFERER,
        "http://127.0.0.1:3001/leads".parse().unwrap(),
    );
    req
}

#[tokio::test]
async fn a_link_cannot_put_its_own_text_into_a_form_error() {
    let app = spawn_app().await;
    let cookie = app.signup(&unique_email()).await;

    // A forged error: the page is served without it.
    use base64::Engine as _;
    let forged = base64::engine::general_purpose::URL_SAFE
        .encode(br#"{"Failed":"Your account is suspended. Call +1 555 0100 now."}"#);
    let url = format!("/leads?__path=%2Ffn%2Fleads%2Fcreate&__err={forged}");
    let page = app.get(&url, Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), Some("/leads"));
    let page = app.get("/leads", Some(&cookie)).await;
    assert!(!page.body.contains("suspended"));

    // A real failure: the redirect carries the error and a cookie vouching for it, and the page
    // shows the server's message.
    let refused = app
        .send(plain_form_post(&cookie, "name=Ana&phone=12345"))
        .await;
    assert!(
        refused.status.is_redirection(),
        "{}: {}",
        refused.status,
        refused.body
    );
    let location = refused.location().unwrap().to_owned();
    assert!(location.contains("__err="), "{location}");
    let vouching = refused
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("rl_form_error="))
        .and_then(|v| v.split(';').next())
        .expect("the redirect vouches for its error")
        .to_owned();
    let path = location
        .split_once("3001")
        .map_or(location.as_str(), |(_, p)| p);
    let shown = app.get(path, Some(&format!("{cookie}; {vouching}"))).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert!(
        shown.body.contains("aria-invalid=\"true\""),
        "the phone field shows the server's error"
    );
    // The vouching cookie does not carry over to another error text.
    let swapped = format!("/leads?__path=%2Ffn%2Fleads%2Fcreate&__err={forged}");
    let replay = app
        .get(&swapped, Some(&format!("{cookie}; {vouching}")))
        .await;
    assert_eq!(replay.status, StatusCode::SEE_OTHER);
}

async fn set_quota(app: &TestApp, column: &str, limit: i32) {
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    sqlx::query(&format!(
        "UPDATE app_private.settings SET {column} = $1 WHERE singleton"
    ))
    .bind(limit)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
}

#[tokio::test]
async fn leads_and_templates_have_per_user_quotas() {
    let app = spawn_app().await;
    set_quota(&app, "max_leads_per_user", 2).await;
    set_quota(&app, "max_templates_per_user", 1).await;
    let cookie = app.signup(&unique_email()).await;
    for phone in ["+15550000001", "+15550000002"] {
        let r = app
            .json(
                Method::POST,
                "/api/leads",
                Some(&cookie),
                &json!({"name": "Lead", "phone": phone}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let over = app
        .json(
            Method::POST,
            "/api/leads",
            Some(&cookie),
            &json!({"name": "Lead", "phone": "+15550000003"}),
        )
        .await;
    assert_eq!(over.status, StatusCode::CONFLICT, "{}", over.body);
    assert!(over.body.contains("at most 2 leads"), "{}", over.body);
    // Another user has a quota of their own.
    let other = app.signup(&unique_email()).await;
    let theirs = app
        .json(
            Method::POST,
            "/api/leads",
            Some(&other),
            &json!({"name": "Lead", "phone": "+15550000003"}),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED);

    let template = json!({"name": "Hi", "content": "Hello {{name}}"});
    let first = app
        .json(Method::POST, "/api/templates", Some(&cookie), &template)
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let second = app
        .json(Method::POST, "/api/templates", Some(&cookie), &template)
        .await;
    assert_eq!(second.status, StatusCode::CONFLICT, "{}", second.body);
    assert!(
        second.body.contains("at most 1 templates"),
        "{}",
        second.body
    );
}

fn next_link(response: &crate::helpers::TestResponse) -> Option<String> {
    let link = response.headers.get(header::LINK)?.to_str().ok()?;
    let url = link.strip_prefix('<')?.split_once('>')?.0;
    assert!(link.ends_with("rel=\"next\""), "{link}");
    Some(url.to_owned())
}

#[tokio::test]
async fn lists_are_paged_with_a_next_link() {
    let app = spawn_app().await;
    let cookie = app.signup(&unique_email()).await;
    for i in 0..5 {
        let lead = json!({"name": format!("Lead {i}"), "phone": format!("+1555000010{i}")});
        let r = app
            .json(Method::POST, "/api/leads", Some(&cookie), &lead)
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        let template = json!({"name": format!("T{i}"), "content": "Hello"});
        let r = app
            .json(Method::POST, "/api/templates", Some(&cookie), &template)
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    for (path, name_field) in [
        ("/api/leads?limit=2", "name"),
        ("/api/templates?limit=2", "name"),
    ] {
        let mut seen = Vec::new();
        let mut next = Some(path.to_owned());
        let mut pages = 0;
        while let Some(url) = next {
            let page = app.get(&url, Some(&cookie)).await;
            assert_eq!(page.status, StatusCode::OK, "{url}: {}", page.body);
            let items = page.json().as_array().unwrap().clone();
            assert!(items.len() <= 2);
            seen.extend(
                items
                    .iter()
                    .map(|i| i[name_field].as_str().unwrap().to_owned()),
            );
            next = next_link(&page);
            pages += 1;
        }
        assert_eq!(pages, 3, "{path}");
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 5, "every item once: {seen:?}");
    }
    let newest_first = app.get("/api/leads?limit=1", Some(&cookie)).await.json();
    assert_eq!(newest_first[0]["name"], "Lead 4");
    let conversations = app.get("/api/conversations?limit=1", Some(&cookie)).await;
    assert_eq!(conversations.status, StatusCode::OK);
    assert!(conversations.headers.get(header::LINK).is_none());
    for bad in [
        "/api/leads?limit=0",
        "/api/leads?limit=201",
        "/api/leads?limit=x",
        "/api/leads?before=nonsense",
        "/api/templates?after=zz",
        "/api/conversations?before=00",
    ] {
        let r = app.get(bad, Some(&cookie)).await;
        assert!(r.status.is_client_error(), "{bad}: {}", r.status);
        assert_ne!(r.status, StatusCode::NOT_FOUND, "{bad}");
    }
}

#[tokio::test]
async fn readyz_does_not_show_its_cause() {
    let app = spawn_app().await;
    app.store.close().await;
    let response = app.get("/readyz", None).await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.body, "not ready");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let fresh = app.get("/healthz", None).await;
    let id = fresh.headers["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    let mut req = request(Method::GET, "/healthz", None, None);
    req.headers_mut()
        .insert("x-request-id", "edge-42.a_b".parse().unwrap());
    assert_eq!(app.send(req).await.headers["x-request-id"], "edge-42.a_b");
    let mut req = request(Method::GET, "/healthz", None, None);
    req.headers_mut()
        .insert("x-request-id", "bad id\"}".parse().unwrap());
    let replaced = app.send(req).await;
    assert_ne!(replaced.headers["x-request-id"], "bad id\"}");
}

#[tokio::test]
async fn the_binary_tells_its_version_without_any_configuration() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .arg("--version")
        .env_clear()
        .env("PORT", "not a port")
        .output()
        .await
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("server {}", env!("CARGO_PKG_VERSION"))
    );
}
