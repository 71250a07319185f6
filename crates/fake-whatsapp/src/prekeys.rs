//! The pre-key directory: what each device uploaded (`xmlns="encrypt" type="set"`), handed out
//! one one-time key at a time to whoever fetches its bundle (`<key><user jid=…/></key>`), the
//! way the real server serves X3DH, and summed up for the client's digest check. Shapes follow
//! Baileys' `getNextPreKeysNode` (upload) and `parseAndInjectE2ESessions` (fetch). A paired
//! device's record starts with the keys its registration carried.

use std::collections::VecDeque;

use sha1::{Digest, Sha1};
use whatsapp_binary::Node;

/// A signed pre-key or one-time pre-key as uploaded: raw `id` (3 bytes BE), `value` (32 bytes)
/// and, for the signed one, `signature`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UploadedKey {
    pub id: Vec<u8>,
    pub value: Vec<u8>,
    pub signature: Option<Vec<u8>>,
}

/// Everything a device published for X3DH.
#[derive(Debug, Clone, Default)]
pub struct Bundle {
    pub registration: Vec<u8>,
    pub key_type: Vec<u8>,
    pub identity: Vec<u8>,
    pub signed: Option<UploadedKey>,
    pub one_time: VecDeque<UploadedKey>,
    /// Whether the device has uploaded one-time keys (its first upload starts the phone's sync).
    pub uploaded: bool,
}

fn child_bytes(node: &Node, tag: &str) -> Option<Vec<u8>> {
    node.child_by_tag(tag)?.content_bytes().map(<[u8]>::to_vec)
}

/// A `<key>`/`<skey>` element: `id`, `value` and, for a signed pre-key, `signature`.
pub fn parse_key(node: &Node) -> Option<UploadedKey> {
    Some(UploadedKey {
        id: child_bytes(node, "id")?,
        value: child_bytes(node, "value")?,
        signature: child_bytes(node, "signature"),
    })
}

fn key_node(tag: &str, key: &UploadedKey) -> Node {
    let node = Node::new(tag)
        .child(Node::new("id").bytes(key.id.clone()))
        .child(Node::new("value").bytes(key.value.clone()));
    match &key.signature {
        Some(sig) => node.child(Node::new("signature").bytes(sig.clone())),
        None => node,
    }
}

impl Bundle {
    /// Merges an upload IQ (or a `<rotate>` of the signed pre-key) into the bundle.
    pub fn apply_upload(&mut self, iq: &Node) {
        if let Some(v) = child_bytes(iq, "registration") {
            self.registration = v;
        }
        if let Some(v) = child_bytes(iq, "type") {
            self.key_type = v;
        }
        if let Some(v) = child_bytes(iq, "identity") {
            self.identity = v;
        }
        let signed = iq
            .child_by_tag("skey")
            .or_else(|| iq.child_by_path(&["rotate", "skey"]));
        if let Some(skey) = signed.and_then(parse_key) {
            self.signed = Some(skey);
        }
        if let Some(list) = iq.child_by_tag("list") {
            for key in list.children_by_tag("key").filter_map(parse_key) {
                // A re-upload of an id replaces it rather than duplicating it.
                self.one_time.retain(|k| k.id != key.id);
                self.one_time.push_back(key);
            }
        }
    }

    /// The answer to `<iq xmlns="encrypt" type="get"><digest/>`: what the server holds for this
    /// device, so the client can check it against its own keys (and re-upload on a mismatch).
    /// `None` when there is no record (no identity or signed pre-key yet).
    ///
    /// Facts (whatsapp-rust `wacore/src/iq/prekeys.rs` and `compute_key_bundle_digest`,
    /// restating WhatsApp Web's `WAWebDigestKeyJob` / `validateLocalKeyBundle`):
    /// `<digest><registration/><type/><identity/><skey><id/><value/><signature/></skey>
    /// <list><id/>…</list><hash/></digest>`, where `list` holds the 3-byte ids of the one-time
    /// keys on the server and `hash` = SHA-1(identity ‖ signed pre-key ‖ its signature ‖ each
    /// listed one-time key, in list order).
    pub fn digest_node(&self) -> Option<Node> {
        let signed = self.signed.as_ref()?;
        let signature = signed.signature.as_ref()?;
        if self.identity.is_empty() {
            return None;
        }
        let mut hash = Sha1::new();
        hash.update(&self.identity);
        hash.update(&signed.value);
        hash.update(signature);
        for key in &self.one_time {
            hash.update(&key.value);
        }
        Some(
            Node::new("digest").children([
                Node::new("registration").bytes(self.registration.clone()),
                Node::new("type").bytes(self.key_type.clone()),
                Node::new("identity").bytes(self.identity.clone()),
                key_node("skey", signed),
                Node::new("list").children(
                    self.one_time
                        .iter()
                        .map(|k| Node::new("id").bytes(k.id.clone())),
                ),
                Node::new("hash").bytes(hash.finalize().to_vec()),
            ]),
        )
    }

    /// `<user jid=…>` with the bundle, consuming one one-time key if any is left (the server
    /// never hands the same one-time key out twice).
    pub fn take_for_fetch(&mut self, jid: whatsapp_binary::AttrValue) -> Node {
        let mut user = Node::new("user")
            .attr("jid", jid)
            .child(Node::new("registration").bytes(self.registration.clone()))
            .child(Node::new("type").bytes(self.key_type.clone()))
            .child(Node::new("identity").bytes(self.identity.clone()));
        if let Some(signed) = &self.signed {
            user = user.child(key_node("skey", signed));
        }
        if let Some(one) = self.one_time.pop_front() {
            user = user.child(key_node("key", &one));
        }
        user
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(tag: &str, id: u8, sig: bool) -> Node {
        let n = Node::new(tag)
            .child(Node::new("id").bytes(vec![0, 0, id]))
            .child(Node::new("value").bytes(vec![id; 32]));
        if sig {
            n.child(Node::new("signature").bytes(vec![9; 64]))
        } else {
            n
        }
    }

    #[test]
    fn upload_then_fetch_consumes_one_time_keys_in_order() {
        let upload = Node::new("iq")
            .child(Node::new("registration").bytes(vec![0, 0, 1, 2]))
            .child(Node::new("type").bytes(vec![5]))
            .child(Node::new("identity").bytes(vec![7; 32]))
            .child(Node::new("list").children([key("key", 1, false), key("key", 2, false)]))
            .child(key("skey", 3, true));
        let mut bundle = Bundle::default();
        bundle.apply_upload(&upload);
        bundle.apply_upload(&Node::new("iq").child(Node::new("list").child(key("key", 2, false))));
        assert_eq!(
            bundle.one_time.len(),
            2,
            "re-uploaded id 2 is not duplicated"
        );

        let first = bundle.take_for_fetch("1@s.whatsapp.net".into());
        assert_eq!(
            first.child_by_tag("identity").unwrap().content_bytes(),
            Some(&[7u8; 32][..])
        );
        assert_eq!(
            first
                .child_by_path(&["skey", "signature"])
                .unwrap()
                .content_bytes(),
            Some(&[9u8; 64][..])
        );
        assert_eq!(
            first.child_by_path(&["key", "id"]).unwrap().content_bytes(),
            Some(&[0u8, 0, 1][..])
        );
        let second = bundle.take_for_fetch("1@s.whatsapp.net".into());
        assert_eq!(
            second
                .child_by_path(&["key", "id"])
                .unwrap()
                .content_bytes(),
            Some(&[0u8, 0, 2][..])
        );
        let third = bundle.take_for_fetch("1@s.whatsapp.net".into());
        assert!(third.child_by_tag("key").is_none(), "no one-time key left");
        assert!(third.child_by_tag("skey").is_some());
    }
}
