//! The supervisor over a real PostgreSQL and the offline WhatsApp: a panic in one account's task
//! leaves the others alone; a restart reconnects every linked account from the database; and
//! connection attempts pass through the connect gate, so many stored accounts cannot stampede.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fake_whatsapp::{Config as FakeConfig, FakeWhatsApp};
use sessions::{
    AccountEvent, Hub, LinkMethod, LinkStarted, PgStoreFactory, Sessions, StoreFactory,
};
use store::{EngineAccount, EngineStore, SessionCipher, Store, StoreConfig};
use tokio::sync::Semaphore;
use uuid::Uuid;
use whatsapp::client::ClientConfig;
use whatsapp::store::{
    AccountState, AccountStore, Commit, CommitReport, KeyKind, Outgoing, StoreFailure,
};

struct Fixture {
    store: Store,
    engine: EngineStore,
}

async fn fixture() -> Fixture {
    let url = store::test_support::fresh_database()
        .await
        .unwrap_or_else(|e| panic!("needs PostgreSQL: {e}"));
    let store = Store::connect(&StoreConfig::new(url)).await.unwrap();
    let engine = store.engine(SessionCipher::new([9; 32]));
    Fixture { store, engine }
}

impl Fixture {
    async fn user_with_account(&self, name: &str) -> (Uuid, Uuid) {
        let user = self
            .store
            .accounts()
            .create_user(
                &format!("{}@example.com", Uuid::new_v4().simple()),
                "$argon2id$fake",
            )
            .await
            .unwrap();
        let mut tx = self.store.as_user(user).await.unwrap();
        let account = tx.whatsapp_session_create(name).await.unwrap();
        tx.commit().await.unwrap();
        (user, account.id)
    }

    fn sessions(&self, config: ClientConfig, factory: Option<Arc<dyn StoreFactory>>) -> Sessions {
        let hub = Hub::new();
        let factory = factory.unwrap_or_else(|| {
            Arc::new(PgStoreFactory {
                engine: self.engine.clone(),
                hub: hub.clone(),
            })
        });
        Sessions::new(self.engine.clone(), Arc::new(config), hub, factory)
    }

    async fn status(&self, user: Uuid, account: Uuid) -> Option<String> {
        let mut tx = self.store.as_user(user).await.unwrap();
        let s = tx.whatsapp_session_get(account).await.unwrap();
        tx.commit().await.unwrap();
        s.status
    }

    async fn until_status(&self, user: Uuid, account: Uuid, status: &str) {
        for _ in 0..200 {
            if self.status(user, account).await.as_deref() == Some(status) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("account {account} never became {status}");
    }
}

fn config(fake: &FakeWhatsApp) -> ClientConfig {
    ClientConfig::new(&fake.url(), fake.root_public_key())
}

async fn link(sessions: &Sessions, phone: &fake_whatsapp::Phone, user: Uuid, account: Uuid) {
    let LinkStarted::Qr { qr, .. } = sessions.link(user, account, LinkMethod::Qr).await.unwrap()
    else {
        panic!("asked for a QR");
    };
    phone.scan(&qr).unwrap();
}

/// A store whose credentials cannot be loaded without a panic (a bug in one account's code
/// path); everything else is the real store.
struct Panicking(Arc<dyn AccountStore>);

#[async_trait]
impl AccountStore for Panicking {
    async fn load_credentials(&self) -> Result<Option<Vec<u8>>, StoreFailure> {
        panic!("a bug in this account's engine");
    }
    async fn load_keys(
        &self,
        kind: KeyKind,
        names: &[String],
    ) -> Result<Vec<(String, Vec<u8>)>, StoreFailure> {
        self.0.load_keys(kind, names).await
    }
    async fn commit(&self, commit: Commit) -> Result<CommitReport, StoreFailure> {
        self.0.commit(commit).await
    }
    async fn message_exists(&self, id: &str) -> Result<bool, StoreFailure> {
        self.0.message_exists(id).await
    }
    async fn queued_outgoing(&self, limit: usize) -> Result<Vec<Outgoing>, StoreFailure> {
        self.0.queued_outgoing(limit).await
    }
    async fn outgoing(&self, id: &str) -> Result<Option<Outgoing>, StoreFailure> {
        self.0.outgoing(id).await
    }
    async fn set_state(&self, state: &AccountState) -> Result<(), StoreFailure> {
        self.0.set_state(state).await
    }
    async fn wipe(&self) -> Result<(), StoreFailure> {
        self.0.wipe().await
    }
}

struct OneBadApple {
    real: PgStoreFactory,
    bad: Uuid,
}

impl StoreFactory for OneBadApple {
    fn store_for(&self, account: &EngineAccount) -> Arc<dyn AccountStore> {
        let real = self.real.store_for(account);
        if account.session_id == self.bad {
            Arc::new(Panicking(real))
        } else {
            real
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_one_account_leaves_the_others_alone() {
    let fake = FakeWhatsApp::start(FakeConfig::default()).await.unwrap();
    let other_phone = fake
        .add_account("15550003333", "100000000000003", "Other")
        .unwrap();
    let f = fixture().await;
    let (good_user, good) = f.user_with_account("healthy").await;
    let (bad_user, bad) = f.user_with_account("buggy").await;
    let hub = Hub::new();
    let factory = Arc::new(OneBadApple {
        real: PgStoreFactory {
            engine: f.engine.clone(),
            hub: hub.clone(),
        },
        bad,
    });
    let sessions = Sessions::new(
        f.engine.clone(),
        Arc::new(config(&fake)),
        hub.clone(),
        factory,
    );
    let mut events = hub.subscribe();

    let failed = sessions.link(bad_user, bad, LinkMethod::Qr).await;
    assert!(
        failed.is_err(),
        "the panicking account cannot answer: {failed:?}"
    );
    link(&sessions, &other_phone, good_user, good).await;
    f.until_status(good_user, good, "active").await;
    f.until_status(bad_user, bad, "error").await;
    let mut fault_reported = false;
    while let Ok(event) = events.try_recv() {
        if event.account_id == bad
            && let AccountEvent::State { status_reason, .. } = &event.event
        {
            fault_reported |= status_reason == "engine_fault";
        }
    }
    assert!(
        fault_reported,
        "the fault is reported for the buggy account only"
    );
    assert_eq!(
        sessions.running(),
        1,
        "the buggy account's task is gone, the healthy one runs"
    );
    // Another user's account cannot be driven through someone else's id.
    assert!(sessions.link(bad_user, good, LinkMethod::Qr).await.is_err());
    sessions.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_reconnects_every_linked_account_through_the_connect_gate() {
    let fake = FakeWhatsApp::start(FakeConfig::default()).await.unwrap();
    let f = fixture().await;
    let first = f.sessions(config(&fake), None);
    let mut accounts = Vec::new();
    for i in 0..3 {
        let phone = fake
            .add_account(
                &format!("1555000900{i}"),
                &format!("10000000000090{i}"),
                "Phone",
            )
            .unwrap();
        let (user, account) = f.user_with_account(&format!("line {i}")).await;
        link(&first, &phone, user, account).await;
        f.until_status(user, account, "active").await;
        accounts.push((user, account));
    }
    let (unlinked_user, unlinked) = f.user_with_account("never linked").await;
    first.shutdown(Duration::from_secs(10)).await;
    for (user, account) in &accounts {
        assert_eq!(
            f.status(*user, *account).await.as_deref(),
            Some("inactive"),
            "a stopped server's accounts are not shown as connected"
        );
    }
    let logins = fake.logins();

    // A new process: the gate is closed at first, so nobody connects.
    let gate = Arc::new(Semaphore::new(0));
    let mut cfg = config(&fake);
    cfg.connect_gate = gate.clone();
    let second = f.sessions(cfg, None);
    assert_eq!(
        second.start_all().await.unwrap(),
        3,
        "only linked accounts start"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fake.logins(), logins, "no connection before the gate opens");
    // One permit: they connect one after the other, all without a QR.
    for (user, account) in &accounts {
        assert_eq!(
            f.status(*user, *account).await.as_deref(),
            Some("connecting")
        );
    }
    gate.add_permits(1);
    for (user, account) in &accounts {
        f.until_status(*user, *account, "active").await;
    }
    assert_eq!(fake.logins(), logins + 3);
    assert!(fake.pair_refs().is_empty(), "no QR anywhere");
    assert_ne!(
        f.status(unlinked_user, unlinked).await.as_deref(),
        Some("active")
    );
    second.shutdown(Duration::from_secs(10)).await;
}
