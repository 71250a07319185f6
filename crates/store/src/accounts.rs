//! Pre-authentication operations: they run as `rarity_app` through the SECURITY DEFINER functions in
//! `app_api` (see migrations/…_accounts.sql), never by reading `app_private` directly.
//!
//! Password hashing (argon2id) and token generation are the web layer's job; the store receives the
//! finished PHC hash string and the SHA-256 of the cookie token, so a dump of this database yields
//! neither passwords nor usable cookies.

use crate::StoreError;
use crate::domain::normalize_email;
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// What login needs to verify a password.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Credentials {
    pub user_id: Uuid,
    pub email: String,
    pub password_hash: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user_id", &self.user_id)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// The user behind a valid web session.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionUser {
    pub user_id: Uuid,
    pub email: String,
}

/// See [`crate::Store::accounts`].
#[derive(Clone, Debug)]
pub struct Accounts {
    pool: PgPool,
}

/// PHC strings from argon2 are ~100 characters; anything much longer is not a hash.
const MAX_PASSWORD_HASH: usize = 512;

impl Accounts {
    pub(crate) fn new(pool: PgPool) -> Self {
        Accounts { pool }
    }

    /// Creates a user (in `auth.users`) with a password. The email is normalised first;
    /// an existing address is [`StoreError::EmailTaken`].
    pub async fn create_user(&self, email: &str, password_hash: &str) -> Result<Uuid, StoreError> {
        let email = normalize_email(email)?;
        if password_hash.is_empty() || password_hash.len() > MAX_PASSWORD_HASH {
            return Err(StoreError::invalid("password_hash", "is malformed"));
        }
        let id = sqlx::query_scalar("SELECT app_api.create_user($1, $2)")
            .bind(&email)
            .bind(password_hash)
            .fetch_one(&self.pool)
            .await?;
        Ok(id)
    }

    /// The stored credentials for an email address (normalised), if it has an account.
    /// A malformed address simply has no account.
    pub async fn credentials(&self, email: &str) -> Result<Option<Credentials>, StoreError> {
        let Ok(email) = normalize_email(email) else {
            return Ok(None);
        };
        let row =
            sqlx::query_as("SELECT user_id, email, password_hash FROM app_api.credentials($1)")
                .bind(&email)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row)
    }

    /// Records a new web session by the SHA-256 of its cookie token.
    pub async fn create_web_session(
        &self,
        user_id: Uuid,
        token_hash: &[u8; 32],
        idle: Duration,
    ) -> Result<(), StoreError> {
        sqlx::query("SELECT app_api.create_web_session($1, $2, $3)")
            .bind(user_id)
            .bind(&token_hash[..])
            .bind(idle)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The session's user, restarting its idle clock; `None` if the token is unknown or the session
    /// has been idle for longer than `idle` (it is then deleted).
    pub async fn resume_web_session(
        &self,
        token_hash: &[u8; 32],
        idle: Duration,
    ) -> Result<Option<SessionUser>, StoreError> {
        let row = sqlx::query_as("SELECT user_id, email FROM app_api.resume_web_session($1, $2)")
            .bind(&token_hash[..])
            .bind(idle)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row)
    }

    /// Logs one session out (idempotent).
    pub async fn end_web_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        sqlx::query("SELECT app_api.end_web_session($1)")
            .bind(&token_hash[..])
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Logs a user out everywhere (idempotent).
    pub async fn end_all_web_sessions(&self, user_id: Uuid) -> Result<(), StoreError> {
        sqlx::query("SELECT app_api.end_all_web_sessions($1)")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Makes sure the subject of a verified Supabase JWT exists in `auth.users` (the foreign keys
    /// need it). On Supabase it always exists already and nothing is written.
    pub async fn ensure_jwt_user(&self, sub: Uuid, email: Option<&str>) -> Result<(), StoreError> {
        let email = email.and_then(|e| normalize_email(e).ok());
        sqlx::query("SELECT app_api.ensure_jwt_user($1, $2)")
            .bind(sub)
            .bind(email)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
