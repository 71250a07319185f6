//! Process-wide state shared by every handler.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::auth::jwt::JwtVerifier;
use crate::auth::rate_limit::{Limits, LoginLimiter};
use crate::config::Config;

/// The parts of [`Config`] that request handling needs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub cookie_secure: bool,
    pub session_idle_timeout: Duration,
    pub max_sessions_per_user: u32,
    pub frontend_url: Option<String>,
}

#[derive(Clone)]
pub struct AppState {
    pub store: store::Store,
    /// The WhatsApp sessions' one command handle (REST handlers and server functions share it).
    pub sessions: sessions::Sessions,
    pub leptos_options: LeptosOptions,
    pub settings: Arc<Settings>,
    /// `None` when `SUPABASE_JWT_SECRET` is unset: bearer tokens are then refused.
    pub jwt: Option<Arc<JwtVerifier>>,
    pub login_limiter: Arc<LoginLimiter>,
}

impl AppState {
    pub fn new(config: &Config, store: store::Store, sessions: sessions::Sessions) -> Self {
        Self::with_limits(config, store, sessions, Limits::default())
    }

    pub fn with_limits(
        config: &Config,
        store: store::Store,
        sessions: sessions::Sessions,
        limits: Limits,
    ) -> Self {
        Self {
            store,
            sessions,
            leptos_options: config.leptos_options(),
            settings: Arc::new(Settings {
                cookie_secure: config.cookie_secure,
                session_idle_timeout: config.session_idle_timeout,
                max_sessions_per_user: config.whatsapp_max_sessions_per_user,
                frontend_url: config.frontend_url.clone(),
            }),
            jwt: config
                .supabase_jwt_secret
                .as_ref()
                .map(|secret| Arc::new(JwtVerifier::new(secret, config.supabase_url.as_deref()))),
            login_limiter: Arc::new(LoginLimiter::new(limits)),
        }
    }

    /// What Leptos pages and server functions receive (`app::ctx::AppContext`).
    pub fn app_context(&self) -> app::ctx::AppContext {
        app::ctx::AppContext {
            store: self.store.clone(),
            sessions: self.sessions.clone(),
            max_sessions_per_user: self.settings.max_sessions_per_user,
            session_idle_timeout: self.settings.session_idle_timeout,
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
