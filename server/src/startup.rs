//! Process lifecycle: resolve the session key, start the embedded PostgreSQL when no
//! `DATABASE_URL` is given, connect the store (applies migrations), serve, and shut down in order on
//! SIGINT/SIGTERM — stop accepting, let in-flight requests finish, close the pool, then stop the
//! embedded cluster so it is never left running or killed mid-write.

use std::future::IntoFuture as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use secrecy::ExposeSecret as _;
use store::embedded::{EmbeddedError, EmbeddedPostgres};
use store::{Store, StoreConfig, StoreSettings};

use crate::config::{self, Config, KeyOrigin};
use crate::state::AppState;

/// How long in-flight requests may take to finish after SIGINT/SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// How long the WhatsApp accounts may take to finish what they are storing and disconnect.
const SESSIONS_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    KeyFile(#[from] config::KeyFileError),
    #[error("embedded PostgreSQL: {0}")]
    Embedded(#[source] EmbeddedError),
    #[error("database: {0}")]
    Store(#[source] store::StoreError),
    /// `SESSION_ENCRYPTION_KEY` is not the key the stored WhatsApp sessions were encrypted with.
    #[error("SESSION_ENCRYPTION_KEY: {0}")]
    EncryptionKey(#[source] store::StoreError),
    #[error("starting the WhatsApp accounts: {0}")]
    Sessions(#[source] sessions::SessionsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Serve(#[source] std::io::Error),
    #[error("demo mode: the offline WhatsApp did not start: {0}")]
    Demo(String),
    #[error("media storage ({where_}): {source}")]
    Media {
        where_: String,
        source: std::io::Error,
    },
}

pub async fn run(mut config: Config) -> Result<(), StartupError> {
    if config.session_encryption_key.is_none() {
        let (key, path, origin) = config::load_or_create(&config.data_dir)?;
        match origin {
            KeyOrigin::Generated => tracing::warn!(
                path = %path.display(),
                "SESSION_ENCRYPTION_KEY is not set: generated a key and saved it (mode 0600); \
                 set SESSION_ENCRYPTION_KEY in production and keep it safe"
            ),
            KeyOrigin::ExistingFile => tracing::warn!(
                path = %path.display(),
                "SESSION_ENCRYPTION_KEY is not set: using the key saved in the data directory"
            ),
        }
        config.session_encryption_key = Some(key);
    }

    let (embedded, database_url) = open_database(&config).await?;
    let result = serve(&config, database_url).await;
    if let Some(pg) = embedded
        && let Err(e) = pg.stop().await
    {
        tracing::error!(error = %e, "stopping the embedded PostgreSQL failed");
    }
    result
}

/// `DATABASE_URL`, or the embedded cluster under `DATA_DIR` (started here; the caller stops it).
pub(crate) async fn open_database(
    config: &Config,
) -> Result<(Option<EmbeddedPostgres>, String), StartupError> {
    match &config.database_url {
        Some(url) => Ok((None, url.expose_secret().to_owned())),
        None => {
            let dir = config.data_dir.join("postgres");
            tracing::info!(dir = %dir.display(), "DATABASE_URL is not set: starting the embedded PostgreSQL");
            let pg = EmbeddedPostgres::start(&dir)
                .await
                .map_err(StartupError::Embedded)?;
            let url = pg.database_url().to_owned();
            Ok((Some(pg), url))
        }
    }
}

/// Connects (and migrates) the store with our settings.
pub(crate) async fn connect_store(
    config: &Config,
    database_url: String,
) -> Result<Store, StartupError> {
    let store_config = StoreConfig {
        database_url,
        app_password: config
            .database_app_password
            .as_ref()
            .map(|p| p.expose_secret().to_owned()),
    };
    let settings = StoreSettings {
        max_sessions_per_user: Some(config.whatsapp_max_sessions_per_user),
        leads_owner_column: config.leads_owner_column.clone(),
    };
    let store = Store::connect_with(&store_config, &settings)
        .await
        .map_err(StartupError::Store)?;
    tracing::info!("database connected, migrations applied");
    Ok(store)
}

async fn serve(config: &Config, database_url: String) -> Result<(), StartupError> {
    let store = connect_store(config, database_url).await?;
    let Some(key) = &config.session_encryption_key else {
        return Err(StartupError::EncryptionKey(store::StoreError::Config(
            "no session encryption key".into(),
        )));
    };
    // Demo mode: the offline WhatsApp runs in this process and the engine talks to it.
    let demo = if config.demo {
        let world = app::demo::world::DemoWorld::start()
            .await
            .map_err(|e| StartupError::Demo(e.to_string()))?;
        tracing::warn!(url = %world.fake.url(), "DEMO is on: accounts link to the built-in offline WhatsApp, not to WhatsApp");
        Some(world)
    } else {
        None
    };
    let mut engine_config = config.clone();
    if let Some(world) = &demo {
        engine_config.whatsapp_server_url = world.fake.url();
        engine_config.whatsapp_root_public_key = world.fake.root_public_key();
    }
    let sessions = crate::engine::sessions(&engine_config, &store, key)
        .await
        .map_err(|e| match e {
            e @ (store::StoreError::WrongEncryptionKey { .. }
            | store::StoreError::Decryption { .. }
            | store::StoreError::UnknownEncryptionKey { .. }) => StartupError::EncryptionKey(e),
            e => StartupError::Store(e),
        })?;
    let notices = crate::engine::forward_event_notices(store.clone(), sessions.hub().clone());
    let pruning = crate::engine::prune_events_hourly(store.clone());
    sessions.start_all().await.map_err(StartupError::Sessions)?;
    let adopting = crate::engine::adopt_orphans(sessions.clone());
    let purge = crate::retention::spawn(store.clone());
    let campaigns = crate::campaigns::spawn(store.clone(), config.campaign_pacing_scale);
    let media =
        crate::media::Media::open(&config.media_storage, &config.data_dir).map_err(|source| {
            StartupError::Media {
                where_: config.media_storage.describe(),
                source,
            }
        })?;
    tracing::info!(storage = %config.media_storage.describe(), "media storage");
    let media_engine = store.engine(store::SessionCipher::new(*key.bytes()));
    let downloads = crate::media::download::Downloader {
        engine: media_engine.clone(),
        sessions: sessions.clone(),
        storage: media.storage.clone(),
        tmp: media.tmp.clone(),
    }
    .spawn();
    let media_cleanup = crate::media::download::spawn_cleanup(media_engine, media.storage.clone());

    let bundle = config.leptos_site_root.join("pkg").join("rarity.js");
    if !bundle.exists() {
        tracing::warn!(
            missing = %bundle.display(),
            "the site is not built (run `scripts/build-site.sh`, or set LEPTOS_SITE_ROOT): pages render \
             and forms work, but without CSS and without hydration"
        );
    }
    let state = AppState::new(config, store.clone(), sessions.clone(), media).with_demo(demo);
    let webhooks = crate::webhooks::spawn(store.clone(), state.webhooks.sender.clone());
    if let Some(url) = &config.supabase_url {
        tracing::info!(%url, "Supabase mode: people sign in through Supabase Auth; sign-up here is off");
    }
    if let Some(verifier) = &state.jwt {
        verifier.prefetch().await;
    }
    if let Some(metrics) = state.metrics.clone() {
        crate::stats::spawn_upkeep(metrics);
    }
    let addr = config.socket_addr();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Bind { addr, source })?;
    tracing::info!(%addr, "listening on http://{addr}");
    let app = crate::router(state).into_make_service_with_connect_info::<SocketAddr>();
    // After the signal, in-flight requests get SHUTDOWN_GRACE to finish; a client that keeps a
    // connection open longer must not keep the process (and the embedded cluster) alive forever.
    let signalled = Arc::new(Notify::new());
    let server = axum::serve(listener, app)
        .with_graceful_shutdown({
            let signalled = Arc::clone(&signalled);
            async move {
                shutdown_signal().await;
                signalled.notify_one();
            }
        })
        .into_future();
    let deadline = async {
        signalled.notified().await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    let served = tokio::select! {
        result = server => result.map_err(StartupError::Serve),
        () = deadline => {
            tracing::warn!(grace = ?SHUTDOWN_GRACE, "requests still open after the grace period; closing them");
            Ok(())
        }
    };
    tracing::info!("HTTP server stopped; disconnecting the WhatsApp accounts");
    purge.abort();
    webhooks.abort();
    downloads.abort();
    media_cleanup.abort();
    // Nothing more is queued; what is queued stays in the outbox for the next start.
    campaigns.abort();
    // No more take-overs: the accounts this instance stops are for the others to take.
    adopting.abort();
    sessions.shutdown(SESSIONS_GRACE).await;
    notices.abort();
    pruning.abort();
    tracing::info!("closing the database pool");
    store.close().await;
    served
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (service managers, containers).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
