//! Who to encrypt a message for: the devices of the recipient and our own other devices, from a
//! `usync` query (`devices` + `lid` protocols), cached for a while per user.
//!
//! Facts (Baileys' `WAUSync`, the fake's usync.rs): the answer lists `<device id key-index>` per
//! user inside `<devices><device-list>`, and the user's LID as `<lid val>`. An empty device list
//! means the number is not on WhatsApp.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use whatsapp_binary::{Jid, Node, Server};

use super::error::ClientError;
use super::session::{Session, lock};

/// How long a device list is trusted without a `devices` notification.
const DEVICE_TTL: Duration = Duration::from_secs(600);
/// Users whose device lists we keep at most (an idle account keeps none).
const MAX_CACHED: usize = 256;

#[derive(Debug, Clone)]
pub struct UserDevices {
    pub devices: Vec<u16>,
    fetched: Instant,
}

#[derive(Debug, Default)]
pub struct DeviceCache {
    users: std::sync::Mutex<HashMap<String, UserDevices>>,
}

impl DeviceCache {
    pub fn forget(&self, user: &str) {
        lock(&self.users).remove(user);
    }

    fn get(&self, user: &str) -> Option<UserDevices> {
        lock(&self.users)
            .get(user)
            .filter(|d| d.fetched.elapsed() < DEVICE_TTL)
            .cloned()
    }

    fn put(&self, user: String, devices: UserDevices) {
        let mut users = lock(&self.users);
        if users.len() >= MAX_CACHED && !users.contains_key(&user) {
            // Evict the oldest entry: cheap at this size, and keeps memory bounded.
            if let Some(oldest) = users
                .iter()
                .min_by_key(|(_, d)| d.fetched)
                .map(|(u, _)| u.clone())
            {
                users.remove(&oldest);
            }
        }
        users.insert(user, devices);
    }
}

/// The device lists of `users` (phone-number users), from the cache or one usync query.
pub(crate) async fn devices_of(
    s: &Session,
    users: &[&str],
) -> Result<HashMap<String, UserDevices>, ClientError> {
    let mut found = HashMap::new();
    let mut missing = Vec::new();
    for user in users {
        match s.devices.get(user) {
            Some(d) => {
                found.insert((*user).to_owned(), d);
            }
            None => missing.push(*user),
        }
    }
    if missing.is_empty() {
        return Ok(found);
    }
    let list = missing
        .iter()
        .map(|u| Jid::pn(*u).map(|jid| Node::new("user").attr("jid", jid)))
        .collect::<Result<Vec<_>, _>>()?;
    let sid = s.conn.next_id();
    let query = Node::new("iq")
        .attr("to", Jid::server_only(Server::Pn))
        .attr("type", "get")
        .attr("xmlns", "usync")
        .child(
            Node::new("usync")
                .attr("sid", sid)
                .attr("mode", "query")
                .attr("last", "true")
                .attr("index", "0")
                .attr("context", "message")
                .child(
                    Node::new("query")
                        .children([Node::new("devices").attr("version", "2"), Node::new("lid")]),
                )
                .child(Node::new("list").children(list)),
        );
    let answer = s.conn.iq(query).await?;
    for (user, devices) in parse_answer(&answer) {
        s.devices.put(user.clone(), devices.clone());
        found.insert(user, devices);
    }
    Ok(found)
}

fn parse_answer(answer: &Node) -> Vec<(String, UserDevices)> {
    let Some(list) = answer.child_by_path(&["usync", "list"]) else {
        return Vec::new();
    };
    list.children_by_tag("user")
        .filter_map(|user| {
            let jid = user.attr_jid("jid").ok().flatten()?;
            let devices = user
                .child_by_path(&["devices", "device-list"])
                .map(|l| {
                    l.children_by_tag("device")
                        .filter_map(|d| d.attr_str("id")?.parse::<u16>().ok())
                        .collect()
                })
                .unwrap_or_default();
            Some((
                jid.user().to_owned(),
                UserDevices {
                    devices,
                    fetched: Instant::now(),
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_devices_and_lids_and_skips_garbage() {
        let answer = Node::new("iq").child(
            Node::new("usync").child(
                Node::new("list").children([
                    Node::new("user")
                        .attr("jid", Jid::pn("15550002222").unwrap())
                        .child(
                            Node::new("devices").child(Node::new("device-list").children([
                                Node::new("device").attr("id", "0"),
                                Node::new("device").attr("id", "3").attr("key-index", "1"),
                                Node::new("device").attr("id", "not a number"),
                            ])),
                        )
                        .child(Node::new("lid").attr("val", Jid::lid("100000000000002").unwrap())),
                    Node::new("user")
                        .attr("jid", Jid::pn("19998887777").unwrap())
                        .child(Node::new("devices").child(Node::new("device-list"))),
                    Node::new("user"),
                ]),
            ),
        );
        let parsed: HashMap<_, _> = parse_answer(&answer).into_iter().collect();
        assert_eq!(parsed["15550002222"].devices, vec![0, 3]);
        assert!(parsed["19998887777"].devices.is_empty());
        assert_eq!(parsed.len(), 2);
    }
}
