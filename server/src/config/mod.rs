//! Start-up configuration from the environment plus an optional `.env` file.
//!
//! Every variable is checked and *all* problems are reported together, one line each, so an operator
//! fixes a broken deployment in one pass. The table of variables lives in the README (keep it true when adding one).

mod key;
pub mod parse;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

/// WhatsApp's WebSocket endpoint and root key (the defaults of `WHATSAPP_SERVER_URL` and
/// `WHATSAPP_ROOT_PUBLIC_KEY`).
pub const DEFAULT_WHATSAPP_URL: &str = whatsapp::client::WHATSAPP_URL;
pub const DEFAULT_WHATSAPP_ROOT_KEY: [u8; 32] = whatsapp::handshake::WHATSAPP_ROOT_KEY;

pub use key::{KEY_FILE_NAME, KeyFileError, KeyOrigin, SessionKey, load_or_create};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    /// The single origin allowed by CORS (with credentials); `None` = no cross-origin access.
    pub frontend_url: Option<String>,
    /// `None` until [`run`](crate::run) resolves the key file in `DATA_DIR`.
    pub session_encryption_key: Option<SessionKey>,
    pub whatsapp_session_timeout: Duration,
    pub whatsapp_max_sessions_per_user: u32,
    /// The WhatsApp WebSocket endpoint (the real one by default; the offline WhatsApp in tests).
    pub whatsapp_server_url: String,
    /// The root key the server's certificate chain must lead to.
    pub whatsapp_root_public_key: [u8; 32],
    /// `DEMO`: run the offline WhatsApp inside the server and show the demo phone panel.
    pub demo: bool,
    /// `WEBHOOKS_ALLOW_LOOPBACK`: webhooks may post to loopback addresses over plain http
    /// (development only; private and link-local addresses stay refused).
    pub webhooks_allow_loopback: bool,
    /// `WHATSAPP_QR_TIMEOUT`: how long each QR code shows; `None` = WhatsApp Web's (60 s for the
    /// first, 20 s for each later one).
    pub whatsapp_qr_timeout: Option<Duration>,
    /// `CAMPAIGN_PACING_SCALE`: how many times faster than real time campaign pacing runs (1 =
    /// real time; tests compress minutes, hours and days with it).
    pub campaign_pacing_scale: u64,
    /// `None` = start the embedded PostgreSQL cluster under `DATA_DIR/postgres`.
    pub database_url: Option<SecretString>,
    pub database_app_password: Option<SecretString>,
    /// `SUPABASE_URL`: Supabase mode. People sign in through the project's Supabase Auth (our own
    /// sign-up is off), tokens must carry `iss = SUPABASE_URL/auth/v1`, and the project's JWKS
    /// (asymmetric signing keys) is trusted besides the legacy secret.
    pub supabase_url: Option<String>,
    /// `SUPABASE_SERVICE_KEY`: the service-role (or secret) API key, sent as `apikey` to GoTrue and
    /// used for its admin endpoints. Required in Supabase mode; never logged.
    pub supabase_service_key: Option<SecretString>,
    /// `SUPABASE_JWT_SECRET`: the legacy HS256 secret. When set, HS256 tokens are accepted.
    pub supabase_jwt_secret: Option<SecretString>,
    pub session_idle_timeout: Duration,
    pub data_dir: PathBuf,
    /// Where media files are kept: `DATA_DIR/media`, or the S3 bucket `MEDIA_S3_BUCKET` (with
    /// `MEDIA_S3_ENDPOINT` for MinIO and other S3-compatibles, `MEDIA_S3_REGION`, and optionally
    /// `MEDIA_S3_ACCESS_KEY_ID` / `MEDIA_S3_SECRET_ACCESS_KEY`).
    pub media_storage: crate::media::StorageConfig,
    pub log_format: LogFormat,
    pub leptos_site_root: PathBuf,
    pub cookie_secure: bool,
    /// `PUBLIC_URL`: the origin people reach the dashboard at; `https://` makes cookies `Secure`.
    pub public_url: Option<String>,
    /// `TRUSTED_PROXIES`: reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: crate::client_ip::TrustedProxies,
    /// `SESSION_MAX_LIFETIME`: a dashboard session ends this long after sign-in, active or not.
    pub session_max_lifetime: Duration,
    /// `METRICS_TOKEN`: bearer token for `/metrics` (unset = loopback only).
    pub metrics_token: Option<SecretString>,
    /// `RATE_LIMIT_PER_IP` / `RATE_LIMIT_PER_USER`: requests per second (bursts of ten times).
    pub rate_limit_per_ip: u32,
    pub rate_limit_per_user: u32,
    /// `LEADS_OWNER_COLUMN`: the owner column of the host's existing `public.leads`, read when
    /// that table is adopted (`None` = `user_id`).
    pub leads_owner_column: Option<String>,
    /// `EMBED_ALLOWED_ORIGINS`: the host apps' origins that may frame `/embed/…` (comma-separated);
    /// empty = embedding is off (the embed views answer 404).
    pub embed_allowed_origins: Vec<String>,
}

/// All problems found, one human-readable line each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration:\n{}", .problems.join("\n"))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl Config {
    /// Loads `.env` (if present; real environment variables win) and validates the environment.
    pub fn load() -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => problems.push(format!(".env could not be read: {e}")),
        }
        match Self::from_vars(|name| std::env::var(name).ok()) {
            Ok(config) if problems.is_empty() => Ok(config),
            Ok(_) => Err(ConfigError { problems }),
            Err(mut e) => {
                problems.append(&mut e.problems);
                Err(ConfigError { problems })
            }
        }
    }

    /// Validates configuration from any variable source (tests pass a map).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        // Empty values count as unset: `FOO=` in a .env file is how people comment a value out.
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        // A macro rather than a closure: a closure cannot be generic over the parsed type.
        macro_rules! check {
            ($result:expr) => {
                match $result {
                    Ok(value) => Some(value),
                    Err(problem) => {
                        problems.push(problem);
                        None
                    }
                }
            };
        }

        let host = match get("HOST") {
            None => Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            Some(raw) if raw.trim() == "localhost" => Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            Some(raw) => check!(raw.trim().parse::<IpAddr>().map_err(|_| {
                format!("HOST must be an IP address such as 127.0.0.1 or 0.0.0.0, got {raw:?}")
            })),
        };
        let port = get("PORT").map_or(Some(3001), |raw| {
            check!(parse::number("PORT", &raw, 1, 65_535)).map(|n| n as u16)
        });
        let frontend_url =
            get("FRONTEND_URL").and_then(|raw| check!(parse::origin("FRONTEND_URL", &raw)));
        let session_encryption_key = get("SESSION_ENCRYPTION_KEY").and_then(|raw| {
            check!(parse::key32("SESSION_ENCRYPTION_KEY", &raw)).map(SessionKey::new)
        });
        let whatsapp_session_timeout =
            get("WHATSAPP_SESSION_TIMEOUT").map_or(Some(Duration::from_millis(3_600_000)), |raw| {
                check!(parse::number(
                    "WHATSAPP_SESSION_TIMEOUT",
                    &raw,
                    1_000,
                    30 * 86_400_000
                ))
                .map(Duration::from_millis)
            });
        let whatsapp_max_sessions_per_user =
            get("WHATSAPP_MAX_SESSIONS_PER_USER").map_or(Some(5), |raw| {
                check!(parse::number(
                    "WHATSAPP_MAX_SESSIONS_PER_USER",
                    &raw,
                    1,
                    1_000
                ))
                .map(|n| n as u32)
            });
        let whatsapp_server_url = get("WHATSAPP_SERVER_URL")
            .map_or(Some(DEFAULT_WHATSAPP_URL.to_owned()), |raw| {
                check!(parse::ws_url("WHATSAPP_SERVER_URL", &raw))
            });
        let whatsapp_root_public_key = get("WHATSAPP_ROOT_PUBLIC_KEY")
            .map_or(Some(DEFAULT_WHATSAPP_ROOT_KEY), |raw| {
                check!(parse::hex_key32("WHATSAPP_ROOT_PUBLIC_KEY", &raw))
            });
        let demo = get("DEMO").map_or(Some(false), |raw| check!(parse::boolean("DEMO", &raw)));
        let webhooks_allow_loopback = get("WEBHOOKS_ALLOW_LOOPBACK").map_or(Some(false), |raw| {
            check!(parse::boolean("WEBHOOKS_ALLOW_LOOPBACK", &raw))
        });
        let whatsapp_qr_timeout = get("WHATSAPP_QR_TIMEOUT").and_then(|raw| {
            check!(parse::number("WHATSAPP_QR_TIMEOUT", &raw, 1_000, 600_000))
                .map(Duration::from_millis)
        });
        let campaign_pacing_scale = get("CAMPAIGN_PACING_SCALE").map_or(Some(1), |raw| {
            check!(parse::number("CAMPAIGN_PACING_SCALE", &raw, 1, 100_000))
        });
        let database_url = get("DATABASE_URL").and_then(|raw| {
            let ok = raw.starts_with("postgres://") || raw.starts_with("postgresql://");
            // Never echo the URL: it usually carries a password.
            check!(if ok {
                Ok(())
            } else {
                Err("DATABASE_URL must start with postgres:// or postgresql://".to_owned())
            })
            .map(|()| SecretString::from(raw))
        });
        let database_app_password = get("DATABASE_APP_PASSWORD").map(SecretString::from);
        let supabase_url =
            get("SUPABASE_URL").and_then(|raw| check!(parse::supabase_url("SUPABASE_URL", &raw)));
        let supabase_service_key =
            get("SUPABASE_SERVICE_KEY").map(|raw| SecretString::from(raw.trim().to_owned()));
        let supabase_set = get("SUPABASE_URL").is_some() || supabase_service_key.is_some();
        if supabase_set && get("DATABASE_URL").is_none() {
            problems.push(
                "DATABASE_URL is required on Supabase: SUPABASE_URL and SUPABASE_SERVICE_KEY reach \
                 Supabase's HTTP APIs, but a service key cannot open a PostgreSQL connection. Copy the \
                 connection string from the Supabase dashboard (Project Settings → Database → \
                 Connection string: the direct connection, or the session pooler on port 5432, not \
                 the transaction pooler on 6543), put the database password in it and set it as \
                 DATABASE_URL"
                    .to_owned(),
            );
        }
        match (get("SUPABASE_URL").is_some(), supabase_service_key.is_some()) {
            (true, false) => problems.push(
                "SUPABASE_SERVICE_KEY is required with SUPABASE_URL: sign-in goes through Supabase \
                 Auth, which needs the project's service-role key (Supabase dashboard → Project \
                 Settings → API Keys)"
                    .to_owned(),
            ),
            (false, true) => problems.push(
                "SUPABASE_SERVICE_KEY is set but SUPABASE_URL is not: set SUPABASE_URL to the \
                 project URL (https://<ref>.supabase.co)"
                    .to_owned(),
            ),
            _ => {}
        }
        let supabase_jwt_secret = get("SUPABASE_JWT_SECRET").and_then(|raw| {
            let len = raw.len();
            check!(if len >= 32 {
                Ok(())
            } else {
                Err(format!(
                    "SUPABASE_JWT_SECRET must be at least 32 characters, got {len}"
                ))
            })
            .map(|()| SecretString::from(raw))
        });
        let session_idle_timeout = get("SESSION_IDLE_TIMEOUT")
            .map_or(Some(Duration::from_secs(1800)), |raw| {
                check!(parse::duration("SESSION_IDLE_TIMEOUT", &raw))
            });
        let data_dir = PathBuf::from(get("DATA_DIR").unwrap_or_else(|| "./data".to_owned()));
        let media_storage = match get("MEDIA_S3_BUCKET") {
            None => crate::media::StorageConfig::Local(data_dir.join("media")),
            Some(bucket) => crate::media::StorageConfig::S3 {
                bucket: bucket.trim().to_owned(),
                endpoint: get("MEDIA_S3_ENDPOINT")
                    .and_then(|raw| check!(parse::http_url("MEDIA_S3_ENDPOINT", &raw))),
                region: get("MEDIA_S3_REGION")
                    .map_or_else(|| "us-east-1".to_owned(), |r| r.trim().to_owned()),
                credentials: match (
                    get("MEDIA_S3_ACCESS_KEY_ID"),
                    get("MEDIA_S3_SECRET_ACCESS_KEY"),
                ) {
                    (Some(id), Some(secret)) => {
                        Some((id.trim().to_owned(), SecretString::from(secret)))
                    }
                    (None, None) => None,
                    _ => check!(Err::<(String, SecretString), _>(
                        "MEDIA_S3_ACCESS_KEY_ID and MEDIA_S3_SECRET_ACCESS_KEY go together"
                            .to_owned()
                    )),
                },
            },
        };
        let log_format = match get("LOG_FORMAT")
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("text") => Some(LogFormat::Text),
            Some("json") => Some(LogFormat::Json),
            Some(other) => check!(Err(format!(
                "LOG_FORMAT must be text or json, got {other:?}"
            ))),
        };
        let leptos_site_root =
            PathBuf::from(get("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".to_owned()));
        let public_url =
            get("PUBLIC_URL").and_then(|raw| check!(parse::origin("PUBLIC_URL", &raw)));
        let https = public_url.as_deref().map(|url| url.starts_with("https://"));
        let cookie_secure = match (get("COOKIE_SECURE"), https) {
            (Some(raw), https) => match check!(parse::boolean("COOKIE_SECURE", &raw)) {
                Some(false) if https == Some(true) => check!(Err(
                    "COOKIE_SECURE cannot be false when PUBLIC_URL is https: the session cookie must \
                     be Secure there"
                        .to_owned()
                )),
                secure => secure,
            },
            // The public URL says whether browsers talk https to us.
            (None, Some(https)) => Some(https),
            // Browsers drop Secure cookies on plain-http non-localhost origins, so the default follows
            // the bind address: loopback = local development over http, anything else = behind TLS.
            (None, None) => host.map(|h| !h.is_loopback()),
        };
        let trusted_proxies = get("TRUSTED_PROXIES").map_or(Some(Default::default()), |raw| {
            check!(crate::client_ip::TrustedProxies::parse(
                "TRUSTED_PROXIES",
                &raw
            ))
        });
        let session_max_lifetime = get("SESSION_MAX_LIFETIME")
            .map_or(Some(Duration::from_secs(12 * 3600)), |raw| {
                check!(parse::duration("SESSION_MAX_LIFETIME", &raw))
            });
        let rate_limit_per_ip = get("RATE_LIMIT_PER_IP").map_or(Some(100), |raw| {
            check!(parse::number("RATE_LIMIT_PER_IP", &raw, 1, 100_000)).map(|n| n as u32)
        });
        let rate_limit_per_user = get("RATE_LIMIT_PER_USER").map_or(Some(50), |raw| {
            check!(parse::number("RATE_LIMIT_PER_USER", &raw, 1, 100_000)).map(|n| n as u32)
        });
        let leads_owner_column = get("LEADS_OWNER_COLUMN").and_then(|raw| {
            let name = raw.trim().to_owned();
            check!(if store::valid_leads_owner_column(&name) {
                Ok(name)
            } else {
                Err(format!(
                    "LEADS_OWNER_COLUMN must be a lower-case column name (a-z, 0-9, _, at most 63 characters), got {raw:?}"
                ))
            })
        });
        let embed_allowed_origins = get("EMBED_ALLOWED_ORIGINS")
            .map_or(Some(Vec::new()), |raw| {
                check!(parse::origins("EMBED_ALLOWED_ORIGINS", &raw))
            })
            .unwrap_or_default();
        let metrics_token = get("METRICS_TOKEN").and_then(|raw| {
            let token = raw.trim().to_owned();
            let len = token.chars().count();
            check!(if len >= 16 {
                Ok(())
            } else {
                Err(format!(
                    "METRICS_TOKEN must be at least 16 characters, got {len}"
                ))
            })
            .map(|()| SecretString::from(token))
        });

        match (
            host,
            port,
            whatsapp_session_timeout,
            whatsapp_max_sessions_per_user,
            session_idle_timeout,
            log_format,
            cookie_secure,
            (
                whatsapp_server_url,
                whatsapp_root_public_key,
                trusted_proxies,
                session_max_lifetime,
                rate_limit_per_ip,
                rate_limit_per_user,
            ),
        ) {
            (
                Some(host),
                Some(port),
                Some(whatsapp_session_timeout),
                Some(whatsapp_max_sessions_per_user),
                Some(session_idle_timeout),
                Some(log_format),
                Some(cookie_secure),
                (
                    Some(whatsapp_server_url),
                    Some(whatsapp_root_public_key),
                    Some(trusted_proxies),
                    Some(session_max_lifetime),
                    Some(rate_limit_per_ip),
                    Some(rate_limit_per_user),
                ),
            ) if problems.is_empty() => Ok(Self {
                host,
                port,
                frontend_url,
                session_encryption_key,
                whatsapp_session_timeout,
                whatsapp_max_sessions_per_user,
                whatsapp_server_url,
                whatsapp_root_public_key,
                // A bad value was reported above (and then `problems` is not empty).
                demo: demo.unwrap_or(false),
                webhooks_allow_loopback: webhooks_allow_loopback.unwrap_or(false),
                whatsapp_qr_timeout,
                campaign_pacing_scale: campaign_pacing_scale.unwrap_or(1),
                database_url,
                database_app_password,
                supabase_url,
                supabase_service_key,
                supabase_jwt_secret,
                session_idle_timeout,
                data_dir,
                media_storage,
                log_format,
                leptos_site_root,
                cookie_secure,
                public_url,
                trusted_proxies,
                session_max_lifetime,
                metrics_token,
                rate_limit_per_ip,
                rate_limit_per_user,
                leads_owner_column,
                embed_allowed_origins,
            }),
            _ => Err(ConfigError { problems }),
        }
    }

    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// Leptos options built from our configuration, so the binary runs without cargo-leptos's env vars.
    pub fn leptos_options(&self) -> leptos::config::LeptosOptions {
        leptos::config::LeptosOptions::builder()
            .output_name("rarity")
            .site_root(self.leptos_site_root.to_string_lossy().into_owned())
            .site_pkg_dir("pkg")
            .site_addr(self.socket_addr())
            .env(leptos::config::Env::PROD)
            // Matches `reload-port` in the workspace's cargo-leptos metadata (only used under
            // `cargo leptos watch`, which sets LEPTOS_WATCH).
            .reload_port(3002)
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret as _;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_vars(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let c = from(&[]).unwrap();
        assert_eq!(c.socket_addr().to_string(), "127.0.0.1:3001");
        assert_eq!(c.session_idle_timeout, Duration::from_secs(1800));
        assert_eq!(c.whatsapp_session_timeout, Duration::from_millis(3_600_000));
        assert_eq!(c.whatsapp_max_sessions_per_user, 5);
        assert!(c.database_url.is_none() && c.session_encryption_key.is_none());
        assert!(
            !c.cookie_secure,
            "plain http on loopback must not set Secure"
        );
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.whatsapp_server_url, "wss://web.whatsapp.com/ws/chat");
        assert_eq!(c.whatsapp_root_public_key, DEFAULT_WHATSAPP_ROOT_KEY);
    }

    #[test]
    fn embed_origins_are_a_checked_list() {
        assert!(from(&[]).unwrap().embed_allowed_origins.is_empty());
        let c = from(&[(
            "EMBED_ALLOWED_ORIGINS",
            "https://app.rarityleads.com, http://localhost:5173",
        )])
        .unwrap();
        assert_eq!(
            c.embed_allowed_origins,
            ["https://app.rarityleads.com", "http://localhost:5173"]
        );
        let err = from(&[("EMBED_ALLOWED_ORIGINS", "https://app.rarityleads.com,*")]).unwrap_err();
        assert_eq!(err.problems.len(), 1, "{:?}", err.problems);
        assert!(err.problems[0].starts_with("EMBED_ALLOWED_ORIGINS must be an origin"));
    }

    #[test]
    fn the_offline_whatsapp_can_stand_in() {
        let c = from(&[
            ("WHATSAPP_SERVER_URL", "ws://127.0.0.1:5222/ws/chat"),
            ("WHATSAPP_ROOT_PUBLIC_KEY", &"0a".repeat(32)),
        ])
        .unwrap();
        assert_eq!(c.whatsapp_server_url, "ws://127.0.0.1:5222/ws/chat");
        assert_eq!(c.whatsapp_root_public_key, [0x0a; 32]);
        let err = from(&[
            ("WHATSAPP_SERVER_URL", "http://x"),
            ("WHATSAPP_ROOT_PUBLIC_KEY", "abc"),
        ])
        .unwrap_err();
        assert_eq!(err.problems.len(), 2, "{:?}", err.problems);
    }

    #[test]
    fn public_bind_defaults_to_secure_cookies() {
        assert!(from(&[("HOST", "0.0.0.0")]).unwrap().cookie_secure);
        assert!(
            !from(&[("HOST", "0.0.0.0"), ("COOKIE_SECURE", "false")])
                .unwrap()
                .cookie_secure
        );
    }

    #[test]
    fn an_https_public_url_makes_cookies_secure_and_proxies_are_validated() {
        let c = from(&[("PUBLIC_URL", "https://app.example.com/")]).unwrap();
        assert!(
            c.cookie_secure,
            "https public URL → Secure, even on loopback"
        );
        assert_eq!(c.public_url.as_deref(), Some("https://app.example.com"));
        assert!(
            !from(&[("PUBLIC_URL", "http://localhost:3001")])
                .unwrap()
                .cookie_secure
        );
        let err = from(&[
            ("PUBLIC_URL", "https://app.example.com"),
            ("COOKIE_SECURE", "false"),
            ("TRUSTED_PROXIES", "10.0.0.0/8, not-an-ip"),
            ("SESSION_MAX_LIFETIME", "forever"),
            ("METRICS_TOKEN", "short"),
        ])
        .unwrap_err();
        assert_eq!(err.problems.len(), 4, "{:?}", err.problems);
        let c = from(&[
            ("TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8"),
            ("SESSION_MAX_LIFETIME", "8h"),
        ])
        .unwrap();
        assert!(c.trusted_proxies.contains("10.1.2.3".parse().unwrap()));
        assert_eq!(c.session_max_lifetime, Duration::from_secs(8 * 3600));
        assert_eq!(
            from(&[]).unwrap().session_max_lifetime,
            Duration::from_secs(12 * 3600)
        );
    }

    #[test]
    fn the_leads_owner_column_is_a_plain_column_name() {
        assert_eq!(from(&[]).unwrap().leads_owner_column, None);
        let c = from(&[("LEADS_OWNER_COLUMN", " owner_id ")]).unwrap();
        assert_eq!(c.leads_owner_column.as_deref(), Some("owner_id"));
        let err = from(&[("LEADS_OWNER_COLUMN", "owner_id\"; drop table leads")]).unwrap_err();
        assert_eq!(
            err.problems,
            vec![
                "LEADS_OWNER_COLUMN must be a lower-case column name (a-z, 0-9, _, at most 63 characters), got \"owner_id\\\"; drop table leads\""
            ]
        );
    }

    #[test]
    fn every_problem_is_reported_on_its_own_line() {
        let err = from(&[
            ("PORT", "70000"),
            ("SESSION_ENCRYPTION_KEY", &"ab".repeat(17)),
            ("WHATSAPP_MAX_SESSIONS_PER_USER", "many"),
            ("WHATSAPP_SESSION_TIMEOUT", "-5"),
            ("SESSION_IDLE_TIMEOUT", "soon"),
            ("LOG_FORMAT", "xml"),
            ("DATABASE_URL", "mysql://u:hunter2@h/db"),
        ])
        .unwrap_err();
        assert_eq!(
            err.problems,
            vec![
                "PORT must be a whole number from 1 to 65535, got \"70000\"",
                "SESSION_ENCRYPTION_KEY must be 32 bytes (64 hex chars or base64), got 17 bytes",
                "WHATSAPP_SESSION_TIMEOUT must be a whole number from 1000 to 2592000000, got \"-5\"",
                "WHATSAPP_MAX_SESSIONS_PER_USER must be a whole number from 1 to 1000, got \"many\"",
                "DATABASE_URL must start with postgres:// or postgresql://",
                "SESSION_IDLE_TIMEOUT must be a duration like \"30m\", \"1h\", \"900s\" or plain seconds, got \"soon\"",
                "LOG_FORMAT must be text or json, got \"xml\"",
            ]
        );
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn secrets_never_appear_in_debug_output() {
        let c = from(&[
            ("DATABASE_URL", "postgres://u:hunter2@h/db"),
            (
                "SUPABASE_JWT_SECRET",
                "super-secret-jwt-token-with-at-least-32-characters",
            ),
            ("SESSION_ENCRYPTION_KEY", &"cd".repeat(32)),
        ])
        .unwrap();
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("hunter2")
                && !debug.contains("super-secret")
                && !debug.contains("cdcd")
        );
        assert_eq!(
            c.database_url.unwrap().expose_secret(),
            "postgres://u:hunter2@h/db"
        );
    }

    #[test]
    fn supabase_mode_needs_its_service_key_and_a_database_url() {
        let url = ("SUPABASE_URL", "https://abcd.supabase.co/");
        let key = ("SUPABASE_SERVICE_KEY", "service-role-key-hunter2");
        let db = (
            "DATABASE_URL",
            "postgres://postgres:pw@db.abcd.supabase.co:5432/postgres",
        );
        let err = from(&[url, key]).unwrap_err();
        assert_eq!(err.problems.len(), 1, "{:?}", err.problems);
        assert!(err.problems[0].starts_with("DATABASE_URL is required on Supabase"));
        assert!(err.problems[0].contains("Project Settings → Database → Connection string"));
        assert!(!err.to_string().contains("hunter2"));
        let err = from(&[url, db]).unwrap_err();
        assert!(
            err.problems[0].starts_with("SUPABASE_SERVICE_KEY is required with SUPABASE_URL"),
            "{:?}",
            err.problems
        );
        let err = from(&[key, db]).unwrap_err();
        assert!(err.problems[0].starts_with("SUPABASE_SERVICE_KEY is set but SUPABASE_URL is not"));
        let err = from(&[("SUPABASE_URL", "http://abcd.supabase.co"), key, db]).unwrap_err();
        assert!(
            err.problems[0].contains("must use https://"),
            "{:?}",
            err.problems
        );

        let c = from(&[url, key, db]).unwrap();
        assert_eq!(c.supabase_url.as_deref(), Some("https://abcd.supabase.co"));
        assert_eq!(
            c.supabase_service_key
                .as_ref()
                .map(|k| k.expose_secret().to_owned()),
            Some("service-role-key-hunter2".to_owned())
        );
        assert!(!format!("{c:?}").contains("hunter2"));
        let local = from(&[("SUPABASE_URL", "http://127.0.0.1:54321"), key, db]).unwrap();
        assert_eq!(
            local.supabase_url.as_deref(),
            Some("http://127.0.0.1:54321")
        );
    }

    #[test]
    fn leptos_options_come_from_our_config() {
        let c = from(&[("PORT", "4000"), ("LEPTOS_SITE_ROOT", "/srv/site")]).unwrap();
        let o = c.leptos_options();
        assert_eq!(&*o.output_name, "rarity");
        assert_eq!(&*o.site_root, "/srv/site");
        assert_eq!(o.site_addr.port(), 4000);
    }
}
