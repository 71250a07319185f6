//! A companion linked the way our engine links: pairing with `whatsapp::pairing` (QR string from
//! `format_qr`, `accept_pair_success` for the counter-signature), login, and a key upload from a
//! real Signal store (`fake_whatsapp::party::Party`), so tests can send and decrypt messages
//! stanza by stanza.

use std::time::{Duration, Instant};

use fake_whatsapp::party::{self, Party};
use fake_whatsapp::prekeys::Bundle;
use fake_whatsapp::{FakeWhatsApp, Phone};
use prost::Message as _;
use signal::{CiphertextMessage, ProtocolAddress};
use whatsapp::handshake::KeyPair;
use whatsapp::pairing::{QrData, accept_pair_success, format_qr};
use whatsapp::proto::ClientPayload;
use whatsapp_binary::{Jid, Node, Server};

use super::client::{Client, iq, registration};

pub struct Companion {
    pub client: Client,
    pub party: Party,
    pub noise: KeyPair,
    pub identity: KeyPair,
    pub user: String,
    pub device: u16,
    /// From sending `pair-device-sign` to reading the 515.
    pub restart_after: Duration,
    /// When the 515 arrived (the companion then logs in and uploads its keys).
    pub paired_at: Instant,
    /// The key upload IQ as sent.
    pub upload: Node,
    next_id: u32,
}

impl Companion {
    /// Registers, is scanned by `phone`, counter-signs, logs in after the 515 and uploads
    /// `one_time` one-time pre-keys.
    pub async fn link(fake: &FakeWhatsApp, phone: &Phone, one_time: usize) -> Companion {
        let noise = KeyPair::generate();
        let identity = KeyPair::generate();
        let adv_secret = [11u8; 32];
        let mut reg = Client::connect(fake, &noise, &registration(&identity)).await;
        let pair_device = reg
            .expect("pair-device", |n| n.child_by_tag("pair-device").is_some())
            .await;
        let reference = pair_device
            .child_by_path(&["pair-device", "ref"])
            .and_then(Node::content_bytes)
            .map(|r| String::from_utf8(r.to_vec()).unwrap())
            .unwrap();
        let qr = format_qr(&QrData {
            reference,
            noise_public: *noise.public(),
            identity_public: *identity.public(),
            adv_secret,
            platform: "1".into(),
        });
        let jid = phone.scan(&qr).unwrap();
        let success = reg
            .expect("pair-success", |n| n.child_by_tag("pair-success").is_some())
            .await;
        let device_identity = success
            .child_by_path(&["pair-success", "device-identity"])
            .and_then(Node::content_bytes)
            .unwrap();
        let accepted = accept_pair_success(device_identity, &adv_secret, &identity).unwrap();
        reg.send(
            &Node::new("iq")
                .attr("to", Jid::server_only(Server::Pn))
                .attr("type", "result")
                .attr("id", success.attr_str("id").unwrap())
                .child(
                    Node::new("pair-device-sign").child(
                        Node::new("device-identity")
                            .attr("key-index", accepted.key_index)
                            .bytes(accepted.reply),
                    ),
                ),
        )
        .await;
        let signed_at = Instant::now();
        let restart = reg.expect("515", |n| n.tag == "stream:error").await;
        assert_eq!(restart.attr_str("code"), Some("515"));
        let paired_at = Instant::now();

        let user = phone.user().to_owned();
        let device = jid.device_id();
        let party = Party::new(*identity.private());
        let client = Client::connect(fake, &noise, &login_payload(&user, device)).await;
        let mut companion = Companion {
            client,
            party,
            noise,
            identity,
            user,
            device,
            restart_after: paired_at - signed_at,
            paired_at,
            upload: Node::new("iq"),
            next_id: 0,
        };
        let success = companion
            .client
            .expect("success", |n| n.tag == "success")
            .await;
        assert!(success.get_attr("lid").is_some());
        companion.upload_keys(one_time).await;
        companion
    }

    /// Logs in again on a new connection (the old one is dropped).
    pub async fn reconnect(&mut self, fake: &FakeWhatsApp) {
        self.client =
            Client::connect(fake, &self.noise, &login_payload(&self.user, self.device)).await;
        self.client.expect("success", |n| n.tag == "success").await;
    }

    /// This device's JID, `user:device@s.whatsapp.net`.
    pub fn jid(&self) -> Jid {
        Jid::device(self.user.as_str(), Server::Pn, self.device).unwrap()
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}", self.next_id)
    }

    /// `<user>` nodes of the party's bundle: one per fetch, each with a fresh one-time key.
    fn bundle_nodes(&self, n: usize) -> Vec<Node> {
        (0..n.max(1))
            .map(|_| self.party.bundle_node(self.jid().into()))
            .collect()
    }

    async fn upload_keys(&mut self, one_time: usize) {
        let nodes = self.bundle_nodes(one_time);
        let first = &nodes[0];
        let child = |tag: &str| first.child_by_tag(tag).cloned().unwrap();
        let keys: Vec<Node> = nodes
            .iter()
            .take(one_time)
            .filter_map(|n| n.child_by_tag("key").cloned())
            .collect();
        let id = self.id("upload");
        let upload = iq(&id, "set", "encrypt", None).children([
            child("registration"),
            child("type"),
            child("identity"),
            Node::new("list").children(keys),
            child("skey"),
        ]);
        let reply = self.client.query(upload.clone()).await;
        assert_eq!(reply.attr_str("type"), Some("result"), "{reply}");
        self.upload = upload;
    }

    /// `<keys>` for a retry receipt: type, identity, a fresh one-time key, the signed pre-key.
    pub fn retry_keys(&self) -> (Node, Node) {
        let node = self.party.bundle_node(self.jid().into());
        let keys = Node::new("keys").children(
            ["type", "identity", "key", "skey"]
                .into_iter()
                .filter_map(|t| node.child_by_tag(t).cloned()),
        );
        (node.child_by_tag("registration").cloned().unwrap(), keys)
    }

    /// Fetches `jid`'s bundle from the server, as a sender starting a session does.
    pub async fn fetch_bundle(&mut self, jid: Jid) -> signal::prekeys::PreKeyBundle {
        let id = self.id("fetch");
        let reply = self
            .client
            .query(
                iq(&id, "get", "encrypt", None)
                    .child(Node::new("key").child(Node::new("user").attr("jid", jid.clone()))),
            )
            .await;
        let user = reply.child_by_path(&["list", "user"]).unwrap();
        let mut bundle = Bundle::default();
        bundle.apply_upload(user);
        let one_time = user
            .child_by_tag("key")
            .and_then(fake_whatsapp::prekeys::parse_key);
        party::to_signal_bundle(&bundle, u32::from(jid.device_id()), one_time).unwrap()
    }

    /// Encrypts a text for `to`'s phone (device 0), fetching its bundle when there is no session.
    pub async fn encrypt_text(&mut self, to: &str, text: &str) -> CiphertextMessage {
        let message = whatsapp::proto::Message {
            conversation: Some(text.to_owned()),
            ..Default::default()
        };
        self.encrypt(to, &message).await
    }

    /// Encrypts `message` for `to`'s phone (device 0), fetching its bundle when there is no
    /// session.
    pub async fn encrypt(
        &mut self,
        to: &str,
        message: &whatsapp::proto::Message,
    ) -> CiphertextMessage {
        let address = ProtocolAddress::new(to, 0);
        let bundle = if self.party.has_session(&address) {
            None
        } else {
            Some(self.fetch_bundle(Jid::pn(to).unwrap()).await)
        };
        self.party
            .encrypt(&address, bundle.as_ref(), message.encode_to_vec())
            .await
            .unwrap()
    }

    /// `<message id to=phone type=text><enc/></message>`, addressed to `to`'s phone.
    pub fn message_node(to: &str, id: &str, ciphertext: &CiphertextMessage) -> Node {
        Node::new("message")
            .attr("id", id)
            .attr("to", Jid::pn(to).unwrap())
            .attr("type", "text")
            .child(
                Node::new("enc")
                    .attr("v", "2")
                    .attr("type", ciphertext.enc_type())
                    .bytes(ciphertext.bytes().to_vec()),
            )
    }

    /// Decrypts a `<message>` from `from`'s phone; `None` when it does not decrypt.
    pub async fn decrypt(&self, from: &str, message: &Node) -> Option<whatsapp::proto::Message> {
        let enc = message.child_by_tag("enc")?;
        let plain = self
            .party
            .decrypt(
                &ProtocolAddress::new(from, 0),
                enc.attr_str("type")?,
                enc.content_bytes()?,
            )
            .await
            .ok()?;
        whatsapp::proto::Message::decode(plain.as_slice()).ok()
    }
}

pub fn login_payload(user: &str, device: u16) -> ClientPayload {
    ClientPayload {
        username: Some(user.parse().unwrap()),
        device: Some(u32::from(device)),
        passive: Some(true),
        ..Default::default()
    }
}
