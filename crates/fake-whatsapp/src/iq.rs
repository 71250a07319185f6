//! Answers to the IQs a client sends after login, plus the companion's `pair-device-sign` reply.
//! Shapes follow what Baileys reads from each response (`Socket/socket.js`, `Socket/chats.js`).

use std::time::Duration;

use whatsapp_binary::{AttrValue, Node};

use crate::prekeys::Bundle;

use crate::conn::{Conn, Next};
use crate::error::FakeError;
use crate::stanza::{self, iq_error, iq_result};
use crate::state::{ConnCommand, Device, device_key};

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
    if (xmlns, kind, first) == ("md", "set", Some("remove-companion-device")) {
        return remove_companion(conn, &id, node).await;
    }
    let reply = match (xmlns, kind, first) {
        ("encrypt", "get", Some("count")) => {
            let count = own_bundle(conn, |b| b.one_time.len()).unwrap_or(0);
            iq_result(&id).child(Node::new("count").attr("value", count))
        }
        ("encrypt", "set", _) => {
            let first = own_bundle(conn, |b| {
                let before = b.uploaded;
                b.apply_upload(node);
                b.uploaded |= node.child_by_tag("list").is_some();
                !before && b.uploaded
            });
            if first == Some(true) {
                start_phone_sync(conn);
            }
            iq_result(&id)
        }
        ("encrypt", "get", Some("key")) => fetch_bundles(conn, &id, node),
        ("encrypt", "get", Some("digest")) => match own_bundle_ref(conn, Bundle::digest_node) {
            Some(Some(digest)) => iq_result(&id).child(digest),
            // No record of this device's keys (WhatsApp Web then uploads them).
            _ => iq_error(&id, 404, "item-not-found"),
        },
        ("passive", "set", Some(tag)) => {
            if tag == "active" {
                // Once the client is active the real server delivers what it kept while the
                // device was away, then marks the end of offline delivery.
                conn.pause().await;
                conn.send(&iq_result(&id)).await?;
                let n = conn.flush(None, true).await?;
                conn.send(&stanza::offline_done(n)).await?;
                return Ok(Next::Continue);
            }
            iq_result(&id)
        }
        ("usync", "get", Some("usync")) => crate::usync::answer(conn, &id, node),
        ("md", "set", Some("link_code_companion_reg")) => crate::link_code::answer(conn, &id, node),
        // App state: the account has none yet, so every collection is empty at version 0.
        ("w:sync:app:state", "set", Some("sync")) => iq_result(&id).child(
            Node::new("sync").children(
                node.child_by_tag("sync")
                    .map(|s| s.children_by_tag("collection").collect::<Vec<_>>())
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|c| c.attr_str("name"))
                    .map(|name| {
                        Node::new("collection")
                            .attr("name", name)
                            .attr("version", "0")
                    }),
            ),
        ),
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
        ("w:m", "set", Some("media_conn")) => conn.ctx.state.media.media_conn_reply(&id),
        _ => iq_error(&id, 501, "feature-not-implemented"),
    };
    conn.pause().await;
    conn.send(&reply).await?;
    Ok(Next::Continue)
}

/// `<iq xmlns="md" type="set"><remove-companion-device jid reason/>`: a companion logs itself
/// (or another companion of its account) out. The server unlinks it, answers, and ends the
/// connection with the logged-out stream error, as it does when the phone removes a device.
async fn remove_companion(conn: &mut Conn, id: &str, node: &Node) -> Result<Next, FakeError> {
    let Some((user, device)) = conn.device.clone() else {
        conn.send(&iq_error(id, 401, "not-authorized")).await?;
        return Ok(Next::Continue);
    };
    let target = node
        .child_by_tag("remove-companion-device")
        .and_then(|r| r.attr_jid("jid").ok().flatten());
    let Some(target) = target.filter(|t| t.user() == user && t.device_id() != 0) else {
        conn.send(&iq_error(id, 403, "forbidden")).await?;
        return Ok(Next::Continue);
    };
    conn.ctx.state.with(|s| s.unlink(&user, target.device_id()));
    conn.send(&iq_result(id)).await?;
    if target.device_id() == device {
        return Ok(Next::StreamError(401));
    }
    // Another companion of the account: its connections are logged out too.
    conn.ctx.state.with(|s| {
        let victim = (user.clone(), target.device_id());
        for live in s.conns.values() {
            if live.device.as_ref() == Some(&victim) {
                let _ = live.commands.send(ConnCommand::Kick(401));
            }
        }
    });
    Ok(Next::Continue)
}

/// A companion's first key upload: its phone shares its app-state sync keys and sends the
/// initial history sync (in the background, in that order; both need the keys just stored).
fn start_phone_sync(conn: &Conn) {
    let Some((user, device)) = conn.device.clone() else {
        return;
    };
    let (key_share, history_sync) = (conn.ctx.app_state_key_share, conn.ctx.history_sync);
    if !key_share && !history_sync {
        return;
    }
    let state = &conn.ctx.state;
    let phone = state.with(|s| s.accounts.get(&user).map(|a| crate::Phone::of(state, a)));
    if let Some(phone) = phone {
        tokio::spawn(async move {
            if key_share && let Err(e) = phone.share_app_state_keys(device, None).await {
                tracing::warn!("app-state key share to {user}:{device} failed: {e}");
            }
            if history_sync && let Err(e) = phone.send_history_sync(device).await {
                tracing::warn!("history sync to {user}:{device} failed: {e}");
            }
        });
    }
}

/// Runs `f` on the logged-in device's own bundle, if the server has one.
fn own_bundle_ref<R>(conn: &Conn, f: impl FnOnce(&Bundle) -> R) -> Option<R> {
    let (user, device) = conn.device.as_ref()?;
    let key = device_key(user, *device);
    conn.ctx.state.with(|s| s.bundles.get(&key).map(f))
}

/// Runs `f` on the logged-in device's own bundle (created on first use).
fn own_bundle<R>(conn: &Conn, f: impl FnOnce(&mut Bundle) -> R) -> Option<R> {
    let (user, device) = conn.device.as_ref()?;
    let key = device_key(user, *device);
    Some(
        conn.ctx
            .state
            .with(|s| f(s.bundles.entry(key).or_default())),
    )
}

/// `<key><user jid=…/>…</key>` → `<list><user jid=…>bundle</user>…</list>`, by phone-number or
/// LID JID: device 0 is an account's scripted phone, other devices serve what the companion
/// uploaded; a device with no bundle gets `<user jid=…><error code="404" text="item-not-found"/></user>`.
fn fetch_bundles(conn: &Conn, id: &str, node: &Node) -> Node {
    let users: Vec<Node> = conn.ctx.state.with(|s| {
        node.child_by_tag("key")
            .map(|k| k.children_by_tag("user").collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|u| {
                let jid = u.attr_jid("jid").ok().flatten()?;
                let attr = AttrValue::Jid(jid.clone());
                let not_found = || {
                    Node::new("user").attr("jid", attr.clone()).child(
                        Node::new("error")
                            .attr("code", "404")
                            .attr("text", "item-not-found"),
                    )
                };
                let Some(account) = s.account_for(&jid) else {
                    return Some(not_found());
                };
                if jid.device_id() == 0 {
                    return Some(account.primary.bundle_node(attr));
                }
                let key = device_key(&account.user.clone(), jid.device_id());
                Some(match s.bundles.get_mut(&key) {
                    Some(bundle) if !bundle.identity.is_empty() => bundle.take_for_fetch(attr),
                    _ => not_found(),
                })
            })
            .collect()
    });
    iq_result(id).child(Node::new("list").children(users))
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
    whatsapp::pairing::verify_device_signature(
        identity,
        &pending.details,
        &pending.device.identity_public,
        &pending.account_public,
    )?;
    let device: Device = pending.device;
    let delay = conn.ctx.state.with(|s| {
        s.bundles
            .insert(device_key(&device.user, device.device), pending.keys);
        s.devices
            .retain(|d| !(d.user == device.user && d.device == device.device));
        s.devices.push(device);
        s.registrations.retain(|r| r.conn_id != conn_id);
        if s.faults.instant_restart {
            Duration::ZERO
        } else {
            conn.ctx.restart_delay
        }
    });
    // Paired: the real server asks the companion to reconnect and log in, a moment later.
    if delay.is_zero() {
        return Ok(Next::StreamError(515));
    }
    let commands = conn
        .ctx
        .state
        .with(|s| s.conns.get(&conn_id).map(|c| c.commands.clone()));
    if let Some(commands) = commands {
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            // The connection may be gone by now; then there is nobody to restart.
            let _ = commands.send(ConnCommand::Kick(515));
        });
    }
    Ok(Next::Continue)
}
