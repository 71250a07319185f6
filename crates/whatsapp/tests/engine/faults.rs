//! Stream errors and socket faults: 401 expires the account, 440 stops it without a reconnect
//! loop, a dropped socket reconnects with backoff, a silent server makes us resend without
//! doubling, a duplicate delivery is stored once.

use std::time::Duration;

use fake_whatsapp::{Config, FakeWhatsApp, Faults};
use whatsapp::client::Command;
use whatsapp::events::Event;
use whatsapp::store::{MessageStatus, Status};

use crate::driver::linked_engine;
use fake_whatsapp::scenarios::Driver as _;

#[tokio::test]
async fn logged_out_from_the_phone_expires_and_forgets_the_credentials() {
    let fake = FakeWhatsApp::start(Config::default()).await.unwrap();
    let mut engine = linked_engine(&fake, fake.phone()).await;
    assert_eq!(fake.kick_device("15550001111", 1, 401), 1);
    let expired = engine.expect_status(Status::Expired).await;
    assert_eq!(expired.reason, "logged_out");
    assert!(!engine.store.has_credentials(), "credentials are wiped");
    let logins = fake.logins();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(fake.logins(), logins, "no retries after a logout");
}

#[tokio::test]
async fn replaced_is_reported_and_not_fought() {
    let fake = FakeWhatsApp::start(Config::default()).await.unwrap();
    let mut engine = linked_engine(&fake, fake.phone()).await;
    let logins = fake.logins();
    assert_eq!(fake.kick_device("15550001111", 1, 440), 1);
    let stopped = engine.expect_status(Status::Error).await;
    assert_eq!(stopped.reason, "replaced");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fake.logins(), logins, "no reconnect loop after 440");
    assert!(engine.store.has_credentials(), "440 keeps the credentials");
    // The user asks to connect again: it does.
    engine.command(Command::Reconnect).await;
    engine.expect_status(Status::Active).await;
    assert_eq!(fake.logins(), logins + 1);
}

#[tokio::test]
async fn a_dropped_socket_reconnects_with_backoff() {
    let fake = FakeWhatsApp::start(Config::default()).await.unwrap();
    let mut engine = linked_engine(&fake, fake.phone()).await;
    let logins = fake.logins();
    for round in 1..=3 {
        fake.wait_until("connected", Duration::from_secs(10), |f| {
            f.connections() == 1
        })
        .await
        .unwrap();
        assert_eq!(fake.drop_sockets(), 1);
        let reconnecting = engine.expect_reason("reconnecting").await;
        assert_eq!(reconnecting.status, Status::Connecting);
        assert!(
            reconnecting.linked.is_some(),
            "still linked while reconnecting"
        );
        engine.expect_status(Status::Active).await;
        assert_eq!(fake.logins(), logins + round);
    }
}

#[tokio::test]
async fn withheld_acks_are_retried_without_doubling_and_duplicates_are_stored_once() {
    let fake = FakeWhatsApp::start(Config::default()).await.unwrap();
    let contact = fake
        .add_account("15550002222", "100000000000002", "Carol")
        .unwrap();
    let mut engine = linked_engine(&fake, fake.phone()).await;
    fake.set_faults(Faults {
        withhold_acks: true,
        withhold_receipts: true,
        ..Faults::default()
    });
    let id = engine.send_text(&contact.jid(), "are you there?").await;
    // No ack, no receipt: the engine sends the same message id again after its ack timeout;
    // the contact's phone keeps one copy, as real phones do.
    fake.wait_until("a second copy on the wire", Duration::from_secs(20), |f| {
        f.stats().duplicates_ignored >= 1
    })
    .await
    .unwrap();
    let copies = contact
        .received()
        .into_iter()
        .filter(|r| r.id == id)
        .count();
    assert_eq!(copies, 1, "the contact sees it once");
    fake.set_faults(Faults::default());
    engine.status(&id, "DELIVERY_ACK").await;
    let stored = engine.store.message(&id).unwrap();
    assert!(stored.outgoing.as_ref().unwrap().attempts >= 2);
    assert!(stored.status >= MessageStatus::Sent);

    // Duplicate delivery of an incoming message: one row, one event.
    fake.set_faults(Faults {
        duplicate_deliveries: true,
        ..Faults::default()
    });
    let incoming = contact
        .send_text("15550001111", "twice on the wire")
        .await
        .unwrap();
    let _ = engine
        .message(|m| m.id == incoming && m.text.is_some())
        .await;
    fake.set_faults(Faults::default());
    let next = contact
        .send_text("15550001111", "after the duplicate")
        .await
        .unwrap();
    let _ = engine.message(|m| m.id == next).await;
    let rows = engine
        .store
        .messages()
        .into_iter()
        .filter(|m| m.inbound.as_ref().is_some_and(|i| i.message_id == incoming))
        .count();
    assert_eq!(rows, 1);
    let events = engine
        .seen
        .iter()
        .filter(|e| matches!(e, Event::Message { message, .. } if message.message_id == incoming))
        .count();
    assert_eq!(events, 1, "the duplicate is dropped silently");
}

#[tokio::test]
async fn a_server_that_stops_answering_is_detected_by_the_keepalive() {
    let fake = FakeWhatsApp::start(Config::default()).await.unwrap();
    let mut config = (*crate::driver::test_config(&fake)).clone();
    config.timing.keepalive_interval = Duration::from_millis(300);
    config.timing.keepalive_timeout = Duration::from_millis(300);
    let mut engine = crate::driver::Engine::start(
        std::sync::Arc::new(config),
        std::sync::Arc::new(whatsapp::store::MemoryStore::new()),
    );
    let whatsapp::client::LinkStarted::Qr { qr, .. } =
        engine.link(whatsapp::client::LinkMethod::Qr).await
    else {
        panic!("asked for a QR");
    };
    fake.phone().scan(&qr).unwrap();
    engine.expect_status(Status::Active).await;
    // The socket stays open but every answer now takes far longer than the ping timeout.
    fake.set_faults(Faults {
        delay: Duration::from_secs(3),
        ..Faults::default()
    });
    let lost = engine.expect_reason("reconnecting").await;
    assert_eq!(lost.status, Status::Connecting);
    fake.set_faults(Faults::default());
    engine.expect_status(Status::Active).await;
}

#[tokio::test]
async fn an_account_that_cannot_reconnect_for_long_says_so_and_keeps_trying() {
    let fake = FakeWhatsApp::start(Config::default()).await.unwrap();
    let mut config = (*crate::driver::test_config(&fake)).clone();
    config.timing.unreachable_after = Duration::from_millis(600);
    let mut engine = crate::driver::Engine::start(
        std::sync::Arc::new(config),
        std::sync::Arc::new(whatsapp::store::MemoryStore::new()),
    );
    let whatsapp::client::LinkStarted::Qr { qr, .. } =
        engine.link(whatsapp::client::LinkMethod::Qr).await
    else {
        panic!("asked for a QR");
    };
    fake.phone().scan(&qr).unwrap();
    engine.expect_status(Status::Active).await;
    // WhatsApp disappears: the socket drops and nothing listens any more.
    fake.drop_sockets();
    drop(fake);
    let first = engine.expect_reason("reconnecting").await;
    assert_eq!(first.status, Status::Connecting);
    let unreachable = engine.expect_reason("unreachable").await;
    assert_eq!(unreachable.status, Status::Error);
    assert!(
        unreachable.message.contains("still retrying"),
        "{}",
        unreachable.message
    );
    assert!(unreachable.linked.is_some(), "still linked");
    assert!(engine.store.has_credentials(), "nothing is forgotten");
}

#[tokio::test]
async fn a_server_that_is_not_whatsapp_is_refused_with_a_clear_error() {
    let fake = FakeWhatsApp::start(Config::default()).await.unwrap();
    // Linked against the real fake, then pointed at one whose root key we do not trust.
    let mut engine = linked_engine(&fake, fake.phone()).await;
    engine.stop().await;
    let mut config = (*engine.config).clone();
    config.root_key = [7; 32];
    let logins = fake.logins();
    let mut distrusting =
        crate::driver::Engine::start(std::sync::Arc::new(config.clone()), engine.store.clone());
    let refused = distrusting.expect_reason("untrusted_server").await;
    assert_eq!(refused.status, Status::Error);
    assert!(
        refused.message.contains("WHATSAPP_ROOT_PUBLIC_KEY"),
        "{}",
        refused.message
    );
    assert_eq!(fake.logins(), logins, "no login was sent to it");
    assert!(distrusting.store.has_credentials(), "nothing is forgotten");
    distrusting.stop().await;

    // Linking against it fails the same way, at once.
    let mut fresh = crate::driver::Engine::start(
        std::sync::Arc::new(config),
        std::sync::Arc::new(whatsapp::store::MemoryStore::new()),
    );
    let (reply, rx) = tokio::sync::oneshot::channel();
    fresh
        .command(Command::Link {
            method: whatsapp::client::LinkMethod::Qr,
            reply,
        })
        .await;
    let answer = tokio::time::timeout(Duration::from_secs(20), rx)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(&answer, Err(whatsapp::client::CommandError::Unavailable(m)) if m.contains("did not prove it is WhatsApp")),
        "{answer:?}"
    );
    let state = fresh.expect_reason("untrusted_server").await;
    assert_eq!(state.status, Status::Inactive);
}
