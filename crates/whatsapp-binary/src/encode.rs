//! Node → bytes (without the frame flag byte; see `pack`).
//!
//! String choice, in the order every client applies it: dictionary token, NIBBLE_8 for
//! digit strings (`0-9 - .`), HEX_8 for upper-case hex, else raw UTF-8 with a BINARY_*
//! length. Text is never sniffed for JIDs: JIDs are `AttrValue::Jid` and use JID forms.

use crate::decode::MAX_DEPTH;
use crate::error::EncodeError;
use crate::jid::{Jid, Server};
use crate::node::{AttrValue, Content, Node};
use crate::tokens::{self, Token};

/// Encodes `node` into a fresh buffer.
pub fn encode(node: &Node) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(256);
    encode_into(node, &mut out)?;
    Ok(out)
}

/// Appends the encoding of `node` to `out` (on error, `out` may hold a partial node).
pub fn encode_into(node: &Node, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    write_node(node, out, 0)
}

/// Nesting is capped at the decoder's limit so we never send what we would refuse to read.
fn write_node(node: &Node, out: &mut Vec<u8>, depth: usize) -> Result<(), EncodeError> {
    if depth >= MAX_DEPTH {
        return Err(EncodeError::TooDeep { limit: MAX_DEPTH });
    }
    if node.tag.is_empty() {
        return Err(EncodeError::EmptyTag);
    }
    // An empty child list is written as no content: LIST_EMPTY in content position reads back
    // as "no content" in every decoder, so this keeps what is sent and what is read the same.
    let content = match &node.content {
        Content::Nodes(children) if children.is_empty() => &Content::None,
        other => other,
    };
    let has_content = usize::from(!matches!(content, Content::None));
    write_list_start(out, 1 + 2 * node.attrs.len() + has_content)?;
    write_string(out, &node.tag)?;
    for (key, value) in &node.attrs {
        write_string(out, key)?;
        match value {
            AttrValue::Text(text) => write_string(out, text)?,
            AttrValue::Jid(jid) => write_jid(out, jid)?,
        }
    }
    match content {
        Content::None => {}
        Content::Bytes(bytes) => write_bytes(out, bytes)?,
        Content::Nodes(children) => {
            write_list_start(out, children.len())?;
            for child in children {
                write_node(child, out, depth + 1)?;
            }
        }
    }
    Ok(())
}

fn write_list_start(out: &mut Vec<u8>, len: usize) -> Result<(), EncodeError> {
    if len == 0 {
        out.push(tokens::LIST_EMPTY);
    } else if let Ok(len) = u8::try_from(len) {
        out.extend_from_slice(&[tokens::LIST_8, len]);
    } else if let Ok(len) = u16::try_from(len) {
        out.push(tokens::LIST_16);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        return Err(EncodeError::ListTooLong(len));
    }
    Ok(())
}

/// Raw bytes with the shortest length prefix: BINARY_8 (< 256), BINARY_20 (< 2^20), BINARY_32.
fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), EncodeError> {
    let len = bytes.len();
    if let Ok(short) = u8::try_from(len) {
        out.extend_from_slice(&[tokens::BINARY_8, short]);
    } else if len < 1 << 20 {
        // 20 bits in three bytes, top nibble of the first byte unused.
        let [_, b1, b2, b3] = u32::try_from(len)
            .map_err(|_| EncodeError::TooLarge(len))?
            .to_be_bytes();
        out.extend_from_slice(&[tokens::BINARY_20, b1, b2, b3]);
    } else {
        let long = u32::try_from(len).map_err(|_| EncodeError::TooLarge(len))?;
        out.push(tokens::BINARY_32);
        out.extend_from_slice(&long.to_be_bytes());
    }
    out.extend_from_slice(bytes);
    Ok(())
}

fn write_string(out: &mut Vec<u8>, s: &str) -> Result<(), EncodeError> {
    match tokens::lookup(s) {
        Some(Token::Single(byte)) => out.push(byte),
        Some(Token::Double { dict, index }) => {
            out.extend_from_slice(&[tokens::DICTIONARY_0 + dict, index]);
        }
        None if packable(s, nibble_value) => write_packed(out, tokens::NIBBLE_8, s, nibble_value),
        None if packable(s, hex_value) => write_packed(out, tokens::HEX_8, s, hex_value),
        None => write_bytes(out, s.as_bytes())?,
    }
    Ok(())
}

fn nibble_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'-' => Some(10),
        b'.' => Some(11),
        _ => None,
    }
}

/// Upper case only: a lower-case hex string would come back upper-cased.
fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn packable(s: &str, value: fn(u8) -> Option<u8>) -> bool {
    !s.is_empty() && s.len() <= tokens::PACKED_MAX && s.bytes().all(|c| value(c).is_some())
}

/// Two characters per byte, high nibble first; an odd length sets bit 7 of the length byte
/// and pads the last low nibble with 15.
fn write_packed(out: &mut Vec<u8>, tag: u8, s: &str, value: fn(u8) -> Option<u8>) {
    let bytes = s.as_bytes();
    // `packable` bounds the length at 127 characters, so the byte count fits in 7 bits.
    let packed_len = bytes.len().div_ceil(2) as u8;
    let odd_flag = if bytes.len() % 2 == 1 { 0x80 } else { 0 };
    out.extend_from_slice(&[tag, packed_len | odd_flag]);
    for pair in bytes.chunks(2) {
        let high = pair.first().and_then(|&c| value(c)).unwrap_or(15);
        let low = pair.get(1).and_then(|&c| value(c)).unwrap_or(15);
        out.push((high << 4) | low);
    }
}

/// JID wire forms (whatsmeow's choice, which every decoder reads):
/// - AD_JID (domain byte, device byte, user) for device JIDs on `s.whatsapp.net`/`lid`,
///   and for every `hosted`/`hosted.lid` JID;
/// - FB_JID (user, u16 device, server) for `msgr`;
/// - INTEROP_JID (user, u16 device, u16 integrator, server) for `interop`;
/// - JID_PAIR (user or LIST_EMPTY, server) for the rest.
pub(crate) fn write_jid(out: &mut Vec<u8>, jid: &Jid) -> Result<(), EncodeError> {
    if jid.agent() != 0 {
        return Err(EncodeError::AgentNotEncodable(jid.to_string()));
    }
    let server = jid.server();
    let user = jid.user();
    let always_ad = matches!(server, Server::Hosted | Server::HostedLid) && !user.is_empty();
    if let Some(domain) = server.ad_domain()
        && (jid.is_device() || always_ad)
    {
        // `Jid` caps devices on AD servers at 255, so this never fails in practice.
        let device = u8::try_from(jid.device_id())
            .map_err(|_| EncodeError::TooLarge(usize::from(jid.device_id())))?;
        out.extend_from_slice(&[tokens::AD_JID, domain, device]);
        return write_string(out, user);
    }
    match server {
        Server::Messenger if !user.is_empty() => {
            out.push(tokens::FB_JID);
            write_string(out, user)?;
            out.extend_from_slice(&jid.device_id().to_be_bytes());
        }
        Server::Interop if !user.is_empty() => {
            out.push(tokens::INTEROP_JID);
            write_string(out, user)?;
            out.extend_from_slice(&jid.device_id().to_be_bytes());
            out.extend_from_slice(&jid.integrator().to_be_bytes());
        }
        _ => {
            out.push(tokens::JID_PAIR);
            if user.is_empty() {
                out.push(tokens::LIST_EMPTY);
            } else {
                write_string(out, user)?;
            }
        }
    }
    write_string(out, server.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_pick_the_compact_form() {
        let mut out = Vec::new();
        write_string(&mut out, "message").expect("encodes");
        assert_eq!(out, [19]);
        out.clear();
        write_string(&mut out, "read-self").expect("encodes");
        assert_eq!(out, [tokens::DICTIONARY_0, 0]);
        out.clear();
        write_string(&mut out, "123").expect("encodes");
        assert_eq!(out, [tokens::NIBBLE_8, 0x82, 0x12, 0x3F]);
        out.clear();
        write_string(&mut out, "ABC1").expect("encodes");
        assert_eq!(out, [tokens::HEX_8, 0x02, 0xAB, 0xC1]);
        out.clear();
        write_string(&mut out, "abc").expect("encodes");
        assert_eq!(out, [tokens::BINARY_8, 3, b'a', b'b', b'c']);
        out.clear();
        write_string(&mut out, "").expect("encodes");
        assert_eq!(out, [tokens::BINARY_8, 0]);
    }

    #[test]
    fn lengths_use_the_shortest_prefix() {
        let mut out = Vec::new();
        write_bytes(&mut out, &[7; 256]).expect("encodes");
        assert_eq!(&out[..4], [tokens::BINARY_20, 0, 1, 0]);
        out.clear();
        write_bytes(&mut out, &vec![7; 1 << 20]).expect("encodes");
        assert_eq!(&out[..5], [tokens::BINARY_32, 0, 0x10, 0, 0]);
        out.clear();
        write_list_start(&mut out, 300).expect("fits");
        assert_eq!(out, [tokens::LIST_16, 1, 44]);
        assert_eq!(
            write_list_start(&mut out, 70_000),
            Err(EncodeError::ListTooLong(70_000))
        );
    }

    #[test]
    fn nesting_past_the_decoder_cap_is_refused() {
        let mut node = Node::new("leaf");
        for _ in 0..MAX_DEPTH {
            node = Node::new("message").child(node);
        }
        assert_eq!(
            encode(&node),
            Err(EncodeError::TooDeep { limit: MAX_DEPTH })
        );
    }

    #[test]
    fn jids_use_their_wire_forms() {
        let mut out = Vec::new();
        let device = Jid::device("12345", Server::Lid, 2).expect("valid");
        write_jid(&mut out, &device).expect("encodes");
        assert_eq!(
            out,
            [
                tokens::AD_JID,
                1,
                2,
                tokens::NIBBLE_8,
                0x83,
                0x12,
                0x34,
                0x5F
            ]
        );
        out.clear();
        write_jid(&mut out, &Jid::server_only(Server::Pn)).expect("encodes");
        assert_eq!(out, [tokens::JID_PAIR, tokens::LIST_EMPTY, 3]);
        let agent = Jid::pn("1").and_then(|j| j.with_agent(5)).expect("valid");
        assert!(matches!(
            write_jid(&mut out, &agent),
            Err(EncodeError::AgentNotEncodable(_))
        ));
    }
}
