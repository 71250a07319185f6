//! The fake's client-agnostic scenarios (the ones Baileys passes in fake-whatsapp's tests),
//! driven through our engine, plus what only a storing engine can show (one row per message).

use fake_whatsapp::scenarios;
use fake_whatsapp::{Config, FakeWhatsApp};
use whatsapp::store::MessageStatus;

use crate::driver::linked_engine;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_scenarios_pass_through_our_engine() {
    let fake = FakeWhatsApp::start(Config::default()).await.unwrap();
    let contact = fake
        .add_account("15550002222", "100000000000002", "Carol")
        .unwrap();
    let me = fake.phone().clone();
    let mut engine = linked_engine(&fake, &me).await;
    let device = fake.devices()[0].device;

    scenarios::text_to_contact(&fake, &mut engine, &me, &contact).await;
    scenarios::text_from_contact(&fake, &mut engine, &me, &contact).await;
    scenarios::typing_and_presence(&fake, &mut engine, &me, &contact).await;
    scenarios::offline_queue(&fake, &mut engine, &me, device, &contact).await;
    scenarios::undecryptable_then_recovers(&fake, &mut engine, &me, &contact).await;
    scenarios::undecryptable_then_resent(&fake, &mut engine, &me, &contact).await;
    scenarios::duplicate_shown_once(&fake, &mut engine, &me, &contact).await;
    scenarios::slow_and_silent_server(&fake, &mut engine, &me, &contact).await;

    // What was stored: every message once, with its final status.
    let stored = engine.store.messages();
    let mut ids: Vec<&str> = stored
        .iter()
        .map(|m| {
            m.inbound
                .as_ref()
                .map(|i| i.message_id.as_str())
                .or(m.outgoing.as_ref().map(|o| o.message_id.as_str()))
                .unwrap()
        })
        .collect();
    let total = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), total, "one row per message id");
    let outgoing: Vec<_> = stored.iter().filter(|m| m.outgoing.is_some()).collect();
    assert_eq!(outgoing.len(), 3);
    for m in &outgoing {
        assert!(
            m.status >= MessageStatus::Delivered && m.status != MessageStatus::Failed,
            "{m:?}"
        );
    }

    // Another account with its own engine: client to client.
    let other = fake
        .add_account("15550003333", "100000000000003", "Dana")
        .unwrap();
    let mut second = linked_engine(&fake, &other).await;
    scenarios::client_to_client(&fake, &mut engine, &me, &mut second, &other).await;
    assert_eq!(fake.stats().decrypt_failures, 0, "{:?}", fake.stats());
}

/// A send the store refuses (the recipient opted out after the message was queued) fails that
/// message with the store's reason; the outbox goes on, so the next message still goes out
/// without a reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_send_fails_that_message_and_the_outbox_goes_on() {
    let fake = FakeWhatsApp::start(Config::default()).await.unwrap();
    let carol = fake
        .add_account("15550002222", "100000000000002", "Carol")
        .unwrap();
    let dave = fake
        .add_account("15550003333", "100000000000003", "Dave")
        .unwrap();
    let me = fake.phone().clone();
    let mut engine = linked_engine(&fake, &me).await;
    engine.store.refuse_sends_to("+15550002222", "opted_out");
    engine
        .store
        .enqueue("3EB0REFUSED0001", "+15550002222", "to Carol");
    engine
        .store
        .enqueue("3EB0ALLOWED0001", "+15550003333", "to Dave");
    engine.command(whatsapp::client::Command::Wake).await;

    engine
        .expect("the refused message failed", |e| match e {
            whatsapp::events::Event::Status {
                message_id,
                status: MessageStatus::Failed,
                reason,
            } if message_id == "3EB0REFUSED0001" => Some(reason.clone()),
            _ => None,
        })
        .await
        .filter(|r| r == "opted_out")
        .expect("failed with the store's reason");
    engine
        .expect("the next message was sent", |e| match e {
            whatsapp::events::Event::Status {
                message_id, status, ..
            } if message_id == "3EB0ALLOWED0001" && *status >= MessageStatus::Sent => Some(()),
            _ => None,
        })
        .await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !dave
        .received()
        .iter()
        .any(|r| r.text.as_deref() == Some("to Dave"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Dave never got his message"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(carol.received().is_empty(), "nothing reached Carol");
    let refused = engine.store.message("3EB0REFUSED0001").unwrap();
    assert_eq!(refused.status, MessageStatus::Failed);
    assert_eq!(
        refused.outgoing.unwrap().attempts,
        0,
        "the refused attempt was not counted"
    );
    engine.stop().await;
}
