//! The reconnect storm (issue 14): N linked accounts stored in PostgreSQL, the server restarted,
//! and every account back to `active` — how long it takes, the server's peak memory and the
//! database connections it opened, with the engine's bounded connect concurrency (16 handshakes
//! at a time, `ClientConfig::connect_gate`).
//!
//! The real server binary (release, `target/release/server` unless `--server PATH`) on a
//! throw-away database (`TEST_DATABASE_URL`), linked to the offline WhatsApp running in this
//! process, where each account is its own phone that scans the account's QR code:
//!
//! 1. sign up, create and link N accounts through the REST API (8 at a time);
//! 2. stop the server (SIGTERM) and start it again;
//! 3. from that start until the offline WhatsApp has seen N new logins and the database says all
//!    N are `active`: wall time, the server's peak RSS and the peak of `pg_stat_activity`
//!    connections to the database, sampled every 50 ms.
//!
//! `TEST_DATABASE_URL=… cargo run --release -p bench --bin storm-bench [-- --accounts 1000]`

#[path = "cli.rs"]
mod cli;
#[path = "procfs.rs"]
#[allow(dead_code)]
mod procfs;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_whatsapp::{Config as FakeConfig, FakeWhatsApp};
use sqlx::Connection as _;
use tokio::process::{Child, Command};

use cli::arg;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const KEY: &str = "5151515151515151515151515151515151515151515151515151515151515151";

fn free_port() -> Res<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

struct Server {
    binary: PathBuf,
    port: u16,
    dir: PathBuf,
    database_url: String,
    fake_url: String,
    fake_root: String,
    accounts: usize,
    child: Option<Child>,
    http: reqwest::Client,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn start(&mut self) -> Res<()> {
        let log = std::fs::File::create(self.dir.join("server.log"))?;
        let child = Command::new(&self.binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PORT", self.port.to_string())
            .env("DATA_DIR", &self.dir)
            .env("DATABASE_URL", &self.database_url)
            .env("SESSION_ENCRYPTION_KEY", KEY)
            .env("WHATSAPP_SERVER_URL", &self.fake_url)
            .env("WHATSAPP_ROOT_PUBLIC_KEY", &self.fake_root)
            .env(
                "WHATSAPP_MAX_SESSIONS_PER_USER",
                self.accounts.max(1).to_string(),
            )
            .env("RATE_LIMIT_PER_USER", "100000")
            .env("RATE_LIMIT_PER_IP", "100000")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(r) = self.http.get(self.url("/readyz")).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("the server did not become ready in 120 s (see server.log)".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    async fn stop(&mut self) -> Res<()> {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()?;
            }
            tokio::time::timeout(Duration::from_secs(60), child.wait()).await??;
        }
        Ok(())
    }

    fn api(&self) -> Api {
        Api {
            http: self.http.clone(),
            base: self.url(""),
        }
    }
}

/// The REST API of the running server, for the linking tasks.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        cookie: &str,
        body: &serde_json::Value,
    ) -> Res<(u16, serde_json::Value)> {
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", cookie)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body)?)
            .send()
            .await?;
        let status = r.status().as_u16();
        let bytes = r.bytes().await?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        ))
    }
}

/// Accounts `active` in the database, and connections to it (all clients).
async fn sample(conn: &mut sqlx::PgConnection) -> Res<(i64, i64)> {
    let active: i64 =
        sqlx::query_scalar("SELECT count(*) FROM public.whatsapp_sessions WHERE status = 'active'")
            .fetch_one(&mut *conn)
            .await?;
    let connections: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND pid <> pg_backend_pid()",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((active, connections))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Res<()> {
    let accounts: usize = arg("--accounts", 1000);
    let binary: PathBuf = arg("--server", PathBuf::from("target/release/server"));
    if !binary.exists() {
        return Err(format!(
            "{} does not exist: build it with `cargo build --release -p server --bin server` (or pass --server)",
            binary.display()
        )
        .into());
    }
    let fake = Arc::new(FakeWhatsApp::start(FakeConfig::default()).await?);
    let database_url = store::test_support::fresh_database().await?;
    let dir = std::env::temp_dir().join(format!("storm-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let mut server = Server {
        binary,
        port: free_port()?,
        dir: dir.clone(),
        database_url: database_url.clone(),
        fake_url: fake.url(),
        fake_root: hex::encode(fake.root_public_key()),
        accounts,
        child: None,
        http: reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
    };
    server.start().await?;

    // Sign up and link N accounts, each to its own phone.
    let signup = server
        .http
        .post(server.url("/auth/signup"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=storm%40example.com&password=correct+horse+battery+staple")
        .send()
        .await?;
    let cookie = signup
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("rl_session="))
        .and_then(|v| v.split(';').next())
        .ok_or("sign-up set no session cookie")?
        .to_owned();
    let linking = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let gate = Arc::new(tokio::sync::Semaphore::new(8));
    for i in 0..accounts {
        let (fake, cookie, gate, api) = (fake.clone(), cookie.clone(), gate.clone(), server.api());
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let phone = fake.add_account(
                &format!("1666{i:07}"),
                &format!("177{i:012}"),
                &format!("Storm {i}"),
            )?;
            let (status, account) = api
                .json(
                    reqwest::Method::POST,
                    "/api/accounts",
                    &cookie,
                    &serde_json::json!({"session_name": format!("Storm {i}")}),
                )
                .await?;
            if status != 201 {
                return Err(format!("create account {i}: {status} {account}").into());
            }
            let id = account["id"].as_str().ok_or("no id")?.to_owned();
            let (status, link) = api
                .json(
                    reqwest::Method::POST,
                    &format!("/api/accounts/{id}/link"),
                    &cookie,
                    &serde_json::json!({"method": "qr"}),
                )
                .await?;
            if status != 202 {
                return Err(format!("link account {i}: {status} {link}").into());
            }
            phone.scan(link["qr"].as_str().ok_or("no qr")?)?;
            Res::<()>::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let mut db = sqlx::PgConnection::connect(&database_url).await?;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (active, _) = sample(&mut db).await?;
        if active as usize >= accounts {
            break;
        }
        if Instant::now() > deadline {
            return Err(
                format!("only {active} of {accounts} accounts linked in 10 minutes").into(),
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let linked_in = linking.elapsed();
    println!(
        "linked {accounts} accounts through the API in {:.1} s",
        linked_in.as_secs_f64()
    );

    // The storm: stop, start, every account back.
    server.stop().await?;
    let logins_before = fake.logins();
    let started = Instant::now();
    server.start().await?;
    let ready_in = started.elapsed();
    let pid = server.pid().ok_or("no server pid")?;
    let (mut peak_rss, mut peak_connections) = (0u64, 0i64);
    let deadline = Instant::now() + Duration::from_secs(600);
    let all_back = loop {
        if let Ok(rss) = procfs::rss(pid) {
            peak_rss = peak_rss.max(rss.total);
        }
        let (active, connections) = sample(&mut db).await?;
        peak_connections = peak_connections.max(connections);
        let logins = fake.logins() - logins_before;
        if logins as usize >= accounts && active as usize >= accounts {
            break started.elapsed();
        }
        if Instant::now() > deadline {
            return Err(format!(
                "after 10 minutes only {logins} logins and {active} active of {accounts}"
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Idle afterwards: what the accounts cost once connected.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let settled = procfs::rss(pid).map(|r| r.total).unwrap_or(0);
    server.stop().await?;
    println!("reconnect storm: {accounts} stored accounts, connect concurrency 16");
    println!(
        "  ready (/readyz) after start   {:>8.2} s",
        ready_in.as_secs_f64()
    );
    println!(
        "  all {accounts} active after start {:>8.2} s ({:.0} accounts/s)",
        all_back.as_secs_f64(),
        accounts as f64 / all_back.as_secs_f64()
    );
    println!(
        "  server peak RSS               {:>8.1} MiB ({:.1} KiB per account); {:.1} MiB settled",
        peak_rss as f64 / 1024.0,
        peak_rss as f64 / accounts.max(1) as f64,
        settled as f64 / 1024.0
    );
    println!(
        "  peak database connections     {peak_connections:>8} (runtime pool max 10, plus listeners and the lease connection)"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
