//! Supabase-issued access tokens as `Authorization: Bearer` credentials on the REST API.
//!
//! HS256 only (Supabase's legacy JWT secret), verified with `SUPABASE_JWT_SECRET`. `exp`, `sub` and
//! `aud = "authenticated"` are required (anon / service-role keys carry other audiences and no user).
//! When `SUPABASE_URL` is configured, `iss` must be `SUPABASE_URL/auth/v1`, as Supabase issues it.
//! `sub` is the Supabase user id and becomes our user id unchanged, so RLS policies written for
//! Supabase (`auth.uid()`) see the same value whichever way the user signed in.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret as _, SecretString};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtUser {
    pub id: Uuid,
    pub email: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("token rejected: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("token subject is not a user id")]
    BadSubject,
}

#[derive(serde::Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    email: Option<String>,
}

pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl JwtVerifier {
    pub fn new(secret: &SecretString, supabase_url: Option<&str>) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&["authenticated"]);
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        validation.leeway = 30;
        if let Some(url) = supabase_url {
            validation.set_issuer(&[format!("{}/auth/v1", url.trim_end_matches('/'))]);
        }
        Self {
            key: DecodingKey::from_secret(secret.expose_secret().as_bytes()),
            validation,
        }
    }

    pub fn verify(&self, token: &str) -> Result<JwtUser, JwtError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)?;
        let id = Uuid::parse_str(&data.claims.sub).map_err(|_| JwtError::BadSubject)?;
        Ok(JwtUser {
            id,
            email: data.claims.email,
        })
    }
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtVerifier([REDACTED])")
    }
}
