//! The engine's [`AccountStore`] over PostgreSQL: a thin translation to `store::EngineStore`,
//! plus publishing what a commit stored (with its database ids) to the [`Hub`] — after the
//! transaction, so nobody is shown a message that is not stored.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use store::{EngineAccount, EngineStore};
use uuid::Uuid;
use whatsapp::store::{
    AccountState, AccountStore, Commit, CommitReport, InboundMessage, InboundOutcome, KeyKind,
    MessageStatus, Outgoing, StoreFailure,
};

use crate::hub::{AccountEvent, Hub};

/// Builds the store of one account (tests substitute faulty ones).
pub trait StoreFactory: Send + Sync + 'static {
    fn store_for(&self, account: &EngineAccount) -> Arc<dyn AccountStore>;
}

/// The production factory.
pub struct PgStoreFactory {
    pub engine: EngineStore,
    pub hub: Hub,
}

impl StoreFactory for PgStoreFactory {
    fn store_for(&self, account: &EngineAccount) -> Arc<dyn AccountStore> {
        Arc::new(PgAccountStore {
            engine: self.engine.clone(),
            hub: self.hub.clone(),
            session_id: account.session_id,
            user_id: account.user_id,
        })
    }
}

/// One account's persistence.
pub struct PgAccountStore {
    engine: EngineStore,
    hub: Hub,
    session_id: Uuid,
    user_id: Uuid,
}

fn failure(e: store::StoreError) -> StoreFailure {
    match e {
        // The only commit the database refuses this way is a send attempt to a number on the
        // suppression list: the engine fails that message and goes on (see `SendRefused`).
        store::StoreError::OptedOut => Box::new(whatsapp::store::SendRefused {
            reason: "opted_out",
        }),
        other => Box::new(other),
    }
}

pub(crate) fn timestamp(unix: u64) -> DateTime<Utc> {
    i64::try_from(unix)
        .ok()
        .and_then(|s| Utc.timestamp_opt(s, 0).single())
        .unwrap_or_else(Utc::now)
}

fn key_kind(kind: KeyKind) -> store::KeyKind {
    match kind {
        KeyKind::PreKey => store::KeyKind::PreKey,
        KeyKind::Session => store::KeyKind::Session,
        KeyKind::Identity => store::KeyKind::Identity,
        KeyKind::SenderKey => store::KeyKind::SenderKey,
        KeyKind::AppStateKey => store::KeyKind::AppStateKey,
    }
}

fn status_to_store(status: MessageStatus) -> store::MessageStatus {
    match status {
        MessageStatus::Queued => store::MessageStatus::Queued,
        MessageStatus::Sent => store::MessageStatus::Sent,
        MessageStatus::Delivered => store::MessageStatus::Delivered,
        MessageStatus::Read => store::MessageStatus::Read,
        MessageStatus::Failed => store::MessageStatus::Failed,
    }
}

fn status_from_store(status: store::MessageStatus) -> MessageStatus {
    match status {
        store::MessageStatus::Queued => MessageStatus::Queued,
        store::MessageStatus::Sent => MessageStatus::Sent,
        store::MessageStatus::Delivered => MessageStatus::Delivered,
        store::MessageStatus::Read => MessageStatus::Read,
        store::MessageStatus::Failed => MessageStatus::Failed,
    }
}

fn inbound_record(m: &InboundMessage) -> store::InboundRecord {
    store::InboundRecord {
        message_id: m.message_id.clone(),
        contact_phone: m.phone.clone(),
        contact_jid: Some(m.chat.clone()),
        contact_lid: m.lid.clone(),
        push_name: m.push_name.clone(),
        from_me: m.from_me,
        text: caption_only(m),
        undecryptable: m.undecryptable,
        timestamp: timestamp(m.timestamp),
        media: m.media.as_deref().map(new_media),
    }
}

/// A media message's file as the store keeps it: what it is, plus the descriptor (encoded) that
/// downloads it. The engine's text for media is the caption, else a file name or a label such as
/// `[image]`; only a real caption is kept as the message's text.
pub(crate) fn new_media(d: &whatsapp::media::MediaDescriptor) -> store::NewMedia {
    store::NewMedia {
        kind: d.kind.as_str().to_owned(),
        mimetype: d.meta.mimetype.clone(),
        file_name: d.meta.file_name.clone(),
        file_length: d.file_length,
        width: d.meta.width,
        height: d.meta.height,
        seconds: d.meta.seconds,
        ptt: d.meta.ptt,
        thumbnail: d.meta.jpeg_thumbnail.clone(),
        descriptor: d.encode(),
    }
}

fn caption_only(m: &InboundMessage) -> Option<String> {
    match &m.media {
        Some(media) => media.meta.caption.clone().filter(|c| !c.trim().is_empty()),
        None => m.text.clone(),
    }
}

fn outgoing(m: store::OutgoingMessage) -> Outgoing {
    Outgoing {
        message_id: m.message_id,
        phone: m.phone_number,
        text: m.text,
        attempts: u32::try_from(m.attempts).unwrap_or(0),
    }
}

impl PgAccountStore {
    /// Publishes what `report` says was stored.
    fn publish(&self, commit: &Commit, report: &store::CommitReport) {
        // Everything published here was appended to the event log by the commit.
        let Some(cursor) = report.last_event else {
            return;
        };
        for (message_id, outcome) in &report.inbound {
            let Some(message) = commit.inbound.iter().find(|m| &m.message_id == message_id) else {
                continue;
            };
            let (id, lead_id, lead_created, completed) = match outcome {
                store::InboundOutcome::Inserted {
                    id,
                    lead_id,
                    lead_created,
                } => (*id, *lead_id, *lead_created, false),
                store::InboundOutcome::Completed { id, lead_id } => (*id, *lead_id, false, true),
                store::InboundOutcome::Duplicate { .. } => continue,
            };
            let status = if message.undecryptable {
                "failed"
            } else if message.from_me {
                "sent"
            } else {
                "delivered"
            };
            self.hub.publish_logged(
                self.user_id,
                self.session_id,
                cursor,
                AccountEvent::Message {
                    id,
                    message_id: message_id.clone(),
                    lead_id,
                    lead_created,
                    direction: if message.from_me { "out" } else { "in" }.to_owned(),
                    text: caption_only(message),
                    status: status.to_owned(),
                    completed,
                },
            );
        }
        for (message_id, id, status) in &report.statuses {
            let reason = commit
                .statuses
                .iter()
                .find(|s| &s.message_id == message_id)
                .and_then(|s| s.reason.clone());
            self.hub.publish_logged(
                self.user_id,
                self.session_id,
                cursor,
                AccountEvent::MessageStatus {
                    id: *id,
                    message_id: message_id.clone(),
                    status: status.as_str().to_owned(),
                    status_reason: reason,
                },
            );
        }
    }
}

#[async_trait]
impl AccountStore for PgAccountStore {
    async fn load_credentials(&self) -> Result<Option<Vec<u8>>, StoreFailure> {
        self.engine
            .load_credentials(self.session_id)
            .await
            .map_err(failure)
    }

    async fn load_keys(
        &self,
        kind: KeyKind,
        names: &[String],
    ) -> Result<Vec<(String, Vec<u8>)>, StoreFailure> {
        self.engine
            .load_keys(self.session_id, key_kind(kind), names)
            .await
            .map_err(failure)
    }

    async fn commit(&self, commit: Commit) -> Result<CommitReport, StoreFailure> {
        let engine_commit = store::EngineCommit {
            credentials: commit.credentials.clone(),
            keys: commit
                .keys
                .iter()
                .map(|k| store::KeyWrite {
                    kind: key_kind(k.kind),
                    name: k.name.clone(),
                    value: k.value.clone(),
                })
                .collect(),
            inbound: commit.inbound.iter().map(inbound_record).collect(),
            statuses: commit
                .statuses
                .iter()
                .map(|s| store::StatusChange {
                    message_id: s.message_id.clone(),
                    status: status_to_store(s.status),
                    reason: s.reason.clone(),
                    at: timestamp(s.at),
                })
                .collect(),
            attempts: commit.attempts.clone(),
        };
        let report = self
            .engine
            .commit(self.session_id, self.user_id, engine_commit)
            .await
            .map_err(failure)?;
        self.publish(&commit, &report);
        crate::telemetry::committed(&commit, &report);
        Ok(CommitReport {
            inbound: report
                .inbound
                .iter()
                .map(|(id, outcome)| {
                    let outcome = match outcome {
                        store::InboundOutcome::Inserted { .. } => InboundOutcome::New,
                        store::InboundOutcome::Duplicate { .. } => InboundOutcome::Duplicate,
                        store::InboundOutcome::Completed { .. } => InboundOutcome::Completed,
                    };
                    (id.clone(), outcome)
                })
                .collect(),
            statuses: report
                .statuses
                .iter()
                .map(|(id, _, status)| (id.clone(), status_from_store(*status)))
                .collect(),
        })
    }

    async fn message_exists(&self, message_id: &str) -> Result<bool, StoreFailure> {
        self.engine
            .message_exists(self.session_id, self.user_id, message_id)
            .await
            .map_err(failure)
    }

    async fn queued_outgoing(&self, limit: usize) -> Result<Vec<Outgoing>, StoreFailure> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Ok(self
            .engine
            .queued_outgoing(self.session_id, self.user_id, limit)
            .await
            .map_err(failure)?
            .into_iter()
            .map(outgoing)
            .collect())
    }

    async fn outgoing(&self, message_id: &str) -> Result<Option<Outgoing>, StoreFailure> {
        Ok(self
            .engine
            .outgoing_by_message_id(self.session_id, self.user_id, message_id)
            .await
            .map_err(failure)?
            .map(outgoing))
    }

    async fn outgoing_media(
        &self,
        message_id: &str,
    ) -> Result<Option<whatsapp::media::MediaDescriptor>, StoreFailure> {
        let Some(bytes) = self
            .engine
            .outgoing_media(self.session_id, self.user_id, message_id)
            .await
            .map_err(failure)?
        else {
            return Ok(None);
        };
        // A descriptor we wrote ourselves that no longer reads is a bug, not a text to send.
        whatsapp::media::MediaDescriptor::decode(&bytes)
            .map(Some)
            .ok_or_else(|| -> StoreFailure { "the stored media descriptor does not decode".into() })
    }

    async fn set_state(&self, state: &AccountState) -> Result<(), StoreFailure> {
        crate::telemetry::state_written(state);
        let linked = state.linked.as_ref();
        let cursor = self
            .engine
            .update_session(
                self.session_id,
                store::SessionStatusUpdate {
                    status: Some(state.status.as_str().to_owned()),
                    status_reason: Some(state.reason.to_owned()),
                    status_message: Some(state.message.clone()),
                    phone_number: linked.map(|l| l.phone.clone()),
                    jid: linked.map(|l| l.jid.clone()),
                    lid: linked.and_then(|l| l.lid.clone()),
                    push_name: linked.and_then(|l| l.push_name.clone()),
                    linked_at: linked.map(|l| timestamp(l.linked_at)),
                    touch_last_seen: true,
                },
            )
            .await
            .map_err(failure)?;
        self.hub.publish_logged(
            self.user_id,
            self.session_id,
            cursor,
            crate::supervisor::state_event(state),
        );
        Ok(())
    }

    async fn wipe(&self) -> Result<(), StoreFailure> {
        self.engine
            .wipe_credentials(self.session_id)
            .await
            .map_err(failure)
    }
}
