//! Leads at scale, on a real PostgreSQL (`TEST_DATABASE_URL`, a throw-away database):
//!
//! 1. CSV import of 100,000 rows (national numbers with a default country, an extra column):
//!    rows per second, CPU seconds of this process and of PostgreSQL, peak memory.
//! 2. Campaign scheduling overhead: a campaign over all 100,000 leads and one over 1,000, each
//!    ticked until it has queued `MESSAGES` messages from two accounts (pacing compressed so no
//!    tick waits): wall time and CPU per queued message, and this process's memory before and
//!    after — the cost of one send must not grow with the campaign's size.
//!
//! `cargo run --release -p bench --bin leads-bench [-- --rows N --messages M]`

#[path = "cli.rs"]
mod cli;
#[path = "procfs.rs"]
#[allow(dead_code)]
mod procfs;

use std::time::Instant;

use store::{
    EngineCommit, ImportOptions, LeadQuery, NewCampaign, Pace, Pacing, SessionCipher,
    SessionStatusUpdate, Store, StoreConfig,
};
use uuid::Uuid;

use cli::arg;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Peak resident memory of this process so far, KiB (`VmHWM`).
fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn now_kib() -> u64 {
    procfs::rss(std::process::id()).map_or(0, |r| r.total)
}

fn cpu() -> (f64, f64) {
    (
        procfs::cpu_seconds("self").unwrap_or(0.0),
        procfs::cpu_seconds_named("postgres"),
    )
}

async fn active_account(
    store: &Store,
    engine: &store::EngineStore,
    user: Uuid,
    name: &str,
) -> Res<Uuid> {
    let mut tx = store.as_user(user).await?;
    let session = tx.whatsapp_session_create(name).await?.id;
    tx.commit().await?;
    engine
        .commit(
            session,
            user,
            EngineCommit {
                credentials: Some(b"bench".to_vec()),
                ..Default::default()
            },
        )
        .await?;
    engine
        .update_session(
            session,
            SessionStatusUpdate {
                status: Some("active".into()),
                status_reason: Some("linked".into()),
                linked_at: Some(chrono::Utc::now() - chrono::Duration::days(60)),
                ..Default::default()
            },
        )
        .await?;
    Ok(session)
}

/// Ticks `campaign` until it has queued `messages`; returns (wall s, this process CPU s,
/// PostgreSQL CPU s).
async fn schedule(
    store: &Store,
    campaign: Uuid,
    user: Uuid,
    messages: usize,
) -> Res<(f64, f64, f64)> {
    let runner = store.campaign_runner();
    let pace = Pace { scale: 100_000.0 };
    let (cpu0, pg0) = cpu();
    let started = Instant::now();
    let mut queued = 0;
    while queued < messages {
        let outcome = runner.tick(campaign, user, pace).await?;
        queued += outcome.queued.len();
        if outcome.completed || outcome.paused.is_some() {
            return Err(format!("campaign stopped early: {outcome:?}").into());
        }
        if outcome.queued.is_empty()
            && let Some(wait) = outcome.next_tick
        {
            tokio::time::sleep(wait).await;
        }
    }
    let (cpu1, pg1) = cpu();
    Ok((started.elapsed().as_secs_f64(), cpu1 - cpu0, pg1 - pg0))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Res<()> {
    let rows = arg("--rows", 100_000);
    let messages = arg("--messages", 2_000);
    println!("machine: {}", procfs::machine());
    let url = store::test_support::fresh_database().await?;
    let store = Store::connect(&StoreConfig::new(url)).await?;
    let user = store
        .accounts()
        .create_user(
            "bench@example.com",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
        )
        .await?;

    // 1. Import.
    let mut csv = String::with_capacity(rows * 48);
    csv.push_str("Name,Phone,Company,City\n");
    for i in 0..rows {
        csv.push_str(&format!(
            "Lead {i},07{:09},Company {},Town {}\n",
            700_000_000 + i,
            i % 997,
            i % 101
        ));
    }
    let options = ImportOptions {
        default_country: Some("GB".into()),
        ..ImportOptions::default()
    };
    let (cpu0, pg0) = cpu();
    let started = Instant::now();
    let mut tx = store.as_user(user).await?;
    let report = tx.leads_import(csv.as_bytes(), &options).await?;
    tx.commit().await?;
    let wall = started.elapsed().as_secs_f64();
    let (cpu1, pg1) = cpu();
    if report.created != rows || !report.errors.is_empty() {
        return Err(format!(
            "import: {} created, {} errors",
            report.created,
            report.errors.len()
        )
        .into());
    }
    println!(
        "csv import: {rows} rows ({:.1} MB) in {wall:.2} s = {:.0} rows/s; CPU: this process {:.2} s, PostgreSQL {:.2} s; peak RSS {:.1} MiB",
        csv.len() as f64 / 1e6,
        rows as f64 / wall,
        cpu1 - cpu0,
        pg1 - pg0,
        peak_kib() as f64 / 1024.0
    );
    drop(csv);

    // 2. Scheduling overhead, small and large campaigns.
    let engine = store.engine(SessionCipher::new([7; 32]));
    let a = active_account(&store, &engine, user, "Bench A").await?;
    let b = active_account(&store, &engine, user, "Bench B").await?;
    let pacing = Pacing {
        per_minute: 60,
        per_hour: 3600,
        per_day: 20_000,
        first_contact_per_day: 20_000,
        jitter_seconds: 0,
        warm_up: false,
    };
    for size in [1_000, rows] {
        let mut tx = store.as_user(user).await?;
        let ids = tx.lead_ids_matching(&LeadQuery::default()).await?;
        let campaign = tx
            .campaign_create(NewCampaign {
                name: format!("Bench {size}"),
                content: Some("Hi {{first_name}} of {{company}} in {{city}}".into()),
                account_ids: vec![a, b],
                lead_ids: Some(ids.into_iter().take(size).collect()),
                pacing,
                start: true,
                ..NewCampaign::default()
            })
            .await?;
        tx.commit().await?;
        let count = messages.min(size);
        let before = now_kib();
        let (wall, cpu_s, pg_s) = schedule(&store, campaign.id, user, count).await?;
        let after = now_kib();
        println!(
            "campaign of {size} leads: {count} messages queued in {wall:.2} s = {:.2} ms/message; CPU per message: this process {:.3} ms, PostgreSQL {:.3} ms; RSS {:.1} → {:.1} MiB",
            wall * 1000.0 / count as f64,
            cpu_s * 1000.0 / count as f64,
            pg_s * 1000.0 / count as f64,
            before as f64 / 1024.0,
            after as f64 / 1024.0
        );
        let mut tx = store.as_user(user).await?;
        tx.campaign_cancel(campaign.id).await?;
        tx.commit().await?;
    }
    Ok(())
}
