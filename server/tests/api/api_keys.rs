//! API keys over REST: created by a signed-in user (the secret shown once), used as
//! `Authorization: Bearer rk_…`, held to their scopes, refused at once when revoked, and never
//! able to manage keys or delete the account.

use http::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{TestApp, request, spawn_app, unique_email};

async fn with_key(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = request(method, path, None, body.map(|b| b.to_string()));
    req.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {key}").parse().unwrap(),
    );
    req.headers_mut()
        .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    let r = app.send(req).await;
    let v = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    (r.status, v)
}

#[tokio::test]
async fn keys_act_as_their_owner_within_their_scopes_until_revoked() {
    let app = spawn_app().await;
    let cookie = app.signup(&unique_email()).await;
    let made = app
        .json(
            Method::POST,
            "/api/keys",
            Some(&cookie),
            &json!({"name": "Reader", "scopes": ["read"]}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let reader = made.json()["secret"].as_str().unwrap().to_owned();
    let reader_id = made.json()["id"].as_str().unwrap().to_owned();
    let writer = app
        .json(
            Method::POST,
            "/api/keys",
            Some(&cookie),
            &json!({"name": "Writer", "scopes": ["read", "manage"]}),
        )
        .await
        .json()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    // The list never shows a secret.
    let list = app.get("/api/keys", Some(&cookie)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(!list.body.contains(&reader[3..]) && !list.body.contains(&writer[3..]));
    assert_eq!(list.json().as_array().unwrap().len(), 2);

    // Read: yes. Write: only with manage. Send: neither has it.
    let (status, me) = with_key(&app, Method::GET, "/api/me", &reader, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = with_key(&app, Method::GET, "/api/leads", &reader, None).await;
    assert_eq!(status, StatusCode::OK);
    let lead = json!({"name": "Ada", "phone": "+447700900123"});
    let (status, body) = with_key(
        &app,
        Method::POST,
        "/api/leads",
        &reader,
        Some(lead.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "insufficient_scope");
    let (status, created) = with_key(&app, Method::POST, "/api/leads", &writer, Some(lead)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let send = json!({"account_id": uuid::Uuid::new_v4(), "to": "+447700900123", "text": "hi"});
    let (status, body) = with_key(&app, Method::POST, "/api/messages", &writer, Some(send)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("send"));
    // The key acts as its owner: the lead it made is the owner's.
    let mine = app.get("/api/leads", Some(&cookie)).await;
    assert!(mine.body.contains("+447700900123"));
    assert!(me["id"].is_string());

    // Never: managing keys or deleting the account with a key.
    let (status, _) = with_key(&app, Method::GET, "/api/keys", &writer, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = with_key(
        &app,
        Method::POST,
        "/api/me/delete",
        &writer,
        Some(json!({"confirm": "delete my account"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Revoked: refused on the next request.
    let gone = app
        .send(request(
            Method::DELETE,
            &format!("/api/keys/{reader_id}"),
            Some(&cookie),
            None,
        ))
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.body);
    let (status, _) = with_key(&app, Method::GET, "/api/me", &reader, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Forged keys of the right shape: refused.
    let forged = format!("rk_{}", "A".repeat(43));
    let (status, _) = with_key(&app, Method::GET, "/api/me", &forged, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Another user cannot revoke or see the owner's keys.
    let stranger = app.signup(&unique_email()).await;
    let theirs = app.get("/api/keys", Some(&stranger)).await;
    assert_eq!(theirs.json().as_array().unwrap().len(), 0);
    let revoke = app
        .send(request(
            Method::DELETE,
            &format!("/api/keys/{reader_id}"),
            Some(&stranger),
            None,
        ))
        .await;
    assert_eq!(revoke.status, StatusCode::NOT_FOUND);
    // Bad bodies: clear 422.
    let bad = app
        .json(
            Method::POST,
            "/api/keys",
            Some(&cookie),
            &json!({"name": "x", "scopes": ["root"]}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
}
