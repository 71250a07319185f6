//! What a newly linked companion sees from the server and its phone, with realistic timing: the
//! 515 a moment after `pair-device-sign` (configurable, or at once as a fault), the phone's
//! app-state key share within a second, answers to key requests, and a digest of exactly what
//! the device uploaded.

mod common;

use std::time::Duration;

use common::client::iq;
use common::companion::Companion;
use fake_whatsapp::{Config, DEFAULT_RESTART_DELAY, FakeWhatsApp, Faults};
use sha1::{Digest, Sha1};
use whatsapp::proto::Message;
use whatsapp::proto::message::{
    AppStateSyncKeyId, AppStateSyncKeyRequest, ProtocolMessage, protocol_message,
};
use whatsapp_binary::Node;

fn without_phone_sync() -> Config {
    Config {
        history_sync: false,
        app_state_key_share: false,
        ..Config::default()
    }
}

#[tokio::test]
async fn the_515_follows_pair_device_sign_after_the_default_delay() {
    let fake = FakeWhatsApp::start(without_phone_sync()).await.unwrap();
    let companion = Companion::link(&fake, fake.phone(), 1).await;
    assert!(
        companion.restart_after >= DEFAULT_RESTART_DELAY,
        "{:?}",
        companion.restart_after
    );
    assert!(
        companion.restart_after < DEFAULT_RESTART_DELAY + Duration::from_secs(2),
        "{:?}",
        companion.restart_after
    );
}

#[tokio::test]
async fn the_515_comes_at_once_with_the_fault_or_a_zero_delay() {
    let fake = FakeWhatsApp::start(without_phone_sync()).await.unwrap();
    fake.set_faults(Faults {
        instant_restart: true,
        ..Faults::default()
    });
    let companion = Companion::link(&fake, fake.phone(), 1).await;
    assert!(
        companion.restart_after < DEFAULT_RESTART_DELAY,
        "{:?}",
        companion.restart_after
    );

    let zero = FakeWhatsApp::start(Config {
        restart_delay: Duration::ZERO,
        ..without_phone_sync()
    })
    .await
    .unwrap();
    let companion = Companion::link(&zero, zero.phone(), 1).await;
    assert!(
        companion.restart_after < DEFAULT_RESTART_DELAY,
        "{:?}",
        companion.restart_after
    );
}

/// The next peer message from the companion's own phone, decrypted.
async fn next_peer_message(companion: &mut Companion) -> Message {
    let node = companion
        .client
        .expect("a peer message", |n| {
            n.tag == "message" && n.attr_str("category") == Some("peer")
        })
        .await;
    let from = companion.user.clone();
    companion.decrypt(&from, &node).await.expect("it decrypts")
}

#[tokio::test]
async fn a_new_companion_gets_the_app_state_keys_within_a_second_and_can_ask_again() {
    let fake = FakeWhatsApp::start(Config {
        history_sync: false,
        ..Config::default()
    })
    .await
    .unwrap();
    let mut companion = Companion::link(&fake, fake.phone(), 3).await;
    let share = next_peer_message(&mut companion).await;
    let waited = companion.paired_at.elapsed();
    assert!(waited < Duration::from_secs(1), "{waited:?} after the 515");

    let protocol = share.protocol_message.unwrap();
    assert_eq!(
        protocol.r#type,
        Some(protocol_message::Type::AppStateSyncKeyShare as i32)
    );
    let keys = protocol.app_state_sync_key_share.unwrap().keys;
    assert!(!keys.is_empty());
    let key = &keys[0];
    let id = key.key_id.as_ref().and_then(|k| k.key_id.clone()).unwrap();
    assert_eq!(id.len(), 6);
    assert_eq!(&id[..4], &[0; 4], "key ids look like WhatsApp's");
    let data = key.key_data.as_ref().unwrap();
    assert_eq!(data.key_data.as_ref().map(Vec::len), Some(32));
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let made = data.timestamp.unwrap();
    assert!(
        (now_ms - 60_000..=now_ms + 1000).contains(&made),
        "{made} ms"
    );
    let fingerprint = data.fingerprint.as_ref().unwrap();
    let key_index = u32::from(companion.device);
    assert_eq!(fingerprint.current_index, Some(key_index));
    assert_eq!(fingerprint.device_indexes, [0, key_index]);
    assert!(fingerprint.raw_id.is_some());

    // The companion asks for that key and one nobody has: the phone answers with the one it has.
    let request = Message {
        protocol_message: Some(Box::new(ProtocolMessage {
            r#type: Some(protocol_message::Type::AppStateSyncKeyRequest as i32),
            app_state_sync_key_request: Some(AppStateSyncKeyRequest {
                key_ids: vec![
                    AppStateSyncKeyId {
                        key_id: Some(id.clone()),
                    },
                    AppStateSyncKeyId {
                        key_id: Some(vec![0, 0, 0, 0, 0xde, 0xad]),
                    },
                ],
            }),
            ..Default::default()
        })),
        ..Default::default()
    };
    let me = companion.user.clone();
    let ciphertext = companion.encrypt(&me, &request).await;
    let node = Companion::message_node(&me, "KEYREQ1", &ciphertext).attr("category", "peer");
    companion.client.send(&node).await;
    let answer = next_peer_message(&mut companion).await;
    let keys = answer
        .protocol_message
        .unwrap()
        .app_state_sync_key_share
        .unwrap()
        .keys;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].key_id.as_ref().unwrap().key_id.as_ref(), Some(&id));
    assert_eq!(keys[0].key_data, Some(data.clone()));
}

fn bytes<'a>(node: &'a Node, path: &[&str]) -> &'a [u8] {
    node.child_by_path(path)
        .and_then(Node::content_bytes)
        .unwrap_or_else(|| panic!("{path:?} in {node}"))
}

#[tokio::test]
async fn the_digest_is_exactly_what_the_device_uploaded() {
    let fake = FakeWhatsApp::start(without_phone_sync()).await.unwrap();
    let mut companion = Companion::link(&fake, fake.phone(), 4).await;
    // Someone starts a session with the device: one one-time key leaves the server.
    let taken = companion.fetch_bundle(companion.jid()).await;
    let taken_id = taken.pre_key.map(|(id, _)| id).unwrap();

    let reply = companion
        .client
        .query(iq("d1", "get", "encrypt", Some(Node::new("digest"))))
        .await;
    let digest = reply.child_by_tag("digest").expect("a digest");
    let upload = companion.upload.clone();
    for field in ["registration", "type", "identity"] {
        assert_eq!(bytes(digest, &[field]), bytes(&upload, &[field]), "{field}");
    }
    for field in ["id", "value", "signature"] {
        assert_eq!(
            bytes(digest, &["skey", field]),
            bytes(&upload, &["skey", field]),
            "skey {field}"
        );
    }
    let uploaded: Vec<&Node> = upload
        .child_by_tag("list")
        .unwrap()
        .children_by_tag("key")
        .collect();
    let left: Vec<&Node> = uploaded
        .into_iter()
        .filter(|k| bytes(k, &["id"]) != &taken_id.to_be_bytes()[1..])
        .collect();
    assert_eq!(left.len(), 3);
    let listed: Vec<&[u8]> = digest
        .child_by_tag("list")
        .unwrap()
        .get_children()
        .iter()
        .map(|c| {
            assert_eq!(c.tag, "id");
            c.content_bytes().unwrap()
        })
        .collect();
    let expected: Vec<&[u8]> = left.iter().map(|k| bytes(k, &["id"])).collect();
    assert_eq!(listed, expected, "the one-time key ids still on the server");

    let mut hash = Sha1::new();
    hash.update(bytes(&upload, &["identity"]));
    hash.update(bytes(&upload, &["skey", "value"]));
    hash.update(bytes(&upload, &["skey", "signature"]));
    for key in &left {
        hash.update(bytes(key, &["value"]));
    }
    assert_eq!(bytes(digest, &["hash"]), hash.finalize().as_slice());
    assert_eq!(bytes(digest, &["hash"]).len(), 20);
}
