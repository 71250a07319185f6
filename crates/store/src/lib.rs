//! The PostgreSQL (Supabase-compatible) store of Rarity Leads.
//!
//! # Tenancy model
//!
//! Row-level security is the tenancy boundary, exactly as on Supabase. There, PostgREST logs in as
//! `authenticator` (which owns nothing and can do nothing by itself) and, per request, runs a
//! transaction that does `set_config('role', 'authenticated', true)` and
//! `set_config('request.jwt.claims', '{"sub": …}', true)`; the policies then compare rows with
//! `auth.uid()`. We do the same:
//!
//! - [`Store::connect`] applies the migrations as the *owner* (the `DATABASE_URL` user) and then opens
//!   the runtime pool as `rarity_app`: LOGIN, NOINHERIT, no BYPASSRLS, owns no table, member of
//!   `authenticated` only so it can switch to it.
//! - Every user-scoped operation runs inside [`Store::as_user`]'s transaction, which switches to
//!   `authenticated` and sets the claims transaction-locally, so nothing leaks to the next user of
//!   the pooled connection. A bug in a query's WHERE clause therefore cannot show another tenant's
//!   rows: PostgreSQL filters them.
//! - Before there is a user (sign up, log in, cookie lookup), [`Accounts`] calls a few narrow
//!   SECURITY DEFINER functions in `app_api`; password hashes and session-token hashes live in
//!   `app_private`, which `rarity_app`, `authenticated` and `anon` cannot read.
//! - The WhatsApp session engine ([`EngineStore`], from [`Store::engine`]) keeps its credentials
//!   and Signal keys in `app_private` too, AES-256-GCM-encrypted, through `app_api` functions; the
//!   messages and leads it writes are written acting as the account's owner under RLS. See
//!   [`engine`].
//!
//! Queries are checked at run time (`sqlx::query`/`query_as` + `FromRow`), not with the compile-time
//! macros: no `DATABASE_URL` or `.sqlx/` data is needed to build, and every query is exercised by the
//! real-database tests in `tests/`.
//!
//! Supabase: use the *direct* connection (or the session pooler). The transaction pooler (port 6543)
//! breaks prepared statements, which sqlx uses for every query.

mod accounts;
mod adopt;
mod api_keys;
mod audit;
mod campaign_runner;
mod campaigns;
mod chat;
mod config;
mod consent;
mod conversations;
mod domain;
pub mod embedded;
pub mod engine;
mod erasure;
mod error;
mod events;
mod export;
mod import;
mod lead_link;
mod leads;
mod leases;
mod media;
mod messages;
mod ops;
mod paging;
mod privacy_settings;
mod records;
mod relay;
mod retention;
mod templates;
#[cfg(feature = "test-support")]
pub mod test_support;
mod user_tx;
mod webhooks;
mod whatsapp;

pub use accounts::{
    Accounts, Credentials, LinkedSession, LoginAttempt, SessionLifetime, SessionUser,
};
pub use adopt::{
    DEFAULT_OWNER_COLUMN as DEFAULT_LEADS_OWNER_COLUMN,
    valid_owner_column as valid_leads_owner_column,
};
pub use api_keys::{API_KEY_SCOPES, ApiKey, ApiKeyGrant, CreatedApiKey, looks_like_api_key};
pub use audit::{AUDIT_PAGE_DEFAULT, AUDIT_PAGE_MAX, AuditEntry};
pub use campaign_runner::{CampaignRunner, Pace, TickOutcome};
pub use campaigns::*;
pub use chat::ReadReceipts;
pub use config::{DEFAULT_MAX_SESSIONS_PER_USER, StoreConfig, StoreSettings};
pub use consent::{
    ConsentEvent, ConsentKind, ConsentSource, ConsentState, DEFAULT_OPT_OUT_KEYWORDS, LeadConsent,
    NewConsent, OUTBOX_WAKE_CHANNEL, OutboxWakes, is_opt_out, normalize_keyword,
};
pub use domain::{LeadStatus, MessageStatus, PhoneE164, SessionStatus, normalize_email};
pub use engine::{
    CommitReport, EngineAccount, EngineCommit, EngineStore, InboundOutcome, InboundRecord, KeyKind,
    KeyWrite, OutgoingMessage, RotationReport, SessionCipher, SessionStatusUpdate, StatusChange,
};
pub use erasure::{AccountDeletionReport, ErasureReport};
pub use error::StoreError;
pub use events::{EVENTS_CHANNEL, EVENTS_PAGE_MAX, EventKind, EventListener, NewEvent, UserEvent};
pub use export::{ExportError, ExportScope, ExportSummary, PreparedExport};
pub use import::{
    ColumnTarget, IMPORT_ROWS_MAX, ImportOptions, ImportPreview, ImportReport, RowError,
    normalize_phone, preview as import_preview,
};
pub use leads::{BULK_MAX, BulkAction, LeadQuery, LeadSort, SEGMENT_MAX};
pub use leases::Leases;
pub use media::{
    MEDIA_KINDS, MediaFile, MediaJob, MediaJobDetail, MediaOutcome, NewMedia, NewMediaOutgoing,
    clean_file_name, normalize_mimetype,
};
pub use ops::{ACCOUNT_STATUSES, OpsSnapshot, PoolStats};
pub use paging::{ConversationPage, LeadPage, TemplatePage};
pub use privacy_settings::{PrivacySettings, PrivacySettingsInput, RETENTION_DAYS_MAX};
pub use records::{
    Conversation, ConversationSummary, Lead, LeadPatch, Message, MessageMedia, MessagePage,
    NewLead, NewOutgoing, NewTemplate, Template, WhatsappSession,
};
pub use relay::{
    COMMAND_CHANNEL, COMMAND_MAX_AGE, LIVE_CHANNEL, NOTIFY_MAX, Notices, SharedMediaConn,
};
pub use retention::PurgeReport;
pub use user_tx::UserTx;
pub use webhooks::{
    CreatedWebhook, DeliveryJob, DeliveryOutcome, NewWebhook, WEBHOOK_DELIVERIES_PAGE_MAX,
    WEBHOOK_EVENT_TYPES, Webhook, WebhookDelivery, WebhookDeliveryPage, WebhookPatch,
};

use sqlx::ConnectOptions;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

/// The SQL migrations in `/migrations`, embedded at build time.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// Runtime connections per process; PostgreSQL's default limit is 100 and Supabase's small plans ~60.
const RUNTIME_POOL_SIZE: u32 = 10;

/// How long to keep retrying a database that is not answering (e.g. still starting) before failing.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Handle to the database: cheap to clone (it shares one runtime pool).
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

impl std::fmt::Debug for Store {
    // Hand-written so no connection option (a password) can ever reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("connections", &self.pool.size())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Applies pending migrations as the owner, sets the runtime role's password if one is
    /// configured, writes the default [`StoreSettings`], then opens the runtime pool as
    /// `rarity_app`.
    pub async fn connect(config: &StoreConfig) -> Result<Store, StoreError> {
        Store::connect_with(config, &StoreSettings::default()).await
    }

    /// [`Store::connect`], writing `settings` (e.g. `WHATSAPP_MAX_SESSIONS_PER_USER`) into the
    /// database for its triggers. Each start-up writes them, so the last server started decides.
    pub async fn connect_with(
        config: &StoreConfig,
        settings: &StoreSettings,
    ) -> Result<Store, StoreError> {
        let max_sessions = settings.max_sessions_per_user();
        if !(1..=10_000).contains(&max_sessions) {
            return Err(StoreError::Config(format!(
                "the WhatsApp account limit must be 1 to 10000, got {max_sessions}"
            )));
        }
        // A one-connection pool rather than a bare connection: `Migrator::run` over `&mut
        // PgConnection` yields a future that is not `Send` for every lifetime, so a server could
        // not spawn `connect`; over `&PgPool` it is.
        let owner = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(config.owner_options()?)
            .await?;
        // A host's own `public.leads` (Supabase mode) is adopted, not created: see `adopt`.
        match adopt::migrator(&owner, settings.leads_owner_column()).await? {
            Some(adopting) => adopting.run(&owner).await?,
            None => MIGRATOR.run(&owner).await?,
        }
        if let Some(password) = &config.app_password {
            set_app_password(&owner, password).await?;
        }
        sqlx::query(
            "INSERT INTO app_private.settings (singleton, max_sessions_per_user) VALUES (true, $1) \
             ON CONFLICT (singleton) DO UPDATE \
             SET max_sessions_per_user = EXCLUDED.max_sessions_per_user, updated_at = now()",
        )
        .bind(i32::try_from(max_sessions).unwrap_or(i32::MAX))
        .execute(&owner)
        .await?;
        owner.close().await;

        let pool = PgPoolOptions::new()
            .max_connections(RUNTIME_POOL_SIZE)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(config.runtime_options()?)
            .await?;
        Ok(Store { pool })
    }

    /// Ready to serve: the database answers and every migration of this build has been applied.
    pub async fn readiness(&self) -> Result<(), StoreError> {
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT v FROM app_api.applied_migrations() AS v")
                .fetch_all(&self.pool)
                .await
                .map_err(|err| match &err {
                    // The function itself is created by a migration: its absence means "not migrated".
                    sqlx::Error::Database(db)
                        if db.code().as_deref() == Some("42883")
                            || db.code().as_deref() == Some("3F000") =>
                    {
                        StoreError::NotMigrated("schema app_api is missing".to_owned())
                    }
                    _ => StoreError::from(err),
                })?;
        let applied: HashSet<i64> = applied.into_iter().collect();
        let missing: Vec<String> = MIGRATOR
            .iter()
            .filter(|m| m.migration_type.is_up_migration() && !applied.contains(&m.version))
            .map(|m| format!("{} {}", m.version, m.description))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(StoreError::NotMigrated(format!(
                "missing {}",
                missing.join(", ")
            )))
        }
    }

    /// Pre-authentication account operations (sign up, log in, cookie sessions).
    pub fn accounts(&self) -> Accounts {
        Accounts::new(self.pool.clone())
    }

    /// Starts a transaction acting as `user_id` under RLS. Dropping the [`UserTx`] without
    /// [`UserTx::commit`] rolls back.
    pub async fn as_user(&self, user_id: Uuid) -> Result<UserTx, StoreError> {
        UserTx::begin(&self.pool, user_id).await
    }

    /// The runtime pool (logged in as `rarity_app`), for tests that probe what that role can do.
    #[cfg(feature = "test-support")]
    pub fn runtime_pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes the pool (waits for checked-out connections to come back).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `ALTER ROLE … PASSWORD` takes no bind parameters, so the password is quoted by PostgreSQL's own
/// `format('%L')` inside the server rather than by string building here.
async fn set_app_password(owner: &PgPool, password: &str) -> Result<(), StoreError> {
    let mut tx = owner.begin().await?;
    sqlx::query("SELECT set_config('rarity.app_password', $1, true)")
        .bind(password)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "DO $$ BEGIN EXECUTE format('ALTER ROLE rarity_app PASSWORD %L', \
         current_setting('rarity.app_password')); END $$",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Parsed owner options, with statement logging quietened (it would log every migration's SQL).
pub(crate) fn parse_options(url: &str) -> Result<PgConnectOptions, StoreError> {
    let options: PgConnectOptions = url.parse().map_err(|_| {
        StoreError::Config("DATABASE_URL is not a valid postgres:// URL".to_owned())
    })?;
    Ok(options.log_statements(tracing::log::LevelFilter::Debug))
}
