//! Outgoing text messages: the outbox loop, fan-out to every device of the recipient and to our
//! own other devices, and the server's ack.
//!
//! Order of durability: the Signal session changes that encrypting causes, and the message's
//! attempt counter, are committed *before* the stanza is written; a crash after the write then
//! re-sends the same message id with a fresh ratchet step (recipients keep one copy per id),
//! and never re-uses a message key.
//!
//! Facts (Baileys' `relayMessage`; the fake's routing.rs): `<message id to type="text">
//! <participants><to jid=device><enc v="2" type="pkmsg|msg"/></to>…</participants>
//! [<device-identity/>]</message>`; own devices get `Message{deviceSentMessage{destinationJid,
//! message}}`; `<device-identity>` (our signed ADV identity) accompanies any `pkmsg`. The server
//! answers `<ack class="message" id>` (with `error` when it refuses); a single device is
//! addressed directly (`to` = the device, `<enc>` under the message) when re-sending on a retry.

use std::sync::Arc;

use prost::Message as _;
use rand_core::OsRng;
use signal::prekeys::PreKeyBundle;
use tokio::time::timeout;
use whatsapp_binary::{Jid, Node, Server};

use super::error::ClientError;
use super::prekeys;
use super::session::{Ack, Session, now_unix};
use super::usync;
use crate::events::Event;
use crate::keys::{StagedKeys, address_of};
use crate::proto::Message;
use crate::proto::message::DeviceSentMessage;
use crate::store::{Commit, MessageStatus, Outgoing, StatusChange};

/// Why a message cannot be sent at all (it is marked failed with this reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undeliverable {
    BadNumber,
    NotOnWhatsApp,
    NoUsableDevice,
    /// The store refused the send attempt ([`crate::store::SendRefused`]), e.g. an opt-out.
    Refused(&'static str),
}

impl Undeliverable {
    fn reason(&self) -> &'static str {
        match self {
            Self::BadNumber => "invalid_number",
            Self::NotOnWhatsApp => "not_on_whatsapp",
            Self::NoUsableDevice => "no_usable_device",
            Self::Refused(reason) => reason,
        }
    }
}

#[derive(Debug)]
pub(crate) enum SendError {
    Undeliverable(Undeliverable),
    /// The connection or the store failed: try again later.
    Transient(ClientError),
}

impl From<ClientError> for SendError {
    fn from(e: ClientError) -> Self {
        Self::Transient(e)
    }
}

/// The phone-number JID for an E.164 number.
pub fn jid_for_phone(phone: &str) -> Option<Jid> {
    let digits = phone.strip_prefix('+').unwrap_or(phone);
    if digits.len() < 6 || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Jid::pn(digits).ok()
}

fn text_message(text: &str) -> Message {
    Message {
        conversation: Some(text.to_owned()),
        ..Default::default()
    }
}

/// What goes out for a queued message: its media (with the caption) when the store has one for
/// it, else its text; and the `mediatype` the stanza announces for media.
async fn content_for(
    s: &Session,
    out: &Outgoing,
) -> Result<(Message, Option<&'static str>), ClientError> {
    let media = s
        .store
        .outgoing_media(&out.message_id)
        .await
        .map_err(ClientError::store)?;
    Ok(match media {
        Some(media) => (media.to_message(), Some(media.enc_mediatype())),
        None => (text_message(&out.text), None),
    })
}

fn enc_node(ciphertext: &signal::CiphertextMessage, mediatype: Option<&str>) -> Node {
    Node::new("enc")
        .attr("v", "2")
        .attr("type", ciphertext.enc_type())
        .attr_opt("mediatype", mediatype)
        .bytes(ciphertext.bytes().to_vec())
}

/// The stanza `type`: `media` for media messages, as WhatsApp Web sends them.
fn stanza_type(mediatype: Option<&str>) -> &'static str {
    if mediatype.is_some() { "media" } else { "text" }
}

/// Encrypts `message` for every device of `to` and our other devices, commits the key changes
/// and the attempt, and writes the stanza. Returns a receiver for the server's ack.
async fn fan_out(
    s: &Session,
    message_id: &str,
    to: &Jid,
    message: &Message,
    mediatype: Option<&'static str>,
) -> Result<tokio::sync::oneshot::Receiver<Ack>, SendError> {
    let me_user = s.my_user().to_owned();
    let lists = usync::devices_of(s, &[to.user(), &me_user]).await?;
    let theirs = lists
        .get(to.user())
        .map(|d| d.devices.clone())
        .unwrap_or_default();
    if theirs.is_empty() {
        return Err(SendError::Undeliverable(Undeliverable::NotOnWhatsApp));
    }
    let own: Vec<u16> = lists
        .get(&me_user)
        .map(|d| d.devices.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|d| *d != s.me.device_id())
        .collect();
    let mut targets: Vec<(Jid, bool)> = Vec::new();
    for d in theirs {
        targets.push((
            Jid::device(to.user(), Server::Pn, d).map_err(ClientError::from)?,
            false,
        ));
    }
    for d in own {
        targets.push((
            Jid::device(me_user.as_str(), Server::Pn, d).map_err(ClientError::from)?,
            true,
        ));
    }

    // Which devices need a session first? Checked under the lock, bundles fetched outside it.
    let lacking: Vec<Jid> = {
        let creds = s.creds.lock().await;
        let keys = StagedKeys::new(&*s.store, &creds);
        let names: Vec<String> = targets
            .iter()
            .map(|(j, _)| address_of(j).to_string())
            .collect();
        keys.preload(crate::store::KeyKind::Session, &names)
            .await
            .map_err(ClientError::from)?;
        let mut lacking = Vec::new();
        for (jid, _) in &targets {
            if !keys
                .has_session(&address_of(jid))
                .await
                .map_err(ClientError::from)?
            {
                lacking.push(jid.clone());
            }
        }
        lacking
    };
    let bundles = prekeys::fetch_bundles(s, &lacking).await?;

    let dsm = Message {
        device_sent_message: Some(Box::new(DeviceSentMessage {
            destination_jid: Some(to.to_string()),
            message: Some(Box::new(message.clone())),
            phash: None,
        })),
        ..Default::default()
    };
    let plain_theirs = message.encode_to_vec();
    let plain_own = dsm.encode_to_vec();

    let creds = s.creds.lock().await;
    let keys = StagedKeys::new(&*s.store, &creds);
    for (jid, bundle) in &bundles {
        let address = address_of(jid);
        // Another task may have started a session meanwhile; keep it.
        if keys
            .has_session(&address)
            .await
            .map_err(ClientError::from)?
        {
            continue;
        }
        if let Err(e) = bundle.verify() {
            tracing::warn!(device = %jid, error = %e, "skipping a device whose bundle does not verify");
            continue;
        }
        signal::process_bundle(&keys, &address, bundle, &mut OsRng)
            .await
            .map_err(ClientError::from)?;
    }
    let mut participants = Vec::new();
    let mut any_pre_key = false;
    let mut reached_recipient = false;
    for (jid, own) in &targets {
        let address = address_of(jid);
        if !keys
            .has_session(&address)
            .await
            .map_err(ClientError::from)?
        {
            continue; // no bundle on the server: nobody can message that device yet
        }
        let plain = if *own { &plain_own } else { &plain_theirs };
        let ciphertext = signal::encrypt(&keys, &address, &crate::padding::pad(plain.clone()))
            .await
            .map_err(ClientError::from)?;
        any_pre_key |= matches!(ciphertext, signal::CiphertextMessage::PreKey(_));
        reached_recipient |= !own;
        participants.push(
            Node::new("to")
                .attr("jid", jid.clone())
                .child(enc_node(&ciphertext, mediatype)),
        );
    }
    if !reached_recipient {
        return Err(SendError::Undeliverable(Undeliverable::NoUsableDevice));
    }
    // Nothing has been written to the socket yet: a refusal (the recipient opted out since the
    // message was queued) fails this message only, and the key changes are dropped with it.
    s.store
        .commit(Commit {
            keys: keys.take_writes(),
            attempts: vec![message_id.to_owned()],
            ..Commit::default()
        })
        .await
        .map_err(|e| match e.downcast_ref::<crate::store::SendRefused>() {
            Some(refused) => SendError::Undeliverable(Undeliverable::Refused(refused.reason)),
            None => SendError::Transient(ClientError::store(e)),
        })?;
    let identity = creds.me.as_ref().map(|m| m.account.encode_to_vec());
    drop(creds);

    let mut stanza = Node::new("message")
        .attr("id", message_id)
        .attr("to", to.clone())
        .attr("type", stanza_type(mediatype))
        .child(Node::new("participants").children(participants));
    if any_pre_key && let Some(identity) = identity {
        stanza = stanza.child(Node::new("device-identity").bytes(identity));
    }
    let ack = s.await_ack(message_id);
    if let Err(e) = s.conn.send(stanza) {
        s.forget_ack(message_id);
        return Err(e.into());
    }
    Ok(ack)
}

/// Re-encrypts one of our messages for a single device that could not decrypt it (its retry
/// receipt), starting a new session from the keys it sent when there are any.
pub(crate) async fn resend_to_device(
    s: &Session,
    out: &Outgoing,
    device: &Jid,
    bundle: Option<PreKeyBundle>,
) -> Result<(), ClientError> {
    let own = s.is_me(device);
    let Some(to) = jid_for_phone(&out.phone) else {
        return Ok(());
    };
    let (message, mediatype) = content_for(s, out).await?;
    let plain = if own {
        Message {
            device_sent_message: Some(Box::new(DeviceSentMessage {
                destination_jid: Some(to.to_string()),
                message: Some(Box::new(message)),
                phash: None,
            })),
            ..Default::default()
        }
    } else {
        message
    }
    .encode_to_vec();
    let address = address_of(device);
    let creds = s.creds.lock().await;
    let keys = StagedKeys::new(&*s.store, &creds);
    let bundle = match bundle {
        Some(b) => Some(b),
        None if !keys.has_session(&address).await? => {
            drop(creds);
            let fetched = prekeys::fetch_bundles(s, std::slice::from_ref(device)).await?;
            return match fetched.into_iter().next() {
                Some((_, b)) => Box::pin(resend_to_device(s, out, device, Some(b))).await,
                None => Ok(()),
            };
        }
        None => None,
    };
    if let Some(bundle) = &bundle {
        bundle.verify()?;
        signal::process_bundle(&keys, &address, bundle, &mut OsRng).await?;
    }
    let ciphertext = signal::encrypt(&keys, &address, &crate::padding::pad(plain)).await?;
    s.store
        .commit(Commit {
            keys: keys.take_writes(),
            ..Commit::default()
        })
        .await
        .map_err(ClientError::store)?;
    let identity = creds.me.as_ref().map(|m| m.account.encode_to_vec());
    drop(creds);
    let mut stanza = Node::new("message")
        .attr("id", out.message_id.as_str())
        .attr("to", device.clone())
        .attr("type", stanza_type(mediatype))
        .child(enc_node(&ciphertext, mediatype));
    if matches!(ciphertext, signal::CiphertextMessage::PreKey(_))
        && let Some(identity) = identity
    {
        stanza = stanza.child(Node::new("device-identity").bytes(identity));
    }
    s.conn.send(stanza)
}

async fn record_status(
    s: &Session,
    message_id: &str,
    status: MessageStatus,
    reason: Option<String>,
) -> Result<(), ClientError> {
    let report = s
        .store
        .commit(Commit {
            statuses: vec![StatusChange {
                message_id: message_id.to_owned(),
                status,
                reason: reason.clone(),
                at: now_unix(),
            }],
            ..Commit::default()
        })
        .await
        .map_err(ClientError::store)?;
    for (id, status) in report.statuses {
        s.emit(Event::Status {
            message_id: id,
            status,
            reason: reason.clone(),
        });
    }
    Ok(())
}

/// Sends one queued message and waits for the server's ack. `Ok(false)` = no ack in time (it
/// stays queued and goes out again with the same id).
async fn send_one(s: &Session, out: &Outgoing) -> Result<bool, ClientError> {
    let Some(to) = jid_for_phone(&out.phone) else {
        record_status(
            s,
            &out.message_id,
            MessageStatus::Failed,
            Some(Undeliverable::BadNumber.reason().into()),
        )
        .await?;
        return Ok(true);
    };
    let (message, mediatype) = content_for(s, out).await?;
    let ack = match fan_out(s, &out.message_id, &to, &message, mediatype).await {
        Ok(ack) => ack,
        Err(SendError::Undeliverable(why)) => {
            record_status(
                s,
                &out.message_id,
                MessageStatus::Failed,
                Some(why.reason().into()),
            )
            .await?;
            return Ok(true);
        }
        Err(SendError::Transient(e)) => return Err(e),
    };
    match timeout(s.config.timing.ack_timeout, ack).await {
        Ok(Ok(Ack::Ok)) => {
            record_status(s, &out.message_id, MessageStatus::Sent, None).await?;
            Ok(true)
        }
        Ok(Ok(Ack::Error(code))) => {
            let reason = match code.as_str() {
                "463" => {
                    "refused_by_whatsapp: account restricted or new-contact limit (463)".to_owned()
                }
                other => format!("refused_by_whatsapp ({other})"),
            };
            record_status(s, &out.message_id, MessageStatus::Failed, Some(reason)).await?;
            Ok(true)
        }
        Ok(Err(_)) => Err(ClientError::NotConnected),
        Err(_) => {
            s.forget_ack(&out.message_id);
            tracing::info!(id = %out.message_id, "no server ack in time; the message stays queued");
            Ok(false)
        }
    }
}

/// Sends what is queued, oldest first, one message at a time; then waits to be woken. Ends when
/// the connection or the store fails (the account reconnects and starts it again).
pub(crate) async fn outbox_loop(s: Arc<Session>) {
    let max_attempts = s.config.timing.max_send_attempts;
    loop {
        let queued = match s.store.queued_outgoing(32).await {
            Ok(q) => q,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the outbox; reconnecting");
                s.conn
                    .close(super::disconnect::Disconnect::StoreUnavailable);
                return;
            }
        };
        if queued.is_empty() {
            s.outbox.notified().await;
            continue;
        }
        let mut progressed = false;
        for out in &queued {
            if out.attempts >= max_attempts {
                let reason = format!(
                    "not_acknowledged: no answer from WhatsApp after {max_attempts} attempts"
                );
                if let Err(e) =
                    record_status(&s, &out.message_id, MessageStatus::Failed, Some(reason)).await
                {
                    tracing::warn!(error = %e, "cannot record a failed message");
                    return;
                }
                progressed = true;
                continue;
            }
            // Boxed: this task idles in `notified()` for most of its life; encrypting and
            // fanning out need a large future only while a message goes out.
            match Box::pin(send_one(&s, out)).await {
                Ok(done) => progressed |= done,
                Err(e) => {
                    tracing::info!(error = %e, "sending stopped; it resumes after reconnecting");
                    return;
                }
            }
        }
        if !progressed {
            // Everything timed out: give the server a moment before the next round.
            tokio::time::sleep(s.config.timing.backoff_min).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_map_to_jids_and_junk_does_not() {
        assert_eq!(
            jid_for_phone("+15550002222").unwrap().to_string(),
            "15550002222@s.whatsapp.net"
        );
        assert!(jid_for_phone("+1555").is_none());
        assert!(jid_for_phone("+1555000222x").is_none());
        assert!(jid_for_phone("").is_none());
    }
}
