//! `spawn_app()`: a fresh database, the real router, requests driven with `tower::ServiceExt::oneshot`.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use server::{AppState, Config, router};
use store::{Store, StoreConfig, StoreSettings};
use tower::ServiceExt as _;

pub const JWT_SECRET: &str = "test-jwt-secret-with-at-least-32-characters!";
pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    router: Router,
    /// The owner URL of this test's database (for tests that change settings as the owner).
    #[allow(dead_code)]
    pub database_url: String,
    #[allow(dead_code)]
    pub store: Store,
    #[allow(dead_code)]
    pub sessions: sessions::Sessions,
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
    /// The body's bytes as they came (`body` is them as lossy UTF-8).
    #[allow(dead_code)]
    pub raw: Vec<u8>,
}

impl TestResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn location(&self) -> Option<&str> {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
    }

    /// `name=value` of the session cookie this response sets, if any.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("rl_session=") || v.starts_with("__Host-rl_session="))
            .and_then(|v| v.split(';').next())
            .map(str::to_owned)
    }

    /// Our JSON error code (`{"error":{"code":…}}`).
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {:?}", self.body))
            .to_owned()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Like `spawn_app` with extra environment variables (e.g. a tiny `SESSION_IDLE_TIMEOUT`).
pub async fn spawn_app_with(vars: &[(&str, &str)]) -> TestApp {
    spawn_app_limited(vars, None).await
}

/// Like `spawn_app_with`, with rate limits of the test's choosing (`None` = the configured ones).
pub async fn spawn_app_limited(
    vars: &[(&str, &str)],
    limits: Option<server::auth::rate_limit::Limits>,
) -> TestApp {
    let url = store::test_support::fresh_database()
        .await
        .unwrap_or_else(|e| panic!("these tests need PostgreSQL: {e}"));
    spawn_app_at(url, vars, limits).await
}

/// Another app on the database of an earlier one (e.g. the same data served in another mode).
#[allow(dead_code)]
pub async fn spawn_app_on(database_url: &str, vars: &[(&str, &str)]) -> TestApp {
    spawn_app_at(database_url.to_owned(), vars, None).await
}

async fn spawn_app_at(
    url: String,
    vars: &[(&str, &str)],
    limits: Option<server::auth::rate_limit::Limits>,
) -> TestApp {
    let mut env: HashMap<String, String> = HashMap::from([
        ("SUPABASE_JWT_SECRET".to_owned(), JWT_SECRET.to_owned()),
        ("LEPTOS_SITE_ROOT".to_owned(), "target/site".to_owned()),
        // The store below connects to `url` itself; the configuration only has to be complete
        // (Supabase mode requires a DATABASE_URL).
        ("DATABASE_URL".to_owned(), url.clone()),
    ]);
    env.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let config = Config::from_vars(|k| env.get(k).cloned()).expect("test config is valid");
    let settings = StoreSettings {
        max_sessions_per_user: Some(config.whatsapp_max_sessions_per_user),
        leads_owner_column: config.leads_owner_column.clone(),
    };
    let store = Store::connect_with(&StoreConfig::new(url.clone()), &settings)
        .await
        .expect("connect and migrate");
    let key = config
        .session_encryption_key
        .clone()
        .unwrap_or_else(|| server::config::SessionKey::new([7; 32]));
    let sessions = server::engine::sessions(&config, &store, &key)
        .await
        .expect("the sessions supervisor starts");
    // Lives as long as the test's runtime.
    server::engine::forward_event_notices(store.clone(), sessions.hub().clone());
    let dir = std::env::temp_dir().join(format!("rarity-api-test-{}", uuid::Uuid::new_v4()));
    let media = server::media::Media::open(
        &server::media::StorageConfig::Local(dir.join("media")),
        &dir,
    )
    .expect("media storage opens");
    // Received media are downloaded as in the binary (lives as long as the test's runtime).
    server::media::download::Downloader {
        engine: store.engine(store::SessionCipher::new(*key.bytes())),
        sessions: sessions.clone(),
        storage: media.storage.clone(),
        tmp: media.tmp.clone(),
    }
    .spawn();
    TestApp {
        router: router(match limits {
            Some(limits) => {
                AppState::with_limits(&config, store.clone(), sessions.clone(), media, limits)
            }
            None => AppState::new(&config, store.clone(), sessions.clone(), media),
        }),
        database_url: url,
        store,
        sessions,
    }
}

impl TestApp {
    /// Serves the router on a loopback port (for clients that need a real socket, e.g. the
    /// WebSocket); returns its address.
    #[allow(dead_code)]
    pub async fn listen(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("bound");
        let service = self
            .router
            .clone()
            .into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, service).await;
        });
        addr
    }

    /// The router's `Debug` output, which lists its routes (axum has no other way to list them).
    #[allow(dead_code)]
    pub fn router_debug(&self) -> String {
        format!("{:?}", self.router)
    }

    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        TestResponse {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            raw: bytes.to_vec(),
        }
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> TestResponse {
        self.send(request(Method::GET, path, cookie, None)).await
    }

    pub async fn post_form(&self, path: &str, form: &str, cookie: Option<&str>) -> TestResponse {
        self.send(form_request(path, form, cookie, None)).await
    }

    pub async fn json(
        &self,
        method: Method,
        path: &str,
        cookie: Option<&str>,
        body: &serde_json::Value,
    ) -> TestResponse {
        let mut req = request(method, path, cookie, Some(body.to_string()));
        req.headers_mut().insert(
            header::CONTENT_TYPE,
            "application/json".parse().expect("static"),
        );
        self.send(req).await
    }

    /// Signs a new account up and returns its session cookie (`rl_session=…`).
    pub async fn signup(&self, email: &str) -> String {
        let response = self
            .post_form("/auth/signup", &credentials(email, PASSWORD), None)
            .await;
        assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
        assert_eq!(response.location(), Some("/"));
        response
            .session_cookie()
            .expect("signup sets the session cookie")
    }

    /// Signs in with [`PASSWORD`] (another session of an existing user); returns its cookie.
    pub async fn login(&self, email: &str) -> String {
        let response = self
            .post_form("/auth/login", &credentials(email, PASSWORD), None)
            .await;
        assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
        response
            .session_cookie()
            .expect("login sets the session cookie")
    }

    pub async fn me(&self, cookie: &str) -> TestResponse {
        self.get("/api/me", Some(cookie)).await
    }
}

pub fn credentials(email: &str, password: &str) -> String {
    format!("email={}&password={}", encode(email), encode(password))
}

/// Minimal application/x-www-form-urlencoded encoding.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn request(
    method: Method,
    path: &str,
    cookie: Option<&str>,
    body: Option<String>,
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    builder
        .body(body.map_or_else(Body::empty, Body::from))
        .expect("valid request")
}

/// A form POST, optionally as if from a given client IP (what `into_make_service_with_connect_info` adds).
pub fn form_request(
    path: &str,
    form: &str,
    cookie: Option<&str>,
    ip: Option<[u8; 4]>,
) -> Request<Body> {
    let mut req = request(Method::POST, path, cookie, Some(form.to_owned()));
    req.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/x-www-form-urlencoded".parse().expect("static"),
    );
    if let Some(ip) = ip {
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((ip, 40000))));
    }
    req
}

pub fn unique_email() -> String {
    format!("user-{}@example.com", uuid::Uuid::new_v4().simple())
}
