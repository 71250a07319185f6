//! XEdDSA against libsignal-node's curve (curve25519-js), in both directions.

mod common;

use common::{Peer, arr, hex_field};
use rand_core::{OsRng, RngCore};
use serde_json::json;
use signal::keys::{KeyPair, PrivateKey};
use signal::xeddsa;

fn random_message(len: usize) -> Vec<u8> {
    let mut m = vec![0u8; len];
    OsRng.fill_bytes(&mut m);
    m
}

#[test]
fn libsignal_node_signatures_verify_here_and_tampered_ones_do_not() {
    let mut peer = Peer::start();
    for i in 0..24 {
        let kp = peer.call(json!({"op": "curve_generate"}));
        let public33 = hex_field(&kp, "pub");
        let private = hex_field(&kp, "priv");
        // Node's raw X25519 private key must yield the same public key here.
        let derived = PrivateKey::from_bytes(arr(&private)).public_key();
        assert_eq!(derived.serialize().as_slice(), public33.as_slice());

        let msg = random_message(i * 7 + 1);
        let sig = peer.call(
            json!({"op": "curve_sign", "priv": hex::encode(&private), "msg": hex::encode(&msg)}),
        );
        let sig: [u8; 64] = arr(&hex_field(&sig, "sig"));
        let public: [u8; 32] = arr(&public33[1..]);
        assert!(
            xeddsa::verify(&public, &msg, &sig),
            "node signature {i} rejected"
        );

        let mut tampered = sig;
        tampered[i % 64] ^= 0x01;
        assert!(!xeddsa::verify(&public, &msg, &tampered));
        let mut other_msg = msg.clone();
        other_msg[0] ^= 0x80;
        assert!(!xeddsa::verify(&public, &other_msg, &sig));
    }
}

#[test]
fn our_signatures_verify_in_libsignal_node_and_tampered_ones_do_not() {
    let mut peer = Peer::start();
    for i in 0..24 {
        let pair = KeyPair::generate(&mut OsRng);
        let msg = random_message(i * 5 + 3);
        let sig = pair.private.sign(&msg, &mut OsRng);
        let public = hex::encode(pair.public.serialize());
        let ok = peer.call(json!({"op": "curve_verify", "pub": public, "msg": hex::encode(&msg), "sig": hex::encode(sig)}));
        assert_eq!(ok["valid"], json!(true), "node rejected our signature {i}");

        let mut tampered = sig;
        tampered[(i * 3) % 64] ^= 0x04;
        let bad = peer.call(json!({"op": "curve_verify", "pub": public, "msg": hex::encode(&msg), "sig": hex::encode(tampered)}));
        assert_eq!(
            bad["valid"],
            json!(false),
            "node accepted tampered signature {i}"
        );
    }
}
