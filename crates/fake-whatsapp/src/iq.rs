//! Answers to the IQs a client sends after login, plus the companion's `pair-device-sign` reply.
//! Shapes follow what Baileys reads from each response (`Socket/socket.js`, `Socket/chats.js`).

use whatsapp_binary::Node;

use crate::conn::{Conn, Next};
use crate::error::FakeError;
use crate::pairing;
use crate::stanza::{self, iq_error, iq_result};
use crate::state::{Device, device_key};

pub async fn handle(conn: &mut Conn, node: &Node) -> Result<Next, FakeError> {
    let id = node.attr_str("id").unwrap_or_default().to_owned();
    let kind = node.attr_str("type").unwrap_or_default();
    if kind == "result" || kind == "error" {
        if node.child_by_tag("pair-device-sign").is_some() {
            return pair_device_sign(conn, node).await;
        }
        // Replies to our own IQs (e.g. the pair-device acknowledgement) need nothing.
        return Ok(Next::Continue);
    }
    let xmlns = node.attr_str("xmlns").unwrap_or_default();
    let first = node.get_children().first().map(|c| c.tag.as_str());
    let mut after: Option<Node> = None;
    let reply = match (xmlns, kind, first) {
        ("encrypt", "get", Some("count")) => {
            let count = own_prekeys(conn).map(|v| v.len()).unwrap_or(0);
            iq_result(&id).child(Node::new("count").attr("value", count))
        }
        ("encrypt", "set", _) if node.child_by_tag("list").is_some() => {
            store_prekeys(conn, node);
            iq_result(&id)
        }
        ("encrypt", "set", Some("rotate")) => iq_result(&id),
        ("encrypt", "get", Some("digest")) => iq_result(&id).child(Node::new("digest")),
        ("passive", "set", Some(tag)) => {
            if tag == "active" {
                // The real server finishes offline delivery once the client is active.
                after = Some(stanza::offline_done(0));
            }
            iq_result(&id)
        }
        ("abt", "get", _) => iq_result(&id).child(
            Node::new("props")
                .attr("protocol", "1")
                .attr("hash", "fake-props-1"),
        ),
        ("privacy", "get", _) => iq_result(&id).child(
            Node::new("privacy").children(
                [
                    "last",
                    "online",
                    "profile",
                    "status",
                    "readreceipts",
                    "groupadd",
                ]
                .into_iter()
                .map(|name| {
                    Node::new("category")
                        .attr("name", name)
                        .attr("value", "all")
                }),
            ),
        ),
        ("privacy", "set", _) => iq_result(&id),
        ("blocklist", "get", _) => iq_result(&id).child(Node::new("list")),
        ("w:p", _, _) => iq_result(&id),
        _ => iq_error(&id, 501, "feature-not-implemented"),
    };
    conn.send(&reply).await?;
    if let Some(after) = after {
        conn.send(&after).await?;
    }
    Ok(Next::Continue)
}

fn own_prekeys(conn: &Conn) -> Option<Vec<u32>> {
    let (user, device) = conn.device.as_ref()?;
    let key = device_key(user, *device);
    conn.ctx.state.with(|s| s.prekeys.get(&key).cloned())
}

/// Keeps the ids of uploaded one-time pre-keys (`<list><key><id>3-byte BE</id>…`).
fn store_prekeys(conn: &Conn, node: &Node) {
    let Some((user, device)) = conn.device.as_ref() else {
        return;
    };
    let ids: Vec<u32> = node
        .child_by_tag("list")
        .map(|list| {
            list.children_by_tag("key")
                .filter_map(|k| k.child_by_tag("id")?.content_bytes())
                .map(|b| b.iter().fold(0u32, |acc, &x| (acc << 8) | u32::from(x)))
                .collect()
        })
        .unwrap_or_default();
    let key = device_key(user, *device);
    conn.ctx
        .state
        .with(|s| s.prekeys.entry(key).or_default().extend(ids));
}

async fn pair_device_sign(conn: &mut Conn, node: &Node) -> Result<Next, FakeError> {
    let conn_id = conn.conn_id;
    let pending = conn
        .ctx
        .state
        .with(|s| s.pending.remove(&conn_id))
        .ok_or(FakeError::Pairing(
            "pair-device-sign without a pair-success",
        ))?;
    if node.attr_str("id") != Some(pending.iq_id.as_str()) {
        return Err(FakeError::Pairing("pair-device-sign answers another iq id"));
    }
    let identity = node
        .child_by_path(&["pair-device-sign", "device-identity"])
        .and_then(Node::content_bytes)
        .ok_or(FakeError::Pairing("pair-device-sign lacks device-identity"))?;
    pairing::verify_device_signature(
        identity,
        &pending.details,
        &pending.device.identity_public,
        &pending.account_public,
    )?;
    let device: Device = pending.device;
    conn.ctx.state.with(|s| {
        s.devices
            .retain(|d| !(d.user == device.user && d.device == device.device));
        s.devices.push(device);
        s.registrations.retain(|r| r.conn_id != conn_id);
    });
    // Paired: the real server asks the companion to reconnect and log in.
    Ok(Next::StreamError(515))
}
