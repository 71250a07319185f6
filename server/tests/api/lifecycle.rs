//! The real binary: starts, serves, and shuts down cleanly on SIGTERM / SIGINT — including the
//! embedded PostgreSQL it started itself.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::{Child, Command};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A bare HTTP/1.1 GET; returns the status line's code, or None if nothing listens yet.
async fn status_of(port: u16, path: &str) -> Option<u16> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

fn spawn_server(port: u16, data_dir: &Path, database_url: Option<&str>) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", port.to_string())
        .env("DATA_DIR", data_dir)
        .env("RUST_LOG", "info")
        .current_dir(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    command.spawn().expect("the server binary starts")
}

async fn wait_ready(port: u16, child: &mut Child) {
    for _ in 0..300 {
        if status_of(port, "/readyz").await == Some(200) {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("server exited early with {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server did not become ready within 30 s");
}

async fn signal_and_wait(child: Child, signal: &str) -> String {
    let pid = child.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args([signal, &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let output = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("server stops within 20 s of the signal")
        .expect("wait");
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "clean exit expected, got {}:\n{logs}",
        output.status
    );
    logs
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    // Under /tmp so the unprivileged `postgres` user (used when tests run as root) can reach it.
    let dir = std::env::temp_dir().join(format!("rl-{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly_with_an_external_database() {
    let url = store::test_support::fresh_database()
        .await
        .unwrap_or_else(|e| panic!("needs PostgreSQL: {e}"));
    let dir = temp_dir("ext");
    let port = free_port();
    let mut child = spawn_server(port, &dir, Some(&url));
    wait_ready(port, &mut child).await;
    assert_eq!(status_of(port, "/healthz").await, Some(200));
    let logs = signal_and_wait(child, "-TERM").await;
    assert!(logs.contains("SIGTERM received"), "{logs}");
    assert_eq!(
        status_of(port, "/healthz").await,
        None,
        "the port is released"
    );
    assert!(
        dir.join("session-encryption.key").exists(),
        "a key was generated for the two-command start"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn without_database_url_the_embedded_cluster_starts_and_stops_with_the_server() {
    let dir = temp_dir("emb");
    let port = free_port();
    let mut child = spawn_server(port, &dir, None);
    wait_ready(port, &mut child).await;
    let pid_file = dir.join("postgres/pgdata/postmaster.pid");
    assert!(
        pid_file.exists(),
        "the embedded cluster runs under DATA_DIR/postgres"
    );
    let logs = signal_and_wait(child, "-INT").await;
    assert!(logs.contains("SIGINT received"), "{logs}");
    assert!(
        !pid_file.exists(),
        "the embedded cluster was stopped:\n{logs}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
