//! Media messages' files: the `whatsapp_media` row beside a message (what the file is, where it is
//! in our storage, WhatsApp's descriptor of it) and the downloader's queue.
//!
//! The bytes are not here: the server's media storage keeps them under `(user_id, sha256)`. What
//! the store guarantees is the bookkeeping around them:
//!
//! - a received media message gets its row in the same transaction as the message (state
//!   `pending`, due now), so a crash never loses the download; the downloader claims due rows
//!   through `app_api.media_claim_due` (any instance, `SKIP LOCKED`, a lease pushed ahead) and
//!   settles each as `stored`, `failed` (with the reason) or due again later;
//! - an outgoing media message is stored (message + row + descriptor) in one transaction, after its
//!   file is in storage and uploaded to WhatsApp, so the engine never sees half of it;
//! - a file is shared by every row of one user with its hash; the last row's deletion records an
//!   orphan, and [`EngineStore::media_release_orphan`] tells the clean-up, under the file's lock,
//!   whether it is really unused (uploads of the same file hold the lock shared: see
//!   [`UserTx::media_lock_file`]).

use crate::engine::EngineStore;
use crate::events::EventKind;
use crate::messages::message_event;
use crate::records::Message;
use crate::{StoreError, UserTx};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// The kinds of file a message can carry (`whatsapp_media.kind`).
pub const MEDIA_KINDS: [&str; 5] = ["image", "audio", "video", "document", "sticker"];
/// The longest file name kept (longer names are cut, keeping the extension).
const FILE_NAME_MAX: usize = 255;
/// The largest thumbnail kept (WhatsApp's are a few KiB; a bigger one is dropped, not refused).
const THUMBNAIL_MAX: usize = 65_536;
const REASON_MAX: usize = 300;

/// A media file as a message describes it (received or about to be sent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewMedia {
    /// One of [`MEDIA_KINDS`].
    pub kind: String,
    pub mimetype: String,
    pub file_name: Option<String>,
    pub file_length: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub seconds: Option<u32>,
    pub ptt: bool,
    pub thumbnail: Option<Vec<u8>>,
    /// WhatsApp's descriptor (an encoded message protobuf); opaque to the store.
    pub descriptor: Vec<u8>,
}

/// A [`NewMedia`] checked and shaped for SQL.
#[derive(Clone, Debug)]
pub(crate) struct ValidMedia {
    kind: &'static str,
    mimetype: String,
    file_name: Option<String>,
    file_length: i64,
    width: Option<i32>,
    height: Option<i32>,
    seconds: Option<i32>,
    ptt: bool,
    thumbnail: Option<Vec<u8>>,
    descriptor: Vec<u8>,
}

impl ValidMedia {
    /// The message type of the row it belongs to (`whatsapp_messages.message_type`): a sticker
    /// is shown as an image.
    pub(crate) fn message_type(&self) -> &'static str {
        match self.kind {
            "sticker" => "image",
            other => other,
        }
    }
}

/// A MIME type as the `whatsapp_media_mimetype_check` constraint takes it: lower case, parameters
/// (`; codecs=opus`) dropped; anything else becomes `application/octet-stream`.
pub fn normalize_mimetype(raw: &str) -> String {
    let essence = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let ok_part = |p: &str, max: usize| {
        !p.is_empty()
            && p.len() <= max
            && p.as_bytes()[0].is_ascii_alphanumeric()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    match essence.split_once('/') {
        Some((t, s)) if ok_part(t, 64) && ok_part(s, 127) => essence,
        _ => "application/octet-stream".to_owned(),
    }
}

/// A file name safe to keep and show: no path, no control characters, at most 255 characters
/// (the extension kept when cut). `None` when nothing is left.
pub fn clean_file_name(raw: &str) -> Option<String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| {
            !c.is_control() && !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    if cleaned.is_empty() {
        return None;
    }
    if cleaned.chars().count() <= FILE_NAME_MAX {
        return Some(cleaned.to_owned());
    }
    let ext: String = match cleaned.rsplit_once('.') {
        Some((_, e)) if !e.is_empty() && e.chars().count() <= 16 => format!(".{e}"),
        _ => String::new(),
    };
    let keep = FILE_NAME_MAX - ext.chars().count();
    Some(cleaned.chars().take(keep).collect::<String>() + &ext)
}

fn small(value: Option<u32>, max: u32) -> Option<i32> {
    value
        .filter(|v| (1..=max).contains(v))
        .and_then(|v| i32::try_from(v).ok())
}

impl NewMedia {
    /// Checks what the database would refuse, and quietly drops what a real client may send out
    /// of range (a zero width, an oversized thumbnail) rather than losing the message over it.
    pub(crate) fn validate(self) -> Result<ValidMedia, StoreError> {
        let kind = MEDIA_KINDS
            .iter()
            .copied()
            .find(|k| *k == self.kind)
            .ok_or_else(|| {
                StoreError::invalid("kind", "must be image, audio, video, document or sticker")
            })?;
        let file_length = i64::try_from(self.file_length)
            .map_err(|_| StoreError::invalid("file_length", "is too large"))?;
        if self.descriptor.len() > 262_144 {
            return Err(StoreError::invalid("descriptor", "is too large"));
        }
        Ok(ValidMedia {
            kind,
            mimetype: normalize_mimetype(&self.mimetype),
            file_name: self.file_name.as_deref().and_then(clean_file_name),
            file_length,
            width: small(self.width, 100_000),
            height: small(self.height, 100_000),
            seconds: self
                .seconds
                .filter(|s| *s <= 86_400)
                .and_then(|s| i32::try_from(s).ok()),
            ptt: self.ptt,
            thumbnail: self
                .thumbnail
                .filter(|t| !t.is_empty() && t.len() <= THUMBNAIL_MAX),
            descriptor: self.descriptor,
        })
    }
}

fn clip_reason(reason: &str) -> String {
    reason.chars().take(REASON_MAX).collect()
}

/// Inserts the media row of a message just stored (inside the caller's transaction, acting as the
/// owner). `sha256` set means the file is already in storage (`stored`); otherwise it is `pending`
/// and due for download now. A row that exists already is left alone (a redelivery).
pub(crate) async fn insert(
    conn: &mut PgConnection,
    message_row_id: Uuid,
    session_id: Uuid,
    user_id: Uuid,
    media: &ValidMedia,
    sha256: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO public.whatsapp_media \
           (message_row_id, session_id, user_id, kind, mimetype, file_name, file_length, width, \
            height, seconds, ptt, thumbnail, sha256, state, next_attempt_at, descriptor) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
                 CASE WHEN $13::text IS NULL THEN 'pending' ELSE 'stored' END, \
                 CASE WHEN $13::text IS NULL THEN now() END, $14) \
         ON CONFLICT (message_row_id) DO NOTHING",
    )
    .bind(message_row_id)
    .bind(session_id)
    .bind(user_id)
    .bind(media.kind)
    .bind(&media.mimetype)
    .bind(&media.file_name)
    .bind(media.file_length)
    .bind(media.width)
    .bind(media.height)
    .bind(media.seconds)
    .bind(media.ptt)
    .bind(&media.thumbnail)
    .bind(sha256)
    .bind(&media.descriptor)
    .execute(conn)
    .await?;
    Ok(())
}

/// A media file as the download route needs it.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct MediaFile {
    pub message_row_id: Uuid,
    pub user_id: Uuid,
    pub kind: String,
    pub mimetype: String,
    pub file_name: Option<String>,
    pub file_length: i64,
    /// Set once the file is in storage.
    pub sha256: Option<String>,
    pub state: String,
    pub state_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// An outgoing media message, its file already in storage and uploaded to WhatsApp.
#[derive(Clone, Debug)]
pub struct NewMediaOutgoing<'a> {
    pub session_id: Uuid,
    /// Human input such as `+44 20 7946 0958`; normalised like a lead's phone.
    pub to: &'a str,
    /// Up to 4096 characters; may be empty.
    pub caption: &'a str,
    pub idempotency_key: Option<&'a str>,
    /// The file's SHA-256 (lower-case hex), its address in storage.
    pub sha256: &'a str,
    pub media: NewMedia,
}

impl UserTx {
    /// The media file of one of the user's messages; [`StoreError::NotFound`] for a message that
    /// is not the user's, does not exist, or carries no file.
    pub async fn media_file(&mut self, message_row_id: Uuid) -> Result<MediaFile, StoreError> {
        Ok(sqlx::query_as(
            "SELECT message_row_id, user_id, kind, mimetype, file_name, file_length, sha256, state, \
                    state_reason, created_at \
             FROM public.whatsapp_media WHERE message_row_id = $1",
        )
        .bind(message_row_id)
        .fetch_one(&mut *self.tx)
        .await?)
    }

    /// The thumbnail WhatsApp carried for one of the user's media messages; `NotFound` when there
    /// is none.
    pub async fn media_thumbnail(&mut self, message_row_id: Uuid) -> Result<Vec<u8>, StoreError> {
        let thumb: Option<Option<Vec<u8>>> = sqlx::query_scalar(
            "SELECT thumbnail FROM public.whatsapp_media WHERE message_row_id = $1",
        )
        .bind(message_row_id)
        .fetch_optional(&mut *self.tx)
        .await?;
        thumb.flatten().ok_or(StoreError::NotFound)
    }

    /// Holds the lock of the user's file `sha256` (shared) until this transaction ends: the
    /// clean-up cannot delete the file while an upload that reuses it is being stored.
    pub async fn media_lock_file(&mut self, sha256: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock_shared(hashtextextended($1::text || $2, 7))")
            .bind(self.user_id.to_string())
            .bind(sha256)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Queues an outgoing media message (message + media row, state `stored`) like
    /// [`UserTx::message_enqueue`] queues a text: same refusals, same idempotency (the same key
    /// again returns the earlier message when it went to the same number with the same file).
    pub async fn media_message_enqueue(
        &mut self,
        new: NewMediaOutgoing<'_>,
    ) -> Result<(Message, bool), StoreError> {
        let media = new.media.validate()?;
        if !(new.sha256.len() == 64
            && new
                .sha256
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        {
            return Err(StoreError::invalid(
                "sha256",
                "must be 64 lower-case hex digits",
            ));
        }
        let (message, created) = self
            .outgoing_insert(crate::messages::OutgoingInsert {
                session_id: new.session_id,
                to: new.to,
                text: new.caption,
                allow_empty: true,
                message_type: media.message_type(),
                idempotency_key: new.idempotency_key,
                file_sha256: Some(new.sha256),
            })
            .await?;
        if !created {
            return Ok((message, false));
        }
        insert(
            &mut self.tx,
            message.id,
            new.session_id,
            self.user_id,
            &media,
            Some(new.sha256),
        )
        .await?;
        let message = self.message_get(message.id).await?;
        self.append_events(&[message_event(EventKind::Message, &message)?])
            .await?;
        Ok((message, true))
    }
}

/// A download the downloader claimed.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct MediaJob {
    pub message_row_id: Uuid,
    pub session_id: Uuid,
    pub user_id: Uuid,
    /// Counting this one.
    pub attempts: i32,
}

/// What the downloader needs of a claimed row (read acting as its owner).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct MediaJobDetail {
    pub kind: String,
    pub file_length: i64,
    pub descriptor: Option<Vec<u8>>,
    /// WhatsApp's id of the message (for a media retry receipt).
    pub message_id: Option<String>,
    /// The chat's JID (the contact), for a media retry receipt.
    pub contact_jid: Option<String>,
    /// `in`, or `out` for one the user sent from their phone.
    pub direction: String,
    pub state: String,
}

/// How a download ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaOutcome {
    /// Verified and in storage under this SHA-256.
    Stored { sha256: String },
    /// Given up, with the reason the user sees.
    Failed { reason: String },
    /// Try again after the delay (the reason is kept for the user meanwhile); a new descriptor
    /// (after a media retry gave a new direct path) replaces the stored one.
    Later {
        after: std::time::Duration,
        reason: String,
        descriptor: Option<Vec<u8>>,
    },
}

impl EngineStore {
    /// Claims up to `limit` due downloads of any user (see the module docs); each is not due again
    /// for `lease` unless settled.
    pub async fn media_claim_due(
        &self,
        limit: i32,
        lease: std::time::Duration,
    ) -> Result<Vec<MediaJob>, StoreError> {
        let lease = i32::try_from(lease.as_secs()).unwrap_or(i32::MAX).max(1);
        Ok(sqlx::query_as(
            "SELECT message_row_id, session_id, user_id, attempts \
             FROM app_api.media_claim_due($1, $2)",
        )
        .bind(limit)
        .bind(lease)
        .fetch_all(self.pool())
        .await?)
    }

    /// A claimed row, read as its owner; `None` when it is gone (the message was deleted).
    pub async fn media_job(&self, job: &MediaJob) -> Result<Option<MediaJobDetail>, StoreError> {
        let mut tx = UserTx::begin(self.pool(), job.user_id).await?;
        let detail = sqlx::query_as(
            "SELECT x.kind, x.file_length, x.descriptor, m.message_id, m.contact_jid, m.direction, \
                    x.state \
             FROM public.whatsapp_media x JOIN public.whatsapp_messages m ON m.id = x.message_row_id \
             WHERE x.message_row_id = $1",
        )
        .bind(job.message_row_id)
        .fetch_optional(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(detail)
    }

    /// Settles a claimed download, as its owner, and logs the message's new look as an event (the
    /// open chat shows the picture, or why there is none). Returns the message when it still
    /// exists, with the event cursor.
    pub async fn media_settle(
        &self,
        job: &MediaJob,
        outcome: MediaOutcome,
    ) -> Result<Option<(Message, Option<i64>)>, StoreError> {
        let mut tx = UserTx::begin(self.pool(), job.user_id).await?;
        let updated = match &outcome {
            MediaOutcome::Stored { sha256 } => {
                tx.media_lock_file(sha256).await?;
                sqlx::query(
                    "UPDATE public.whatsapp_media SET state = 'stored', sha256 = $2, \
                            state_reason = NULL, next_attempt_at = NULL \
                     WHERE message_row_id = $1 AND state = 'pending'",
                )
                .bind(job.message_row_id)
                .bind(sha256)
                .execute(tx.conn())
                .await?
            }
            MediaOutcome::Failed { reason } => {
                sqlx::query(
                    "UPDATE public.whatsapp_media SET state = 'failed', state_reason = $2, \
                            next_attempt_at = NULL \
                     WHERE message_row_id = $1 AND state = 'pending'",
                )
                .bind(job.message_row_id)
                .bind(clip_reason(reason))
                .execute(tx.conn())
                .await?
            }
            MediaOutcome::Later {
                after,
                reason,
                descriptor,
            } => {
                let secs = after.as_secs_f64().max(1.0);
                sqlx::query(
                    "UPDATE public.whatsapp_media SET state_reason = $2, \
                            next_attempt_at = now() + make_interval(secs => $3), \
                            descriptor = coalesce($4, descriptor) \
                     WHERE message_row_id = $1 AND state = 'pending'",
                )
                .bind(job.message_row_id)
                .bind(clip_reason(reason))
                .bind(secs)
                .bind(descriptor)
                .execute(tx.conn())
                .await?
            }
        };
        if updated.rows_affected() == 0 {
            tx.commit().await?;
            return Ok(None);
        }
        let message = tx.message_get(job.message_row_id).await?;
        let cursor = if matches!(outcome, MediaOutcome::Later { .. }) {
            None
        } else {
            tx.append_events(&[message_event(EventKind::MessageStatus, &message)?])
                .await?
        };
        tx.commit().await?;
        Ok(Some((message, cursor)))
    }

    /// The descriptor of an outgoing media message, by WhatsApp id (the engine's
    /// `outgoing_media`); `None` for a text message.
    pub async fn outgoing_media(
        &self,
        session_id: Uuid,
        user_id: Uuid,
        message_id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let mut tx = UserTx::begin(self.pool(), user_id).await?;
        let descriptor: Option<Option<Vec<u8>>> = sqlx::query_scalar(
            "SELECT x.descriptor FROM public.whatsapp_messages m \
             JOIN public.whatsapp_media x ON x.message_row_id = m.id \
             WHERE m.session_id = $1 AND m.message_id = $2 AND m.direction = 'out'",
        )
        .bind(session_id)
        .bind(message_id)
        .fetch_optional(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(descriptor.flatten())
    }

    /// Files no row uses any more, older than `min_age` (see the module docs).
    pub async fn media_orphans(
        &self,
        limit: i32,
        min_age: std::time::Duration,
    ) -> Result<Vec<(Uuid, String)>, StoreError> {
        let age = i32::try_from(min_age.as_secs()).unwrap_or(i32::MAX);
        Ok(
            sqlx::query_as("SELECT user_id, sha256 FROM app_api.media_orphans($1, $2)")
                .bind(limit)
                .bind(age)
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// Forgets an orphan under the file's exclusive lock and, when no row uses the file, runs
    /// `delete` (which removes it from storage) before the lock is let go. An error from `delete`
    /// keeps the orphan for the next round.
    pub async fn media_release_orphan<F, Fut, E>(
        &self,
        user_id: Uuid,
        sha256: &str,
        delete: F,
    ) -> Result<bool, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        let mut tx = self.pool().begin().await?;
        let unused: bool = sqlx::query_scalar("SELECT app_api.media_release_orphan($1, $2)")
            .bind(user_id)
            .bind(sha256)
            .fetch_one(&mut *tx)
            .await?;
        if unused && let Err(e) = delete().await {
            tracing::warn!(error = %e, "could not delete an unused media file; will try again");
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(unused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mimetypes_are_normalised_or_neutralised() {
        assert_eq!(normalize_mimetype("audio/ogg; codecs=opus"), "audio/ogg");
        assert_eq!(normalize_mimetype("Image/JPEG"), "image/jpeg");
        assert_eq!(
            normalize_mimetype(
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            ),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        );
        for bad in ["", "text", "text/html\r\nX: y", "/x", "a/", "a b/c", "ü/x"] {
            assert_eq!(
                normalize_mimetype(bad),
                "application/octet-stream",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn file_names_lose_paths_controls_and_excess() {
        assert_eq!(
            clean_file_name("../../etc/passwd").as_deref(),
            Some("passwd")
        );
        assert_eq!(
            clean_file_name("C:\\x\\Report.pdf").as_deref(),
            Some("Report.pdf")
        );
        assert_eq!(
            clean_file_name("a\r\nb\u{202E}fdp.exe").as_deref(),
            Some("abfdp.exe")
        );
        assert_eq!(clean_file_name(" .. "), None);
        assert_eq!(clean_file_name(""), None);
        let long = format!("{}.pdf", "n".repeat(400));
        let cut = clean_file_name(&long).unwrap();
        assert_eq!(cut.chars().count(), 255);
        assert!(cut.ends_with(".pdf"));
    }

    #[test]
    fn out_of_range_details_are_dropped_not_fatal() {
        let v = NewMedia {
            kind: "image".into(),
            mimetype: "image/jpeg".into(),
            width: Some(0),
            height: Some(200_000),
            seconds: Some(100_000),
            thumbnail: Some(vec![0; THUMBNAIL_MAX + 1]),
            ..NewMedia::default()
        }
        .validate()
        .unwrap();
        assert_eq!((v.width, v.height, v.seconds), (None, None, None));
        assert!(v.thumbnail.is_none());
        assert!(
            NewMedia {
                kind: "hologram".into(),
                ..NewMedia::default()
            }
            .validate()
            .is_err()
        );
        let sticker = NewMedia {
            kind: "sticker".into(),
            ..NewMedia::default()
        };
        assert_eq!(sticker.validate().unwrap().message_type(), "image");
    }
}
