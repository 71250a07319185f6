//! The stanza tree: a tag, ordered attributes and optional content.

use std::fmt;

use thiserror::Error;

use crate::jid::Jid;

/// An attribute value: text, or a JID (which the wire encodes in a JID form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue {
    Text(String),
    Jid(Jid),
}

impl From<&str> for AttrValue {
    fn from(s: &str) -> Self {
        AttrValue::Text(s.to_owned())
    }
}
impl From<String> for AttrValue {
    fn from(s: String) -> Self {
        AttrValue::Text(s)
    }
}
impl From<Jid> for AttrValue {
    fn from(jid: Jid) -> Self {
        AttrValue::Jid(jid)
    }
}
impl From<&Jid> for AttrValue {
    fn from(jid: &Jid) -> Self {
        AttrValue::Jid(jid.clone())
    }
}
macro_rules! number_attr {
    ($($t:ty),*) => {$(
        impl From<$t> for AttrValue {
            fn from(n: $t) -> Self {
                AttrValue::Text(n.to_string())
            }
        }
    )*};
}
number_attr!(u8, u16, u32, u64, i32, i64, usize);

impl fmt::Display for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::Text(s) => f.write_str(s),
            AttrValue::Jid(jid) => jid.fmt(f),
        }
    }
}

/// What a node holds besides attributes.
///
/// The wire can also carry content as a token, packed or JID string; the decoder turns those
/// into `Bytes` of their UTF-8 text, since the engine reads such content as text anyway.
/// An empty `Nodes` list is written as "no content" (as every client does), so it decodes
/// as `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Content {
    #[default]
    None,
    Bytes(Vec<u8>),
    Nodes(Vec<Node>),
}

/// A binary XML stanza. Attribute order is kept as built (and as received).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub tag: String,
    pub attrs: Vec<(String, AttrValue)>,
    pub content: Content,
}

/// A required attribute that is missing or not of the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AttrError {
    #[error("<{tag}> has no attribute {key:?}")]
    Missing { tag: String, key: String },
    #[error("<{tag}> attribute {key:?}={value:?} is not a valid {expected}")]
    Invalid {
        tag: String,
        key: String,
        value: String,
        expected: &'static str,
    },
}

impl Node {
    pub fn new(tag: impl Into<String>) -> Node {
        Node {
            tag: tag.into(),
            attrs: Vec::new(),
            content: Content::None,
        }
    }

    /// Builder: set an attribute, replacing an existing one of the same key in place.
    pub fn attr(mut self, key: impl Into<String>, value: impl Into<AttrValue>) -> Node {
        self.set_attr(key, value);
        self
    }

    /// Builder: set an attribute only when `value` is `Some`.
    pub fn attr_opt(self, key: impl Into<String>, value: Option<impl Into<AttrValue>>) -> Node {
        match value {
            Some(value) => self.attr(key, value),
            None => self,
        }
    }

    /// Builder: append one child (turning byte content, if any, into a child list).
    pub fn child(mut self, child: Node) -> Node {
        match &mut self.content {
            Content::Nodes(children) => children.push(child),
            _ => self.content = Content::Nodes(vec![child]),
        }
        self
    }

    /// Builder: replace the content with these children.
    pub fn children(mut self, children: impl IntoIterator<Item = Node>) -> Node {
        self.content = Content::Nodes(children.into_iter().collect());
        self
    }

    /// Builder: replace the content with raw bytes.
    pub fn bytes(mut self, bytes: impl Into<Vec<u8>>) -> Node {
        self.content = Content::Bytes(bytes.into());
        self
    }

    pub fn set_attr(&mut self, key: impl Into<String>, value: impl Into<AttrValue>) {
        let key = key.into();
        let value = value.into();
        match self.attrs.iter_mut().find(|(k, _)| *k == key) {
            Some((_, slot)) => *slot = value,
            None => self.attrs.push((key, value)),
        }
    }

    /// The first attribute named `key`.
    pub fn get_attr(&self, key: &str) -> Option<&AttrValue> {
        self.attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A text attribute (a JID attribute is not text: use [`Node::attr_jid`]).
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        match self.get_attr(key) {
            Some(AttrValue::Text(s)) => Some(s),
            _ => None,
        }
    }

    pub fn required_str(&self, key: &str) -> Result<&str, AttrError> {
        match self.get_attr(key) {
            Some(AttrValue::Text(s)) => Ok(s),
            Some(AttrValue::Jid(jid)) => Err(self.invalid(key, jid.to_string(), "text value")),
            None => Err(self.missing(key)),
        }
    }

    /// A JID attribute. Text that parses as a JID is accepted too, since some senders
    /// write JIDs as plain strings.
    pub fn attr_jid(&self, key: &str) -> Result<Option<Jid>, AttrError> {
        match self.get_attr(key) {
            None => Ok(None),
            Some(AttrValue::Jid(jid)) => Ok(Some(jid.clone())),
            Some(AttrValue::Text(s)) => s
                .parse()
                .map(Some)
                .map_err(|_| self.invalid(key, s.clone(), "JID")),
        }
    }

    pub fn required_jid(&self, key: &str) -> Result<Jid, AttrError> {
        self.attr_jid(key)?.ok_or_else(|| self.missing(key))
    }

    /// An unsigned integer attribute (ids, timestamps, counts, error codes).
    pub fn attr_u64(&self, key: &str) -> Result<Option<u64>, AttrError> {
        match self.attr_str(key) {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| self.invalid(key, s.to_owned(), "unsigned integer")),
        }
    }

    pub fn required_u64(&self, key: &str) -> Result<u64, AttrError> {
        self.attr_u64(key)?.ok_or_else(|| self.missing(key))
    }

    /// A boolean attribute written as `true`/`false` or `1`/`0`.
    pub fn attr_bool(&self, key: &str) -> Result<Option<bool>, AttrError> {
        match self.attr_str(key) {
            None => Ok(None),
            Some("true" | "1") => Ok(Some(true)),
            Some("false" | "0") => Ok(Some(false)),
            Some(s) => Err(self.invalid(key, s.to_owned(), "boolean")),
        }
    }

    fn missing(&self, key: &str) -> AttrError {
        AttrError::Missing {
            tag: self.tag.clone(),
            key: key.to_owned(),
        }
    }

    fn invalid(&self, key: &str, value: String, expected: &'static str) -> AttrError {
        AttrError::Invalid {
            tag: self.tag.clone(),
            key: key.to_owned(),
            value,
            expected,
        }
    }

    /// The child nodes (empty when the content is bytes or absent).
    pub fn get_children(&self) -> &[Node] {
        match &self.content {
            Content::Nodes(children) => children,
            _ => &[],
        }
    }

    /// The first child with this tag.
    pub fn child_by_tag(&self, tag: &str) -> Option<&Node> {
        self.get_children().iter().find(|c| c.tag == tag)
    }

    /// Follows a path of tags, e.g. `["usync", "list"]`.
    pub fn child_by_path(&self, path: &[&str]) -> Option<&Node> {
        path.iter()
            .try_fold(self, |node, tag| node.child_by_tag(tag))
    }

    pub fn children_by_tag<'a>(&'a self, tag: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.get_children().iter().filter(move |c| c.tag == tag)
    }

    /// Byte content, if that is what the node holds.
    pub fn content_bytes(&self) -> Option<&[u8]> {
        match &self.content {
            Content::Bytes(bytes) => Some(bytes),
            _ => None,
        }
    }
}

/// XML-like rendering for logs and test failures; bytes are shown as a length, not dumped.
impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}", self.tag)?;
        for (k, v) in &self.attrs {
            write!(f, " {k}=\"{v}\"")?;
        }
        match &self.content {
            Content::None => f.write_str("/>"),
            Content::Bytes(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) if text.len() <= 64 && !text.contains(['<', '>']) => {
                    write!(f, ">{text}</{}>", self.tag)
                }
                _ => write!(f, "><!-- {} bytes --></{}>", bytes.len(), self.tag),
            },
            Content::Nodes(children) => {
                f.write_str(">")?;
                for child in children {
                    child.fmt(f)?;
                }
                write!(f, "</{}>", self.tag)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jid::Server;

    #[test]
    fn builder_keeps_order_and_replaces_in_place() {
        let to = Jid::device("15551234567", Server::Pn, 3).expect("valid device JID");
        let node = Node::new("message")
            .attr("id", "ABC")
            .attr("to", &to)
            .attr("t", 1_700_000_000u64)
            .attr("id", "DEF")
            .child(Node::new("enc").attr("v", "2").bytes(vec![1, 2, 3]));
        let keys: Vec<&str> = node.attrs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["id", "to", "t"]);
        assert_eq!(node.attr_str("id"), Some("DEF"));
        assert_eq!(node.required_jid("to"), Ok(to));
        assert_eq!(node.required_u64("t"), Ok(1_700_000_000));
        assert_eq!(
            node.child_by_tag("enc").and_then(Node::content_bytes),
            Some(&[1u8, 2, 3][..])
        );
        assert_eq!(
            node.to_string(),
            "<message id=\"DEF\" to=\"15551234567:3@s.whatsapp.net\" t=\"1700000000\">\
             <enc v=\"2\">\u{1}\u{2}\u{3}</enc></message>"
        );
    }

    #[test]
    fn typed_getters_report_what_is_wrong() {
        let node = Node::new("iq")
            .attr("t", "soon")
            .attr("from", "15551234567@s.whatsapp.net");
        assert!(matches!(node.attr_u64("t"), Err(AttrError::Invalid { .. })));
        assert!(matches!(
            node.required_str("id"),
            Err(AttrError::Missing { .. })
        ));
        assert_eq!(
            node.required_jid("from").map(|j| j.to_string()),
            Ok("15551234567@s.whatsapp.net".to_owned())
        );
        assert_eq!(node.attr_bool("missing"), Ok(None));
    }
}
