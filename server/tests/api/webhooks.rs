//! `/api/webhooks` over REST: what the SSRF guard refuses at save time (without the development
//! switch), bad input, owners only, API key scopes. Deliveries themselves are proven with the
//! real binary and a loopback receiver (`blackbox.rs`) and in the server's unit tests (signatures,
//! DNS rebinding, redirects).

use http::{Method, StatusCode, header};
use serde_json::json;

use crate::helpers::{request, spawn_app, unique_email};

#[tokio::test]
async fn private_loopback_and_metadata_destinations_are_refused_when_saved() {
    let app = spawn_app().await;
    let cookie = app.signup(&unique_email()).await;
    for (url, why) in [
        ("https://10.0.0.1/hook", "10.0.0.1"),
        (
            "https://169.254.169.254/latest/meta-data/",
            "169.254.169.254",
        ),
        ("https://[::1]/hook", "::1"),
        ("https://[::ffff:127.0.0.1]/hook", "127.0.0.1"),
        ("https://2130706433/hook", "127.0.0.1"),
        // A name that resolves to loopback.
        ("https://localhost/hook", "private, loopback or reserved"),
        ("http://hooks.example.com/hook", "https"),
        (
            "https://user:secret@hooks.example.com/",
            "user name or password",
        ),
        ("gopher://hooks.example.com/", "not a valid URL"),
        ("not a url", "not a valid URL"),
    ] {
        let r = app
            .json(
                Method::POST,
                "/api/webhooks",
                Some(&cookie),
                &json!({"url": url, "event_types": ["message.inbound"]}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{url}: {}",
            r.body
        );
        let body = r.json();
        assert_eq!(body["error"]["field"], "url", "{url}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(why),
            "{url}: {}",
            r.body
        );
    }
    let list = app.get("/api/webhooks", Some(&cookie)).await;
    assert_eq!(list.json(), json!([]), "nothing was saved");
}

#[tokio::test]
async fn bad_input_other_users_ids_and_key_scopes_get_clear_4xx() {
    let app = spawn_app().await;
    let cookie = app.signup(&unique_email()).await;
    // A public address passes the guard: saved (nothing is sent unless an event happens).
    let made = app
        .json(
            Method::POST,
            "/api/webhooks",
            Some(&cookie),
            &json!({"url": "https://93.184.216.34/hook", "event_types": ["message.inbound", "campaign.progress"]}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let hook = made.json();
    let id = hook["id"].as_str().unwrap();
    assert!(hook["secret"].as_str().unwrap().starts_with("whsec_"));
    let list = app.get("/api/webhooks", Some(&cookie)).await;
    assert!(
        !list.body.contains(hook["secret"].as_str().unwrap()),
        "the secret is shown once"
    );

    for (method, path, body, status) in [
        (
            Method::POST,
            "/api/webhooks".to_owned(),
            "{not json",
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/api/webhooks".to_owned(),
            r#"{"url": "https://93.184.216.34/", "event_types": ["message.everything"]}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/api/webhooks".to_owned(),
            r#"{"url": "https://93.184.216.34/", "event_types": []}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PATCH,
            format!("/api/webhooks/{id}"),
            r#"{"url": "https://10.1.2.3/"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PATCH,
            format!("/api/webhooks/{id}"),
            r#"{"colour": "blue"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            "/api/webhooks/not-an-id".to_owned(),
            "",
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            format!("/api/webhooks/{id}/deliveries?before=zzz"),
            "",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            format!("/api/webhooks/{id}/deliveries?limit=0"),
            "",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            format!("/api/webhooks/{id}/deliveries/999999/redeliver"),
            "",
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            format!("/api/webhooks/{id}/deliveries/x/redeliver"),
            "",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let mut req = request(method.clone(), &path, Some(&cookie), Some(body.to_owned()));
        req.headers_mut()
            .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        let r = app.send(req).await;
        assert_eq!(r.status, status, "{method} {path} {body}: {}", r.body);
        assert!(r.json()["error"]["code"].is_string(), "{}", r.body);
    }
    let log = app
        .get(&format!("/api/webhooks/{id}/deliveries"), Some(&cookie))
        .await;
    assert_eq!(log.status, StatusCode::OK);
    assert_eq!(log.json(), json!([]));

    // Another user: 404 for every route of this endpoint.
    let other = app.signup(&unique_email()).await;
    for (method, path) in [
        (Method::GET, format!("/api/webhooks/{id}")),
        (Method::DELETE, format!("/api/webhooks/{id}")),
        (Method::GET, format!("/api/webhooks/{id}/deliveries")),
        (Method::POST, format!("/api/webhooks/{id}/rotate-secret")),
    ] {
        let r = app
            .send(request(method.clone(), &path, Some(&other), None))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}");
    }

    // Rotating shows a new secret once; PATCH pauses; DELETE removes.
    let rotated = app
        .send(request(
            Method::POST,
            &format!("/api/webhooks/{id}/rotate-secret"),
            Some(&cookie),
            None,
        ))
        .await;
    assert_eq!(rotated.status, StatusCode::OK);
    assert_ne!(rotated.json()["secret"], hook["secret"]);
    let paused = app
        .json(
            Method::PATCH,
            &format!("/api/webhooks/{id}"),
            Some(&cookie),
            &json!({"enabled": false}),
        )
        .await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.body);
    assert_eq!(paused.json()["enabled"], false);

    // API keys: read lists, manage changes, read alone cannot create.
    let key = |scopes: serde_json::Value| {
        let app = &app;
        let cookie = cookie.clone();
        async move {
            app.json(
                Method::POST,
                "/api/keys",
                Some(&cookie),
                &json!({"name": "k", "scopes": scopes}),
            )
            .await
            .json()["secret"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let reader = key(json!(["read"])).await;
    let manager = key(json!(["manage"])).await;
    let with_key = |method: Method, path: &str, key: &str, body: Option<String>| {
        let mut req = request(method, path, None, body);
        req.headers_mut().insert(
            header::AUTHORIZATION,
            format!("Bearer {key}").parse().unwrap(),
        );
        req.headers_mut()
            .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        req
    };
    let new =
        json!({"url": "https://93.184.216.34/k", "event_types": ["message.status"]}).to_string();
    assert_eq!(
        app.send(with_key(Method::GET, "/api/webhooks", &reader, None))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.send(with_key(
            Method::POST,
            "/api/webhooks",
            &reader,
            Some(new.clone())
        ))
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.send(with_key(Method::POST, "/api/webhooks", &manager, Some(new)))
            .await
            .status,
        StatusCode::CREATED
    );
    let gone = app
        .send(request(
            Method::DELETE,
            &format!("/api/webhooks/{id}"),
            Some(&cookie),
            None,
        ))
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let again = app
        .send(request(
            Method::DELETE,
            &format!("/api/webhooks/{id}"),
            Some(&cookie),
            None,
        ))
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}
