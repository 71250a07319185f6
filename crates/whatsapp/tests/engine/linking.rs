//! Linking by QR and by pairing code, QR rotation and expiry, restart without a QR.

use std::sync::Arc;
use std::time::Duration;

use fake_whatsapp::{Config, FakeWhatsApp};
use whatsapp::client::{LinkMethod, LinkStarted, Timing};
use whatsapp::events::Event;
use whatsapp::store::{MemoryStore, Status};

use crate::driver::{Engine, linked_engine, test_config};

#[tokio::test]
async fn qr_scan_links_and_a_restart_needs_no_qr() {
    let fake = FakeWhatsApp::start(Config::default()).await.unwrap();
    let mut engine = linked_engine(&fake, fake.phone()).await;
    let linked = engine
        .seen
        .iter()
        .find_map(|e| match e {
            Event::State(s) if s.status == Status::Active => s.linked.clone(),
            _ => None,
        })
        .expect("an active account says who it is");
    assert_eq!(linked.phone, "+15550001111");
    assert_eq!(linked.jid, "15550001111:1@s.whatsapp.net");
    assert_eq!(linked.lid.as_deref(), Some("100000000000001:1@lid"));
    assert!(
        engine.store.has_credentials(),
        "credentials persist after the first login"
    );
    assert_eq!(fake.devices().len(), 1);
    // Pre-keys were uploaded (and kept privately) after login.
    fake.wait_until("our pre-keys on the server", Duration::from_secs(10), |f| {
        f.prekey_count("15550001111", 1) > 0
    })
    .await
    .unwrap();

    engine.stop().await;
    let logins = fake.logins();
    let mut again = Engine::start(engine.config.clone(), engine.store.clone());
    again.expect_status(Status::Active).await;
    assert_eq!(fake.logins(), logins + 1);
    assert_eq!(again.qr_events(), 0, "a restored account shows no QR");
    assert!(fake.pair_refs().is_empty());
}

#[tokio::test]
async fn pairing_code_links_and_a_wrong_number_is_refused() {
    let fake = FakeWhatsApp::start(Config::default()).await.unwrap();
    let mut engine = Engine::start(test_config(&fake), Arc::new(MemoryStore::new()));
    let started = engine
        .link(LinkMethod::Code {
            phone: "+15550001111".into(),
        })
        .await;
    let LinkStarted::Code { code, .. } = started else {
        panic!("asked for a code, got {started:?}");
    };
    assert_eq!(code.len(), 9, "ABCD-EFGH: {code}");
    assert_eq!(&code[4..5], "-");
    let shown = engine
        .expect("a pairing code event", |e| match e {
            Event::PairingCode { code, .. } => Some(code.clone()),
            _ => None,
        })
        .await;
    assert_eq!(shown, code);
    fake.enter_pairing_code(&code).unwrap();
    let active = engine.expect_status(Status::Active).await;
    assert_eq!(active.linked.unwrap().phone, "+15550001111");
    assert!(engine.store.has_credentials());

    // A number with no WhatsApp account is refused with a clear error, not a hang.
    let mut other = Engine::start(test_config(&fake), Arc::new(MemoryStore::new()));
    let (reply, rx) = tokio::sync::oneshot::channel();
    other
        .command(whatsapp::client::Command::Link {
            method: LinkMethod::Code {
                phone: "+19998887777".into(),
            },
            reply,
        })
        .await;
    let answer = tokio::time::timeout(Duration::from_secs(20), rx)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(&answer, Err(whatsapp::client::CommandError::Invalid(m)) if m.contains("no WhatsApp account")),
        "{answer:?}"
    );
    other.stop().await;
}

#[tokio::test]
async fn qr_codes_rotate_then_attempts_end_with_a_clear_state() {
    let fake = FakeWhatsApp::start(Config::default()).await.unwrap();
    let mut config = (*test_config(&fake)).clone();
    config.timing = Timing {
        qr_first: Duration::from_millis(400),
        qr_next: Duration::from_millis(150),
        ..config.timing
    };
    let mut engine = Engine::start(Arc::new(config), Arc::new(MemoryStore::new()));
    let LinkStarted::Qr { qr: first, .. } = engine.link(LinkMethod::Qr).await else {
        panic!("asked for a QR");
    };
    let refs = fake.pair_refs();
    assert_eq!(refs.len(), 1);
    let ended = engine
        .expect("the end of the QR attempts", |e| match e {
            Event::State(s) if s.status == Status::Inactive => Some(s.clone()),
            _ => None,
        })
        .await;
    assert_eq!(ended.reason, "qr_timeout");
    let qrs: Vec<String> = engine
        .seen
        .iter()
        .filter_map(|e| match e {
            Event::Qr { qr, .. } => Some(qr.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(qrs.len(), refs[0].len(), "one QR per ref: {qrs:?}");
    for (qr, reference) in qrs.iter().zip(&refs[0]) {
        assert!(
            qr.contains(&format!("#{reference},")),
            "{qr} carries {reference}"
        );
    }
    assert_eq!(qrs[0], first);
    // The registration connection is closed: the expired QR can no longer be scanned, and
    // nothing was linked.
    fake.wait_until("the registration ends", Duration::from_secs(10), |f| {
        f.pair_refs().is_empty()
    })
    .await
    .unwrap();
    assert!(fake.phone().scan(&first).is_err());
    assert!(fake.devices().is_empty());
    assert!(!engine.store.has_credentials());
    // And the user can try again.
    let LinkStarted::Qr { qr, .. } = engine.link(LinkMethod::Qr).await else {
        panic!("asked for a QR");
    };
    assert_ne!(qr, first);
}

#[tokio::test]
async fn logout_unlinks_the_device_on_whatsapp_and_here() {
    let fake = FakeWhatsApp::start(Config::default()).await.unwrap();
    let mut engine = linked_engine(&fake, fake.phone()).await;
    assert_eq!(fake.devices().len(), 1);
    let (reply, rx) = tokio::sync::oneshot::channel();
    engine
        .command(whatsapp::client::Command::Logout { reply })
        .await;
    tokio::time::timeout(Duration::from_secs(20), rx)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let state = engine.expect_status(Status::Inactive).await;
    assert_eq!(state.reason, "logged_out_by_user");
    assert!(fake.devices().is_empty(), "the phone no longer lists us");
    assert!(!engine.store.has_credentials());
    // Linking again works from scratch.
    let LinkStarted::Qr { qr, .. } = engine.link(LinkMethod::Qr).await else {
        panic!("asked for a QR");
    };
    fake.phone().scan(&qr).unwrap();
    engine.expect_status(Status::Active).await;
    assert_eq!(fake.devices().len(), 1);
}
