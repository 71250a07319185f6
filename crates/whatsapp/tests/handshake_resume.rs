//! Resuming with Noise IK and falling back to XXfallback, both sides in memory: the initiator in
//! `handshake::resume` against the responder in `ServerHandshake::accept`.

use prost::Message;
use whatsapp::frame::{TransportCipher, TransportKeys};
use whatsapp::handshake::{
    Accepted, CertificateAuthority, ClientHandshake, HandshakeError, KeyPair, ResumeHandshake,
    Resumed, ServerHandshake,
};
use whatsapp::proto::{ClientPayload, HandshakeMessage};

const NOW: u64 = 1_800_000_000;

struct Server {
    ca: CertificateAuthority,
    key: KeyPair,
    chain: Vec<u8>,
}

fn a_server() -> Server {
    let ca = CertificateAuthority::generate(NOW - 3600, NOW + 3600);
    let key = KeyPair::generate();
    let chain = ca.issue(7, key.public());
    Server { ca, key, chain }
}

fn login() -> Vec<u8> {
    ClientPayload {
        username: Some(15_551_234_567),
        device: Some(2),
        passive: Some(true),
        pull: Some(true),
        ..Default::default()
    }
    .encode_to_vec()
}

/// Both directions of the transport work: each side reads what the other wrote.
fn assert_transport(client: &TransportKeys, server: &TransportKeys) {
    assert_eq!(client.write, server.read);
    assert_eq!(client.read, server.write);
    let mut c = TransportCipher::new(client);
    let mut s = TransportCipher::new(server);
    let sealed = c.encrypt(b"ping").unwrap();
    assert_eq!(s.decrypt(&sealed).unwrap(), b"ping");
    let sealed = s.encrypt(b"pong").unwrap();
    assert_eq!(c.decrypt(&sealed).unwrap(), b"pong");
}

#[test]
fn a_current_cached_key_resumes_in_one_round_trip() {
    let server = a_server();
    let noise = KeyPair::generate();
    let (client, hello) = ResumeHandshake::start(&noise, server.key.public(), &login()).unwrap();
    let Accepted::Resumed { reply, finished } =
        ServerHandshake::accept(&hello, &server.key, &server.chain).unwrap()
    else {
        panic!("a current key must resume");
    };
    assert_eq!(&finished.client_static, noise.public());
    assert_eq!(finished.client_payload, login());
    let server_hello = HandshakeMessage::decode(reply.as_slice())
        .unwrap()
        .server_hello
        .unwrap();
    assert!(
        server_hello.r#static.is_none(),
        "IK: no static in the reply"
    );
    let Resumed::Resumed {
        keys,
        server_payload,
    } = client
        .read_server_hello(&reply, server.ca.root_public(), NOW)
        .unwrap()
    else {
        panic!("no fallback expected");
    };
    assert_eq!(server_payload, server.chain);
    assert_transport(&keys, &finished.keys);
}

#[test]
fn a_stale_cached_key_falls_back_to_xx_with_the_same_payload() {
    let server = a_server();
    let noise = KeyPair::generate();
    let stale = KeyPair::generate();
    let (client, hello) = ResumeHandshake::start(&noise, stale.public(), &login()).unwrap();
    let Accepted::Hello {
        handshake,
        reply,
        fallback,
    } = ServerHandshake::accept(&hello, &server.key, &server.chain).unwrap()
    else {
        panic!("a stale key cannot resume");
    };
    assert!(fallback);
    let Resumed::Fallback {
        finish,
        keys,
        server_static,
        certificate,
    } = client
        .read_server_hello(&reply, server.ca.root_public(), NOW)
        .unwrap()
    else {
        panic!("the server asked for a fallback");
    };
    assert_eq!(&server_static, server.key.public(), "cache the new key");
    assert_eq!(certificate.leaf.serial, 7);
    let done = handshake.read_client_finish(&finish).unwrap();
    assert_eq!(&done.client_static, noise.public());
    assert_eq!(done.client_payload, login());
    assert_transport(&keys, &done.keys);
}

#[test]
fn the_fallback_checks_the_new_certificate_chain() {
    let server = a_server();
    let (client, hello) =
        ResumeHandshake::start(&KeyPair::generate(), KeyPair::generate().public(), &login())
            .unwrap();
    let Accepted::Hello { reply, .. } =
        ServerHandshake::accept(&hello, &server.key, &server.chain).unwrap()
    else {
        panic!("fallback expected");
    };
    let other_root = KeyPair::generate();
    assert!(matches!(
        client.read_server_hello(&reply, other_root.public(), NOW),
        Err(HandshakeError::Certificate(_))
    ));
}

#[test]
fn garbage_in_the_resume_payload_is_refused() {
    let server = a_server();
    let (_, hello) =
        ResumeHandshake::start(&KeyPair::generate(), server.key.public(), &login()).unwrap();
    let mut message = HandshakeMessage::decode(hello.as_slice()).unwrap();
    if let Some(payload) = message
        .client_hello
        .as_mut()
        .and_then(|h| h.payload.as_mut())
    {
        payload[3] ^= 0x40;
    }
    assert!(matches!(
        ServerHandshake::accept(&message.encode_to_vec(), &server.key, &server.chain),
        Err(HandshakeError::Decrypt("clientHello.payload"))
    ));
    let mut no_payload = HandshakeMessage::decode(hello.as_slice()).unwrap();
    if let Some(h) = no_payload.client_hello.as_mut() {
        h.payload = None;
    }
    assert!(matches!(
        ServerHandshake::accept(&no_payload.encode_to_vec(), &server.key, &server.chain),
        Err(HandshakeError::Missing("clientHello.payload"))
    ));
}

#[test]
fn a_tampered_resume_reply_is_refused_by_the_client() {
    let server = a_server();
    let (client, hello) =
        ResumeHandshake::start(&KeyPair::generate(), server.key.public(), &login()).unwrap();
    let Accepted::Resumed { reply, .. } =
        ServerHandshake::accept(&hello, &server.key, &server.chain).unwrap()
    else {
        panic!("resume expected");
    };
    let mut message = HandshakeMessage::decode(reply.as_slice()).unwrap();
    if let Some(payload) = message
        .server_hello
        .as_mut()
        .and_then(|h| h.payload.as_mut())
    {
        payload[0] ^= 1;
    }
    assert!(matches!(
        client.read_server_hello(&message.encode_to_vec(), server.ca.root_public(), NOW),
        Err(HandshakeError::Decrypt("serverHello.payload"))
    ));
}

#[test]
fn accept_still_answers_a_plain_xx_hello() {
    let server = a_server();
    let noise = KeyPair::generate();
    let (client, hello) = ClientHandshake::start();
    let Accepted::Hello {
        handshake,
        reply,
        fallback,
    } = ServerHandshake::accept(&hello, &server.key, &server.chain).unwrap()
    else {
        panic!("XX expected");
    };
    assert!(!fallback);
    let accepted = client
        .read_server_hello(&reply, server.ca.root_public(), NOW)
        .unwrap();
    let (finish, keys) = accepted.finish(&noise, &login()).unwrap();
    let done = handshake.read_client_finish(&finish).unwrap();
    assert_eq!(done.client_payload, login());
    assert_transport(&keys, &done.keys);
}
