//! Cross-check against an independent implementation: wacore-binary 0.7.0 (MIT,
//! crates.io, the codec of whatsapp-rust), in both directions, on thousands of generated
//! trees.
//!
//! Trees are compared, not bytes: both codecs pick among valid encodings (e.g. our hosted
//! JIDs always use AD_JID while wacore writes JID_PAIR for device 0; wacore writes `msgr`
//! JIDs as JID_PAIR where we use FB_JID), so byte equality would test style, not meaning.
//!
//! Two wacore *encoder* behaviours are lossy and are kept out of the theirs→ours direction
//! (not out of ours→theirs): it writes a `msgr` JID's device nowhere (JID_PAIR), and it writes
//! an interop JID with an integrator as INTEROP_JID without the trailing server that its own
//! decoder (and ours, and whatsmeow's) then requires. It also re-reads any text containing `@`
//! as a JID, so text from that generator has no `@`.

use proptest::prelude::*;
use wacore_binary::jid::Server as TheirServer;
use wacore_binary::marshal::{marshal, unmarshal_ref};
use wacore_binary::node::{
    Attrs as TheirAttrs, Node as TheirNode, NodeContent as TheirContent,
    NodeContentRef as TheirContentRef, NodeRef as TheirNodeRef, NodeValue as TheirValue,
    ValueRef as TheirValueRef,
};
use whatsapp_binary::{AttrValue, Content, Jid, Node, pack, unpack};

use crate::canon::{CContent, CNode, CValue, from_ours};
use crate::generators::{self, OURS, PEERS};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 2_000,
        ..ProptestConfig::default()
    }
}

/// Their decoded tree in the neutral form. String content (a token or packed value in
/// content position) becomes bytes of its text, which is how our decoder reads it too.
fn from_theirs(node: &TheirNodeRef<'_>) -> CNode {
    CNode {
        tag: node.tag.to_string(),
        attrs: node
            .attrs
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    TheirValueRef::String(s) => CValue::Text(s.to_string()),
                    TheirValueRef::Jid(j) => CValue::Jid {
                        user: j.user.to_string(),
                        server: j.server.as_str().to_owned(),
                        device: j.device,
                        integrator: j.integrator,
                    },
                };
                (k.to_string(), value)
            })
            .collect(),
        content: match &node.content {
            None => CContent::None,
            Some(TheirContentRef::Bytes(b)) => CContent::Bytes(b.to_vec()),
            Some(TheirContentRef::String(s)) => CContent::Bytes(s.as_bytes().to_vec()),
            Some(TheirContentRef::Nodes(n)) => CContent::Nodes(n.iter().map(from_theirs).collect()),
        },
    }
}

fn their_jid(jid: &Jid) -> wacore_binary::Jid {
    let server = TheirServer::parse_known(jid.server().as_str())
        .unwrap_or_else(|| panic!("wacore lacks server {}", jid.server()));
    wacore_binary::Jid {
        user: jid.user().into(),
        server,
        agent: 0,
        device: jid.device_id(),
        integrator: jid.integrator(),
    }
}

/// The same tree built with wacore's types.
fn to_theirs(node: &Node) -> TheirNode {
    let mut attrs = TheirAttrs::new();
    for (k, v) in &node.attrs {
        let value = match v {
            AttrValue::Text(t) => TheirValue::String(t.as_str().into()),
            AttrValue::Jid(j) => TheirValue::Jid(their_jid(j)),
        };
        attrs.push(k.clone(), value);
    }
    let content = match &node.content {
        Content::None => None,
        Content::Bytes(b) => Some(TheirContent::Bytes(b.clone())),
        Content::Nodes(c) => Some(TheirContent::Nodes(c.iter().map(to_theirs).collect())),
    };
    TheirNode::new(node.tag.clone(), attrs, content)
}

proptest! {
    #![proptest_config(config())]

    /// Our bytes, decoded by wacore, give the tree we encoded.
    #[test]
    fn our_bytes_decode_with_wacore_to_the_same_tree(node in generators::node(OURS)) {
        let payload = pack(&node).expect("generated nodes are encodable");
        prop_assert_eq!(payload[0], 0, "flag byte");
        let theirs = unmarshal_ref(&payload[1..])
            .map_err(|e| TestCaseError::fail(format!("wacore rejected our bytes: {e:?}\n{node}")))?;
        prop_assert_eq!(from_theirs(&theirs), from_ours(&node));
    }

    /// wacore's bytes, decoded by us, give the tree they encoded.
    #[test]
    fn wacore_bytes_decode_with_ours_to_the_same_tree(node in generators::node(PEERS)) {
        let payload = marshal(&to_theirs(&node)).expect("wacore encodes the tree");
        let ours = unpack(&payload)
            .map_err(|e| TestCaseError::fail(format!("we rejected wacore's bytes: {e}\n{node}")))?;
        prop_assert_eq!(from_ours(&ours), from_ours(&node));
    }

    /// Text in content position: wacore writes it as a token, packed or raw string; we read
    /// the same text back as bytes.
    #[test]
    fn wacore_string_content_decodes_as_its_text(text in generators::text(PEERS)) {
        let theirs = TheirNode::new("body", TheirAttrs::new(), Some(TheirContent::String(text.as_str().into())));
        let payload = marshal(&theirs).expect("wacore encodes the node");
        let ours = unpack(&payload).map_err(|e| TestCaseError::fail(format!("{e}: {text:?}")))?;
        let expected = if text.is_empty() { Content::Bytes(Vec::new()) } else { Content::Bytes(text.into_bytes()) };
        prop_assert_eq!(ours.content, expected);
    }
}

#[test]
fn large_lists_and_lengths_agree_both_ways() {
    // LIST_16 (300 children) and BINARY_32 (1 MiB + 1) are too big for the generators.
    let node = Node::new("list")
        .children((0..300).map(|i| Node::new("item").attr("n", i as u64)))
        .child(Node::new("blob").bytes(vec![0x5A; (1 << 20) + 1]));
    let ours = pack(&node).expect("encodes");
    let theirs = unmarshal_ref(&ours[1..]).expect("wacore decodes our LIST_16/BINARY_32");
    assert_eq!(from_theirs(&theirs), from_ours(&node));
    let their_bytes = marshal(&to_theirs(&node)).expect("wacore encodes");
    assert_eq!(
        from_ours(&unpack(&their_bytes).expect("we decode theirs")),
        from_ours(&node)
    );
}
