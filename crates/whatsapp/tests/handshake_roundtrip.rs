//! A client and the fake server's responder, in memory: handshake through real frames, then the
//! transport ciphers both ways, including frames far above stock Noise's 64 KiB cap.

use prost::Message;
use whatsapp::frame::{
    DEFAULT_MAX_INFLATED_LEN, FrameDecoder, FrameEncoder, SecureChannel, TransportCipher,
    decode_payload, encode_payload,
};
use whatsapp::handshake::cert::Which;
use whatsapp::handshake::{
    CertError, CertificateAuthority, ClientHandshake, HandshakeError, KeyPair, ServerHandshake,
};
use whatsapp::proto::ClientPayload;

const NOW: u64 = 1_800_000_000;

struct FakeServer {
    ca: CertificateAuthority,
    noise_static: KeyPair,
}

fn a_fake_server() -> FakeServer {
    FakeServer {
        ca: CertificateAuthority::generate(NOW - 3600, NOW + 3600),
        noise_static: KeyPair::generate(),
    }
}

fn a_login_payload() -> ClientPayload {
    ClientPayload {
        username: Some(15_551_234_567),
        device: Some(3),
        passive: Some(true),
        pull: Some(true),
        ..Default::default()
    }
}

/// Sends `payload` from one side to the other through the frame codec, delivered in 1000-byte
/// chunks as a WebSocket might split it.
fn deliver(enc: &mut FrameEncoder, dec: &mut FrameDecoder, payload: &[u8]) -> Vec<u8> {
    let wire = enc.encode(payload).unwrap();
    let mut frames = Vec::new();
    for chunk in wire.chunks(1000) {
        dec.push(chunk);
        frames.extend(dec.drain_frames().unwrap());
    }
    assert_eq!(frames.len(), 1);
    frames.remove(0)
}

#[test]
fn client_and_fake_server_handshake_then_exchange_large_encrypted_frames() {
    let server = a_fake_server();
    let chain = server.ca.issue(42, server.noise_static.public());
    let client_static = KeyPair::generate();
    let (mut client_enc, mut client_dec) = (FrameEncoder::client(), FrameDecoder::new());
    let (mut server_enc, mut server_dec) =
        (FrameEncoder::server(), FrameDecoder::expecting_intro());

    let (client, hello) = ClientHandshake::start();
    let hello = deliver(&mut client_enc, &mut server_dec, &hello);
    let (responder, server_hello) =
        ServerHandshake::respond(&hello, &server.noise_static, &chain).unwrap();
    let server_hello = deliver(&mut server_enc, &mut client_dec, &server_hello);
    let accepted = client
        .read_server_hello(&server_hello, server.ca.root_public(), NOW)
        .unwrap();
    assert_eq!(accepted.server_static(), server.noise_static.public());
    assert_eq!(accepted.certificate().leaf.serial, 42);
    let (finish, client_keys) = accepted
        .finish(&client_static, &a_login_payload().encode_to_vec())
        .unwrap();
    let finish = deliver(&mut client_enc, &mut server_dec, &finish);
    let done = responder.read_client_finish(&finish).unwrap();

    assert_eq!(&done.client_static, client_static.public());
    assert_eq!(
        ClientPayload::decode(done.client_payload.as_slice()).unwrap(),
        a_login_payload()
    );
    assert_eq!(client_keys.write, done.keys.read);
    assert_eq!(client_keys.read, done.keys.write);
    assert_ne!(client_keys.write, client_keys.read);

    let mut client_cipher = TransportCipher::new(&client_keys);
    let mut server_cipher = TransportCipher::new(&done.keys);
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    for (len, compress) in [(10, false), (70_000, false), (300_000, true), (0, false)] {
        let node = &big[..len];
        // client → server
        let ct = client_cipher
            .encrypt(&encode_payload(node, compress).unwrap())
            .unwrap();
        let pt = server_cipher
            .decrypt(&deliver(&mut client_enc, &mut server_dec, &ct))
            .unwrap();
        assert_eq!(decode_payload(&pt, DEFAULT_MAX_INFLATED_LEN).unwrap(), node);
        // server → client
        let ct = server_cipher
            .encrypt(&encode_payload(node, compress).unwrap())
            .unwrap();
        let pt = client_cipher
            .decrypt(&deliver(&mut server_enc, &mut client_dec, &ct))
            .unwrap();
        assert_eq!(decode_payload(&pt, DEFAULT_MAX_INFLATED_LEN).unwrap(), node);
    }
    assert_eq!(client_cipher.counters(), (4, 4));
}

#[test]
fn the_handshake_framing_carries_over_into_a_secure_channel() {
    let server = a_fake_server();
    let chain = server.ca.issue(1, server.noise_static.public());
    let (mut client_enc, mut client_dec) = (FrameEncoder::client(), FrameDecoder::new());
    let (mut server_enc, mut server_dec) =
        (FrameEncoder::server(), FrameDecoder::expecting_intro());
    let (client, hello) = ClientHandshake::start();
    let hello = deliver(&mut client_enc, &mut server_dec, &hello);
    let (responder, reply) =
        ServerHandshake::respond(&hello, &server.noise_static, &chain).unwrap();
    let reply = deliver(&mut server_enc, &mut client_dec, &reply);
    let accepted = client
        .read_server_hello(&reply, server.ca.root_public(), NOW)
        .unwrap();
    let (finish, client_keys) = accepted.finish(&KeyPair::generate(), b"payload").unwrap();
    let finish = deliver(&mut client_enc, &mut server_dec, &finish);
    let done = responder.read_client_finish(&finish).unwrap();

    let mut client = SecureChannel::new(client_enc, client_dec, &client_keys, 1 << 20);
    let mut server = SecureChannel::new(server_enc, server_dec, &done.keys, 1 << 20);
    let node = vec![0xf8; 200_000];
    assert_eq!(
        server.open(&client.seal(&node, false).unwrap()).unwrap(),
        [&node[..]]
    );
    assert_eq!(
        client.open(&server.seal(&node, true).unwrap()).unwrap(),
        [node]
    );
}

#[test]
fn a_chain_from_an_untrusted_root_is_rejected() {
    let server = a_fake_server();
    let impostor = CertificateAuthority::generate(NOW - 3600, NOW + 3600);
    let chain = impostor.issue(1, server.noise_static.public());
    let (client, hello) = ClientHandshake::start();
    let (_, reply) = ServerHandshake::respond(&hello, &server.noise_static, &chain).unwrap();
    let err = client
        .read_server_hello(&reply, server.ca.root_public(), NOW)
        .err()
        .unwrap();
    assert!(matches!(
        err,
        HandshakeError::Certificate(CertError::BadSignature(Which::Intermediate))
    ));
}

#[test]
fn a_chain_for_another_server_key_is_rejected() {
    let server = a_fake_server();
    let chain = server.ca.issue(1, KeyPair::generate().public());
    let (client, hello) = ClientHandshake::start();
    let (_, reply) = ServerHandshake::respond(&hello, &server.noise_static, &chain).unwrap();
    let err = client
        .read_server_hello(&reply, server.ca.root_public(), NOW)
        .err()
        .unwrap();
    assert!(matches!(
        err,
        HandshakeError::Certificate(CertError::LeafKeyMismatch)
    ));
}

#[test]
fn every_single_byte_tamper_of_the_client_finish_is_rejected_by_the_server() {
    let server = a_fake_server();
    let chain = server.ca.issue(1, server.noise_static.public());
    let (client_ephemeral, server_ephemeral) = (KeyPair::generate(), KeyPair::generate());
    let client_static = KeyPair::generate();
    // Fixed keys make every run of the handshake produce the same bytes, so each tampered copy
    // of the finish can be offered to a fresh responder in the matching state.
    let handshake = || {
        let (client, hello) = ClientHandshake::with_ephemeral(client_ephemeral.clone());
        let (responder, reply) = ServerHandshake::respond_with_ephemeral(
            &hello,
            server_ephemeral.clone(),
            &server.noise_static,
            &chain,
        )
        .unwrap();
        let accepted = client
            .read_server_hello(&reply, server.ca.root_public(), NOW)
            .unwrap();
        let (finish, _) = accepted.finish(&client_static, b"login payload").unwrap();
        (responder, finish)
    };
    let (responder, finish) = handshake();
    assert!(responder.read_client_finish(&finish).is_ok());
    for i in 0..finish.len() {
        let (responder, mut tampered) = handshake();
        assert_eq!(tampered, finish);
        tampered[i] ^= 0x01;
        assert!(
            responder.read_client_finish(&tampered).is_err(),
            "byte {i} tamper accepted"
        );
    }
}
