//! Hostile or broken input is a 4xx with our JSON error — never a 500 — and text is stored verbatim.

use http::{Method, StatusCode, header};
use serde_json::json;

use crate::helpers::{TestApp, credentials, form_request, request, spawn_app, unique_email};

async fn raw(
    app: &TestApp,
    path: &str,
    cookie: &str,
    content_type: &str,
    body: String,
) -> crate::helpers::TestResponse {
    let mut req = request(Method::POST, path, Some(cookie), Some(body));
    req.headers_mut()
        .insert(header::CONTENT_TYPE, content_type.parse().unwrap());
    app.send(req).await
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    let cookie = app.signup(&unique_email()).await;
    let response = raw(
        &app,
        "/api/leads",
        &cookie,
        "application/json",
        r#"{"name": "Ana", "phone": "#.to_owned(),
    )
    .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.error_code(), "bad_request");
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let app = spawn_app().await;
    let cookie = app.signup(&unique_email()).await;
    let body = json!({"name": "Ana", "phone": "+5511987654321"}).to_string();
    let response = raw(&app, "/api/leads", &cookie, "text/plain", body).await;
    assert_eq!(response.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(response.error_code(), "unsupported_media_type");
}

#[tokio::test]
async fn oversized_json_and_form_bodies_are_413() {
    let app = spawn_app().await;
    let cookie = app.signup(&unique_email()).await;
    let big = json!({"name": "x".repeat(70 * 1024), "phone": "+5511987654321"}).to_string();
    let response = raw(&app, "/api/leads", &cookie, "application/json", big).await;
    assert_eq!(response.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.error_code(), "payload_too_large");

    let form = credentials(&unique_email(), &"p".repeat(70 * 1024));
    for path in ["/auth/login", "/auth/signup"] {
        let response = app.send(form_request(path, &form, None, None)).await;
        assert_eq!(response.status, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        assert_eq!(response.error_code(), "payload_too_large", "{path}");
    }
}

#[tokio::test]
async fn validation_failures_are_422_naming_the_field() {
    let app = spawn_app().await;
    let cookie = app.signup(&unique_email()).await;
    let cases = [
        (json!({"name": "Ana", "phone": "12345"}), Some("phone")),
        (
            json!({"name": "   ", "phone": "+5511987654321"}),
            Some("name"),
        ),
        (
            json!({"name": "Ana", "phone": "+5511987654321", "status": "archived"}),
            None,
        ),
        (json!({"phone": "+5511987654321"}), None),
    ];
    for (body, field) in cases {
        let response = app
            .json(Method::POST, "/api/leads", Some(&cookie), &body)
            .await;
        assert_eq!(
            response.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            response.body
        );
        assert_eq!(response.error_code(), "validation_failed");
        if let Some(field) = field {
            assert_eq!(response.json()["error"]["field"], field, "{body}");
        }
    }
}

#[tokio::test]
async fn sql_and_html_in_names_are_stored_and_returned_verbatim() {
    let app = spawn_app().await;
    let cookie = app.signup(&unique_email()).await;
    let names = [
        "Robert'); DROP TABLE leads;--",
        "<script>alert('x')</script><img src=x onerror=alert(1)>",
        "\" OR 1=1 -- & ünïcödé 🙂",
    ];
    for (i, name) in names.iter().enumerate() {
        let phone = format!("+55119876543{i:02}");
        let created = app
            .json(
                Method::POST,
                "/api/leads",
                Some(&cookie),
                &json!({"name": name, "phone": phone}),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let id = created.json()["id"].as_str().unwrap().to_owned();
        let fetched = app.get(&format!("/api/leads/{id}"), Some(&cookie)).await;
        assert_eq!(fetched.json()["name"], *name);
        assert!(
            fetched.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
    }
    let listed = app.get("/api/leads", Some(&cookie)).await;
    assert_eq!(
        listed.json().as_array().unwrap().len(),
        names.len(),
        "the table is still there"
    );
}

#[tokio::test]
async fn another_users_lead_is_404_for_every_verb() {
    let app = spawn_app().await;
    let owner = app.signup(&unique_email()).await;
    let intruder = app.signup(&unique_email()).await;
    let created = app
        .json(
            Method::POST,
            "/api/leads",
            Some(&owner),
            &json!({"name": "Mine", "phone": "+5511987654321"}),
        )
        .await;
    let path = format!("/api/leads/{}", created.json()["id"].as_str().unwrap());

    assert_eq!(
        app.get(&path, Some(&intruder)).await.status,
        StatusCode::NOT_FOUND
    );
    let patch = app
        .json(
            Method::PATCH,
            &path,
            Some(&intruder),
            &json!({"name": "Stolen"}),
        )
        .await;
    assert_eq!(patch.status, StatusCode::NOT_FOUND);
    assert_eq!(patch.error_code(), "not_found");
    let delete = app
        .send(request(Method::DELETE, &path, Some(&intruder), None))
        .await;
    assert_eq!(delete.status, StatusCode::NOT_FOUND);
    assert!(
        app.get("/api/leads", Some(&intruder))
            .await
            .json()
            .as_array()
            .unwrap()
            .is_empty()
    );

    let still = app.get(&path, Some(&owner)).await;
    assert_eq!(still.json()["name"], "Mine", "nothing changed");
    for bad in [
        "/api/leads/not-a-uuid",
        "/api/leads/00000000-0000-0000-0000-000000000000",
    ] {
        let response = app.get(bad, Some(&owner)).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{bad}");
        assert_eq!(response.error_code(), "not_found");
    }
}

#[tokio::test]
async fn leads_and_templates_round_trip_for_their_owner() {
    let app = spawn_app().await;
    let cookie = app.signup(&unique_email()).await;
    let created = app
        .json(
            Method::POST,
            "/api/leads",
            Some(&cookie),
            &json!({"name": "Ana", "phone": "+55 11 98765-4321", "company": "Acme"}),
        )
        .await;
    assert_eq!(created.json()["phone"], "+5511987654321");
    let path = format!("/api/leads/{}", created.json()["id"].as_str().unwrap());
    let patched = app
        .json(
            Method::PATCH,
            &path,
            Some(&cookie),
            &json!({"status": "won"}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.json()["status"], "won");
    assert_eq!(patched.json()["company"], "Acme");
    assert_eq!(
        app.send(request(Method::DELETE, &path, Some(&cookie), None))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&path, Some(&cookie)).await.status,
        StatusCode::NOT_FOUND
    );

    let template = app
        .json(
            Method::POST,
            "/api/templates",
            Some(&cookie),
            &json!({"name": "Hi", "content": "Hello {{name}}", "variables": ["name"]}),
        )
        .await;
    assert_eq!(template.status, StatusCode::CREATED, "{}", template.body);
    assert_eq!(
        app.get("/api/templates", Some(&cookie))
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let other = app.signup(&unique_email()).await;
    let tpath = format!("/api/templates/{}", template.json()["id"].as_str().unwrap());
    // Edited by its owner: the variables are found again; a fallback is not part of the name.
    let edited = app
        .json(
            Method::PATCH,
            &tpath,
            Some(&cookie),
            &json!({"name": "Hello", "content": "Hi {{first_name|there}} at {{company}}", "category": "welcome"}),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
    assert_eq!(edited.json()["name"], "Hello");
    assert_eq!(edited.json()["category"], "welcome");
    assert_eq!(edited.json()["variables"], json!(["first_name", "company"]));
    // Another user's id is not found; bad input is a 4xx naming the field; nothing changed.
    let theirs = app
        .json(
            Method::PATCH,
            &tpath,
            Some(&other),
            &json!({"name": "Mine now", "content": "x"}),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND, "{}", theirs.body);
    let blank = app
        .json(
            Method::PATCH,
            &tpath,
            Some(&cookie),
            &json!({"name": "  ", "content": "x"}),
        )
        .await;
    assert_eq!(
        blank.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        blank.body
    );
    assert_eq!(blank.json()["error"]["field"], "name");
    let mut garbage = request(
        Method::PATCH,
        &tpath,
        Some(&cookie),
        Some("{not json".to_owned()),
    );
    garbage.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    let garbage = app.send(garbage).await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST, "{}", garbage.body);
    let kept = app.get("/api/templates", Some(&cookie)).await.json();
    assert_eq!(kept[0]["name"], "Hello");
    assert_eq!(
        app.send(request(Method::DELETE, &tpath, Some(&other), None))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.send(request(Method::DELETE, &tpath, Some(&cookie), None))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}

/// The lead list's filters, the CSV import and the campaign routes refuse bad input with a 4xx
/// naming the field, and another user's campaign is 404 for every verb.
#[tokio::test]
async fn lead_filters_imports_and_campaigns_refuse_bad_input() {
    let app = spawn_app().await;
    let cookie = app.signup(&unique_email()).await;
    for (path, field) in [
        ("/api/leads?sort=sideways", "sort"),
        ("/api/leads?status=maybe", "status"),
        ("/api/leads?has_conversation=perhaps", "has_conversation"),
        ("/api/leads?campaign_id=nope", "campaign_id"),
        ("/api/leads?limit=0", "limit"),
        ("/api/leads?before=zz", "before"),
        ("/api/leads?sort=name&before=00aa", "before"),
        (
            "/api/campaigns/00000000-0000-0000-0000-000000000000/leads?state=lost",
            "state",
        ),
    ] {
        let response = app.get(path, Some(&cookie)).await;
        assert_eq!(
            response.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {}",
            response.body
        );
        assert_eq!(response.json()["error"]["field"], field, "{path}");
    }
    // `%` matches itself, not everything.
    let response = app.get("/api/leads/count?search=%25", Some(&cookie)).await;
    assert_eq!(response.json()["count"], 0);

    // Import: empty, not CSV, no phone column, a bad mapping, a bad country, too big.
    let import = |path: &'static str, body: String| {
        let cookie = cookie.clone();
        let app = &app;
        async move { raw(app, path, &cookie, "text/csv", body).await }
    };
    let cases = [
        (
            "/api/leads/import",
            String::new(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/leads/import",
            "name,city\nAna,Leeds\n".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/leads/import?mapping=%5Bnot%20json",
            "phone\n+447700900001\n".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/leads/import?mapping=%5B%7B%22to%22%3A%22moon%22%7D%5D",
            "phone\n+447700900001\n".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/leads/import?default_country=XX1",
            "phone\n07700 900001\n".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/leads/import/preview",
            "\u{feff}".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/leads/import",
            "phone\n".to_owned() + &"+447700900001\n".repeat(1_600_000),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (path, body, status) in cases {
        let response = import(path, body).await;
        assert_eq!(response.status, status, "{path}: {}", response.body);
    }
    // Invalid UTF-8 and a ragged row are reported by line, the good rows imported.
    let mut bytes = b"name,phone\nAna,+447700900001\n".to_vec();
    bytes.extend_from_slice(b"\xff\xfe,+447700900002\nBo,+447700900003,extra\n");
    let mut req = request(Method::POST, "/api/leads/import", Some(&cookie), None);
    *req.body_mut() = axum::body::Body::from(bytes);
    req.headers_mut()
        .insert(header::CONTENT_TYPE, "text/csv".parse().unwrap());
    let response = app.send(req).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let report = response.json();
    assert_eq!(report["created"], 1, "{report}");
    let lines: Vec<u64> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4], "{report}");

    // Campaigns: bad fields are 422 naming them.
    for (body, field) in [
        (
            json!({"name": "", "content": "Hi", "account_ids": [], "segment": {}}),
            "name",
        ),
        (
            json!({"name": "C", "account_ids": [], "segment": {}}),
            "template_id",
        ),
        (
            json!({"name": "C", "content": "Hi", "account_ids": [], "segment": {}}),
            "account_ids",
        ),
        (
            json!({"name": "C", "content": "Hi", "account_ids": [uuid::Uuid::new_v4()], "segment": {}}),
            "account_ids",
        ),
        (
            json!({"name": "C", "content": "Hi", "account_ids": [], "pacing": {"per_minute": 0}}),
            "per_minute",
        ),
    ] {
        let response = app
            .json(Method::POST, "/api/campaigns", Some(&cookie), &body)
            .await;
        assert_eq!(
            response.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            response.body
        );
        assert_eq!(response.json()["error"]["field"], field, "{body}");
    }
    let response = raw(
        &app,
        "/api/campaigns",
        &cookie,
        "application/json",
        r#"{"name": 5}"#.into(),
    )
    .await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Another user's campaign (or one that never existed) is 404 for every verb.
    let id = uuid::Uuid::new_v4();
    for (method, path) in [
        (Method::GET, format!("/api/campaigns/{id}")),
        (Method::DELETE, format!("/api/campaigns/{id}")),
        (Method::POST, format!("/api/campaigns/{id}/start")),
        (Method::POST, format!("/api/campaigns/{id}/pause")),
        (Method::POST, format!("/api/campaigns/{id}/cancel")),
        (Method::GET, format!("/api/campaigns/{id}/leads")),
        (Method::GET, "/api/campaigns/not-a-uuid".to_owned()),
    ] {
        let response = app
            .send(request(method.clone(), &path, Some(&cookie), None))
            .await;
        assert_eq!(
            response.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            response.body
        );
    }
}
