//! Typing (chat states) and presence, both ways.
//!
//! Facts (Baileys' `sendPresenceUpdate` and `handlePresenceUpdate`; the fake's routing.rs):
//! `<chatstate to><composing/></chatstate>` (`<composing media="audio"/>` = recording,
//! `<paused/>`); `<presence type="available|unavailable" [name]>` for ourselves,
//! `<presence type="subscribe" to>` to follow a contact, who is then reported as
//! `<presence from type [last]>`.

use std::sync::atomic::Ordering;

use whatsapp_binary::{Jid, Node};

use super::error::ClientError;
use super::session::Session;
use crate::events::{ChatState, Event};

pub(crate) fn chatstate_node(to: &Jid, state: ChatState) -> Node {
    let child = match state {
        ChatState::Composing => Node::new("composing"),
        ChatState::Recording => Node::new("composing").attr("media", "audio"),
        ChatState::Paused => Node::new("paused"),
    };
    Node::new("chatstate").attr("to", to.clone()).child(child)
}

/// Shows us typing (or not) in a chat.
pub(crate) fn send_chatstate(s: &Session, to: &Jid, state: ChatState) -> Result<(), ClientError> {
    s.conn.send(chatstate_node(to, state))
}

/// Announces us available or unavailable.
pub(crate) fn send_presence(
    s: &Session,
    available: bool,
    push_name: Option<&str>,
) -> Result<(), ClientError> {
    let mut node = Node::new("presence").attr(
        "type",
        if available {
            "available"
        } else {
            "unavailable"
        },
    );
    if let Some(name) = push_name {
        node = node.attr("name", name);
    }
    s.conn.send(node)?;
    s.online.store(available, Ordering::Relaxed);
    Ok(())
}

/// Follows a contact's presence.
pub(crate) fn subscribe(s: &Session, to: &Jid) -> Result<(), ClientError> {
    s.conn.send(
        Node::new("presence")
            .attr("type", "subscribe")
            .attr("to", to.clone()),
    )
}

pub(crate) fn on_chatstate(s: &Session, node: &Node) {
    let Ok(Some(from)) = node.attr_jid("from") else {
        return;
    };
    let Some(child) = node.get_children().first() else {
        return;
    };
    let state = match (child.tag.as_str(), child.attr_str("media")) {
        ("composing", Some("audio")) => ChatState::Recording,
        ("composing", _) => ChatState::Composing,
        ("paused", _) => ChatState::Paused,
        _ => return,
    };
    s.emit(Event::Typing {
        chat: from.to_user().to_string(),
        state,
    });
}

pub(crate) fn on_presence(s: &Session, node: &Node) {
    let Ok(Some(from)) = node.attr_jid("from") else {
        return;
    };
    if s.is_me(&from) {
        return;
    }
    let available = node.attr_str("type").is_none_or(|t| t == "available");
    s.emit(Event::Presence {
        chat: from.to_user().to_string(),
        available,
        last_seen: node.attr_str("last").and_then(|l| l.parse().ok()),
    });
}
