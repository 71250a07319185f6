//! A logged-in connection's shared state and its stanza loop. The loop handles what the server
//! sends, in order; outgoing work (the outbox, user commands, keep-alive) runs beside it in other
//! tasks and meets it only here, in [`Session`].
//!
//! Signal state is touched under one lock per account (`creds`): decrypting a batch, encrypting a
//! message and uploading pre-keys each load, change and commit their keys while holding it, so
//! two tasks never ratchet the same session from two stale copies.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, oneshot};
use tracing::Instrument as _;
use whatsapp_binary::{Jid, Node, Server};

use super::config::ClientConfig;
use super::disconnect::Disconnect;
use super::socket::Connection;
use super::usync::DeviceCache;
use super::{EventSink, prekeys, presence, receipts, recv};
use crate::creds::Credentials;
use crate::events::Event;
use crate::store::AccountStore;

/// What a server `<ack>` for one of our messages said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ack {
    Ok,
    /// The server refused it (`error` attribute: 463 = restricted account / new-contact limit,
    /// 479 and others).
    Error(String),
}

pub(crate) struct Session {
    pub config: Arc<ClientConfig>,
    pub store: Arc<dyn AccountStore>,
    pub events: EventSink,
    pub conn: Connection,
    /// The Signal lock (see the module docs) and the credentials it guards.
    pub creds: tokio::sync::Mutex<Credentials>,
    /// Our device JID (`user:device@s.whatsapp.net`).
    pub me: Jid,
    pub lid: Option<Jid>,
    /// Ours, fixed at pairing (readable without the Signal lock).
    pub registration_id: u32,
    pub devices: DeviceCache,
    acks: Mutex<HashMap<String, oneshot::Sender<Ack>>>,
    /// Whether we announced ourselves `available` on this connection (changes the receipts
    /// we send: type-less when online, `inactive` otherwise).
    pub online: AtomicBool,
    /// Retry receipts sent per message id (bounded by [`MAX_TRACKED_RETRIES`]).
    pub retries: Mutex<HashMap<String, u32>>,
    /// Signalled when the outbox has new work.
    pub outbox: Notify,
    /// The last `media_conn` answer (reused until its ttl passes) and the HTTP client for media,
    /// made on first use.
    pub media_conn: tokio::sync::Mutex<Option<super::media::MediaConn>>,
    pub media_http: std::sync::OnceLock<super::media::MediaHttp>,
    /// Media retry requests waiting for the phone's `mediaretry` notification, by message id.
    pub media_retries: Mutex<HashMap<String, oneshot::Sender<Node>>>,
}

/// Message ids whose retry counts we remember.
pub const MAX_TRACKED_RETRIES: usize = 1024;

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Session {
    pub fn new(
        config: Arc<ClientConfig>,
        store: Arc<dyn AccountStore>,
        events: EventSink,
        conn: Connection,
        creds: Credentials,
        me: Jid,
        lid: Option<Jid>,
    ) -> Self {
        Self {
            config,
            store,
            events,
            conn,
            registration_id: creds.registration_id,
            creds: tokio::sync::Mutex::new(creds),
            me,
            lid,
            devices: DeviceCache::default(),
            acks: Mutex::default(),
            online: AtomicBool::new(false),
            retries: Mutex::default(),
            outbox: Notify::new(),
            media_conn: tokio::sync::Mutex::new(None),
            media_http: std::sync::OnceLock::new(),
            media_retries: Mutex::default(),
        }
    }

    pub fn emit(&self, event: Event) {
        (self.events)(event);
    }

    /// Our phone-number user (digits).
    pub fn my_user(&self) -> &str {
        self.me.user()
    }

    pub fn is_me(&self, jid: &Jid) -> bool {
        match jid.server() {
            Server::Lid | Server::HostedLid => {
                self.lid.as_ref().is_some_and(|l| l.user() == jid.user())
            }
            _ => jid.user() == self.me.user(),
        }
    }

    pub fn is_online(&self) -> bool {
        self.online.load(Ordering::Relaxed)
    }

    /// Registers interest in the server's ack for message `id`.
    pub fn await_ack(&self, id: &str) -> oneshot::Receiver<Ack> {
        let (tx, rx) = oneshot::channel();
        lock(&self.acks).insert(id.to_owned(), tx);
        rx
    }

    pub fn forget_ack(&self, id: &str) {
        lock(&self.acks).remove(id);
    }

    fn resolve_ack(&self, node: &Node) {
        let Some(id) = node.attr_str("id") else {
            return;
        };
        let waiter = lock(&self.acks).remove(id);
        if let Some(waiter) = waiter {
            let ack = match node.attr_str("error") {
                Some(code) => Ack::Error(code.to_owned()),
                None => Ack::Ok,
            };
            let _ = waiter.send(ack);
        }
    }

    /// Sends an `<ack>` for a stanza we received (every receipt, notification and call gets
    /// one, and messages we do not answer with a receipt).
    pub fn ack(&self, node: &Node) {
        let Some(id) = node.attr_str("id") else {
            return;
        };
        let mut ack = Node::new("ack")
            .attr("id", id)
            .attr("class", node.tag.as_str());
        if let Some(from) = node.get_attr("from") {
            ack = ack.attr("to", from.clone());
        }
        for key in ["participant", "recipient"] {
            if let Some(v) = node.get_attr(key) {
                ack = ack.attr(key, v.clone());
            }
        }
        if node.tag != "message"
            && let Some(kind) = node.attr_str("type")
        {
            ack = ack.attr("type", kind);
        }
        let _ = self.conn.send(ack);
    }
}

/// Handles the server's stanzas until the connection ends. Consecutive `<message>` stanzas are
/// decrypted and committed as one batch (one transaction, then their receipts).
pub(crate) async fn stanza_loop(session: Arc<Session>, mut incoming: super::socket::Incoming) {
    let mut held: Option<Node> = None;
    loop {
        let node = match held.take() {
            Some(n) => n,
            None => match incoming.recv().await {
                Some(n) => n,
                None => return,
            },
        };
        if node.tag == "message" {
            let mut batch = vec![node];
            while batch.len() < recv::MAX_BATCH {
                match incoming.try_recv() {
                    Ok(next) if next.tag == "message" => batch.push(next),
                    Ok(other) => {
                        held = Some(other);
                        break;
                    }
                    Err(_) => break,
                }
            }
            // Both handlers are boxed: this task waits for stanzas most of its life, and
            // decrypting needs a large future only while a batch is handled.
            if let Err(e) = Box::pin(recv::handle_messages(&session, batch)).await {
                tracing::warn!(error = %e, "could not store incoming messages; reconnecting so the server delivers them again");
                session.conn.close(Disconnect::StoreUnavailable);
                return;
            }
            continue;
        }
        if let Err(e) = Box::pin(dispatch(&session, &node)).await {
            tracing::warn!(error = %e, tag = %node.tag, "could not handle a stanza; reconnecting");
            session.conn.close(Disconnect::StoreUnavailable);
            return;
        }
    }
}

async fn dispatch(s: &Arc<Session>, node: &Node) -> Result<(), super::ClientError> {
    match node.tag.as_str() {
        "receipt" => receipts::handle_receipt(s, node).await?,
        "ack" => {
            if node.attr_str("class") == Some("message") {
                s.resolve_ack(node);
            }
        }
        "notification" => handle_notification(s, node),
        "chatstate" => presence::on_chatstate(s, node),
        "presence" => presence::on_presence(s, node),
        "call" => s.ack(node),
        "ib" => {
            if let Some(offline) = node.child_by_tag("offline") {
                let count = offline
                    .attr_str("count")
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                s.emit(Event::OfflineDone { count });
            }
        }
        "iq" => handle_server_iq(s, node),
        "stream:error" => {
            let cause = Disconnect::from_stream_error(node);
            tracing::info!(?cause, "stream error from the server");
            s.conn.close(cause);
        }
        "failure" => s.conn.close(Disconnect::from_failure(node)),
        "success" => {}
        other => tracing::debug!(tag = other, "ignoring a stanza"),
    }
    Ok(())
}

fn handle_server_iq(s: &Session, node: &Node) {
    // The server pings us (`urn:xmpp:ping`) and expects an empty result.
    if node.attr_str("type") == Some("get")
        && let Some(id) = node.attr_str("id")
    {
        let mut reply = Node::new("iq").attr("id", id).attr("type", "result");
        if let Some(from) = node.get_attr("from") {
            reply = reply.attr("to", from.clone());
        }
        let _ = s.conn.send(reply);
    }
}

fn handle_notification(s: &Arc<Session>, node: &Node) {
    match node.attr_str("type") {
        // The server's stock of our one-time pre-keys is low.
        Some("encrypt") if node.child_by_tag("count").is_some() => {
            let session = s.clone();
            tokio::spawn(
                async move {
                    if let Err(e) = prekeys::top_up(&session, true).await {
                        tracing::warn!(error = %e, "pre-key upload after a low-count notice failed");
                    }
                }
                .in_current_span(),
            );
        }
        // A phone answered one of our media retry requests.
        Some("mediaretry") => {
            if let Some(waiting) = node
                .attr_str("id")
                .and_then(|id| lock(&s.media_retries).remove(id))
            {
                let _ = waiting.send(node.clone());
            }
        }
        // A contact's device list changed: forget what we cached.
        Some("devices") => {
            if let Ok(Some(from)) = node.attr_jid("from") {
                s.devices.forget(from.user());
            }
        }
        _ => {}
    }
    s.ack(node);
}

/// Pings the server every `keepalive_interval`; an unanswered ping ends the connection.
pub(crate) async fn keepalive(session: Arc<Session>) {
    let timing = &session.config.timing;
    loop {
        tokio::time::sleep(timing.keepalive_interval).await;
        let ping = Node::new("iq")
            .attr("to", Jid::server_only(Server::Pn))
            .attr("type", "get")
            .attr("xmlns", "w:p")
            .child(Node::new("ping"));
        match session.conn.iq_within(ping, timing.keepalive_timeout).await {
            Ok(_) => {}
            Err(super::ClientError::Iq { .. }) => {}
            Err(_) => {
                session.conn.close(Disconnect::Lost(
                    "the server stopped answering pings".into(),
                ));
                return;
            }
        }
    }
}

/// Unix seconds now.
pub(crate) fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
