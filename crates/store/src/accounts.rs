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

/// A web session with what backs it: for a session opened through Supabase Auth, the sealed
/// GoTrue tokens (opaque here: the server seals and opens them) and when the access token expires.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LinkedSession {
    pub user_id: Uuid,
    pub email: String,
    pub supabase_tokens: Option<Vec<u8>>,
    pub supabase_expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl std::fmt::Debug for LinkedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkedSession")
            .field("user_id", &self.user_id)
            .field("supabase", &self.supabase_tokens.is_some())
            .field("supabase_expires_at", &self.supabase_expires_at)
            .finish_non_exhaustive()
    }
}

/// How long a web session lasts: `idle` without a request (sliding), and at most `absolute` from
/// sign-in however active it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLifetime {
    pub idle: Duration,
    pub absolute: Duration,
}

/// The outcome of [`Accounts::login_attempt`].
#[derive(Clone, PartialEq, Eq)]
pub enum LoginAttempt {
    /// No account has this email (nothing was counted).
    UnknownEmail,
    /// The account has had too many failed sign-ins lately; try again after this long. The
    /// password must not be checked.
    LockedOut { retry_after: Duration },
    /// Counted as a failure already; check the password against these credentials and call
    /// [`Accounts::login_succeeded`] if it matches.
    Check(Credentials),
}

impl std::fmt::Debug for LoginAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownEmail => f.write_str("UnknownEmail"),
            Self::LockedOut { retry_after } => write!(f, "LockedOut({retry_after:?})"),
            Self::Check(c) => write!(f, "Check({c:?})"),
        }
    }
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    user_id: Uuid,
    email: String,
    password_hash: Option<String>,
    allowed: bool,
    retry_after_seconds: i32,
}

/// See [`crate::Store::accounts`].
#[derive(Clone, Debug)]
pub struct Accounts {
    pool: PgPool,
}

impl Accounts {
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }
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

    /// Counts one sign-in attempt for `email` *before* its password is checked (see
    /// migration …200002): at most `max_failures` failed attempts per `window` per account, unless
    /// `bypass_lockout` (the browser proved an earlier successful sign-in of this account).
    pub async fn login_attempt(
        &self,
        email: &str,
        max_failures: u32,
        window: Duration,
        bypass_lockout: bool,
    ) -> Result<LoginAttempt, StoreError> {
        let Ok(email) = normalize_email(email) else {
            return Ok(LoginAttempt::UnknownEmail);
        };
        let row: Option<AttemptRow> = sqlx::query_as(
            "SELECT user_id, email, password_hash, allowed, retry_after_seconds \
             FROM app_api.login_attempt($1, $2, $3, $4)",
        )
        .bind(&email)
        .bind(i32::try_from(max_failures).unwrap_or(i32::MAX))
        .bind(window)
        .bind(bypass_lockout)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            None => LoginAttempt::UnknownEmail,
            Some(row) => match (row.allowed, row.password_hash) {
                (true, Some(password_hash)) => LoginAttempt::Check(Credentials {
                    user_id: row.user_id,
                    email: row.email,
                    password_hash,
                }),
                _ => LoginAttempt::LockedOut {
                    retry_after: Duration::from_secs(
                        u64::try_from(row.retry_after_seconds).unwrap_or(1).max(1),
                    ),
                },
            },
        })
    }

    /// Clears the account's failed sign-in count after a correct password.
    pub async fn login_succeeded(&self, user_id: Uuid) -> Result<(), StoreError> {
        sqlx::query("SELECT app_api.login_succeeded($1)")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// [`Accounts::create_web_session`] with an absolute lifetime as well.
    pub async fn start_web_session(
        &self,
        user_id: Uuid,
        token_hash: &[u8; 32],
        lifetime: SessionLifetime,
    ) -> Result<(), StoreError> {
        sqlx::query("SELECT app_api.create_web_session($1, $2, $3, $4)")
            .bind(user_id)
            .bind(&token_hash[..])
            .bind(lifetime.idle)
            .bind(lifetime.absolute)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// [`Accounts::start_web_session`] for a session backed by a Supabase Auth session: `tokens`
    /// are its sealed tokens, `expires_at` when its access token expires.
    pub async fn start_supabase_web_session(
        &self,
        user_id: Uuid,
        token_hash: &[u8; 32],
        lifetime: SessionLifetime,
        tokens: &[u8],
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("SELECT app_api.create_supabase_web_session($1, $2, $3, $4, $5, $6)")
            .bind(user_id)
            .bind(&token_hash[..])
            .bind(lifetime.idle)
            .bind(lifetime.absolute)
            .bind(tokens)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// [`Accounts::resume_web_session`] that also ends sessions older than `lifetime.absolute`,
    /// with what backs the session (a Supabase Auth session's sealed tokens, if any).
    pub async fn resume_linked_web_session(
        &self,
        token_hash: &[u8; 32],
        lifetime: SessionLifetime,
    ) -> Result<Option<LinkedSession>, StoreError> {
        let row = sqlx::query_as(
            "SELECT user_id, email, supabase_tokens, supabase_expires_at \
             FROM app_api.resume_web_session_linked($1, $2, $3)",
        )
        .bind(&token_hash[..])
        .bind(lifetime.idle)
        .bind(lifetime.absolute)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row)
    }

    /// Whether the session still stands (known, not idle for longer than `lifetime.idle`, not
    /// older than `lifetime.absolute`), without restarting its idle clock: for the browser's event
    /// socket, which asks on every heartbeat.
    pub async fn web_session_stands(
        &self,
        token_hash: &[u8; 32],
        lifetime: SessionLifetime,
    ) -> Result<bool, StoreError> {
        let stands = sqlx::query_scalar("SELECT app_api.web_session_stands($1, $2, $3)")
            .bind(&token_hash[..])
            .bind(lifetime.idle)
            .bind(lifetime.absolute)
            .fetch_one(&self.pool)
            .await?;
        Ok(stands)
    }

    /// Claims the right to refresh a Supabase-backed session for `claim` (one refresher across
    /// tabs and instances): the sealed tokens when this caller won, `None` when someone else holds
    /// the claim (or the session is gone).
    pub async fn claim_supabase_refresh(
        &self,
        token_hash: &[u8; 32],
        claim: Duration,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<Option<Vec<u8>>> =
            sqlx::query_scalar("SELECT app_api.claim_supabase_refresh($1, $2)")
                .bind(&token_hash[..])
                .bind(claim)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.flatten())
    }

    /// Ends a claim: with `Some((tokens, expires_at))` the refreshed session is stored; `None`
    /// only releases the claim so a later request tries again.
    pub async fn finish_supabase_refresh(
        &self,
        token_hash: &[u8; 32],
        refreshed: Option<(&[u8], chrono::DateTime<chrono::Utc>)>,
    ) -> Result<(), StoreError> {
        sqlx::query("SELECT app_api.finish_supabase_refresh($1, $2, $3)")
            .bind(&token_hash[..])
            .bind(refreshed.map(|(tokens, _)| tokens))
            .bind(refreshed.map(|(_, at)| at))
            .execute(&self.pool)
            .await?;
        Ok(())
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
