//! One account's whole life in one task: unlinked → linking → logged in, reconnecting with
//! backoff when the connection drops, stopping for good when WhatsApp logs the device out or
//! another connection replaces it. Commands arrive on a channel (see [`Command`]); every state
//! change is persisted through the store and reported as an [`Event::State`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand_core::{OsRng, RngCore};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tracing::Instrument as _;
use whatsapp_binary::{Jid, Node, Server};

use super::config::ClientConfig;
use super::disconnect::Disconnect;
use super::error::{ClientError, UNTRUSTED_SERVER};
use super::pair::{self, PairEnd};
use super::session::{self, Session};
use super::socket::{self, Connection, Dial};
use super::{payload, prekeys, presence, receipts, send};
use crate::creds::Credentials;
use crate::events::{ChatState, Event};
use crate::store::{AccountState, AccountStore, Commit, LinkedAs, Status};

/// Where an account's events go (the supervisor tags them with the account and user).
pub type EventSink = Arc<dyn Fn(Event) + Send + Sync>;

/// What an account task needs.
#[derive(Clone)]
pub struct AccountCtx {
    pub config: Arc<ClientConfig>,
    pub store: Arc<dyn AccountStore>,
    pub events: EventSink,
}

impl AccountCtx {
    pub(crate) fn emit(&self, event: Event) {
        (self.events)(event);
    }

    /// Records and announces the account's state. Boxed: the account's long-lived futures
    /// await this in many places, and an inline future (holding the state) would take room in
    /// each of them for as long as the account lives.
    fn set_state(&self, state: AccountState) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            if let Err(e) = self.store.set_state(&state).await {
                tracing::warn!(error = %e, status = state.status.as_str(), "could not record the account state");
            }
            self.emit(Event::State(state));
        })
    }
}

/// How to link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkMethod {
    Qr,
    /// A pairing code for this phone number (E.164).
    Code {
        phone: String,
    },
}

/// The first code to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkStarted {
    Qr {
        qr: String,
        expires_at: SystemTime,
    },
    Code {
        code: String,
        expires_at: SystemTime,
    },
}

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum CommandError {
    #[error("this account is not linked")]
    NotLinked,
    #[error("this account is already linked")]
    AlreadyLinked,
    #[error("{0}")]
    Invalid(String),
    #[error("WhatsApp is not reachable right now: {0}")]
    Unavailable(String),
    #[error("the account is shutting down")]
    Stopped,
}

pub enum Command {
    /// Start linking (or switch method while linking).
    Link {
        method: LinkMethod,
        reply: oneshot::Sender<Result<LinkStarted, CommandError>>,
    },
    /// Unlink this device (tells WhatsApp when connected) and forget its credentials.
    Logout {
        reply: oneshot::Sender<Result<(), CommandError>>,
    },
    /// The outbox has new messages.
    Wake,
    /// Mark messages of a chat (a user JID or E.164 number) as read.
    MarkRead {
        chat: String,
        ids: Vec<String>,
    },
    Typing {
        chat: String,
        state: ChatState,
    },
    Presence {
        available: bool,
    },
    SubscribePresence {
        chat: String,
    },
    /// Encrypt and upload a media file to WhatsApp's media host; the reply describes it, ready
    /// to be sent with [`crate::store::AccountStore::outgoing_media`]. Needs a live connection
    /// (the upload token comes from it).
    UploadMedia(Box<super::media::MediaUpload>),
    /// Ask the phone that sent a media message to upload it again (its URL expired or the host
    /// lost it: the media retry receipt); the reply is the descriptor with the new direct path.
    RetryMedia(Box<super::media::MediaRetry>),
    /// The media hosts and upload token (`media_conn`; `force` = ask anew, not the cached
    /// answer), for an upload another server instance makes: only the instance that holds the
    /// connection can ask WhatsApp for them.
    MediaConn {
        force: bool,
        reply: oneshot::Sender<Result<super::media::MediaConn, CommandError>>,
    },
    /// Connect again after the account stopped (replaced, banned, error).
    Reconnect,
    /// End the task (server shutdown); credentials stay.
    Shutdown,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Self::Link { .. } => "Link",
            Self::Logout { .. } => "Logout",
            Self::Wake => "Wake",
            Self::MarkRead { .. } => "MarkRead",
            Self::Typing { .. } => "Typing",
            Self::Presence { .. } => "Presence",
            Self::SubscribePresence { .. } => "SubscribePresence",
            Self::UploadMedia(_) => "UploadMedia",
            Self::MediaConn { .. } => "MediaConn",
            Self::RetryMedia(_) => "RetryMedia",
            Self::Reconnect => "Reconnect",
            Self::Shutdown => "Shutdown",
        };
        f.write_str(name)
    }
}

impl Command {
    /// Answers a command that cannot be carried out now.
    pub(crate) fn refuse(self, error: CommandError) {
        match self {
            Self::Link { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Self::Logout { reply } => {
                let _ = reply.send(Err(error));
            }
            Self::UploadMedia(upload) => {
                let _ = upload.reply.send(Err(error));
            }
            Self::RetryMedia(retry) => {
                let _ = retry.reply.send(Err(error));
            }
            Self::MediaConn { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            _ => {}
        }
    }
}

/// A chat as a user JID: a JID as given, or a phone number.
fn chat_jid(chat: &str) -> Option<Jid> {
    if chat.contains('@') {
        return chat.parse::<Jid>().ok().map(|j| j.to_user());
    }
    send::jid_for_phone(chat)
}

fn state(status: Status, reason: &'static str, message: impl Into<String>) -> AccountState {
    AccountState {
        status,
        reason,
        message: message.into(),
        linked: None,
    }
}

fn linked_as(creds: &Credentials) -> Option<LinkedAs> {
    let me = creds.me.as_ref()?;
    Some(LinkedAs {
        phone: format!("+{}", me.jid.user()),
        jid: me.jid.to_string(),
        lid: me.lid.as_ref().map(ToString::to_string),
        push_name: creds.push_name.clone(),
        linked_at: me.linked_at,
    })
}

/// Reconnect delay for the `attempt`-th retry: exponential from `backoff_min`, capped at
/// `backoff_max`, with "equal jitter" (half fixed, half random) so many accounts that dropped
/// together do not come back together.
pub fn backoff(config: &ClientConfig, attempt: u32) -> Duration {
    let min = config.timing.backoff_min;
    let max = config.timing.backoff_max.max(min);
    let base = min.saturating_mul(1u32 << attempt.min(16)).min(max);
    let half = base / 2;
    let jitter = Duration::from_millis(OsRng.next_u64() % (half.as_millis() as u64 + 1));
    half + jitter
}

/// Runs an account until `Shutdown` (or the command channel closes).
pub async fn run_account(ctx: AccountCtx, mut commands: mpsc::Receiver<Command>) {
    // Loading is boxed (a one-off at start-up, see `set_state`), and so are the credentials:
    // two places of this long-lived future hold them (the stored copy and the one a connection
    // uses), and 2 × 520 bytes inline would stay for as long as the account lives.
    let mut creds: Option<Box<Credentials>> =
        match Box::pin(load_credentials(&ctx, &mut commands)).await {
            Some(loaded) => loaded.map(Box::new),
            None => return,
        };
    let mut persisted = creds.is_some();
    loop {
        match creds.take() {
            Some(mut linked) if linked.me.is_some() => {
                match run_linked(&ctx, &mut linked, &mut persisted, &mut commands).await {
                    LinkedEnd::Shutdown => {
                        // Not connected any more; the next start reconnects it.
                        ctx.set_state(AccountState {
                            linked: linked_as(&linked),
                            ..state(
                                Status::Inactive,
                                "server_stopped",
                                "The server stopped; the account reconnects when it starts again.",
                            )
                        })
                        .await;
                        return;
                    }
                    LinkedEnd::LoggedOut => {
                        forget(&ctx).await;
                        ctx.set_state(state(
                            Status::Expired,
                            "logged_out",
                            "This device was logged out from the phone. Link the account again.",
                        ))
                        .await;
                    }
                    LinkedEnd::Logout(reply) => {
                        forget(&ctx).await;
                        ctx.set_state(state(
                            Status::Inactive,
                            "logged_out_by_user",
                            "Logged out. Link the account again to use it.",
                        ))
                        .await;
                        let _ = reply.send(Ok(()));
                    }
                    LinkedEnd::Stopped(stopped) => {
                        ctx.set_state(stopped).await;
                        match wait_while_stopped(&mut commands).await {
                            Stopped::Reconnect => creds = Some(linked),
                            Stopped::Shutdown => return,
                            Stopped::Logout(reply) => {
                                forget(&ctx).await;
                                ctx.set_state(state(
                                    Status::Inactive,
                                    "logged_out_by_user",
                                    "Logged out. Link the account again to use it.",
                                ))
                                .await;
                                let _ = reply.send(Ok(()));
                            }
                        }
                    }
                }
            }
            _ => match commands.recv().await {
                Some(Command::Link { method, reply }) => {
                    ctx.set_state(state(
                        Status::Connecting,
                        "linking",
                        match &method {
                            LinkMethod::Qr => "Waiting for the QR code to be scanned.",
                            LinkMethod::Code { .. } => {
                                "Waiting for the pairing code to be entered on the phone."
                            }
                        },
                    ))
                    .await;
                    // Boxed, as `login` below: a linked account idles in `run_linked` for
                    // days; its future should not keep room for pairing's states.
                    match Box::pin(pair::pair(&ctx, method, reply, &mut commands)).await {
                        PairEnd::Paired(paired) => {
                            creds = Some(paired);
                            persisted = false;
                        }
                        PairEnd::Cancelled(Command::Logout { reply }) => {
                            ctx.set_state(state(
                                Status::Inactive,
                                "not_linked",
                                "Linking was cancelled.",
                            ))
                            .await;
                            let _ = reply.send(Ok(()));
                        }
                        PairEnd::Cancelled(_) => {
                            ctx.set_state(state(Status::Inactive, "not_linked", "Not linked yet."))
                                .await;
                            return;
                        }
                        PairEnd::Failed { reason, message } => {
                            ctx.set_state(state(Status::Inactive, reason, message))
                                .await;
                        }
                    }
                }
                Some(Command::Logout { reply }) => {
                    forget(&ctx).await;
                    let _ = reply.send(Ok(()));
                }
                Some(Command::Shutdown) | None => return,
                Some(other) => other.refuse(CommandError::NotLinked),
            },
        }
    }
}

async fn forget(ctx: &AccountCtx) {
    if let Err(e) = ctx.store.wipe().await {
        tracing::error!(error = %e, "could not delete the account's credentials");
    }
}

/// Loads stored credentials, waiting out a store that is down. `None` = shut down meanwhile.
async fn load_credentials(
    ctx: &AccountCtx,
    commands: &mut mpsc::Receiver<Command>,
) -> Option<Option<Credentials>> {
    let mut attempt = 0;
    loop {
        match ctx.store.load_credentials().await {
            Ok(None) => return Some(None),
            Ok(Some(bytes)) => match Credentials::decode(&bytes) {
                Ok(creds) if creds.me.is_some() => return Some(Some(creds)),
                Ok(_) => return Some(None),
                Err(e) => {
                    ctx.set_state(state(
                        Status::Error,
                        "credentials_unreadable",
                        format!("The stored WhatsApp credentials cannot be read ({e}). Link the account again."),
                    ))
                    .await;
                    return Some(None);
                }
            },
            Err(e) => {
                ctx.set_state(state(
                    Status::Error,
                    "store_unavailable",
                    format!("The database is not reachable ({e}); retrying."),
                ))
                .await;
                let wait = backoff(&ctx.config, attempt);
                attempt += 1;
                match timeout(wait, commands.recv()).await {
                    Ok(Some(Command::Shutdown) | None) => return None,
                    Ok(Some(other)) => other.refuse(CommandError::Unavailable(
                        "the database is not reachable".into(),
                    )),
                    Err(_) => {}
                }
            }
        }
    }
}

enum LinkedEnd {
    Shutdown,
    LoggedOut,
    Logout(oneshot::Sender<Result<(), CommandError>>),
    /// Stopped without reconnecting; the account waits for a command.
    Stopped(AccountState),
}

enum Stopped {
    Reconnect,
    Shutdown,
    Logout(oneshot::Sender<Result<(), CommandError>>),
}

async fn wait_while_stopped(commands: &mut mpsc::Receiver<Command>) -> Stopped {
    loop {
        match commands.recv().await {
            Some(Command::Reconnect) => return Stopped::Reconnect,
            Some(Command::Link { reply, .. }) => {
                // A linked account that stopped: "link" means "connect it again".
                let _ = reply.send(Err(CommandError::AlreadyLinked));
                return Stopped::Reconnect;
            }
            Some(Command::Logout { reply }) => return Stopped::Logout(reply),
            Some(Command::Shutdown) | None => return Stopped::Shutdown,
            Some(Command::Wake) => {}
            Some(other) => other.refuse(CommandError::NotLinked),
        }
    }
}

enum LoginError {
    Refused(Disconnect),
    Transient(String),
}

/// Connects and logs in; returns the connection and its stanzas after `<success>`.
async fn login(
    ctx: &AccountCtx,
    creds: &mut Credentials,
) -> Result<(Connection, super::socket::Incoming), LoginError> {
    let me = creds
        .me
        .as_ref()
        .ok_or_else(|| LoginError::Transient("not paired".into()))?;
    let username: u64 = me
        .jid
        .user()
        .parse()
        .map_err(|_| LoginError::Refused(Disconnect::LoggedOut))?;
    let login = payload::login(&ctx.config, username, me.jid.device_id());
    let (conn, mut incoming) = {
        let _permit = ctx.config.connect_gate.acquire().await;
        socket::connect(Dial {
            url: &ctx.config.server_url,
            root_key: &ctx.config.root_key,
            noise: &creds.noise,
            payload: &login,
            connect_timeout: ctx.config.timing.connect_timeout,
            iq_timeout: ctx.config.timing.iq_timeout,
        })
        .await
        // Includes a certificate chain that does not lead to the configured root key (a wrong
        // WHATSAPP_ROOT_PUBLIC_KEY, or not WhatsApp at all): not a logout, so retry with
        // backoff and say why in the state.
        .map_err(|e| {
            if e.is_untrusted_server() {
                LoginError::Refused(Disconnect::UntrustedServer(e.to_string()))
            } else {
                LoginError::Transient(e.to_string())
            }
        })?
    };
    let limit = ctx.config.timing.connect_timeout;
    loop {
        let node = match timeout(limit, incoming.recv()).await {
            Ok(Some(n)) => n,
            Ok(None) => {
                return Err(LoginError::Transient(conn.end_reason().map_or_else(
                    || "the connection closed during login".into(),
                    |r| format!("{r:?}"),
                )));
            }
            Err(_) => {
                conn.close(Disconnect::Lost("login timed out".into()));
                return Err(LoginError::Transient("login timed out".into()));
            }
        };
        match node.tag.as_str() {
            "success" => {
                if let (Some(me), Ok(Some(lid))) = (creds.me.as_mut(), node.attr_jid("lid"))
                    && me.lid.is_none()
                {
                    me.lid = Some(lid);
                }
                return Ok((conn, incoming));
            }
            "failure" => {
                let cause = Disconnect::from_failure(&node);
                conn.close(cause.clone());
                return Err(LoginError::Refused(cause));
            }
            "stream:error" => {
                let cause = Disconnect::from_stream_error(&node);
                conn.close(cause.clone());
                return Err(LoginError::Refused(cause));
            }
            other => tracing::debug!(tag = other, "stanza before login success ignored"),
        }
    }
}

async fn run_linked(
    ctx: &AccountCtx,
    creds: &mut Credentials,
    persisted: &mut bool,
    commands: &mut mpsc::Receiver<Command>,
) -> LinkedEnd {
    let mut attempt: u32 = 0;
    // When the account last had a working connection (for `unreachable_after`).
    let mut connected_at = tokio::time::Instant::now();
    ctx.set_state(AccountState {
        linked: linked_as(creds),
        ..state(Status::Connecting, "connecting", "Connecting to WhatsApp.")
    })
    .await;
    loop {
        // Boxed: only `serve` runs for long, so the account's future should be its size, not
        // the handshake's (every idle account keeps its future for as long as it lives).
        let cause = match Box::pin(login(ctx, creds)).await {
            Ok((conn, incoming)) => {
                if persist_once(ctx, creds, persisted).await {
                    attempt = 0;
                    let served = serve(ctx, creds, conn, incoming, commands).await;
                    connected_at = tokio::time::Instant::now();
                    match served {
                        Served::Disconnected(cause) => cause,
                        Served::Shutdown => return LinkedEnd::Shutdown,
                        Served::Logout(reply) => return LinkedEnd::Logout(reply),
                    }
                } else {
                    conn.close(Disconnect::StoreUnavailable);
                    Disconnect::StoreUnavailable
                }
            }
            Err(LoginError::Refused(cause)) => cause,
            Err(LoginError::Transient(why)) => Disconnect::Lost(why),
        };
        tracing::info!(?cause, "disconnected");
        let stopped = match cause {
            Disconnect::Restart => continue,
            Disconnect::LoggedOut => return LinkedEnd::LoggedOut,
            Disconnect::Replaced => Some(state(
                Status::Error,
                "replaced",
                "WhatsApp Web was opened for this account somewhere else. Reconnect to use it here.",
            )),
            Disconnect::Banned => Some(state(
                Status::Error,
                "banned",
                "WhatsApp has banned this phone number.",
            )),
            Disconnect::ClientOutdated => Some(state(
                Status::Error,
                "client_outdated",
                "WhatsApp refused this client version; the server needs an update.",
            )),
            Disconnect::Closed => return LinkedEnd::Shutdown,
            Disconnect::Lost(_)
            | Disconnect::ServerError(_)
            | Disconnect::StoreUnavailable
            | Disconnect::UntrustedServer(_) => None,
        };
        if let Some(stopped) = stopped {
            return LinkedEnd::Stopped(stopped);
        }
        let wait = backoff(&ctx.config, attempt);
        attempt = attempt.saturating_add(1);
        let down_for = connected_at.elapsed();
        let retry_in = wait.as_secs().max(1);
        let shown = if let Disconnect::UntrustedServer(why) = &cause {
            tracing::error!(error = %why, "refusing a server that is not WhatsApp");
            state(
                Status::Error,
                "untrusted_server",
                format!("{UNTRUSTED_SERVER} Retrying in {retry_in} s."),
            )
        } else if down_for >= ctx.config.timing.unreachable_after {
            state(
                Status::Error,
                "unreachable",
                format!(
                    "WhatsApp has not been reachable for {} min; still retrying (next in {retry_in} s).",
                    down_for.as_secs() / 60
                ),
            )
        } else {
            state(
                Status::Connecting,
                "reconnecting",
                format!("Connection lost; reconnecting in {retry_in} s."),
            )
        };
        ctx.set_state(AccountState {
            linked: linked_as(creds),
            ..shown
        })
        .await;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, commands.recv()).await {
                Err(_) => break,
                Ok(Some(Command::Reconnect)) => break,
                Ok(Some(Command::Shutdown) | None) => return LinkedEnd::Shutdown,
                Ok(Some(Command::Logout { reply })) => return LinkedEnd::Logout(reply),
                Ok(Some(Command::Link { reply, .. })) => {
                    let _ = reply.send(Err(CommandError::AlreadyLinked));
                }
                Ok(Some(Command::Wake)) => {} // sent after reconnecting
                // Typing/presence/read while offline are moot; an upload is told why not.
                Ok(Some(other)) => other.refuse(CommandError::Unavailable(
                    "not connected to WhatsApp right now".into(),
                )),
            }
        }
    }
}

/// Stores freshly paired credentials after their first successful login ("credentials persist
/// only once a login with them worked"). False if the store failed.
async fn persist_once(ctx: &AccountCtx, creds: &Credentials, persisted: &mut bool) -> bool {
    if *persisted {
        return true;
    }
    let commit = Commit {
        credentials: Some(creds.encode()),
        ..Commit::default()
    };
    match ctx.store.commit(commit).await {
        Ok(_) => {
            *persisted = true;
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "could not store the new credentials");
            false
        }
    }
}

enum Served {
    Disconnected(Disconnect),
    Shutdown,
    Logout(oneshot::Sender<Result<(), CommandError>>),
}

/// Runs a logged-in connection until it ends or a command ends it.
async fn serve(
    ctx: &AccountCtx,
    creds: &Credentials,
    conn: Connection,
    incoming: super::socket::Incoming,
    commands: &mut mpsc::Receiver<Command>,
) -> Served {
    let Some(me) = creds.me.clone() else {
        return Served::Disconnected(Disconnect::LoggedOut);
    };
    let session = Arc::new(Session::new(
        ctx.config.clone(),
        ctx.store.clone(),
        ctx.events.clone(),
        conn.clone(),
        creds.clone(),
        me.jid.clone(),
        me.lid.clone(),
    ));
    ctx.set_state(AccountState {
        linked: linked_as(creds),
        ..state(Status::Active, "connected", "Connected.")
    })
    .await;
    let mut stanzas =
        tokio::spawn(session::stanza_loop(session.clone(), incoming).in_current_span());
    let helpers: Vec<JoinHandle<()>> = vec![
        tokio::spawn(session::keepalive(session.clone()).in_current_span()),
        tokio::spawn(after_login(session.clone()).in_current_span()),
        tokio::spawn(send::outbox_loop(session.clone()).in_current_span()),
    ];
    let served = loop {
        tokio::select! {
            _ = &mut stanzas => {
                break Served::Disconnected(
                    conn.end_reason().unwrap_or_else(|| Disconnect::Lost("the connection ended".into())),
                );
            }
            command = commands.recv() => match command {
                Some(Command::Wake) => session.outbox.notify_one(),
                Some(Command::MarkRead { chat, ids }) => {
                    if let Some(node) = chat_jid(&chat).and_then(|jid| receipts::read_receipt(&jid, &ids)) {
                        let _ = conn.send(node);
                    }
                }
                Some(Command::Typing { chat, state }) => {
                    if let Some(jid) = chat_jid(&chat) {
                        if !session.is_online() && state != ChatState::Paused {
                            let _ = presence::send_presence(&session, true, creds.push_name.as_deref());
                        }
                        let _ = presence::send_chatstate(&session, &jid, state);
                    }
                }
                Some(Command::Presence { available }) => {
                    let _ = presence::send_presence(&session, available, creds.push_name.as_deref());
                }
                Some(Command::SubscribePresence { chat }) => {
                    if let Some(jid) = chat_jid(&chat) {
                        let _ = presence::subscribe(&session, &jid);
                    }
                }
                Some(Command::Link { reply, .. }) => {
                    let _ = reply.send(Err(CommandError::AlreadyLinked));
                }
                Some(Command::UploadMedia(upload)) => {
                    // Beside the stanza loop: a large upload must not hold up anything else.
                    tokio::spawn(super::media::upload_for(session.clone(), *upload).in_current_span());
                }
                Some(Command::RetryMedia(retry)) => {
                    tokio::spawn(super::media::retry_for(session.clone(), *retry).in_current_span());
                }
                Some(Command::MediaConn { force, reply }) => {
                    let session = session.clone();
                    tokio::spawn(
                        async move {
                            let conn = session
                                .media_conn(force)
                                .await
                                .map_err(|e| CommandError::Unavailable(e.to_string()));
                            let _ = reply.send(conn);
                        }
                        .in_current_span(),
                    );
                }
                Some(Command::Reconnect) => {}
                Some(Command::Logout { reply }) => {
                    Box::pin(remove_companion(&session, &me.jid)).await;
                    conn.close(Disconnect::Closed);
                    break Served::Logout(reply);
                }
                Some(Command::Shutdown) | None => {
                    conn.close(Disconnect::Closed);
                    break Served::Shutdown;
                }
            },
        }
    };
    for task in helpers {
        task.abort();
    }
    if !stanzas.is_finished() {
        // Give the stanza loop a moment to finish what it is storing, then stop it.
        if timeout(Duration::from_secs(5), &mut stanzas).await.is_err() {
            stanzas.abort();
        }
    }
    served
}

/// What a client does right after logging in: tell the server we are active (it then delivers
/// what it kept for us, and `<ib><offline>`), and keep our pre-keys stocked.
async fn after_login(session: Arc<Session>) {
    let active = Node::new("iq")
        .attr("to", Jid::server_only(Server::Pn))
        .attr("type", "set")
        .attr("xmlns", "passive")
        .child(Node::new("active"));
    if let Err(e) = session.conn.iq(active).await {
        tracing::warn!(error = %e, "the server did not accept passive=active");
    }
    if let Err(e) = prekeys::top_up(&session, false).await {
        tracing::warn!(error = %e, "pre-key upload failed");
    }
}

/// Asks WhatsApp to unlink this device (best effort: the credentials are deleted either way).
async fn remove_companion(session: &Session, me: &Jid) {
    let iq = Node::new("iq")
        .attr("to", Jid::server_only(Server::Pn))
        .attr("type", "set")
        .attr("xmlns", "md")
        .child(
            Node::new("remove-companion-device")
                .attr("jid", me.clone())
                .attr("reason", "user_initiated"),
        );
    match session.conn.iq_within(iq, Duration::from_secs(10)).await {
        Ok(_) => {}
        Err(ClientError::NotConnected) => {}
        Err(e) => {
            tracing::info!(error = %e, "WhatsApp did not confirm the logout; credentials are deleted anyway")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn future_size<A, B, F: FnOnce(A, B) -> Fut, Fut>(_: F) -> usize {
        std::mem::size_of::<Fut>()
    }

    fn future_size_1<A, F: FnOnce(A) -> Fut, Fut>(_: F) -> usize {
        std::mem::size_of::<Fut>()
    }

    /// Every linked account keeps these futures for as long as it runs, so whatever they await
    /// inline is paid per idle account, all the time. Pairing, the handshake and the handling
    /// of stanzas and outgoing messages are boxed for that reason; without it the account's
    /// task alone took 17 KiB and the stanza and outbox tasks 3 KiB each.
    #[test]
    fn an_idle_accounts_futures_stay_small() {
        let sizes = [
            ("run_account", future_size(run_account), 6 * 1024),
            ("stanza_loop", future_size(session::stanza_loop), 1024),
            ("outbox_loop", future_size_1(send::outbox_loop), 1024),
            ("keepalive", future_size_1(session::keepalive), 1024),
        ];
        for (name, size, limit) in sizes {
            eprintln!("{name}: {size} bytes");
            assert!(
                size <= limit,
                "{name}'s future is {size} bytes (limit {limit})"
            );
        }
    }
}
