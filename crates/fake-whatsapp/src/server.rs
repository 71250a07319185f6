//! The listener and the handle tests and the binary hold: start, addresses, the phone, and the
//! control operations (stream errors, dropped sockets, what the server knows).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use whatsapp::handshake::{CertificateAuthority, KeyPair};

use crate::error::FakeError;
use crate::party::Party;
use crate::phone::Phone;
use crate::stanza::now_unix;
use crate::state::{Account, ConnCommand, Device, Faults, Received, Seen, State, Stats};

/// How to start a fake server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen; port 0 picks a free one. Loopback by default.
    pub bind: SocketAddr,
    /// The default account's phone number (its scripted phone is [`FakeWhatsApp::phone`]).
    pub phone_number: String,
    /// The default account's LID user.
    pub lid_user: String,
    /// The default account's push name.
    pub name: String,
    /// Logged-in connections that send nothing (not even a keepalive ping) for this long are
    /// closed, as the real server does; clients ping every 20-30 s. Registering connections
    /// waiting for a QR scan are kept for as long as their refs last (3 minutes).
    pub idle_timeout: Duration,
    /// Whether a phone sends a newly linked companion the initial history sync once it has
    /// uploaded its keys (the real phone does; tests of the pre-key directory turn it off
    /// because it takes one of the companion's one-time keys).
    pub history_sync: bool,
    /// Whether a phone shares its app-state sync keys with a newly linked companion once it has
    /// uploaded its keys, as the real phone does (tests that count one-time keys turn it off).
    pub app_state_key_share: bool,
    /// The server's Noise static key (private bytes); `None` makes a fresh one each start.
    /// Clients cache its public half and resume by Noise IK next time, so a fake restarted with
    /// the same key lets them resume and one with a new key makes them fall back (`--static-key`).
    pub static_key: Option<[u8; 32]>,
    /// How long after the companion's `pair-device-sign` the server sends the 515 that makes it
    /// reconnect (the real service's gap is a few hundred milliseconds; see
    /// [`DEFAULT_RESTART_DELAY`]). [`Faults::instant_restart`] makes it zero.
    pub restart_delay: Duration,
    /// How long the media host keeps an uploaded blob; later downloads get `410 Gone`, as
    /// WhatsApp's media URLs expire.
    pub media_ttl: Duration,
}

/// The gap between `pair-device-sign` and the 515. Baileys logs of real pairings show the 515
/// 0.3-1 s after "pairing configured successfully" (that includes the network round trip).
pub const DEFAULT_RESTART_DELAY: Duration = Duration::from_millis(300);

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            phone_number: "15550001111".into(),
            lid_user: "100000000000001".into(),
            name: "Fake Phone".into(),
            idle_timeout: Duration::from_secs(90),
            history_sync: true,
            app_state_key_share: true,
            static_key: None,
            restart_delay: DEFAULT_RESTART_DELAY,
            media_ttl: Duration::from_secs(30 * 86_400),
        }
    }
}

/// What every connection task shares.
#[derive(Debug)]
pub struct Ctx {
    pub static_key: KeyPair,
    pub cert_chain: Vec<u8>,
    pub state: Arc<State>,
    /// A logged-in connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    pub history_sync: bool,
    pub app_state_key_share: bool,
    pub restart_delay: Duration,
}

/// A running fake WhatsApp. Dropping it stops accepting new connections.
#[derive(Debug)]
pub struct FakeWhatsApp {
    addr: SocketAddr,
    root_public: [u8; 32],
    static_public: [u8; 32],
    state: Arc<State>,
    phone: Phone,
    accept: JoinHandle<()>,
    media_addr: SocketAddr,
    media_task: JoinHandle<()>,
}

impl FakeWhatsApp {
    pub async fn start(config: Config) -> Result<Self, FakeError> {
        debug_logging();
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let now = now_unix();
        let ca =
            CertificateAuthority::generate(now.saturating_sub(86_400), now + 10 * 365 * 86_400);
        let static_key = config
            .static_key
            .map_or_else(KeyPair::generate, KeyPair::from_private);
        let static_public = *static_key.public();
        let state = Arc::new(State::default());
        let ctx = Arc::new(Ctx {
            cert_chain: ca.issue(1, static_key.public()),
            static_key,
            state: state.clone(),
            idle_timeout: config.idle_timeout,
            history_sync: config.history_sync,
            app_state_key_share: config.app_state_key_share,
            restart_delay: config.restart_delay,
        });
        let (media_addr, media_task) =
            crate::media::start(config.bind, state.media.clone(), config.media_ttl).await?;
        let accept = tokio::spawn(accept_loop(listener, ctx));
        let mut fake = Self {
            addr,
            root_public: *ca.root_public(),
            static_public,
            phone: Phone {
                state: state.clone(),
                user: String::new(),
                lid_user: String::new(),
            },
            state,
            accept,
            media_addr,
            media_task,
        };
        fake.phone = fake.add_account(&config.phone_number, &config.lid_user, &config.name)?;
        Ok(fake)
    }

    /// Creates another account (a WhatsApp user) with its own scripted phone: its number
    /// (digits), LID user and push name. Companions link to it with its phone's
    /// [`Phone::scan`]; other accounts' companions can message it.
    pub fn add_account(&self, user: &str, lid_user: &str, name: &str) -> Result<Phone, FakeError> {
        let valid =
            |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
        if !valid(user) || !valid(lid_user) {
            return Err(FakeError::Protocol(format!(
                "account numbers must be 1-20 digits: {user:?} / {lid_user:?}"
            )));
        }
        let key = KeyPair::generate();
        let primary = Arc::new(Party::new(*key.private()));
        self.state.with(|s| {
            if s.accounts.contains_key(user) || s.accounts.values().any(|a| a.lid_user == lid_user)
            {
                return Err(FakeError::AccountExists(user.to_owned()));
            }
            s.accounts.insert(
                user.to_owned(),
                Account {
                    user: user.to_owned(),
                    lid_user: lid_user.to_owned(),
                    name: name.to_owned(),
                    key,
                    raw_id: rand_core::RngCore::next_u32(&mut rand_core::OsRng),
                    primary,
                    next_device: 1,
                    available: false,
                    last_seen: now_unix(),
                    sent: Default::default(),
                    received_ids: Default::default(),
                    app_state_keys: vec![crate::app_state::AppStateKey::generate()],
                },
            );
            Ok(())
        })?;
        Ok(Phone {
            state: self.state.clone(),
            user: user.to_owned(),
            lid_user: lid_user.to_owned(),
        })
    }

    /// The scripted phone of the account with this phone number.
    pub fn account(&self, user: &str) -> Option<Phone> {
        self.state
            .with(|s| s.accounts.get(user).map(|a| Phone::of(&self.state, a)))
    }

    /// Phone numbers of all accounts.
    pub fn accounts(&self) -> Vec<String> {
        self.state.with(|s| s.accounts.keys().cloned().collect())
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        self.state.with(|s| s.faults.clone())
    }

    /// Replaces the faults in force (they apply from the next stanza on).
    pub fn set_faults(&self, faults: Faults) {
        self.state.with(|s| s.faults = faults);
    }

    /// Receipts, chat states, presences and nacks clients sent, oldest first.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.with(|s| s.seen.iter().cloned().collect())
    }

    /// Messages every scripted phone received, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.state.with(|s| s.received.iter().cloned().collect())
    }

    /// Counters since start.
    pub fn stats(&self) -> Stats {
        self.state.with(|s| s.stats.clone())
    }

    /// Stanzas waiting in the offline queue of `user:device`.
    pub fn queued(&self, user: &str, device: u16) -> usize {
        let key = crate::state::device_key(user, device);
        self.state.with(|s| s.outbox.get(&key).map_or(0, Vec::len))
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://addr/ws/chat`.
    pub fn url(&self) -> String {
        format!("ws://{}/ws/chat", self.addr)
    }

    /// The root key clients must trust instead of WhatsApp's.
    pub fn root_public_key(&self) -> [u8; 32] {
        self.root_public
    }

    /// The media host (`127.0.0.1:<port>`: plain HTTP, or TLS with a self-signed certificate).
    pub fn media_addr(&self) -> SocketAddr {
        self.media_addr
    }

    /// The media host's blobs: tests tamper with them, expire them, count transfers.
    pub fn media(&self) -> &crate::media::MediaStore {
        &self.state.media
    }

    /// The server's Noise static public key, which clients cache to resume by Noise IK.
    pub fn static_public_key(&self) -> [u8; 32] {
        self.static_public
    }

    /// The default account's scripted phone.
    pub fn phone(&self) -> &Phone {
        &self.phone
    }

    /// QR refs offered to each registering connection still waiting for a scan.
    pub fn pair_refs(&self) -> Vec<Vec<String>> {
        self.state
            .with(|s| s.registrations.iter().map(|r| r.refs.clone()).collect())
    }

    /// Devices the phone has linked (after the companion's signed reply).
    pub fn devices(&self) -> Vec<Device> {
        self.state.with(|s| s.devices.clone())
    }

    /// Successful logins so far.
    pub fn logins(&self) -> u64 {
        self.state.with(|s| s.stats.logins)
    }

    /// One-time pre-keys the device `user:device` has on the server.
    pub fn prekey_count(&self, user: &str, device: u16) -> usize {
        let key = crate::state::device_key(user, device);
        self.state
            .with(|s| s.bundles.get(&key).map_or(0, |b| b.one_time.len()))
    }

    /// Live connections.
    pub fn connections(&self) -> usize {
        self.state.with(|s| s.conns.len())
    }

    /// Sends `<stream:error code=…>` to every logged-in connection and closes them; 401 also
    /// unlinks their devices (the phone removed them). Returns how many were kicked.
    pub fn kick(&self, code: u16) -> usize {
        self.state.with(|s| {
            let mut n = 0;
            let mut removed = Vec::new();
            for live in s.conns.values() {
                if let Some(dev) = &live.device {
                    if live.commands.send(ConnCommand::Kick(code)).is_ok() {
                        n += 1;
                    }
                    removed.push(dev.clone());
                }
            }
            if code == 401 {
                for (user, device) in &removed {
                    s.unlink(user, *device);
                }
            }
            n
        })
    }

    /// Sends `<stream:error>` for `code` to the connections logged in as `user:device` only.
    pub fn kick_device(&self, user: &str, device: u16, code: u16) -> usize {
        let target = (user.to_owned(), device);
        self.state.with(|s| {
            let n = s
                .conns
                .values()
                .filter(|c| c.device.as_ref() == Some(&target))
                .filter(|c| c.commands.send(ConnCommand::Kick(code)).is_ok())
                .count();
            if code == 401 {
                s.unlink(user, device);
            }
            n
        })
    }

    /// Sends an arbitrary stanza to the connections logged in as `user:device` (for faults the
    /// API has no verb for yet, e.g. `<failure>` or a duplicate). Returns how many got it.
    pub fn send_to_device(&self, user: &str, device: u16, node: &whatsapp_binary::Node) -> usize {
        let target = (user.to_owned(), device);
        self.state.with(|s| {
            s.conns
                .values()
                .filter(|c| c.device.as_ref() == Some(&target))
                .filter(|c| c.commands.send(ConnCommand::Send(node.clone())).is_ok())
                .count()
        })
    }

    /// Sends `<failure reason=…>` to the connections logged in as `user:device` and closes
    /// them. Returns how many.
    pub fn fail_device(&self, user: &str, device: u16, reason: u16) -> usize {
        let target = (user.to_owned(), device);
        self.state.with(|s| {
            s.conns
                .values()
                .filter(|c| c.device.as_ref() == Some(&target))
                .filter(|c| c.commands.send(ConnCommand::Failure(reason)).is_ok())
                .count()
        })
    }

    /// Drops every connection's socket without a goodbye. Returns how many.
    pub fn drop_sockets(&self) -> usize {
        self.state.with(|s| {
            s.conns
                .values()
                .filter(|c| c.commands.send(ConnCommand::Drop).is_ok())
                .count()
        })
    }

    /// Waits until `f` holds, polling; for tests.
    pub async fn wait_until(
        &self,
        what: &'static str,
        limit: Duration,
        f: impl Fn(&Self) -> bool,
    ) -> Result<(), FakeError> {
        let deadline = tokio::time::Instant::now() + limit;
        while !f(self) {
            if tokio::time::Instant::now() >= deadline {
                return Err(FakeError::Timeout(what));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}

impl Drop for FakeWhatsApp {
    fn drop(&mut self) {
        self.accept.abort();
        self.media_task.abort();
    }
}

async fn accept_loop(listener: TcpListener, ctx: Arc<Ctx>) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            // Transient accept errors (e.g. too many open files): back off and keep serving.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            // A failing connection ends alone; say why, at a level that fits the cause.
            match crate::conn::serve(stream, ctx).await {
                Ok(()) => tracing::debug!(%peer, "connection ended"),
                Err(e) if e.is_client_gone() => tracing::debug!(%peer, "{e}"),
                Err(e) => tracing::info!(%peer, "connection closed: {e}"),
            }
        });
    }
}

/// `FAKE_WHATSAPP_DEBUG=1`: log every stanza the server sends and why connections end, to
/// stderr, even when the fake runs inside a test process that installed no `tracing`
/// subscriber. (The binary installs one itself and also honours `RUST_LOG`.)
fn debug_logging() {
    if std::env::var_os("FAKE_WHATSAPP_DEBUG").is_some() {
        // Fails only when a subscriber is already installed, which then decides.
        let _ = tracing_subscriber::fmt()
            .with_env_filter("fake_whatsapp=trace")
            .with_writer(std::io::stderr)
            .try_init();
    }
}
