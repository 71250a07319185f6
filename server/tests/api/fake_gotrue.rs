//! A stand-in for a Supabase project's Auth (GoTrue) on 127.0.0.1: its JWKS, the password and
//! refresh grants, the admin magic-link + verify pair, and logout — with the shapes GoTrue answers
//! with, and counters the tests read. Access tokens are ES256, signed with whichever key the test
//! made current; the JWKS serves whatever the test puts in it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::test_keys::{EC_A_PEM, EC_A_X, EC_A_Y, EC_B_X, EC_B_Y, RSA_E, RSA_N};

/// The service key the app is configured with (JWT-shaped, like the legacy service-role key).
pub const SERVICE_KEY: &str =
    "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.fake-service-role";

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn ec_jwk(kid: &str, x: &str, y: &str) -> Value {
    json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig"})
}

pub fn key_a() -> Value {
    ec_jwk("key-a", EC_A_X, EC_A_Y)
}

pub fn key_b() -> Value {
    ec_jwk("key-b", EC_B_X, EC_B_Y)
}

pub fn key_rsa() -> Value {
    json!({"kty": "RSA", "n": RSA_N, "e": RSA_E, "kid": "key-rsa", "alg": "RS256", "use": "sig"})
}

pub fn sign(claims: &Value, alg: Algorithm, kid: Option<&str>, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

pub fn ec_key(pem: &str) -> EncodingKey {
    EncodingKey::from_ec_pem(pem.as_bytes()).unwrap()
}

struct User {
    id: Uuid,
    email: String,
    password: String,
}

struct Refresh {
    user: Uuid,
    session: Uuid,
    live: bool,
}

#[derive(Default)]
pub struct Counters {
    pub jwks: AtomicUsize,
    pub password: AtomicUsize,
    pub refresh: AtomicUsize,
    pub generate_link: AtomicUsize,
    pub verify: AtomicUsize,
    pub logout: AtomicUsize,
}

pub struct FakeGoTrue {
    pub url: String,
    pub counts: Counters,
    jwks: Mutex<Value>,
    users: Mutex<Vec<User>>,
    refresh: Mutex<HashMap<String, Refresh>>,
    links: Mutex<HashMap<String, String>>,
    logouts: Mutex<Vec<(String, Uuid)>>,
    /// Lifetime of the access tokens it issues (seconds).
    access_ttl: AtomicI64,
    /// While set, the token endpoint answers 503 (an outage).
    down: AtomicBool,
}

impl FakeGoTrue {
    /// Starts on a free loopback port, serving key A (ES256) and the RSA key in its JWKS.
    pub async fn start() -> Arc<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let fake = Arc::new(Self {
            url,
            counts: Counters::default(),
            jwks: Mutex::new(json!({ "keys": [key_a(), key_rsa()] })),
            users: Mutex::default(),
            refresh: Mutex::default(),
            links: Mutex::default(),
            logouts: Mutex::default(),
            access_ttl: AtomicI64::new(3600),
            down: AtomicBool::new(false),
        });
        let app = Router::new()
            .route("/auth/v1/.well-known/jwks.json", get(jwks))
            .route("/auth/v1/token", post(token))
            .route("/auth/v1/admin/generate_link", post(generate_link))
            .route("/auth/v1/verify", post(verify))
            .route("/auth/v1/logout", post(logout))
            .with_state(Arc::clone(&fake));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    pub fn issuer(&self) -> String {
        format!("{}/auth/v1", self.url)
    }

    pub fn set_jwks(&self, jwks: Value) {
        *self.jwks.lock().unwrap() = jwks;
    }

    pub fn set_access_ttl(&self, seconds: i64) {
        self.access_ttl.store(seconds, Ordering::SeqCst);
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// The refresh tokens it has issued, live or used.
    pub fn refresh_tokens(&self) -> Vec<String> {
        self.refresh.lock().unwrap().keys().cloned().collect()
    }

    pub fn add_user(&self, email: &str, password: &str) -> Uuid {
        let id = Uuid::new_v4();
        self.users.lock().unwrap().push(User {
            id,
            email: email.to_owned(),
            password: password.to_owned(),
        });
        id
    }

    /// Signs the user out everywhere on the Supabase side (as the host app's `signOut()` does).
    pub fn revoke_all(&self, user: Uuid) {
        for r in self.refresh.lock().unwrap().values_mut() {
            if r.user == user {
                r.live = false;
            }
        }
    }

    /// Live GoTrue sessions of a user.
    pub fn live_sessions(&self, user: Uuid) -> usize {
        let refresh = self.refresh.lock().unwrap();
        let mut sessions: Vec<Uuid> = refresh
            .values()
            .filter(|r| r.user == user && r.live)
            .map(|r| r.session)
            .collect();
        sessions.sort();
        sessions.dedup();
        sessions.len()
    }

    pub fn logouts(&self) -> Vec<(String, Uuid)> {
        self.logouts.lock().unwrap().clone()
    }

    /// An access token for `user` as GoTrue issues it (ES256, key A), with `claims` merged in.
    pub fn access_token(&self, user: Uuid, email: &str, session: Uuid, extra: Value) -> String {
        let mut claims = json!({
            "sub": user.to_string(), "email": email, "aud": "authenticated",
            "role": "authenticated", "iss": self.issuer(), "session_id": session.to_string(),
            "exp": now() + self.access_ttl.load(Ordering::SeqCst), "iat": now(),
        });
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            claims[k] = v;
        }
        sign(&claims, Algorithm::ES256, Some("key-a"), &ec_key(EC_A_PEM))
    }

    /// A new GoTrue session for a user: its JSON answer (access + refresh token + user).
    pub fn open_session(&self, user: Uuid, email: &str) -> Value {
        let session = Uuid::new_v4();
        self.session_answer(user, email, session)
    }

    fn session_answer(&self, user: Uuid, email: &str, session: Uuid) -> Value {
        let refresh = Uuid::new_v4().simple().to_string();
        self.refresh.lock().unwrap().insert(
            refresh.clone(),
            Refresh {
                user,
                session,
                live: true,
            },
        );
        let ttl = self.access_ttl.load(Ordering::SeqCst);
        json!({
            "access_token": self.access_token(user, email, session, json!({})),
            "token_type": "bearer", "expires_in": ttl, "expires_at": now() + ttl,
            "refresh_token": refresh,
            "user": { "id": user.to_string(), "email": email, "aud": "authenticated" },
        })
    }

    fn email_of(&self, user: Uuid) -> String {
        self.users
            .lock()
            .unwrap()
            .iter()
            .find(|u| u.id == user)
            .map(|u| u.email.clone())
            .unwrap_or_default()
    }
}

fn refused(status: StatusCode, code: &str) -> Response {
    (
        status,
        Json(json!({"code": status.as_u16(), "error_code": code, "msg": code})),
    )
        .into_response()
}

fn has_key(headers: &HeaderMap) -> bool {
    headers.get("apikey").and_then(|v| v.to_str().ok()) == Some(SERVICE_KEY)
}

fn claims_of(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

async fn jwks(State(fake): State<Arc<FakeGoTrue>>) -> Json<Value> {
    fake.counts.jwks.fetch_add(1, Ordering::SeqCst);
    Json(fake.jwks.lock().unwrap().clone())
}

async fn token(
    State(fake): State<Arc<FakeGoTrue>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !has_key(&headers) {
        return refused(StatusCode::UNAUTHORIZED, "no_api_key");
    }
    if fake.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match query.get("grant_type").map(String::as_str) {
        Some("password") => {
            fake.counts.password.fetch_add(1, Ordering::SeqCst);
            let found = fake
                .users
                .lock()
                .unwrap()
                .iter()
                .find(|u| Some(u.email.as_str()) == body["email"].as_str())
                .filter(|u| Some(u.password.as_str()) == body["password"].as_str())
                .map(|u| (u.id, u.email.clone()));
            match found {
                Some((id, email)) => Json(fake.open_session(id, &email)).into_response(),
                None => refused(StatusCode::BAD_REQUEST, "invalid_credentials"),
            }
        }
        Some("refresh_token") => {
            fake.counts.refresh.fetch_add(1, Ordering::SeqCst);
            let presented = body["refresh_token"].as_str().unwrap_or_default();
            let next = {
                let mut refresh = fake.refresh.lock().unwrap();
                match refresh.get_mut(presented) {
                    Some(r) if r.live => {
                        // Single-use, as GoTrue's are.
                        r.live = false;
                        Some((r.user, r.session))
                    }
                    _ => None,
                }
            };
            match next {
                Some((user, session)) => {
                    let email = fake.email_of(user);
                    Json(fake.session_answer(user, &email, session)).into_response()
                }
                None => refused(StatusCode::BAD_REQUEST, "refresh_token_not_found"),
            }
        }
        _ => refused(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
}

async fn generate_link(
    State(fake): State<Arc<FakeGoTrue>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !has_key(&headers) || bearer != Some(&format!("Bearer {SERVICE_KEY}")) {
        return refused(StatusCode::FORBIDDEN, "not_admin");
    }
    fake.counts.generate_link.fetch_add(1, Ordering::SeqCst);
    let email = body["email"].as_str().unwrap_or_default().to_owned();
    if body["type"] != "magiclink" || !fake.users.lock().unwrap().iter().any(|u| u.email == email) {
        return refused(StatusCode::UNPROCESSABLE_ENTITY, "user_not_found");
    }
    let hashed = Uuid::new_v4().simple().to_string();
    fake.links
        .lock()
        .unwrap()
        .insert(hashed.clone(), email.clone());
    Json(json!({
        "action_link": format!("{}/auth/v1/verify?token={hashed}&type=magiclink", fake.url),
        "email_otp": "123456", "hashed_token": hashed, "verification_type": "magiclink",
        "redirect_to": fake.url, "email": email,
    }))
    .into_response()
}

async fn verify(
    State(fake): State<Arc<FakeGoTrue>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !has_key(&headers) {
        return refused(StatusCode::UNAUTHORIZED, "no_api_key");
    }
    fake.counts.verify.fetch_add(1, Ordering::SeqCst);
    let email = body["token_hash"]
        .as_str()
        .and_then(|h| fake.links.lock().unwrap().remove(h));
    let user = email.and_then(|email| {
        fake.users
            .lock()
            .unwrap()
            .iter()
            .find(|u| u.email == email)
            .map(|u| (u.id, u.email.clone()))
    });
    match user {
        Some((id, email)) => Json(fake.open_session(id, &email)).into_response(),
        None => refused(StatusCode::FORBIDDEN, "otp_expired"),
    }
}

async fn logout(
    State(fake): State<Arc<FakeGoTrue>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    fake.counts.logout.fetch_add(1, Ordering::SeqCst);
    let claims = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(claims_of);
    let Some(claims) = claims else {
        return refused(StatusCode::UNAUTHORIZED, "no_authorization");
    };
    let user: Uuid = claims["sub"].as_str().unwrap().parse().unwrap();
    let session: Uuid = claims["session_id"].as_str().unwrap().parse().unwrap();
    let scope = query
        .get("scope")
        .cloned()
        .unwrap_or_else(|| "global".into());
    for r in fake.refresh.lock().unwrap().values_mut() {
        if r.user == user && (scope == "global" || r.session == session) {
            r.live = false;
        }
    }
    fake.logouts.lock().unwrap().push((scope, user));
    StatusCode::NO_CONTENT.into_response()
}
