//! The event hub: everything users should see happen, as typed events tagged with the owner's
//! user id, on one broadcast channel. Subscribers filter by user; a slow subscriber loses the
//! oldest events (it is told how many) rather than slowing the engine — the database stays the
//! truth, so a client that lagged reloads.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

/// Events kept for slow subscribers.
const CAPACITY: usize = 4096;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AccountEvent {
    /// The account's connection state changed.
    State {
        status: String,
        status_reason: String,
        status_message: String,
        phone_number: Option<String>,
    },
    /// A QR code to show (replaces the previous one).
    Qr {
        qr: String,
        expires_at: DateTime<Utc>,
    },
    /// A pairing code to type on the phone.
    PairingCode {
        code: String,
        expires_at: DateTime<Utc>,
    },
    /// A message was stored (or a placeholder completed).
    Message {
        id: Uuid,
        message_id: String,
        lead_id: Option<Uuid>,
        lead_created: bool,
        direction: String,
        text: Option<String>,
        status: String,
        completed: bool,
    },
    /// One of the user's messages changed status.
    MessageStatus {
        id: Uuid,
        message_id: String,
        status: String,
        status_reason: Option<String>,
    },
    /// A contact is typing (or stopped).
    Typing { chat: String, state: String },
    /// The user's event log grew (a database notice; carries no data: read the log).
    Logged,
    /// A contact's presence.
    Presence {
        chat: String,
        available: bool,
        last_seen: Option<DateTime<Utc>>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HubEvent {
    pub user_id: Uuid,
    pub account_id: Uuid,
    /// For events written to the user's event log (`store::UserEvent`): the log's cursor after
    /// them. Readers that keep a cursor fetch from the log (and so never miss one, even when the
    /// broadcast lagged); `None` = a live-only event (QR, pairing code, typing, presence).
    pub cursor: Option<i64>,
    #[serde(flatten)]
    pub event: AccountEvent,
}

/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Hub {
    tx: broadcast::Sender<HubEvent>,
    /// Where live-only events also go, to reach the browsers of other instances (see
    /// [`Hub::relay`]); unset = one instance.
    relay: std::sync::Arc<std::sync::OnceLock<tokio::sync::mpsc::Sender<HubEvent>>>,
}

/// Live-only events waiting to be relayed; beyond this they are dropped (they are ephemeral).
const RELAY_CAPACITY: usize = 1024;

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub fn new() -> Self {
        Self {
            tx: broadcast::channel(CAPACITY).0,
            relay: std::sync::Arc::default(),
        }
    }

    /// A live-only event (not in the event log); also relayed to other instances when
    /// [`Hub::relay`] was set up.
    pub fn publish(&self, user_id: Uuid, account_id: Uuid, event: AccountEvent) {
        let event = HubEvent {
            user_id,
            account_id,
            cursor: None,
            event,
        };
        if let Some(relay) = self.relay.get() {
            // Full = the database is slow; a typing indicator is not worth waiting for.
            let _ = relay.try_send(event.clone());
        }
        self.send(event);
    }

    /// The live-only events this instance publishes, for the caller to send to the other
    /// instances (`None` if already taken: there is one relay per process).
    pub fn relay(&self) -> Option<tokio::sync::mpsc::Receiver<HubEvent>> {
        let (tx, rx) = tokio::sync::mpsc::channel(RELAY_CAPACITY);
        self.relay.set(tx).ok().map(|()| rx)
    }

    /// A live-only event another instance published: to this instance's subscribers only.
    pub fn publish_relayed(&self, event: HubEvent) {
        if event.cursor.is_none() {
            self.send(event);
        }
    }

    /// An event that was written to the user's event log, up to `cursor`.
    pub fn publish_logged(
        &self,
        user_id: Uuid,
        account_id: Uuid,
        cursor: i64,
        event: AccountEvent,
    ) {
        self.send(HubEvent {
            user_id,
            account_id,
            cursor: Some(cursor),
            event,
        });
    }

    /// Wakes the readers of `user_id`'s event log (from the database's commit notices, which
    /// also cover changes made by requests and by other server instances).
    pub fn publish_log_growth(&self, user_id: Uuid, cursor: i64) {
        self.send(HubEvent {
            user_id,
            account_id: Uuid::nil(),
            cursor: Some(cursor),
            event: AccountEvent::Logged,
        });
    }

    fn send(&self, event: HubEvent) {
        // No subscriber is fine: nobody is looking right now.
        let _ = self.tx.send(event);
    }

    /// Every event from now on (filter by `user_id`).
    pub fn subscribe(&self) -> broadcast::Receiver<HubEvent> {
        self.tx.subscribe()
    }
}
