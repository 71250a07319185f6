//! A minimal client built from our own protocol crates, for driving the fake stanza by stanza:
//! the XX handshake, sending and receiving nodes, IQs, and a pairing done by hand (its ADV
//! signatures written out here, independently of `whatsapp::pairing`).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use fake_whatsapp::FakeWhatsApp;
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};
use whatsapp::frame::{FrameDecoder, FrameEncoder, SecureChannel};
use whatsapp::handshake::{ClientHandshake, KeyPair, ResumeHandshake, Resumed};
use whatsapp::proto::client_payload::DevicePairingRegistrationData;
use whatsapp::proto::{AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac, ClientPayload};
use whatsapp_binary::{Jid, Node, Server};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
pub const STEP: Duration = Duration::from_secs(5);

pub struct Client {
    pub ws: Ws,
    pub channel: SecureChannel,
    pub pending: Vec<Node>,
}

/// How a resumed connection was accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum Resumption {
    /// Noise IK completed: the cached key was the server's.
    Resumed,
    /// The server answered XXfallback with this static key (its chain verified).
    Fallback { server_static: [u8; 32] },
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Reads WebSocket messages until one whole frame is decoded.
async fn read_frame(ws: &mut Ws, decoder: &mut FrameDecoder) -> Vec<u8> {
    loop {
        if let Some(f) = decoder.next_frame().unwrap() {
            return f;
        }
        match timeout(STEP, ws.next()).await.unwrap() {
            Some(Ok(Message::Binary(b))) => decoder.push(&b),
            other => panic!("expected a handshake frame, got {other:?}"),
        }
    }
}

impl Client {
    /// Handshake with `payload`, trusting `fake`'s root key.
    pub async fn connect(fake: &FakeWhatsApp, noise: &KeyPair, payload: &ClientPayload) -> Client {
        let (mut ws, _) = connect_async(fake.url()).await.unwrap();
        let mut encoder = FrameEncoder::client();
        let mut decoder = FrameDecoder::new();
        let (hs, hello) = ClientHandshake::start();
        ws.send(Message::binary(encoder.encode(&hello).unwrap()))
            .await
            .unwrap();
        let server_hello = read_frame(&mut ws, &mut decoder).await;
        let accepted = hs
            .read_server_hello(&server_hello, &fake.root_public_key(), now_unix())
            .expect("the fake's chain verifies against its root key");
        let (finish, keys) = accepted.finish(noise, &payload.encode_to_vec()).unwrap();
        ws.send(Message::binary(encoder.encode(&finish).unwrap()))
            .await
            .unwrap();
        Client {
            ws,
            channel: SecureChannel::new(encoder, decoder, &keys, 1 << 24),
            pending: Vec::new(),
        }
    }

    /// Resumes as WhatsApp Web does: Noise IK to `cached_server_static` with `payload` in the
    /// first message, following the server into XXfallback when it asks.
    pub async fn resume(
        fake: &FakeWhatsApp,
        noise: &KeyPair,
        cached_server_static: &[u8; 32],
        payload: &ClientPayload,
    ) -> (Client, Resumption) {
        let (mut ws, _) = connect_async(fake.url()).await.unwrap();
        let mut encoder = FrameEncoder::client();
        let mut decoder = FrameDecoder::new();
        let (hs, hello) =
            ResumeHandshake::start(noise, cached_server_static, &payload.encode_to_vec()).unwrap();
        ws.send(Message::binary(encoder.encode(&hello).unwrap()))
            .await
            .unwrap();
        let server_hello = read_frame(&mut ws, &mut decoder).await;
        let outcome = hs
            .read_server_hello(&server_hello, &fake.root_public_key(), now_unix())
            .expect("the fake completes or falls back");
        let (keys, how) = match outcome {
            Resumed::Resumed { keys, .. } => (keys, Resumption::Resumed),
            Resumed::Fallback {
                finish,
                keys,
                server_static,
                ..
            } => {
                ws.send(Message::binary(encoder.encode(&finish).unwrap()))
                    .await
                    .unwrap();
                (keys, Resumption::Fallback { server_static })
            }
        };
        let client = Client {
            ws,
            channel: SecureChannel::new(encoder, decoder, &keys, 1 << 24),
            pending: Vec::new(),
        };
        (client, how)
    }

    pub async fn send(&mut self, node: &Node) {
        let bytes = whatsapp_binary::encode(node).unwrap();
        let frame = self.channel.seal(&bytes, false).unwrap();
        self.ws.send(Message::binary(frame)).await.unwrap();
    }

    /// The next stanza, or None when the server closed.
    pub async fn recv(&mut self) -> Option<Node> {
        loop {
            if !self.pending.is_empty() {
                return Some(self.pending.remove(0));
            }
            match timeout(STEP, self.ws.next()).await.expect("server silent") {
                Some(Ok(Message::Binary(b))) => {
                    for n in self.channel.open(&b).unwrap() {
                        self.pending.push(whatsapp_binary::decode(&n).unwrap());
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next stanza for which `want` holds; others are dropped. Panics when the server closes.
    pub async fn expect(&mut self, what: &str, want: impl Fn(&Node) -> bool) -> Node {
        loop {
            match self.recv().await {
                Some(node) if want(&node) => return node,
                Some(_) => {}
                None => panic!("the server closed before {what}"),
            }
        }
    }

    /// Sends an IQ and returns its answer; stanzas that arrive before it stay queued for
    /// `recv` (a phone's messages may come in between).
    pub async fn query(&mut self, iq: Node) -> Node {
        let id = iq.attr_str("id").unwrap().to_owned();
        self.send(&iq).await;
        let mut other = Vec::new();
        let reply = loop {
            let node = self.recv().await.expect("iq reply");
            if node.tag == "iq" && node.attr_str("id") == Some(id.as_str()) {
                break node;
            }
            other.push(node);
        };
        other.append(&mut self.pending);
        self.pending = other;
        reply
    }
}

pub fn iq(id: &str, kind: &str, xmlns: &str, child: Option<Node>) -> Node {
    let node = Node::new("iq")
        .attr("id", id)
        .attr("to", Jid::server_only(Server::Pn))
        .attr("type", kind)
        .attr("xmlns", xmlns);
    match child {
        Some(c) => node.child(c),
        None => node,
    }
}

/// A registration payload whose signed pre-key is signed by `identity` (XEdDSA over `05 ‖ key`).
pub fn registration(identity: &KeyPair) -> ClientPayload {
    let signed_pre_key = KeyPair::generate();
    let mut signed = vec![5u8];
    signed.extend_from_slice(signed_pre_key.public());
    let signature = signal::xeddsa::sign(identity.private(), &signed, &[3; 64]);
    ClientPayload {
        passive: Some(false),
        device_pairing_data: Some(DevicePairingRegistrationData {
            e_regid: Some(vec![0, 0, 0, 1]),
            e_keytype: Some(vec![5]),
            e_ident: Some(identity.public().to_vec()),
            e_skey_id: Some(vec![0, 0, 1]),
            e_skey_val: Some(signed_pre_key.public().to_vec()),
            e_skey_sig: Some(signature.to_vec()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Pairs a client with our own code and returns (noise key, device id).
pub async fn pair(fake: &FakeWhatsApp) -> (KeyPair, u32) {
    let noise = KeyPair::generate();
    let identity = KeyPair::generate();
    let adv = [7u8; 32];
    let mut client = Client::connect(fake, &noise, &registration(&identity)).await;
    let pair_device = client.recv().await.unwrap();
    assert_eq!(pair_device.attr_str("xmlns"), Some("md"));
    let refs: Vec<String> = pair_device
        .child_by_tag("pair-device")
        .unwrap()
        .children_by_tag("ref")
        .map(|r| String::from_utf8(r.content_bytes().unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(refs.len(), 6);
    assert_eq!(fake.pair_refs(), vec![refs.clone()]);

    // A QR naming another noise key is refused.
    let forged = format!(
        "{},{},{},{},1",
        refs[0],
        STANDARD.encode(KeyPair::generate().public()),
        STANDARD.encode(identity.public()),
        STANDARD.encode(adv)
    );
    assert!(fake.phone().scan(&forged).is_err());

    let qr = format!(
        "https://wa.me/settings/linked_devices#{},{},{},{},1",
        refs[1],
        STANDARD.encode(noise.public()),
        STANDARD.encode(identity.public()),
        STANDARD.encode(adv)
    );
    let jid = fake.phone().scan(&qr).unwrap();
    let success = client.recv().await.unwrap();
    let ps = success.child_by_tag("pair-success").expect("pair-success");
    assert_eq!(
        ps.child_by_tag("device")
            .unwrap()
            .get_attr("jid")
            .map(|v| v.to_string()),
        Some(jid.to_string())
    );
    let outer = AdvSignedDeviceIdentityHmac::decode(
        ps.child_by_tag("device-identity")
            .unwrap()
            .content_bytes()
            .unwrap(),
    )
    .unwrap();
    let mut signed = AdvSignedDeviceIdentity::decode(outer.details.unwrap().as_slice()).unwrap();
    let details = signed.details.clone().unwrap();
    let account = signed.account_signature_key.take().unwrap();
    let mut msg = vec![6, 1];
    msg.extend_from_slice(&details);
    msg.extend_from_slice(identity.public());
    msg.extend_from_slice(&account);
    signed.device_signature =
        Some(signal::xeddsa::sign(identity.private(), &msg, &[1; 64]).to_vec());
    let reply = Node::new("iq")
        .attr("to", Jid::server_only(Server::Pn))
        .attr("type", "result")
        .attr("id", success.attr_str("id").unwrap())
        .child(
            Node::new("pair-device-sign").child(
                Node::new("device-identity")
                    .attr("key-index", "1")
                    .bytes(signed.encode_to_vec()),
            ),
        );
    client.send(&reply).await;
    let restart = client.recv().await.unwrap();
    assert_eq!(restart.tag, "stream:error");
    assert_eq!(restart.attr_str("code"), Some("515"));
    assert!(client.recv().await.is_none(), "closed after 515");
    assert_eq!(fake.devices().len(), 1);
    (noise, u32::from(jid.device_id()))
}

pub fn login(device: u32) -> ClientPayload {
    ClientPayload {
        username: Some(15550001111),
        device: Some(device),
        passive: Some(true),
        ..Default::default()
    }
}
