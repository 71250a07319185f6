//! Incoming messages: decrypt a batch, commit the key changes and the messages in one
//! transaction, then — only then — send the receipts. A message that cannot be decrypted is
//! stored as a placeholder and answered with a retry receipt (from the second retry on with a
//! fresh pre-key bundle, as WhatsApp Web does); the phone then sends it again and the placeholder
//! is completed. A message we already stored (a redelivery) is acknowledged and otherwise
//! ignored.
//!
//! Facts: `<message from id t type [notify] [recipient] [category] [sender_lid|sender_pn]
//! [offline]><enc v="2" type="pkmsg|msg|skmsg">`; plaintext = `Message` protobuf + padding;
//! receipts (Baileys' `sendReceipt`): type-less when we are online, else `inactive`; `sender`
//! for our own phone's messages, `peer_msg` for peer (protocol) messages, `hist_sync` for a
//! history sync.

use prost::Message as _;
use rand_core::OsRng;
use whatsapp_binary::{Jid, Node, Server};

use super::error::ClientError;
use super::session::{MAX_TRACKED_RETRIES, Session, lock, now_unix};
use crate::events::Event;
use crate::keys::{StagedKeys, address_of};
use crate::media::MediaDescriptor;
use crate::proto::Message;
use crate::proto::message::protocol_message::Type as ProtocolType;
use crate::store::{Commit, InboundMessage, InboundOutcome, KeyKind, KeyWrite};

/// Messages decrypted and committed together at most.
pub const MAX_BATCH: usize = 256;
/// Retry receipts per message before we give up on it (the placeholder stays).
const MAX_RETRIES: u32 = 5;

/// What one stanza turned out to be.
enum Decoded {
    /// A chat message to store.
    Chat(InboundMessage),
    /// Nothing to store (protocol messages, reactions…): a receipt (of this type, `None` =
    /// the usual delivery receipt) tells the sender we have it.
    Handled { receipt: Option<&'static str> },
    /// Not for us to read (groups, broadcasts, newsletters, stanzas without a payload): an
    /// `<ack>` stops the server from delivering it again, without claiming we read it.
    Skipped,
    /// Could not decrypt: placeholder + retry receipt (unless it is a redelivery of a message
    /// we have).
    Undecryptable(InboundMessage, String),
}

struct Item {
    node: Node,
    decoded: Decoded,
}

/// E.164 for a phone-number JID user.
fn e164(user: &str) -> Option<String> {
    (user.len() >= 6 && user.len() <= 15 && user.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("+{user}"))
}

/// The chat (the other person) a 1:1 message belongs to, its phone and LID, and whether we
/// sent it (from our own phone or another of our devices).
struct Chat {
    chat: Jid,
    phone: Option<String>,
    lid: Option<String>,
    from_me: bool,
}

fn chat_of(s: &Session, node: &Node, from: &Jid) -> Option<Chat> {
    if s.is_me(from) {
        let chat = node.attr_jid("recipient").ok().flatten()?.to_user();
        let (phone, lid) = forms(&chat, node, "peer_recipient_pn", "peer_recipient_lid");
        return Some(Chat {
            chat,
            phone,
            lid,
            from_me: true,
        });
    }
    let chat = from.to_user();
    let (phone, lid) = forms(&chat, node, "sender_pn", "sender_lid");
    Some(Chat {
        chat,
        phone,
        lid,
        from_me: false,
    })
}

/// The phone (E.164) and LID of a chat, from its JID and the alternate-address attributes.
fn forms(
    chat: &Jid,
    node: &Node,
    pn_attr: &str,
    lid_attr: &str,
) -> (Option<String>, Option<String>) {
    let alt = |key: &str| node.attr_jid(key).ok().flatten();
    match chat.server() {
        Server::Lid | Server::HostedLid => (
            alt(pn_attr).and_then(|p| e164(p.user())),
            Some(chat.to_string()),
        ),
        _ => (
            e164(chat.user()),
            alt(lid_attr).map(|l| l.to_user().to_string()),
        ),
    }
}

/// The text (or media caption) of a chat message and its kind; `None` for messages that are
/// not chat content.
fn content_of(message: &Message) -> Option<String> {
    if let Some(inner) = message
        .document_with_caption_message
        .as_ref()
        .and_then(|w| w.message.as_deref())
    {
        return content_of(inner);
    }
    if message.sticker_message.is_some() {
        return Some("[sticker]".into());
    }
    if let Some(text) = &message.conversation {
        return Some(text.clone());
    }
    if let Some(ext) = &message.extended_text_message {
        return ext.text.clone();
    }
    if let Some(m) = &message.image_message {
        return Some(m.caption.clone().unwrap_or_else(|| "[image]".into()));
    }
    if let Some(m) = &message.video_message {
        return Some(m.caption.clone().unwrap_or_else(|| "[video]".into()));
    }
    if let Some(m) = &message.audio_message {
        return Some(
            if m.ptt == Some(true) {
                "[voice message]"
            } else {
                "[audio]"
            }
            .into(),
        );
    }
    if let Some(m) = &message.document_message {
        return Some(
            m.caption
                .clone()
                .or_else(|| m.file_name.clone())
                .unwrap_or_else(|| "[document]".into()),
        );
    }
    None
}

async fn decrypt(keys: &StagedKeys<'_>, from: &Jid, enc: &Node) -> Result<Message, String> {
    let address = address_of(from);
    let bytes = enc.content_bytes().unwrap_or_default();
    let padded = match enc.attr_str("type") {
        Some("pkmsg") => signal::decrypt_pre_key_message(keys, &address, bytes, &mut OsRng).await,
        Some("msg") => signal::decrypt_message(keys, &address, bytes, &mut OsRng).await,
        other => return Err(format!("unsupported encryption type {other:?}")),
    }
    .map_err(|e| e.to_string())?;
    let plain = crate::padding::unpad(&padded).map_err(|e| e.to_string())?;
    Message::decode(plain).map_err(|e| format!("not a Message: {e}"))
}

async fn decode_one(s: &Session, keys: &StagedKeys<'_>, node: &Node) -> Decoded {
    let from = match node.attr_jid("from") {
        Ok(Some(j)) => j,
        _ => return Decoded::Skipped,
    };
    // Groups, broadcasts and newsletters are not part of this product yet: acknowledged so
    // the server stops redelivering, not stored.
    if !matches!(from.server(), Server::Pn | Server::Lid | Server::HostedLid) {
        return Decoded::Skipped;
    }
    let Some(chat) = chat_of(s, node, &from) else {
        return Decoded::Skipped;
    };
    let base = InboundMessage {
        message_id: node.attr_str("id").unwrap_or_default().to_owned(),
        chat: chat.chat.to_string(),
        phone: chat.phone,
        lid: chat.lid,
        push_name: node.attr_str("notify").map(str::to_owned),
        from_me: chat.from_me,
        text: None,
        undecryptable: false,
        timestamp: node.attr_u64("t").ok().flatten().unwrap_or_else(now_unix),
        media: None,
    };
    let Some(enc) = node.child_by_tag("enc") else {
        return Decoded::Skipped;
    };
    let message = match decrypt(keys, &from, enc).await {
        Ok(m) => m,
        Err(e) => {
            return Decoded::Undecryptable(
                InboundMessage {
                    undecryptable: true,
                    ..base
                },
                e,
            );
        }
    };
    // What our other devices sent arrives wrapped.
    let message = match message.device_sent_message {
        Some(dsm) => dsm.message.map(|m| *m).unwrap_or_default(),
        None => message,
    };
    if let Some(protocol) = &message.protocol_message {
        return handle_protocol(keys, protocol);
    }
    match content_of(&message) {
        Some(text) => Decoded::Chat(InboundMessage {
            text: Some(text),
            media: MediaDescriptor::from_message(&message).map(Box::new),
            ..base
        }),
        None => Decoded::Handled { receipt: None },
    }
}

/// Protocol messages from our own phone: history sync (nothing to import yet: acknowledged
/// with `hist_sync`) and app-state keys (kept for when app-state sync arrives).
fn handle_protocol(
    keys: &StagedKeys<'_>,
    protocol: &crate::proto::message::ProtocolMessage,
) -> Decoded {
    match protocol.r#type.and_then(|t| ProtocolType::try_from(t).ok()) {
        Some(ProtocolType::HistorySyncNotification) => Decoded::Handled {
            receipt: Some("hist_sync"),
        },
        Some(ProtocolType::AppStateSyncKeyShare) => {
            for (id, data) in app_state_keys(protocol) {
                keys.stage(KeyWrite {
                    kind: KeyKind::AppStateKey,
                    name: id,
                    value: Some(data),
                });
            }
            Decoded::Handled { receipt: None }
        }
        _ => Decoded::Handled { receipt: None },
    }
}

/// The shared app-state keys of an `APP_STATE_SYNC_KEY_SHARE`, as (hex key id, the encoded
/// `AppStateSyncKeyData`: key, fingerprint, timestamp).
fn app_state_keys(protocol: &crate::proto::message::ProtocolMessage) -> Vec<(String, Vec<u8>)> {
    let Some(share) = &protocol.app_state_sync_key_share else {
        return Vec::new();
    };
    share
        .keys
        .iter()
        .filter_map(|key| {
            let id = key.key_id.as_ref()?.key_id.as_ref()?;
            let data = key.key_data.as_ref()?;
            (!id.is_empty()).then(|| (hex_id(id), data.encode_to_vec()))
        })
        .collect()
}

fn hex_id(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decrypts, stores and acknowledges a batch of `<message>` stanzas (see the module docs). An
/// error means nothing was stored and nothing acknowledged: the caller reconnects so the server
/// delivers them again.
pub(crate) async fn handle_messages(s: &Session, nodes: Vec<Node>) -> Result<(), ClientError> {
    let creds = s.creds.lock().await;
    let keys = StagedKeys::new(&*s.store, &creds);
    let mut items = Vec::with_capacity(nodes.len());
    for node in nodes {
        let decoded = decode_one(s, &keys, &node).await;
        items.push(Item { node, decoded });
        // Decrypting a full batch is milliseconds of CPU; yielding between messages lets this
        // worker answer other accounts' database replies meanwhile (one of them may be holding
        // its user's event lock until it can send COMMIT).
        tokio::task::yield_now().await;
    }
    // A message we cannot decrypt may be a redelivery of one we stored (its keys are used up):
    // then it is simply acknowledged again.
    for item in &mut items {
        if let Decoded::Undecryptable(message, _) = &item.decoded
            && s.store
                .message_exists(&message.message_id)
                .await
                .map_err(ClientError::store)?
        {
            item.decoded = Decoded::Handled { receipt: None };
        }
    }
    let retry_keys = retry_bundles(s, &keys, &creds, &items);
    let mut commit = Commit::default();
    for item in &items {
        match &item.decoded {
            Decoded::Chat(m) | Decoded::Undecryptable(m, _) => commit.inbound.push(m.clone()),
            Decoded::Handled { .. } | Decoded::Skipped => {}
        }
    }
    if let Some((next_creds, _)) = &retry_keys {
        commit.credentials = Some(next_creds.encode());
    }
    commit.keys = keys.take_writes();
    let report = if commit.is_empty() {
        Default::default()
    } else {
        s.store.commit(commit).await.map_err(ClientError::store)?
    };
    drop(creds);
    if let Some((next_creds, _)) = &retry_keys {
        *s.creds.lock().await = next_creds.clone();
    }

    // Durable: now tell the world.
    for item in &items {
        match &item.decoded {
            Decoded::Chat(m) => {
                send_receipt(s, &item.node, m.from_me, None);
                emit_stored(s, m, &report);
            }
            Decoded::Handled { receipt } => {
                let kind = receipt.or(match item.node.attr_str("category") {
                    Some("peer") => Some("peer_msg"),
                    _ => None,
                });
                send_receipt(s, &item.node, false, kind);
            }
            Decoded::Skipped => s.ack(&item.node),
            Decoded::Undecryptable(m, why) => {
                tracing::info!(id = %m.message_id, error = %why, "could not decrypt a message; asking for a retry");
                emit_stored(s, m, &report);
                let bundle = retry_keys.as_ref().and_then(|(_, b)| b.get(&m.message_id));
                send_retry(s, &item.node, bundle);
            }
        }
    }
    Ok(())
}

fn emit_stored(s: &Session, message: &InboundMessage, report: &crate::store::CommitReport) {
    let outcome = report
        .inbound
        .iter()
        .find(|(id, _)| *id == message.message_id)
        .map_or(InboundOutcome::New, |(_, o)| *o);
    if outcome != InboundOutcome::Duplicate {
        s.emit(Event::Message {
            message: message.clone(),
            outcome,
        });
    }
}

/// A fresh one-time pre-key for each undecryptable message whose retry count reached 2 (the
/// sender then starts a new session), staged into `keys` so it is committed with the batch.
/// Returns the advanced credentials and the `<keys>` node per message id.
fn retry_bundles(
    s: &Session,
    keys: &StagedKeys<'_>,
    creds: &crate::creds::Credentials,
    items: &[Item],
) -> Option<(
    crate::creds::Credentials,
    std::collections::HashMap<String, Node>,
)> {
    let mut next = creds.clone();
    let mut nodes = std::collections::HashMap::new();
    let retries = lock(&s.retries);
    for item in items {
        let Decoded::Undecryptable(m, _) = &item.decoded else {
            continue;
        };
        let count = retries.get(&m.message_id).copied().unwrap_or(0) + 1;
        if !(2..=MAX_RETRIES).contains(&count) {
            continue;
        }
        let key = signal::prekeys::generate_pre_keys(next.next_pre_key_id, 1, &mut OsRng);
        next.next_pre_key_id = next.next_pre_key_id % 0x00ff_ffff + 1;
        keys.add_pre_keys(&key);
        let Some(key) = key.into_iter().next() else {
            continue;
        };
        let signed = &next.signed_pre_key;
        let id3 = |id: u32| id.to_be_bytes()[1..].to_vec();
        let mut children = vec![
            Node::new("type").bytes(vec![signal::keys::DJB_TYPE]),
            Node::new("identity").bytes(next.identity_public().to_vec()),
            Node::new("key")
                .child(Node::new("id").bytes(id3(key.id)))
                .child(Node::new("value").bytes(key.key_pair.public.as_bytes().to_vec())),
            Node::new("skey")
                .child(Node::new("id").bytes(id3(signed.id)))
                .child(Node::new("value").bytes(signed.key_pair.public.as_bytes().to_vec()))
                .child(Node::new("signature").bytes(signed.signature.to_vec())),
        ];
        if let Some(me) = &next.me {
            children.push(Node::new("device-identity").bytes(me.account.encode_to_vec()));
        }
        nodes.insert(m.message_id.clone(), Node::new("keys").children(children));
    }
    (!nodes.is_empty()).then_some((next, nodes))
}

/// `<receipt id to [type] [recipient|participant]>` for a message we handled.
fn send_receipt(s: &Session, node: &Node, from_me: bool, kind: Option<&str>) {
    let (Some(id), Some(from)) = (node.attr_str("id"), node.get_attr("from")) else {
        return;
    };
    let mut receipt = Node::new("receipt").attr("id", id).attr("to", from.clone());
    let kind = kind.or(if from_me {
        Some("sender")
    } else if s.is_online() {
        None
    } else {
        Some("inactive")
    });
    if let Some(kind) = kind {
        receipt = receipt.attr("type", kind);
    }
    for key in ["recipient", "participant"] {
        if let Some(v) = node.get_attr(key) {
            receipt = receipt.attr(key, v.clone());
        }
    }
    let _ = s.conn.send(receipt);
}

/// `<receipt type="retry">` asking the sender to encrypt the message again.
fn send_retry(s: &Session, node: &Node, keys: Option<&Node>) {
    let (Some(id), Some(from)) = (node.attr_str("id"), node.get_attr("from")) else {
        return;
    };
    let count = {
        let mut retries = lock(&s.retries);
        if retries.len() >= MAX_TRACKED_RETRIES && !retries.contains_key(id) {
            retries.clear();
        }
        let count = retries.entry(id.to_owned()).or_insert(0);
        *count += 1;
        *count
    };
    if count > MAX_RETRIES {
        tracing::info!(
            id,
            "giving up on an undecryptable message after {MAX_RETRIES} retries"
        );
        s.ack(node);
        return;
    }
    let registration = s.registration_id;
    let mut receipt = Node::new("receipt")
        .attr("id", id)
        .attr("type", "retry")
        .attr("to", from.clone());
    for key in ["recipient", "participant"] {
        if let Some(v) = node.get_attr(key) {
            receipt = receipt.attr(key, v.clone());
        }
    }
    let mut retry = Node::new("retry")
        .attr("count", count)
        .attr("id", id)
        .attr("v", "1");
    if let Some(t) = node.attr_str("t") {
        retry = retry.attr("t", t);
    }
    receipt = receipt
        .child(retry)
        .child(Node::new("registration").bytes(registration.to_be_bytes().to_vec()));
    if let Some(keys) = keys {
        receipt = receipt.child(keys.clone());
    }
    let _ = s.conn.send(receipt);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_become_e164_and_junk_does_not() {
        assert_eq!(e164("15550002222").as_deref(), Some("+15550002222"));
        assert_eq!(e164("12"), None);
        assert_eq!(e164("1555abc"), None);
        let _ = Jid::pn("1").unwrap();
    }
}
