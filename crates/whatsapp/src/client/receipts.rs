//! Receipts: the ones contacts send about our messages (delivered, read, played, retry), stored
//! before they are acknowledged, and the read receipts we send.
//!
//! Facts (Baileys' `handleReceipt`, PROTOCOL_NOTES.md): `<receipt from id [type] [t]>` with more
//! ids in `<list><item id/></list>`; no type = delivered, `inactive` = delivered to a device that
//! was not online, `read`, `played` (voice notes; a read too); `sender`/`read-self`/`peer_msg`/
//! `hist_sync` come from our own devices; `retry` asks us to encrypt a message again
//! (`<retry count id/>`, `<registration>`, and from the second retry on `<keys>`).

use whatsapp_binary::{Jid, Node};

use super::error::ClientError;
use super::prekeys::parse_bundle;
use super::send;
use super::session::{Session, now_unix};
use crate::events::Event;
use crate::store::{Commit, MessageStatus, StatusChange};

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

pub(crate) async fn handle_receipt(s: &Session, node: &Node) -> Result<(), ClientError> {
    let from = node.attr_jid("from").ok().flatten();
    let kind = node.attr_str("type");
    let status = match kind {
        None | Some("inactive") => Some(MessageStatus::Delivered),
        Some("read" | "played") => Some(MessageStatus::Read),
        _ => None,
    };
    // Receipts from our own devices say nothing about the contact's side.
    let from_contact = from.as_ref().is_some_and(|f| !s.is_me(f));
    if let (Some(status), true) = (status, from_contact) {
        let at = node.attr_u64("t").ok().flatten().unwrap_or_else(now_unix);
        let statuses = receipt_ids(node)
            .into_iter()
            .map(|message_id| StatusChange {
                message_id,
                status,
                reason: None,
                at,
            })
            .collect();
        let report = s
            .store
            .commit(Commit {
                statuses,
                ..Commit::default()
            })
            .await
            .map_err(ClientError::store)?;
        for (message_id, status) in report.statuses {
            s.emit(Event::Status {
                message_id,
                status,
                reason: None,
            });
        }
    }
    if kind == Some("retry")
        && let Some(from) = &from
        && let Err(e) = resend_on_retry(s, node, from).await
    {
        tracing::warn!(error = %e, "could not re-send a message a contact asked for again");
    }
    s.ack(node);
    Ok(())
}

async fn resend_on_retry(s: &Session, node: &Node, from: &Jid) -> Result<(), ClientError> {
    let Some(id) = node
        .child_by_tag("retry")
        .and_then(|r| r.attr_str("id"))
        .or_else(|| node.attr_str("id"))
    else {
        return Ok(());
    };
    let Some(out) = s.store.outgoing(id).await.map_err(ClientError::store)? else {
        return Ok(()); // not one of ours (sent from the phone): the phone answers it
    };
    let registration = node
        .child_by_tag("registration")
        .and_then(Node::content_bytes);
    let bundle = node
        .child_by_tag("keys")
        .and_then(|k| parse_bundle(k, registration, from.device_id()));
    send::resend_to_device(s, &out, from, bundle).await
}

/// `<receipt type="read" id to>` (more ids in `<list>`) for messages in a chat.
pub(crate) fn read_receipt(chat: &Jid, ids: &[String]) -> Option<Node> {
    let (first, rest) = ids.split_first()?;
    let mut node = Node::new("receipt")
        .attr("id", first.as_str())
        .attr("to", chat.clone())
        .attr("type", "read")
        .attr("t", now_unix());
    if !rest.is_empty() {
        node = node.child(
            Node::new("list").children(
                rest.iter()
                    .map(|id| Node::new("item").attr("id", id.as_str())),
            ),
        );
    }
    Some(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_receipts_list_every_id_once() {
        let chat = Jid::pn("15550002222").unwrap();
        assert!(read_receipt(&chat, &[]).is_none());
        let node = read_receipt(&chat, &["A".into(), "B".into(), "C".into()]).unwrap();
        assert_eq!(receipt_ids(&node), ["A", "B", "C"]);
        assert_eq!(node.attr_str("type"), Some("read"));
    }
}
