//! Builders for the stanzas the server sends, in the shapes the real server uses.

use std::time::{SystemTime, UNIX_EPOCH};

use whatsapp_binary::{Jid, Node, Server};

pub fn server_jid() -> Jid {
    Jid::server_only(Server::Pn)
}

pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A stream error as the real server words it (facts from whatsmeow's and Baileys' handlers):
/// 515 restart is `code="515"`; logged out is `code="401"` with `<conflict type="device_removed"/>`;
/// replaced (440) is a bare `<conflict type="replaced"/>`, which clients map to 440 themselves.
/// Any other code is sent as `code=…`.
pub fn stream_error(code: u16) -> Node {
    let node = Node::new("stream:error");
    match code {
        401 => node
            .attr("code", code)
            .child(Node::new("conflict").attr("type", "device_removed")),
        440 => node.child(Node::new("conflict").attr("type", "replaced")),
        _ => node.attr("code", code),
    }
}

/// `<iq type="result" id=… from="s.whatsapp.net">`.
pub fn iq_result(id: &str) -> Node {
    Node::new("iq")
        .attr("from", server_jid())
        .attr("type", "result")
        .attr("id", id)
}

/// `<iq type="error">` for requests the fake does not implement, so the client fails fast
/// rather than waiting for a timeout.
pub fn iq_error(id: &str, code: u16, text: &str) -> Node {
    Node::new("iq")
        .attr("from", server_jid())
        .attr("type", "error")
        .attr("id", id)
        .child(Node::new("error").attr("code", code).attr("text", text))
}

/// The server acknowledges every receipt, notification, message and call the client sends:
/// `<ack class=tag id=… from=to [type]>`.
pub fn ack_for(node: &Node) -> Option<Node> {
    let id = node.attr_str("id")?;
    let mut ack = Node::new("ack")
        .attr("class", node.tag.as_str())
        .attr("id", id);
    match node.get_attr("to") {
        Some(to) => ack = ack.attr("from", to.clone()),
        None => ack = ack.attr("from", server_jid()),
    }
    if let Some(kind) = node.attr_str("type") {
        ack = ack.attr("type", kind);
    }
    Some(ack)
}

/// `<ib><offline count="0"/></ib>`: the end of (empty) offline delivery.
pub fn offline_done(count: usize) -> Node {
    Node::new("ib")
        .attr("from", server_jid())
        .child(Node::new("offline").attr("count", count))
}
