//! What the server remembers across connections: accounts (each with a scripted primary phone),
//! paired companion devices, pre-keys they uploaded, stanzas waiting for a device (the offline
//! queue), what the scripted phones saw, faults in force, and the live connections (with a
//! command channel each, so the control API and other connections can act on them).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use whatsapp::handshake::KeyPair;
use whatsapp_binary::{Jid, Node, Server};

use crate::party::Party;

/// How many entries each observation log keeps (oldest dropped first), so a long soak does not
/// grow the fake without bound.
pub const LOG_CAP: usize = 50_000;

/// Something the control API (or another connection) asks a live connection to do.
#[derive(Debug)]
pub enum ConnCommand {
    /// Send this stanza as is.
    Send(Node),
    /// Send this queued stanza (an outbox entry, by tag and id) unless already sent on this
    /// connection.
    Deliver { class: String, id: String },
    /// `<stream:error code=…>` then close.
    Kick(u16),
    /// `<failure reason=…>` then close.
    Failure(u16),
    /// Close the TCP socket without any goodbye.
    Drop,
}

/// An account: a phone number, its LID, and the scripted primary phone (device 0).
#[derive(Debug)]
pub struct Account {
    pub user: String,
    pub lid_user: String,
    /// The push name others see (`notify`).
    pub name: String,
    /// The account (primary identity) key: signs ADV identities and key-index lists.
    pub key: KeyPair,
    /// The ADV raw id shared by the account's device identities and key-index lists.
    pub raw_id: u32,
    pub primary: Arc<Party>,
    pub next_device: u16,
    /// The primary's presence as others see it.
    pub available: bool,
    pub last_seen: u64,
    /// What the phone sent lately, for companions' retry receipts.
    pub sent: crate::retry::SentLog,
    /// Message ids the phone decrypted lately, to ignore duplicates.
    pub received_ids: crate::retry::ReceivedIds,
    /// The account's app-state sync keys, shared with its companions.
    pub app_state_keys: Vec<crate::app_state::AppStateKey>,
}

/// A companion device a phone has linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Phone-number user (digits), as in `user:device@s.whatsapp.net`.
    pub user: String,
    pub device: u16,
    pub lid_user: String,
    /// The noise static key the companion registered with; login must present it again.
    pub noise_public: [u8; 32],
    /// The companion's Signal identity key.
    pub identity_public: [u8; 32],
    /// The ADV key index the phone issued it.
    pub key_index: u32,
}

/// A pair-success the phone has sent and whose `pair-device-sign` reply is awaited.
#[derive(Debug, Clone)]
pub struct PendingPair {
    pub device: Device,
    /// The registration's keys, stored as the device's bundle when pairing completes.
    pub keys: crate::prekeys::Bundle,
    /// The encoded `ADVDeviceIdentity` the phone signed.
    pub details: Vec<u8>,
    pub account_public: [u8; 32],
    pub iq_id: String,
}

/// A registering (unpaired) connection waiting for a scan.
#[derive(Debug, Clone)]
pub struct Registration {
    pub conn_id: u64,
    pub refs: Vec<String>,
    pub noise_public: [u8; 32],
    pub identity_public: [u8; 32],
    /// The keys the registration payload carried (registration id, key type, identity, signed
    /// pre-key): the server's first record of the device's bundle once it is paired.
    pub keys: crate::prekeys::Bundle,
}

#[derive(Debug)]
pub struct LiveConn {
    pub commands: mpsc::UnboundedSender<ConnCommand>,
    /// Set once logged in.
    pub device: Option<(String, u16)>,
    /// Accounts (phone-number users) whose presence this connection subscribed to.
    pub subscriptions: Vec<String>,
}

/// A stanza for a companion device, kept until the device acknowledges it (`<ack>` or
/// `<receipt>` with its id), delivered live when the device is connected and again on every
/// login until then — the real server's offline queue.
#[derive(Debug, Clone)]
pub struct Queued {
    /// The stanza's tag (`message`, `receipt`, …): acks name it as `class`.
    pub class: String,
    pub id: String,
    pub node: Node,
    /// Connection ids it was already sent on (not re-sent on the same one).
    pub sent_on: Vec<u64>,
}

/// A message one of the scripted phones received (decrypted or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The account (phone-number user) whose phone received it.
    pub account: String,
    /// The sending device, e.g. `15550001111:1@s.whatsapp.net`.
    pub from: String,
    pub id: String,
    /// `pkmsg` or `msg`.
    pub kind: String,
    /// The text (`conversation` or `extendedTextMessage.text`) when it decrypted to one.
    pub text: Option<String>,
    /// For a companion's copy to its own phone (`deviceSentMessage`): the chat it went to.
    pub sent_to: Option<String>,
    /// Why it did not decrypt.
    pub error: Option<String>,
    /// A media message's file, as described in the message ([`crate::Phone::download`] fetches
    /// and decrypts it).
    pub media: Option<whatsapp::media::MediaDescriptor>,
}

/// A receipt, chat state or presence a client sent, as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The client device that sent it.
    pub from: String,
    /// The addressee (`to`), if any.
    pub to: Option<String>,
    /// `receipt`: the type (`delivery` when absent, `read`, `retry`, …); `chatstate`: the state
    /// (`composing`, `paused`); `presence`: its type (`available`, `unavailable`, `subscribe`).
    pub kind: String,
    /// Message ids a receipt covers.
    pub ids: Vec<String>,
}

/// Faults in force for every connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Do not `<ack>` the messages clients send.
    pub withhold_acks: bool,
    /// The scripted phones send no delivery receipts.
    pub withhold_receipts: bool,
    /// Wait this long before every answer to a client (IQ results, acks).
    pub delay: Duration,
    /// Deliver every stanza for a companion twice.
    pub duplicate_deliveries: bool,
    /// Send the 515 right after `pair-device-sign`, without the configured delay (the race
    /// clients that set their "paired" flag late lose).
    pub instant_restart: bool,
}

/// Counters for the control API and the soak report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub logins: u64,
    /// `<message>` stanzas clients sent.
    pub messages_in: u64,
    /// Stanzas delivered to companions (messages, receipts, chat states).
    pub deliveries: u64,
    /// Messages the scripted phones decrypted.
    pub decrypted: u64,
    /// Messages the scripted phones could not decrypt.
    pub decrypt_failures: u64,
    /// Client `<ack>`s that carried an error (nacks).
    pub nacks: u64,
    /// Copies of messages the scripted phones had already received (same sender account and
    /// id), ignored as real phones do.
    pub duplicates_ignored: u64,
    /// Messages the scripted phones sent again in answer to a retry receipt.
    pub resent: u64,
    /// Handshakes completed by Noise IK (a client resuming with the current server key).
    pub resumed_handshakes: u64,
    /// Resumes answered with XXfallback (the client's cached server key was not ours).
    pub fallback_handshakes: u64,
}

#[derive(Debug, Default)]
pub struct Inner {
    pub next_conn_id: u64,
    pub accounts: BTreeMap<String, Account>,
    pub devices: Vec<Device>,
    pub registrations: Vec<Registration>,
    pub pending: HashMap<u64, PendingPair>,
    pub conns: HashMap<u64, LiveConn>,
    /// Pre-key bundles per device (`user:device`, phone-number user).
    pub bundles: HashMap<String, crate::prekeys::Bundle>,
    /// Offline queue per companion (`user:device`).
    pub outbox: HashMap<String, Vec<Queued>>,
    pub received: VecDeque<Received>,
    pub seen: VecDeque<Seen>,
    pub faults: Faults,
    pub stats: Stats,
    /// Companions waiting for their pairing code to be entered on a phone.
    pub link_codes: Vec<crate::link_code::Waiting>,
}

/// Shared state; one short lock per event, never held across an await.
#[derive(Debug, Default)]
pub struct State {
    inner: Mutex<Inner>,
    /// The media host's storage (its own lock: blobs are large and never touched under `inner`).
    pub media: Arc<crate::media::MediaStore>,
}

impl State {
    pub fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        // A poisoned lock only means another connection task panicked mid-update; the data is
        // still the best we have, so keep serving.
        let mut guard = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }
}

pub fn device_key(user: &str, device: u16) -> String {
    format!("{user}:{device}")
}

fn push_capped<T>(log: &mut VecDeque<T>, item: T) {
    if log.len() >= LOG_CAP {
        log.pop_front();
    }
    log.push_back(item);
}

impl Inner {
    /// The account a JID user part names, by phone number or LID.
    pub fn account_for(&self, jid: &Jid) -> Option<&Account> {
        match jid.server() {
            Server::Lid | Server::HostedLid => {
                self.accounts.values().find(|a| a.lid_user == jid.user())
            }
            _ => self.accounts.get(jid.user()),
        }
    }

    /// Companion devices of an account, in device order.
    pub fn companions_of(&self, user: &str) -> Vec<&Device> {
        let mut list: Vec<&Device> = self.devices.iter().filter(|d| d.user == user).collect();
        list.sort_by_key(|d| d.device);
        list
    }

    /// Queues `node` for every companion of `user` (see [`Inner::deliver`]).
    pub fn deliver_to_companions(&mut self, user: &str, node: &Node) {
        for device in self.companion_ids(user) {
            self.deliver(user, device, node.clone());
        }
    }

    /// Sends `node` live to every connected companion of `user` (see [`Inner::send_live`]);
    /// returns how many connections got it.
    pub fn send_live_to_companions(&mut self, user: &str, node: &Node) -> usize {
        self.companion_ids(user)
            .into_iter()
            .map(|device| self.send_live(user, device, node))
            .sum()
    }

    fn companion_ids(&self, user: &str) -> Vec<u16> {
        self.companions_of(user).iter().map(|d| d.device).collect()
    }

    pub fn record_received(&mut self, item: Received) {
        push_capped(&mut self.received, item);
    }

    pub fn record_seen(&mut self, item: Seen) {
        push_capped(&mut self.seen, item);
    }

    /// Queues `node` (whose `id` attribute names it) for the companion `user:device` and sends
    /// it right away if the device is connected. Returns whether it went out live.
    pub fn deliver(&mut self, user: &str, device: u16, node: Node) -> bool {
        let id = node.attr_str("id").unwrap_or_default().to_owned();
        let class = node.tag.clone();
        let duplicate = self.faults.duplicate_deliveries.then(|| node.clone());
        self.outbox
            .entry(device_key(user, device))
            .or_default()
            .push(Queued {
                class: class.clone(),
                id: id.clone(),
                node,
                sent_on: Vec::new(),
            });
        let target = (user.to_owned(), device);
        let mut live = false;
        for conn in self.conns.values() {
            if conn.device.as_ref() == Some(&target) {
                let deliver = ConnCommand::Deliver {
                    class: class.clone(),
                    id: id.clone(),
                };
                live |= conn.commands.send(deliver).is_ok();
                if let Some(copy) = &duplicate {
                    let _ = conn.commands.send(ConnCommand::Send(copy.clone()));
                }
            }
        }
        if live {
            self.stats.deliveries += 1;
        }
        live
    }

    /// Sends `node` to every live connection of `user:device` without queueing it (chat
    /// states and presence are not kept for offline devices, as on the real server).
    pub fn send_live(&mut self, user: &str, device: u16, node: &Node) -> usize {
        let target = (user.to_owned(), device);
        let n = self
            .conns
            .values()
            .filter(|c| c.device.as_ref() == Some(&target))
            .filter(|c| c.commands.send(ConnCommand::Send(node.clone())).is_ok())
            .count();
        self.stats.deliveries += n as u64;
        n
    }

    /// Unlinks the companion `user:device` (the phone removed it, or it logged itself out):
    /// its queue and keys are gone with it.
    pub fn unlink(&mut self, user: &str, device: u16) {
        self.devices
            .retain(|d| !(d.user == user && d.device == device));
        let key = device_key(user, device);
        self.outbox.remove(&key);
        self.bundles.remove(&key);
    }

    /// Drops queued `class` stanzas for `user:device` that the device acknowledged. Only stanzas
    /// already sent can be acknowledged: a resend queued under the same id (an answer to a retry
    /// receipt) must survive the device's late ack of the first copy.
    pub fn acknowledge(&mut self, user: &str, device: u16, class: &str, ids: &[String]) {
        if let Some(queue) = self.outbox.get_mut(&device_key(user, device)) {
            queue.retain(|q| q.class != class || !ids.contains(&q.id) || q.sent_on.is_empty());
        }
    }
}
