use http::StatusCode;

use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_answers_ok() {
    let app = spawn_app().await;
    let response = app.get("/healthz", None).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, "ok");
}

#[tokio::test]
async fn readyz_is_ok_on_a_migrated_database() {
    let app = spawn_app().await;
    let response = app.get("/readyz", None).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
}

#[tokio::test]
async fn readyz_is_503_once_the_database_is_gone() {
    let app = spawn_app().await;
    app.store.close().await;
    let response = app.get("/readyz", None).await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.body.starts_with("not ready"), "{}", response.body);
}

#[tokio::test]
async fn every_response_carries_security_headers() {
    let app = spawn_app().await;
    for path in ["/healthz", "/api/me", "/nope"] {
        let response = app.get(path, None).await;
        let csp = response.headers["content-security-policy"]
            .to_str()
            .unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("'wasm-unsafe-eval'"),
            "{path}: {csp}"
        );
        assert_eq!(
            response.headers["x-content-type-options"], "nosniff",
            "{path}"
        );
        assert!(response.headers.contains_key("referrer-policy"), "{path}");
    }
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let app = spawn_app().await;
    let page = app.get("/no/such/page", None).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("Page not found"), "{}", page.body);
    let api = app.get("/api/nothing-here", None).await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert_eq!(api.error_code(), "not_found");
}

#[tokio::test]
async fn cors_allows_only_the_frontend_origin_with_credentials() {
    use crate::helpers::spawn_app_with;
    use http::{Method, Request};

    let app = spawn_app_with(&[("FRONTEND_URL", "https://app.example.com")]).await;
    let preflight = |origin: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/api/leads")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let allowed = app.send(preflight("https://app.example.com")).await;
    assert_eq!(
        allowed.headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(allowed.headers["access-control-allow-credentials"], "true");
    let refused = app.send(preflight("https://evil.example")).await;
    assert!(!refused.headers.contains_key("access-control-allow-origin"));

    // Every method and header the API documents passes the preflight: PUT (privacy settings),
    // Idempotency-Key (sends), Range (media).
    let put = app
        .send(
            Request::builder()
                .method(Method::OPTIONS)
                .uri("/api/privacy/settings")
                .header("origin", "https://app.example.com")
                .header("access-control-request-method", "PUT")
                .header(
                    "access-control-request-headers",
                    "content-type, idempotency-key, range",
                )
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    let methods = put.headers["access-control-allow-methods"]
        .to_str()
        .unwrap();
    assert!(methods.contains("PUT"), "{methods}");
    let headers = put.headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for h in ["idempotency-key", "range", "content-type"] {
        assert!(headers.contains(h), "{h} in {headers}");
    }
    // And the page can read the paging link and Retry-After of an answer.
    let get = app
        .send(
            Request::builder()
                .uri("/api/leads")
                .header("origin", "https://app.example.com")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    let exposed = get.headers["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for h in ["link", "retry-after"] {
        assert!(exposed.contains(h), "{h} in {exposed}");
    }
}

#[tokio::test]
async fn wrong_methods_on_api_resources_are_405_json() {
    let app = crate::helpers::spawn_app().await;
    let response = app
        .send(crate::helpers::request(
            http::Method::PUT,
            "/api/leads",
            None,
            None,
        ))
        .await;
    assert_eq!(response.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.error_code(), "method_not_allowed");
}
