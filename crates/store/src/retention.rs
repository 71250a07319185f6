//! The retention purge: deletes what each user's settings say is too old, in bounded batches.
//!
//! Each batch is one short transaction that takes at most `batch` rows `FOR UPDATE SKIP LOCKED`
//! (see migration …_retention_and_erasure.sql), so the purge never holds many locks at once,
//! never waits for a sender or reader, and any number of server instances can purge at the same
//! time without deleting a row twice or blocking each other. Queued messages are never purged.
//! Media files older than the media period leave their message (which keeps its caption): the
//! row says the file was removed and why, and the media clean-up deletes the file from storage.

use crate::{Store, StoreError};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// What one purge run deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub messages: u64,
    pub leads: u64,
    /// Messages that went with the purged leads.
    pub lead_messages: u64,
    /// Media files removed from their (kept) messages.
    pub media: u64,
    pub batches: u64,
    /// Per user: media files removed.
    pub media_per_user: BTreeMap<Uuid, u64>,
    /// Per user: (messages, leads, lead messages).
    pub per_user: BTreeMap<Uuid, (u64, u64, u64)>,
    pub elapsed: Duration,
}

#[derive(sqlx::FromRow)]
struct Deleted {
    user_id: Uuid,
    deleted: i64,
}

#[derive(sqlx::FromRow)]
struct LeadPurged {
    user_id: Uuid,
    messages: i64,
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Store {
    /// One purge batch of old messages (at most `batch` rows): (user, deleted) pairs.
    pub async fn retention_purge_messages_batch(
        &self,
        batch: i32,
    ) -> Result<Vec<(Uuid, u64)>, StoreError> {
        let rows: Vec<Deleted> =
            sqlx::query_as("SELECT user_id, deleted FROM app_api.retention_purge_messages($1)")
                .bind(batch.max(1))
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.user_id, count(r.deleted)))
            .collect())
    }

    /// Runs the purge to the end: batches of old messages, then batches of closed leads, until a
    /// batch comes back short. Each user who lost anything gets one `retention_purge` audit entry
    /// with the counts.
    pub async fn retention_purge(&self, batch: i32) -> Result<PurgeReport, StoreError> {
        let batch = batch.max(1);
        let started = Instant::now();
        let mut report = PurgeReport::default();
        loop {
            let rows = self.retention_purge_messages_batch(batch).await?;
            report.batches += 1;
            let mut total = 0;
            for (user, n) in rows {
                total += n;
                report.per_user.entry(user).or_default().0 += n;
            }
            report.messages += total;
            if total < u64::try_from(batch).unwrap_or(1) {
                break;
            }
        }
        loop {
            let rows: Vec<LeadPurged> =
                sqlx::query_as("SELECT user_id, messages FROM app_api.retention_purge_leads($1)")
                    .bind(batch)
                    .fetch_all(&self.pool)
                    .await?;
            report.batches += 1;
            let n = rows.len();
            for row in rows {
                let entry = report.per_user.entry(row.user_id).or_default();
                entry.1 += 1;
                entry.2 += count(row.messages);
                report.leads += 1;
                report.lead_messages += count(row.messages);
            }
            if n < usize::try_from(batch).unwrap_or(1) {
                break;
            }
        }
        loop {
            let rows: Vec<(Uuid, i64)> =
                sqlx::query_as("SELECT user_id, removed FROM app_api.retention_purge_media($1)")
                    .bind(batch)
                    .fetch_all(&self.pool)
                    .await?;
            report.batches += 1;
            let mut total = 0;
            for (user, n) in rows {
                total += count(n);
                *report.media_per_user.entry(user).or_default() += count(n);
            }
            report.media += total;
            if total < u64::try_from(batch).unwrap_or(1) {
                break;
            }
        }
        let users: std::collections::BTreeSet<Uuid> = report
            .per_user
            .keys()
            .chain(report.media_per_user.keys())
            .copied()
            .collect();
        for user in &users {
            let (messages, leads, lead_messages) =
                report.per_user.get(user).copied().unwrap_or_default();
            let details = serde_json::json!({
                "messages": messages,
                "closed_leads": leads,
                "closed_lead_messages": lead_messages,
                "media_files": report.media_per_user.get(user).copied().unwrap_or_default(),
            });
            sqlx::query("SELECT app_api.audit_retention_purge($1, $2)")
                .bind(user)
                .bind(details)
                .execute(&self.pool)
                .await?;
        }
        report.elapsed = started.elapsed();
        Ok(report)
    }
}
