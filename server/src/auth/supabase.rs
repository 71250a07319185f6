//! Supabase Auth (GoTrue) over HTTP: the password grant, the refresh grant, sign-out, and the
//! admin calls that open a session of our own for a user the host app already signed in.
//!
//! Every call sends `SUPABASE_SERVICE_KEY` as `apikey` (Supabase's gateway wants an API key on
//! every Auth request); admin calls also send it as the bearer when it is a JWT (the legacy
//! service-role key; the newer `sb_secret_…` keys are accepted as `apikey` alone). Redirects are
//! not followed, so neither the key nor a password can be sent anywhere but `SUPABASE_URL`.
//! Answers are read up to 64 KiB, with a 10-second deadline: GoTrue being slow or gone is
//! [`GoTrueError::Unavailable`], never a hung request.

use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};

/// The largest GoTrue answer we read (a session with its user is a few KiB).
const MAX_ANSWER: usize = 64 * 1024;

/// One HTTP client setting for everything we ask Supabase: short deadlines, no redirects.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        // Building fails only when the TLS backend cannot start; a default client fails the same
        // way at its first request, which is then reported as unavailable.
        .unwrap_or_default()
}

/// The body of `response`, refusing more than `max` bytes.
pub async fn read_limited(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > max {
            return Err(format!("answer larger than {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A GoTrue session's tokens. Never logged; stored only sealed (see `supabase_session`).
#[derive(Clone)]
pub struct Tokens {
    pub access: SecretString,
    /// `None` only for a session we could not get a refresh token for (it ends with its access
    /// token).
    pub refresh: Option<SecretString>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens([REDACTED])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GoTrueError {
    /// GoTrue answered no (4xx): wrong credentials, a used or revoked refresh token, an
    /// unconfirmed email… `code` is its `error_code` (or `error`).
    #[error("Supabase Auth refused: {code}")]
    Refused { code: String },
    #[error("Supabase Auth asks us to slow down")]
    RateLimited,
    /// Not reachable, too slow, 5xx, or an answer we cannot read.
    #[error("Supabase Auth is unavailable: {0}")]
    Unavailable(String),
}

/// GoTrue at `{SUPABASE_URL}/auth/v1`.
pub struct GoTrue {
    base: String,
    key: SecretString,
    http: reqwest::Client,
}

impl std::fmt::Debug for GoTrue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoTrue")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl GoTrue {
    pub fn new(supabase_url: &str, service_key: SecretString) -> Self {
        Self {
            base: format!("{}/auth/v1", supabase_url.trim_end_matches('/')),
            key: service_key,
            http: http_client(),
        }
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .header("apikey", self.key.expose_secret())
            .header(http::header::ACCEPT, "application/json")
    }

    /// The admin endpoints want the service role: the legacy service-role key is a JWT and goes as
    /// the bearer too; a new secret key (`sb_secret_…`) is not a JWT and works as `apikey` alone.
    fn admin(&self, path: &str) -> reqwest::RequestBuilder {
        let request = self.post(path);
        if self.key.expose_secret().split('.').count() == 3 {
            request.bearer_auth(self.key.expose_secret())
        } else {
            request
        }
    }

    /// `grant_type=password`.
    pub async fn password(&self, email: &str, password: &str) -> Result<Tokens, GoTrueError> {
        let request = self
            .post("/token?grant_type=password")
            .json_body(&json!({ "email": email, "password": password }));
        session(call(request).await?)
    }

    /// `grant_type=refresh_token`: the refresh token is single-use; the answer carries the next.
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<Tokens, GoTrueError> {
        let request = self
            .post("/token?grant_type=refresh_token")
            .json_body(&json!({ "refresh_token": refresh_token.expose_secret() }));
        session(call(request).await?)
    }

    /// A new GoTrue session for the user with this email, through the admin API: a magic-link
    /// token made with the service role (nothing is e-mailed) and verified at once. The host
    /// app's own session is left alone, so neither side ever spends the other's refresh token.
    pub async fn open_session_for(&self, email: &str) -> Result<Tokens, GoTrueError> {
        let link = call(
            self.admin("/admin/generate_link")
                .json_body(&json!({ "type": "magiclink", "email": email })),
        )
        .await?;
        let hashed = link
            .get("hashed_token")
            .or_else(|| link.pointer("/properties/hashed_token"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| GoTrueError::Unavailable("generate_link gave no hashed_token".into()))?
            .to_owned();
        let verified = call(
            self.post("/verify")
                .json_body(&json!({ "type": "magiclink", "token_hash": hashed })),
        )
        .await?;
        session(verified)
    }

    /// Ends the GoTrue session this access token belongs to (`scope` `local`), or every session of
    /// its user (`global`). A token GoTrue no longer knows counts as signed out already.
    pub async fn logout(&self, access: &SecretString, scope: &str) -> Result<(), GoTrueError> {
        let request = self
            .post(&format!("/logout?scope={scope}"))
            .bearer_auth(access.expose_secret());
        match call(request).await {
            Ok(_) => Ok(()),
            Err(GoTrueError::Refused { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// `.json(…)` without reqwest's `json` feature (which would rebuild reqwest for the workspace).
trait JsonBody {
    fn json_body(self, value: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, value: &Value) -> Self {
        self.header(http::header::CONTENT_TYPE, "application/json")
            .body(value.to_string())
    }
}

/// Sends, then sorts the answer into JSON (2xx) or a [`GoTrueError`].
async fn call(request: reqwest::RequestBuilder) -> Result<Value, GoTrueError> {
    let response = request
        .send()
        .await
        .map_err(|e| GoTrueError::Unavailable(e.without_url().to_string()))?;
    let status = response.status();
    let body = read_limited(response, MAX_ANSWER)
        .await
        .map_err(GoTrueError::Unavailable)?;
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    if status.is_success() {
        return Ok(json);
    }
    if status == http::StatusCode::TOO_MANY_REQUESTS {
        return Err(GoTrueError::RateLimited);
    }
    if status.is_client_error() {
        // Newer GoTrue answers `error_code`, older `error`; neither carries a secret.
        let code = json
            .get("error_code")
            .or_else(|| json.get("error"))
            .and_then(Value::as_str)
            .unwrap_or("refused")
            .chars()
            .take(64)
            .collect();
        return Err(GoTrueError::Refused { code });
    }
    Err(GoTrueError::Unavailable(format!("HTTP {status}")))
}

fn session(answer: Value) -> Result<Tokens, GoTrueError> {
    let field = |name: &str| {
        answer
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(|v| SecretString::from(v.to_owned()))
    };
    Ok(Tokens {
        access: field("access_token")
            .ok_or_else(|| GoTrueError::Unavailable("the answer has no access_token".into()))?,
        refresh: Some(
            field("refresh_token").ok_or_else(|| {
                GoTrueError::Unavailable("the answer has no refresh_token".into())
            })?,
        ),
    })
}
