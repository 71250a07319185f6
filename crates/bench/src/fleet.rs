//! One side of the comparison: the client processes of our engine (one) or of Baileys (one or
//! more node processes, accounts dealt round-robin), the accounts they linked, and their memory
//! baseline. Everything the benchmark does to a side goes through here, so both are treated
//! alike.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_whatsapp::FakeWhatsApp;
use futures_util::StreamExt;
use tokio::process::Command;

use crate::Res;
use crate::child::Proc;
use crate::procfs;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Ours,
    Baileys,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Self::Ours => "ours",
            Self::Baileys => "Baileys",
        }
    }
}

/// How to start the client processes.
#[derive(Debug, Clone)]
pub struct Launch {
    pub fake_url: String,
    pub root_key: [u8; 32],
    /// PostgreSQL database for our engine's store, and the key its secrets are encrypted under.
    pub database: String,
    pub session_key: [u8; 32],
    pub node: String,
    /// Where the Baileys processes keep their `useMultiFileAuthState` folders.
    pub auth_dir: std::path::PathBuf,
}

/// A linked account: its fake user, the process it lives in and its companion device id.
#[derive(Debug, Clone)]
pub struct Linked {
    pub user: String,
    pub proc: usize,
    pub device: u16,
}

pub struct Fleet {
    procs: Vec<Proc>,
    /// RSS of each process before its first account.
    baseline: Vec<procfs::Rss>,
    pub linked: Vec<Linked>,
}

impl Fleet {
    /// Starts `count` processes of `side` and records their baseline once they are ready.
    pub async fn start(
        side: Side,
        count: usize,
        launch: &Launch,
        fake: &Arc<FakeWhatsApp>,
        run: &str,
    ) -> Res<Fleet> {
        let mut procs = Vec::new();
        for i in 0..count.max(1) {
            let command = match side {
                Side::Ours => {
                    // BENCH_ENGINE_WRAP runs the engine under a profiler, e.g.
                    // "valgrind --tool=massif --vgdb=yes" (its figures are then the profiler's).
                    let wrap = std::env::var("BENCH_ENGINE_WRAP").unwrap_or_default();
                    let mut words = wrap.split_whitespace();
                    let mut c = match words.next() {
                        Some(program) => {
                            let mut c = Command::new(program);
                            c.args(words).arg(std::env::current_exe()?);
                            c
                        }
                        None => Command::new(std::env::current_exe()?),
                    };
                    c.args(["engine-child", "--url", &launch.fake_url, "--root"])
                        .arg(hex::encode(launch.root_key))
                        .args(["--database", &launch.database])
                        .arg("--owner")
                        .arg(format!("bench-{run}@example.com"))
                        .arg("--key")
                        .arg(hex::encode(launch.session_key));
                    c
                }
                Side::Baileys => {
                    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("baileys/client.mjs");
                    let mut c = Command::new(&launch.node);
                    c.args(["--expose-gc", "--max-old-space-size=8192"])
                        .arg(script)
                        .args(["--url", &launch.fake_url, "--root"])
                        .arg(hex::encode(launch.root_key))
                        .arg("--auth")
                        .arg(launch.auth_dir.join(format!("{run}-{i}")));
                    c
                }
            };
            procs.push(Proc::spawn(
                &format!("{}-{run}-{i}", side.name()),
                command,
                fake.clone(),
            )?);
        }
        for p in &procs {
            p.wait("ready", Duration::from_secs(120), |s| s.ready.then_some(()))
                .await?;
        }
        // Let start-up allocations settle, then take the baseline (after a collection, as
        // every later sample is).
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut baseline = Vec::new();
        for p in &procs {
            p.gc().await?;
            baseline.push(procfs::rss(p.pid)?);
        }
        Ok(Fleet {
            procs,
            baseline,
            linked: Vec::new(),
        })
    }

    pub fn baseline_kib(&self) -> u64 {
        self.baseline.iter().map(|r| r.total).sum()
    }

    /// Links `users` (fake accounts that exist), `batch` pairings in flight at a time, each
    /// within `limit`. Returns how many linked; stops at the first failure.
    pub async fn link(
        &mut self,
        users: &[String],
        store: &str,
        batch: usize,
        limit: Duration,
    ) -> Res<()> {
        let first = self.linked.len();
        let n = self.procs.len();
        let procs = &self.procs;
        let results: Vec<Res<Linked>> = futures_util::stream::iter(users.iter().enumerate())
            .map(|(k, user)| {
                let proc = (first + k) % n;
                async move {
                    let device = procs[proc].link(user, store, limit).await?;
                    Ok(Linked {
                        user: user.clone(),
                        proc,
                        device,
                    })
                }
            })
            .buffer_unordered(batch.max(1))
            .collect()
            .await;
        for r in results {
            self.linked.push(r?);
        }
        Ok(())
    }

    /// Ends these processes and starts new ones (as a server restarts) that log every account
    /// in again from its stored credentials, each in the process that linked it.
    pub async fn restart(
        self,
        side: Side,
        launch: &Launch,
        fake: &Arc<FakeWhatsApp>,
        run: &str,
        batch: usize,
        limit: Duration,
    ) -> Res<Fleet> {
        let linked = self.linked.clone();
        let count = self.procs.len();
        self.quit().await;
        fake.wait_until("the old connections closed", Duration::from_secs(30), |f| {
            f.connections() == 0
        })
        .await?;
        let mut fleet = Fleet::start(side, count, launch, fake, run).await?;
        let procs = &fleet.procs;
        let results: Vec<Res<()>> = futures_util::stream::iter(&linked)
            .map(|l| procs[l.proc].resume(&l.user, limit))
            .buffer_unordered(batch.max(1))
            .collect()
            .await;
        results.into_iter().collect::<Res<()>>()?;
        fleet.linked = linked;
        Ok(fleet)
    }

    /// Waits until every linked device has uploaded its pre-keys and acknowledged everything
    /// the server queued for it (the key share, the history sync). Returns how many were still
    /// busy when `limit` passed.
    pub async fn wait_idle(&self, fake: &FakeWhatsApp, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            let busy = self
                .linked
                .iter()
                .filter(|l| {
                    fake.prekey_count(&l.user, l.device) == 0 || fake.queued(&l.user, l.device) > 0
                })
                .count();
            if busy == 0 || Instant::now() >= deadline {
                return busy;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// RSS growth since the baseline, summed over the processes that host an account, each
    /// sampled after a full collection (a no-op for ours).
    pub async fn rss_growth(&self) -> Res<Growth> {
        let mut growth = Growth::default();
        for (i, p) in self.procs.iter().enumerate() {
            if !self.linked.iter().any(|l| l.proc == i) {
                continue;
            }
            p.gc().await?;
            let now = procfs::rss(p.pid)?;
            let base = self.baseline[i];
            growth.total_kib += i64::try_from(now.total)? - i64::try_from(base.total)?;
            growth.file_kib += i64::try_from(now.file)? - i64::try_from(base.file)?;
            if let Some(h) = p.seen(|s| s.heap_kib) {
                *growth.heap_kib.get_or_insert(0) += h;
            }
        }
        Ok(growth)
    }

    /// Ends every linked account's connection (credentials kept).
    pub async fn stop_all(&self, limit: Duration) -> Res<()> {
        let procs = &self.procs;
        let results: Vec<Res<()>> = futures_util::stream::iter(self.linked.iter())
            .map(|l| procs[l.proc].stop(&l.user, limit))
            .buffer_unordered(16)
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// Reconnects every stopped account and waits until each process has stored (ours) or
    /// emitted (Baileys) `expected[proc]` new texts. Returns the wall time from the command to
    /// the last process done, or, past `limit`, how many arrived in that time.
    pub async fn drain(&self, expected: &[u64], limit: Duration) -> Res<Drained> {
        let started = Instant::now();
        for (p, want) in self.procs.iter().zip(expected) {
            if *want > 0 {
                p.send(&format!("drain {want}")).await?;
            }
        }
        let deadline = tokio::time::Instant::now() + limit;
        let mut from_login_ms = 0u64;
        for (p, want) in self.procs.iter().zip(expected) {
            if *want == 0 {
                continue;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match p.wait("the drain's end", left, |s| s.drained).await {
                Ok((_, _, login_ms)) => from_login_ms = from_login_ms.max(login_ms),
                Err(_) if !p.seen(|s| s.exited) => {
                    let mut stored = 0;
                    for p in &self.procs {
                        stored += p.count().await.unwrap_or(0);
                    }
                    return Ok(Drained::Unfinished {
                        stored,
                        secs: started.elapsed().as_secs_f64(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Drained::Done {
            secs: started.elapsed().as_secs_f64(),
            from_login_secs: from_login_ms as f64 / 1000.0,
        })
    }

    /// CPU seconds the client processes used so far.
    pub fn cpu_seconds(&self) -> f64 {
        self.procs
            .iter()
            .filter_map(|p| procfs::cpu_seconds(&p.pid.to_string()).ok())
            .sum()
    }

    pub fn procs(&self) -> usize {
        self.procs.len()
    }

    pub async fn quit(self) {
        for p in self.procs {
            p.quit().await;
        }
    }
}

/// RSS growth of a fleet's processes (KiB).
#[derive(Debug, Clone, Copy, Default)]
pub struct Growth {
    pub total_kib: i64,
    /// Of which file-backed (code paged in).
    pub file_kib: i64,
    /// Node only: V8 heap in use after a full collection, summed over the processes.
    pub heap_kib: Option<u64>,
}

#[derive(Debug, Clone, Copy)]
pub enum Drained {
    Done { secs: f64, from_login_secs: f64 },
    Unfinished { stored: u64, secs: f64 },
}
