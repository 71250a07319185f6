//! Our engine as a [`Driver`] of the fake's scenarios: one account task, its command channel,
//! its events, and its in-memory store.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use fake_whatsapp::FakeWhatsApp;
use fake_whatsapp::scenarios::{Driver, Incoming, STEP};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use whatsapp::client::{
    AccountCtx, ClientConfig, Command, LinkMethod, LinkStarted, Timing, run_account,
};
use whatsapp::events::{ChatState, Event};
use whatsapp::store::{MemoryStore, MessageStatus, Status};

/// Engine timings short enough for tests (acks, backoff), long enough for a loaded machine.
pub fn test_config(fake: &FakeWhatsApp) -> Arc<ClientConfig> {
    let mut config = ClientConfig::new(&fake.url(), fake.root_public_key());
    // The offline WhatsApp's media host is plain HTTP on loopback.
    config.media_scheme = "http".to_owned();
    config.timing = Timing {
        ack_timeout: Duration::from_millis(1500),
        backoff_min: Duration::from_millis(100),
        backoff_max: Duration::from_millis(800),
        keepalive_interval: Duration::from_secs(5),
        keepalive_timeout: Duration::from_secs(5),
        ..Timing::default()
    };
    Arc::new(config)
}

pub struct Engine {
    pub store: Arc<MemoryStore>,
    pub config: Arc<ClientConfig>,
    commands: mpsc::Sender<Command>,
    events: mpsc::UnboundedReceiver<Event>,
    /// Events read but not yet consumed.
    backlog: VecDeque<Event>,
    /// Every event seen (for failure messages and "never happened" checks).
    pub seen: Vec<Event>,
    task: Option<JoinHandle<()>>,
}

impl Engine {
    /// Starts an account task on `store`.
    pub fn start(config: Arc<ClientConfig>, store: Arc<MemoryStore>) -> Self {
        let (commands, rx) = mpsc::channel(64);
        let (events_tx, events) = mpsc::unbounded_channel();
        let ctx = AccountCtx {
            config: config.clone(),
            store: store.clone(),
            events: Arc::new(move |e| {
                let _ = events_tx.send(e);
            }),
        };
        let task = tokio::spawn(run_account(ctx, rx));
        Self {
            store,
            config,
            commands,
            events,
            backlog: VecDeque::new(),
            seen: Vec::new(),
            task: Some(task),
        }
    }

    pub async fn command(&self, command: Command) {
        self.commands
            .send(command)
            .await
            .expect("account task alive");
    }

    pub async fn link(&self, method: LinkMethod) -> LinkStarted {
        let (reply, rx) = oneshot::channel();
        self.command(Command::Link { method, reply }).await;
        tokio::time::timeout(STEP, rx)
            .await
            .expect("link answered in time")
            .expect("reply sent")
            .expect("linking started")
    }

    /// The first event (backlog first) for which `want` returns `Some`.
    pub async fn expect<T>(&mut self, what: &str, want: impl Fn(&Event) -> Option<T>) -> T {
        if let Some(i) = self.backlog.iter().position(|e| want(e).is_some()) {
            let event = self.backlog.remove(i).expect("index from position");
            return want(&event).expect("checked above");
        }
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let event = match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(e)) => e,
                Ok(None) => panic!("the account task ended before {what}; saw {:#?}", self.seen),
                Err(_) => panic!("no {what} within {STEP:?}; saw {:#?}", self.seen),
            };
            self.seen.push(event.clone());
            if let Some(found) = want(&event) {
                return found;
            }
            self.backlog.push_back(event);
        }
    }

    pub async fn expect_status(&mut self, status: Status) -> whatsapp::store::AccountState {
        self.expect(&format!("state {status:?}"), |e| match e {
            Event::State(s) if s.status == status => Some(s.clone()),
            _ => None,
        })
        .await
    }

    /// The next state with this reason.
    pub async fn expect_reason(&mut self, reason: &str) -> whatsapp::store::AccountState {
        self.expect(&format!("a state with reason {reason}"), |e| match e {
            Event::State(s) if s.reason == reason => Some(s.clone()),
            _ => None,
        })
        .await
    }

    /// Ends the task (like a server shutdown); the store keeps the credentials.
    pub async fn stop(&mut self) {
        let _ = self.commands.send(Command::Shutdown).await;
        if let Some(task) = self.task.take() {
            tokio::time::timeout(STEP, task)
                .await
                .expect("the account task stops")
                .expect("the account task did not panic");
        }
    }

    pub fn qr_events(&self) -> usize {
        self.seen
            .iter()
            .filter(|e| matches!(e, Event::Qr { .. }))
            .count()
    }
}

/// Pairs a new engine by QR with `phone` and waits until it is active.
pub async fn linked_engine(fake: &FakeWhatsApp, phone: &fake_whatsapp::Phone) -> Engine {
    let mut engine = Engine::start(test_config(fake), Arc::new(MemoryStore::new()));
    let LinkStarted::Qr { qr, .. } = engine.link(LinkMethod::Qr).await else {
        panic!("asked for a QR");
    };
    phone.scan(&qr).expect("the phone scans our QR");
    engine.expect_status(Status::Active).await;
    engine
}

fn to_incoming(message: &whatsapp::store::InboundMessage) -> Incoming {
    Incoming {
        chat: message.chat.clone(),
        chat_alt: message.lid.clone(),
        id: message.message_id.clone(),
        from_me: message.from_me,
        text: message.text.clone(),
        undecryptable: message.undecryptable,
    }
}

impl Driver for Engine {
    async fn send_text(&mut self, chat: &str, text: &str) -> String {
        let user = chat.split('@').next().unwrap_or_default();
        let id = fake_whatsapp::new_message_id();
        self.store.enqueue(&id, &format!("+{user}"), text);
        self.command(Command::Wake).await;
        id
    }

    async fn message(&mut self, want: impl Fn(&Incoming) -> bool) -> Incoming {
        self.expect("a matching message", |e| match e {
            Event::Message { message, .. } => {
                let incoming = to_incoming(message);
                want(&incoming).then_some(incoming)
            }
            _ => None,
        })
        .await
    }

    async fn status(&mut self, id: &str, status: &str) {
        let wanted = match status {
            "DELIVERY_ACK" => MessageStatus::Delivered,
            "READ" => MessageStatus::Read,
            "SERVER_ACK" => MessageStatus::Sent,
            other => panic!("unknown status {other}"),
        };
        // Statuses only advance, so a later one (read before we looked for delivered) counts.
        self.expect(&format!("status {status} of {id}"), |e| match e {
            Event::Status {
                message_id, status, ..
            } if message_id == id && *status >= wanted && *status != MessageStatus::Failed => {
                Some(())
            }
            _ => None,
        })
        .await;
    }

    async fn mark_read(&mut self, chat: &str, ids: &[String]) {
        self.command(Command::MarkRead {
            chat: chat.to_owned(),
            ids: ids.to_vec(),
        })
        .await;
    }

    async fn typing(&mut self, chat: &str, state: &str) {
        let state = match state {
            "composing" => ChatState::Composing,
            "recording" => ChatState::Recording,
            _ => ChatState::Paused,
        };
        self.command(Command::Typing {
            chat: chat.to_owned(),
            state,
        })
        .await;
    }

    async fn subscribe(&mut self, chat: &str) {
        self.command(Command::SubscribePresence {
            chat: chat.to_owned(),
        })
        .await;
    }

    async fn presence(&mut self, chat: &str, state: &str) {
        let chat = chat.to_owned();
        let state = state.to_owned();
        self.expect(&format!("presence {state} of {chat}"), move |e| {
            let matches = match e {
                Event::Typing { chat: c, state: s } => {
                    *c == chat
                        && matches!(
                            (state.as_str(), s),
                            ("composing", ChatState::Composing)
                                | ("recording", ChatState::Recording)
                                | ("available" | "paused", ChatState::Paused)
                        )
                }
                Event::Presence {
                    chat: c, available, ..
                } => *c == chat && (state == "available") == *available,
                _ => false,
            };
            matches.then_some(())
        })
        .await;
    }

    async fn go_offline(&mut self) {
        self.stop().await;
    }

    async fn come_back(&mut self) {
        *self = Engine::start(self.config.clone(), self.store.clone());
        self.expect_status(Status::Active).await;
    }
}
