//! What the engine needs from persistence, per account. The engine itself persists nothing: it
//! calls an [`AccountStore`], which the server implements over PostgreSQL (encrypting every
//! credential and key) and tests implement in memory ([`MemoryStore`]).
//!
//! Everything that must be durable before WhatsApp is told "got it" goes through one
//! [`AccountStore::commit`]: the Signal key changes a decryption caused, the decrypted messages,
//! status changes from receipts. The engine sends the receipt or ack only after the commit
//! returned, so a crash at any point either leaves WhatsApp owing us the stanza or has it stored.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;

/// A backend's own failure, passed through.
pub type StoreFailure = Box<dyn std::error::Error + Send + Sync>;

/// A commit that counts a send attempt may fail with this (boxed as a [`StoreFailure`]) when the
/// backend refuses to let that message go out at all — the recipient opted out, say. It is not a
/// store fault: the engine marks the message failed with `reason` and goes on with the next one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the store refuses to send this message ({reason})")]
pub struct SendRefused {
    /// The message's failure reason (`status_reason`), e.g. `opted_out`.
    pub reason: &'static str,
}

/// The kinds of keys an account keeps besides its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyKind {
    /// One-time pre-keys (private), by id.
    PreKey,
    /// Signal sessions, by address (`user.device`).
    Session,
    /// Identity keys of the devices we talk to, by address.
    Identity,
    /// Group sender keys, by `group::sender`.
    SenderKey,
    /// App-state sync keys the phone shared, by key id (hex).
    AppStateKey,
}

/// One key to write (`Some`) or delete (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyWrite {
    pub kind: KeyKind,
    pub name: String,
    pub value: Option<Vec<u8>>,
}

/// A message that arrived (or that our own phone sent, `from_me`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    pub message_id: String,
    /// The chat (the other person), as a user JID (`…@s.whatsapp.net` or `…@lid`).
    pub chat: String,
    /// The chat's phone number as E.164 (`+<digits>`), when the JID tells it.
    pub phone: Option<String>,
    /// The chat's LID JID, when known.
    pub lid: Option<String>,
    pub push_name: Option<String>,
    pub from_me: bool,
    /// The text, or `None` for an undecryptable placeholder.
    pub text: Option<String>,
    pub undecryptable: bool,
    /// Unix seconds, from the stanza's `t`.
    pub timestamp: u64,
    /// A media message's file: where it is, its key and hashes, and what it is (`text` then
    /// holds its caption, file name or a `[image]`-style label). The file itself is not
    /// downloaded by the engine: see [`crate::client::media::MediaHttp::download_and_decrypt`].
    /// (Boxed: most messages are text, and events carry this struct.)
    pub media: Option<Box<crate::media::MediaDescriptor>>,
}

/// The status of one of our outgoing messages, in the order it can only advance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessageStatus {
    Queued,
    Sent,
    Delivered,
    Read,
    Failed,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub message_id: String,
    pub status: MessageStatus,
    pub reason: Option<String>,
    /// Unix seconds.
    pub at: u64,
}

/// Everything to make durable at once.
#[derive(Debug, Clone, Default)]
pub struct Commit {
    /// New encoded credentials.
    pub credentials: Option<Vec<u8>>,
    pub keys: Vec<KeyWrite>,
    pub inbound: Vec<InboundMessage>,
    pub statuses: Vec<StatusChange>,
    /// Outgoing message ids about to be written to the socket (their attempt counters advance).
    pub attempts: Vec<String>,
}

impl Commit {
    pub fn is_empty(&self) -> bool {
        self.credentials.is_none()
            && self.keys.is_empty()
            && self.inbound.is_empty()
            && self.statuses.is_empty()
            && self.attempts.is_empty()
    }
}

/// What became of an inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundOutcome {
    /// Stored for the first time.
    New,
    /// Already stored (a redelivery): nothing changed.
    Duplicate,
    /// Filled in a placeholder stored earlier.
    Completed,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitReport {
    pub inbound: Vec<(String, InboundOutcome)>,
    /// Status changes that took effect (a stale one, e.g. `delivered` after `read`, is absent).
    pub statuses: Vec<(String, MessageStatus)>,
}

/// A message waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub message_id: String,
    /// E.164, `+<digits>`.
    pub phone: String,
    pub text: String,
    /// Times it was already written to a socket (a crash or a missing ack interrupted those).
    pub attempts: u32,
}

/// The connection state as the user sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Connecting,
    Active,
    Inactive,
    Expired,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Expired => "expired",
            Self::Error => "error",
        }
    }
}

/// A state change to record, with a machine-readable reason and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    pub status: Status,
    pub reason: &'static str,
    pub message: String,
    /// Set once linked: the phone number (E.164), our device JIDs and the push name.
    pub linked: Option<LinkedAs>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedAs {
    pub phone: String,
    pub jid: String,
    pub lid: Option<String>,
    pub push_name: Option<String>,
    /// Unix seconds.
    pub linked_at: u64,
}

/// Persistence for one account.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    async fn load_credentials(&self) -> Result<Option<Vec<u8>>, StoreFailure>;
    /// The stored values of `names` (missing ones are simply absent).
    async fn load_keys(
        &self,
        kind: KeyKind,
        names: &[String],
    ) -> Result<Vec<(String, Vec<u8>)>, StoreFailure>;
    /// Makes everything in `commit` durable in one transaction, or nothing.
    async fn commit(&self, commit: Commit) -> Result<CommitReport, StoreFailure>;
    /// Whether a real (not placeholder) message with this id is stored.
    async fn message_exists(&self, message_id: &str) -> Result<bool, StoreFailure>;
    /// Queued outgoing messages, oldest first.
    async fn queued_outgoing(&self, limit: usize) -> Result<Vec<Outgoing>, StoreFailure>;
    /// An outgoing message by id, whatever its status (to send again on a retry receipt).
    async fn outgoing(&self, message_id: &str) -> Result<Option<Outgoing>, StoreFailure>;
    /// The uploaded media an outgoing message carries (its `text` is then not sent: the caption
    /// is in the descriptor). Asked for every message the sender takes from the outbox; a
    /// store without media answers `None`, and the message goes out as text.
    async fn outgoing_media(
        &self,
        message_id: &str,
    ) -> Result<Option<crate::media::MediaDescriptor>, StoreFailure> {
        let _ = message_id;
        Ok(None)
    }
    async fn set_state(&self, state: &AccountState) -> Result<(), StoreFailure>;
    /// Forgets the credentials and every key (logged out, or the account is deleted).
    async fn wipe(&self) -> Result<(), StoreFailure>;
}

/// A stored message in [`MemoryStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryMessage {
    pub inbound: Option<InboundMessage>,
    pub outgoing: Option<Outgoing>,
    pub status: MessageStatus,
    pub reason: Option<String>,
}

#[derive(Debug, Default)]
struct Memory {
    credentials: Option<Vec<u8>>,
    keys: HashMap<(KeyKind, String), Vec<u8>>,
    /// By message id, in arrival order of first insert.
    messages: BTreeMap<String, MemoryMessage>,
    order: Vec<String>,
    states: Vec<AccountState>,
    commits: u64,
    /// Numbers whose send attempts are refused ([`MemoryStore::refuse_sends_to`]).
    refused: HashMap<String, &'static str>,
    /// Media of outgoing messages, by message id ([`MemoryStore::enqueue_media`]).
    media: HashMap<String, crate::media::MediaDescriptor>,
}

/// An [`AccountStore`] in memory, for tests, benchmarks and demos. Commits are atomic (one lock).
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Memory>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut Memory) -> R) -> R {
        let mut guard = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    /// Puts a message in the outbox (what the server's REST handler does).
    pub fn enqueue(&self, message_id: &str, phone: &str, text: &str) {
        self.with(|m| {
            m.order.push(message_id.to_owned());
            m.messages.insert(
                message_id.to_owned(),
                MemoryMessage {
                    inbound: None,
                    outgoing: Some(Outgoing {
                        message_id: message_id.to_owned(),
                        phone: phone.to_owned(),
                        text: text.to_owned(),
                        attempts: 0,
                    }),
                    status: MessageStatus::Queued,
                    reason: None,
                },
            );
        });
    }

    /// Puts a media message in the outbox: `media` as [`crate::client::Command::UploadMedia`]
    /// returned it; `text` is what the chat shows for it.
    pub fn enqueue_media(
        &self,
        message_id: &str,
        phone: &str,
        text: &str,
        media: crate::media::MediaDescriptor,
    ) {
        self.with(|m| m.media.insert(message_id.to_owned(), media));
        self.enqueue(message_id, phone, text);
    }

    /// From now on, a commit that counts a send attempt to `phone` fails with [`SendRefused`]
    /// and changes nothing, as the server's store does for a number that opted out.
    pub fn refuse_sends_to(&self, phone: &str, reason: &'static str) {
        self.with(|m| m.refused.insert(phone.to_owned(), reason));
    }

    /// Every stored message, in insertion order.
    pub fn messages(&self) -> Vec<MemoryMessage> {
        self.with(|m| {
            m.order
                .iter()
                .filter_map(|id| m.messages.get(id).cloned())
                .collect()
        })
    }

    pub fn message(&self, message_id: &str) -> Option<MemoryMessage> {
        self.with(|m| m.messages.get(message_id).cloned())
    }

    /// Every state recorded, oldest first.
    pub fn states(&self) -> Vec<AccountState> {
        self.with(|m| m.states.clone())
    }

    pub fn has_credentials(&self) -> bool {
        self.with(|m| m.credentials.is_some())
    }

    pub fn key_count(&self, kind: KeyKind) -> usize {
        self.with(|m| m.keys.keys().filter(|(k, _)| *k == kind).count())
    }

    pub fn commits(&self) -> u64 {
        self.with(|m| m.commits)
    }
}

#[async_trait]
impl AccountStore for MemoryStore {
    async fn load_credentials(&self) -> Result<Option<Vec<u8>>, StoreFailure> {
        Ok(self.with(|m| m.credentials.clone()))
    }

    async fn load_keys(
        &self,
        kind: KeyKind,
        names: &[String],
    ) -> Result<Vec<(String, Vec<u8>)>, StoreFailure> {
        Ok(self.with(|m| {
            names
                .iter()
                .filter_map(|n| {
                    m.keys
                        .get(&(kind, n.clone()))
                        .map(|v| (n.clone(), v.clone()))
                })
                .collect()
        }))
    }

    async fn commit(&self, commit: Commit) -> Result<CommitReport, StoreFailure> {
        let refusal = self.with(|m| {
            commit.attempts.iter().find_map(|id| {
                let out = m.messages.get(id)?.outgoing.as_ref()?;
                m.refused.get(&out.phone).copied()
            })
        });
        if let Some(reason) = refusal {
            return Err(Box::new(SendRefused { reason }));
        }
        Ok(self.with(|m| {
            m.commits += 1;
            let mut report = CommitReport::default();
            if let Some(creds) = commit.credentials {
                m.credentials = Some(creds);
            }
            for write in commit.keys {
                let key = (write.kind, write.name);
                match write.value {
                    Some(v) => m.keys.insert(key, v),
                    None => m.keys.remove(&key),
                };
            }
            for message in commit.inbound {
                let id = message.message_id.clone();
                let outcome = match m.messages.get_mut(&id) {
                    Some(existing)
                        if existing.inbound.as_ref().is_some_and(|i| i.undecryptable)
                            && !message.undecryptable =>
                    {
                        existing.inbound = Some(message);
                        existing.status = MessageStatus::Delivered;
                        existing.reason = None;
                        InboundOutcome::Completed
                    }
                    Some(_) => InboundOutcome::Duplicate,
                    None => {
                        let (status, reason) = if message.undecryptable {
                            (MessageStatus::Failed, Some("undecryptable".to_owned()))
                        } else if message.from_me {
                            (MessageStatus::Sent, None)
                        } else {
                            (MessageStatus::Delivered, None)
                        };
                        m.order.push(id.clone());
                        m.messages.insert(
                            id.clone(),
                            MemoryMessage {
                                inbound: Some(message),
                                outgoing: None,
                                status,
                                reason,
                            },
                        );
                        InboundOutcome::New
                    }
                };
                report.inbound.push((id, outcome));
            }
            for change in commit.statuses {
                let Some(stored) = m.messages.get_mut(&change.message_id) else {
                    continue;
                };
                if stored.outgoing.is_none() {
                    continue;
                }
                let advances = match change.status {
                    MessageStatus::Failed => stored.status == MessageStatus::Queued,
                    s => stored.status != MessageStatus::Failed && s > stored.status,
                };
                if advances {
                    stored.status = change.status;
                    stored.reason = change.reason;
                    report.statuses.push((change.message_id, change.status));
                }
            }
            for id in commit.attempts {
                if let Some(out) = m.messages.get_mut(&id).and_then(|s| s.outgoing.as_mut()) {
                    out.attempts += 1;
                }
            }
            report
        }))
    }

    async fn message_exists(&self, message_id: &str) -> Result<bool, StoreFailure> {
        Ok(self.with(|m| {
            m.messages
                .get(message_id)
                .is_some_and(|s| !s.inbound.as_ref().is_some_and(|i| i.undecryptable))
        }))
    }

    async fn queued_outgoing(&self, limit: usize) -> Result<Vec<Outgoing>, StoreFailure> {
        Ok(self.with(|m| {
            m.order
                .iter()
                .filter_map(|id| m.messages.get(id))
                .filter(|s| s.status == MessageStatus::Queued)
                .filter_map(|s| s.outgoing.clone())
                .take(limit)
                .collect()
        }))
    }

    async fn outgoing(&self, message_id: &str) -> Result<Option<Outgoing>, StoreFailure> {
        Ok(self.with(|m| m.messages.get(message_id).and_then(|s| s.outgoing.clone())))
    }

    async fn outgoing_media(
        &self,
        message_id: &str,
    ) -> Result<Option<crate::media::MediaDescriptor>, StoreFailure> {
        Ok(self.with(|m| m.media.get(message_id).cloned()))
    }

    async fn set_state(&self, state: &AccountState) -> Result<(), StoreFailure> {
        self.with(|m| m.states.push(state.clone()));
        Ok(())
    }

    async fn wipe(&self) -> Result<(), StoreFailure> {
        self.with(|m| {
            m.credentials = None;
            m.keys.clear();
        });
        Ok(())
    }
}
