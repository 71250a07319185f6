//! Throw-away databases for tests (feature `test-support`; used by this crate's and other crates' tests).
//!
//! Each call creates a uniquely named database on the server in `TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and returns its URL as the owner. Names carry their
//! creation time so later runs can drop databases left behind more than an hour ago. If the server
//! is unreachable the error says so — tests must fail, not skip.

use sqlx::{Connection, PgConnection};
use std::time::{SystemTime, UNIX_EPOCH};

pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const PREFIX: &str = "rarity_test_";
const STALE_AFTER_SECS: u64 = 3600;

/// Why a test database could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TestDbError {
    #[error(
        "cannot reach the test PostgreSQL at {url} (set TEST_DATABASE_URL; e.g. `apt-get install postgresql` and start it): {source}"
    )]
    Unreachable { url: String, source: sqlx::Error },
    #[error("TEST_DATABASE_URL is not a valid URL: {0}")]
    BadUrl(String),
    #[error("creating the test database failed: {0}")]
    Create(sqlx::Error),
}

/// The server URL tests use (`TEST_DATABASE_URL` or the default).
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned())
}

/// Creates a fresh, empty database and returns its owner URL.
pub async fn fresh_database() -> Result<String, TestDbError> {
    fresh_database_on(&server_url()).await
}

/// [`fresh_database`] on an explicit server.
pub async fn fresh_database_on(server: &str) -> Result<String, TestDbError> {
    let server = server.to_owned();
    let mut conn =
        PgConnection::connect(&server)
            .await
            .map_err(|source| TestDbError::Unreachable {
                url: redact(&server),
                source,
            })?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    drop_stale(&mut conn, now).await;
    let name = format!("{PREFIX}{now}_{}", uuid::Uuid::new_v4().simple());
    // The name is ours (digits and hex), so quoting it as an identifier is safe.
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .map_err(TestDbError::Create)?;
    let _ = conn.close().await;
    with_database(&server, &name)
}

/// The same server URL pointing at another database.
pub fn with_database(server: &str, database: &str) -> Result<String, TestDbError> {
    let mut url = url::Url::parse(server).map_err(|e| TestDbError::BadUrl(e.to_string()))?;
    url.set_path(&format!("/{database}"));
    Ok(url.to_string())
}

/// Best effort: a failure here must not fail the test that merely wanted a database.
async fn drop_stale(conn: &mut PgConnection, now: u64) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1")
            .bind(format!("{PREFIX}%"))
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    for name in names {
        let created = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if created.is_some_and(|t| now.saturating_sub(t) > STALE_AFTER_SECS) {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut *conn)
                .await;
        }
    }
}

fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => "<unparsable url>".to_owned(),
    }
}
