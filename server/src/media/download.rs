//! The eager downloader: every received media file is fetched from WhatsApp's media host as soon
//! as its message is stored (WhatsApp's URLs expire), decrypted into a temporary file, verified
//! (MAC, `fileEncSha256`, `fileSha256`), and only then put in our storage under its hash.
//!
//! Work comes from the database (`store::EngineStore::media_claim_due`), so a crash or restart
//! loses nothing and several instances share it; a new message wakes the loop at once (the hub's
//! message events), and a poll catches the rest.
//!
//! - Verification failed (tampered, wrong hash, truncated, more bytes than announced): `failed`
//!   with the reason; nothing of the file is kept.
//! - Gone from the host (404/410, the URL expired): the media retry receipt asks the sender's
//!   phone to upload it again; its answer (a new direct path) is stored and the download retried.
//! - Anything else (network, the host's 5xx, our storage): tried again with backoff, then
//!   `failed` after [`MAX_ATTEMPTS`].

use std::path::PathBuf;
use std::time::Duration;

use sessions::{MediaDescriptor, MediaTransferError, Sessions};
use store::{EngineStore, MediaJob, MediaOutcome};

use super::storage::MediaStorage;

/// Attempts before a download is given up.
pub const MAX_ATTEMPTS: i32 = 8;
/// How long a claimed download is not handed to anyone else (an instance that dies mid-download
/// gives it back after this).
const LEASE: Duration = Duration::from_secs(15 * 60);
/// Downloads running at once per instance.
const PARALLEL: usize = 4;
/// How often the queue is read when nothing woke the loop.
const POLL: Duration = Duration::from_secs(5);
/// The largest file downloaded (WhatsApp's own maximum is 2 GB, for documents).
pub const MAX_DOWNLOAD: u64 = 2 * 1024 * 1024 * 1024;

#[derive(Clone)]
pub struct Downloader {
    pub engine: EngineStore,
    pub sessions: Sessions,
    pub storage: MediaStorage,
    pub tmp: PathBuf,
}

fn backoff(attempts: i32) -> Duration {
    let exp = u32::try_from(attempts.clamp(1, 12) - 1).unwrap_or(0);
    Duration::from_secs((10u64 << exp).min(3600))
}

impl Downloader {
    /// Runs for the life of the process (abort the handle at shutdown).
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut events = self.sessions.hub().subscribe();
            loop {
                let jobs = match self
                    .engine
                    .media_claim_due(PARALLEL as i32 * 2, LEASE)
                    .await
                {
                    Ok(jobs) => jobs,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the media download queue");
                        Vec::new()
                    }
                };
                let busy = !jobs.is_empty();
                use futures_util::StreamExt as _;
                futures_util::stream::iter(jobs)
                    .for_each_concurrent(PARALLEL, |job| {
                        let this = self.clone();
                        async move { this.run(job).await }
                    })
                    .await;
                if busy {
                    continue;
                }
                // Sleep until a message arrives (it may carry media) or the poll is due.
                let _ = tokio::time::timeout(POLL, async {
                    loop {
                        match events.recv().await {
                            Ok(e) if matches!(e.event, sessions::AccountEvent::Message { .. }) => {
                                break;
                            }
                            Ok(_) => {}
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                                std::future::pending::<()>().await;
                            }
                        }
                    }
                })
                .await;
            }
        })
    }

    async fn run(&self, job: MediaJob) {
        let outcome = self.attempt(&job).await;
        if let MediaOutcome::Failed { reason } = &outcome {
            tracing::info!(message = %job.message_row_id, %reason, "media download failed");
        }
        if let Err(e) = self.engine.media_settle(&job, outcome).await {
            tracing::warn!(error = %e, message = %job.message_row_id, "cannot record a media download");
        }
    }

    /// One attempt at a claimed download; what to record.
    pub async fn attempt(&self, job: &MediaJob) -> MediaOutcome {
        let later = |reason: String| {
            if job.attempts >= MAX_ATTEMPTS {
                MediaOutcome::Failed { reason }
            } else {
                MediaOutcome::Later {
                    after: backoff(job.attempts),
                    reason,
                    descriptor: None,
                }
            }
        };
        let detail = match self.engine.media_job(job).await {
            Ok(Some(d)) if d.state == "pending" => d,
            // Deleted meanwhile, or settled by another instance: nothing to record.
            Ok(_) => {
                return MediaOutcome::Later {
                    after: LEASE,
                    reason: "no longer pending".into(),
                    descriptor: None,
                };
            }
            Err(e) => return later(format!("database: {e}")),
        };
        let Some(media) = detail
            .descriptor
            .as_deref()
            .and_then(MediaDescriptor::decode)
        else {
            return MediaOutcome::Failed {
                reason: "the message's description of its file is unreadable".into(),
            };
        };
        if media.file_length > MAX_DOWNLOAD {
            return MediaOutcome::Failed {
                reason: format!(
                    "the file is {} bytes, more than the {MAX_DOWNLOAD} kept",
                    media.file_length
                ),
            };
        }
        let http = match self.sessions.media_http() {
            Ok(h) => h,
            Err(e) => return later(e.to_string()),
        };
        let temp = match tempfile::NamedTempFile::new_in(&self.tmp) {
            Ok(t) => t,
            Err(e) => return later(format!("temporary file: {e}")),
        };
        let (file, path) = temp.into_parts();
        let mut sink = tokio::fs::File::from_std(file);
        match http.download_and_decrypt(&media, &mut sink).await {
            Ok(info) => {
                drop(sink);
                let sha256 = hex::encode(info.file_sha256);
                match self.storage.put_file(job.user_id, &sha256, &path).await {
                    Ok(()) => MediaOutcome::Stored { sha256 },
                    Err(e) => later(format!("storage: {e}")),
                }
            }
            Err(MediaTransferError::Invalid(e)) => MediaOutcome::Failed {
                reason: e.to_string(),
            },
            Err(e @ (MediaTransferError::Oversized(_) | MediaTransferError::NoUrl)) => {
                MediaOutcome::Failed {
                    reason: e.to_string(),
                }
            }
            Err(MediaTransferError::Expired(status)) => {
                self.reupload(job, &detail, media, status).await
            }
            // The host's answer is not repeated to the user (only its status).
            Err(MediaTransferError::Status { status, .. }) => {
                later(format!("the media host answered HTTP {status}"))
            }
            Err(e) => later(e.to_string()),
        }
    }

    /// The URL expired: ask the sender's phone for a new upload.
    async fn reupload(
        &self,
        job: &MediaJob,
        detail: &store::MediaJobDetail,
        media: MediaDescriptor,
        status: u16,
    ) -> MediaOutcome {
        let expired = format!("the media host no longer has the file (HTTP {status})");
        let (Some(message_id), Some(chat)) = (&detail.message_id, &detail.contact_jid) else {
            return MediaOutcome::Failed { reason: expired };
        };
        let answer = self
            .sessions
            .retry_media(
                job.user_id,
                job.session_id,
                message_id,
                chat,
                detail.direction == "out",
                media,
            )
            .await;
        match answer {
            Ok(fresh) => MediaOutcome::Later {
                after: Duration::from_secs(1),
                reason: "uploaded again by the sender's phone".into(),
                descriptor: Some(fresh.encode()),
            },
            Err(e) if job.attempts >= 3 => MediaOutcome::Failed {
                reason: format!("{expired}, and the sender's phone did not upload it again: {e}"),
            },
            Err(e) => MediaOutcome::Later {
                after: backoff(job.attempts),
                reason: format!("{expired}; asking the sender's phone again: {e}"),
                descriptor: None,
            },
        }
    }
}

/// Deletes files nothing uses any more (see `store::media`), every minute.
pub fn spawn_cleanup(engine: EngineStore, storage: MediaStorage) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let orphans = match engine.media_orphans(200, Duration::from_secs(60)).await {
                Ok(o) => o,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read unused media files");
                    continue;
                }
            };
            for (user_id, sha256) in orphans {
                let storage = storage.clone();
                let sha = sha256.clone();
                let result = engine
                    .media_release_orphan(user_id, &sha256, || async move {
                        storage.delete(user_id, &sha).await
                    })
                    .await;
                if let Err(e) = result {
                    tracing::warn!(error = %e, "cannot release an unused media file");
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_secs(10));
        assert_eq!(backoff(2), Duration::from_secs(20));
        assert_eq!(backoff(MAX_ATTEMPTS), Duration::from_secs(1280));
        assert_eq!(backoff(50), Duration::from_secs(3600));
    }
}
