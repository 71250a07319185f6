//! Clients that resume as WhatsApp Web does (Noise IK with the server key cached from their last
//! connection): the fake completes IK when the key is its own, answers XXfallback when it is not,
//! closes only a connection whose resume payload is garbage, and keeps its key across restarts
//! when given one (`Config::static_key`, `--static-key`).

mod common;

use common::client::{Client, Resumption, STEP, iq, login, pair};
use fake_whatsapp::{Config, FakeWhatsApp};
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio::time::timeout;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;
use whatsapp::frame::FrameEncoder;
use whatsapp::handshake::{KeyPair, ResumeHandshake};
use whatsapp::proto::HandshakeMessage;
use whatsapp_binary::Node;

fn with_static_key(key: [u8; 32]) -> Config {
    Config {
        static_key: Some(key),
        ..Config::default()
    }
}

#[tokio::test]
async fn a_current_cached_key_logs_in_without_xx() {
    let fake = FakeWhatsApp::start(Config::default()).await.unwrap();
    let (noise, device) = pair(&fake).await;
    let (mut client, how) =
        Client::resume(&fake, &noise, &fake.static_public_key(), &login(device)).await;
    assert_eq!(how, Resumption::Resumed);
    assert_eq!(client.recv().await.unwrap().tag, "success");
    let stats = fake.stats();
    assert_eq!(
        (stats.resumed_handshakes, stats.fallback_handshakes),
        (1, 0)
    );
    let pong = client
        .query(iq("p", "get", "w:p", Some(Node::new("ping"))))
        .await;
    assert_eq!(pong.attr_str("type"), Some("result"));
}

#[tokio::test]
async fn a_stale_cached_key_falls_back_and_logs_in() {
    let fake = FakeWhatsApp::start(Config::default()).await.unwrap();
    let (noise, device) = pair(&fake).await;
    let stale = KeyPair::generate();
    let (mut client, how) = Client::resume(&fake, &noise, stale.public(), &login(device)).await;
    assert_eq!(
        how,
        Resumption::Fallback {
            server_static: fake.static_public_key()
        }
    );
    assert_eq!(client.recv().await.unwrap().tag, "success");
    let stats = fake.stats();
    assert_eq!(
        (stats.resumed_handshakes, stats.fallback_handshakes),
        (0, 1)
    );
    // With the key it just learnt, the next connection resumes.
    let (mut again, how) =
        Client::resume(&fake, &noise, &fake.static_public_key(), &login(device)).await;
    assert_eq!(how, Resumption::Resumed);
    assert_eq!(again.recv().await.unwrap().tag, "success");
}

#[tokio::test]
async fn garbage_in_a_resume_payload_closes_only_that_connection() {
    let fake = FakeWhatsApp::start(Config::default()).await.unwrap();
    let (noise, device) = pair(&fake).await;
    let mut good = Client::connect(&fake, &noise, &login(device)).await;
    assert_eq!(good.recv().await.unwrap().tag, "success");

    let (_, hello) = ResumeHandshake::start(
        &noise,
        &fake.static_public_key(),
        &login(device).encode_to_vec(),
    )
    .unwrap();
    let mut hello = HandshakeMessage::decode(hello.as_slice()).unwrap();
    if let Some(payload) = hello.client_hello.as_mut().and_then(|h| h.payload.as_mut()) {
        payload[5] ^= 0x80;
    }
    let (mut ws, _) = connect_async(fake.url()).await.unwrap();
    let frame = FrameEncoder::client()
        .encode(&hello.encode_to_vec())
        .unwrap();
    ws.send(Message::binary(frame)).await.unwrap();
    let closed = match timeout(STEP, ws.next()).await {
        Err(_) => false,
        Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => true,
        Ok(Some(Ok(other))) => panic!("no answer expected to a forged resume: {other:?}"),
    };
    assert!(closed, "the forged resume is hung up on");
    assert_eq!(fake.stats().resumed_handshakes, 0);

    let pong = good
        .query(iq("p", "get", "w:p", Some(Node::new("ping"))))
        .await;
    assert_eq!(
        pong.attr_str("type"),
        Some("result"),
        "others are still served"
    );
}

#[tokio::test]
async fn a_restarted_fake_with_the_same_static_key_is_resumed_and_a_new_key_falls_back() {
    let key = [0x5a; 32];
    let first = FakeWhatsApp::start(with_static_key(key)).await.unwrap();
    let (noise, device) = pair(&first).await;
    let cached = first.static_public_key();
    drop(first);

    // Same key: the client's cached key is current, the handshake resumes. The fake keeps no
    // accounts across restarts, so the login itself is then refused as for an unknown device.
    let same = FakeWhatsApp::start(with_static_key(key)).await.unwrap();
    assert_eq!(same.static_public_key(), cached);
    let (mut client, how) = Client::resume(&same, &noise, &cached, &login(device)).await;
    assert_eq!(how, Resumption::Resumed);
    let answer = client.recv().await.unwrap();
    assert_eq!(
        (answer.tag.as_str(), answer.attr_str("reason")),
        ("failure", Some("401"))
    );

    // A new key: the cached one is stale, the server falls back and hands out its new key.
    let other = FakeWhatsApp::start(Config::default()).await.unwrap();
    assert_ne!(other.static_public_key(), cached);
    let (mut client, how) = Client::resume(&other, &noise, &cached, &login(device)).await;
    assert_eq!(
        how,
        Resumption::Fallback {
            server_static: other.static_public_key()
        }
    );
    assert_eq!(client.recv().await.unwrap().tag, "failure");
    assert_eq!(other.stats().fallback_handshakes, 1);
}
