//! How an account's engine connects and how patient it is.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

/// WhatsApp Web's multi-device endpoint.
pub const WHATSAPP_URL: &str = "wss://web.whatsapp.com/ws/chat";
/// WhatsApp Web's version as Baileys 7.0.0-rc14 announces it (the server refuses versions that
/// are too old with `<failure reason="405">`).
pub const WEB_VERSION: [u32; 3] = [2, 3000, 1_029_496_320];

/// Shared by every account of a process.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub server_url: String,
    /// The key the server's certificate chain must be signed by (WhatsApp's root in
    /// production, the offline WhatsApp's in tests).
    pub root_key: [u8; 32],
    /// How the linked device appears on the phone: "<os> (<browser>)", e.g. "Rarity Leads (Chrome)".
    pub os: String,
    pub browser: String,
    pub version: [u32; 3],
    pub timing: Timing,
    /// One-time pre-keys uploaded at a time, and the server-side count below which we upload.
    pub pre_key_batch: u32,
    pub pre_key_low_water: u32,
    /// Bounds how many accounts connect (handshake + login) at the same moment, so a restart
    /// with many stored accounts does not stampede the server or this machine.
    pub connect_gate: Arc<Semaphore>,
    /// `https` for WhatsApp's media hosts; `http` only for the offline WhatsApp's media host on
    /// loopback (see [`crate::client::media`]).
    pub media_scheme: String,
}

/// Timers and retry bounds.
#[derive(Debug, Clone)]
pub struct Timing {
    pub connect_timeout: Duration,
    pub iq_timeout: Duration,
    /// A keep-alive ping after this much time; the connection counts as dead when the ping is
    /// not answered within `keepalive_timeout`.
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
    /// How long a sent message waits for the server's ack before it is sent again.
    pub ack_timeout: Duration,
    /// Sends of one message (each with the same id) before it is marked failed.
    pub max_send_attempts: u32,
    /// Reconnect backoff: doubles from `backoff_min` up to `backoff_max`, with jitter.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// How long the first QR code shows, and each later one.
    pub qr_first: Duration,
    pub qr_next: Duration,
    /// How long a pairing code stays valid.
    pub pairing_code_ttl: Duration,
    /// An account that cannot reconnect for this long is shown as `error`/`unreachable` (it
    /// keeps retrying). `WHATSAPP_SESSION_TIMEOUT` in the server.
    pub unreachable_after: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(20),
            iq_timeout: Duration::from_secs(30),
            keepalive_interval: Duration::from_secs(25),
            keepalive_timeout: Duration::from_secs(20),
            ack_timeout: Duration::from_secs(30),
            max_send_attempts: 5,
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            qr_first: Duration::from_secs(60),
            qr_next: Duration::from_secs(20),
            pairing_code_ttl: Duration::from_secs(180),
            unreachable_after: Duration::from_secs(3600),
        }
    }
}

impl ClientConfig {
    /// WhatsApp's real server, WhatsApp's root key.
    pub fn whatsapp() -> Self {
        Self::new(WHATSAPP_URL, crate::handshake::WHATSAPP_ROOT_KEY)
    }

    pub fn new(server_url: &str, root_key: [u8; 32]) -> Self {
        Self {
            server_url: server_url.to_owned(),
            root_key,
            os: "Rarity Leads".to_owned(),
            browser: "Chrome".to_owned(),
            version: WEB_VERSION,
            timing: Timing::default(),
            pre_key_batch: 50,
            pre_key_low_water: 10,
            connect_gate: Arc::new(Semaphore::new(16)),
            media_scheme: "https".to_owned(),
        }
    }
}
