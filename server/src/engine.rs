//! Wiring the WhatsApp engine into the server: the engine's configuration from ours, the
//! encryption key check, and the sessions supervisor.

use std::sync::Arc;

use sessions::{Hub, PgStoreFactory, Sessions};
use store::{SessionCipher, Store, StoreError};
use whatsapp::client::ClientConfig;

use crate::config::{Config, SessionKey};

/// The engine's configuration: where WhatsApp is and which root key its certificates chain to.
pub fn client_config(config: &Config) -> ClientConfig {
    let mut client =
        ClientConfig::new(&config.whatsapp_server_url, config.whatsapp_root_public_key);
    client.timing.unreachable_after = config.whatsapp_session_timeout;
    if let Some(each) = config.whatsapp_qr_timeout {
        client.timing.qr_first = each;
        client.timing.qr_next = each;
    }
    // WhatsApp's media hosts speak https only. A plain `ws://` WhatsApp is the offline one on
    // loopback (tests, the demo), whose media host is plain http too.
    if config.whatsapp_server_url.starts_with("ws://") {
        client.media_scheme = "http".to_owned();
    }
    client
}

/// The supervisor over `store`, after checking that `key` is the key the stored sessions were
/// encrypted with (a wrong key must stop start-up, not corrupt or lose sessions). Accounts are
/// not started yet: see [`Sessions::start_all`].
pub async fn sessions(
    config: &Config,
    store: &Store,
    key: &SessionKey,
) -> Result<Sessions, StoreError> {
    let engine = store.engine(SessionCipher::new(*key.bytes()));
    engine.check_key().await?;
    let hub = Hub::new();
    let factory = Arc::new(PgStoreFactory {
        engine: engine.clone(),
        hub: hub.clone(),
    });
    let sessions = Sessions::new(engine, Arc::new(client_config(config)), hub, factory);
    // Several instances may share the database: each account runs under a lease (see
    // store::Leases); one instance alone always gets them all.
    sessions.use_leases(Arc::new(store.leases()));
    tokio::spawn(forward_outbox_wakes(store.clone(), sessions.clone()));
    relay_between_instances(store.clone(), sessions.clone());
    Ok(sessions)
}

/// How often an instance looks for commands other instances stored for its accounts, beside
/// their notices.
const COMMAND_POLL: std::time::Duration = std::time::Duration::from_secs(5);

/// What crosses instances besides the database's own data (see `store::relay`): this
/// instance's live-only events (typing, presence, QR codes) go out to the others, theirs come in
/// to this instance's browsers, and commands stored for accounts held here are carried out.
/// Runs for the life of the process; a lost listening connection is re-opened.
pub fn relay_between_instances(store: Store, sessions: Sessions) {
    let instance = uuid::Uuid::new_v4();
    let hub = sessions.hub().clone();
    if let Some(mut outgoing) = hub.relay() {
        let store = store.clone();
        tokio::spawn(async move {
            while let Some(event) = outgoing.recv().await {
                let payload = serde_json::json!({ "from": instance, "event": event }).to_string();
                if payload.len() > store::NOTIFY_MAX {
                    continue;
                }
                if let Err(e) = store.notify_live(&payload).await {
                    tracing::debug!(error = %e, "a live event did not reach the other instances");
                }
            }
        });
    }
    tokio::spawn(async move {
        let mut poll = tokio::time::interval(COMMAND_POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            match store
                .listen(&[store::COMMAND_CHANNEL, store::LIVE_CHANNEL])
                .await
            {
                Ok(mut notices) => loop {
                    tokio::select! {
                        notice = notices.next() => match notice {
                            Ok((channel, _)) if channel == store::COMMAND_CHANNEL => {
                                run_forwarded(&sessions).await;
                            }
                            Ok((_, payload)) => relayed(&hub, instance, &payload),
                            Err(e) => {
                                tracing::warn!(error = %e, "instance relay interrupted; listening again");
                                break;
                            }
                        },
                        _ = poll.tick() => run_forwarded(&sessions).await,
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen to the other instances; retrying")
                }
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
}

async fn run_forwarded(sessions: &Sessions) {
    if let Err(e) = sessions.run_forwarded().await {
        tracing::warn!(error = %e, "could not carry out commands forwarded by other instances");
    }
}

/// A live event another instance published, to this instance's browsers (our own are skipped:
/// they were delivered here already).
fn relayed(hub: &Hub, instance: uuid::Uuid, payload: &str) {
    #[derive(serde::Deserialize)]
    struct Relayed {
        from: uuid::Uuid,
        event: sessions::HubEvent,
    }
    match serde_json::from_str::<Relayed>(payload) {
        Ok(r) if r.from != instance => hub.publish_relayed(r.event),
        Ok(_) => {}
        Err(e) => tracing::debug!(error = %e, "ignored an unreadable relayed event"),
    }
}

/// How often an instance looks for linked accounts no instance runs (another instance crashed
/// or shut down) and checks its own lease connection.
pub const LEASE_SCAN: std::time::Duration = std::time::Duration::from_secs(5);

/// Takes over orphaned accounts every [`LEASE_SCAN`] for the life of the process (abort the
/// handle at shutdown).
pub fn adopt_orphans(sessions: Sessions) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(LEASE_SCAN);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        loop {
            every.tick().await;
            if let Err(e) = sessions.adopt().await {
                tracing::warn!(error = %e, "could not look for accounts to take over; trying again");
            }
        }
    })
}

/// Wakes an account's sender when a committed transaction queued a message outside any request
/// (the automatic reply to an opt-out, queued inside the engine's own commit): the database
/// notifies on commit (`store::OUTBOX_WAKE_CHANNEL`), so the sender never looks before the row is
/// there. Runs for the life of the process; a lost listening connection is re-opened.
async fn forward_outbox_wakes(store: Store, sessions: Sessions) {
    loop {
        match store.outbox_wakes().await {
            Ok(mut wakes) => loop {
                match wakes.next().await {
                    Ok(account) => sessions.wake(account),
                    Err(e) => {
                        tracing::warn!(error = %e, "outbox wake-ups stopped; listening again");
                        break;
                    }
                }
            },
            Err(e) => tracing::warn!(error = %e, "cannot listen for outbox wake-ups; retrying"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
}

/// Forwards the database's commit notices of new user events to the hub, reconnecting when the
/// listening connection drops. Runs until aborted.
pub fn forward_event_notices(store: Store, hub: Hub) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match store.listen_events().await {
                Ok(mut listener) => loop {
                    match listener.next().await {
                        Ok((user_id, cursor)) => hub.publish_log_growth(user_id, cursor),
                        Err(e) => {
                            tracing::warn!(error = %e, "event notices interrupted; listening again");
                            break;
                        }
                    }
                },
                Err(e) => tracing::warn!(error = %e, "cannot listen for event notices; retrying"),
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    })
}

/// How long the event log keeps events: a tab away longer reloads its page instead of resuming.
pub const EVENT_RETENTION: std::time::Duration = std::time::Duration::from_secs(7 * 86_400);

/// Prunes the event log hourly (first a minute after start).
pub fn prune_events_hourly(store: Store) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every.tick().await;
            match store.prune_events(EVENT_RETENTION).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(events = n, "pruned old events"),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot prune old events; trying again in an hour")
                }
            }
        }
    })
}
