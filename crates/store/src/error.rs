//! The store's error type, and the mapping from PostgreSQL constraint violations to typed errors.
//!
//! Callers (the web layer) turn `Invalid`/`Conflict`/`EmailTaken`/`NotFound`/`Forbidden` into 4xx
//! responses and everything else into a logged 5xx. The `Display` text of a database error never
//! contains SQL or server messages; the cause stays available through `source()` for logs.

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
        )
    }
}

/// What a named constraint means to a caller.
enum Meaning {
    EmailTaken,
    Conflict(&'static str, &'static str),
    Invalid(&'static str, &'static str),
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
    (
        "credentials_password_hash_check",
        Meaning::Invalid("password_hash", "is malformed"),
    ),
    (
        "web_sessions_token_hash_check",
        Meaning::Invalid("token_hash", "must be 32 bytes"),
    ),
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

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(err)
    }
}
