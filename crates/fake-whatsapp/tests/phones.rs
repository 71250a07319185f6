//! The scripted phones behave like real phones towards a companion built from our own crates:
//! a message id they already read is ignored (but confirmed again), and a retry receipt brings
//! the message again, re-encrypted for the asking device — from the phone's session, from the
//! keys in the receipt, or from a fresh bundle.

mod common;

use common::companion::Companion;
use fake_whatsapp::{Config, FakeWhatsApp, Phone};
use whatsapp_binary::{Jid, Node};

async fn fake_with_contact() -> (FakeWhatsApp, Phone, Phone) {
    // No history sync: the phone's first message to its companion would take a one-time key.
    let fake = FakeWhatsApp::start(Config {
        history_sync: false,
        ..Config::default()
    })
    .await
    .unwrap();
    let contact = fake
        .add_account("15550002222", "100000000000002", "Carol")
        .unwrap();
    let me = fake.phone().clone();
    (fake, me, contact)
}

fn retry_receipt(id: &str, to: &Phone, count: u32, registration: Node, keys: Option<Node>) -> Node {
    let receipt = Node::new("receipt")
        .attr("id", id)
        .attr("to", Jid::pn(to.user()).unwrap())
        .attr("type", "retry")
        .child(
            Node::new("retry")
                .attr("count", count)
                .attr("id", id)
                .attr("t", "1")
                .attr("v", "1"),
        )
        .child(registration);
    match keys {
        Some(keys) => receipt.child(keys),
        None => receipt,
    }
}

fn is_message(id: &str) -> impl Fn(&Node) -> bool + '_ {
    move |n| n.tag == "message" && n.attr_str("id") == Some(id)
}

#[tokio::test]
async fn a_message_id_the_phone_already_read_is_ignored() {
    let (fake, _me, contact) = fake_with_contact().await;
    let mut companion = Companion::link(&fake, fake.phone(), 5).await;

    // The same message sent three times under one id: encrypted anew (a resend after a lost
    // ack), then the very same bytes again (a replay the phone cannot decrypt twice).
    let first = companion.encrypt_text(contact.user(), "just once").await;
    let again = companion.encrypt_text(contact.user(), "just once").await;
    for ciphertext in [&first, &again, &again] {
        companion
            .client
            .send(&Companion::message_node(contact.user(), "DUP1", ciphertext))
            .await;
        // Each copy is confirmed, so the sender stops resending.
        companion
            .client
            .expect("a delivery receipt", |n| {
                n.tag == "receipt" && n.attr_str("id") == Some("DUP1")
            })
            .await;
    }
    let got: Vec<_> = contact
        .received()
        .into_iter()
        .filter(|r| r.id == "DUP1")
        .collect();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].text.as_deref(), Some("just once"));
    let stats = fake.stats();
    assert_eq!(stats.duplicates_ignored, 2, "{stats:?}");
    assert_eq!(stats.decrypt_failures, 0, "{stats:?}");
    assert_eq!(stats.decrypted, 1, "{stats:?}");

    // A new id is read as usual.
    let next = companion
        .encrypt_text(contact.user(), "and a new one")
        .await;
    companion
        .client
        .send(&Companion::message_node(contact.user(), "DUP2", &next))
        .await;
    fake.wait_until("the new message", common::client::STEP, |_| {
        contact.received().iter().any(|r| r.id == "DUP2")
    })
    .await
    .unwrap();
    assert_eq!(fake.stats().duplicates_ignored, 2);
}

#[tokio::test]
async fn a_retry_receipt_brings_the_real_text_with_the_same_id() {
    let (fake, me, contact) = fake_with_contact().await;
    let mut companion = Companion::link(&fake, &me, 5).await;

    // 1. Garbage first; a first retry (no keys): the phone has no session yet, so it starts one
    //    from the companion's uploaded bundle.
    let id = contact
        .send_text_garbled(me.user(), "the real text")
        .unwrap();
    let garbage = companion
        .client
        .expect("the garbled copy", is_message(&id))
        .await;
    assert!(companion.decrypt(contact.user(), &garbage).await.is_none());
    let (registration, keys) = companion.retry_keys();
    companion
        .client
        .send(&retry_receipt(&id, &contact, 1, registration.clone(), None))
        .await;
    let resent = companion
        .client
        .expect("the resent copy", is_message(&id))
        .await;
    let enc = resent.child_by_tag("enc").unwrap();
    assert_eq!(enc.attr_str("count"), Some("1"));
    assert_eq!(enc.attr_str("type"), Some("pkmsg"));
    let message = companion.decrypt(contact.user(), &resent).await.unwrap();
    assert_eq!(message.conversation.as_deref(), Some("the real text"));
    assert_eq!(fake.stats().resent, 1);

    // 2. A second retry carries keys: the phone starts a fresh session from them.
    let second = contact.send_text_garbled(me.user(), "second try").unwrap();
    companion
        .client
        .expect("garbage", is_message(&second))
        .await;
    companion
        .client
        .send(&retry_receipt(
            &second,
            &contact,
            2,
            registration.clone(),
            Some(keys),
        ))
        .await;
    let resent = companion.client.expect("resent", is_message(&second)).await;
    let enc = resent.child_by_tag("enc").unwrap();
    assert_eq!(enc.attr_str("count"), Some("2"));
    assert_eq!(enc.attr_str("type"), Some("pkmsg"), "a fresh session");
    let message = companion.decrypt(contact.user(), &resent).await.unwrap();
    assert_eq!(message.conversation.as_deref(), Some("second try"));

    // 3. Once the device confirmed delivery, a retry for that id is about a redelivered copy:
    //    nothing is sent again.
    companion
        .client
        .send(
            &Node::new("receipt")
                .attr("id", second.as_str())
                .attr("to", Jid::pn(contact.user()).unwrap()),
        )
        .await;
    companion
        .client
        .send(&retry_receipt(
            &second,
            &contact,
            3,
            registration.clone(),
            None,
        ))
        .await;
    // 4. Pure garbage has nothing to resend; nor has a retry whose keys name another identity.
    let garbage_only = contact.send_undecryptable(me.user()).unwrap();
    companion
        .client
        .expect("garbage", is_message(&garbage_only))
        .await;
    companion
        .client
        .send(&retry_receipt(
            &garbage_only,
            &contact,
            1,
            registration.clone(),
            None,
        ))
        .await;
    let third = contact
        .send_text_garbled(me.user(), "never from forged keys")
        .unwrap();
    companion.client.expect("garbage", is_message(&third)).await;
    let stranger = fake_whatsapp::party::Party::new([77; 32]);
    let forged = stranger.bundle_node(companion.jid().into());
    let forged_keys = Node::new("keys").children(
        ["type", "identity", "key", "skey"]
            .into_iter()
            .filter_map(|t| forged.child_by_tag(t).cloned()),
    );
    companion
        .client
        .send(&retry_receipt(
            &third,
            &contact,
            2,
            registration,
            Some(forged_keys),
        ))
        .await;

    // A live message proves the phone is past all three: none of them was answered.
    let marker = contact.send_text(me.user(), "marker").await.unwrap();
    let next = companion
        .client
        .expect("the marker", |n| n.tag == "message")
        .await;
    assert_eq!(next.attr_str("id"), Some(marker.as_str()), "{next}");
    assert_eq!(fake.stats().resent, 2);
}
