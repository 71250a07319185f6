//! The fake driven by a minimal client built from our own protocol crates: the whole
//! pairing → 515 → login → post-login IQ sequence, checked stanza by stanza, plus bad input
//! that must close only the offending connection.

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::client::{Client, STEP, iq, login, pair, registration};
use fake_whatsapp::{Config, FakeWhatsApp};
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio::time::timeout;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;
use whatsapp::frame::INTRO;
use whatsapp::handshake::KeyPair;
use whatsapp_binary::{Jid, Node, Server};

#[tokio::test]
async fn pairing_login_and_post_login_iqs() {
    // No history sync or app-state key share: they would take one of the one-time keys this
    // test counts.
    let fake = FakeWhatsApp::start(Config {
        history_sync: false,
        app_state_key_share: false,
        ..Config::default()
    })
    .await
    .unwrap();
    let (noise, device) = pair(&fake).await;

    // A stranger's noise key for the same device is refused with <failure reason="401">.
    let mut impostor = Client::connect(&fake, &KeyPair::generate(), &login(device)).await;
    let failure = impostor.recv().await.unwrap();
    assert_eq!(failure.tag, "failure");
    assert_eq!(failure.attr_str("reason"), Some("401"));

    let mut c = Client::connect(&fake, &noise, &login(device)).await;
    let success = c.recv().await.unwrap();
    assert_eq!(success.tag, "success", "{success}");
    assert_eq!(
        success.get_attr("lid").map(|v| v.to_string()).as_deref(),
        Some("100000000000001:1@lid")
    );

    let count = c
        .query(iq("1", "get", "encrypt", Some(Node::new("count"))))
        .await;
    assert_eq!(
        count.child_by_tag("count").unwrap().attr_str("value"),
        Some("0")
    );
    let keys = Node::new("list").children((1u32..=3).map(|id| {
        Node::new("key")
            .child(Node::new("id").bytes(id.to_be_bytes()[1..].to_vec()))
            .child(Node::new("value").bytes(vec![0; 32]))
    }));
    let skey = Node::new("skey")
        .child(Node::new("id").bytes(vec![0, 0, 1]))
        .child(Node::new("value").bytes(vec![4; 32]))
        .child(Node::new("signature").bytes(vec![5; 64]));
    let upload = iq("2", "set", "encrypt", None)
        .child(Node::new("registration").bytes(vec![0, 0, 0, 42]))
        .child(Node::new("type").bytes(vec![5]))
        .child(Node::new("identity").bytes(vec![6; 32]))
        .child(keys)
        .child(skey);
    let upload = c.query(upload).await;
    assert_eq!(upload.attr_str("type"), Some("result"));
    let count = c
        .query(iq("3", "get", "encrypt", Some(Node::new("count"))))
        .await;
    assert_eq!(
        count.child_by_tag("count").unwrap().attr_str("value"),
        Some("3")
    );

    // Bundle fetch by PN and by LID hands out one-time keys in order; an unknown device is 404.
    let fetch = |id: &str, jid: Jid| {
        iq(id, "get", "encrypt", None)
            .child(Node::new("key").child(Node::new("user").attr("jid", jid)))
    };
    let by_pn = c
        .query(fetch(
            "3a",
            Jid::device("15550001111", Server::Pn, 1).unwrap(),
        ))
        .await;
    let user = by_pn.child_by_path(&["list", "user"]).unwrap();
    assert_eq!(
        user.child_by_tag("registration").unwrap().content_bytes(),
        Some(&[0u8, 0, 0, 42][..])
    );
    assert_eq!(
        user.child_by_path(&["key", "id"]).unwrap().content_bytes(),
        Some(&[0u8, 0, 1][..])
    );
    assert_eq!(
        user.child_by_path(&["skey", "signature"])
            .unwrap()
            .content_bytes(),
        Some(&[5u8; 64][..])
    );
    let by_lid = c
        .query(fetch(
            "3b",
            Jid::device("100000000000001", Server::Lid, 1).unwrap(),
        ))
        .await;
    let user = by_lid.child_by_path(&["list", "user"]).unwrap();
    assert_eq!(
        user.child_by_path(&["key", "id"]).unwrap().content_bytes(),
        Some(&[0u8, 0, 2][..])
    );
    let unknown = c
        .query(fetch(
            "3c",
            Jid::device("15550001111", Server::Pn, 9).unwrap(),
        ))
        .await;
    assert_eq!(
        unknown
            .child_by_path(&["list", "user", "error"])
            .and_then(|e| e.attr_str("code")),
        Some("404")
    );
    let count = c
        .query(iq("3d", "get", "encrypt", Some(Node::new("count"))))
        .await;
    assert_eq!(
        count.child_by_tag("count").unwrap().attr_str("value"),
        Some("1")
    );

    // usync: device lists with key indexes, LIDs, and who is on WhatsApp. The key-index list is
    // signed (XEdDSA, prefix 06 02) by the primary's identity key, which its bundle publishes.
    fake.add_account("15550002222", "100000000000002", "Carol")
        .unwrap();
    let usync = iq("u1", "get", "usync", None).child(
        Node::new("usync")
            .attr("sid", "u1")
            .attr("context", "message")
            .attr("mode", "query")
            .children([
                Node::new("query").children([
                    Node::new("devices").attr("version", "2"),
                    Node::new("lid"),
                    Node::new("contact"),
                ]),
                Node::new("list").children([
                    Node::new("user").attr("jid", Jid::pn("15550001111").unwrap()),
                    Node::new("user")
                        .child(Node::new("contact").bytes(b"+1 555 000 2222".to_vec())),
                    Node::new("user").attr("jid", Jid::pn("19998887777").unwrap()),
                ]),
            ]),
    );
    let answer = c.query(usync).await;
    let users: Vec<&Node> = answer
        .child_by_path(&["usync", "list"])
        .unwrap()
        .children_by_tag("user")
        .collect();
    assert_eq!(users.len(), 3);
    let me = users[0];
    let ids: Vec<(Option<&str>, Option<&str>)> = me
        .child_by_path(&["devices", "device-list"])
        .unwrap()
        .children_by_tag("device")
        .map(|d| (d.attr_str("id"), d.attr_str("key-index")))
        .collect();
    assert_eq!(ids, [(Some("0"), None), (Some("1"), Some("1"))]);
    assert_eq!(
        me.child_by_tag("lid")
            .and_then(|l| l.get_attr("val"))
            .map(ToString::to_string),
        Some("100000000000001@lid".to_owned())
    );
    let signed = whatsapp::proto::AdvSignedKeyIndexList::decode(
        me.child_by_path(&["devices", "key-index-list"])
            .unwrap()
            .content_bytes()
            .unwrap(),
    )
    .unwrap();
    let details = signed.details.unwrap();
    let list = whatsapp::proto::AdvKeyIndexList::decode(details.as_slice()).unwrap();
    assert_eq!(list.valid_indexes, [1]);
    let primary = c.query(fetch("u2", Jid::pn("15550001111").unwrap())).await;
    let primary_identity: [u8; 32] = primary
        .child_by_path(&["list", "user", "identity"])
        .unwrap()
        .content_bytes()
        .unwrap()
        .try_into()
        .unwrap();
    let mut message = vec![6, 2];
    message.extend_from_slice(&details);
    let signature: [u8; 64] = signed.account_signature.unwrap().try_into().unwrap();
    assert!(signal::xeddsa::verify(
        &primary_identity,
        &message,
        &signature
    ));
    message[2] ^= 1;
    assert!(!signal::xeddsa::verify(
        &primary_identity,
        &message,
        &signature
    ));
    assert_eq!(
        users[1].get_attr("jid").map(ToString::to_string),
        Some("15550002222@s.whatsapp.net".to_owned())
    );
    assert_eq!(
        users[1]
            .child_by_tag("contact")
            .and_then(|c| c.attr_str("type")),
        Some("in")
    );
    assert_eq!(
        users[2]
            .child_by_tag("contact")
            .and_then(|c| c.attr_str("type")),
        Some("out"),
        "not on WhatsApp"
    );
    assert!(users[2].child_by_tag("lid").is_none());

    let active = c
        .query(iq("4", "set", "passive", Some(Node::new("active"))))
        .await;
    assert_eq!(active.attr_str("type"), Some("result"));
    let offline = c.recv().await.unwrap();
    assert_eq!(offline.tag, "ib");
    assert_eq!(
        offline.child_by_tag("offline").unwrap().attr_str("count"),
        Some("0")
    );

    let digest = c
        .query(iq("5", "get", "encrypt", Some(Node::new("digest"))))
        .await;
    assert!(digest.child_by_tag("digest").is_some());
    let props = c
        .query(iq("6", "get", "abt", Some(Node::new("props"))))
        .await;
    assert!(props.child_by_tag("props").is_some());
    let privacy = c
        .query(iq("7", "get", "privacy", Some(Node::new("privacy"))))
        .await;
    assert!(privacy.child_by_path(&["privacy", "category"]).is_some());
    let blocklist = c.query(iq("8", "get", "blocklist", None)).await;
    assert!(blocklist.child_by_tag("list").is_some());
    let ping = c
        .query(iq("9", "get", "w:p", Some(Node::new("ping"))))
        .await;
    assert_eq!(ping.attr_str("type"), Some("result"));
    let unknown = c.query(iq("10", "get", "no-such-ns", None)).await;
    assert_eq!(unknown.attr_str("type"), Some("error"));

    let receipt = Node::new("receipt")
        .attr("id", "R1")
        .attr("to", Jid::pn("15550002222").unwrap())
        .attr("type", "read");
    c.send(&receipt).await;
    let ack = c.recv().await.unwrap();
    assert_eq!(ack.tag, "ack");
    assert_eq!(ack.attr_str("class"), Some("receipt"));
    assert_eq!(ack.attr_str("id"), Some("R1"));
    assert_eq!(ack.attr_str("type"), Some("read"));

    // Control: a scripted stanza reaches only the named device.
    let custom = Node::new("ib").child(Node::new("dirty").attr("type", "groups"));
    assert_eq!(fake.send_to_device("15550001111", 9, &custom), 0);
    assert_eq!(fake.send_to_device("15550001111", 1, &custom), 1);
    assert_eq!(c.recv().await.unwrap(), custom);
    // 440 goes to the logged-in connection only.
    assert_eq!(fake.kick_device("15550001111", 9, 440), 0);
    assert_eq!(fake.kick_device("15550001111", 1, 440), 1);
    let err = c.recv().await.unwrap();
    assert_eq!(err.tag, "stream:error");
    assert_eq!(err.attr_str("code"), None, "440 is implied by the conflict");
    assert_eq!(
        err.child_by_tag("conflict")
            .and_then(|c| c.attr_str("type")),
        Some("replaced")
    );
    assert!(c.recv().await.is_none());
    assert_eq!(fake.devices().len(), 1, "440 keeps the device linked");
}

/// Sends raw bytes on a fresh socket and reports whether the server closed it.
async fn closed_after(fake: &FakeWhatsApp, bytes: Vec<u8>) -> bool {
    let (mut ws, _) = connect_async(fake.url()).await.unwrap();
    ws.send(Message::binary(bytes)).await.unwrap();
    loop {
        match timeout(STEP, ws.next()).await {
            Err(_) => return false,
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return true,
            Ok(Some(Ok(_))) => {}
        }
    }
}

#[tokio::test]
async fn bad_input_closes_only_that_connection() {
    let fake = FakeWhatsApp::start(Config::default()).await.unwrap();
    let (noise, device) = pair(&fake).await;
    let mut good = Client::connect(&fake, &noise, &login(device)).await;
    assert_eq!(good.recv().await.unwrap().tag, "success");

    // Wrong intro.
    assert!(closed_after(&fake, b"GET / HTTP/1.1\r\n".to_vec()).await);
    // Right intro, garbage handshake message.
    let mut garbage = INTRO.to_vec();
    garbage.extend_from_slice(&[0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff]);
    assert!(closed_after(&fake, garbage).await);
    // A frame header claiming 1 MiB during the handshake: closed without waiting for the bytes.
    let mut oversized = INTRO.to_vec();
    oversized.extend_from_slice(&[0x10, 0, 0]);
    assert!(closed_after(&fake, oversized).await);
    // Text instead of binary.
    let (mut ws, _) = connect_async(fake.url()).await.unwrap();
    ws.send(Message::text("hello")).await.unwrap();
    assert!(matches!(
        timeout(STEP, ws.next()).await.unwrap(),
        None | Some(Err(_)) | Some(Ok(Message::Close(_)))
    ));
    // A registration whose signed pre-key is not signed by its identity key.
    let identity = KeyPair::generate();
    let mut forged = registration(&identity);
    if let Some(reg) = forged.device_pairing_data.as_mut() {
        reg.e_skey_sig = Some(vec![9; 64]);
    }
    let mut refused = Client::connect(&fake, &KeyPair::generate(), &forged).await;
    assert!(
        refused.recv().await.is_none(),
        "no pair-device for a forged eSkeySig"
    );
    // Wrong path: no upgrade.
    let wrong = fake.url().replace("/ws/chat", "/elsewhere");
    assert!(connect_async(wrong).await.is_err());

    // After the handshake: a frame that fails authentication closes that connection.
    let mut tampered = Client::connect(&fake, &noise, &login(device)).await;
    assert_eq!(tampered.recv().await.unwrap().tag, "success");
    tampered
        .ws
        .send(Message::binary(vec![
            0, 0, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
        ]))
        .await
        .unwrap();
    assert!(tampered.recv().await.is_none());

    // The first connection is still served.
    let ping = good
        .query(iq("p", "get", "w:p", Some(Node::new("ping"))))
        .await;
    assert_eq!(ping.attr_str("type"), Some("result"));
    // And new clients still connect.
    let mut again = Client::connect(&fake, &noise, &login(device)).await;
    assert_eq!(again.recv().await.unwrap().tag, "success");

    // drop_sockets closes without a stream error.
    assert_eq!(fake.drop_sockets(), 2);
    assert!(good.recv().await.is_none());
    assert!(again.recv().await.is_none());
}

#[tokio::test]
async fn silent_connections_are_closed_active_ones_kept() {
    let fake = FakeWhatsApp::start(Config {
        idle_timeout: Duration::from_millis(400),
        ..Config::default()
    })
    .await
    .unwrap();
    let (noise, device) = pair(&fake).await;
    let mut active = Client::connect(&fake, &noise, &login(device)).await;
    assert_eq!(active.recv().await.unwrap().tag, "success");
    let mut silent = Client::connect(&fake, &noise, &login(device)).await;
    assert_eq!(silent.recv().await.unwrap().tag, "success");
    // The active client pings every 100 ms for well over the timeout and is answered each time.
    for i in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let pong = active
            .query(iq(
                &format!("ping{i}"),
                "get",
                "w:p",
                Some(Node::new("ping")),
            ))
            .await;
        assert_eq!(pong.attr_str("type"), Some("result"));
    }
    // By now the silent one was hung up on.
    assert!(silent.recv().await.is_none());
    assert_eq!(fake.connections(), 1);

    // A registering connection waits quietly for its QR scan longer than the idle timeout.
    let (noise, identity) = (KeyPair::generate(), KeyPair::generate());
    let mut registering = Client::connect(&fake, &noise, &registration(&identity)).await;
    let pair_device = registering.recv().await.unwrap();
    let first_ref = pair_device
        .child_by_path(&["pair-device", "ref"])
        .and_then(Node::content_bytes)
        .map(|r| String::from_utf8(r.to_vec()).unwrap())
        .unwrap();
    tokio::time::sleep(Duration::from_millis(900)).await;
    let qr = format!(
        "{first_ref},{},{},{},1",
        STANDARD.encode(noise.public()),
        STANDARD.encode(identity.public()),
        STANDARD.encode([7u8; 32])
    );
    fake.phone().scan(&qr).unwrap();
    let success = registering.recv().await.unwrap();
    assert!(success.child_by_tag("pair-success").is_some(), "{success}");
}
