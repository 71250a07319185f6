//! The scripted primary phone of one account: links companions (by "scanning" the QR string they
//! displayed), and acts as a WhatsApp user towards other accounts' companions — sends really
//! encrypted texts, receipts, typing and presence, and reports what it received.

use std::sync::Arc;

use prost::Message as _;
use rand_core::{OsRng, RngCore};
use signal::{CiphertextMessage, ProtocolAddress};
use whatsapp::media::{MediaDescriptor, MediaKind, MediaMeta};
use whatsapp::pairing::{issue_identity, parse_qr};
use whatsapp::proto::history_sync::HistorySyncType;
use whatsapp::proto::message::{
    self, DeviceSentMessage, HistorySyncNotification, ProtocolMessage, protocol_message,
};
use whatsapp::proto::{HistorySync, Message, Pushname};
use whatsapp_binary::{Jid, Node, Server};

use crate::error::FakeError;
use crate::party::{self, Party};
use crate::stanza;
use crate::state::{Account, ConnCommand, Device, PendingPair, Received, State, device_key};

/// A handle on one account's scripted phone. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Phone {
    pub(crate) state: Arc<State>,
    pub(crate) user: String,
    pub(crate) lid_user: String,
}

/// A fresh message id in the form WhatsApp clients use (`3EB0` + hex).
pub fn new_message_id() -> String {
    let mut bytes = [0u8; 9];
    OsRng.fill_bytes(&mut bytes);
    format!("3EB0{}", hex::encode_upper(bytes))
}

pub(crate) fn text_message(text: &str) -> Message {
    Message {
        conversation: Some(text.to_owned()),
        ..Default::default()
    }
}

impl Phone {
    /// The handle on `account`'s phone.
    pub(crate) fn of(state: &Arc<State>, account: &Account) -> Self {
        Self {
            state: state.clone(),
            user: account.user.clone(),
            lid_user: account.lid_user.clone(),
        }
    }

    /// The account's phone number (JID user part).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The account's LID user part.
    pub fn lid_user(&self) -> &str {
        &self.lid_user
    }

    /// `user@s.whatsapp.net`.
    pub fn jid(&self) -> String {
        format!("{}@s.whatsapp.net", self.user)
    }

    /// Scans a companion's QR string: checks it names a waiting connection with the same noise
    /// and identity keys, then links it (see [`Phone::link`]). Returns the new device JID; the
    /// pairing completes when the companion's signed reply arrives (see
    /// [`FakeWhatsApp::devices`](crate::FakeWhatsApp::devices)).
    pub fn scan(&self, qr: &str) -> Result<Jid, FakeError> {
        let qr = parse_qr(qr)?;
        let registration = self
            .state
            .with(|s| {
                s.registrations
                    .iter()
                    .find(|r| r.refs.contains(&qr.reference))
                    .cloned()
            })
            .ok_or_else(|| FakeError::UnknownRef(qr.reference.clone()))?;
        if registration.noise_public != qr.noise_public
            || registration.identity_public != qr.identity_public
        {
            return Err(FakeError::Pairing(
                "QR keys differ from the connection's handshake",
            ));
        }
        self.link(registration.conn_id, qr.identity_public, &qr.adv_secret)
    }

    /// Links the registering connection `conn_id` (whose Signal identity is
    /// `identity_public`) as a new companion of this account: signs an ADV device identity,
    /// HMACs it with `adv_secret` (from the QR, or derived during code pairing) and sends
    /// `pair-success`. Returns the new device JID.
    pub fn link(
        &self,
        conn_id: u64,
        identity_public: [u8; 32],
        adv_secret: &[u8; 32],
    ) -> Result<Jid, FakeError> {
        let (registration, key, raw_id, device_id) = self.state.with(|s| {
            let registration = s
                .registrations
                .iter()
                .find(|r| r.conn_id == conn_id)
                .cloned();
            let account = s.accounts.get_mut(&self.user);
            match (registration, account) {
                (Some(r), Some(a)) => {
                    let id = a.next_device;
                    a.next_device = a.next_device.saturating_add(1);
                    Ok((r, a.key.clone(), a.raw_id, id))
                }
                (None, _) => Err(FakeError::Pairing("no registering connection with that id")),
                (_, None) => Err(FakeError::UnknownAccount(self.user.clone())),
            }
        })?;
        if registration.identity_public != identity_public {
            return Err(FakeError::Pairing(
                "identity key differs from the connection's registration",
            ));
        }
        if device_id == 0 || device_id > 255 {
            return Err(FakeError::Pairing("no free device id left on this account"));
        }
        let issued = issue_identity(
            &key,
            &identity_public,
            adv_secret,
            raw_id,
            u32::from(device_id),
            stanza::now_unix(),
        )?;
        let jid = Jid::device(self.user.as_str(), Server::Pn, device_id)?;
        let lid = Jid::device(self.lid_user.as_str(), Server::Lid, device_id)?;
        let iq_id = format!("pair-success-{conn_id}");
        let node = Node::new("iq")
            .attr("from", stanza::server_jid())
            // A server-initiated request like `pair-device`: the companion answers it with
            // `<iq type="result" id=…><pair-device-sign>`.
            .attr("type", "set")
            .attr("id", iq_id.as_str())
            .attr("xmlns", "md")
            .attr("t", stanza::now_unix())
            .child(
                Node::new("pair-success").children([
                    Node::new("device-identity").bytes(issued.device_identity),
                    Node::new("platform").attr("name", "smbi"),
                    Node::new("device")
                        .attr("jid", jid.clone())
                        .attr("lid", lid),
                ]),
            );
        let device = Device {
            user: self.user.clone(),
            device: device_id,
            lid_user: self.lid_user.clone(),
            noise_public: registration.noise_public,
            identity_public,
            key_index: u32::from(device_id),
        };
        let sent = self.state.with(|s| {
            s.pending.insert(
                conn_id,
                PendingPair {
                    device,
                    keys: registration.keys.clone(),
                    details: issued.details,
                    account_public: *key.public(),
                    iq_id,
                },
            );
            s.conns
                .get(&conn_id)
                .map(|c| c.commands.send(ConnCommand::Send(node)).is_ok())
        });
        match sent {
            Some(true) => Ok(jid),
            _ => Err(FakeError::Pairing("the registering connection has closed")),
        }
    }

    /// Sends `text` from this phone to every companion of the account `to` (and a
    /// `deviceSentMessage` copy to this account's own companions), really encrypted: a session
    /// is started from the companion's uploaded bundle when there is none yet. Companions that
    /// are offline get it when they next log in. Returns the message id.
    pub async fn send_text(&self, to: &str, text: &str) -> Result<String, FakeError> {
        let id = new_message_id();
        self.send_message(to, &id, &text_message(text)).await?;
        Ok(id)
    }

    /// Sends any `Message` (see [`Phone::send_text`]) with the given id. The phone keeps it for a
    /// while, to send it again to a companion that asks with a retry receipt.
    pub async fn send_message(
        &self,
        to: &str,
        id: &str,
        message: &Message,
    ) -> Result<(), FakeError> {
        let to_jid = format!("{to}@s.whatsapp.net");
        let dsm = Message {
            device_sent_message: Some(Box::new(DeviceSentMessage {
                destination_jid: Some(to_jid.clone()),
                message: Some(Box::new(message.clone())),
                phash: None,
            })),
            ..Default::default()
        };
        let (primary, name, devices) = self.state.with(|s| {
            let me = s
                .accounts
                .get(&self.user)
                .ok_or_else(|| FakeError::UnknownAccount(self.user.clone()))?;
            if !s.accounts.contains_key(to) {
                return Err(FakeError::UnknownAccount(to.to_owned()));
            }
            let mut devices: Vec<(String, u16)> = s
                .companions_of(to)
                .iter()
                .map(|d| (d.user.clone(), d.device))
                .collect();
            if to != self.user {
                devices.extend(
                    s.companions_of(&self.user)
                        .iter()
                        .map(|d| (d.user.clone(), d.device)),
                );
            }
            Ok((me.primary.clone(), me.name.clone(), devices))
        })?;
        self.remember_sent(id, to, message);
        let now = stanza::now_unix();
        let mediatype = MediaDescriptor::from_message(message).map(|m| m.enc_mediatype());
        for (user, device) in devices {
            let own = user == self.user;
            let plaintext = if own { &dsm } else { message }.encode_to_vec();
            let Some(ciphertext) = self.encrypt_for(&primary, &user, device, plaintext).await?
            else {
                continue; // never uploaded keys: nobody can message it yet
            };
            let mut node = Node::new("message")
                .attr("from", Jid::pn(self.user.as_str())?)
                .attr("id", id)
                .attr("t", now)
                .attr("type", if mediatype.is_some() { "media" } else { "text" })
                .attr("notify", name.as_str());
            if own {
                node = node.attr("recipient", to_jid.as_str());
            } else {
                node = node.attr("sender_lid", Jid::lid(self.lid_user.as_str())?);
            }
            let node = node.child(enc_node(&ciphertext).attr_opt("mediatype", mediatype));
            self.state.with(|s| s.deliver(&user, device, node));
        }
        Ok(())
    }

    /// Sends a media file from this phone as a real phone does: encrypts `data` under a fresh
    /// media key, puts the blob on the media host, and sends the message describing it (see
    /// [`Phone::send_message`]). Returns the message id and the description sent.
    pub async fn send_media(
        &self,
        to: &str,
        kind: MediaKind,
        data: &[u8],
        meta: MediaMeta,
    ) -> Result<(String, MediaDescriptor), FakeError> {
        let key = whatsapp::media::new_media_key();
        let (blob, info) = whatsapp::media::encrypt(&key, kind, data);
        let media_type = kind.upload_path().trim_start_matches("/mms/");
        let direct_path = self.state.media.put(media_type, blob.into());
        let url = format!("https://{}{direct_path}", self.state.media.host());
        let descriptor = MediaDescriptor::uploaded(
            kind,
            meta,
            key,
            &info,
            Some(url),
            Some(direct_path),
            i64::try_from(stanza::now_unix()).unwrap_or(i64::MAX),
        );
        let id = new_message_id();
        self.send_message(to, &id, &descriptor.to_message()).await?;
        Ok((id, descriptor))
    }

    /// Fetches a media file this phone received from the media host and decrypts it, checking
    /// the MAC and both hashes, as a real phone does before showing it.
    pub fn download(&self, media: &MediaDescriptor) -> Result<Vec<u8>, FakeError> {
        let path = media
            .direct_path
            .as_deref()
            .or_else(|| media.url.as_deref().and_then(crate::media::direct_path_of))
            .ok_or_else(|| FakeError::Media("the message names no media path".into()))?;
        let blob = self
            .state
            .media
            .get(path)
            .map_err(|m| FakeError::Media(format!("{m:?}")))?;
        let (plain, _) =
            whatsapp::media::decrypt(&media.media_key, media.kind, &blob, media.expected())
                .map_err(|e| FakeError::Media(e.to_string()))?;
        Ok(plain)
    }

    /// Encrypts for one companion, starting a session from its uploaded bundle (taking one of
    /// its one-time pre-keys, as any sender would) when there is none. `None` when the device
    /// has no usable bundle.
    pub(crate) async fn encrypt_for(
        &self,
        primary: &Party,
        user: &str,
        device: u16,
        plaintext: Vec<u8>,
    ) -> Result<Option<CiphertextMessage>, FakeError> {
        let address = ProtocolAddress::new(user, u32::from(device));
        let bundle = if primary.has_session(&address) {
            None
        } else {
            let bundle = self.state.with(|s| {
                let stored = s.bundles.get_mut(&device_key(user, device))?;
                let one_time = stored.one_time.pop_front();
                party::to_signal_bundle(stored, u32::from(device), one_time)
            });
            match bundle {
                Some(b) => Some(b),
                None => return Ok(None),
            }
        };
        primary
            .encrypt(&address, bundle.as_ref(), plaintext)
            .await
            .map(Some)
            .map_err(|e| FakeError::Signal(format!("to {user}:{device}: {e}")))
    }

    /// What the real phone does right after a companion is linked and has uploaded its keys:
    /// sends it the initial history sync, a `protocolMessage` of type
    /// `HISTORY_SYNC_NOTIFICATION` (as a peer message from the phone) whose payload is inline —
    /// a zlib-deflated `HistorySync` (`INITIAL_BOOTSTRAP`) with the push names of the accounts
    /// the fake knows and no conversations.
    pub async fn send_history_sync(&self, device: u16) -> Result<(), FakeError> {
        let (primary, pushnames) = self.state.with(|s| {
            let me = s
                .accounts
                .get(&self.user)
                .ok_or_else(|| FakeError::UnknownAccount(self.user.clone()))?;
            let names = s
                .accounts
                .values()
                .map(|a| Pushname {
                    id: Some(format!("{}@s.whatsapp.net", a.user)),
                    pushname: Some(a.name.clone()),
                })
                .collect::<Vec<_>>();
            Ok::<_, FakeError>((me.primary.clone(), names))
        })?;
        let history = HistorySync {
            sync_type: Some(HistorySyncType::InitialBootstrap as i32),
            conversations: Vec::new(),
            chunk_order: Some(0),
            progress: Some(100),
            pushnames,
            ..Default::default()
        };
        let mut deflater =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut deflater, &history.encode_to_vec())?;
        let inline = deflater.finish()?;
        let message = Message {
            protocol_message: Some(Box::new(ProtocolMessage {
                r#type: Some(protocol_message::Type::HistorySyncNotification as i32),
                history_sync_notification: Some(HistorySyncNotification {
                    sync_type: Some(message::HistorySyncType::InitialBootstrap as i32),
                    chunk_order: Some(0),
                    progress: Some(100),
                    initial_hist_bootstrap_inline_payload: Some(inline),
                    ..Default::default()
                }),
                ..Default::default()
            })),
            ..Default::default()
        };
        self.send_peer(&primary, device, &message).await
    }

    /// Sends a message whose ciphertext cannot be decrypted (a `msg` that is not for any
    /// session) to every companion of `to`; clients answer with a retry receipt, and the phone
    /// has nothing to send again. Returns its id. (See [`Phone::send_text_garbled`] for a
    /// garbled text the retry recovers.)
    pub fn send_undecryptable(&self, to: &str) -> Result<String, FakeError> {
        let id = new_message_id();
        self.deliver_garbage(to, &id)?;
        Ok(id)
    }

    /// Queues for every companion of `to` a `<message id=…>` whose `msg` no session decrypts.
    pub(crate) fn deliver_garbage(&self, to: &str, id: &str) -> Result<(), FakeError> {
        let mut garbage = vec![0x33u8];
        let mut body = [0u8; 48];
        OsRng.fill_bytes(&mut body);
        garbage.extend_from_slice(&body);
        let node = Node::new("message")
            .attr("from", Jid::pn(self.user.as_str())?)
            .attr("id", id)
            .attr("t", stanza::now_unix())
            .attr("type", "text")
            .child(
                Node::new("enc")
                    .attr("v", "2")
                    .attr("type", "msg")
                    .bytes(garbage),
            );
        self.state.with(|s| {
            if !s.accounts.contains_key(to) {
                return Err(FakeError::UnknownAccount(to.to_owned()));
            }
            s.deliver_to_companions(to, &node);
            Ok(())
        })
    }

    /// Sends a receipt of `kind` (`read`, `played`; `None` = delivered) for messages the
    /// companions of account `to` sent this phone.
    pub fn send_receipt(
        &self,
        to: &str,
        ids: &[String],
        kind: Option<&str>,
    ) -> Result<(), FakeError> {
        let (first, rest) = ids.split_first().ok_or(FakeError::Protocol(
            "a receipt needs at least one message id".into(),
        ))?;
        let mut node = Node::new("receipt")
            .attr("from", Jid::pn(self.user.as_str())?)
            .attr("id", first.as_str())
            .attr("t", stanza::now_unix());
        if let Some(kind) = kind {
            node = node.attr("type", kind);
        }
        if !rest.is_empty() {
            node = node.child(
                Node::new("list").children(
                    rest.iter()
                        .map(|id| Node::new("item").attr("id", id.as_str())),
                ),
            );
        }
        self.state.with(|s| {
            if !s.accounts.contains_key(to) {
                return Err(FakeError::UnknownAccount(to.to_owned()));
            }
            s.deliver_to_companions(to, &node);
            Ok(())
        })
    }

    /// Shows this phone typing (`composing`), recording (`recording`) or stopping (`paused`)
    /// in the chat with account `to`; only companions online right now see it.
    pub fn set_typing(&self, to: &str, state: &str) -> Result<usize, FakeError> {
        let child = match state {
            "composing" | "paused" => Node::new(state),
            "recording" => Node::new("composing").attr("media", "audio"),
            _ => return Err(FakeError::Protocol(format!("unknown chat state {state:?}"))),
        };
        let node = Node::new("chatstate")
            .attr("from", Jid::pn(self.user.as_str())?)
            .child(child);
        Ok(self.state.with(|s| s.send_live_to_companions(to, &node)))
    }

    /// Sets this phone's presence and tells every connection subscribed to it.
    pub fn set_presence(&self, available: bool) -> Result<usize, FakeError> {
        let now = stanza::now_unix();
        let node = presence_node(&self.user, available, now)?;
        Ok(self.state.with(|s| {
            if let Some(a) = s.accounts.get_mut(&self.user) {
                a.available = available;
                if !available {
                    a.last_seen = now;
                }
            }
            s.conns
                .values()
                .filter(|c| c.subscriptions.contains(&self.user))
                .filter(|c| c.commands.send(ConnCommand::Send(node.clone())).is_ok())
                .count()
        }))
    }

    /// Messages this phone received, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.state.with(|s| {
            s.received
                .iter()
                .filter(|r| r.account == self.user)
                .cloned()
                .collect()
        })
    }
}

pub(crate) fn enc_node(ciphertext: &CiphertextMessage) -> Node {
    Node::new("enc")
        .attr("v", "2")
        .attr("type", ciphertext.enc_type())
        .bytes(ciphertext.bytes().to_vec())
}

/// `<presence from=… type=available|unavailable [last=…]>`.
pub fn presence_node(user: &str, available: bool, last_seen: u64) -> Result<Node, FakeError> {
    let node = Node::new("presence").attr("from", Jid::pn(user)?);
    Ok(if available {
        node.attr("type", "available")
    } else {
        node.attr("type", "unavailable").attr("last", last_seen)
    })
}
