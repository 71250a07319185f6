//! How the scripted phones handle duplicates and retries, as real phones do.
//!
//! - **Duplicates.** WhatsApp keys messages by id: a phone that receives a message id it already
//!   decrypted from the same account ignores the copy (it still confirms delivery, so the sender
//!   stops resending). Copies arrive when a client resends because the server's ack did not come.
//!   [`ReceivedIds`] remembers the last ids per phone.
//! - **Retries.** A companion that cannot decrypt a message answers it with a retry receipt:
//!   `<receipt type="retry" id=X to=phone><retry count=N id=X t v=1/><registration>4 bytes
//!   BE</registration>[<keys><type/><identity/><key><id/><value/></key><skey><id/><value/>
//!   <signature/></skey><device-identity/></keys>]</receipt>` (Baileys 7.0.0-rc14
//!   `Socket/messages-recv.js` `sendRetryRequest`; keys are included from the second retry on).
//!   The sender then re-encrypts the message for that one device and sends it again with the
//!   same id, starting a fresh session from the receipt's keys when it has them (Baileys
//!   `sendMessagesAgain`: `injectE2ESession` from `extractE2ESessionFromRetryReceipt`, else a
//!   fresh bundle; the `<enc>` carries `count=N`). The phones keep their last
//!   [`SENT_CAP`] sent messages ([`SentLog`]) for that.

use std::collections::VecDeque;

use prost::Message as _;
use signal::ProtocolAddress;
use signal::prekeys::PreKeyBundle;
use whatsapp::proto::Message;
use whatsapp::proto::message::DeviceSentMessage;
use whatsapp_binary::{Jid, Node};

use crate::error::FakeError;
use crate::party;
use crate::phone::{Phone, enc_node, new_message_id, text_message};
use crate::prekeys::Bundle;
use crate::stanza;
use crate::state::device_key;

/// Sent messages each phone keeps for retries.
pub const SENT_CAP: usize = 1000;
/// Received message ids each phone keeps to recognise duplicates.
pub const RECEIVED_IDS_CAP: usize = 5000;

/// A message a phone sent, kept for retries.
#[derive(Debug, Clone)]
pub struct Sent {
    pub id: String,
    /// The account (phone number) it went to.
    pub to: String,
    pub message: Message,
    /// Devices (`user`, device) that confirmed delivery of it.
    pub delivered_to: Vec<(String, u16)>,
}

/// The last [`SENT_CAP`] messages a phone sent, oldest first.
#[derive(Debug, Default)]
pub struct SentLog(VecDeque<Sent>);

impl SentLog {
    pub fn remember(&mut self, sent: Sent) {
        if self.0.len() >= SENT_CAP {
            self.0.pop_front();
        }
        self.0.push_back(sent);
    }

    pub fn get(&self, id: &str) -> Option<&Sent> {
        self.0.iter().rev().find(|s| s.id == id)
    }

    /// Notes that `user:device` confirmed delivery of message `id`.
    pub fn delivered(&mut self, id: &str, user: &str, device: u16) {
        if let Some(sent) = self.0.iter_mut().rev().find(|s| s.id == id)
            && !sent
                .delivered_to
                .iter()
                .any(|(u, d)| u == user && *d == device)
        {
            sent.delivered_to.push((user.to_owned(), device));
        }
    }
}

/// The last [`RECEIVED_IDS_CAP`] `(sender account, message id)` pairs a phone decrypted.
#[derive(Debug, Default)]
pub struct ReceivedIds(VecDeque<(String, String)>);

impl ReceivedIds {
    pub fn contains(&self, sender: &str, id: &str) -> bool {
        self.0.iter().any(|(s, i)| s == sender && i == id)
    }

    pub fn insert(&mut self, sender: &str, id: &str) {
        if self.0.len() >= RECEIVED_IDS_CAP {
            self.0.pop_front();
        }
        self.0.push_back((sender.to_owned(), id.to_owned()));
    }
}

/// The Signal bundle a retry receipt carries (`<registration>` plus `<keys>`), if complete.
pub fn bundle_from_retry(receipt: &Node, device: u16) -> Option<PreKeyBundle> {
    let keys = receipt.child_by_tag("keys")?;
    let mut bundle = Bundle {
        registration: receipt
            .child_by_tag("registration")?
            .content_bytes()?
            .to_vec(),
        ..Bundle::default()
    };
    // `<keys>` has the upload's shape except that the one-time key is a bare `<key>`.
    bundle.apply_upload(keys);
    let one_time = keys.child_by_tag("key").and_then(crate::prekeys::parse_key);
    if bundle.key_type != [party::KEY_TYPE] {
        return None;
    }
    party::to_signal_bundle(&bundle, u32::from(device), one_time)
}

impl Phone {
    /// Sends `text` to every companion of account `to` as garbage no session can decrypt, but
    /// remembers the real text under its id: the companion's retry receipt brings it the real
    /// text with the same id (see the module docs). Returns the id.
    pub fn send_text_garbled(&self, to: &str, text: &str) -> Result<String, FakeError> {
        let id = new_message_id();
        self.deliver_garbage(to, &id)?;
        self.remember_sent(&id, to, &text_message(text));
        Ok(id)
    }

    /// Answers a media retry request from `user:device` for message `id` that this phone sent:
    /// checks the request was sealed with that message's media key, uploads the file again,
    /// and sends the sealed answer (the new direct path, or "not found") as a `mediaretry`
    /// notification. A request it cannot read is answered with an `<error>`.
    pub(crate) fn answer_media_retry(
        &self,
        user: &str,
        device: u16,
        id: &str,
        sealed: Option<whatsapp::media::retry::Sealed>,
        rmr: &Node,
    ) -> Result<(), FakeError> {
        use whatsapp::media::retry::{RetryOutcome, open_request, seal_answer};
        let media = self.state.with(|s| {
            let sent = s.accounts.get(&self.user)?.sent.get(id)?;
            whatsapp::media::MediaDescriptor::from_message(&sent.message)
        });
        let mut node = Node::new("notification")
            .attr("from", whatsapp_binary::Jid::pn(self.user.as_str())?)
            .attr("type", "mediaretry")
            .attr("id", id)
            .attr("t", stanza::now_unix())
            .child(rmr.clone());
        let readable = match (&media, &sealed) {
            (Some(m), Some(sealed)) => open_request(&m.media_key, id, sealed).is_ok(),
            _ => false,
        };
        match media {
            Some(m) if readable => {
                let outcome = match m
                    .direct_path
                    .as_deref()
                    .and_then(|p| self.state.media.reupload(p))
                {
                    Some(direct_path) => RetryOutcome::Reuploaded { direct_path },
                    None => RetryOutcome::NotFound,
                };
                let answer = seal_answer(&m.media_key, id, &outcome)
                    .map_err(|e| FakeError::Media(e.to_string()))?;
                node = node.child(
                    Node::new("encrypt")
                        .child(Node::new("enc_p").bytes(answer.ciphertext))
                        .child(Node::new("enc_iv").bytes(answer.iv.to_vec())),
                );
            }
            _ => {
                node = node.child(Node::new("error").attr("code", "2"));
            }
        }
        self.state.with(|s| s.deliver(user, device, node));
        Ok(())
    }

    pub(crate) fn remember_sent(&self, id: &str, to: &str, message: &Message) {
        self.state.with(|s| {
            if let Some(account) = s.accounts.get_mut(&self.user) {
                account.sent.remember(Sent {
                    id: id.to_owned(),
                    to: to.to_owned(),
                    message: message.clone(),
                    delivered_to: Vec::new(),
                });
            }
        });
    }

    /// Answers a retry receipt from the companion `user:device` for message `id`: re-encrypts
    /// what this phone sent under that id for that device only and delivers it with the same id.
    /// Returns false when there is nothing to resend: an unknown id (pure garbage), a device that
    /// is neither the recipient's nor this account's, or one that already confirmed delivery.
    pub async fn resend(
        &self,
        user: &str,
        device: u16,
        id: &str,
        receipt: &Node,
    ) -> Result<bool, FakeError> {
        let found = self.state.with(|s| {
            let me = s.accounts.get(&self.user)?;
            let sent = me.sent.get(id)?.clone();
            let linked = s
                .companions_of(user)
                .iter()
                .find(|d| d.device == device)
                .map(|d| d.identity_public)?;
            Some((me.primary.clone(), me.name.clone(), sent, linked))
        });
        let Some((primary, name, sent, identity)) = found else {
            return Ok(false);
        };
        let own = user == self.user;
        if !own && user != sent.to {
            return Ok(false);
        }
        // The device confirmed delivery of this id before: the retry is about a redelivered copy
        // it could not decrypt again (its message key was used up). It has the message, and a
        // second readable copy would only show it twice.
        if sent
            .delivered_to
            .iter()
            .any(|(u, d)| u == user && *d == device)
        {
            return Ok(false);
        }
        let count = receipt
            .child_by_tag("retry")
            .and_then(|r| r.attr_str("count"))
            .and_then(|c| c.parse::<u32>().ok())
            .unwrap_or(1);
        let from_receipt = bundle_from_retry(receipt, device);
        if let Some(b) = &from_receipt
            && *b.identity_key.as_bytes() != identity
        {
            return Err(FakeError::Protocol(format!(
                "retry receipt from {user}:{device} names another identity key"
            )));
        }
        let to_jid = format!("{}@s.whatsapp.net", sent.to);
        let plaintext = if own {
            Message {
                device_sent_message: Some(Box::new(DeviceSentMessage {
                    destination_jid: Some(to_jid.clone()),
                    message: Some(Box::new(sent.message.clone())),
                    phash: None,
                })),
                ..Default::default()
            }
        } else {
            sent.message.clone()
        }
        .encode_to_vec();
        let address = ProtocolAddress::new(user, u32::from(device));
        // A fresh session: from the receipt's keys, or (second retry on, no keys) a fresh bundle
        // from the directory; otherwise the session the phone has (or a first one).
        let fresh = match from_receipt {
            Some(b) => Some(b),
            None if count >= 2 => self.state.with(|s| {
                let stored = s.bundles.get_mut(&device_key(user, device))?;
                let one_time = stored.one_time.pop_front();
                party::to_signal_bundle(stored, u32::from(device), one_time)
            }),
            None => None,
        };
        let ciphertext = match fresh {
            Some(bundle) => primary
                .encrypt(&address, Some(&bundle), plaintext)
                .await
                .map_err(|e| FakeError::Signal(format!("to {user}:{device}: {e}")))?,
            None => match self.encrypt_for(&primary, user, device, plaintext).await? {
                Some(c) => c,
                None => return Ok(false),
            },
        };
        let mut node = Node::new("message")
            .attr("from", Jid::pn(self.user.as_str())?)
            .attr("id", id)
            .attr("t", stanza::now_unix())
            .attr("type", "text")
            .attr("notify", name.as_str());
        node = if own {
            node.attr("recipient", to_jid.as_str())
        } else {
            node.attr("sender_lid", Jid::lid(self.lid_user.as_str())?)
        };
        let node = node.child(enc_node(&ciphertext).attr("count", count));
        self.state.with(|s| {
            s.stats.resent += 1;
            s.deliver(user, device, node);
        });
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_are_bounded_and_find_the_newest() {
        let mut sent = SentLog::default();
        for i in 0..SENT_CAP + 5 {
            sent.remember(Sent {
                id: format!("id{i}"),
                to: "1".into(),
                message: text_message(&i.to_string()),
                delivered_to: Vec::new(),
            });
        }
        assert!(sent.get("id0").is_none(), "the oldest are dropped");
        assert_eq!(
            sent.get(&format!("id{}", SENT_CAP + 4))
                .and_then(|s| s.message.conversation.clone()),
            Some((SENT_CAP + 4).to_string())
        );
        let mut ids = ReceivedIds::default();
        ids.insert("1", "A");
        assert!(ids.contains("1", "A"));
        assert!(!ids.contains("2", "A"), "ids are per sender account");
        for i in 0..RECEIVED_IDS_CAP {
            ids.insert("1", &i.to_string());
        }
        assert!(!ids.contains("1", "A"));
    }

    #[test]
    fn a_retry_receipt_bundle_is_read_and_checked() {
        let party = party::Party::new([3; 32]);
        let user = party.bundle_node("1@s.whatsapp.net".into());
        let keys = Node::new("keys").children(
            user.get_children()
                .iter()
                .filter(|c| c.tag != "registration")
                .cloned(),
        );
        let registration = user.child_by_tag("registration").cloned().unwrap();
        let receipt = Node::new("receipt")
            .child(Node::new("retry").attr("count", "2"))
            .child(registration.clone())
            .child(keys.clone());
        let bundle = bundle_from_retry(&receipt, 4).unwrap();
        assert_eq!(bundle.device_id, 4);
        assert_eq!(bundle.identity_key.as_bytes(), &party.identity_public());
        assert!(bundle.pre_key.is_some());
        bundle.verify().unwrap();
        // No keys, or no registration: nothing to start a session from.
        let bare = Node::new("receipt").child(registration);
        assert!(bundle_from_retry(&bare, 4).is_none());
        let no_registration = Node::new("receipt").child(keys);
        assert!(bundle_from_retry(&no_registration, 4).is_none());
    }
}
