//! The store's error type, and the mapping from PostgreSQL constraint violations to typed errors.
//!
//! Callers (the web layer) turn the errors for which [`StoreError::is_client_error`] is true into 4xx
//! responses and everything else into a logged 5xx. The `Display` text of a database error never
//! contains SQL or server messages; the cause stays available through `source()` for logs.

use uuid::Uuid;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Input failed validation (before or inside the database).
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// Sign-up with an email address that already has an account.
    #[error("an account with this email address already exists")]
    EmailTaken,
    /// A uniqueness rule was violated, e.g. the same phone number twice for one user.
    #[error("{field}: {message}")]
    Conflict {
        field: &'static str,
        message: &'static str,
    },
    /// The row does not exist or is not visible to this user (RLS makes the two indistinguishable).
    #[error("not found")]
    NotFound,
    /// Row-level security refused a write (the row would belong to someone else).
    #[error("not allowed")]
    Forbidden,
    /// The user already has as many WhatsApp accounts as `WHATSAPP_MAX_SESSIONS_PER_USER` allows
    /// (enforced by a database trigger, so concurrent requests cannot both pass). A 409.
    #[error("you can link at most {limit} WhatsApp accounts")]
    LimitReached { limit: u32 },
    /// The user already has as many leads or templates as their quota allows (a database trigger,
    /// like the account limit). `what` is the plural noun ("leads", "templates"). A 409.
    #[error("you can have at most {limit} {what}")]
    QuotaReached { what: &'static str, limit: u32 },
    /// The WhatsApp account has no stored credentials (never linked, or logged out), so nothing
    /// can be sent through it yet. A 4xx (409).
    #[error("this WhatsApp account is not linked")]
    NotLinked,
    /// The recipient opted out (their number is on the user's suppression list): nothing was
    /// queued or sent. Sending again needs their explicit, recorded opt-in. A 4xx (409).
    #[error(
        "this contact opted out of WhatsApp messages from you; record their opt-in before \
         messaging them again"
    )]
    OptedOut,
    /// Stored engine secrets are under another key than the configured `SESSION_ENCRYPTION_KEY`
    /// (start-up check, or a row met while loading). Key ids are not secret: they are the first 16
    /// hex digits of a SHA-256 over the key.
    #[error(
        "stored WhatsApp sessions were encrypted with key id {stored}, but the configured \
         SESSION_ENCRYPTION_KEY has key id {configured}; set the key they were encrypted with, or, \
         if you are rotating keys, finish `server rotate-key`"
    )]
    WrongEncryptionKey { stored: String, configured: String },
    /// A stored secret did not authenticate under its own key: it was altered, or copied from
    /// another row (the row's identity is bound into the ciphertext).
    #[error(
        "stored WhatsApp {what} of account {session_id} cannot be decrypted: the ciphertext was \
         altered or moved from another row"
    )]
    Decryption { session_id: Uuid, what: String },
    /// Key rotation met a row encrypted under neither the old nor the new key.
    #[error(
        "account {session_id} has a secret encrypted with key id {key_id}, which is neither the \
         old key ({old}) nor the new key ({new}); nothing of this account was changed"
    )]
    UnknownEncryptionKey {
        session_id: Uuid,
        key_id: String,
        old: String,
        new: String,
    },
    /// The database is reachable but does not have every migration this build expects.
    #[error("database schema is not up to date: {0}")]
    NotMigrated(String),
    /// Bad `StoreConfig` (e.g. an unparsable database URL).
    #[error("invalid database configuration: {0}")]
    Config(String),
    /// Applying migrations failed.
    #[error("applying database migrations failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// Any other database failure (connection, unexpected SQL error). Details are in `source()`.
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

impl StoreError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        StoreError::Invalid {
            field,
            message: message.into(),
        }
    }

    /// True for errors caused by the caller's input or permissions (a 4xx), false for server faults.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            StoreError::Invalid { .. }
                | StoreError::EmailTaken
                | StoreError::Conflict { .. }
                | StoreError::NotFound
                | StoreError::Forbidden
                | StoreError::LimitReached { .. }
                | StoreError::QuotaReached { .. }
                | StoreError::NotLinked
                | StoreError::OptedOut
        )
    }
}

/// What a named constraint means to a caller.
enum Meaning {
    EmailTaken,
    Conflict(&'static str, &'static str),
    Invalid(&'static str, &'static str),
    /// The trigger's DETAIL carries the limit.
    LimitReached,
    /// A per-user quota trigger (what, plural); the DETAIL carries the limit.
    QuotaReached(&'static str),
    NotLinked,
    NotFound,
    OptedOut,
}

/// Constraint name → typed error. Names are fixed in the migrations for exactly this purpose.
const CONSTRAINTS: &[(&str, Meaning)] = &[
    ("credentials_email_key", Meaning::EmailTaken),
    // Supabase's own unique index on auth.users(email).
    ("users_email_partial_key", Meaning::EmailTaken),
    (
        "leads_user_id_phone_key",
        Meaning::Conflict("phone", "a lead with this phone number already exists"),
    ),
    (
        "whatsapp_messages_session_id_message_id_key",
        Meaning::Conflict("message_id", "this message is already stored"),
    ),
    (
        "leads_name_check",
        Meaning::Invalid("name", "must be 1 to 200 characters"),
    ),
    (
        "leads_phone_check",
        Meaning::Invalid("phone", "must be in E.164 form"),
    ),
    (
        "leads_company_check",
        Meaning::Invalid("company", "is too long"),
    ),
    (
        "leads_email_check",
        Meaning::Invalid("email", "is too long"),
    ),
    (
        "leads_status_check",
        Meaning::Invalid("status", "is not a known status"),
    ),
    (
        "leads_source_check",
        Meaning::Invalid("source", "is too long"),
    ),
    (
        "leads_campaign_check",
        Meaning::Invalid("campaign", "is too long"),
    ),
    (
        "whatsapp_sessions_session_name_check",
        Meaning::Invalid("session_name", "must be 1 to 100 characters"),
    ),
    (
        "whatsapp_sessions_status_check",
        Meaning::Invalid("status", "is not a known status"),
    ),
    (
        "whatsapp_messages_direction_check",
        Meaning::Invalid("direction", "must be in or out"),
    ),
    (
        "whatsapp_messages_message_type_check",
        Meaning::Invalid("message_type", "is not a known type"),
    ),
    (
        "whatsapp_messages_status_check",
        Meaning::Invalid("status", "is not a known status"),
    ),
    (
        "whatsapp_messages_session_id_fkey",
        Meaning::Invalid("session_id", "no such session"),
    ),
    (
        "whatsapp_messages_lead_id_fkey",
        Meaning::Invalid("lead_id", "no such lead"),
    ),
    (
        "whatsapp_templates_name_check",
        Meaning::Invalid("name", "must be 1 to 200 characters"),
    ),
    (
        "whatsapp_templates_content_check",
        Meaning::Invalid("content", "must be 1 to 4096 characters"),
    ),
    (
        "whatsapp_templates_variables_check",
        Meaning::Invalid("variables", "must be a list"),
    ),
    (
        "whatsapp_templates_category_check",
        Meaning::Invalid("category", "must be 1 to 50 characters"),
    ),
    ("whatsapp_sessions_per_user_limit", Meaning::LimitReached),
    ("leads_per_user_quota", Meaning::QuotaReached("leads")),
    (
        "api_keys_per_user_quota",
        Meaning::QuotaReached("active API keys"),
    ),
    (
        "api_keys_name_check",
        Meaning::Invalid("name", "must be 1 to 100 characters"),
    ),
    (
        "api_keys_scopes_check",
        Meaning::Invalid("scopes", "must be one or more of read, send, manage"),
    ),
    ("webhooks_per_user_quota", Meaning::QuotaReached("webhooks")),
    (
        "webhooks_url_check",
        Meaning::Invalid("url", "must be an http(s) URL of at most 2000 characters"),
    ),
    (
        "webhooks_event_types_check",
        Meaning::Invalid("event_types", "lists an unknown event type"),
    ),
    (
        "webhooks_description_check",
        Meaning::Invalid("description", "must be at most 200 characters"),
    ),
    (
        "whatsapp_templates_per_user_quota",
        Meaning::QuotaReached("templates"),
    ),
    ("whatsapp_messages_session_linked", Meaning::NotLinked),
    // Raised by app_api.whatsapp_write_secrets: the account is not this user's (or is gone).
    ("whatsapp_sessions_owner", Meaning::NotFound),
    // The account was deleted while the engine was writing its secrets.
    ("whatsapp_credentials_session_id_fkey", Meaning::NotFound),
    ("whatsapp_keys_session_id_fkey", Meaning::NotFound),
    (
        "whatsapp_messages_session_id_idempotency_key_key",
        Meaning::Conflict(
            "idempotency_key",
            "Idempotency-Key reused with a different request",
        ),
    ),
    (
        "whatsapp_sessions_status_reason_check",
        Meaning::Invalid("status_reason", "must be a lower-case word like qr_timeout"),
    ),
    (
        "whatsapp_sessions_status_message_check",
        Meaning::Invalid("status_message", "must be at most 500 characters"),
    ),
    (
        "whatsapp_sessions_jid_check",
        Meaning::Invalid("jid", "must be at most 128 characters"),
    ),
    (
        "whatsapp_sessions_lid_check",
        Meaning::Invalid("lid", "must be at most 128 characters"),
    ),
    (
        "whatsapp_sessions_push_name_check",
        Meaning::Invalid("push_name", "must be at most 200 characters"),
    ),
    (
        "whatsapp_messages_status_reason_check",
        Meaning::Invalid("status_reason", "must be at most 200 characters"),
    ),
    (
        "whatsapp_messages_contact_jid_check",
        Meaning::Invalid("contact_jid", "must be at most 128 characters"),
    ),
    (
        "whatsapp_messages_contact_lid_check",
        Meaning::Invalid("contact_lid", "must be at most 128 characters"),
    ),
    (
        "whatsapp_messages_push_name_check",
        Meaning::Invalid("push_name", "must be at most 200 characters"),
    ),
    (
        "whatsapp_messages_idempotency_key_check",
        Meaning::Invalid("idempotency_key", "must be 1 to 255 characters"),
    ),
    (
        "whatsapp_messages_contact_check",
        Meaning::Invalid("phone_number", "a message needs a phone number, JID or LID"),
    ),
    (
        "whatsapp_keys_kind_check",
        Meaning::Invalid("kind", "is not a known key kind"),
    ),
    (
        "whatsapp_keys_name_check",
        Meaning::Invalid("name", "must be 1 to 512 characters"),
    ),
    (
        "credentials_password_hash_check",
        Meaning::Invalid("password_hash", "is malformed"),
    ),
    (
        "web_sessions_token_hash_check",
        Meaning::Invalid("token_hash", "must be 32 bytes"),
    ),
    // Consent, privacy settings, erasure (migrations 20261206100000..02).
    ("whatsapp_messages_recipient_opted_out", Meaning::OptedOut),
    (
        "whatsapp_messages_consent_exempt_unearned",
        Meaning::Invalid(
            "consent_exempt",
            "only the opt-out just recorded may be confirmed",
        ),
    ),
    (
        "whatsapp_messages_consent_exempt_fixed",
        Meaning::Invalid("consent_exempt", "cannot be changed"),
    ),
    (
        "whatsapp_messages_consent_exempt_check",
        Meaning::Invalid("consent_exempt", "is not a known exemption"),
    ),
    (
        "consent_events_kind_check",
        Meaning::Invalid("kind", "must be opt_in or opt_out"),
    ),
    (
        "consent_events_source_check",
        Meaning::Invalid("source", "must be import, form, chat, api or keyword"),
    ),
    (
        "consent_events_evidence_check",
        Meaning::Invalid("evidence", "must be 1 to 2000 characters"),
    ),
    ("consent_events_lead_id_fkey", Meaning::NotFound),
    (
        "consent_events_message_id_fkey",
        Meaning::Invalid("message_id", "no such message"),
    ),
    (
        "privacy_settings_opt_out_keywords_check",
        Meaning::Invalid("opt_out_keywords", "must be 1 to 50 keywords"),
    ),
    (
        "privacy_settings_opt_out_reply_check",
        Meaning::Invalid("opt_out_reply", "must be 1 to 1000 characters"),
    ),
    (
        "privacy_settings_retention_messages_days_check",
        Meaning::Invalid("retention_messages_days", "must be 1 to 3650 days"),
    ),
    (
        "privacy_settings_retention_media_days_check",
        Meaning::Invalid("retention_media_days", "must be 1 to 3650 days"),
    ),
    (
        "privacy_settings_retention_closed_leads_days_check",
        Meaning::Invalid("retention_closed_leads_days", "must be 1 to 3650 days"),
    ),
    (
        "audit_log_action_check",
        Meaning::Invalid("action", "is not an action users may log"),
    ),
    // Raised by app_api.erase_lead / app_api.delete_user: not this user's (or gone).
    ("leads_owner", Meaning::NotFound),
    ("users_owner", Meaning::NotFound),
];

/// SQLSTATE 42501: insufficient_privilege, which is what an RLS WITH CHECK failure raises.
const INSUFFICIENT_PRIVILEGE: &str = "42501";

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err {
            if let Some(name) = db.constraint()
                && let Some((_, meaning)) = CONSTRAINTS.iter().find(|(n, _)| *n == name)
            {
                return match meaning {
                    Meaning::EmailTaken => StoreError::EmailTaken,
                    Meaning::Conflict(field, message) => StoreError::Conflict { field, message },
                    Meaning::Invalid(field, message) => StoreError::invalid(field, *message),
                    Meaning::LimitReached => StoreError::LimitReached {
                        limit: detail_number(db.as_ref()),
                    },
                    Meaning::QuotaReached(what) => StoreError::QuotaReached {
                        what,
                        limit: detail_number(db.as_ref()),
                    },
                    Meaning::NotLinked => StoreError::NotLinked,
                    Meaning::NotFound => StoreError::NotFound,
                    Meaning::OptedOut => StoreError::OptedOut,
                };
            }
            if db.code().as_deref() == Some(INSUFFICIENT_PRIVILEGE) {
                return StoreError::Forbidden;
            }
        }
        if matches!(err, sqlx::Error::RowNotFound) {
            return StoreError::NotFound;
        }
        StoreError::Database(err)
    }
}

/// The number a limit trigger puts in its DETAIL (0 if missing).
fn detail_number(db: &dyn sqlx::error::DatabaseError) -> u32 {
    db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .and_then(|pg| pg.detail())
        .and_then(|detail| detail.trim().parse().ok())
        .unwrap_or_default()
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(err)
    }
}
