//! Our initiator against a handshake captured from WhatsApp's real server.
//!
//! Test data restated from the MIT-licensed crate `wacore` 0.7.0 (crates.io),
//! `tests/noise_handshake_test.rs`, `test_full_handshake_flow_with_go_data` (Copyright (c) the
//! whatsapp-rust authors, MIT License). The server hello below is re-assembled as a
//! `HandshakeMessage` protobuf from its captured ephemeral key and the two captured ciphertexts.

use prost::Message;
use whatsapp::handshake::cert::Which;
use whatsapp::handshake::{CertError, ClientHandshake, HandshakeError, KeyPair, WHATSAPP_ROOT_KEY};
use whatsapp::proto::HandshakeMessage;
use whatsapp::proto::handshake_message::ServerHello;

const CLIENT_EPHEMERAL_PRIVATE: &str =
    "b8de0b5ebad3e7879fa659c0d27baa6c3e3f32a10f7c4cb2613cb4182fe83047";
const CLIENT_EPHEMERAL_PUBLIC: &str =
    "8537e1daadfb8e9ff8491896f5733008bad4967c2ba97670f69cf3053762ea4d";
const SERVER_EPHEMERAL: &str = "27692cf5d6a08e51f2d601f2e475378456bda16f96255c5121d081d0aa4a815d";
const SERVER_STATIC_CIPHERTEXT: &str = "0addd1ce96c55699824fc20ef2a73928dd8168bc29ef863bdea6dc69002b00054add28f7711e3a7dff984d3f31badaa2";
const CERTIFICATE_CIPHERTEXT: &str = "c4f948e737857d6bd675fa0a84f38ed784685b784402da53f972388a8aa3398f01be799862907d43cce7a49858023ec66dc909d1eac245f842661360804acf4975801ca0a156f876ba6004cc2f1241f761f753c516cef59fb3c6b95d39ad6d3540caa40b361bfbb7189eaa2d331e086870f2bd846bc6653cf2887387ba25268c9923dec5ecdc5ee37507680ba6906550f9991f6a60b2dc74803c6df8d6df352f206c376b0bb3d7d17dca91e3999f73d6dc6469e59281bc18c22fd1e7d85467b3f17fafc141a62c6fd92d364310d5b32493c9f2c77817aa4d901aef2538858b157d46ea247371a9c2f577171796fa7be059d975dddee115d5aa967602b02a93be36";
/// The server static key the captured transcript decrypts to.
const SERVER_STATIC: &str = "5854d333d8e13975abd6597bbaddd49d6935ced25c93a44bd3ade508f2bec330";
/// Transcript hash after the certificate was decrypted.
const HASH_AFTER_CERTIFICATE: &str =
    "4a82b448599eb44f85bacedaff0a81820999a87be156b08989c2857b8651d4d2";
/// Inside both certificates' validity windows (leaf: 2025-03-24 .. 2025-07-28).
const NOW: u64 = 1_750_000_000;

fn bytes(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn key(s: &str) -> [u8; 32] {
    bytes(s).try_into().unwrap()
}

fn server_hello() -> Vec<u8> {
    HandshakeMessage {
        server_hello: Some(ServerHello {
            ephemeral: Some(bytes(SERVER_EPHEMERAL)),
            r#static: Some(bytes(SERVER_STATIC_CIPHERTEXT)),
            payload: Some(bytes(CERTIFICATE_CIPHERTEXT)),
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn client() -> ClientHandshake {
    let (client, hello) =
        ClientHandshake::with_ephemeral(KeyPair::from_private(key(CLIENT_EPHEMERAL_PRIVATE)));
    let hello = HandshakeMessage::decode(hello.as_slice()).unwrap();
    assert_eq!(
        hello.client_hello.unwrap().ephemeral.unwrap(),
        bytes(CLIENT_EPHEMERAL_PUBLIC),
        "our key derivation disagrees with the captured client ephemeral"
    );
    client
}

#[test]
fn decrypts_the_real_server_hello_and_verifies_its_chain_against_whatsapps_root() {
    let accepted = client()
        .read_server_hello(&server_hello(), &WHATSAPP_ROOT_KEY, NOW)
        .unwrap();
    assert_eq!(accepted.server_static(), &key(SERVER_STATIC));
    assert_eq!(accepted.handshake_hash(), key(HASH_AFTER_CERTIFICATE));
    let chain = accepted.certificate();
    assert_eq!(
        (chain.intermediate.serial, chain.intermediate.issuer_serial),
        (3, 0)
    );
    assert_eq!((chain.leaf.serial, chain.leaf.issuer_serial), (329, 3));
    assert_eq!(chain.leaf.key, key(SERVER_STATIC));
    // The client can go on to produce its finish message.
    let (finish, _keys) = accepted.finish(&KeyPair::generate(), b"payload").unwrap();
    assert!(
        HandshakeMessage::decode(finish.as_slice())
            .unwrap()
            .client_finish
            .is_some()
    );
}

#[test]
fn every_single_byte_tamper_of_the_server_hello_is_rejected() {
    let hello = server_hello();
    for i in 0..hello.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut tampered = hello.clone();
            tampered[i] ^= mask;
            let result = client().read_server_hello(&tampered, &WHATSAPP_ROOT_KEY, NOW);
            assert!(
                result.is_err(),
                "byte {i} ^ {mask:#04x} of {} was accepted",
                hello.len()
            );
        }
    }
}

#[test]
fn another_root_key_rejects_the_chain() {
    let err = client()
        .read_server_hello(&server_hello(), KeyPair::generate().public(), NOW)
        .err()
        .unwrap();
    assert!(matches!(
        err,
        HandshakeError::Certificate(CertError::BadSignature(Which::Intermediate))
    ));
}

#[test]
fn the_chain_is_only_valid_inside_its_window() {
    let expired = client()
        .read_server_hello(&server_hello(), &WHATSAPP_ROOT_KEY, 1_753_736_401)
        .err()
        .unwrap();
    assert!(matches!(
        expired,
        HandshakeError::Certificate(CertError::Expired {
            which: Which::Leaf,
            ..
        })
    ));
    let early = client()
        .read_server_hello(&server_hello(), &WHATSAPP_ROOT_KEY, 1_742_849_999)
        .err()
        .unwrap();
    assert!(matches!(
        early,
        HandshakeError::Certificate(CertError::NotYetValid {
            which: Which::Leaf,
            ..
        })
    ));
}

#[test]
fn a_hello_without_its_payload_is_a_typed_error() {
    let mut hello = HandshakeMessage::decode(server_hello().as_slice()).unwrap();
    hello.server_hello.as_mut().unwrap().payload = None;
    let err = client()
        .read_server_hello(&hello.encode_to_vec(), &WHATSAPP_ROOT_KEY, NOW)
        .err()
        .unwrap();
    assert!(matches!(
        err,
        HandshakeError::Missing("serverHello.payload")
    ));
}
