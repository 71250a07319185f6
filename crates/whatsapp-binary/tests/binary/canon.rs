//! A codec-neutral view of a decoded tree, so trees from two implementations can be compared
//! field by field (and a mismatch prints readably).

use whatsapp_binary::{AttrValue, Content, Node};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CValue {
    Text(String),
    Jid {
        user: String,
        server: String,
        device: u16,
        integrator: u16,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CContent {
    None,
    Bytes(Vec<u8>),
    Nodes(Vec<CNode>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CNode {
    pub tag: String,
    pub attrs: Vec<(String, CValue)>,
    pub content: CContent,
}

/// Our node as the wire carries it: an empty child list is sent as no content.
pub fn from_ours(node: &Node) -> CNode {
    CNode {
        tag: node.tag.clone(),
        attrs: node
            .attrs
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    AttrValue::Text(t) => CValue::Text(t.clone()),
                    AttrValue::Jid(j) => CValue::Jid {
                        user: j.user().to_owned(),
                        server: j.server().as_str().to_owned(),
                        device: j.device_id(),
                        integrator: j.integrator(),
                    },
                };
                (k.clone(), value)
            })
            .collect(),
        content: match &node.content {
            Content::None => CContent::None,
            Content::Nodes(c) if c.is_empty() => CContent::None,
            Content::Bytes(b) => CContent::Bytes(b.clone()),
            Content::Nodes(c) => CContent::Nodes(c.iter().map(from_ours).collect()),
        },
    }
}
