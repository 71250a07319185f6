//! The two measurements, run the same way for each side.
//!
//! - [`memory`]: one fleet links accounts up to each checkpoint (1, 100, 500 …), waits until
//!   they are idle (pre-keys uploaded, nothing left in their offline queues), lets them settle,
//!   and samples resident memory: (RSS − baseline) / N. Then its processes restart, log every
//!   account in again from stored credentials, and the same is sampled once more: what a
//!   server that has been up a while pays, without the one-off work of pairing.
//! - [`throughput`]: a fresh fleet links a few accounts, disconnects them, the contacts' phones
//!   queue a backlog of texts for them on the offline WhatsApp (already encrypted, so the fake's
//!   work during the measurement is only writing them out), and the fleet reconnects: the time
//!   from "reconnect" to the last text stored (ours) or emitted by `messages.upsert` (Baileys).

use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_whatsapp::FakeWhatsApp;
use futures_util::StreamExt;

use crate::fleet::{Drained, Fleet, Launch, Side};
use crate::options::Options;
use crate::{Res, procfs, progress};

/// Fake account numbers: `16<group><index>` for linked accounts, `17<group><index>` for the
/// contacts that message them; LIDs swap the leading 1 for a 2.
fn number(prefix: &str, group: u8, i: usize) -> String {
    format!("{prefix}{group}{i:07}")
}

fn add_accounts(fake: &FakeWhatsApp, users: &[String]) -> Res<()> {
    for user in users {
        let lid = format!("2{}", &user[1..]);
        fake.add_account(user, &lid, &format!("Bench {user}"))?;
    }
    Ok(())
}

fn store_of(side: Side) -> &'static str {
    match side {
        Side::Ours => "pg",
        Side::Baileys => "files",
    }
}

/// One idle-memory checkpoint.
#[derive(Debug, Clone)]
pub struct MemPoint {
    pub accounts: usize,
    pub result: Result<MemSample, String>,
}

#[derive(Debug, Clone)]
pub struct MemSample {
    pub kib_per_account: f64,
    pub growth_kib: i64,
    /// Of which file-backed: program code paged in on first use (part of the RSS, shared with
    /// any other process running the same program).
    pub file_kib: i64,
    /// Node only: V8 heap in use after a full collection, summed over the processes.
    pub heap_kib: Option<u64>,
    /// Time to link the accounts added for this checkpoint.
    pub link_secs: f64,
    /// Accounts not yet idle when the wait for idleness gave up (0 normally).
    pub busy: usize,
}

#[derive(Debug, Clone)]
pub struct Memory {
    pub procs: usize,
    pub baseline_kib: u64,
    pub points: Vec<MemPoint>,
    /// All accounts again after the processes restarted (`None` when linking failed).
    pub restart: Option<MemPoint>,
    /// Idle accounts added to a process that already has one (see [`beyond_first`]).
    pub beyond: MemPoint,
}

pub async fn memory(
    side: Side,
    opts: &Options,
    launch: &Launch,
    fake: &Arc<FakeWhatsApp>,
) -> Res<Memory> {
    let (procs, group) = match side {
        Side::Ours => (1, 1),
        Side::Baileys => (opts.baileys_procs, 2),
    };
    let beyond = beyond_first(side, opts, launch, fake).await?;
    let mut fleet = Fleet::start(side, procs, launch, fake, "memory").await?;
    let baseline_kib = fleet.baseline_kib();
    progress(&format!(
        "{}: memory phase, {} process(es), baseline {} KiB",
        side.name(),
        fleet.procs(),
        baseline_kib
    ));
    let mut points = Vec::new();
    let mut failed: Option<String> = None;
    for &n in &opts.accounts {
        if let Some(why) = &failed {
            points.push(MemPoint {
                accounts: n,
                result: Err(format!("not attempted ({why})")),
            });
            continue;
        }
        let users: Vec<String> = (fleet.linked.len()..n)
            .map(|i| number("16", group, i))
            .collect();
        add_accounts(fake, &users)?;
        let started = Instant::now();
        if let Err(e) = fleet
            .link(&users, store_of(side), opts.link_batch, opts.link_timeout)
            .await
        {
            let why = format!(
                "linking {n} accounts failed after {:.0} s: {e}",
                started.elapsed().as_secs_f64()
            );
            progress(&format!("{}: {why}", side.name()));
            failed = Some(format!("{n} accounts did not link"));
            points.push(MemPoint {
                accounts: n,
                result: Err(why),
            });
            continue;
        }
        let sample = idle_sample(&fleet, fake, opts, started).await?;
        progress(&format!(
            "{}: {n} idle accounts (+{} linked in {:.1} s{}): RSS +{} KiB, {:.1} KiB per account",
            side.name(),
            users.len(),
            sample.link_secs,
            if sample.busy > 0 {
                format!(", {} still busy", sample.busy)
            } else {
                String::new()
            },
            sample.growth_kib,
            sample.kib_per_account
        ));
        points.push(MemPoint {
            accounts: n,
            result: Ok(sample),
        });
    }
    // The steady state of a server: the same accounts after a restart, logged in from stored
    // credentials (no pairing, so nothing of its one-off work is left in the figure).
    let n = fleet.linked.len();
    let mut restart = None;
    if failed.is_none() && n > 0 {
        let started = Instant::now();
        match fleet
            .restart(
                side,
                launch,
                fake,
                "memory",
                opts.link_batch,
                opts.link_timeout,
            )
            .await
        {
            Ok(again) => {
                fleet = again;
                let sample = idle_sample(&fleet, fake, opts, started).await?;
                progress(&format!(
                    "{}: after a restart, {n} accounts logged in again in {:.1} s: RSS +{} KiB, {:.1} KiB per account",
                    side.name(),
                    sample.link_secs,
                    sample.growth_kib,
                    sample.kib_per_account
                ));
                restart = Some(MemPoint {
                    accounts: n,
                    result: Ok(sample),
                });
            }
            Err(e) => {
                progress(&format!("{}: the restart failed: {e}", side.name()));
                return Ok(Memory {
                    procs,
                    baseline_kib,
                    points,
                    restart: Some(MemPoint {
                        accounts: n,
                        result: Err(format!("logging in again failed: {e}")),
                    }),
                    beyond,
                });
            }
        }
    }
    fleet.quit().await;
    progress(&format!("{}: memory phase over", side.name()));
    Ok(Memory {
        procs,
        baseline_kib,
        points,
        restart,
        beyond,
    })
}

/// Accounts added after the first in [`beyond_first`].
const MORE: usize = 10;

/// The memory of idle accounts themselves: a single process links one account, waits until it
/// is idle, then links [`MORE`] more; the sample is what those added, per account. The N=1
/// checkpoint also carries what a process pays once, at its first account (program code paged in
/// on first use, the first connection's buffers, node's compiled code), which no further account
/// pays again; averaging over several keeps one account's noise (a collection, an arena) from
/// deciding the figure. Same steps for both sides, one process each.
async fn beyond_first(
    side: Side,
    opts: &Options,
    launch: &Launch,
    fake: &Arc<FakeWhatsApp>,
) -> Res<MemPoint> {
    let group = match side {
        Side::Ours => 6,
        Side::Baileys => 7,
    };
    let users: Vec<String> = (0..=MORE).map(|i| number("16", group, i)).collect();
    add_accounts(fake, &users)?;
    let mut fleet = Fleet::start(side, 1, launch, fake, "beyond-first").await?;
    let result = async {
        fleet
            .link(&users[..1], store_of(side), 1, opts.link_timeout)
            .await
            .map_err(|e| format!("linking the first account failed: {e}"))?;
        let first = idle_sample(&fleet, fake, opts, Instant::now())
            .await
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        fleet
            .link(
                &users[1..],
                store_of(side),
                opts.link_batch,
                opts.link_timeout,
            )
            .await
            .map_err(|e| format!("linking {MORE} more accounts failed: {e}"))?;
        let all = idle_sample(&fleet, fake, opts, started)
            .await
            .map_err(|e| e.to_string())?;
        let added = all.growth_kib - first.growth_kib;
        Ok(MemSample {
            kib_per_account: added as f64 / MORE as f64,
            growth_kib: added,
            file_kib: all.file_kib - first.file_kib,
            heap_kib: all
                .heap_kib
                .zip(first.heap_kib)
                .map(|(b, f)| b.saturating_sub(f)),
            link_secs: all.link_secs,
            busy: all.busy,
        })
    }
    .await;
    fleet.quit().await;
    if let Ok(s) = &result {
        progress(&format!(
            "{}: {MORE} idle accounts added to a process with one: RSS {:+} KiB (file-backed {:+} KiB), {:.1} KiB per account",
            side.name(),
            s.growth_kib,
            s.file_kib,
            s.kib_per_account
        ));
    }
    Ok(MemPoint {
        accounts: MORE,
        result,
    })
}

/// Once every account of `fleet` is idle and `--settle` has passed: RSS growth per account.
/// `started`: when the accounts began linking (or logging in).
async fn idle_sample(
    fleet: &Fleet,
    fake: &FakeWhatsApp,
    opts: &Options,
    started: Instant,
) -> Res<MemSample> {
    let link_secs = started.elapsed().as_secs_f64();
    let busy = fleet.wait_idle(fake, Duration::from_secs(120)).await;
    tokio::time::sleep(opts.settle).await;
    let growth = fleet.rss_growth().await?;
    Ok(MemSample {
        kib_per_account: growth.total_kib as f64 / fleet.linked.len().max(1) as f64,
        growth_kib: growth.total_kib,
        file_kib: growth.file_kib,
        heap_kib: growth.heap_kib,
        link_secs,
        busy,
    })
}

#[derive(Debug, Clone)]
pub struct Rate {
    pub procs: usize,
    pub accounts: usize,
    pub messages: usize,
    /// How long the contacts' phones took to encrypt and queue the backlog.
    pub queue_secs: f64,
    /// CPU during the drain, in cores: the parent (≈ the fake), the client processes, and every
    /// process named `postgres` (the database server, for ours).
    pub fake_cores: f64,
    pub client_cores: f64,
    pub postgres_cores: f64,
    pub result: Result<Drained, String>,
}

impl Rate {
    pub fn per_sec(&self) -> Option<f64> {
        match self.result {
            Ok(Drained::Done { secs, .. }) => Some(self.messages as f64 / secs),
            _ => None,
        }
    }
}

pub async fn throughput(
    side: Side,
    store: &str,
    group: u8,
    opts: &Options,
    launch: &Launch,
    fake: &Arc<FakeWhatsApp>,
) -> Res<Rate> {
    let procs = match side {
        Side::Ours => 1,
        Side::Baileys => opts.baileys_procs.min(opts.throughput_accounts),
    };
    let a = opts.throughput_accounts;
    let k = opts.messages;
    let mut rate = Rate {
        procs,
        accounts: a,
        messages: k,
        queue_secs: 0.0,
        fake_cores: 0.0,
        client_cores: 0.0,
        postgres_cores: 0.0,
        result: Err(String::new()),
    };
    let users: Vec<String> = (0..a).map(|i| number("16", group, i)).collect();
    let contacts: Vec<String> = (0..a).map(|i| number("17", group, i)).collect();
    add_accounts(fake, &users)?;
    add_accounts(fake, &contacts)?;
    let mut fleet = Fleet::start(side, procs, launch, fake, &format!("rate-{store}")).await?;
    if let Err(e) = fleet
        .link(&users, store, opts.link_batch, opts.link_timeout)
        .await
    {
        rate.result = Err(format!("linking {a} accounts failed: {e}"));
        fleet.quit().await;
        return Ok(rate);
    }
    fleet.wait_idle(fake, Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    fleet.stop_all(Duration::from_secs(60)).await?;
    fake.wait_until("every client offline", Duration::from_secs(30), |f| {
        f.connections() == 0
    })
    .await?;

    // The backlog: account i gets its share of the texts from its own contact.
    let share = |i: usize| k / a + usize::from(i < k % a);
    let started = Instant::now();
    let queued: Vec<Res<()>> = futures_util::stream::iter(0..a)
        .map(|i| {
            let (user, contact) = (&users[i], &contacts[i]);
            async move {
                let phone = fake
                    .account(contact)
                    .ok_or_else(|| format!("no contact {contact}"))?;
                for seq in 0..share(i) {
                    phone
                        .send_text(user, &format!("bench {seq} from {contact} ✓"))
                        .await?;
                }
                Res::Ok(())
            }
        })
        .buffer_unordered(a)
        .collect()
        .await;
    queued.into_iter().collect::<Res<()>>()?;
    rate.queue_secs = started.elapsed().as_secs_f64();
    let mut expected = vec![0u64; fleet.procs()];
    for l in &fleet.linked {
        if let Some(i) = users.iter().position(|u| *u == l.user) {
            expected[l.proc] += share(i) as u64;
        }
    }
    progress(&format!(
        "{} ({store}): {k} texts queued for {a} offline accounts in {:.2} s ({:.0}/s); reconnecting",
        side.name(),
        rate.queue_secs,
        k as f64 / rate.queue_secs.max(1e-9)
    ));

    let cpu = || -> Res<(f64, f64, f64)> {
        Ok((
            procfs::cpu_seconds("self")?,
            fleet.cpu_seconds(),
            procfs::cpu_seconds_named("postgres"),
        ))
    };
    let before = cpu()?;
    let drained = fleet.drain(&expected, opts.drain_timeout).await?;
    let after = cpu()?;
    let secs = match drained {
        Drained::Done { secs, .. } | Drained::Unfinished { secs, .. } => secs,
    }
    .max(1e-9);
    rate.fake_cores = (after.0 - before.0) / secs;
    rate.client_cores = (after.1 - before.1) / secs;
    rate.postgres_cores = (after.2 - before.2) / secs;
    match drained {
        Drained::Done {
            secs,
            from_login_secs,
        } => progress(&format!(
            "{} ({store}): {k} texts stored in {secs:.2} s ({:.0}/s; {from_login_secs:.2} s from the first login); cores used: client {:.2}, fake {:.2}, postgres {:.2}",
            side.name(),
            k as f64 / secs,
            rate.client_cores,
            rate.fake_cores,
            rate.postgres_cores
        )),
        Drained::Unfinished { stored, secs } => progress(&format!(
            "{} ({store}): only {stored} of {k} texts within {secs:.0} s",
            side.name()
        )),
    }
    rate.result = Ok(drained);
    fleet.quit().await;
    Ok(rate)
}
