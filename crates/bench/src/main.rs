//! `engine-bench`: our WhatsApp engine against Baileys 7.0.0-rc14, both linked to the same
//! offline WhatsApp in one run, measuring what issue 9 asks: resident memory per idle linked
//! account (at 1, 100 and 500 accounts) and inbound messages decrypted + stored per second.
//!
//! Method (see also the README's "Benchmarks" and ARCHITECTURE's decision log):
//!
//! - The offline WhatsApp runs in this process; each client runs in its own: our engine in a
//!   re-exec of this binary (`engine-bench engine-child`, [`engine_child`]), Baileys in node
//!   processes (`baileys/client.mjs`). So neither side's figure includes the fake, and each
//!   process's RSS (`/proc/<pid>/status` VmRSS) is compared with its own baseline taken before
//!   its first account (runtime, database pool or Baileys' modules loaded). Node processes get a
//!   full GC before every sample (`--expose-gc`), so Baileys is charged for live memory only.
//! - Accounts link by QR: the client reports each QR, the account's scripted phone scans it.
//!   Idle = every device has uploaded its pre-keys and acknowledged everything queued for it
//!   (the app-state key share and history sync), plus `--settle` seconds. After the last size
//!   the processes restart and log the accounts in from stored credentials, and memory is
//!   sampled again (pairing leaves a lot behind in node's RSS; a server that has been up a
//!   while no longer carries it).
//! - Throughput: a backlog queued on the fake while the clients are offline, drained on
//!   reconnect, counted when stored (ours: after the commit; Baileys: `messages.upsert`).
//! - Stores are what each runs in production: ours PostgreSQL (`PgAccountStore`, encrypted
//!   keys, leads) — the MemoryStore figure is shown beside it — and Baileys'
//!   `useMultiFileAuthState`.

mod child;
mod engine_child;
mod fleet;
mod options;
mod phases;
mod procfs;
mod report;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use fake_whatsapp::{Config, FakeWhatsApp};

use crate::fleet::{Launch, Side};
use crate::options::Options;
use crate::phases::{memory, throughput};

pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

static STARTED: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

/// A progress line on stderr, with the time since start.
pub fn progress(line: &str) {
    let t = STARTED.get_or_init(Instant::now).elapsed().as_secs_f64();
    eprintln!("[{t:7.1}s] {line}");
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("engine-child") {
        return match engine_child::main(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("engine-child: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let opts = match Options::parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("engine-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("engine-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(opts: Options) -> Res<()> {
    STARTED.get_or_init(Instant::now);
    let date = chrono::Local::now().format("%Y-%m-%d %H:%M %Z");
    let machine = procfs::machine();
    let load_before = procfs::load();
    progress(&format!(
        "engine-bench on {machine}, {date}, load {load_before}; {opts:?}"
    ));
    let fake = Arc::new(FakeWhatsApp::start(Config::default()).await?);
    let database = store::test_support::fresh_database().await?;
    let auth_dir = opts
        .auth_dir
        .join(format!("engine-bench-{}", std::process::id()));
    let launch = Launch {
        fake_url: fake.url(),
        root_key: fake.root_public_key(),
        database,
        session_key: random_key(),
        node: opts.node.clone(),
        auth_dir: auth_dir.clone(),
    };
    let result = measure(&opts, &launch, &fake).await;
    // Baileys' auth folders: ~800 files per account.
    progress("removing the Baileys auth folders");
    let _ = std::fs::remove_dir_all(&auth_dir);
    progress("done");
    let results = result?;
    println!(
        "\nengine-bench — {date}; {machine}; 1-min load average {load_before} at start, {} at end\n\
         accounts {:?}, {} inbound texts over {} accounts, Baileys in {} node process(es)\n",
        procfs::load(),
        opts.accounts,
        opts.messages,
        opts.throughput_accounts,
        opts.baileys_procs
    );
    print!("{}", report::render(&results));
    // Our side failing is a failure to run (a bug); Baileys not completing is a result.
    let ours_failed = results
        .ours_memory
        .iter()
        .flat_map(|m| &m.points)
        .any(|p| p.result.is_err())
        || [&results.ours_pg, &results.ours_mem]
            .into_iter()
            .flatten()
            .any(|r| r.per_sec().is_none());
    if ours_failed {
        return Err("our engine did not complete every measurement (see the table)".into());
    }
    Ok(())
}

/// A fresh AES-256 key for the engine's secrets in this run's database.
fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key
}

async fn measure(
    opts: &Options,
    launch: &Launch,
    fake: &Arc<FakeWhatsApp>,
) -> Res<report::Results> {
    let baileys = !opts.skip_baileys;
    let mut r = report::Results::default();
    if opts.memory {
        r.ours_memory = Some(memory(Side::Ours, opts, launch, fake).await?);
        if baileys {
            r.baileys_memory = Some(memory(Side::Baileys, opts, launch, fake).await?);
        }
    }
    if opts.throughput {
        r.ours_pg = Some(throughput(Side::Ours, "pg", 3, opts, launch, fake).await?);
        r.ours_mem = Some(throughput(Side::Ours, "mem", 4, opts, launch, fake).await?);
        if baileys {
            r.baileys_rate = Some(throughput(Side::Baileys, "files", 5, opts, launch, fake).await?);
        }
    }
    Ok(r)
}
