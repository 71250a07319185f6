//! Arbitrary bytes into every decoder and every decrypt entry point: always a typed error (or
//! a value), never a panic, and a failed decrypt never changes the stored session.

mod common;

use common::rust_party::{new_store, publish_bundle};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use rand_core::OsRng;
use signal::sender_key::SenderKeyRecord;
use signal::session::SessionRecord;
use signal::store::{IdentityKeyStore, InMemoryStore};
use signal::wire::{
    PreKeySignalMessage, SenderKeyDistributionMessage, SenderKeyMessage, SignalMessage,
};
use signal::{ProtocolAddress, SenderKeyName};

/// Arbitrary bytes, half of them starting with the v3 version byte so decoding gets past it.
fn input() -> impl Strategy<Value = Vec<u8>> {
    (any::<bool>(), prop::collection::vec(any::<u8>(), 0..512)).prop_map(|(versioned, mut v)| {
        if versioned {
            v.insert(0, 0x33);
        }
        v
    })
}

fn decode_all(bytes: &[u8]) {
    let _ = SignalMessage::parse(bytes);
    let _ = PreKeySignalMessage::parse(bytes);
    let _ = SenderKeyMessage::parse(bytes);
    let _ = SenderKeyDistributionMessage::parse(bytes);
    let _ = SessionRecord::deserialize(bytes);
    let _ = SenderKeyRecord::deserialize(bytes);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decoders_never_panic(bytes in input()) {
        decode_all(&bytes);
    }

    #[test]
    fn truncations_of_real_messages_never_panic(cut in 0usize..400, flip in 0usize..400) {
        let (message, pre_key) = real_messages();
        for original in [&message, &pre_key] {
            let mut bytes = original[..cut.min(original.len())].to_vec();
            decode_all(&bytes);
            if !bytes.is_empty() {
                let i = flip % bytes.len();
                bytes[i] ^= 0x5a;
                decode_all(&bytes);
            }
        }
    }
}

/// A real `msg` and `pkmsg`, to mutate.
fn real_messages() -> (Vec<u8>, Vec<u8>) {
    use std::sync::OnceLock;
    static CACHE: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(async {
                let (alice, bob, _) = pair().await;
                let pk = signal::encrypt(&alice, &bob_at_alice(), b"first")
                    .await
                    .unwrap();
                signal::decrypt_pre_key_message(&bob, &alice_at_bob(), pk.bytes(), &mut OsRng)
                    .await
                    .unwrap();
                let reply = signal::encrypt(&bob, &alice_at_bob(), b"reply")
                    .await
                    .unwrap();
                (reply.bytes().to_vec(), pk.bytes().to_vec())
            })
        })
        .clone()
}

fn alice_at_bob() -> ProtocolAddress {
    ProtocolAddress::new("alice", 1)
}
fn bob_at_alice() -> ProtocolAddress {
    ProtocolAddress::new("bob", 1)
}

async fn pair() -> (InMemoryStore, InMemoryStore, SenderKeyName) {
    let (alice, bob) = (new_store(), new_store());
    let identity = bob.identity_key_pair().await.unwrap();
    let reg = bob.local_registration_id().await.unwrap();
    let (_, bundle) = publish_bundle(&bob, &identity, reg, 1, true);
    signal::process_bundle(&alice, &bob_at_alice(), &bundle, &mut OsRng)
        .await
        .unwrap();
    let name = SenderKeyName {
        group_id: "g".into(),
        sender: alice_at_bob(),
    };
    (alice, bob, name)
}

#[test]
fn arbitrary_bytes_into_decrypt_never_panic_or_change_the_session() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let (alice, bob, name) = pair().await;
        // Establish both directions and a group chain.
        let m = signal::encrypt(&alice, &bob_at_alice(), b"x")
            .await
            .unwrap();
        signal::decrypt_pre_key_message(&bob, &alice_at_bob(), m.bytes(), &mut OsRng)
            .await
            .unwrap();
        let own = SenderKeyName {
            group_id: "g".into(),
            sender: ProtocolAddress::new("me", 1),
        };
        let dist = signal::create_distribution_message(&alice, &own, &mut OsRng)
            .await
            .unwrap();
        signal::process_distribution_message(&bob, &name, &dist)
            .await
            .unwrap();

        let session_before = bob.session_bytes(&alice_at_bob()).unwrap();
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(1000));
        let strategy = input();
        for _ in 0..1000 {
            let bytes = strategy.new_tree(&mut runner).unwrap().current();
            let a = signal::decrypt_message(&bob, &alice_at_bob(), &bytes, &mut OsRng).await;
            let b =
                signal::decrypt_pre_key_message(&bob, &alice_at_bob(), &bytes, &mut OsRng).await;
            let c = signal::group_decrypt(&bob, &name, &bytes).await;
            assert!(a.is_err() && b.is_err() && c.is_err());
        }
        assert_eq!(bob.session_bytes(&alice_at_bob()).unwrap(), session_before);

        // Every single-byte corruption of a real message (past the parser, into the ratchet,
        // MAC and padding checks) is an error and changes nothing; the real one then decrypts.
        // (A `msg`, so every byte is authenticated: Bob answers first. A pkmsg's outer fields,
        // e.g. the registration id, are not covered by the MAC, in libsignal too.)
        let answer = signal::encrypt(&bob, &alice_at_bob(), b"answer")
            .await
            .unwrap();
        signal::decrypt_message(&alice, &bob_at_alice(), answer.bytes(), &mut OsRng)
            .await
            .unwrap();
        let session_before = bob.session_bytes(&alice_at_bob()).unwrap();
        let real = signal::encrypt(&alice, &bob_at_alice(), b"real")
            .await
            .unwrap();
        assert_eq!(real.enc_type(), "msg");
        let group_real = signal::group_encrypt(&alice, &own, b"group real", &mut OsRng)
            .await
            .unwrap();
        for i in 0..real.bytes().len() {
            let mut bytes = real.bytes().to_vec();
            bytes[i] ^= 0x01 << (i % 8);
            let r = signal::decrypt_message(&bob, &alice_at_bob(), &bytes, &mut OsRng).await;
            assert!(r.is_err(), "corrupted byte {i} accepted");
        }
        for i in 0..group_real.len() {
            let mut bytes = group_real.clone();
            bytes[i] ^= 0x01 << (i % 8);
            assert!(
                signal::group_decrypt(&bob, &name, &bytes).await.is_err(),
                "group byte {i}"
            );
        }
        assert_eq!(bob.session_bytes(&alice_at_bob()).unwrap(), session_before);
        let plain = signal::decrypt_message(&bob, &alice_at_bob(), real.bytes(), &mut OsRng)
            .await
            .unwrap();
        assert_eq!(plain, b"real");
        assert_eq!(
            signal::group_decrypt(&bob, &name, &group_real)
                .await
                .unwrap(),
            b"group real"
        );
    });
}

#[test]
fn a_length_field_claiming_16_mib_in_a_short_input_is_an_error() {
    // 0x33, then field 4 (ciphertext, wire type 2) with a varint length of 16 MiB, and 8 bytes.
    let mut bytes = vec![0x33, 0x22, 0x80, 0x80, 0x80, 0x08];
    bytes.extend_from_slice(&[0u8; 8]);
    assert!(SignalMessage::parse(&bytes).is_err());
    assert!(PreKeySignalMessage::parse(&bytes).is_err());
    assert!(SessionRecord::deserialize(&bytes[1..]).is_err());
}
