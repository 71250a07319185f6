//! API keys for server-to-server use: `rk_` + 43 base64url characters (256 random bits), shown
//! once when created and stored only as their SHA-256, with the scopes they grant (`read`,
//! `send`, `manage`) and when they were last used. A key authenticates through the system path
//! ([`crate::Accounts::api_key`]) before there is a user; everything else acts as the owner.

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::optional_text;
use crate::{StoreError, UserTx};

/// What a key may do; every key has at least one.
pub const API_KEY_SCOPES: [&str; 3] = ["read", "send", "manage"];
const PREFIX: &str = "rk_";
/// Characters of the key kept for recognising it (`rk_` + 6).
const SHOWN: usize = 9;

/// A key as its owner sees it (never the key itself, nor its hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    /// `rk_` and the key's first characters.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key just created: the only time its secret exists outside the caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKey,
    /// The secret, to show once.
    pub secret: String,
}

/// Who a key belongs to and what it may do.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiKeyGrant {
    pub key_id: Uuid,
    pub user_id: Uuid,
    pub scopes: Vec<String>,
}

/// The SHA-256 stored for a key.
fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Whether `token` has the shape of one of our keys (so a bearer token can be told apart from a
/// Supabase JWT without a database round trip).
pub fn looks_like_api_key(token: &str) -> bool {
    token.len() == PREFIX.len() + 43
        && token.starts_with(PREFIX)
        && token[PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

const COLUMNS: &str = "id, name, prefix, scopes, created_at, last_used_at, revoked_at";

impl UserTx {
    /// Creates a key named `name` with `scopes` (each once, from [`API_KEY_SCOPES`]).
    pub async fn api_key_create(
        &mut self,
        name: &str,
        scopes: &[String],
    ) -> Result<CreatedApiKey, StoreError> {
        let name = optional_text("name", Some(name), 100)?
            .ok_or_else(|| StoreError::invalid("name", "is required"))?;
        let mut granted: Vec<String> = Vec::new();
        for scope in scopes {
            let scope = scope.trim();
            if !API_KEY_SCOPES.contains(&scope) {
                return Err(StoreError::invalid(
                    "scopes",
                    "must be one or more of read, send, manage",
                ));
            }
            if !granted.iter().any(|s| s == scope) {
                granted.push(scope.to_owned());
            }
        }
        if granted.is_empty() {
            return Err(StoreError::invalid("scopes", "choose at least one"));
        }
        let mut random = [0u8; 32];
        OsRng.fill_bytes(&mut random);
        let secret = format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
        );
        let sql = format!(
            "INSERT INTO public.api_keys (name, prefix, key_hash, scopes) VALUES ($1, $2, $3, $4) \
             RETURNING {COLUMNS}"
        );
        let key: ApiKey = sqlx::query_as(&sql)
            .bind(&name)
            .bind(&secret[..SHOWN])
            .bind(hash(&secret))
            .bind(&granted)
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(CreatedApiKey { key, secret })
    }

    /// The user's keys, newest first (revoked ones too, marked).
    pub async fn api_keys_list(&mut self) -> Result<Vec<ApiKey>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM public.api_keys ORDER BY created_at DESC, id");
        Ok(sqlx::query_as(&sql).fetch_all(&mut *self.tx).await?)
    }

    /// Revokes one of the user's keys at once (it stays listed, marked revoked);
    /// [`StoreError::NotFound`] for a key that is not theirs or is revoked already.
    pub async fn api_key_revoke(&mut self, id: Uuid) -> Result<ApiKey, StoreError> {
        let sql = format!(
            "UPDATE public.api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL \
             RETURNING {COLUMNS}"
        );
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .fetch_one(&mut *self.tx)
            .await?)
    }
}

impl crate::Accounts {
    /// The live key `secret` is (system path: before there is a user); `None` for an unknown or
    /// revoked key. Notes when it was used (at most once a minute).
    pub async fn api_key(&self, secret: &str) -> Result<Option<ApiKeyGrant>, StoreError> {
        if !looks_like_api_key(secret) {
            return Ok(None);
        }
        Ok(
            sqlx::query_as("SELECT key_id, user_id, scopes FROM app_api.api_key_authenticate($1)")
                .bind(hash(secret))
                .fetch_optional(self.pool())
                .await?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_recognised_by_shape() {
        let key = format!("rk_{}", "A".repeat(43));
        assert!(looks_like_api_key(&key));
        assert!(!looks_like_api_key("rk_short"));
        assert!(!looks_like_api_key(&format!("rk_{}", "!".repeat(43))));
        assert!(!looks_like_api_key("eyJhbGciOiJIUzI1NiJ9.e30.sig"));
        assert_eq!(hash(&key).len(), 32);
    }
}
