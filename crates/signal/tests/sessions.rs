//! Our implementation talking to itself: behaviour libsignal-node cannot easily be made to
//! show on demand (bounds, transactions, stale sessions, bad input).

mod common;

use common::rust_party::{new_store, publish_bundle};
use rand_core::OsRng;
use signal::store::{IdentityKeyStore, InMemoryStore};
use signal::{
    CiphertextMessage, ProtocolAddress, SignalError, decrypt_message, decrypt_pre_key_message,
    encrypt, process_bundle,
};

fn alice_addr() -> ProtocolAddress {
    ProtocolAddress::new("alice", 1)
}
fn bob_addr() -> ProtocolAddress {
    ProtocolAddress::new("bob", 1)
}

async fn bundle_of(store: &InMemoryStore, id: u32) -> signal::prekeys::PreKeyBundle {
    let identity = store.identity_key_pair().await.unwrap();
    let reg = store.local_registration_id().await.unwrap();
    publish_bundle(store, &identity, reg, id, true).1
}

/// Bob receives from `from` (Alice's address at Bob).
async fn receive(
    store: &InMemoryStore,
    from: &ProtocolAddress,
    m: &CiphertextMessage,
) -> Result<Vec<u8>, SignalError> {
    match m {
        CiphertextMessage::PreKey(b) => decrypt_pre_key_message(store, from, b, &mut OsRng).await,
        CiphertextMessage::Signal(b) => decrypt_message(store, from, b, &mut OsRng).await,
    }
}

/// Alice and Bob with an established session (Bob has answered once).
async fn established() -> (InMemoryStore, InMemoryStore) {
    let (alice, bob) = (new_store(), new_store());
    process_bundle(&alice, &bob_addr(), &bundle_of(&bob, 1).await, &mut OsRng)
        .await
        .unwrap();
    let m = encrypt(&alice, &bob_addr(), b"hi").await.unwrap();
    receive(&bob, &alice_addr(), &m).await.unwrap();
    let r = encrypt(&bob, &alice_addr(), b"hello").await.unwrap();
    receive(&alice, &bob_addr(), &r).await.unwrap();
    (alice, bob)
}

#[tokio::test]
async fn a_message_too_far_ahead_is_refused_without_changing_the_session() {
    let (alice, bob) = established().await;
    let mut last = None;
    for i in 0..2001u32 {
        last = Some(
            encrypt(&alice, &bob_addr(), &i.to_be_bytes())
                .await
                .unwrap(),
        );
    }
    let before = bob.session_bytes(&alice_addr()).unwrap();
    let result = receive(&bob, &alice_addr(), last.as_ref().unwrap()).await;
    assert!(
        matches!(
            result,
            Err(SignalError::TooFarInFuture {
                index: 2000,
                limit: 2000
            })
        ),
        "{result:?}"
    );
    assert_eq!(bob.session_bytes(&alice_addr()).unwrap(), before);
}

#[tokio::test]
async fn skipping_up_to_the_bound_works_and_skipped_keys_stay_usable() {
    let (alice, bob) = established().await;
    let mut sent = Vec::new();
    for i in 0..2000u32 {
        sent.push(
            encrypt(&alice, &bob_addr(), &i.to_be_bytes())
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        receive(&bob, &alice_addr(), &sent[1999]).await.unwrap(),
        1999u32.to_be_bytes()
    );
    assert_eq!(
        receive(&bob, &alice_addr(), &sent[0]).await.unwrap(),
        0u32.to_be_bytes()
    );
    assert_eq!(
        receive(&bob, &alice_addr(), &sent[1000]).await.unwrap(),
        1000u32.to_be_bytes()
    );
    assert!(matches!(
        receive(&bob, &alice_addr(), &sent[1000]).await,
        Err(SignalError::DuplicateMessage(_))
    ));
}

#[tokio::test]
async fn in_flight_messages_of_an_old_session_still_decrypt_after_a_new_one() {
    let (alice, bob) = established().await;
    let old = encrypt(&alice, &bob_addr(), b"sent on the old session")
        .await
        .unwrap();
    // Alice fetches a fresh bundle (e.g. after reinstalling) and starts over.
    process_bundle(&alice, &bob_addr(), &bundle_of(&bob, 2).await, &mut OsRng)
        .await
        .unwrap();
    let new = encrypt(&alice, &bob_addr(), b"new session").await.unwrap();
    assert_eq!(new.enc_type(), "pkmsg");
    assert_eq!(
        receive(&bob, &alice_addr(), &new).await.unwrap(),
        b"new session"
    );
    assert_eq!(
        receive(&bob, &alice_addr(), &old).await.unwrap(),
        b"sent on the old session"
    );
    // Bob answers on the new session; Alice reads it.
    let r = encrypt(&bob, &alice_addr(), b"ack").await.unwrap();
    assert_eq!(receive(&alice, &bob_addr(), &r).await.unwrap(), b"ack");
}

#[tokio::test]
async fn simultaneous_initiation_still_converges() {
    let (alice, bob) = (new_store(), new_store());
    process_bundle(&alice, &bob_addr(), &bundle_of(&bob, 1).await, &mut OsRng)
        .await
        .unwrap();
    process_bundle(&bob, &alice_addr(), &bundle_of(&alice, 1).await, &mut OsRng)
        .await
        .unwrap();
    let a = encrypt(&alice, &bob_addr(), b"from alice").await.unwrap();
    let b = encrypt(&bob, &alice_addr(), b"from bob").await.unwrap();
    assert_eq!(
        receive(&bob, &alice_addr(), &a).await.unwrap(),
        b"from alice"
    );
    assert_eq!(receive(&alice, &bob_addr(), &b).await.unwrap(), b"from bob");
    for i in 0..3u8 {
        let a = encrypt(&alice, &bob_addr(), &[i]).await.unwrap();
        assert_eq!(receive(&bob, &alice_addr(), &a).await.unwrap(), [i]);
        let b = encrypt(&bob, &alice_addr(), &[i + 10]).await.unwrap();
        assert_eq!(receive(&alice, &bob_addr(), &b).await.unwrap(), [i + 10]);
    }
}

#[tokio::test]
async fn a_failed_pre_key_message_consumes_nothing() {
    let (alice, bob) = (new_store(), new_store());
    process_bundle(&alice, &bob_addr(), &bundle_of(&bob, 9).await, &mut OsRng)
        .await
        .unwrap();
    let CiphertextMessage::PreKey(mut bytes) = encrypt(&alice, &bob_addr(), b"x").await.unwrap()
    else {
        panic!("first message must be a pkmsg");
    };
    // Flip the last byte of the inner SignalMessage (its MAC).
    let inner = signal::wire::PreKeySignalMessage::parse(&bytes)
        .unwrap()
        .message
        .serialized()
        .to_vec();
    let start = bytes
        .windows(inner.len())
        .position(|w| w == inner.as_slice())
        .unwrap();
    let last = start + inner.len() - 1;
    bytes[last] ^= 0x01;
    let result = decrypt_pre_key_message(&bob, &alice_addr(), &bytes, &mut OsRng).await;
    assert!(matches!(result, Err(SignalError::BadMac)), "{result:?}");
    assert!(bob.has_pre_key(9), "pre-key kept after a failed decrypt");
    assert!(
        bob.session_bytes(&alice_addr()).is_none(),
        "no session stored"
    );
    bytes[last] ^= 0x01;
    decrypt_pre_key_message(&bob, &alice_addr(), &bytes, &mut OsRng)
        .await
        .unwrap();
    assert!(!bob.has_pre_key(9));
}

#[tokio::test]
async fn a_bundle_with_a_bad_signature_is_refused() {
    let (alice, bob) = (new_store(), new_store());
    let mut bundle = bundle_of(&bob, 1).await;
    bundle.signed_pre_key_signature[10] ^= 1;
    let result = process_bundle(&alice, &bob_addr(), &bundle, &mut OsRng).await;
    assert!(
        matches!(result, Err(SignalError::BadSignature(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_changed_identity_is_untrusted() {
    let (alice, bob) = established().await;
    let impostor = new_store();
    let result = process_bundle(
        &alice,
        &bob_addr(),
        &bundle_of(&impostor, 1).await,
        &mut OsRng,
    )
    .await;
    assert!(
        matches!(result, Err(SignalError::UntrustedIdentity(_))),
        "{result:?}"
    );
    drop(bob);
}

#[tokio::test]
async fn unknown_pre_keys_and_missing_sessions_are_typed_errors() {
    let (alice, bob) = (new_store(), new_store());
    let bundle = bundle_of(&bob, 4).await;
    process_bundle(&alice, &bob_addr(), &bundle, &mut OsRng)
        .await
        .unwrap();
    let m = encrypt(&alice, &bob_addr(), b"x").await.unwrap();
    let stranger = new_store();
    let result = receive(&stranger, &alice_addr(), &m).await;
    assert!(
        matches!(result, Err(SignalError::UnknownSignedPreKey(4))),
        "{result:?}"
    );
    let result = encrypt(&stranger, &alice_addr(), b"x").await;
    assert!(
        matches!(result, Err(SignalError::NoSession(_))),
        "{result:?}"
    );
    let result = decrypt_message(&stranger, &alice_addr(), &[0x33; 40], &mut OsRng).await;
    assert!(result.is_err());
}

#[test]
fn session_records_round_trip_through_their_stored_form() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let (alice, _bob) = established().await;
        let bytes = alice.session_bytes(&bob_addr()).unwrap();
        let record = signal::session::SessionRecord::deserialize(&bytes).unwrap();
        assert_eq!(record.serialize(), bytes);
        assert!(record.current().is_some());
        assert!(!record.current().unwrap().has_pending_pre_key());
    });
}
