//! What the tests share: a Baileys process driven through a script in `tests/fidelity` (events
//! on stdout, commands on stdin) with a loud failure when Node or the pinned Baileys is missing
//! (never a silent skip); a minimal Rust client ([`client`]); and a linked companion with a real
//! Signal store built on it ([`companion`]).

#![allow(dead_code)] // each test binary uses its own part

pub mod client;
pub mod companion;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fake_whatsapp::FakeWhatsApp;
use fake_whatsapp::scenarios::STEP;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::time::timeout;

pub fn fidelity_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fidelity")
}

/// Panics unless `node` runs and the workspace's node_modules hold Baileys 7.0.0-rc14.
pub fn require_node() {
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        matches!(&node, Ok(o) if o.status.success()),
        "the Baileys tests need `node` (>= 20) on PATH: {node:?}"
    );
    let baileys = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../node_modules/@whiskeysockets/baileys/package.json");
    let manifest = std::fs::read_to_string(&baileys).unwrap_or_else(|e| {
        panic!(
            "the Baileys tests need the workspace's npm packages (run `npm ci` in the workspace \
             root): {} unreadable: {e}",
            baileys.display()
        )
    });
    assert!(
        manifest.contains("\"version\": \"7.0.0-rc14\""),
        "expected @whiskeysockets/baileys 7.0.0-rc14 in {}",
        baileys.display()
    );
}

/// One Baileys process running a driver script from `tests/fidelity`, read line by line.
pub struct Baileys {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    /// Every line read so far (for failure messages).
    pub seen: Vec<String>,
    /// Lines read but not yet consumed by an `expect`.
    backlog: VecDeque<String>,
    script: &'static str,
    env: Vec<(&'static str, String)>,
}

impl Baileys {
    /// `baileys-client.mjs` with `auth_dir` as its saved credentials.
    pub fn spawn(fake: &FakeWhatsApp, auth_dir: &Path, exit_on_open: bool) -> Self {
        let exit = if exit_on_open { "1" } else { "0" };
        Self::script(
            fake,
            "baileys-client.mjs",
            auth_dir,
            &[("FAKE_WA_EXIT_ON_OPEN", exit)],
        )
    }

    /// Any driver script, trusting `fake`'s root key, with extra environment variables.
    pub fn script(
        fake: &FakeWhatsApp,
        script: &'static str,
        auth_dir: &Path,
        extra: &[(&'static str, &str)],
    ) -> Self {
        let mut env = vec![
            ("FAKE_WA_ROOT_KEY", hex::encode(fake.root_public_key())),
            ("FAKE_WA_URL", fake.url()),
            ("FAKE_WA_AUTH_DIR", auth_dir.display().to_string()),
        ];
        env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        Self::start(script, env)
    }

    /// The same script and credentials again, in a new process (the old one must have ended).
    pub fn restart(&self, exit_on_open: bool) -> Self {
        let mut env = self.env.clone();
        env.retain(|(k, _)| *k != "FAKE_WA_EXIT_ON_OPEN");
        env.push((
            "FAKE_WA_EXIT_ON_OPEN",
            (if exit_on_open { "1" } else { "0" }).to_owned(),
        ));
        Self::start(self.script, env)
    }

    fn start(script: &'static str, env: Vec<(&'static str, String)>) -> Self {
        let mut cmd = Command::new("node");
        cmd.current_dir(fidelity_dir())
            .arg("--import")
            .arg("./patch-root.mjs")
            .arg(script)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn node");
        let stdout = child.stdout.take().expect("piped stdout");
        let stdin = child.stdin.take().expect("piped stdin");
        Self {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            seen: Vec::new(),
            backlog: VecDeque::new(),
            script,
            env,
        }
    }

    /// Consumes the first line (backlog first, then new ones) for which `want` holds; returns it.
    pub async fn expect_line(
        &mut self,
        what: &str,
        limit: Duration,
        want: impl Fn(&str) -> bool,
    ) -> String {
        if let Some(i) = self.backlog.iter().position(|l| want(l)) {
            return self.backlog.remove(i).unwrap_or_default();
        }
        let found = timeout(limit, async {
            while let Some(line) = self.lines.next_line().await.expect("read node stdout") {
                self.seen.push(line.clone());
                assert!(
                    !line.starts_with("ERROR "),
                    "Baileys command failed: {line}"
                );
                if want(&line) {
                    return Some(line);
                }
                self.backlog.push_back(line);
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            Ok(None) => panic!("Baileys exited before {what}; saw {:?}", self.seen),
            Err(_) => panic!(
                "no {what} from Baileys within {limit:?}; saw {:?}",
                self.seen
            ),
        }
    }

    /// Consumes the first line starting with `prefix`.
    pub async fn expect(&mut self, prefix: &str, limit: Duration) -> String {
        self.expect_line(prefix, limit, |l| l.starts_with(prefix))
            .await
    }

    /// Consumes the first `KIND {json}` event for which `want` holds; returns the JSON.
    pub async fn event(&mut self, kind: &str, want: impl Fn(&Value) -> bool) -> Value {
        let prefix = format!("{kind} ");
        let line = self
            .expect_line(kind, STEP, |l| {
                l.strip_prefix(&prefix)
                    .and_then(|j| serde_json::from_str::<Value>(j).ok())
                    .is_some_and(|v| want(&v))
            })
            .await;
        serde_json::from_str(&line[prefix.len()..]).expect("event JSON")
    }

    pub async fn command(&mut self, command: Value) {
        let mut line = command.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("write to Baileys");
        self.stdin.flush().await.expect("flush to Baileys");
    }

    pub async fn exit_code(&mut self) -> Option<i32> {
        timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("Baileys did not exit")
            .expect("wait for node")
            .code()
    }
}
