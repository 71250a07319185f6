//! The real binary, black box: the server (with its embedded PostgreSQL) against the offline
//! WhatsApp, killed with SIGKILL at a random moment while messages flow both ways, restarted,
//! and checked for every message stored (or delivered) exactly once. Also: a wrong
//! `SESSION_ENCRYPTION_KEY` stops start-up with a clear error, and `server rotate-key` re-encrypts
//! everything while the account stays linked.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fake_whatsapp::{Config as FakeConfig, FakeWhatsApp, Phone};
use rand::Rng as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::{Child, Command};

const KEY: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const NEW_KEY: &str = "2222222222222222222222222222222222222222222222222222222222222222";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn temp_dir(name: &str) -> PathBuf {
    // Under /tmp so the unprivileged `postgres` user (used when tests run as root) can reach it.
    let dir = std::env::temp_dir().join(format!("rl-{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A response: status, headers (lower-case names), body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// The server under test, started from the real binary.
struct Server {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    fake_url: String,
    fake_root: String,
    /// A shared database (several instances); `None` = the embedded one under `dir`.
    database_url: Option<String>,
    /// More environment variables for the binary.
    env: Vec<(&'static str, String)>,
}

impl Server {
    fn command(&self, key: &str) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PORT", self.port.to_string())
            .env("DATA_DIR", &self.dir)
            .env("RUST_LOG", "info,sqlx=warn")
            .env("SESSION_ENCRYPTION_KEY", key)
            .env("WHATSAPP_SERVER_URL", &self.fake_url)
            .env("WHATSAPP_ROOT_PUBLIC_KEY", &self.fake_root)
            .current_dir(&self.dir)
            .kill_on_drop(true);
        if let Some(url) = &self.database_url {
            command.env("DATABASE_URL", url);
        }
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command
    }

    async fn start(&mut self, key: &str) {
        let log = std::fs::File::create(
            self.dir
                .join(format!("server-{}.log", uuid::Uuid::new_v4().simple())),
        )
        .unwrap();
        let child = self
            .command(key)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("the server binary starts");
        self.child = Some(child);
        for _ in 0..600 {
            if let Some(reply) = self.try_request("GET", "/readyz", None, None, &[]).await
                && reply.status == 200
            {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("server exited early with {status}:\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("server not ready within 60 s:\n{}", self.logs());
    }

    /// Every log line the server wrote so far (all runs).
    fn logs(&self) -> String {
        let mut out = String::new();
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with("server-") {
                    out.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
                }
            }
        }
        out
    }

    async fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.start_kill().expect("SIGKILL");
        child.wait().await.expect("reaped");
    }

    async fn terminate(&mut self) {
        let child = self.child.take().expect("running");
        let pid = child.id().expect("running").to_string();
        assert!(
            std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let output = tokio::time::timeout(Duration::from_secs(40), child.wait_with_output())
            .await
            .expect("stops after SIGTERM")
            .unwrap();
        assert!(output.status.success(), "clean exit:\n{}", self.logs());
    }

    async fn try_request(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Option<Reply> {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .ok()?;
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n",
            self.port
        );
        if let Some(cookie) = cookie {
            request.push_str(&format!("Cookie: {cookie}\r\n"));
        }
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        let body = body.unwrap_or("");
        request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut raw = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
            .await
            .ok()?
            .ok()?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, rest) = text.split_once("\r\n\r\n")?;
        let mut lines = head.lines();
        let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let chunked = headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
        let body = if chunked {
            dechunk(rest)
        } else {
            rest.to_owned()
        };
        Some(Reply {
            status,
            headers,
            body,
        })
    }

    async fn json(
        &self,
        method: &str,
        path: &str,
        cookie: &str,
        body: &Value,
        extra: &[(&str, &str)],
    ) -> Reply {
        let mut headers = vec![("Content-Type", "application/json")];
        headers.extend_from_slice(extra);
        self.try_request(
            method,
            path,
            Some(cookie),
            Some(&body.to_string()),
            &headers,
        )
        .await
        .unwrap_or_else(|| panic!("{method} {path}: no answer:\n{}", self.logs()))
    }

    async fn get(&self, path: &str, cookie: &str) -> Reply {
        self.try_request("GET", path, Some(cookie), None, &[])
            .await
            .unwrap_or_else(|| panic!("GET {path}: no answer:\n{}", self.logs()))
    }

    async fn signup(&self) -> String {
        self.session_from("/auth/signup").await
    }

    /// Signs the account of [`Server::signup`] in again; returns its new session cookie.
    async fn login(&self) -> String {
        self.session_from("/auth/login").await
    }

    /// Posts the test account's credentials to `path`; returns the session cookie it sets.
    async fn session_from(&self, path: &str) -> String {
        let form = "email=blackbox%40example.com&password=correct+horse+battery+staple";
        let reply = self
            .try_request(
                "POST",
                path,
                None,
                Some(form),
                &[("Content-Type", "application/x-www-form-urlencoded")],
            )
            .await
            .expect("answered");
        assert_eq!(reply.status, 303, "{path}: {}", reply.body);
        reply
            .headers
            .iter()
            .find(|(k, v)| k == "set-cookie" && v.starts_with("rl_session="))
            .and_then(|(_, v)| v.split(';').next())
            .expect("session cookie")
            .to_owned()
    }

    /// Creates an account named `name`, links it by QR with the fake's default phone and waits
    /// until it is active; returns (id, its `/api/accounts/{id}` path).
    async fn link_account(
        &self,
        fake: &FakeWhatsApp,
        cookie: &str,
        name: &str,
    ) -> (String, String) {
        self.link_account_with(fake.phone(), cookie, name).await
    }

    /// [`Server::link_account`] with another phone of the offline WhatsApp.
    async fn link_account_with(&self, phone: &Phone, cookie: &str, name: &str) -> (String, String) {
        let account = self
            .json(
                "POST",
                "/api/accounts",
                cookie,
                &json!({ "session_name": name }),
                &[],
            )
            .await;
        assert_eq!(account.status, 201, "{}", account.body);
        let id = account.json()["id"].as_str().unwrap().to_owned();
        let link = self
            .json(
                "POST",
                &format!("/api/accounts/{id}/link"),
                cookie,
                &json!({"method": "qr"}),
                &[],
            )
            .await;
        assert_eq!(link.status, 202, "{}", link.body);
        phone.scan(link.json()["qr"].as_str().unwrap()).unwrap();
        let path = format!("/api/accounts/{id}");
        self.until("linked", &path, cookie, Duration::from_secs(30), |a| {
            a["status"] == "active"
        })
        .await;
        (id, path)
    }

    /// Polls `path` until `want` holds.
    async fn until(
        &self,
        what: &str,
        path: &str,
        cookie: &str,
        limit: Duration,
        want: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(reply) = self.try_request("GET", path, Some(cookie), None, &[]).await
                && reply.status == 200
            {
                let value = reply.json();
                if want(&value) {
                    return value;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what} did not happen within {limit:?}:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Every message of a lead's conversation, following the cursor to the end.
    async fn all_messages(&self, cookie: &str, lead_id: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut path = format!("/api/conversations/{lead_id}/messages?limit=200");
        loop {
            let page = self.get(&path, cookie).await;
            assert_eq!(page.status, 200, "{}", page.body);
            let page = page.json();
            out.extend(page["messages"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(cursor) => {
                    path =
                        format!("/api/conversations/{lead_id}/messages?limit=200&before={cursor}")
                }
                None => return out,
            }
        }
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

async fn lead_of(server: &Server, cookie: &str, phone: &str) -> String {
    let list = server
        .until(
            "a conversation with the contact",
            "/api/conversations",
            cookie,
            Duration::from_secs(60),
            |v| {
                v.as_array()
                    .is_some_and(|a| a.iter().any(|c| c["phone_number"] == phone))
            },
        )
        .await;
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["phone_number"] == phone)
        .unwrap()["lead_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn stored_ids(messages: &[Value], direction: &str) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m["direction"] == direction)
        .filter_map(|m| m["message_id"].as_str().map(str::to_owned))
        .collect()
}

/// Sends `n` texts from `contact`, counting them in `progress` as they go.
async fn send_many(
    contact: Phone,
    to: String,
    n: usize,
    progress: Arc<AtomicUsize>,
) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(
            contact
                .send_text(&to, &format!("inbound #{i}"))
                .await
                .unwrap(),
        );
        progress.store(i + 1, Ordering::SeqCst);
        if i % 50 == 0 {
            // Spread the sends out a little, so the kill lands while messages are in flight.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_a_random_moment_loses_and_doubles_nothing() {
    let fake = FakeWhatsApp::start(FakeConfig::default()).await.unwrap();
    let contact = fake
        .add_account("15550002222", "100000000000002", "Carol")
        .unwrap();
    let mut server = Server {
        port: free_port(),
        dir: temp_dir("blackbox"),
        child: None,
        fake_url: fake.url(),
        fake_root: hex(&fake.root_public_key()),
        database_url: None,
        env: Vec::new(),
    };
    server.start(KEY).await;
    let cookie = server.signup().await;
    let (id, account_path) = server.link_account(&fake, &cookie, "Crash test").await;
    let logins_before = fake.logins();

    // Inbound: 1,000 messages from the contact; SIGKILL somewhere in the middle.
    const INBOUND: usize = 1000;
    let progress = Arc::new(AtomicUsize::new(0));
    let sender = tokio::spawn(send_many(
        contact.clone(),
        "15550001111".into(),
        INBOUND,
        progress.clone(),
    ));
    let kill_after = rand::rng().random_range(50..INBOUND - 50);
    while progress.load(Ordering::SeqCst) < kill_after {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    server.kill().await;
    let unconfirmed = fake.queued("15550001111", 1);
    let sent_ids = sender.await.unwrap();
    eprintln!(
        "inbound: killed after the contact sent {kill_after}; {unconfirmed} were not yet confirmed by the server"
    );
    server.start(KEY).await;
    server
        .until(
            "reconnected",
            &account_path,
            &cookie,
            Duration::from_secs(60),
            |a| a["status"] == "active",
        )
        .await;
    assert!(
        fake.logins() > logins_before,
        "reconnected from stored credentials"
    );
    let lead = lead_of(&server, &cookie, "+15550002222").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let stored = loop {
        let messages = server.all_messages(&cookie, &lead).await;
        let ids = stored_ids(&messages, "in");
        if ids.len() >= INBOUND || tokio::time::Instant::now() > deadline {
            break ids;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let unique: HashSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "no message stored twice");
    let expected: HashSet<&String> = sent_ids.iter().collect();
    let missing = expected.difference(&unique).count();
    assert_eq!(
        missing,
        0,
        "every inbound message stored ({} of {INBOUND})",
        unique.len()
    );
    assert_eq!(stored.len(), INBOUND);

    // Outbound: 200 messages through the API (each with an Idempotency-Key, retried after the
    // kill as any client would); SIGKILL somewhere in the middle.
    const OUTBOUND: usize = 200;
    let kill_at = rand::rng().random_range(20..180);
    let mut accepted: HashMap<usize, String> = HashMap::new();
    for i in 0..OUTBOUND {
        if i == kill_at {
            // Let the engine get some of them on the wire before the kill.
            tokio::time::sleep(Duration::from_millis(rand::rng().random_range(0..400))).await;
            server.kill().await;
            eprintln!(
                "outbound: killed before request #{kill_at}; the contact had {} of them",
                contact
                    .received()
                    .iter()
                    .filter(|r| r
                        .text
                        .as_deref()
                        .is_some_and(|t| t.starts_with("outbound #")))
                    .count()
            );
            server.start(KEY).await;
        }
        let key = format!("out-{i}");
        let body =
            json!({"account_id": id, "to": "+15550002222", "text": format!("outbound #{i}")});
        let reply = server
            .json(
                "POST",
                "/api/messages",
                &cookie,
                &body,
                &[("Idempotency-Key", &key)],
            )
            .await;
        assert!(reply.status == 202 || reply.status == 200, "{}", reply.body);
        accepted.insert(i, reply.json()["message_id"].as_str().unwrap().to_owned());
    }
    // Requests answered before the kill are in the outbox; ask again for all of them with the
    // same keys: still one message each.
    for i in 0..OUTBOUND {
        let body =
            json!({"account_id": id, "to": "+15550002222", "text": format!("outbound #{i}")});
        let reply = server
            .json(
                "POST",
                "/api/messages",
                &cookie,
                &body,
                &[("Idempotency-Key", &format!("out-{i}"))],
            )
            .await;
        assert_eq!(
            reply.status, 200,
            "the same key returns the same message: {}",
            reply.body
        );
        assert_eq!(
            reply.json()["message_id"].as_str(),
            accepted.get(&i).map(String::as_str)
        );
    }
    let wanted: HashSet<String> = accepted.values().cloned().collect();
    fake.wait_until(
        "the contact received every outbound message",
        Duration::from_secs(120),
        |_| {
            let got: HashSet<String> = contact.received().into_iter().map(|r| r.id).collect();
            wanted.iter().all(|id| got.contains(id))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}:\n{}", server.logs()));
    let received = contact.received();
    for id in &wanted {
        let copies: Vec<_> = received.iter().filter(|r| &r.id == id).collect();
        assert_eq!(copies.len(), 1, "{id} received once");
        assert!(
            copies[0]
                .text
                .as_deref()
                .is_some_and(|t| t.starts_with("outbound #"))
        );
    }
    eprintln!(
        "outbound: copies the phone ignored as duplicates: {}",
        fake.stats().duplicates_ignored
    );
    let messages = server.all_messages(&cookie, &lead).await;
    let out = stored_ids(&messages, "out");
    assert_eq!(out.len(), OUTBOUND, "one row per outbound message");
    server.terminate().await;
    std::fs::remove_dir_all(&server.dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_stops_start_up_and_rotate_key_keeps_the_account_linked() {
    let fake = FakeWhatsApp::start(FakeConfig::default()).await.unwrap();
    let mut server = Server {
        port: free_port(),
        dir: temp_dir("keys"),
        child: None,
        fake_url: fake.url(),
        fake_root: hex(&fake.root_public_key()),
        database_url: None,
        env: Vec::new(),
    };
    server.start(KEY).await;
    let cookie = server.signup().await;
    let (_, account_path) = server.link_account(&fake, &cookie, "Keys").await;
    server.terminate().await;

    // A wrong key: start-up stops with a clear error, nothing is touched.
    let output = server.command(NEW_KEY).output().await.unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("SESSION_ENCRYPTION_KEY") && stderr.contains("rotate-key"),
        "a clear error: {stderr}"
    );

    // rotate-key: old → new, then the server starts with the new key and the account reconnects.
    let logins = fake.logins();
    let output = server
        .command(KEY)
        .arg("rotate-key")
        .env("NEW_SESSION_ENCRYPTION_KEY", NEW_KEY)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("rotated 1 account(s)"), "{stdout}");
    // Running it again finds nothing left to do.
    let again = server
        .command(KEY)
        .arg("rotate-key")
        .env("NEW_SESSION_ENCRYPTION_KEY", NEW_KEY)
        .output()
        .await
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 value(s) re-encrypted"));
    server.start(NEW_KEY).await;
    // Session cookies are signed with a key derived from the session key: rotating it signs
    // everyone out, and signing in again works.
    let stale = server
        .try_request("GET", &account_path, Some(&cookie), None, &[])
        .await
        .expect("answered");
    assert_eq!(
        stale.status, 401,
        "a cookie signed with the old key is refused"
    );
    let cookie = server.login().await;
    server
        .until(
            "reconnected with the new key",
            &account_path,
            &cookie,
            Duration::from_secs(60),
            |a| a["status"] == "active",
        )
        .await;
    assert_eq!(
        fake.logins(),
        logins + 1,
        "logged in from the re-encrypted credentials, no QR"
    );
    assert_eq!(fake.devices().len(), 1);
    server.terminate().await;
    std::fs::remove_dir_all(&server.dir).ok();
}

/// Two instances of the server binary on one fresh database (started, ready), named
/// `{name}-a` and `{name}-b`.
type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The dashboard's live socket on `server`, signed in with `cookie` (what a browser tab opens).
async fn open_socket(server: &Server, cookie: &str) -> Socket {
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://127.0.0.1:{}/ws",
            server.port
        ))
        .unwrap();
    request
        .headers_mut()
        .insert("cookie", cookie.parse().unwrap());
    tokio_tungstenite::connect_async(request)
        .await
        .expect("the socket opens")
        .0
}

async fn two_instances(
    fake: &FakeWhatsApp,
    name: &str,
    env: &[(&'static str, &str)],
) -> (Server, Server) {
    let url = store::test_support::fresh_database()
        .await
        .unwrap_or_else(|e| panic!("this test needs PostgreSQL: {e}"));
    let instance = |half: &str| Server {
        port: free_port(),
        dir: temp_dir(&format!("{name}-{half}")),
        child: None,
        fake_url: fake.url(),
        fake_root: hex(&fake.root_public_key()),
        database_url: Some(url.clone()),
        env: env.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
    };
    let (mut a, mut b) = (instance("a"), instance("b"));
    a.start(KEY).await;
    b.start(KEY).await;
    (a, b)
}

/// Several instances on one database (issue 14): an account runs on exactly one of them; a
/// message queued through the other goes out through it once; typing and read receipts asked of
/// the other are carried out by it, and the contact typing reaches a browser on the other; when it is SIGKILLed the other
/// takes the account over from stored credentials (no QR) within 30 s and receives for it; a
/// graceful shutdown hands the account over at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_the_accounts_and_take_over_when_one_dies() {
    let fake = FakeWhatsApp::start(FakeConfig::default()).await.unwrap();
    let contact = fake
        .add_account("15550002222", "100000000000002", "Carol")
        .unwrap();
    let (mut a, mut b) = two_instances(&fake, "lease", &[]).await;
    let cookie = a.signup().await;
    let (id, path) = a.link_account(&fake, &cookie, "Shared").await;

    // B sees the account (one database) but leaves it to A: after two of its scans, no new login.
    let logins = fake.logins();
    tokio::time::sleep(server::engine::LEASE_SCAN * 2 + Duration::from_secs(1)).await;
    assert_eq!(fake.logins(), logins, "B did not connect A's account");
    assert_eq!(b.get(&path, &cookie).await.json()["status"], "active");

    // Queued through B, sent through A, once.
    let sent = b
        .json(
            "POST",
            "/api/messages",
            &cookie,
            &json!({"account_id": id, "to": "+15550002222", "text": "queued on B"}),
            &[],
        )
        .await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !contact
        .received()
        .iter()
        .any(|r| r.text.as_deref() == Some("queued on B"))
    {
        assert!(tokio::time::Instant::now() < deadline, "never sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A file sent through B: B uploads it with A's upload token (A asks WhatsApp for it), A
    // sends the message; the contact's phone decrypts exactly these bytes.
    let mut pdf = String::from("%PDF-1.4\n");
    for i in 0..500 {
        pdf.push_str(&format!("{i} 0 obj << /Type /Brochure /N {i} >> endobj\n"));
    }
    pdf.push_str("%%EOF\n");
    let boundary = "----rarity-two-instances";
    let form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"account_id\"\r\n\r\n{id}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\n+15550002222\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"brochure.pdf\"\r\n\
         Content-Type: application/pdf\r\n\r\n{pdf}\r\n--{boundary}--\r\n"
    );
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let media = b
        .try_request(
            "POST",
            "/api/messages/media",
            Some(&cookie),
            Some(&form),
            &[("Content-Type", content_type.as_str())],
        )
        .await
        .expect("answered");
    assert_eq!(media.status, 202, "a file sent through B: {}", media.body);
    let wa_id = media.json()["message_id"].as_str().unwrap().to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let received = loop {
        if let Some(r) = contact.received().into_iter().find(|r| r.id == wa_id) {
            break r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the file never arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let descriptor = received.media.clone().expect("a media message");
    assert_eq!(
        contact
            .download(&descriptor)
            .expect("decrypts and verifies"),
        pdf.as_bytes()
    );

    // Asked of B, carried out by A (which holds the account): typing and read receipts; and a
    // browser on B sees the contact typing, a live-only event of A's.
    let lead = lead_of(&b, &cookie, "+15550002222").await;
    let mut socket = open_socket(&b, &cookie).await;
    let typed = b
        .try_request(
            "POST",
            "/fn/chats/typing",
            Some(&cookie),
            Some(&format!("account_id={id}&lead_id={lead}&composing=true")),
            &[("Content-Type", "application/x-www-form-urlencoded")],
        )
        .await
        .expect("answered");
    assert_eq!(typed.status, 200, "typing through B: {}", typed.body);
    let incoming = contact.send_text("15550001111", "read me").await.unwrap();
    b.until(
        "the message stored",
        &format!("/api/conversations/{lead}/messages"),
        &cookie,
        Duration::from_secs(20),
        |page| {
            page["messages"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["message_id"] == incoming.as_str()))
        },
    )
    .await;
    let read = b
        .try_request(
            "POST",
            "/fn/chats/read",
            Some(&cookie),
            Some(&format!("lead_id={lead}")),
            &[("Content-Type", "application/x-www-form-urlencoded")],
        )
        .await
        .expect("answered");
    assert_eq!(read.status, 200, "read through B: {}", read.body);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let seen = fake.seen();
        let composing = seen.iter().any(|s| s.kind == "composing");
        let receipt = seen
            .iter()
            .any(|s| s.kind == "read" && s.ids.contains(&incoming));
        if composing && receipt {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "A did not carry out B's commands (composing {composing}, read receipt {receipt}):\n{}\n{}",
            a.logs(),
            b.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    contact.set_typing("15550001111", "composing").unwrap();
    let typing_seen = tokio::time::timeout(Duration::from_secs(20), async {
        use futures_util::StreamExt as _;
        while let Some(Ok(frame)) = socket.next().await {
            if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
                let v: Value = serde_json::from_str(&text).unwrap_or_default();
                if v["type"] == "live" && v["event"]["type"] == "typing" {
                    return v;
                }
            }
        }
        Value::Null
    })
    .await
    .expect("B's browser saw the contact typing on A's account");
    assert_eq!(typing_seen["account_id"], id.as_str());
    drop(socket);

    // A dies: B takes over from the stored credentials within 30 s, and receives for it.
    a.kill().await;
    let died = tokio::time::Instant::now();
    while fake.logins() == logins {
        assert!(
            died.elapsed() < Duration::from_secs(30),
            "no take-over within 30 s:\n{}",
            b.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("take-over after a SIGKILL: {:?}", died.elapsed());
    b.until(
        "active on B",
        &path,
        &cookie,
        Duration::from_secs(30),
        |v| v["status"] == "active",
    )
    .await;
    contact
        .send_text("15550001111", "after the take-over")
        .await
        .unwrap();
    b.until(
        "stored through B",
        "/api/conversations",
        &cookie,
        Duration::from_secs(20),
        |v| {
            v.as_array().is_some_and(|list| {
                list.iter()
                    .any(|c| c["last_message"]["text"] == "after the take-over")
            })
        },
    )
    .await;
    assert_eq!(
        contact
            .received()
            .iter()
            .filter(|r| r.text.as_deref() == Some("queued on B"))
            .count(),
        1,
        "sent once, not again by the instance that took over"
    );

    // A graceful shutdown hands the account over at once to the instance still running.
    a.start(KEY).await;
    let before = fake.logins();
    let stopping = tokio::time::Instant::now();
    b.terminate().await;
    while fake.logins() == before {
        assert!(
            stopping.elapsed() < Duration::from_secs(20),
            "A did not take over after B shut down:\n{}",
            a.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "hand-over after a graceful shutdown: {:?}",
        stopping.elapsed()
    );
    a.until(
        "active on A again",
        &path,
        &cookie,
        Duration::from_secs(30),
        |v| v["status"] == "active",
    )
    .await;
    assert_eq!(fake.devices().len(), 1, "one linked device throughout");
    a.terminate().await;
    for dir in [&a.dir, &b.dir] {
        std::fs::remove_dir_all(dir).ok();
    }
}

/// A rolling restart of two instances on one database while a contact writes steadily: each
/// instance is stopped gracefully and started again in turn, the account moves between them, and
/// every message the contact sent is stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_restart_of_two_instances_under_traffic_loses_and_doubles_nothing() {
    let fake = FakeWhatsApp::start(FakeConfig::default()).await.unwrap();
    let contact = fake
        .add_account("15550002222", "100000000000002", "Carol")
        .unwrap();
    let (mut a, mut b) = two_instances(&fake, "roll", &[]).await;
    let cookie = a.signup().await;
    a.link_account(&fake, &cookie, "Rolling").await;

    // The contact writes every 20 ms until told to stop.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (contact, stop) = (contact.clone(), stop.clone());
        tokio::spawn(async move {
            let mut ids = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                ids.push(
                    contact
                        .send_text("15550001111", &format!("steady #{i}"))
                        .await
                        .unwrap(),
                );
                i += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            ids
        })
    };
    let taken_over = |before: u64| {
        let fake = &fake;
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while fake.logins() == before {
                assert!(tokio::time::Instant::now() < deadline, "no take-over");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Roll A: B takes the account over; A comes back empty-handed.
    let before = fake.logins();
    a.terminate().await;
    taken_over(before).await;
    a.start(KEY).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Roll B: A takes it back; B comes back.
    let before = fake.logins();
    b.terminate().await;
    taken_over(before).await;
    b.start(KEY).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    let sent = writer.await.unwrap();
    eprintln!(
        "rolling restart: the contact sent {} messages meanwhile",
        sent.len()
    );

    let lead = lead_of(&a, &cookie, "+15550002222").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let stored = loop {
        let ids = stored_ids(&a.all_messages(&cookie, &lead).await, "in");
        if ids.len() >= sent.len() || tokio::time::Instant::now() > deadline {
            break ids;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let unique: HashSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "no message stored twice");
    let expected: HashSet<&String> = sent.iter().collect();
    assert_eq!(
        expected.difference(&unique).count(),
        0,
        "every message stored ({} of {})",
        unique.len(),
        sent.len()
    );
    assert_eq!(stored.len(), sent.len());
    assert_eq!(fake.devices().len(), 1, "one linked device throughout");
    a.terminate().await;
    b.terminate().await;
    for dir in [&a.dir, &b.dir] {
        std::fs::remove_dir_all(dir).ok();
    }
}

/// Issue 12's campaign, end to end on the real binary: 50 leads imported from a CSV, a template,
/// two accounts in rotation, pacing compressed 600× (a pacing minute lasts 0.1 s, an hour 6 s).
/// Every contact receives exactly one personalised text — also across a SIGKILL of the server
/// mid-campaign — the per-account caps hold on the queue timestamps, and delivered / read /
/// replied are tracked per lead. Then a second campaign pauses itself, saying why, when the phone
/// logs one of its accounts out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_reaches_each_lead_once_at_a_safe_pace_across_a_crash() {
    const LEADS: usize = 50;
    let fake = FakeWhatsApp::start(FakeConfig::default()).await.unwrap();
    let contacts: Vec<Phone> = (0..LEADS)
        .map(|i| {
            fake.add_account(
                &format!("1555200{i:04}"),
                &format!("2000000{i:08}"),
                &format!("Contact {i}"),
            )
            .unwrap()
        })
        .collect();
    let seller_b = fake
        .add_account("15550009999", "100000000009999", "Seller B")
        .unwrap();
    let mut server = Server {
        port: free_port(),
        dir: temp_dir("campaign"),
        child: None,
        fake_url: fake.url(),
        fake_root: hex(&fake.root_public_key()),
        database_url: None,
        env: vec![("CAMPAIGN_PACING_SCALE", "600".to_owned())],
    };
    server.start(KEY).await;
    let cookie = server.signup().await;
    let (a, _) = server.link_account(&fake, &cookie, "Seller A").await;
    let (b, b_path) = server
        .link_account_with(&seller_b, &cookie, "Seller B")
        .await;

    // The leads, from a CSV with national and international numbers (default country US).
    let mut csv = String::from("Full name,Mobile,Company\n");
    for i in 0..LEADS {
        let phone = if i % 2 == 0 {
            format!("+1 555 200 {i:04}")
        } else {
            format!("(555) 200-{i:04}")
        };
        csv.push_str(&format!("Lead{i} Person,{phone},\"Firm {i}, Ltd\"\n"));
    }
    let imported = server
        .try_request(
            "POST",
            "/api/leads/import?default_country=US",
            Some(&cookie),
            Some(&csv),
            &[("Content-Type", "text/csv")],
        )
        .await
        .unwrap();
    assert_eq!(imported.status, 200, "{}", imported.body);
    assert_eq!(imported.json()["created"], LEADS, "{}", imported.body);
    let template = server
        .json(
            "POST",
            "/api/templates",
            &cookie,
            &json!({"name": "Intro", "content": "Hi {{first_name}} at {{company}}, shall we talk?"}),
            &[],
        )
        .await;
    assert_eq!(template.status, 201, "{}", template.body);
    let campaign = server
        .json(
            "POST",
            "/api/campaigns",
            &cookie,
            &json!({
                "name": "Launch",
                "template_id": template.json()["id"],
                "account_ids": [a, b],
                "segment": {"search": "Person"},
                "pacing": {"per_minute": 3, "per_hour": 12, "per_day": 1000,
                           "first_contact_per_day": 1000, "jitter_seconds": 2, "warm_up": false},
                "start": true
            }),
            &[],
        )
        .await;
    assert_eq!(campaign.status, 201, "{}", campaign.body);
    let campaign = campaign.json();
    assert_eq!(campaign["counts"]["total"], LEADS);
    let path = format!("/api/campaigns/{}", campaign["id"].as_str().unwrap());

    // SIGKILL once some, not all, have gone out; restart; the campaign goes on.
    let received =
        |contacts: &[Phone]| -> usize { contacts.iter().map(|c| c.received().len()).sum() };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while received(&contacts) < 10 {
        assert!(tokio::time::Instant::now() < deadline, "{}", server.logs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill().await;
    eprintln!("campaign: killed after {} sends", received(&contacts));
    server.start(KEY).await;
    let done = server
        .until(
            "the campaign completes",
            &path,
            &cookie,
            Duration::from_secs(120),
            |c| c["status"] == "completed",
        )
        .await;
    assert_eq!(done["counts"]["pending"], 0, "{done}");
    fake.wait_until(
        "every contact received its text",
        Duration::from_secs(60),
        |_| contacts.iter().all(|c| !c.received().is_empty()),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}:\n{}", server.logs()));
    // Exactly one text each, personalised (checked exactly), from either account.
    let mut per_sender: HashMap<String, usize> = HashMap::new();
    for (i, contact) in contacts.iter().enumerate() {
        let got = contact.received();
        assert_eq!(got.len(), 1, "contact {i} received {got:?}");
        assert_eq!(
            got[0].text.as_deref(),
            Some(format!("Hi Lead{i} at Firm {i}, Ltd, shall we talk?").as_str())
        );
        *per_sender
            .entry(got[0].from.split(':').next().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(per_sender.len(), 2, "both accounts sent: {per_sender:?}");

    // The caps, on the moments each message was released to its account's outbox.
    let rows = server
        .get(&format!("{path}/leads?limit=500"), &cookie)
        .await
        .json();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), LEADS);
    let mut times: HashMap<String, Vec<chrono::DateTime<chrono::Utc>>> = HashMap::new();
    for row in rows {
        let at: chrono::DateTime<chrono::Utc> = row["queued_at"].as_str().unwrap().parse().unwrap();
        times
            .entry(row["account_id"].as_str().unwrap().to_owned())
            .or_default()
            .push(at);
    }
    for (account, mut at) in times {
        at.sort();
        let span = |w: &[chrono::DateTime<chrono::Utc>]| (w[w.len() - 1] - w[0]).num_milliseconds();
        for w in at.windows(4) {
            assert!(
                span(w) >= 100,
                "{account}: 4 sends within a pacing minute ({} ms)",
                span(w)
            );
        }
        for w in at.windows(13) {
            assert!(
                span(w) >= 6_000,
                "{account}: 13 sends within a pacing hour ({} ms)",
                span(w)
            );
        }
    }

    // Delivered (the phones' automatic receipts), read (sent by 5 contacts), replied (3).
    for contact in &contacts[..5] {
        let got = contact.received();
        let sender = got[0].from.split(':').next().unwrap().to_owned();
        contact
            .send_receipt(&sender, std::slice::from_ref(&got[0].id), Some("read"))
            .unwrap();
    }
    for contact in &contacts[5..8] {
        let sender = contact.received()[0]
            .from
            .split(':')
            .next()
            .unwrap()
            .to_owned();
        contact.send_text(&sender, "Yes, call me").await.unwrap();
    }
    let tracked = server
        .until(
            "read and replied tracked",
            &path,
            &cookie,
            Duration::from_secs(30),
            |c| c["counts"]["read"] == 5 && c["counts"]["replied"] == 3,
        )
        .await;
    assert_eq!(tracked["counts"]["delivered"], LEADS - 8, "{tracked}");
    assert_eq!(tracked["counts"]["failed"], 0, "{tracked}");
    let replied = server
        .get(&format!("{path}/leads?state=replied"), &cookie)
        .await
        .json();
    let mut names: Vec<&str> = replied
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["Lead5 Person", "Lead6 Person", "Lead7 Person"]);

    // A slow second campaign; the phone logs Seller B out: the campaign pauses with the reason.
    let slow = server
        .json(
            "POST",
            "/api/campaigns",
            &cookie,
            &json!({
                "name": "Follow-up",
                "content": "Following up, {{name}}",
                "account_ids": [a, b],
                "segment": {"search": "Person"},
                "pacing": {"per_minute": 1, "per_hour": 1, "jitter_seconds": 0, "warm_up": false},
                "start": true
            }),
            &[],
        )
        .await;
    assert_eq!(slow.status, 201, "{}", slow.body);
    let slow_path = format!("/api/campaigns/{}", slow.json()["id"].as_str().unwrap());
    let device = fake
        .devices()
        .into_iter()
        .find(|d| d.user == "15550009999")
        .expect("Seller B's companion");
    assert_eq!(fake.fail_device("15550009999", device.device, 401), 1);
    server
        .until(
            "Seller B logged out",
            &b_path,
            &cookie,
            Duration::from_secs(30),
            |a| a["status"] == "expired",
        )
        .await;
    let paused = server
        .until(
            "the campaign pauses itself",
            &slow_path,
            &cookie,
            Duration::from_secs(30),
            |c| c["status"] == "paused",
        )
        .await;
    let reason = paused["pause_reason"].as_str().unwrap();
    assert!(reason.contains("Seller B"), "{reason}");
    assert!(
        paused["counts"]["pending"].as_i64().unwrap() > 0,
        "{paused}"
    );
    server.terminate().await;
    std::fs::remove_dir_all(&server.dir).ok();
}

/// Issue 14: ten accounts spread over two instances (five linked through each); A is SIGKILLed
/// while a contact writes to all ten. A's five accounts are active on B within 30 s (from stored
/// credentials, no QR), and every message the contact sent is stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_accounts_over_two_instances_survive_a_sigkill_of_one() {
    let fake = FakeWhatsApp::start(FakeConfig::default()).await.unwrap();
    let contact = fake
        .add_account("15550002222", "100000000000002", "Carol")
        .unwrap();
    let sellers: Vec<Phone> = (0..10)
        .map(|i| {
            fake.add_account(
                &format!("1555003{i:04}"),
                &format!("3000000{i:08}"),
                &format!("Seller {i}"),
            )
            .unwrap()
        })
        .collect();
    let (mut a, b) = two_instances(&fake, "ten", &[("WHATSAPP_MAX_SESSIONS_PER_USER", "10")]).await;
    let cookie = a.signup().await;
    let mut paths = Vec::new();
    for (i, seller) in sellers.iter().enumerate() {
        let server = if i % 2 == 0 { &a } else { &b };
        let (_, path) = server
            .link_account_with(seller, &cookie, &format!("Seller {i}"))
            .await;
        paths.push(path);
    }

    // The contact writes to each seller in turn until told to stop.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (contact, stop) = (contact.clone(), stop.clone());
        let users: Vec<String> = sellers.iter().map(|s| s.user().to_owned()).collect();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let to = &users[i % users.len()];
                ids.push(
                    contact
                        .send_text(to, &format!("to all #{i}"))
                        .await
                        .unwrap(),
                );
                i += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            ids
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    // A dashboard tab on B, the survivor: it must see every message, A's accounts' included.
    let mut socket = open_socket(&b, &cookie).await;
    let shown = tokio::spawn(async move {
        use futures_util::StreamExt as _;
        let mut ids: Vec<String> = Vec::new();
        while let Ok(Some(Ok(frame))) =
            tokio::time::timeout(Duration::from_secs(15), socket.next()).await
        {
            if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
                let v: Value = serde_json::from_str(&text).unwrap_or_default();
                if v["type"] == "event"
                    && v["kind"] == "message"
                    && v["payload"]["direction"] == "in"
                    && let Some(id) = v["payload"]["message_id"].as_str()
                {
                    ids.push(id.to_owned());
                }
            }
        }
        ids
    });
    let before = fake.logins();
    a.kill().await;
    let died = tokio::time::Instant::now();
    while fake.logins() < before + 5 {
        assert!(
            died.elapsed() < Duration::from_secs(30),
            "A's five accounts not taken over within 30 s ({} logins):\n{}",
            fake.logins() - before,
            b.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "ten accounts: A's five back on B {:?} after the SIGKILL",
        died.elapsed()
    );
    for path in &paths {
        b.until("active on B", path, &cookie, Duration::from_secs(30), |v| {
            v["status"] == "active"
        })
        .await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    let sent = writer.await.unwrap();

    let lead = lead_of(&b, &cookie, "+15550002222").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let stored = loop {
        let ids = stored_ids(&b.all_messages(&cookie, &lead).await, "in");
        if ids.len() >= sent.len() || tokio::time::Instant::now() > deadline {
            break ids;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let unique: HashSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "no message stored twice");
    let missing: Vec<&String> = sent.iter().filter(|id| !unique.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} never stored",
        missing.len(),
        sent.len()
    );
    eprintln!(
        "ten accounts: {} messages during the switch, each stored once",
        sent.len()
    );
    // The tab on B was shown each message written after it opened, once (it stops listening
    // 15 s after the last frame; heartbeats come every 20 s).
    let on_screen = shown.await.unwrap();
    let shown_once: HashSet<&String> = on_screen.iter().collect();
    assert_eq!(shown_once.len(), on_screen.len(), "no message shown twice");
    let first_shown = sent.iter().position(|id| shown_once.contains(id));
    let expected = &sent[first_shown.unwrap_or(sent.len())..];
    let not_shown = expected
        .iter()
        .filter(|id| !shown_once.contains(id))
        .count();
    assert!(
        expected.len() > 50 && not_shown == 0,
        "the tab on the survivor missed {not_shown} of {} messages",
        expected.len()
    );
    eprintln!(
        "ten accounts: the tab on the survivor showed all {} messages written while it was open",
        expected.len()
    );
    assert_eq!(
        fake.devices().len(),
        10,
        "one linked device per account throughout"
    );
    drop(a);
    std::fs::remove_dir_all(&b.dir).ok();
}

/// Several instances (issue 14): reconnecting, logging out and deleting an account through the
/// instance that does not run it — the one that does tells WhatsApp (the device is unlinked) and the answer
/// comes back through the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logout_and_delete_through_the_other_instance_unlink_the_device() {
    let fake = FakeWhatsApp::start(FakeConfig::default()).await.unwrap();
    let second = fake
        .add_account("15550004444", "100000000000004", "Second")
        .unwrap();
    let (a, b) = two_instances(&fake, "forward", &[]).await;
    let cookie = a.signup().await;
    let (_, path) = a.link_account(&fake, &cookie, "On A").await;
    let (other, _) = a.link_account_with(&second, &cookie, "Also on A").await;
    assert_eq!(fake.devices().len(), 2);

    // WhatsApp stops the account on A (a stream error it does not retry by itself); a reconnect
    // asked of B makes A (which still holds it) connect again — a new login at the fake.
    let device = fake
        .devices()
        .into_iter()
        .find(|d| d.user == "15550001111")
        .expect("A's device");
    assert_eq!(fake.kick_device(&device.user, device.device, 403), 1);
    a.until("stopped", &path, &cookie, Duration::from_secs(20), |v| {
        v["status"] == "error"
    })
    .await;
    let logins = fake.logins();
    let again = b
        .json(
            "POST",
            &format!("{path}/reconnect"),
            &cookie,
            &json!({}),
            &[],
        )
        .await;
    assert_eq!(again.status, 202, "reconnect through B: {}", again.body);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while fake.logins() == logins {
        assert!(
            tokio::time::Instant::now() < deadline,
            "A did not reconnect:\n{}",
            a.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.until(
        "active again",
        &path,
        &cookie,
        Duration::from_secs(20),
        |v| v["status"] == "active",
    )
    .await;

    // Asked of B; A (which runs it) logs the device out; B answers once that is done.
    let out = b
        .json("POST", &format!("{path}/logout"), &cookie, &json!({}), &[])
        .await;
    assert_eq!(out.status, 204, "logout through B: {}", out.body);
    let account = b.get(&path, &cookie).await.json();
    assert_ne!(account["status"], "active", "{account}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while fake.devices().len() != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the device was not unlinked:\n{}",
            a.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Deleting through B: logged out by A, then gone.
    let gone = b
        .try_request(
            "DELETE",
            &format!("/api/accounts/{other}"),
            Some(&cookie),
            None,
            &[],
        )
        .await
        .expect("answered");
    assert_eq!(gone.status, 204, "delete through B: {}", gone.body);
    assert_eq!(
        b.get(&format!("/api/accounts/{other}"), &cookie)
            .await
            .status,
        404
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !fake.devices().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the deleted account's device was not unlinked:\n{}",
            a.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The instance's `rarity_whatsapp_accounts_held` gauge (its `/metrics`, loopback).
async fn accounts_held(server: &Server) -> Option<f64> {
    let reply = server
        .try_request("GET", "/metrics", None, None, &[])
        .await?;
    reply
        .body
        .lines()
        .find(|l| l.starts_with("rarity_whatsapp_accounts_held "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Lease fencing (issue 14): when an instance loses its lease connection (PostgreSQL ends it; the
/// instance is otherwise alive), it can no longer know its leases are its own, so it stops its
/// accounts; the account ends up run by exactly one instance, connected once, active, and the
/// messages sent meanwhile are stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_that_loses_its_lease_connection_stops_its_accounts() {
    let fake = FakeWhatsApp::start(FakeConfig::default()).await.unwrap();
    let contact = fake
        .add_account("15550002222", "100000000000002", "Carol")
        .unwrap();
    let (a, b) = two_instances(&fake, "fence", &[]).await;
    let cookie = a.signup().await;
    let (_, path) = a.link_account(&fake, &cookie, "Fenced").await;
    assert_eq!(accounts_held(&a).await, Some(1.0));
    assert_eq!(accounts_held(&b).await.unwrap_or(0.0), 0.0);
    let first = contact.send_text("15550001111", "before").await.unwrap();

    // PostgreSQL ends A's lease connection (as a network cut or a failover would).
    let url = a.database_url.clone().unwrap();
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity s ON s.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND s.application_name = 'rarity-leases' \
           AND s.datname = current_database()",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(
        ended,
        vec![true],
        "A's lease connection, holding the account's lease"
    );
    let during = contact.send_text("15550001111", "during").await.unwrap();

    // A notices at its next lease scan…
    let deadline = tokio::time::Instant::now() + server::engine::LEASE_SCAN * 3;
    while !a
        .logs()
        .contains("the lease connection to PostgreSQL was lost")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "A did not notice it lost its lease connection:\n{}",
            a.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // …and within a few more: one instance runs it, one connection, active.
    let deadline = tokio::time::Instant::now() + server::engine::LEASE_SCAN * 6;
    loop {
        let (ha, hb) = (
            accounts_held(&a).await.unwrap_or(-1.0),
            accounts_held(&b).await.unwrap_or(-1.0),
        );
        let status = a.get(&path, &cookie).await.json()["status"].clone();
        if ha + hb == 1.0 && fake.connections() == 1 && status == "active" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "after the lease connection was lost: A holds {ha}, B holds {hb}, {} connections, status {status}:\n{}\n{}",
            fake.connections(),
            a.logs(),
            b.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // And it stays that way (no flapping between the two).
    tokio::time::sleep(server::engine::LEASE_SCAN * 2).await;
    let (ha, hb) = (
        accounts_held(&a).await.unwrap_or(-1.0),
        accounts_held(&b).await.unwrap_or(-1.0),
    );
    assert_eq!(ha + hb, 1.0, "A holds {ha}, B holds {hb}");
    assert_eq!(fake.connections(), 1);
    assert_eq!(a.get(&path, &cookie).await.json()["status"], "active");

    let after = contact.send_text("15550001111", "after").await.unwrap();
    let lead = lead_of(&a, &cookie, "+15550002222").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let stored = stored_ids(&a.all_messages(&cookie, &lead).await, "in");
        let want = [&first, &during, &after];
        if want
            .iter()
            .all(|id| stored.iter().filter(|s| s == id).count() == 1)
        {
            assert_eq!(stored.len(), 3, "each stored once: {stored:?}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all stored once: {stored:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A webhook receiver on loopback: records every request; answers 503 while `down`.
#[derive(Clone, Default)]
struct Receiver {
    down: Arc<std::sync::atomic::AtomicBool>,
    /// `(webhook-id, headers, body)` of the requests answered 2xx, in arrival order.
    taken: Arc<std::sync::Mutex<Vec<(String, axum::http::HeaderMap, axum::body::Bytes)>>>,
    refused: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start(&self) -> u16 {
        let this = self.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let this = this.clone();
                    async move {
                        if this.down.load(Ordering::SeqCst) {
                            this.refused.fetch_add(1, Ordering::SeqCst);
                            return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                        }
                        let id = headers["webhook-id"].to_str().unwrap().to_owned();
                        this.taken.lock().unwrap().push((id, headers, body));
                        axum::http::StatusCode::NO_CONTENT
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        port
    }

    /// The events taken so far: `(webhook-id, type, data)`.
    fn events(&self) -> Vec<(String, String, Value)> {
        self.taken
            .lock()
            .unwrap()
            .iter()
            .map(|(id, _, body)| {
                let v: Value = serde_json::from_slice(body).unwrap();
                (
                    id.clone(),
                    v["type"].as_str().unwrap().to_owned(),
                    v["data"].clone(),
                )
            })
            .collect()
    }

    async fn wait_for(
        &self,
        what: &str,
        limit: Duration,
        want: impl Fn(&[(String, String, Value)]) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + limit;
        while !want(&self.events()) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what} within {limit:?}; got {:#?}",
                self.events()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn inbound_texts(events: &[(String, String, Value)]) -> Vec<String> {
    events
        .iter()
        .filter(|(_, t, _)| t == "message.inbound")
        .map(|(_, _, d)| d["text"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_reach_a_loopback_receiver_once_in_order_signed_even_after_it_was_down() {
    let fake = FakeWhatsApp::start(FakeConfig::default()).await.unwrap();
    let contact = fake
        .add_account("15550003333", "100000000000003", "Dana")
        .unwrap();
    let receiver = Receiver::default();
    let receiver_port = receiver.start().await;
    let mut server = Server {
        port: free_port(),
        dir: temp_dir("webhooks"),
        child: None,
        fake_url: fake.url(),
        fake_root: hex(&fake.root_public_key()),
        database_url: None,
        env: vec![("WEBHOOKS_ALLOW_LOOPBACK", "true".into())],
    };
    server.start(KEY).await;
    let cookie = server.signup().await;
    let (account, _) = server.link_account(&fake, &cookie, "Hooks").await;

    let created = server
        .json(
            "POST",
            "/api/webhooks",
            &cookie,
            &json!({
                "url": format!("http://127.0.0.1:{receiver_port}/hook"),
                "description": "CRM",
                "event_types": ["message.inbound", "message.outbound", "message.status"],
            }),
            &[],
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let hook = created.json();
    let secret = hook["secret"].as_str().unwrap().to_owned();
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    // A private address is refused even with loopback allowed.
    let private = server
        .json(
            "POST",
            "/api/webhooks",
            &cookie,
            &json!({"url": "http://10.0.0.1/hook", "event_types": ["message.inbound"]}),
            &[],
        )
        .await;
    assert_eq!(private.status, 422, "{}", private.body);
    assert_eq!(private.json()["error"]["field"], "url");

    // Five messages from the contact, then our reply.
    for i in 1..=5 {
        contact
            .send_text("15550001111", &format!("hook #{i}"))
            .await
            .unwrap();
    }
    receiver
        .wait_for("five inbound events", Duration::from_secs(60), |e| {
            inbound_texts(e).len() >= 5
        })
        .await;
    let reply = server
        .json(
            "POST",
            "/api/messages",
            &cookie,
            &json!({"account_id": account, "to": "+15550003333", "text": "thanks!"}),
            &[],
        )
        .await;
    assert!(reply.status == 202 || reply.status == 200, "{}", reply.body);
    receiver
        .wait_for("the reply and its delivery", Duration::from_secs(60), |e| {
            e.iter()
                .any(|(_, t, d)| t == "message.status" && d["status"] == "delivered")
        })
        .await;

    // The receiver is down: the next messages wait, retried, in order.
    receiver.down.store(true, Ordering::SeqCst);
    for i in 6..=8 {
        contact
            .send_text("15550001111", &format!("hook #{i}"))
            .await
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while receiver.refused.load(Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "{}", server.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = server
        .get(
            &format!("/api/webhooks/{hook_id}/deliveries?limit=3"),
            &cookie,
        )
        .await;
    assert_eq!(log.status, 200, "{}", log.body);
    assert!(
        log.json()
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["state"] == "pending" && d["response_status"] == 503),
        "the refused attempt is in the log: {}",
        log.body
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    receiver.down.store(false, Ordering::SeqCst);
    receiver
        .wait_for("the three held back", Duration::from_secs(60), |e| {
            inbound_texts(e).len() >= 8
        })
        .await;
    // Let any stray late attempt arrive before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let events = receiver.events();
    // Every message event once, the contact's in the order sent.
    assert_eq!(
        inbound_texts(&events),
        (1..=8).map(|i| format!("hook #{i}")).collect::<Vec<_>>()
    );
    let ids: HashSet<&String> = events.iter().map(|(id, _, _)| id).collect();
    assert_eq!(ids.len(), events.len(), "no event delivered twice");
    let outbound: Vec<&Value> = events
        .iter()
        .filter(|(_, t, _)| t == "message.outbound")
        .map(|(_, _, d)| d)
        .collect();
    assert_eq!(outbound.len(), 1);
    assert_eq!(outbound[0]["text"], "thanks!");
    // The reply's statuses after the reply itself, in the order they happened.
    let reply_id = outbound[0]["id"].clone();
    let order: Vec<&str> = events
        .iter()
        .filter(|(_, _, d)| d["id"] == reply_id)
        .map(|(_, t, d)| {
            if t == "message.status" {
                d["status"].as_str().unwrap()
            } else {
                "created"
            }
        })
        .collect();
    assert_eq!(order.first(), Some(&"created"), "{order:?}");
    let rank = |s: &str| {
        ["created", "queued", "sent", "delivered", "read"]
            .iter()
            .position(|x| *x == s)
    };
    assert!(
        order.windows(2).all(|w| rank(w[0]) < rank(w[1])),
        "{order:?}"
    );
    // Each one signed with the endpoint's secret (the Standard Webhooks reference library).
    let verifier = standardwebhooks::Webhook::new(&secret).unwrap();
    for (id, headers, body) in receiver.taken.lock().unwrap().iter() {
        verifier
            .verify(body, headers)
            .unwrap_or_else(|e| panic!("{id}: {e:?}"));
    }
    // The log agrees: everything delivered.
    let log = server
        .get(
            &format!("/api/webhooks/{hook_id}/deliveries?limit=100"),
            &cookie,
        )
        .await;
    let log = log.json();
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), events.len(), "{log:#?}");
    assert!(log.iter().all(|d| d["state"] == "delivered"), "{log:#?}");

    // /metrics counted the attempts (loopback, no proxy: answered without a token).
    let metrics = server
        .try_request("GET", "/metrics", None, None, &[])
        .await
        .expect("metrics answered");
    let count = |outcome: &str| -> f64 {
        let prefix = format!("rarity_webhook_attempts_total{{outcome=\"{outcome}\"}} ");
        metrics
            .body
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{prefix} in:\n{}", metrics.body))
    };
    assert_eq!(count("delivered"), events.len() as f64);
    assert!(count("retry") >= 1.0);

    // Redeliver: the same event (same webhook-id) once more.
    let first = log.last().unwrap();
    let again = server
        .json(
            "POST",
            &format!(
                "/api/webhooks/{hook_id}/deliveries/{}/redeliver",
                first["id"]
            ),
            &cookie,
            &json!({}),
            &[],
        )
        .await;
    assert_eq!(again.status, 202, "{}", again.body);
    let event_id = first["event_id"].as_str().unwrap().to_owned();
    receiver
        .wait_for("the redelivery", Duration::from_secs(30), |e| {
            e.iter().filter(|(id, _, _)| *id == event_id).count() == 2
        })
        .await;
}
