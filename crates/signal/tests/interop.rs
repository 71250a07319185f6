//! Our Signal implementation against libsignal-node (1:1) and Baileys' group cipher (sender
//! keys), driven through tests/interop/peer.mjs. The peer's address for us is "rust.1"; ours
//! for it is "node.1".

mod common;

use common::rust_party::{bundle_from_json, new_store, publish_bundle};
use common::{Peer, hex_field};
use rand_core::OsRng;
use serde_json::{Value, json};
use signal::store::{IdentityKeyStore, InMemoryStore};
use signal::{
    CiphertextMessage, ProtocolAddress, SenderKeyName, SignalError, decrypt_message,
    decrypt_pre_key_message, encrypt, process_bundle,
};

fn node() -> ProtocolAddress {
    ProtocolAddress::new("node", 1)
}

async fn we_decrypt(store: &InMemoryStore, reply: &Value) -> Result<Vec<u8>, SignalError> {
    let body = hex_field(reply, "body");
    match reply["type"].as_str().unwrap() {
        "pkmsg" => decrypt_pre_key_message(store, &node(), &body, &mut OsRng).await,
        "msg" => decrypt_message(store, &node(), &body, &mut OsRng).await,
        other => panic!("unexpected type {other}"),
    }
}

fn node_decrypts(peer: &mut Peer, message: &CiphertextMessage) -> Vec<u8> {
    let reply = peer.call(json!({
        "op": "decrypt", "type": message.enc_type(), "body": hex::encode(message.bytes())
    }));
    hex_field(&reply, "plaintext")
}

fn node_encrypts(peer: &mut Peer, text: &str) -> Value {
    peer.call(json!({"op": "encrypt", "plaintext": hex::encode(text)}))
}

/// Several rounds each way with out-of-order delivery inside every batch (so each round
/// crosses a DH ratchet step and uses skipped keys).
async fn converse(peer: &mut Peer, store: &InMemoryStore, rounds: usize) {
    for round in 0..rounds {
        // We send three, node receives them as 2, 0, 1.
        let mut ours = Vec::new();
        for i in 0..3 {
            let text = format!("rust round {round} message {i}");
            ours.push((
                text.clone(),
                encrypt(store, &node(), text.as_bytes()).await.unwrap(),
            ));
        }
        for &i in &[2usize, 0, 1] {
            assert_eq!(node_decrypts(peer, &ours[i].1), ours[i].0.as_bytes());
        }
        // Node sends three, we receive them as 1, 2, 0.
        let theirs: Vec<(String, Value)> = (0..3)
            .map(|i| {
                let text = format!("node round {round} message {i}");
                let reply = node_encrypts(peer, &text);
                (text, reply)
            })
            .collect();
        for &i in &[1usize, 2, 0] {
            let plain = we_decrypt(store, &theirs[i].1).await.unwrap();
            assert_eq!(plain, theirs[i].0.as_bytes());
        }
    }
}

#[tokio::test]
async fn node_starts_a_session_from_our_bundle_and_both_sides_talk() {
    let mut peer = Peer::start();
    let store = new_store();
    let identity = store.identity_key_pair().await.unwrap();
    let reg = store.local_registration_id().await.unwrap();
    let (bundle, _) = publish_bundle(&store, &identity, reg, 7, true);
    peer.call(json!({"op": "process_bundle", "bundle": bundle}));

    // Node's first messages are pkmsg until we answer; deliver them out of order.
    let first: Vec<Value> = (0..3)
        .map(|i| node_encrypts(&mut peer, &format!("hello {i}")))
        .collect();
    assert!(first.iter().all(|m| m["type"] == "pkmsg"));
    for &i in &[1usize, 0, 2] {
        assert_eq!(
            we_decrypt(&store, &first[i]).await.unwrap(),
            format!("hello {i}").as_bytes()
        );
    }
    assert!(!store.has_pre_key(7), "the one-time pre-key is consumed");

    let reply = encrypt(&store, &node(), b"hi node").await.unwrap();
    assert_eq!(reply.enc_type(), "msg", "the responder never sends pkmsg");
    assert_eq!(node_decrypts(&mut peer, &reply), b"hi node");
    assert_eq!(
        node_encrypts(&mut peer, "after reply")["type"],
        "msg",
        "node stops sending pkmsg once answered"
    );
    converse(&mut peer, &store, 4).await;
}

#[tokio::test]
async fn we_start_a_session_from_nodes_bundle_and_both_sides_talk() {
    let mut peer = Peer::start();
    let store = new_store();
    let bundle_json = peer.call(json!({"op": "bundle"}));
    let bundle = bundle_from_json(&bundle_json);
    process_bundle(&store, &node(), &bundle, &mut OsRng)
        .await
        .unwrap();

    let first: Vec<CiphertextMessage> = encrypt_all(&store, &["a", "b", "c"]).await;
    assert!(first.iter().all(|m| m.enc_type() == "pkmsg"));
    for &i in &[2usize, 0, 1] {
        assert_eq!(
            node_decrypts(&mut peer, &first[i]),
            ["a", "b", "c"][i].as_bytes()
        );
    }
    let pre_key_id = bundle.pre_key.unwrap().0;
    let present = peer.call(json!({"op": "has_pre_key", "keyId": pre_key_id}));
    assert_eq!(
        present["present"],
        json!(false),
        "node consumed its one-time pre-key"
    );

    let answer = node_encrypts(&mut peer, "answer");
    assert_eq!(answer["type"], "msg");
    assert_eq!(we_decrypt(&store, &answer).await.unwrap(), b"answer");
    assert_eq!(
        encrypt(&store, &node(), b"x").await.unwrap().enc_type(),
        "msg",
        "answered: no more pkmsg"
    );
    // Node must decrypt that "x" too, or the next round's ordering is off by one message.
    let x = encrypt(&store, &node(), b"y").await.unwrap();
    assert_eq!(node_decrypts(&mut peer, &x), b"y");
    converse(&mut peer, &store, 4).await;
}

async fn encrypt_all(store: &InMemoryStore, texts: &[&str]) -> Vec<CiphertextMessage> {
    let mut out = Vec::new();
    for t in texts {
        out.push(encrypt(store, &node(), t.as_bytes()).await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_session_without_one_time_pre_key_works_both_ways() {
    let mut peer = Peer::start();
    let store = new_store();
    let bundle = bundle_from_json(&peer.call(json!({"op": "bundle", "withPreKey": false})));
    assert!(bundle.pre_key.is_none());
    process_bundle(&store, &node(), &bundle, &mut OsRng)
        .await
        .unwrap();
    let m = encrypt(&store, &node(), b"no one-time key").await.unwrap();
    assert_eq!(node_decrypts(&mut peer, &m), b"no one-time key");
    converse(&mut peer, &store, 2).await;
}

#[tokio::test]
async fn replayed_node_message_is_a_typed_error_and_changes_nothing() {
    let mut peer = Peer::start();
    let store = new_store();
    let identity = store.identity_key_pair().await.unwrap();
    let reg = store.local_registration_id().await.unwrap();
    let (bundle, _) = publish_bundle(&store, &identity, reg, 3, true);
    peer.call(json!({"op": "process_bundle", "bundle": bundle}));
    let first = node_encrypts(&mut peer, "one");
    we_decrypt(&store, &first).await.unwrap();
    let reply = encrypt(&store, &node(), b"ok").await.unwrap();
    node_decrypts(&mut peer, &reply);
    let m = node_encrypts(&mut peer, "two");
    assert_eq!(we_decrypt(&store, &m).await.unwrap(), b"two");

    let before = store.session_bytes(&node()).unwrap();
    let again = we_decrypt(&store, &m).await;
    assert!(
        matches!(again, Err(SignalError::DuplicateMessage(_))),
        "{again:?}"
    );
    assert_eq!(store.session_bytes(&node()).unwrap(), before);

    let mut tampered = m.clone();
    let mut body = hex_field(&m, "body");
    let last = body.len() - 1;
    body[last] ^= 1;
    tampered["body"] = json!(hex::encode(body));
    let third = node_encrypts(&mut peer, "three");
    assert!(matches!(
        we_decrypt(&store, &tampered).await,
        Err(SignalError::DuplicateMessage(_) | SignalError::BadMac)
    ));
    let mut bad_mac = third.clone();
    let mut body = hex_field(&third, "body");
    let last = body.len() - 1;
    body[last] ^= 1;
    bad_mac["body"] = json!(hex::encode(body));
    assert!(matches!(
        we_decrypt(&store, &bad_mac).await,
        Err(SignalError::BadMac)
    ));
    assert_eq!(
        store.session_bytes(&node()).unwrap(),
        before,
        "failed decrypts leave the session as it was"
    );
    assert_eq!(we_decrypt(&store, &third).await.unwrap(), b"three");
}

#[tokio::test]
async fn group_messages_cross_both_ways_with_baileys_group_cipher() {
    let mut peer = Peer::start();
    let store = new_store();
    let group = "120363000000000000@g.us";
    let ours = SenderKeyName {
        group_id: group.into(),
        sender: ProtocolAddress::new("rust", 1),
    };
    let theirs = SenderKeyName {
        group_id: group.into(),
        sender: node(),
    };

    // Our chain to node.
    let dist = signal::create_distribution_message(&store, &ours, &mut OsRng)
        .await
        .unwrap();
    peer.call(json!({"op": "group_process", "group": group, "distribution": hex::encode(dist.serialize())}));
    let mut sent = Vec::new();
    for i in 0..5 {
        let text = format!("group from rust {i}");
        sent.push((
            text.clone(),
            signal::group_encrypt(&store, &ours, text.as_bytes(), &mut OsRng)
                .await
                .unwrap(),
        ));
    }
    for &i in &[0usize, 3, 1, 4, 2] {
        let reply = peer
            .call(json!({"op": "group_decrypt", "group": group, "body": hex::encode(&sent[i].1)}));
        assert_eq!(hex_field(&reply, "plaintext"), sent[i].0.as_bytes());
    }
    let replay = peer
        .try_call(json!({"op": "group_decrypt", "group": group, "body": hex::encode(&sent[0].1)}));
    assert_eq!(
        replay["ok"],
        json!(false),
        "Baileys rejects a replayed group message"
    );

    // Node's chain to us.
    let dist = peer.call(json!({"op": "group_create", "group": group}));
    let dist = signal::wire::SenderKeyDistributionMessage::parse(&hex_field(&dist, "distribution"))
        .unwrap();
    signal::process_distribution_message(&store, &theirs, &dist)
        .await
        .unwrap();
    let received: Vec<Vec<u8>> = (0..5)
        .map(|i| {
            let reply = peer.call(json!({"op": "group_encrypt", "group": group, "plaintext": hex::encode(format!("group from node {i}"))}));
            hex_field(&reply, "body")
        })
        .collect();
    for &i in &[4usize, 0, 2, 1, 3] {
        let plain = signal::group_decrypt(&store, &theirs, &received[i])
            .await
            .unwrap();
        assert_eq!(plain, format!("group from node {i}").as_bytes());
    }
    let replay = signal::group_decrypt(&store, &theirs, &received[2]).await;
    assert!(
        matches!(replay, Err(SignalError::DuplicateMessage(_))),
        "{replay:?}"
    );
    let mut forged = received[1].clone();
    forged[5] ^= 1;
    assert!(
        signal::group_decrypt(&store, &theirs, &forged)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn messages_delayed_across_a_ratchet_step_still_decrypt_both_ways() {
    let mut peer = Peer::start();
    let store = new_store();
    let bundle = bundle_from_json(&peer.call(json!({"op": "bundle"})));
    process_bundle(&store, &node(), &bundle, &mut OsRng)
        .await
        .unwrap();
    let first = encrypt(&store, &node(), b"start").await.unwrap();
    node_decrypts(&mut peer, &first);
    let answer = node_encrypts(&mut peer, "answer");
    we_decrypt(&store, &answer).await.unwrap();

    // Node sends three on its current chain; only the first arrives now.
    let old: Vec<Value> = (0..3)
        .map(|i| node_encrypts(&mut peer, &format!("old {i}")))
        .collect();
    assert_eq!(we_decrypt(&store, &old[0]).await.unwrap(), b"old 0");
    // We answer (node ratchets), node sends on a new chain, which arrives before old 1 and 2.
    let ours_old: Vec<CiphertextMessage> =
        encrypt_all(&store, &["mine 0", "mine 1", "mine 2"]).await;
    assert_eq!(node_decrypts(&mut peer, &ours_old[0]), b"mine 0");
    let new = node_encrypts(&mut peer, "new");
    assert_eq!(we_decrypt(&store, &new).await.unwrap(), b"new");
    assert_eq!(we_decrypt(&store, &old[2]).await.unwrap(), b"old 2");
    assert_eq!(we_decrypt(&store, &old[1]).await.unwrap(), b"old 1");

    // Same the other way: our reply moves to a new chain; our delayed old ones still decrypt.
    let ours_new = encrypt(&store, &node(), b"mine new").await.unwrap();
    assert_eq!(node_decrypts(&mut peer, &ours_new), b"mine new");
    assert_eq!(node_decrypts(&mut peer, &ours_old[2]), b"mine 2");
    assert_eq!(node_decrypts(&mut peer, &ours_old[1]), b"mine 1");
}

#[tokio::test]
async fn an_old_session_message_from_node_decrypts_after_node_starts_a_new_session() {
    let mut peer = Peer::start();
    let store = new_store();
    let identity = store.identity_key_pair().await.unwrap();
    let reg = store.local_registration_id().await.unwrap();
    let (bundle, _) = publish_bundle(&store, &identity, reg, 11, true);
    peer.call(json!({"op": "process_bundle", "bundle": bundle}));
    we_decrypt(&store, &node_encrypts(&mut peer, "one"))
        .await
        .unwrap();
    node_decrypts(&mut peer, &encrypt(&store, &node(), b"ack").await.unwrap());
    let delayed = node_encrypts(&mut peer, "in flight on the old session");

    // Node fetches a fresh bundle of ours and starts over.
    let (bundle, _) = publish_bundle(&store, &identity, reg, 12, true);
    peer.call(json!({"op": "process_bundle", "bundle": bundle}));
    let fresh = node_encrypts(&mut peer, "new session");
    assert_eq!(fresh["type"], "pkmsg");
    assert_eq!(we_decrypt(&store, &fresh).await.unwrap(), b"new session");
    assert_eq!(
        we_decrypt(&store, &delayed).await.unwrap(),
        b"in flight on the old session"
    );
    let reply = encrypt(&store, &node(), b"on the new one").await.unwrap();
    assert_eq!(node_decrypts(&mut peer, &reply), b"on the new one");
}
