//! The supervisor: one engine task per account, a command channel each, and the one handle the
//! server acts through.
//!
//! Fault isolation: each account runs in its own tokio task, watched by a small monitor task. A
//! panic ends that account's task only; the monitor records the account as `error`
//! (`engine_fault`) and forgets it, so the next command (link, reconnect) starts it afresh.
//! Start-up reconnects every linked account at once as tasks, but their connection attempts pass
//! through the engine's `connect_gate`, so a thousand accounts do not stampede.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use store::{EngineAccount, EngineStore};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;
use whatsapp::client::media::{
    MediaConn, MediaHost, MediaHttp, MediaRetry, MediaSource, MediaTransferError, MediaUpload,
};
use whatsapp::client::{
    AccountCtx, ClientConfig, Command, CommandError, LinkMethod, LinkStarted, run_account,
};
use whatsapp::events::{ChatState, Event};
use whatsapp::media::{MediaDescriptor, MediaKind, MediaMeta};
use whatsapp::store::{AccountState, Status};

use crate::adapter::StoreFactory;
use crate::hub::{AccountEvent, Hub};

/// How long a command that expects an answer (link, logout) may take.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(45);
/// A command one instance can hand to the instance holding the account: fire-and-forget ones,
/// and a logout (whose asker watches the database for the outcome).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
enum Forwarded {
    MarkRead {
        chat: String,
        ids: Vec<String>,
    },
    Typing {
        chat: String,
        state: String,
    },
    Presence {
        available: bool,
    },
    SubscribePresence {
        chat: String,
    },
    /// Waited for by the asking instance (it watches the credentials go).
    Logout,
    Reconnect,
    /// Share the account's `media_conn` through the store, for an upload the asking instance
    /// makes itself (it waits for the shared row).
    ShareMediaConn {
        force: bool,
    },
}

impl Forwarded {
    /// The engine command; `None` for what the supervisor itself carries out (a logout).
    fn into_command(self) -> Option<Command> {
        Some(match self {
            Self::MarkRead { chat, ids } => Command::MarkRead { chat, ids },
            Self::Typing { chat, state } => Command::Typing {
                chat,
                state: match state.as_str() {
                    "composing" => ChatState::Composing,
                    "recording" => ChatState::Recording,
                    _ => ChatState::Paused,
                },
            },
            Self::Presence { available } => Command::Presence { available },
            Self::SubscribePresence { chat } => Command::SubscribePresence { chat },
            Self::Reconnect => Command::Reconnect,
            Self::Logout | Self::ShareMediaConn { .. } => return None,
        })
    }
}

/// How long an upload to WhatsApp's media host may take (a 100 MB video on a slow link).
pub const MEDIA_TIMEOUT: Duration = Duration::from_secs(600);
/// Commands queued per account.
const COMMAND_BUFFER: usize = 64;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SessionsError {
    /// No such account for this user (or not theirs).
    #[error("no such WhatsApp account")]
    NotFound,
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("the account did not answer in time")]
    Timeout,
    #[error("storage failed: {0}")]
    Store(String),
    /// Another server instance connects this account (see [`store::Leases`]).
    #[error(
        "another server instance connects this WhatsApp account; try again there or in a moment"
    )]
    HeldElsewhere,
}

struct Running {
    user_id: Uuid,
    generation: u64,
    commands: mpsc::Sender<Command>,
}

struct Inner {
    engine: EngineStore,
    config: Arc<ClientConfig>,
    hub: Hub,
    factory: Arc<dyn StoreFactory>,
    running: Mutex<HashMap<Uuid, Running>>,
    /// The QR code on show per linking account.
    qrs: Mutex<HashMap<Uuid, (String, SystemTime)>>,
    next_generation: std::sync::atomic::AtomicU64,
    monitors: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// With several instances on one database: which accounts this one may connect. `None`
    /// (tests, tools) runs every account asked for.
    leases: std::sync::OnceLock<Arc<store::Leases>>,
    media_http: std::sync::OnceLock<MediaHttp>,
}

/// The command handle. Cheap to clone.
#[derive(Clone)]
pub struct Sessions {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("running", &lock(&self.inner.running).len())
            .finish_non_exhaustive()
    }
}

/// A store error as the sessions report it: "no such account (for this user)" is `NotFound`.
fn store_error(e: store::StoreError) -> SessionsError {
    match e {
        store::StoreError::NotFound => SessionsError::NotFound,
        e => SessionsError::Store(e.to_string()),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn utc(t: SystemTime) -> DateTime<Utc> {
    DateTime::<Utc>::from(t)
}

pub(crate) fn state_event(state: &AccountState) -> AccountEvent {
    AccountEvent::State {
        status: state.status.as_str().to_owned(),
        status_reason: state.reason.to_owned(),
        status_message: state.message.clone(),
        phone_number: state.linked.as_ref().map(|l| l.phone.clone()),
    }
}

impl Sessions {
    pub fn new(
        engine: EngineStore,
        config: Arc<ClientConfig>,
        hub: Hub,
        factory: Arc<dyn StoreFactory>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                engine,
                config,
                hub,
                factory,
                running: Mutex::default(),
                qrs: Mutex::default(),
                next_generation: std::sync::atomic::AtomicU64::new(1),
                monitors: Mutex::default(),
                leases: std::sync::OnceLock::new(),
                media_http: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Runs accounts only under a lease (several instances on one database); set once, before
    /// [`Sessions::start_all`].
    pub fn use_leases(&self, leases: Arc<store::Leases>) {
        let _ = self.inner.leases.set(leases);
    }

    /// Takes the account's lease (when leases are in use). `HeldElsewhere` = another instance
    /// runs it.
    async fn claim(&self, account_id: Uuid) -> Result<(), SessionsError> {
        let Some(leases) = self.inner.leases.get() else {
            return Ok(());
        };
        match leases.try_acquire(account_id).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(SessionsError::HeldElsewhere),
            Err(e) => Err(SessionsError::Store(e.to_string())),
        }
    }

    /// Gives the account's lease up (logged out or deleted: nobody needs to connect it).
    async fn unclaim(&self, account_id: Uuid) {
        if let Some(leases) = self.inner.leases.get()
            && let Err(e) = leases.release(account_id).await
        {
            tracing::warn!(account = %account_id, error = %e, "could not release the account's lease");
        }
    }

    /// Starts the linked accounts no instance runs (one that stopped, or crashed, or shut down
    /// gave their leases up). First checks the lease connection: when it was lost, every account
    /// this instance ran may be another's now, so they are stopped at once (fencing). Returns how
    /// many accounts were taken over.
    pub async fn adopt(&self) -> Result<usize, SessionsError> {
        let Some(leases) = self.inner.leases.get() else {
            return Ok(0);
        };
        if let Err(lost) = leases.check().await {
            tracing::warn!(
                accounts = lost.len(),
                "the lease connection to PostgreSQL was lost: stopping this instance's accounts"
            );
            for account in lost {
                self.stop(account).await;
            }
        }
        let accounts = self
            .inner
            .engine
            .accounts_to_start()
            .await
            .map_err(|e| SessionsError::Store(e.to_string()))?;
        let unheld = accounts.iter().filter(|a| !leases.holds(a.session_id));
        let adopted = self.start_claimed(unheld).await?;
        if adopted > 0 {
            tracing::info!(
                accounts = adopted,
                "took over WhatsApp accounts no instance was running"
            );
        }
        Ok(adopted)
    }

    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    /// Starts every linked account (credentials stored, not expired). Returns how many.
    pub async fn start_all(&self) -> Result<usize, SessionsError> {
        let accounts = self
            .inner
            .engine
            .accounts_to_start()
            .await
            .map_err(|e| SessionsError::Store(e.to_string()))?;
        let started = self.start_claimed(accounts.iter()).await?;
        tracing::info!(
            accounts = started,
            elsewhere = accounts.len() - started,
            "reconnecting linked WhatsApp accounts"
        );
        Ok(started)
    }

    /// Starts each of `accounts` whose lease this instance gets (one round trip for all);
    /// returns how many.
    async fn start_claimed(
        &self,
        accounts: impl Iterator<Item = &EngineAccount>,
    ) -> Result<usize, SessionsError> {
        let accounts: Vec<&EngineAccount> = accounts.collect();
        let claimed: std::collections::HashSet<Uuid> = match self.inner.leases.get() {
            None => accounts.iter().map(|a| a.session_id).collect(),
            Some(leases) => {
                let ids: Vec<Uuid> = accounts.iter().map(|a| a.session_id).collect();
                leases
                    .try_acquire_many(&ids)
                    .await
                    .map_err(|e| SessionsError::Store(e.to_string()))?
                    .into_iter()
                    .collect()
            }
        };
        for account in accounts.iter().filter(|a| claimed.contains(&a.session_id)) {
            self.ensure_running(account);
        }
        Ok(claimed.len())
    }

    /// Accounts with a running task.
    pub fn running(&self) -> usize {
        lock(&self.inner.running).len()
    }

    /// The account's owner check (system path) — the caller has already read the account as
    /// the user under RLS; this guards against a caller bug.
    async fn owned(&self, user_id: Uuid, account_id: Uuid) -> Result<EngineAccount, SessionsError> {
        match self.inner.engine.account(account_id).await {
            Ok(Some(account)) if account.user_id == user_id => Ok(account),
            Ok(_) => Err(SessionsError::NotFound),
            Err(e) => Err(SessionsError::Store(e.to_string())),
        }
    }

    /// The command sender of a running account, starting it when needed.
    fn ensure_running(&self, account: &EngineAccount) -> mpsc::Sender<Command> {
        let mut running = lock(&self.inner.running);
        if let Some(r) = running.get(&account.session_id)
            && !r.commands.is_closed()
        {
            return r.commands.clone();
        }
        let (tx, rx) = mpsc::channel(COMMAND_BUFFER);
        let generation = self
            .inner
            .next_generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        running.insert(
            account.session_id,
            Running {
                user_id: account.user_id,
                generation,
                commands: tx.clone(),
            },
        );
        drop(running);
        let monitor = tokio::spawn(monitor(self.inner.clone(), account.clone(), generation, rx));
        let mut monitors = lock(&self.inner.monitors);
        monitors.retain(|m| !m.is_finished());
        monitors.push(monitor);
        tx
    }

    fn running_sender(&self, account_id: Uuid) -> Option<mpsc::Sender<Command>> {
        lock(&self.inner.running)
            .get(&account_id)
            .map(|r| r.commands.clone())
    }

    /// Starts linking `account_id` (or switches the method while it links).
    pub async fn link(
        &self,
        user_id: Uuid,
        account_id: Uuid,
        method: LinkMethod,
    ) -> Result<LinkStarted, SessionsError> {
        let account = self.owned(user_id, account_id).await?;
        self.claim(account_id).await?;
        let commands = self.ensure_running(&account);
        let (reply, answer) = oneshot::channel();
        commands
            .send(Command::Link { method, reply })
            .await
            .map_err(|_| SessionsError::Command(CommandError::Stopped))?;
        Ok(tokio::time::timeout(ANSWER_TIMEOUT, answer)
            .await
            .map_err(|_| SessionsError::Timeout)?
            .map_err(|_| SessionsError::Command(CommandError::Stopped))??)
    }

    /// The QR code on show while the account links.
    pub fn current_qr(&self, user_id: Uuid, account_id: Uuid) -> Option<(String, DateTime<Utc>)> {
        let owner = lock(&self.inner.running)
            .get(&account_id)
            .map(|r| r.user_id);
        if owner != Some(user_id) {
            return None;
        }
        lock(&self.inner.qrs)
            .get(&account_id)
            .filter(|(_, expires)| *expires > SystemTime::now())
            .map(|(qr, expires)| (qr.clone(), utc(*expires)))
    }

    /// Unlinks the account: tells WhatsApp (when connected) and forgets the credentials.
    pub async fn logout(&self, user_id: Uuid, account_id: Uuid) -> Result<(), SessionsError> {
        self.owned(user_id, account_id).await?;
        let result = match self.logout_here(account_id).await {
            // Another instance runs it: that one tells WhatsApp (see `logout_elsewhere`).
            Err(SessionsError::HeldElsewhere) => {
                return self.logout_elsewhere(user_id, account_id).await;
            }
            result => result,
        };
        if result.is_ok() {
            self.unclaim(account_id).await;
        }
        result
    }

    /// Asks the instance that runs the account to log it out (a stored command), and waits until
    /// its credentials are gone, at most [`ANSWER_TIMEOUT`].
    async fn logout_elsewhere(&self, user_id: Uuid, account_id: Uuid) -> Result<(), SessionsError> {
        self.push_forwarded(user_id, account_id, &Forwarded::Logout)
            .await?;
        let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
        loop {
            let linked = self
                .inner
                .engine
                .load_credentials(account_id)
                .await
                .map_err(store_error)?;
            if linked.is_none() {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(SessionsError::Timeout);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn logout_here(&self, account_id: Uuid) -> Result<(), SessionsError> {
        if self.running_sender(account_id).is_none() {
            // Not running here: only the instance that runs it may tell WhatsApp.
            self.claim(account_id).await?;
        }
        match self.running_sender(account_id) {
            Some(commands) => {
                let (reply, answer) = oneshot::channel();
                if commands.send(Command::Logout { reply }).await.is_ok() {
                    return match tokio::time::timeout(ANSWER_TIMEOUT, answer).await {
                        Ok(Ok(result)) => Ok(result?),
                        Ok(Err(_)) => self.forget(account_id).await,
                        Err(_) => Err(SessionsError::Timeout),
                    };
                }
                self.forget(account_id).await
            }
            None => self.forget(account_id).await,
        }
    }

    /// Logout without a running task: delete the credentials and say so.
    async fn forget(&self, account_id: Uuid) -> Result<(), SessionsError> {
        self.inner
            .engine
            .wipe_credentials(account_id)
            .await
            .map_err(|e| SessionsError::Store(e.to_string()))?;
        let update = store::SessionStatusUpdate {
            status: Some("inactive".into()),
            status_reason: Some("logged_out_by_user".into()),
            status_message: Some("Logged out. Link the account again to use it.".into()),
            ..Default::default()
        };
        let cursor = self
            .inner
            .engine
            .update_session(account_id, update)
            .await
            .map_err(|e| SessionsError::Store(e.to_string()))?;
        if let Ok(Some(account)) = self.inner.engine.account(account_id).await {
            let state = AccountState {
                status: Status::Inactive,
                reason: "logged_out_by_user",
                message: "Logged out. Link the account again to use it.".into(),
                linked: None,
            };
            self.inner
                .hub
                .publish_logged(account.user_id, account_id, cursor, state_event(&state));
        }
        Ok(())
    }

    /// Logs out and stops the account's task, before its row is deleted.
    pub async fn remove(&self, user_id: Uuid, account_id: Uuid) -> Result<(), SessionsError> {
        self.logout(user_id, account_id).await?;
        self.stop(account_id).await;
        self.unclaim(account_id).await;
        Ok(())
    }

    /// Stops one account's task (credentials stay).
    async fn stop(&self, account_id: Uuid) {
        let running = lock(&self.inner.running).remove(&account_id);
        lock(&self.inner.qrs).remove(&account_id);
        if let Some(r) = running {
            let _ = r.commands.send(Command::Shutdown).await;
        }
    }

    /// The outbox of `account_id` has new messages.
    pub fn wake(&self, account_id: Uuid) {
        if let Some(commands) = self.running_sender(account_id) {
            // A full channel means the account is busy; it reads the outbox again anyway.
            let _ = commands.try_send(Command::Wake);
        }
    }

    /// Connects a stopped account again (after it was replaced, or an error).
    pub async fn reconnect(&self, user_id: Uuid, account_id: Uuid) -> Result<(), SessionsError> {
        let account = self.owned(user_id, account_id).await?;
        match self.claim(account_id).await {
            Ok(()) => {
                let _ = self.ensure_running(&account).send(Command::Reconnect).await;
                Ok(())
            }
            // Another instance runs it: that one reconnects it (a stored command).
            Err(SessionsError::HeldElsewhere) => {
                self.send_or_forward(user_id, account_id, Forwarded::Reconnect)
                    .await
            }
            Err(e) => Err(e),
        }
    }

    async fn send(
        &self,
        user_id: Uuid,
        account_id: Uuid,
        command: Command,
    ) -> Result<(), SessionsError> {
        let owner = lock(&self.inner.running)
            .get(&account_id)
            .map(|r| (r.user_id, r.commands.clone()));
        match owner {
            Some((owner, commands)) if owner == user_id => commands
                .send(command)
                .await
                .map_err(|_| SessionsError::Command(CommandError::Stopped)),
            Some(_) => Err(SessionsError::NotFound),
            None => {
                self.owned(user_id, account_id).await?;
                match self.inner.leases.get() {
                    Some(leases) if !leases.holds(account_id) => Err(SessionsError::HeldElsewhere),
                    _ => Err(SessionsError::Command(CommandError::NotLinked)),
                }
            }
        }
    }

    /// Sends read receipts for messages of a chat (phone number or JID).
    pub async fn mark_read(
        &self,
        user_id: Uuid,
        account_id: Uuid,
        chat: &str,
        ids: Vec<String>,
    ) -> Result<(), SessionsError> {
        self.send_or_forward(
            user_id,
            account_id,
            Forwarded::MarkRead {
                chat: chat.to_owned(),
                ids,
            },
        )
        .await
    }

    pub async fn typing(
        &self,
        user_id: Uuid,
        account_id: Uuid,
        chat: &str,
        state: ChatState,
    ) -> Result<(), SessionsError> {
        self.send_or_forward(
            user_id,
            account_id,
            Forwarded::Typing {
                chat: chat.to_owned(),
                state: state.as_str().to_owned(),
            },
        )
        .await
    }

    pub async fn set_presence(
        &self,
        user_id: Uuid,
        account_id: Uuid,
        available: bool,
    ) -> Result<(), SessionsError> {
        self.send_or_forward(user_id, account_id, Forwarded::Presence { available })
            .await
    }

    pub async fn subscribe_presence(
        &self,
        user_id: Uuid,
        account_id: Uuid,
        chat: &str,
    ) -> Result<(), SessionsError> {
        self.send_or_forward(
            user_id,
            account_id,
            Forwarded::SubscribePresence {
                chat: chat.to_owned(),
            },
        )
        .await
    }

    /// Carries a command out here when this instance holds the account; when another instance
    /// holds it, stores the command for that instance (see `store::relay`) and answers `Ok`.
    async fn send_or_forward(
        &self,
        user_id: Uuid,
        account_id: Uuid,
        command: Forwarded,
    ) -> Result<(), SessionsError> {
        let Some(here) = command.clone().into_command() else {
            return Err(SessionsError::Command(CommandError::Invalid(
                "not a command to forward".into(),
            )));
        };
        match self.send(user_id, account_id, here).await {
            Err(SessionsError::HeldElsewhere) => {
                self.push_forwarded(user_id, account_id, &command).await
            }
            other => other,
        }
    }

    /// Stores `command` for the instance that holds the account (see `store::relay`).
    async fn push_forwarded(
        &self,
        user_id: Uuid,
        account_id: Uuid,
        command: &Forwarded,
    ) -> Result<(), SessionsError> {
        let value =
            serde_json::to_value(command).map_err(|e| SessionsError::Store(e.to_string()))?;
        self.inner
            .engine
            .account_command_push(account_id, user_id, &value)
            .await
            .map_err(store_error)
    }

    /// Carries out the commands other instances stored for the accounts running here (on their
    /// notice, and periodically for notices lost); returns how many.
    pub async fn run_forwarded(&self) -> Result<usize, SessionsError> {
        let running: Vec<(Uuid, mpsc::Sender<Command>)> = lock(&self.inner.running)
            .iter()
            .map(|(id, r)| (*id, r.commands.clone()))
            .collect();
        let ids: Vec<Uuid> = running.iter().map(|(id, _)| *id).collect();
        let taken = self
            .inner
            .engine
            .account_commands_take(&ids)
            .await
            .map_err(|e| SessionsError::Store(e.to_string()))?;
        let mut done = 0;
        for (account, value) in taken {
            let Ok(command) = serde_json::from_value::<Forwarded>(value) else {
                tracing::warn!(%account, "dropped a forwarded command this version does not know");
                continue;
            };
            let Some((_, commands)) = running.iter().find(|(id, _)| *id == account) else {
                continue;
            };
            if let Forwarded::ShareMediaConn { force } = command {
                let this = self.clone();
                let commands = commands.clone();
                tokio::spawn(async move {
                    if let Err(e) = this.share_media_conn(account, &commands, force).await {
                        tracing::warn!(%account, error = %e, "cannot share the media_conn");
                    }
                });
                done += 1;
                continue;
            }
            match command.into_command() {
                Some(command) => {
                    if commands.send(command).await.is_ok() {
                        done += 1;
                    }
                }
                // A logout asked elsewhere: done here, where the account runs, as if asked here.
                None => {
                    let this = self.clone();
                    tokio::spawn(async move {
                        match this.logout_here(account).await {
                            Ok(()) => this.unclaim(account).await,
                            Err(e) => {
                                tracing::warn!(%account, error = %e, "forwarded logout failed");
                            }
                        }
                    });
                    done += 1;
                }
            }
        }
        Ok(done)
    }

    /// Asks the account running here for its `media_conn` and puts it in the store for the
    /// instance that asked ([`Forwarded::ShareMediaConn`]).
    async fn share_media_conn(
        &self,
        account: Uuid,
        commands: &mpsc::Sender<Command>,
        force: bool,
    ) -> Result<(), SessionsError> {
        let (reply, answer) = oneshot::channel();
        commands
            .send(Command::MediaConn { force, reply })
            .await
            .map_err(|_| SessionsError::Command(CommandError::Stopped))?;
        let conn = tokio::time::timeout(ANSWER_TIMEOUT, answer)
            .await
            .map_err(|_| SessionsError::Timeout)?
            .map_err(|_| SessionsError::Command(CommandError::Stopped))??;
        let left = conn.ttl.saturating_sub(conn.fetched_at.elapsed());
        let hosts: Vec<serde_json::Value> = conn
            .hosts
            .iter()
            .map(|h| {
                serde_json::json!({"hostname": h.hostname, "max_content_length": h.max_content_length})
            })
            .collect();
        let shared = store::SharedMediaConn {
            hosts: serde_json::Value::Array(hosts),
            auth: conn.auth,
            expires_at: Utc::now()
                + chrono::TimeDelta::from_std(left).unwrap_or(chrono::TimeDelta::zero()),
        };
        self.inner
            .engine
            .media_conn_put(account, &shared)
            .await
            .map_err(store_error)
    }

    /// The `media_conn` the holder of `account_id` shared, asking for one (a fresh one when
    /// `not` is the token that just failed) and waiting for it when there is none yet.
    async fn shared_media_conn(
        &self,
        user_id: Uuid,
        account_id: Uuid,
        not: Option<&str>,
    ) -> Result<MediaConn, SessionsError> {
        // Good for at least the upload's start; the token only has to be valid when it begins.
        const MARGIN: Duration = Duration::from_secs(60);
        let usable = |c: &store::SharedMediaConn| not.is_none_or(|bad| c.auth != bad);
        // A usable shared one, else ask the holder once and wait for its answer to appear.
        let mut asked: Option<tokio::time::Instant> = None;
        let shared = loop {
            if let Some(c) = self
                .inner
                .engine
                .media_conn_get(account_id, MARGIN)
                .await
                .map_err(store_error)?
                .filter(usable)
            {
                break c;
            }
            match asked {
                None => {
                    self.push_forwarded(
                        user_id,
                        account_id,
                        &Forwarded::ShareMediaConn {
                            force: not.is_some(),
                        },
                    )
                    .await?;
                    asked = Some(tokio::time::Instant::now() + ANSWER_TIMEOUT);
                }
                Some(deadline) if tokio::time::Instant::now() > deadline => {
                    return Err(SessionsError::Timeout);
                }
                Some(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let hosts = shared
            .hosts
            .as_array()
            .map(|hosts| {
                hosts
                    .iter()
                    .filter_map(|h| {
                        Some(MediaHost {
                            hostname: h["hostname"].as_str()?.to_owned(),
                            max_content_length: h["max_content_length"].as_u64(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let left = (shared.expires_at - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        Ok(MediaConn {
            hosts,
            auth: shared.auth,
            ttl: left,
            fetched_at: std::time::Instant::now(),
        })
    }

    /// [`Sessions::upload_media`] for an account another instance holds: the upload made here
    /// with the holder's `media_conn`; a refused token is replaced once.
    async fn upload_elsewhere(
        &self,
        user_id: Uuid,
        account_id: Uuid,
        kind: MediaKind,
        meta: MediaMeta,
        source: MediaSource,
    ) -> Result<MediaDescriptor, SessionsError> {
        let unavailable = |e: &dyn std::fmt::Display| {
            SessionsError::Command(CommandError::Unavailable(e.to_string()))
        };
        let http = self.media_http().map_err(|e| unavailable(&e))?;
        let conn = self.shared_media_conn(user_id, account_id, None).await?;
        let source = &source;
        let upload = |conn: MediaConn, meta: MediaMeta| async move {
            tokio::time::timeout(MEDIA_TIMEOUT, http.upload(&conn, kind, meta, source))
                .await
                .map_err(|_| SessionsError::Timeout)
        };
        match upload(conn.clone(), meta.clone()).await? {
            Ok(d) => Ok(d),
            Err(MediaTransferError::Io(e)) => Err(SessionsError::Command(CommandError::Invalid(
                format!("cannot read the file to upload: {e}"),
            ))),
            Err(MediaTransferError::UploadFailed(why)) => {
                tracing::info!(%why, %account_id, "media upload refused; asking the holder for a fresh media_conn");
                let fresh = self
                    .shared_media_conn(user_id, account_id, Some(&conn.auth))
                    .await?;
                upload(fresh, meta).await?.map_err(|e| unavailable(&e))
            }
            Err(e) => Err(unavailable(&e)),
        }
    }

    /// Encrypts and uploads a file to WhatsApp's media host through one of the user's accounts,
    /// for a media message to send: the descriptor the message carries. The account's own
    /// connection does it when it runs here; for an account another instance holds, the upload
    /// is made here with the holder's upload token ([`Forwarded::ShareMediaConn`]). Waits at most
    /// [`MEDIA_TIMEOUT`] (a big video on a slow link takes a while).
    pub async fn upload_media(
        &self,
        user_id: Uuid,
        account_id: Uuid,
        kind: MediaKind,
        meta: MediaMeta,
        source: MediaSource,
    ) -> Result<MediaDescriptor, SessionsError> {
        if self.running_sender(account_id).is_none() {
            self.owned(user_id, account_id).await?;
            if matches!(self.inner.leases.get(), Some(leases) if !leases.holds(account_id)) {
                return self
                    .upload_elsewhere(user_id, account_id, kind, meta, source)
                    .await;
            }
        }
        let (reply, answer) = oneshot::channel();
        let upload = MediaUpload {
            kind,
            meta,
            source,
            reply,
        };
        self.send(user_id, account_id, Command::UploadMedia(Box::new(upload)))
            .await?;
        Ok(tokio::time::timeout(MEDIA_TIMEOUT, answer)
            .await
            .map_err(|_| SessionsError::Timeout)?
            .map_err(|_| SessionsError::Command(CommandError::Stopped))??)
    }

    /// Asks the phone that sent a media message to upload it again (its URL expired): the
    /// media retry receipt. Answers the descriptor with the new direct path.
    pub async fn retry_media(
        &self,
        user_id: Uuid,
        account_id: Uuid,
        message_id: &str,
        chat: &str,
        from_me: bool,
        media: MediaDescriptor,
    ) -> Result<MediaDescriptor, SessionsError> {
        let (reply, answer) = oneshot::channel();
        let retry = MediaRetry {
            message_id: message_id.to_owned(),
            chat: chat.to_owned(),
            from_me,
            media,
            reply,
        };
        self.send(user_id, account_id, Command::RetryMedia(Box::new(retry)))
            .await?;
        Ok(tokio::time::timeout(ANSWER_TIMEOUT * 2, answer)
            .await
            .map_err(|_| SessionsError::Timeout)?
            .map_err(|_| SessionsError::Command(CommandError::Stopped))??)
    }

    /// The HTTP client that downloads media (one per process; it pools connections).
    pub fn media_http(&self) -> Result<&MediaHttp, MediaTransferError> {
        if let Some(http) = self.inner.media_http.get() {
            return Ok(http);
        }
        let http = MediaHttp::new(&self.inner.config)?;
        Ok(self.inner.media_http.get_or_init(|| http))
    }

    /// Stops every account (credentials stay) and waits for them, at most `grace`.
    pub async fn shutdown(&self, grace: Duration) {
        let all: Vec<mpsc::Sender<Command>> = lock(&self.inner.running)
            .drain()
            .map(|(_, r)| r.commands)
            .collect();
        for commands in all {
            let _ = commands.send(Command::Shutdown).await;
        }
        let monitors: Vec<_> = lock(&self.inner.monitors).drain(..).collect();
        let wait = async {
            for m in monitors {
                let _ = m.await;
            }
        };
        if tokio::time::timeout(grace, wait).await.is_err() {
            tracing::warn!("some WhatsApp accounts did not stop in time");
        }
        // The accounts are disconnected: hand them over to the other instances at once.
        if let Some(leases) = self.inner.leases.get() {
            leases.close().await;
        }
    }
}

/// Runs one account's task and watches it for panics.
async fn monitor(
    inner: Arc<Inner>,
    account: EngineAccount,
    generation: u64,
    commands: mpsc::Receiver<Command>,
) {
    let account_id = account.session_id;
    let user_id = account.user_id;
    let store = inner.factory.store_for(&account);
    let sink_inner = Arc::downgrade(&inner);
    let ctx = AccountCtx {
        config: inner.config.clone(),
        store: store.clone(),
        events: Arc::new(move |event| {
            if let Some(inner) = sink_inner.upgrade() {
                forward(&inner, user_id, account_id, event);
            }
        }),
    };
    let task = tokio::spawn(crate::telemetry::account_task(
        account_id,
        user_id,
        run_account(ctx, commands),
    ));
    let outcome = task.await;
    if let Err(e) = outcome
        && e.is_panic()
    {
        tracing::error!(account = %account_id, "the account's engine task panicked; other accounts are unaffected");
        let state = AccountState {
            status: Status::Error,
            reason: "engine_fault",
            message: "An internal error stopped this account. Reconnect to start it again.".into(),
            linked: None,
        };
        // The store publishes the state with its event-log cursor.
        if let Err(e) = store.set_state(&state).await {
            tracing::warn!(error = %e, "could not record the engine fault");
        }
    }
    let mut running = lock(&inner.running);
    if running
        .get(&account_id)
        .is_some_and(|r| r.generation == generation)
    {
        running.remove(&account_id);
    }
    drop(running);
    lock(&inner.qrs).remove(&account_id);
}

/// Engine events → the hub. States, messages and statuses are published by the store adapter,
/// with their event-log cursor, when they are stored; the rest is live only.
fn forward(inner: &Inner, user_id: Uuid, account_id: Uuid, event: Event) {
    let hub_event = match event {
        Event::State(state) => {
            if state.status != Status::Connecting || state.reason != "linking" {
                lock(&inner.qrs).remove(&account_id);
            }
            // Published by the store adapter, which wrote it to the event log.
            return;
        }
        Event::Qr { qr, expires_at } => {
            lock(&inner.qrs).insert(account_id, (qr.clone(), expires_at));
            AccountEvent::Qr {
                qr,
                expires_at: utc(expires_at),
            }
        }
        Event::PairingCode { code, expires_at } => {
            lock(&inner.qrs).remove(&account_id);
            AccountEvent::PairingCode {
                code,
                expires_at: utc(expires_at),
            }
        }
        Event::Typing { chat, state } => AccountEvent::Typing {
            chat,
            state: state.as_str().to_owned(),
        },
        Event::Presence {
            chat,
            available,
            last_seen,
        } => AccountEvent::Presence {
            chat,
            available,
            last_seen: last_seen.map(crate::adapter::timestamp),
        },
        Event::Message { .. } | Event::Status { .. } | Event::OfflineDone { .. } => return,
    };
    inner.hub.publish(user_id, account_id, hub_event);
}
