//! The private cluster: start, migrate, stop, start again on the same directory (data kept), and
//! recover from a stale postmaster.pid. Needs the PostgreSQL server binaries; fails if they are missing.

use crate::support::TestResult;
use store::embedded::EmbeddedPostgres;
use store::{NewLead, Store, StoreConfig};

#[tokio::test]
async fn an_embedded_cluster_persists_across_restarts() -> TestResult {
    let tmp = tempfile::tempdir()?;
    // When we are root the cluster runs as `postgres`, which must be able to enter the temp dir.
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    let dir = tmp.path().join("db");

    let pg = EmbeddedPostgres::start(&dir).await?;
    let store = Store::connect(&StoreConfig::new(pg.database_url())).await?;
    store.readiness().await?;
    let user = store
        .accounts()
        .create_user("a@example.com", "$argon2id$h")
        .await?;
    let mut tx = store.as_user(user).await?;
    tx.lead_create(NewLead::new("Kept", "+442079460958"))
        .await?;
    tx.commit().await?;
    store.close().await;
    pg.stop().await?;

    // A crash leaves postmaster.pid behind; here it names a live process that is not PostgreSQL
    // (this test), which PostgreSQL alone would take for a running server.
    std::fs::write(
        dir.join("pgdata/postmaster.pid"),
        format!("{}\n{}\n", std::process::id(), dir.join("pgdata").display()),
    )?;

    let pg = EmbeddedPostgres::start(&dir).await?;
    // With a password for the runtime role (quotes included): applied with ALTER ROLE as SCRAM.
    let config = StoreConfig::new(pg.database_url()).with_app_password("it's a \"secret\"");
    let store = Store::connect(&config).await?;
    store.readiness().await?;
    let mut owner = crate::support::owner(pg.database_url()).await?;
    let secret: Option<String> =
        sqlx::query_scalar("SELECT rolpassword FROM pg_authid WHERE rolname = 'rarity_app'")
            .fetch_one(&mut owner)
            .await?;
    assert!(
        secret.is_some_and(|s| s.starts_with("SCRAM-SHA-256$")),
        "rarity_app password not set"
    );
    let mut tx = store.as_user(user).await?;
    let names: Vec<String> = tx.leads_list().await?.into_iter().map(|l| l.name).collect();
    assert_eq!(names, vec!["Kept".to_owned()]);
    drop(tx);
    store.close().await;

    // Socket only: the settings file says so and the URL is a socket path inside our directory.
    let settings = std::fs::read_to_string(dir.join("pgdata/rarity.conf"))?;
    assert!(settings.contains("listen_addresses = ''"), "{settings}");
    assert!(
        pg.database_url().contains("host=") && pg.database_url().contains("/db/run"),
        "{}",
        pg.database_url()
    );
    // Private to the server's user: nobody else can reach the trust-authenticated socket.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: std::path::PathBuf| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777);
    assert_eq!(mode(dir.clone())?, 0o700, "the cluster directory");
    assert_eq!(mode(dir.join("run"))?, 0o700, "the socket directory");
    assert_eq!(mode(dir.join("run/.s.PGSQL.5432"))?, 0o700, "the socket");
    assert!(
        settings.contains("unix_socket_permissions = 0700"),
        "{settings}"
    );
    pg.stop().await?;
    assert!(
        !dir.join("pgdata/postmaster.pid").exists(),
        "stopped cleanly"
    );
    Ok(())
}

/// Roles are cluster-wide: on a server that has none of them yet, several databases migrating at
/// once (parallel tests, several instances starting) must all succeed.
#[tokio::test]
async fn concurrent_first_migrations_on_a_fresh_server_all_succeed() -> TestResult {
    let tmp = tempfile::tempdir()?;
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    let pg = EmbeddedPostgres::start(tmp.path().join("db")).await?;
    let roles: i64 = {
        let mut conn = crate::support::owner(pg.database_url()).await?;
        for i in 0..4 {
            sqlx::query(&format!("CREATE DATABASE race{i}"))
                .execute(&mut conn)
                .await?;
        }
        sqlx::query_scalar(
            "SELECT count(*) FROM pg_roles WHERE rolname IN ('authenticated', 'rarity_app')",
        )
        .fetch_one(&mut conn)
        .await?
    };
    assert_eq!(roles, 0, "a fresh cluster has none of our roles yet");

    let urls: Vec<String> = (0..4)
        .map(|i| {
            pg.database_url()
                .replacen("/postgres?", &format!("/race{i}?"), 1)
        })
        .collect();
    // Spawned, so this also proves `Store::connect` can run on another task (its future is Send).
    let connects = urls.into_iter().map(|url| async move {
        let store = Store::connect(&StoreConfig::new(url)).await?;
        store.readiness().await?;
        store.close().await;
        Ok::<_, store::StoreError>(())
    });
    let results = futures_join_all(connects).await;
    pg.stop().await?;
    for result in results {
        result?;
    }
    Ok(())
}

/// Runs the futures concurrently (a tiny join_all, to avoid a dependency for one test).
async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        match handle.await {
            Ok(v) => out.push(v),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    out
}

/// A process killed without shutting down leaves its server running; the next start takes over.
#[tokio::test]
async fn a_server_left_running_by_a_killed_process_is_taken_over() -> TestResult {
    let tmp = tempfile::tempdir()?;
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    let dir = tmp.path().join("db");
    let first = EmbeddedPostgres::start(&dir).await?;
    let pid_file = dir.join("pgdata/postmaster.pid");
    let orphan_pid = std::fs::read_to_string(&pid_file)?
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    std::mem::forget(first); // as if SIGKILLed: no stop, no Drop

    let second = EmbeddedPostgres::start(&dir).await?;
    let new_pid = std::fs::read_to_string(&pid_file)?
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    assert_ne!(new_pid, orphan_pid, "a fresh server runs");
    assert!(!is_running(&orphan_pid), "the orphan was stopped");
    let store = Store::connect(&StoreConfig::new(second.database_url())).await?;
    store.readiness().await?;
    store.close().await;
    second.stop().await?;
    Ok(())
}

/// Alive and not a zombie (this machine's init reaps orphans lazily, so a stopped server can linger
/// as a zombie for a while).
fn is_running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|status| {
        !status
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'))
    })
}
