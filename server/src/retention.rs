//! The retention purge job: a background task that deletes what each user's retention settings
//! say is too old (`store::Store::retention_purge`), once a minute after start-up and then every
//! [`PURGE_EVERY`]. Each batch is a short transaction over rows taken `FOR UPDATE SKIP LOCKED`, so
//! any number of server instances can run it at once: they share the rows, never delete one twice
//! and never wait on each other, a sender or a reader. Every run is logged with its counts, and
//! each user who lost data gets a `retention_purge` entry in their audit log.

use std::time::Duration;

use store::{PurgeReport, Store};
use tokio::task::JoinHandle;

/// How often the purge runs.
pub const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// The first run waits this long, so start-up (and the accounts reconnecting) comes first.
const FIRST_RUN_AFTER: Duration = Duration::from_secs(60);
/// Rows per batch (one transaction each).
pub const PURGE_BATCH: i32 = 1000;

/// Starts the job; abort the handle to stop it (at shutdown).
pub fn spawn(store: Store) -> JoinHandle<()> {
    tokio::spawn(async move {
        tokio::time::sleep(FIRST_RUN_AFTER).await;
        let mut every = tokio::time::interval(PURGE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            run_once(&store).await;
        }
    })
}

/// One run, logged; `None` when it failed (the next run starts over, nothing is half-done: each
/// batch commits on its own).
pub async fn run_once(store: &Store) -> Option<PurgeReport> {
    match store.retention_purge(PURGE_BATCH).await {
        Ok(report) => {
            tracing::info!(
                messages = report.messages,
                closed_leads = report.leads,
                closed_lead_messages = report.lead_messages,
                media_files = report.media,
                users = report.per_user.len(),
                batches = report.batches,
                elapsed_ms = u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
                "retention purge finished"
            );
            Some(report)
        }
        Err(e) => {
            tracing::warn!(error = %e, "retention purge failed; it runs again later");
            None
        }
    }
}
