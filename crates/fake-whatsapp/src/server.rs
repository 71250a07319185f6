//! The listener and the handle tests and the binary hold: start, addresses, the phone, and the
//! control operations (stream errors, dropped sockets, what the server knows).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU16;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use whatsapp::handshake::{CertificateAuthority, KeyPair};

use crate::error::FakeError;
use crate::phone::Phone;
use crate::stanza::now_unix;
use crate::state::{ConnCommand, Device, State};

/// How to start a fake server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen; port 0 picks a free one. Loopback by default.
    pub bind: SocketAddr,
    /// The scripted phone's number.
    pub phone_number: String,
    /// The account's LID user.
    pub lid_user: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            phone_number: "15550001111".into(),
            lid_user: "100000000000001".into(),
        }
    }
}

/// What every connection task shares.
#[derive(Debug)]
pub struct Ctx {
    pub static_key: KeyPair,
    pub cert_chain: Vec<u8>,
    pub state: Arc<State>,
}

/// A running fake WhatsApp. Dropping it stops accepting new connections.
#[derive(Debug)]
pub struct FakeWhatsApp {
    addr: SocketAddr,
    root_public: [u8; 32],
    state: Arc<State>,
    phone: Phone,
    accept: JoinHandle<()>,
}

impl FakeWhatsApp {
    pub async fn start(config: Config) -> Result<Self, FakeError> {
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let now = now_unix();
        let ca =
            CertificateAuthority::generate(now.saturating_sub(86_400), now + 10 * 365 * 86_400);
        let static_key = KeyPair::generate();
        let state = Arc::new(State::default());
        let ctx = Arc::new(Ctx {
            cert_chain: ca.issue(1, static_key.public()),
            static_key,
            state: state.clone(),
        });
        let accept = tokio::spawn(accept_loop(listener, ctx));
        let phone = Phone {
            state: state.clone(),
            account: KeyPair::generate(),
            user: config.phone_number,
            lid_user: config.lid_user,
            next_device: AtomicU16::new(1),
        };
        Ok(Self {
            addr,
            root_public: *ca.root_public(),
            state,
            phone,
            accept,
        })
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
        self.state.with(|s| s.logins)
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
                s.devices
                    .retain(|d| !removed.contains(&(d.user.clone(), d.device)));
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
                s.devices
                    .retain(|d| !(d.user == user && d.device == device));
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
    }
}

async fn accept_loop(listener: TcpListener, ctx: Arc<Ctx>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Transient accept errors (e.g. too many open files): back off and keep serving.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            // A failing connection ends alone; the reason is only of interest when debugging.
            if let Err(e) = crate::conn::serve(stream, ctx).await
                && std::env::var_os("FAKE_WHATSAPP_DEBUG").is_some()
            {
                eprintln!("fake-whatsapp: connection closed: {e}");
            }
        });
    }
}
