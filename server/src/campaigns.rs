//! The campaign runner: a task that moves every running campaign on (see `store::CampaignRunner`
//! for what one step does and why it is safe with several instances and across crashes).
//!
//! It looks for due campaigns at least every [`SCAN`] (a new or resumed campaign starts within
//! that), and sooner when a campaign asked for it (its next account is free in 200 ms). The
//! messages it queues wake the accounts' senders through the outbox notification, like any
//! other queued message.

use std::collections::HashMap;
use std::time::Duration;

use store::{Pace, Store};
use tokio::time::Instant;
use uuid::Uuid;

/// The longest the runner sleeps between looks for due campaigns.
pub const SCAN: Duration = Duration::from_secs(1);
/// The shortest: a campaign asking for "now" again and again cannot spin the CPU.
const MIN_SLEEP: Duration = Duration::from_millis(5);

/// Runs campaigns until aborted. `scale` compresses pacing time (`CAMPAIGN_PACING_SCALE`).
pub fn spawn(store: Store, scale: u64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let runner = store.campaign_runner();
        let pace = Pace {
            scale: scale as f64,
        };
        // When each campaign wants its next step.
        let mut next: HashMap<Uuid, Instant> = HashMap::new();
        let mut last_scan = Instant::now() - SCAN;
        let mut due: Vec<(Uuid, Uuid)> = Vec::new();
        loop {
            let now = Instant::now();
            if now.duration_since(last_scan) >= SCAN {
                match runner.due().await {
                    Ok(list) => {
                        next.retain(|id, _| list.iter().any(|(c, _)| c == id));
                        due = list;
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot list due campaigns; retrying"),
                }
                last_scan = now;
            }
            for &(campaign, user) in &due {
                if next.get(&campaign).is_some_and(|at| *at > now) {
                    continue;
                }
                match runner.tick(campaign, user, pace).await {
                    Ok(outcome) => {
                        if let Some(reason) = &outcome.paused {
                            tracing::info!(%campaign, %reason, "campaign paused itself");
                        }
                        if outcome.completed {
                            tracing::info!(%campaign, "campaign completed");
                        }
                        match outcome.next_tick {
                            Some(after) => {
                                next.insert(campaign, Instant::now() + after);
                            }
                            // Not running here any more, or another instance holds it this moment.
                            None => {
                                next.insert(campaign, Instant::now() + SCAN / 4);
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(%campaign, error = %e, "campaign step failed; retrying");
                        next.insert(campaign, Instant::now() + SCAN);
                    }
                }
            }
            let wake = next
                .values()
                .min()
                .copied()
                .unwrap_or(last_scan + SCAN)
                .min(last_scan + SCAN);
            let sleep = wake
                .saturating_duration_since(Instant::now())
                .max(MIN_SLEEP);
            tokio::time::sleep(sleep).await;
        }
    })
}
