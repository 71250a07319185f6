//! What the server does with the stanzas a logged-in client sends to other users: messages are
//! acked, fanned out per `<participants><to jid=device>` — to a scripted phone, which really
//! decrypts them and answers with a delivery receipt, or to another companion, queued until it
//! acknowledges — and receipts, chat states and presence are recorded and forwarded.

use prost::Message as _;
use signal::ProtocolAddress;
use whatsapp::proto::Message;
use whatsapp_binary::{Jid, Node, Server};

use crate::app_state::requested_key_ids;
use crate::conn::{Conn, Next};
use crate::error::FakeError;
use crate::phone::{Phone, presence_node};
use crate::stanza;
use crate::state::{Inner, Received, Seen};

/// The phone-number JID of the logged-in device, e.g. `15550001111:1@s.whatsapp.net`.
fn sender(conn: &Conn) -> Option<(String, u16, Jid)> {
    let (user, device) = conn.device.clone()?;
    let jid = Jid::device(user.as_str(), Server::Pn, device).ok()?;
    Some((user, device, jid))
}

/// The ids a receipt covers: its own and any `<list><item id=…>`.
fn receipt_ids(node: &Node) -> Vec<String> {
    let mut ids: Vec<String> = node.attr_str("id").map(str::to_owned).into_iter().collect();
    if let Some(list) = node.child_by_tag("list") {
        ids.extend(
            list.children_by_tag("item")
                .filter_map(|i| i.attr_str("id"))
                .map(str::to_owned),
        );
    }
    ids
}

/// The text of a message, looking inside a `deviceSentMessage`; and that copy's destination.
fn text_of(message: &Message) -> (Option<String>, Option<String>) {
    if let Some(dsm) = &message.device_sent_message {
        let inner = dsm.message.as_deref().and_then(|m| text_of(m).0);
        return (inner, dsm.destination_jid.clone());
    }
    let text = message.conversation.clone().or_else(|| {
        message
            .extended_text_message
            .as_ref()
            .and_then(|e| e.text.clone())
    });
    (text, None)
}

/// The media a message (or a `deviceSentMessage` copy of one) carries.
fn media_of(message: &Message) -> Option<whatsapp::media::MediaDescriptor> {
    match &message.device_sent_message {
        Some(dsm) => dsm.message.as_deref().and_then(media_of),
        None => whatsapp::media::MediaDescriptor::from_message(message),
    }
}

pub async fn on_message(conn: &mut Conn, node: &Node) -> Result<Next, FakeError> {
    let Some((user, device, from)) = sender(conn) else {
        return Err(FakeError::Protocol("message before login".into()));
    };
    let id = node.attr_str("id").unwrap_or_default().to_owned();
    let to = node.attr_jid("to").ok().flatten();
    let kind = node.attr_str("type").unwrap_or("text").to_owned();
    let faults = conn.ctx.state.with(|s| {
        s.stats.messages_in += 1;
        s.faults.clone()
    });
    if !faults.withhold_acks && !id.is_empty() {
        conn.pause().await;
        let mut ack = Node::new("ack")
            .attr("class", "message")
            .attr("id", id.as_str())
            .attr("t", stanza::now_unix());
        if let Some(to) = &to {
            ack = ack.attr("from", to.clone());
        }
        conn.send(&ack).await?;
    }
    // One `<enc>` per device: in `<participants><to jid=…>` for a fan-out, or directly under
    // the message when it is addressed to one device (a retry).
    let mut targets: Vec<(Jid, Node)> = Vec::new();
    if let Some(participants) = node.child_by_tag("participants") {
        for to_node in participants.children_by_tag("to") {
            if let (Ok(Some(jid)), Some(enc)) =
                (to_node.attr_jid("jid"), to_node.child_by_tag("enc"))
            {
                targets.push((jid, enc.clone()));
            }
        }
    } else if let (Some(to), Some(enc)) = (&to, node.child_by_tag("enc")) {
        targets.push((to.clone(), enc.clone()));
    }
    let identity = node.child_by_tag("device-identity").cloned();
    let chat = to.as_ref().map(Jid::to_user);
    for (jid, enc) in targets {
        let account = conn.ctx.state.with(|s| {
            s.account_for(&jid)
                .map(|a| (a.user.clone(), a.primary.clone()))
        });
        let Some((account, primary)) = account else {
            continue; // nobody by that number: the real server drops it too
        };
        if jid.device_id() == 0 {
            let address = ProtocolAddress::new(user.as_str(), u32::from(device));
            let enc_type = enc.attr_str("type").unwrap_or_default().to_owned();
            let bytes = enc.content_bytes().unwrap_or_default();
            let result = primary.decrypt(&address, &enc_type, bytes).await;
            let mut key_request = None;
            let mut media = None;
            let (text, sent_to, error) = match &result {
                Ok(plain) => match Message::decode(plain.as_slice()) {
                    Ok(m) => {
                        key_request = requested_key_ids(&m);
                        media = media_of(&m);
                        let (t, d) = text_of(&m);
                        (t, d, None)
                    }
                    Err(e) => (None, None, Some(format!("not a Message: {e}"))),
                },
                Err(e) => (None, None, Some(e.to_string())),
            };
            let ok = error.is_none();
            let own = account == user;
            conn.ctx.state.with(|s| {
                // WhatsApp keys messages by id: a copy of one this phone already read from that
                // account (a client resending after a lost ack) is ignored, though confirmed
                // again below so the sender stops resending.
                let duplicate = s
                    .accounts
                    .get(&account)
                    .is_some_and(|a| a.received_ids.contains(&user, &id));
                if duplicate {
                    s.stats.duplicates_ignored += 1;
                } else {
                    if ok {
                        s.stats.decrypted += 1;
                        if let Some(a) = s.accounts.get_mut(&account) {
                            a.received_ids.insert(&user, &id);
                        }
                    } else {
                        s.stats.decrypt_failures += 1;
                    }
                    s.record_received(Received {
                        account: account.clone(),
                        from: from.to_string(),
                        id: id.clone(),
                        kind: enc_type,
                        text,
                        sent_to,
                        error,
                        media,
                    });
                }
                // The recipient's phone confirms delivery to every device of the sender.
                if (ok || duplicate)
                    && !own
                    && !s.faults.withhold_receipts
                    && let Ok(phone) = Jid::pn(account.as_str())
                {
                    let receipt = Node::new("receipt")
                        .attr("from", phone)
                        .attr("id", id.as_str())
                        .attr("t", stanza::now_unix());
                    s.deliver_to_companions(&user, &receipt);
                }
            });
            // A companion asking its phone for app-state keys it misses.
            if account == user
                && let Some(ids) = key_request
            {
                answer_key_request(conn, device, ids);
            }
        } else {
            let mut out = Node::new("message")
                .attr("from", from.clone())
                .attr("id", id.as_str())
                .attr("t", stanza::now_unix())
                .attr("type", kind.as_str());
            if account == user
                && let Some(chat) = &chat
            {
                out = out.attr("recipient", chat.clone());
            }
            out = out.child(enc);
            if let Some(identity) = &identity {
                out = out.child(identity.clone());
            }
            conn.ctx
                .state
                .with(|s| s.deliver(&account, jid.device_id(), out));
        }
    }
    Ok(Next::Continue)
}

/// The phone answers an `APP_STATE_SYNC_KEY_REQUEST` from its companion `device` with the
/// requested keys it has (in the background: it encrypts).
fn answer_key_request(conn: &Conn, device: u16, ids: Vec<Vec<u8>>) {
    let Some((user, _)) = conn.device.clone() else {
        return;
    };
    let state = &conn.ctx.state;
    let Some(phone) = state.with(|s| s.accounts.get(&user).map(|a| Phone::of(state, a))) else {
        return;
    };
    tokio::spawn(async move {
        if let Err(e) = phone.share_app_state_keys(device, Some(&ids)).await {
            tracing::warn!("answering {user}:{device}'s app-state key request failed: {e}");
        }
    });
}

pub fn on_receipt(conn: &Conn, node: &Node) {
    let Some((user, device, from)) = sender(conn) else {
        return;
    };
    let ids = receipt_ids(node);
    let kind = node.attr_str("type").unwrap_or("delivery").to_owned();
    let to = node.attr_jid("to").ok().flatten();
    conn.ctx.state.with(|s| {
        s.record_seen(Seen {
            from: from.to_string(),
            to: to.as_ref().map(ToString::to_string),
            kind: kind.clone(),
            ids: ids.clone(),
        });
        // A receipt for a message means the device has it: no redelivery.
        s.acknowledge(&user, device, "message", &ids);
        let Some(to) = &to else { return };
        let Some(target) = s.account_for(to).map(|a| a.user.clone()) else {
            return;
        };
        if to.device_id() == 0 && target != user {
            note_delivery(s, &target, &user, device, &kind, &ids);
        }
        if kind == "retry" {
            on_retry(conn, s, (&user, device, &from), to, &target, &ids, node);
            return;
        }
        if kind == "server-error" {
            on_media_retry(conn, s, &user, device, &ids, node);
            return;
        }
        // Delivery/read/played receipts reach the other account's companions; receipts among
        // one's own devices (`sender`, `read-self`, `peer_msg`…) stop here.
        // `inactive` is a delivery receipt from a client not marked online.
        let forwarded = matches!(kind.as_str(), "delivery" | "inactive" | "read" | "played");
        if target == user || !forwarded {
            return;
        }
        let Ok(me) = Jid::pn(user.as_str()) else {
            return;
        };
        let mut out = Node::new("receipt")
            .attr("from", me)
            .attr("id", ids.first().map_or("", String::as_str))
            .attr("t", stanza::now_unix());
        if !matches!(kind.as_str(), "delivery" | "inactive") {
            out = out.attr("type", kind.as_str());
        }
        if let Some(list) = node.child_by_tag("list") {
            out = out.child(list.clone());
        }
        s.deliver_to_companions(&target, &out);
    });
}

/// A media retry request (`<receipt type="server-error">` to the companion's own account, with
/// `<rmr jid=…>` naming the chat): the phone that sent the media (the chat, unless `from_me`)
/// uploads it again and answers the requesting device with a `mediaretry` notification.
fn on_media_retry(
    conn: &Conn,
    s: &mut Inner,
    user: &str,
    device: u16,
    ids: &[String],
    node: &Node,
) {
    let (Some(id), Some(rmr)) = (ids.first(), node.child_by_tag("rmr")) else {
        return;
    };
    let from_me = rmr.attr_str("from_me") == Some("true");
    let sender = if from_me {
        Some(user.to_owned())
    } else {
        rmr.attr_jid("jid")
            .ok()
            .flatten()
            .and_then(|j| s.account_for(&j).map(|a| a.user.clone()))
    };
    let Some(phone) =
        sender.and_then(|u| s.accounts.get(&u).map(|a| Phone::of(&conn.ctx.state, a)))
    else {
        return;
    };
    let sealed = node.child_by_tag("encrypt").and_then(|e| {
        let ciphertext = e.child_by_tag("enc_p")?.content_bytes()?.to_vec();
        let iv = e.child_by_tag("enc_iv")?.content_bytes()?.try_into().ok()?;
        Some(whatsapp::media::retry::Sealed { ciphertext, iv })
    });
    let (id, user, rmr) = (id.clone(), user.to_owned(), rmr.clone());
    // Outside the state lock: the phone reads its sent log and the media host.
    tokio::spawn(async move {
        if let Err(e) = phone.answer_media_retry(&user, device, &id, sealed, &rmr) {
            tracing::info!("answering a media retry for {id} failed: {e}");
        }
    });
}

/// A companion's delivery (or read) receipt to a scripted phone: the phone's sent message
/// reached that device, so a later retry receipt for it is about a redelivered copy.
fn note_delivery(s: &mut Inner, phone: &str, user: &str, device: u16, kind: &str, ids: &[String]) {
    if !matches!(kind, "delivery" | "inactive" | "read" | "played") {
        return;
    }
    if let Some(account) = s.accounts.get_mut(phone) {
        for id in ids {
            account.sent.delivered(id, user, device);
        }
    }
}

/// A retry receipt: to a scripted phone (device 0) it makes the phone send that message again
/// (in the background: it encrypts); to a companion it is forwarded to that device, from the
/// asking device, as the real server does, so the sender can resend.
fn on_retry(
    conn: &Conn,
    s: &mut Inner,
    (user, device, from): (&str, u16, &Jid),
    to: &Jid,
    target: &str,
    ids: &[String],
    node: &Node,
) {
    let Some(id) = ids.first().cloned() else {
        return;
    };
    if to.device_id() != 0 {
        let mut out = Node::new("receipt")
            .attr("from", from.clone())
            .attr("id", id.as_str())
            .attr("type", "retry")
            .attr("t", stanza::now_unix())
            .children(node.get_children().iter().cloned());
        if let Some(recipient) = node.get_attr("recipient") {
            out = out.attr("recipient", recipient.clone());
        }
        s.deliver(target, to.device_id(), out);
        return;
    }
    let Some(phone) = s
        .accounts
        .get(target)
        .map(|a| Phone::of(&conn.ctx.state, a))
    else {
        return;
    };
    let (user, receipt) = (user.to_owned(), node.clone());
    tokio::spawn(async move {
        match phone.resend(&user, device, &id, &receipt).await {
            Ok(resent) => tracing::debug!(%id, resent, "retry receipt from {user}:{device}"),
            Err(e) => tracing::warn!(%id, "resending to {user}:{device} failed: {e}"),
        }
    });
}

pub fn on_ack(conn: &Conn, node: &Node) {
    let Some((user, device, from)) = sender(conn) else {
        return;
    };
    let class = node.attr_str("class").unwrap_or_default().to_owned();
    let Some(id) = node.attr_str("id").map(str::to_owned) else {
        return;
    };
    conn.ctx.state.with(|s| {
        s.acknowledge(&user, device, &class, std::slice::from_ref(&id));
        if let Some(code) = node.attr_str("error") {
            s.stats.nacks += 1;
            s.record_seen(Seen {
                from: from.to_string(),
                to: node.attr_str("to").map(str::to_owned),
                kind: format!("nack {class} {code}"),
                ids: vec![id],
            });
        }
    });
}

pub fn on_chatstate(conn: &Conn, node: &Node) {
    let Some((user, _, from)) = sender(conn) else {
        return;
    };
    let Some(state) = node.get_children().first() else {
        return;
    };
    let to = node.attr_jid("to").ok().flatten();
    let kind = match (state.tag.as_str(), state.attr_str("media")) {
        ("composing", Some("audio")) => "recording".to_owned(),
        (tag, _) => tag.to_owned(),
    };
    conn.ctx.state.with(|s| {
        s.record_seen(Seen {
            from: from.to_string(),
            to: to.as_ref().map(ToString::to_string),
            kind,
            ids: Vec::new(),
        });
        let Some(target) = to
            .as_ref()
            .and_then(|t| s.account_for(t))
            .map(|a| a.user.clone())
        else {
            return;
        };
        let Ok(me) = Jid::pn(user.as_str()) else {
            return;
        };
        let out = Node::new("chatstate").attr("from", me).child(state.clone());
        s.send_live_to_companions(&target, &out);
    });
}

pub async fn on_presence(conn: &mut Conn, node: &Node) -> Result<Next, FakeError> {
    let Some((_, _, from)) = sender(conn) else {
        return Ok(Next::Continue);
    };
    let kind = node.attr_str("type").unwrap_or("available").to_owned();
    let to = node.attr_jid("to").ok().flatten();
    let conn_id = conn.conn_id;
    let reply = conn.ctx.state.with(|s| {
        s.record_seen(Seen {
            from: from.to_string(),
            to: to.as_ref().map(ToString::to_string),
            kind: kind.clone(),
            ids: Vec::new(),
        });
        if kind != "subscribe" {
            return None;
        }
        let (user, available, last) = to
            .as_ref()
            .and_then(|t| s.account_for(t))
            .map(|a| (a.user.clone(), a.available, a.last_seen))?;
        if let Some(live) = s.conns.get_mut(&conn_id)
            && !live.subscriptions.contains(&user)
        {
            live.subscriptions.push(user.clone());
        }
        presence_node(&user, available, last).ok()
    });
    if let Some(reply) = reply {
        conn.send(&reply).await?;
    }
    Ok(Next::Continue)
}
