//! `<iq xmlns="usync">`: who is on WhatsApp, their devices (with the key-index list signed by
//! the account key) and their LIDs. Shapes follow Baileys' `WAUSync` protocol parsers
//! (`devices`, `lid`, `contact`, `status`, `disappearing_mode`); other protocols get no element.
//!
//! Facts: `<device-list>` holds `<device id=…>` with `key-index` on every non-zero device;
//! `<key-index-list ts=…>` is an encoded `ADVSignedKeyIndexList` signed by the account key
//! ([`whatsapp::pairing::sign_key_index_list`]).

use whatsapp::pairing::sign_key_index_list;
use whatsapp_binary::{Jid, Node};

use crate::conn::Conn;
use crate::stanza::{self, iq_error, iq_result};
use crate::state::{Account, Inner};

fn devices_node(s: &Inner, account: Option<&Account>) -> Node {
    let Some(account) = account else {
        return Node::new("devices").child(Node::new("device-list"));
    };
    let companions = s.companions_of(&account.user);
    let mut list = vec![Node::new("device").attr("id", "0")];
    list.extend(companions.iter().map(|d| {
        Node::new("device")
            .attr("id", d.device)
            .attr("key-index", d.key_index)
    }));
    let indexes: Vec<u32> = companions.iter().map(|d| d.key_index).collect();
    let now = stanza::now_unix();
    Node::new("devices")
        .child(Node::new("device-list").children(list))
        .child(
            Node::new("key-index-list")
                .attr("ts", now)
                .bytes(sign_key_index_list(
                    &account.key,
                    account.raw_id,
                    &indexes,
                    now,
                )),
        )
}

/// The user a `<user>` element asks about: by `jid`, or by phone number in `<contact>`.
fn requested(user: &Node) -> Option<Jid> {
    if let Ok(Some(jid)) = user.attr_jid("jid") {
        return Some(jid);
    }
    let phone = user.child_by_tag("contact")?.content_bytes()?;
    let digits: String = String::from_utf8_lossy(phone)
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    Jid::pn(digits).ok()
}

pub fn answer(conn: &Conn, id: &str, iq: &Node) -> Node {
    let Some(usync) = iq.child_by_tag("usync") else {
        return iq_error(id, 400, "bad-request");
    };
    let protocols: Vec<String> = usync
        .child_by_tag("query")
        .map(|q| q.get_children().iter().map(|p| p.tag.clone()).collect())
        .unwrap_or_default();
    let users: Vec<Jid> = usync
        .child_by_tag("list")
        .map(|l| l.children_by_tag("user").filter_map(requested).collect())
        .unwrap_or_default();
    let list: Vec<Node> = conn.ctx.state.with(|s| {
        users
            .into_iter()
            .map(|jid| {
                let account = s.account_for(&jid);
                let mut out = Node::new("user").attr("jid", jid.to_user());
                for protocol in &protocols {
                    let child = match (protocol.as_str(), account) {
                        ("devices", a) => Some(devices_node(s, a)),
                        ("lid", Some(a)) => Jid::lid(a.lid_user.as_str())
                            .ok()
                            .map(|lid| Node::new("lid").attr("val", lid)),
                        ("contact", a) => Some(
                            Node::new("contact")
                                .attr("type", if a.is_some() { "in" } else { "out" }),
                        ),
                        ("status", Some(_)) => Some(
                            Node::new("status")
                                .attr("t", stanza::now_unix())
                                .bytes(b"Hey there! I am using WhatsApp.".to_vec()),
                        ),
                        ("disappearing_mode", Some(_)) => Some(
                            Node::new("disappearing_mode")
                                .attr("duration", "0")
                                .attr("t", "0"),
                        ),
                        _ => None,
                    };
                    if let Some(child) = child {
                        out = out.child(child);
                    }
                }
                out
            })
            .collect()
    });
    let mut reply = Node::new("usync")
        .attr("mode", usync.attr_str("mode").unwrap_or("query"))
        .attr(
            "context",
            usync.attr_str("context").unwrap_or("interactive"),
        )
        .attr("index", "0")
        .attr("last", "true");
    if let Some(sid) = usync.attr_str("sid") {
        reply = reply.attr("sid", sid);
    }
    iq_result(id).child(reply.child(Node::new("list").children(list)))
}
