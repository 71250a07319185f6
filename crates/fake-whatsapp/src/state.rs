//! What the server remembers across connections: paired devices, pre-keys they uploaded, and the
//! live connections (with a command channel each, so the control API can act on them).

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::mpsc;
use whatsapp_binary::Node;

/// Something the control API asks a live connection to do.
#[derive(Debug)]
pub enum ConnCommand {
    /// Send this stanza as is.
    Send(Node),
    /// `<stream:error code=…>` then close.
    Kick(u16),
    /// Close the TCP socket without any goodbye.
    Drop,
}

/// A companion device the scripted phone has linked.
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
}

/// A pair-success the phone has sent and whose `pair-device-sign` reply is awaited.
#[derive(Debug, Clone)]
pub struct PendingPair {
    pub device: Device,
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
}

#[derive(Debug)]
pub struct LiveConn {
    pub commands: mpsc::UnboundedSender<ConnCommand>,
    /// Set once logged in.
    pub device: Option<(String, u16)>,
}

#[derive(Debug, Default)]
pub struct Inner {
    pub next_conn_id: u64,
    pub devices: Vec<Device>,
    pub registrations: Vec<Registration>,
    pub pending: HashMap<u64, PendingPair>,
    pub conns: HashMap<u64, LiveConn>,
    /// Pre-key bundles per device (`user:device`, phone-number user).
    pub bundles: HashMap<String, crate::prekeys::Bundle>,
    pub logins: u64,
}

/// Shared state; one short lock per event, never held across an await.
#[derive(Debug, Default)]
pub struct State {
    inner: Mutex<Inner>,
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
