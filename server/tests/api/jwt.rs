//! Supabase bearer tokens on the REST API.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Method, Request, StatusCode, header};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{JWT_SECRET, TestApp, TestResponse, request, spawn_app, unique_email};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(sub: Uuid) -> Value {
    json!({ "sub": sub.to_string(), "aud": "authenticated", "role": "authenticated",
            "email": "jwt-user@example.com", "exp": now() + 3600 })
}

fn sign(claims: &Value, alg: Algorithm, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn with_bearer(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> TestResponse {
    let mut req: Request<axum::body::Body> =
        request(method, path, None, body.map(|b| b.to_string()));
    req.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    req.headers_mut()
        .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    app.send(req).await
}

#[tokio::test]
async fn a_valid_token_authenticates_as_its_subject() {
    let app = spawn_app().await;
    let sub = Uuid::new_v4();
    let token = sign(&claims(sub), Algorithm::HS256, JWT_SECRET);
    let me = with_bearer(&app, Method::GET, "/api/me", &token, None).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.json()["id"], sub.to_string());

    let created = with_bearer(
        &app,
        Method::POST,
        "/api/leads",
        &token,
        Some(json!({"name": "Ana", "phone": "+5511987654321"})),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.json()["user_id"], sub.to_string());
}

#[tokio::test]
async fn a_token_for_a_cookie_user_sees_the_same_data() {
    let app = spawn_app().await;
    let cookie = app.signup(&unique_email()).await;
    let id: Uuid = app.me(&cookie).await.json()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let lead = app
        .json(
            Method::POST,
            "/api/leads",
            Some(&cookie),
            &json!({"name": "Bo", "phone": "+442079460958"}),
        )
        .await;
    assert_eq!(lead.status, StatusCode::CREATED, "{}", lead.body);

    let token = sign(&claims(id), Algorithm::HS256, JWT_SECRET);
    let listed = with_bearer(&app, Method::GET, "/api/leads", &token, None).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.json()[0]["id"], lead.json()["id"]);
}

#[tokio::test]
async fn forged_expired_wrong_alg_and_incomplete_tokens_are_401() {
    let app = spawn_app().await;
    let sub = Uuid::new_v4();
    let mut expired = claims(sub);
    expired["exp"] = json!(now() - 3600);
    let mut no_sub = claims(sub);
    no_sub.as_object_mut().unwrap().remove("sub");
    let mut no_exp = claims(sub);
    no_exp.as_object_mut().unwrap().remove("exp");
    let mut anon = claims(sub);
    anon["aud"] = json!("anon");
    let mut not_uuid = claims(sub);
    not_uuid["sub"] = json!("admin");
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims(sub).to_string())
    );
    let cases = [
        (
            "forged signature",
            sign(
                &claims(sub),
                Algorithm::HS256,
                "another-secret-that-is-also-32-chars-long",
            ),
        ),
        ("expired", sign(&expired, Algorithm::HS256, JWT_SECRET)),
        ("alg none", unsigned),
        (
            "HS512 instead of HS256",
            sign(&claims(sub), Algorithm::HS512, JWT_SECRET),
        ),
        ("missing sub", sign(&no_sub, Algorithm::HS256, JWT_SECRET)),
        ("missing exp", sign(&no_exp, Algorithm::HS256, JWT_SECRET)),
        ("wrong audience", sign(&anon, Algorithm::HS256, JWT_SECRET)),
        (
            "sub not a uuid",
            sign(&not_uuid, Algorithm::HS256, JWT_SECRET),
        ),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (what, token) in cases {
        let response = with_bearer(&app, Method::GET, "/api/me", &token, None).await;
        assert_eq!(
            response.status,
            StatusCode::UNAUTHORIZED,
            "{what}: {}",
            response.body
        );
        assert_eq!(response.error_code(), "unauthorized", "{what}");
    }
}
