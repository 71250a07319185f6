//! Our side of the benchmark, in its own process (`engine-bench engine-child …`) so that its
//! resident memory is the engine's alone: the offline WhatsApp lives in the parent. It runs
//! accounts exactly as the server does — `run_account` tasks on a multi-threaded tokio runtime,
//! production timings, and the PostgreSQL store (`sessions::PgAccountStore` over
//! `store::EngineStore`, encrypted keys, messages linked to leads) — or, for comparison, the
//! in-memory `MemoryStore`.
//!
//! It speaks the line protocol the Baileys side speaks (`baileys/client.mjs`): see
//! [`crate::child`] for the parent's half.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

use sessions::{Hub, PgStoreFactory, StoreFactory};
use store::{EngineAccount, EngineStore, SessionCipher, Store, StoreConfig, StoreSettings};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use uuid::Uuid;
use whatsapp::client::{AccountCtx, ClientConfig, Command, LinkMethod, run_account};
use whatsapp::events::Event;
use whatsapp::store::{AccountStore, InboundOutcome, MemoryStore, Status};

use crate::Res;

/// Where the engine side keeps accounts in PostgreSQL: one user owning them all.
struct Pg {
    store: Store,
    factory: PgStoreFactory,
    user_id: Uuid,
    /// The owner's accounts by name, read once when the first account resumes.
    stored: tokio::sync::OnceCell<HashMap<String, Uuid>>,
}

struct Account {
    store: Arc<dyn AccountStore>,
    commands: Option<mpsc::Sender<Command>>,
    task: Option<JoinHandle<()>>,
}

/// Counting stored messages during a drain.
struct Drain {
    expected: usize,
    count: usize,
    started: Instant,
    first_active: Option<Instant>,
    done: bool,
}

enum Note {
    Event(String, Event),
    /// A new account's task is running (and linking).
    Started(String, Account),
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // The parent reads these lines; if it is gone there is nobody to tell.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// `engine-child --url <ws> --root <hex> [--database <url> --owner <email> --key <hex>]`: the
/// accounts belong to the user `owner` (created unless it exists, so a restarted child finds
/// its accounts again), their secrets encrypted under `key`.
pub fn main(args: &[String]) -> Res<()> {
    let mut url = None;
    let mut root = None;
    let mut database = None;
    let mut owner = None;
    let mut key = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or("engine-child: a flag without a value")?;
        match flag.as_str() {
            "--url" => url = Some(value.clone()),
            "--root" => root = Some(value.clone()),
            "--database" => database = Some(value.clone()),
            "--owner" => owner = Some(value.clone()),
            "--key" => key = Some(value.clone()),
            other => return Err(format!("engine-child: unknown flag {other}").into()),
        }
    }
    let url = url.ok_or("engine-child: --url is required")?;
    let pg = match (database, owner, key) {
        (Some(database), Some(owner), Some(key)) => Some(PgArgs {
            database,
            owner,
            key: hex::decode(key)?
                .try_into()
                .map_err(|_| "engine-child: --key must be 32 bytes of hex")?,
        }),
        (None, None, None) => None,
        _ => return Err("engine-child: --database, --owner and --key go together".into()),
    };
    let root: [u8; 32] = hex::decode(root.ok_or("engine-child: --root is required")?)?
        .try_into()
        .map_err(|_| "engine-child: --root must be 32 bytes of hex")?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    // The server's runtime: multi-threaded, one worker per core.
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(url, root, pg))
}

struct PgArgs {
    database: String,
    owner: String,
    key: [u8; 32],
}

async fn connect_pg(args: &PgArgs) -> Res<Pg> {
    let settings = StoreSettings {
        max_sessions_per_user: Some(10_000),
        ..StoreSettings::default()
    };
    let store = Store::connect_with(&StoreConfig::new(&args.database), &settings).await?;
    let user_id = match store.accounts().credentials(&args.owner).await? {
        Some(existing) => existing.user_id,
        None => {
            store
                .accounts()
                .create_user(&args.owner, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA")
                .await?
        }
    };
    let engine: EngineStore = store.engine(SessionCipher::new(args.key));
    // Open the whole runtime pool now, so the baseline includes it and the accounts do not.
    let pool = store.runtime_pool();
    let mut held = Vec::new();
    for _ in 0..pool.options().get_max_connections() {
        held.push(pool.acquire().await?);
    }
    drop(held);
    Ok(Pg {
        store,
        factory: PgStoreFactory {
            engine,
            hub: Hub::new(),
        },
        user_id,
        stored: tokio::sync::OnceCell::new(),
    })
}

fn session_name(user: &str) -> String {
    format!("bench {user}")
}

impl Pg {
    fn store_for(&self, session_id: Uuid) -> Arc<dyn AccountStore> {
        self.factory.store_for(&EngineAccount {
            session_id,
            user_id: self.user_id,
            status: "inactive".to_owned(),
        })
    }
}

/// A new account's store: a new `whatsapp_sessions` row, or memory.
async fn new_store(pg: Option<&Pg>, kind: &str, user: &str) -> Res<Arc<dyn AccountStore>> {
    match kind {
        "mem" => Ok(Arc::new(MemoryStore::new())),
        "pg" => {
            let pg = pg.ok_or("the pg store needs --database")?;
            let mut tx = pg.store.as_user(pg.user_id).await?;
            let session = tx.whatsapp_session_create(&session_name(user)).await?;
            tx.commit().await?;
            Ok(pg.store_for(session.id))
        }
        other => Err(format!("unknown store {other:?} (pg or mem)").into()),
    }
}

/// The stored account of `user` (linked by an earlier child), as the server finds its accounts
/// at start-up.
async fn stored(pg: Option<&Pg>, user: &str) -> Res<Arc<dyn AccountStore>> {
    let pg = pg.ok_or("resuming needs --database")?;
    let stored = pg
        .stored
        .get_or_try_init(|| async {
            let mut tx = pg.store.as_user(pg.user_id).await?;
            let sessions = tx.whatsapp_sessions_list().await?;
            tx.commit().await?;
            Res::Ok(
                sessions
                    .into_iter()
                    .map(|s| (s.session_name, s.id))
                    .collect::<HashMap<_, _>>(),
            )
        })
        .await?;
    let session = stored
        .get(&session_name(user))
        .ok_or_else(|| format!("no stored account for {user}"))?;
    Ok(pg.store_for(*session))
}

fn start(
    config: &Arc<ClientConfig>,
    notes: &mpsc::UnboundedSender<Note>,
    user: &str,
    account: &mut Account,
) -> mpsc::Sender<Command> {
    let (commands, rx) = mpsc::channel(16);
    let notes = notes.clone();
    let tag = user.to_owned();
    let ctx = AccountCtx {
        config: config.clone(),
        store: account.store.clone(),
        events: Arc::new(move |event| {
            let _ = notes.send(Note::Event(tag.clone(), event));
        }),
    };
    account.task = Some(tokio::spawn(run_account(ctx, rx)));
    account.commands = Some(commands.clone());
    commands
}

async fn serve(url: String, root: [u8; 32], pg: Option<PgArgs>) -> Res<()> {
    let pg = match &pg {
        Some(args) => Some(Arc::new(connect_pg(args).await?)),
        None => None,
    };
    let config = Arc::new(ClientConfig::new(&url, root));
    let (notes_tx, mut notes) = mpsc::unbounded_channel::<Note>();
    let mut accounts: HashMap<String, Account> = HashMap::new();
    let mut drain: Option<Drain> = None;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    say("ready");
    loop {
        tokio::select! {
            line = lines.next_line() => {
                let Some(line) = line? else { return Ok(()) };
                let words: Vec<&str> = line.split_whitespace().collect();
                match words.as_slice() {
                    ["link", user, kind] => {
                        // Linking waits on the server; other commands must not.
                        let (user, kind) = ((*user).to_owned(), (*kind).to_owned());
                        let (config, notes_tx, pg) = (config.clone(), notes_tx.clone(), pg.clone());
                        tokio::spawn(async move {
                            if let Err(e) = link(&config, &notes_tx, pg.as_deref(), &user, &kind).await {
                                say(&format!("error {user} {e}"));
                            }
                        });
                    }
                    ["resume", user] => {
                        let user = (*user).to_owned();
                        let (config, notes_tx, pg) = (config.clone(), notes_tx.clone(), pg.clone());
                        tokio::spawn(async move {
                            match stored(pg.as_deref(), &user).await {
                                Ok(store) => {
                                    let mut account = Account { store, commands: None, task: None };
                                    start(&config, &notes_tx, &user, &mut account);
                                    let _ = notes_tx.send(Note::Started(user, account));
                                }
                                Err(e) => say(&format!("error {user} {e}")),
                            }
                        });
                    }
                    ["stop", user] => match accounts.get_mut(*user) {
                        Some(account) => {
                            if let Some(commands) = account.commands.take() {
                                let _ = commands.send(Command::Shutdown).await;
                            }
                            if let Some(task) = account.task.take() {
                                let _ = task.await;
                            }
                            say(&format!("stopped {user}"));
                        }
                        None => say(&format!("error {user} unknown account")),
                    },
                    ["drain", expected] => {
                        drain = Some(Drain {
                            expected: expected.parse()?,
                            count: 0,
                            started: Instant::now(),
                            first_active: None,
                            done: false,
                        });
                        for (user, account) in &mut accounts {
                            if account.task.is_none() {
                                start(&config, &notes_tx, user, account);
                            }
                        }
                    }
                    ["count"] => say(&format!("count {}", drain.as_ref().map_or(0, |d| d.count))),
                    ["gc"] => say("gc-done"),
                    ["quit"] => return Ok(()),
                    [] => {}
                    _ => say(&format!("error - unknown command {line}")),
                }
            }
            Some(note) = notes.recv() => match note {
                Note::Started(user, account) => {
                    accounts.insert(user, account);
                }
                Note::Event(user, event) => on_event(&user, event, &mut drain),
            },
        }
    }
}

/// Starts a new account on a fresh store and asks it to link by QR (the QR itself, and each
/// rotation, arrives as an `Event::Qr`).
async fn link(
    config: &Arc<ClientConfig>,
    notes: &mpsc::UnboundedSender<Note>,
    pg: Option<&Pg>,
    user: &str,
    kind: &str,
) -> Res<()> {
    let store = new_store(pg, kind, user).await?;
    let mut account = Account {
        store,
        commands: None,
        task: None,
    };
    let commands = start(config, notes, user, &mut account);
    let _ = notes.send(Note::Started(user.to_owned(), account));
    let (reply, answer) = oneshot::channel();
    commands
        .send(Command::Link {
            method: LinkMethod::Qr,
            reply,
        })
        .await?;
    answer.await?.map_err(|e| e.to_string())?;
    Ok(())
}

fn on_event(user: &str, event: Event, drain: &mut Option<Drain>) {
    match event {
        Event::Qr { qr, .. } => say(&format!("qr {user} {qr}")),
        Event::State(state) if state.status == Status::Active => {
            if let Some(d) = drain.as_mut() {
                d.first_active.get_or_insert_with(Instant::now);
            }
            say(&format!("active {user}"));
        }
        Event::Message { message, outcome } => {
            let fresh = matches!(outcome, InboundOutcome::New | InboundOutcome::Completed);
            if let Some(d) = drain.as_mut()
                && fresh
                && !message.from_me
                && message.text.is_some()
                && !d.done
            {
                d.count += 1;
                if d.count >= d.expected {
                    d.done = true;
                    let ms = |t: Instant| t.elapsed().as_millis();
                    say(&format!(
                        "drained {} {} {}",
                        d.count,
                        ms(d.started),
                        ms(d.first_active.unwrap_or(d.started))
                    ));
                }
            }
        }
        _ => {}
    }
}
