//! Process-wide state shared by every handler.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use secrecy::ExposeSecret as _;
use sha2::{Digest as _, Sha256};

use crate::auth::jwt::JwtVerifier;
use crate::auth::rate_limit::Limits;
use crate::auth::supabase::GoTrue;
use crate::auth::supabase_session::TokenSeal;
use crate::auth::token::TokenKey;
use crate::config::Config;
use crate::throttle::RateLimits;

/// The parts of [`Config`] that request handling needs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub cookie_secure: bool,
    pub session_idle_timeout: Duration,
    pub max_sessions_per_user: u32,
    pub frontend_url: Option<String>,
    /// Idle timeout and absolute lifetime of dashboard sessions.
    pub session_lifetime: store::SessionLifetime,
    pub trusted_proxies: crate::client_ip::TrustedProxies,
    /// SHA-256 of `METRICS_TOKEN` (`None` = `/metrics` for loopback only).
    pub metrics_token_hash: Option<[u8; 32]>,
    /// `EMBED_ALLOWED_ORIGINS` (empty = embedding off).
    pub embed_origins: Vec<String>,
    /// `PUBLIC_URL`, when set (absolute links handed to other apps).
    pub public_url: Option<String>,
}

/// Keys that sign what we hand to browsers, derived from `SESSION_ENCRYPTION_KEY` (random per
/// process when there is none, as in tests: cookies then do not survive a restart).
#[derive(Debug, Clone)]
pub struct Keys {
    /// Signs session tokens (`auth::token`).
    pub session: TokenKey,
    /// Signs device cookies (`auth::device`).
    pub device: TokenKey,
    /// Signs embed tokens (`embed::token`).
    pub embed: TokenKey,
    /// Seals the Supabase tokens kept with a Supabase-backed session (`auth::supabase_session`).
    pub supabase: TokenSeal,
}

impl Keys {
    pub fn from_config(config: &Config) -> Self {
        match &config.session_encryption_key {
            Some(key) => Self {
                session: TokenKey::derive(key.bytes(), "session-cookie-v1"),
                device: TokenKey::derive(key.bytes(), "device-cookie-v1"),
                embed: TokenKey::derive(key.bytes(), "embed-token-v1"),
                supabase: TokenSeal::derive(key.bytes()),
            },
            None => Self {
                session: TokenKey::random(),
                device: TokenKey::random(),
                embed: TokenKey::random(),
                supabase: TokenSeal::random(),
            },
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: store::Store,
    /// The WhatsApp sessions' one command handle (REST handlers and server functions share it).
    pub sessions: sessions::Sessions,
    pub leptos_options: LeptosOptions,
    pub settings: Arc<Settings>,
    /// Verifies Supabase access tokens (legacy secret and/or the project's JWKS); `None` when
    /// neither `SUPABASE_JWT_SECRET` nor `SUPABASE_URL` is set: bearer tokens are then refused.
    pub jwt: Option<Arc<JwtVerifier>>,
    /// Supabase mode (`SUPABASE_URL`): people sign in through this GoTrue, our sign-up is off.
    pub gotrue: Option<Arc<GoTrue>>,
    /// Every rate limit, the hashing gate and the session-lookup bound.
    pub limits: Arc<RateLimits>,
    pub keys: Arc<Keys>,
    /// The Prometheus recorder's handle (`None` only if another recorder was installed first).
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    pub metrics_cache: Arc<crate::stats::SnapshotCache>,
    /// Demo mode's offline WhatsApp (`DEMO=true`); `None` otherwise.
    pub demo: Option<app::demo::world::DemoWorld>,
    /// Media storage and temporary files.
    pub media: crate::media::Media,
    /// The webhook URL guard and sender (`WEBHOOKS_ALLOW_LOOPBACK`).
    pub webhooks: crate::webhooks::Webhooks,
}

impl AppState {
    pub fn new(
        config: &Config,
        store: store::Store,
        sessions: sessions::Sessions,
        media: crate::media::Media,
    ) -> Self {
        Self::with_limits(config, store, sessions, media, Limits::for_config(config))
    }

    pub fn with_limits(
        config: &Config,
        store: store::Store,
        sessions: sessions::Sessions,
        media: crate::media::Media,
        limits: Limits,
    ) -> Self {
        Self {
            media,
            webhooks: crate::webhooks::Webhooks::new(crate::webhooks::destination::Policy {
                allow_loopback: config.webhooks_allow_loopback,
            }),
            store,
            sessions,
            leptos_options: config.leptos_options(),
            settings: Arc::new(Settings {
                cookie_secure: config.cookie_secure,
                session_idle_timeout: config.session_idle_timeout,
                max_sessions_per_user: config.whatsapp_max_sessions_per_user,
                frontend_url: config.frontend_url.clone(),
                session_lifetime: store::SessionLifetime {
                    idle: config.session_idle_timeout,
                    absolute: config.session_max_lifetime,
                },
                trusted_proxies: config.trusted_proxies.clone(),
                metrics_token_hash: config
                    .metrics_token
                    .as_ref()
                    .map(|t| Sha256::digest(t.expose_secret().as_bytes()).into()),
                embed_origins: config.embed_allowed_origins.clone(),
                public_url: config.public_url.clone(),
            }),
            jwt: JwtVerifier::new(
                config.supabase_jwt_secret.as_ref(),
                config.supabase_url.as_deref(),
                limits.jwks_refetch_gap,
            )
            .map(Arc::new),
            gotrue: match (&config.supabase_url, &config.supabase_service_key) {
                (Some(url), Some(key)) => Some(Arc::new(GoTrue::new(url, key.clone()))),
                _ => None,
            },
            limits: Arc::new(RateLimits::new(limits)),
            keys: Arc::new(Keys::from_config(config)),
            metrics: crate::stats::install(),
            metrics_cache: Arc::default(),
            demo: None,
        }
    }

    /// Demo mode: pages get the offline WhatsApp (see `app::demo`).
    pub fn with_demo(mut self, demo: Option<app::demo::world::DemoWorld>) -> Self {
        self.demo = demo;
        self
    }

    /// What Leptos pages and server functions receive (`app::ctx::AppContext`).
    pub fn app_context(&self) -> app::ctx::AppContext {
        app::ctx::AppContext {
            store: self.store.clone(),
            sessions: self.sessions.clone(),
            max_sessions_per_user: self.settings.max_sessions_per_user,
            session_idle_timeout: self.settings.session_idle_timeout,
            demo: self.demo.clone(),
            check_webhook_url: {
                let webhooks = self.webhooks.clone();
                std::sync::Arc::new(move |url: String| {
                    let webhooks = webhooks.clone();
                    Box::pin(async move { webhooks.check(&url).await })
                })
            },
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
