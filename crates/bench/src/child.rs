//! The parent's half of the line protocol both clients under test speak (our engine in
//! `engine-bench engine-child`, Baileys in `baileys/client.mjs`): one child process, its
//! commands on stdin and its answers on stdout, turned into a [`Seen`] record the benchmark
//! waits on. QR codes are scanned as they arrive, by the phone of the account they name, on the
//! offline WhatsApp running in this (the parent) process.
//!
//! Commands: `link <user> <store>`, `resume <user>`, `stop <user>`, `drain <n>`, `count`, `gc`, `quit`.
//! Answers: `ready`, `qr <user> <qr>`, `active <user>`, `stopped <user>`,
//! `drained <n> <ms> <ms from first login>`, `count <n>`, `gc-done [<heap KiB> …]`,
//! `error <user> <text>`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fake_whatsapp::FakeWhatsApp;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::watch;

use crate::Res;

/// What a child has reported so far.
#[derive(Debug, Default)]
pub struct Seen {
    pub ready: bool,
    pub exited: bool,
    /// Device id each user's companion got when its QR was scanned.
    pub linked: HashMap<String, u16>,
    /// Logins (`active`) per user.
    pub active: HashMap<String, u32>,
    pub stopped: HashSet<String>,
    pub gc_done: u64,
    /// V8 heap used after the last collection, KiB (Baileys only).
    pub heap_kib: Option<u64>,
    /// `drained`: count, ms since the command, ms since the first login.
    pub drained: Option<(u64, u64, u64)>,
    pub count: Option<u64>,
    pub errors: Vec<String>,
}

struct Shared {
    seen: Mutex<Seen>,
    changed: watch::Sender<u64>,
    /// The last lines of stderr, for failure messages.
    stderr: Mutex<VecDeque<String>>,
}

/// One client process.
pub struct Proc {
    pub name: String,
    pub pid: u32,
    child: Child,
    stdin: tokio::sync::Mutex<ChildStdin>,
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Proc {
    /// Starts `command` and follows its output; `fake` scans the QRs it reports.
    pub fn spawn(name: &str, mut command: Command, fake: Arc<FakeWhatsApp>) -> Res<Self> {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let pid = child.id().ok_or("the child exited at once")?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let shared = Arc::new(Shared {
            seen: Mutex::default(),
            changed: watch::channel(0).0,
            stderr: Mutex::default(),
        });
        let verbose = std::env::var_os("BENCH_VERBOSE").is_some();
        let tag = name.to_owned();
        let s = shared.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if verbose {
                    eprintln!("[{tag} stderr] {line}");
                }
                let mut tail = lock(&s.stderr);
                if tail.len() >= 40 {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        let tag = name.to_owned();
        let s = shared.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if verbose {
                    eprintln!("[{tag}] {line}");
                }
                on_line(&s, &fake, &line);
                s.changed.send_modify(|v| *v += 1);
            }
            lock(&s.seen).exited = true;
            s.changed.send_modify(|v| *v += 1);
        });
        Ok(Self {
            name: name.to_owned(),
            pid,
            child,
            stdin: tokio::sync::Mutex::new(stdin),
            shared,
        })
    }

    pub async fn send(&self, line: &str) -> Res<()> {
        let mut stdin = self.stdin.lock().await;
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .map_err(|e| format!("{}: cannot send {line:?}: {e}", self.name))?;
        stdin.flush().await?;
        Ok(())
    }

    /// Waits until `f` gives a value (checked after every line the child prints).
    pub async fn wait<T>(
        &self,
        what: &str,
        limit: Duration,
        f: impl Fn(&Seen) -> Option<T>,
    ) -> Res<T> {
        let mut changes = self.shared.changed.subscribe();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            {
                let seen = lock(&self.shared.seen);
                if let Some(v) = f(&seen) {
                    return Ok(v);
                }
                if seen.exited {
                    return Err(format!(
                        "{} exited while waiting for {what}{}",
                        self.name,
                        self.tail()
                    )
                    .into());
                }
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                return Err(format!("{}: no {what} within {limit:?}", self.name).into());
            }
        }
    }

    /// Reads the record (e.g. for counts).
    pub fn seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&lock(&self.shared.seen))
    }

    /// Its stderr's last lines, for an error message.
    pub fn tail(&self) -> String {
        let tail = lock(&self.shared.stderr);
        if tail.is_empty() {
            String::new()
        } else {
            format!(
                "; its stderr ended with:\n  {}",
                tail.iter().cloned().collect::<Vec<_>>().join("\n  ")
            )
        }
    }

    /// Links `user` (its fake account must exist) and waits for its first login.
    pub async fn link(&self, user: &str, store: &str, limit: Duration) -> Res<u16> {
        self.send(&format!("link {user} {store}")).await?;
        let linked = self
            .wait(&format!("{user} linked and logged in"), limit, |s| {
                let device = s.linked.get(user)?;
                (s.active.get(user).copied().unwrap_or(0) > 0).then_some(*device)
            })
            .await;
        linked.map_err(|e| {
            let errors: Vec<String> = self.seen(|s| {
                s.errors
                    .iter()
                    .filter(|e| e.starts_with(user))
                    .cloned()
                    .collect()
            });
            format!("{e}; its errors: {errors:?}").into()
        })
    }

    /// Logs `user` in from its stored credentials (linked by an earlier process).
    pub async fn resume(&self, user: &str, limit: Duration) -> Res<()> {
        self.send(&format!("resume {user}")).await?;
        self.wait(&format!("{user} logged in again"), limit, |s| {
            s.active.contains_key(user).then_some(())
        })
        .await
    }

    pub async fn stop(&self, user: &str, limit: Duration) -> Res<()> {
        self.send(&format!("stop {user}")).await?;
        self.wait(&format!("{user} stopped"), limit, |s| {
            s.stopped.contains(user).then_some(())
        })
        .await
    }

    pub async fn gc(&self) -> Res<()> {
        let before = self.seen(|s| s.gc_done);
        self.send("gc").await?;
        self.wait("gc-done", Duration::from_secs(60), |s| {
            (s.gc_done > before).then_some(())
        })
        .await
    }

    /// Messages counted so far in the current drain.
    pub async fn count(&self) -> Res<u64> {
        {
            lock(&self.shared.seen).count = None;
        }
        self.send("count").await?;
        self.wait("count", Duration::from_secs(30), |s| s.count)
            .await
    }

    /// Asks it to exit and waits (killing it after 10 s).
    pub async fn quit(mut self) {
        let _ = self.send("quit").await;
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

fn on_line(s: &Shared, fake: &FakeWhatsApp, line: &str) {
    let mut words = line.splitn(3, ' ');
    let kind = words.next().unwrap_or_default();
    let first = words.next().unwrap_or_default().to_owned();
    let rest = words.next().unwrap_or_default();
    let mut seen = lock(&s.seen);
    match kind {
        "ready" => seen.ready = true,
        "qr" if !seen.linked.contains_key(&first) => {
            // A stale ref (rotated meanwhile) fails; the next QR will do.
            if let Some(device) = fake
                .account(&first)
                .and_then(|phone| phone.scan(rest).ok())
                .map(|jid| jid.device_id())
            {
                seen.linked.insert(first, device);
            }
        }
        "active" => *seen.active.entry(first).or_default() += 1,
        "stopped" => {
            seen.stopped.insert(first);
        }
        "gc-done" => {
            seen.gc_done += 1;
            seen.heap_kib = first.parse().ok();
        }
        "count" => seen.count = first.parse().ok(),
        "drained" => {
            let n: Vec<u64> = line
                .split(' ')
                .skip(1)
                .filter_map(|w| w.parse().ok())
                .collect();
            if let [count, ms, from_login] = n[..] {
                seen.drained = Some((count, ms, from_login));
            }
        }
        "error" => seen.errors.push(format!("{first} {rest}")),
        _ => {}
    }
}
