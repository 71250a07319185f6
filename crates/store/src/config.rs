//! How to reach the database: the owner URL (runs migrations) and the runtime role derived from it.

use crate::StoreError;
use sqlx::postgres::PgConnectOptions;

/// The runtime login role created by the migrations.
pub const APP_ROLE: &str = "rarity_app";

/// Connection settings for [`crate::Store::connect`].
#[derive(Clone)]
pub struct StoreConfig {
    /// `DATABASE_URL`: a role that owns the schema and may run migrations (e.g. Supabase's `postgres`).
    pub database_url: String,
    /// Password for `rarity_app`; applied with `ALTER ROLE` at start-up. `None` for trust/peer auth.
    pub app_password: Option<String>,
}

/// `WHATSAPP_MAX_SESSIONS_PER_USER` when none is configured.
pub const DEFAULT_MAX_SESSIONS_PER_USER: u32 = 5;

/// Settings [`crate::Store::connect_with`] writes into the database (`app_private.settings`), where
/// triggers enforce them whoever writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreSettings {
    /// How many WhatsApp accounts one user may have (default
    /// [`DEFAULT_MAX_SESSIONS_PER_USER`]); 1 to 10,000.
    pub max_sessions_per_user: Option<u32>,
    /// `LEADS_OWNER_COLUMN`: the owner column of a host's existing `public.leads` (default
    /// `user_id`). Read only when that table is adopted (the first start on it); ours is always
    /// `user_id`, and an adopted table's `user_id` is kept equal to the column named here.
    pub leads_owner_column: Option<String>,
}

impl StoreSettings {
    pub fn leads_owner_column(&self) -> &str {
        self.leads_owner_column
            .as_deref()
            .unwrap_or(crate::adopt::DEFAULT_OWNER_COLUMN)
    }

    pub fn max_sessions_per_user(&self) -> u32 {
        self.max_sessions_per_user
            .unwrap_or(DEFAULT_MAX_SESSIONS_PER_USER)
    }
}

impl StoreConfig {
    pub fn new(database_url: impl Into<String>) -> Self {
        StoreConfig {
            database_url: database_url.into(),
            app_password: None,
        }
    }

    pub fn with_app_password(mut self, password: impl Into<String>) -> Self {
        self.app_password = Some(password.into());
        self
    }

    pub(crate) fn owner_options(&self) -> Result<PgConnectOptions, StoreError> {
        crate::parse_options(&self.database_url)
    }

    /// The owner URL with the user swapped for `rarity_app` (and its password, if any). Built from
    /// the URL rather than the parsed options so the owner's password is never sent for the app role.
    pub(crate) fn runtime_url(&self) -> Result<String, StoreError> {
        let bad = || StoreError::Config("DATABASE_URL is not a valid postgres:// URL".to_owned());
        let mut url = url::Url::parse(&self.database_url).map_err(|_| bad())?;
        url.set_username(APP_ROLE).map_err(|_| bad())?;
        url.set_password(self.app_password.as_deref())
            .map_err(|_| bad())?;
        Ok(url.into())
    }

    pub(crate) fn runtime_options(&self) -> Result<PgConnectOptions, StoreError> {
        crate::parse_options(&self.runtime_url()?)
    }
}

impl std::fmt::Debug for StoreConfig {
    // Never print credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field(
                "app_password",
                &self.app_password.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::StoreConfig;

    #[test]
    fn the_runtime_url_swaps_the_user_and_never_carries_the_owner_password() {
        let owner = "postgres://postgres:owner%20secret@db.example.supabase.co:5432/postgres?sslmode=require";
        let url = StoreConfig::new(owner).runtime_url().ok();
        assert_eq!(
            url.as_deref(),
            Some("postgres://rarity_app@db.example.supabase.co:5432/postgres?sslmode=require")
        );
        let url = StoreConfig::new(owner)
            .with_app_password("p@ss:word/")
            .runtime_url()
            .ok();
        assert_eq!(
            url.as_deref(),
            Some(
                "postgres://rarity_app:p%40ss%3Aword%2F@db.example.supabase.co:5432/postgres?sslmode=require"
            )
        );
        let socket = "postgres://rarity@localhost/postgres?host=%2Ftmp%2Fdb%2Frun";
        assert_eq!(
            StoreConfig::new(socket).runtime_url().ok().as_deref(),
            Some("postgres://rarity_app@localhost/postgres?host=%2Ftmp%2Fdb%2Frun")
        );
        assert!(StoreConfig::new("not a url").runtime_url().is_err());
    }

    #[test]
    fn debug_output_hides_credentials() {
        let config = StoreConfig::new("postgres://u:topsecret@h/db").with_app_password("appsecret");
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("topsecret") && !shown.contains("appsecret"),
            "{shown}"
        );
    }
}
