//! Supabase-issued access tokens: bearer credentials on the REST API, and the proof behind every
//! Supabase-backed dashboard session.
//!
//! Two kinds of signing key, as Supabase has them:
//! - the **legacy JWT secret** (`SUPABASE_JWT_SECRET`, HS256), and
//! - **asymmetric signing keys** (ES256 or RS256) published in the project's JWKS,
//!   `{SUPABASE_URL}/auth/v1/.well-known/jwks.json` (see [`Jwks`]).
//!
//! The algorithm is decided by *our* key, never by the token: an HS256 token is only ever checked
//! against the secret, and an ES256/RS256 token only against the JWKS key its `kid` names, whose
//! own algorithm must equal the token's. So a token "signed" with a public key as an HMAC secret,
//! `alg: none`, or any other algorithm is refused. `exp`, `sub` (a UUID) and
//! `aud = "authenticated"` are required (anon / service-role keys carry other audiences and no
//! user); with `SUPABASE_URL`, `iss` must be `SUPABASE_URL/auth/v1`, as Supabase issues it. `sub`
//! is the Supabase user id and becomes our user id unchanged, so RLS policies written for Supabase
//! (`auth.uid()`) see the same value whichever way the user signed in.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret as _, SecretString};
use uuid::Uuid;

/// A JWKS older than this is fetched again (on the next token that needs it), so a key revoked
/// in the Supabase dashboard stops working here within about this long.
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(600);
/// The most keys we keep from one JWKS (Supabase publishes a handful: current, standby, previous).
const MAX_KEYS: usize = 32;
/// The largest JWKS document we read.
const MAX_JWKS_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtUser {
    pub id: Uuid,
    pub email: Option<String>,
    /// The token's `exp` (seconds since the Unix epoch).
    pub expires_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("token rejected: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("token subject is not a user id")]
    BadSubject,
    #[error("tokens signed with {0:?} are not accepted")]
    Algorithm(Algorithm),
    #[error("no key for this token (kid {0:?})")]
    UnknownKey(Option<String>),
    #[error("the token's algorithm {token:?} is not its key's {key:?}")]
    AlgorithmMismatch { token: Algorithm, key: Algorithm },
}

#[derive(serde::Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    #[serde(default)]
    email: Option<String>,
}

pub struct JwtVerifier {
    secret: Option<DecodingKey>,
    jwks: Option<Jwks>,
    issuer: Option<String>,
}

impl JwtVerifier {
    /// `secret`: the legacy HS256 secret; `supabase_url`: the project (its JWKS is trusted and
    /// `iss` checked); `refetch_gap`: the least time between two JWKS fetches for unknown key ids.
    /// `None` when neither is configured: bearer tokens are then refused.
    pub fn new(
        secret: Option<&SecretString>,
        supabase_url: Option<&str>,
        refetch_gap: Duration,
    ) -> Option<Self> {
        if secret.is_none() && supabase_url.is_none() {
            return None;
        }
        let base = supabase_url.map(|url| url.trim_end_matches('/').to_owned());
        Some(Self {
            secret: secret.map(|s| DecodingKey::from_secret(s.expose_secret().as_bytes())),
            jwks: base.as_ref().map(|base| {
                Jwks::new(format!("{base}/auth/v1/.well-known/jwks.json"), refetch_gap)
            }),
            issuer: base.map(|base| format!("{base}/auth/v1")),
        })
    }

    /// Loads the JWKS (start-up); failures are logged and retried when a token needs a key.
    pub async fn prefetch(&self) {
        if let Some(jwks) = &self.jwks {
            jwks.refetch(jwks.generation()).await;
        }
    }

    pub async fn verify(&self, token: &str) -> Result<JwtUser, JwtError> {
        let header = jsonwebtoken::decode_header(token)?;
        let (key, alg) = match header.alg {
            Algorithm::HS256 => (
                self.secret
                    .clone()
                    .ok_or(JwtError::UnknownKey(header.kid.clone()))?,
                Algorithm::HS256,
            ),
            Algorithm::ES256 | Algorithm::RS256 => {
                let jwks = self.jwks.as_ref().ok_or(JwtError::Algorithm(header.alg))?;
                let kid = header.kid.as_deref().ok_or(JwtError::UnknownKey(None))?;
                let (key_alg, key) = jwks
                    .key(kid)
                    .await
                    .ok_or_else(|| JwtError::UnknownKey(Some(kid.to_owned())))?;
                if key_alg != header.alg {
                    return Err(JwtError::AlgorithmMismatch {
                        token: header.alg,
                        key: key_alg,
                    });
                }
                (key, key_alg)
            }
            other => return Err(JwtError::Algorithm(other)),
        };
        let mut validation = Validation::new(alg);
        validation.set_audience(&["authenticated"]);
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        validation.leeway = 30;
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation)?;
        let id = Uuid::parse_str(&data.claims.sub).map_err(|_| JwtError::BadSubject)?;
        Ok(JwtUser {
            id,
            email: data.claims.email,
            expires_at: data.claims.exp,
        })
    }
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("secret", &self.secret.as_ref().map(|_| "[REDACTED]"))
            .field("jwks", &self.jwks.as_ref().map(|j| &j.url))
            .finish()
    }
}

/// The project's published signing keys, cached.
///
/// Fetched at start-up, again once the copy is older than [`JWKS_MAX_AGE`], and again when a token
/// names a key id we do not have (a key rotated in). Every fetch goes through one lock (concurrent
/// requests wait for the fetch in flight instead of starting their own) and at most one fetch
/// starts per `refetch_gap`, so a flood of tokens with random key ids costs the JWKS endpoint one
/// request per gap and nothing else. A failed fetch keeps the keys we had.
pub struct Jwks {
    url: String,
    http: reqwest::Client,
    refetch_gap: Duration,
    keys: RwLock<KeySet>,
    fetching: tokio::sync::Mutex<Option<Instant>>,
}

#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, (Algorithm, DecodingKey)>,
    fetched_at: Option<Instant>,
    /// Bumped by every successful fetch, so a waiter can tell that the fetch it waited for happened.
    generation: u64,
}

impl Jwks {
    fn new(url: String, refetch_gap: Duration) -> Self {
        Self {
            url,
            http: super::supabase::http_client(),
            refetch_gap,
            keys: RwLock::default(),
            fetching: tokio::sync::Mutex::new(None),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, KeySet> {
        // A poisoned lock only means a panic elsewhere while writing a complete map: keep reading.
        self.keys.read().unwrap_or_else(|e| e.into_inner())
    }

    fn generation(&self) -> u64 {
        self.read().generation
    }

    async fn key(&self, kid: &str) -> Option<(Algorithm, DecodingKey)> {
        let (found, stale, generation) = {
            let keys = self.read();
            (
                keys.by_kid.get(kid).cloned(),
                keys.fetched_at.is_none_or(|at| at.elapsed() > JWKS_MAX_AGE),
                keys.generation,
            )
        };
        if found.is_some() && !stale {
            return found;
        }
        self.refetch(generation).await;
        self.read().by_kid.get(kid).cloned()
    }

    /// Fetches the JWKS unless another fetch completed since `seen` or one started less than
    /// `refetch_gap` ago.
    async fn refetch(&self, seen: u64) {
        let mut last_start = self.fetching.lock().await;
        if self.generation() != seen {
            return;
        }
        if last_start.is_some_and(|at| at.elapsed() < self.refetch_gap) {
            return;
        }
        *last_start = Some(Instant::now());
        match self.fetch().await {
            Ok(by_kid) => {
                tracing::info!(keys = by_kid.len(), "Supabase signing keys (JWKS) loaded");
                let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
                keys.by_kid = by_kid;
                keys.fetched_at = Some(Instant::now());
                keys.generation += 1;
            }
            Err(e) => {
                tracing::warn!(url = %self.url, error = %e, "could not load Supabase's signing keys (JWKS)");
            }
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, (Algorithm, DecodingKey)>, String> {
        let response = self
            .http
            .get(&self.url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        let body = super::supabase::read_limited(response, MAX_JWKS_BYTES).await?;
        let doc: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let entries = doc
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or("no \"keys\" array")?;
        let mut by_kid = HashMap::new();
        for entry in entries.iter().take(MAX_KEYS) {
            // One key we cannot use (another type, a symmetric key, a bad field) must not cost us
            // the others, so each is read on its own.
            match serde_json::from_value::<Jwk>(entry.clone())
                .ok()
                .and_then(|jwk| usable(&jwk))
            {
                Some((kid, alg, key)) => {
                    by_kid.insert(kid, (alg, key));
                }
                None => {
                    tracing::debug!("a JWKS entry was skipped (not an ES256/RS256 key with a kid)")
                }
            }
        }
        Ok(by_kid)
    }
}

/// The key id, algorithm and key of a JWK we verify with: EC P-256 → ES256, RSA → RS256. A JWK's
/// own `alg`, when present, must agree. Symmetric (`oct`) keys are never taken from a JWKS.
fn usable(jwk: &Jwk) -> Option<(String, Algorithm, DecodingKey)> {
    let kid = jwk.common.key_id.clone()?;
    let alg = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        _ => return None,
    };
    match jwk.common.key_algorithm {
        None => {}
        Some(KeyAlgorithm::ES256) if alg == Algorithm::ES256 => {}
        Some(KeyAlgorithm::RS256) if alg == Algorithm::RS256 => {}
        Some(_) => return None,
    }
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != jsonwebtoken::jwk::PublicKeyUse::Signature)
    {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some((kid, alg, key))
}
