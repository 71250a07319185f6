//! Bytes → node (without the frame flag byte; see `pack`).
//!
//! The input is untrusted. Every read is bounds-checked, every length is compared with what
//! is left *before* anything is allocated for it, JID parts may not themselves be JIDs, and
//! node nesting is capped, so hostile input costs at most its own size and a bounded stack.

use crate::error::{DecodeError, JidError};
use crate::jid::{Jid, Server};
use crate::node::{AttrValue, Content, Node};
use crate::tokens;

/// Deepest node nesting accepted. Real stanzas stay under ~10 levels; the cap keeps a
/// hostile `LIST_8 …` chain from exhausting the stack.
pub const MAX_DEPTH: usize = 64;

/// Smallest possible encoded node: LIST_8, size 1, a one-byte token tag.
const MIN_NODE_LEN: usize = 3;

/// Decodes exactly one node; trailing bytes are an error.
pub fn decode(bytes: &[u8]) -> Result<Node, DecodeError> {
    let mut reader = Reader { bytes, pos: 0 };
    let node = reader.node(0)?;
    match reader.remaining() {
        0 => Ok(node),
        left => Err(DecodeError::TrailingBytes(left)),
    }
}

/// A decoded string value: text, or a JID when the wire used a JID form.
enum Value {
    Absent,
    Text(String),
    Jid(Jid),
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let remaining = self.remaining();
        if n > remaining {
            return Err(DecodeError::UnexpectedEnd {
                at: self.pos,
                needed: n,
                remaining,
            });
        }
        let slice = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    /// `N` bytes as an array; the conversion cannot fail after `take(N)` succeeded, but it is
    /// still a checked conversion rather than indexing.
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let at = self.pos;
        self.take(N)?
            .try_into()
            .map_err(|_| DecodeError::UnexpectedEnd {
                at,
                needed: N,
                remaining: 0,
            })
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        let [b] = self.array()?;
        Ok(b)
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Checks a claimed length against the input before the caller allocates anything.
    fn check_len(&self, claimed: usize, unit: usize) -> Result<usize, DecodeError> {
        let remaining = self.remaining();
        if claimed.saturating_mul(unit) > remaining {
            return Err(DecodeError::LengthExceedsInput {
                at: self.pos,
                claimed,
                remaining,
            });
        }
        Ok(claimed)
    }

    /// Length following a BINARY_8/20/32 tag.
    fn binary_len(&mut self, tag: u8) -> Result<usize, DecodeError> {
        let len = match tag {
            tokens::BINARY_8 => usize::from(self.byte()?),
            tokens::BINARY_20 => {
                // 20 bits: the top nibble of the first byte is ignored, as every client does.
                let [b0, b1, b2] = self.array()?;
                (usize::from(b0 & 0x0F) << 16) | (usize::from(b1) << 8) | usize::from(b2)
            }
            _ => {
                // u32 → usize cannot fail on the 32/64-bit targets we build for; saturate anyway.
                usize::try_from(u32::from_be_bytes(self.array()?)).unwrap_or(usize::MAX)
            }
        };
        self.check_len(len, 1)
    }

    fn list_size(&mut self, tag: u8) -> Result<usize, DecodeError> {
        match tag {
            tokens::LIST_EMPTY => Ok(0),
            tokens::LIST_8 => Ok(usize::from(self.byte()?)),
            tokens::LIST_16 => Ok(usize::from(self.u16()?)),
            _ => Err(DecodeError::InvalidTag {
                at: self.pos.saturating_sub(1),
                tag,
            }),
        }
    }

    fn utf8(&mut self, len: usize) -> Result<String, DecodeError> {
        let at = self.pos;
        let raw = self.take(len)?;
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| DecodeError::InvalidUtf8 { at })
    }

    /// Any string-valued item: token, packed, raw, or a JID form.
    fn value(&mut self) -> Result<Value, DecodeError> {
        let at = self.pos;
        let tag = self.byte()?;
        match tag {
            tokens::JID_PAIR => self.jid_pair().map(Value::Jid),
            tokens::AD_JID => self.ad_jid().map(Value::Jid),
            tokens::FB_JID => self.fb_jid().map(Value::Jid),
            tokens::INTEROP_JID => self.interop_jid().map(Value::Jid),
            _ => Ok(match self.plain(tag, at)? {
                Some(text) => Value::Text(text),
                None => Value::Absent,
            }),
        }
    }

    /// A string that is not a JID form (JID parts and packed/token/raw values).
    fn plain(&mut self, tag: u8, at: usize) -> Result<Option<String>, DecodeError> {
        match tag {
            tokens::LIST_EMPTY => Ok(None),
            tokens::BINARY_8 | tokens::BINARY_20 | tokens::BINARY_32 => {
                let len = self.binary_len(tag)?;
                self.utf8(len).map(Some)
            }
            tokens::NIBBLE_8 | tokens::HEX_8 => self.packed(tag).map(Some),
            tokens::DICTIONARY_0..=tokens::DICTIONARY_3 => {
                let dict = tag - tokens::DICTIONARY_0;
                let index = self.byte()?;
                tokens::double(dict, index)
                    .map(|s| Some(s.to_owned()))
                    .ok_or(DecodeError::UnknownToken { dict, index })
            }
            tokens::JID_PAIR | tokens::AD_JID | tokens::FB_JID | tokens::INTEROP_JID => {
                Err(DecodeError::NestedJid { at })
            }
            _ => tokens::single(tag)
                .map(|s| Some(s.to_owned()))
                .ok_or(DecodeError::InvalidTag { at, tag }),
        }
    }

    fn jid_part(&mut self) -> Result<Option<String>, DecodeError> {
        let at = self.pos;
        let tag = self.byte()?;
        self.plain(tag, at)
    }

    fn jid_server(&mut self) -> Result<Server, DecodeError> {
        let server = self.jid_part()?.unwrap_or_default();
        Ok(Server::parse(&server)?)
    }

    fn jid_pair(&mut self) -> Result<Jid, DecodeError> {
        let user = self.jid_part()?.unwrap_or_default();
        let server = self.jid_server()?;
        Ok(Jid::new(user, server)?)
    }

    fn ad_jid(&mut self) -> Result<Jid, DecodeError> {
        let domain = self.byte()?;
        let device = self.byte()?;
        let server =
            Server::from_ad_domain(domain).ok_or(DecodeError::InvalidDomainType(domain))?;
        let user = self.jid_part()?.unwrap_or_default();
        if user.is_empty() {
            return Err(JidError::DetailsWithoutUser.into());
        }
        Ok(Jid::device(user, server, u16::from(device))?)
    }

    fn fb_jid(&mut self) -> Result<Jid, DecodeError> {
        let user = self.jid_part()?.unwrap_or_default();
        let device = self.u16()?;
        match self.jid_server()? {
            Server::Messenger => Ok(Jid::device(user, Server::Messenger, device)?),
            other => Err(DecodeError::WrongJidServer {
                form: "FB_JID",
                server: other.as_str(),
            }),
        }
    }

    fn interop_jid(&mut self) -> Result<Jid, DecodeError> {
        let user = self.jid_part()?.unwrap_or_default();
        let device = self.u16()?;
        let integrator = self.u16()?;
        match self.jid_server()? {
            Server::Interop => Ok(Jid::interop(user, device, integrator)?),
            other => Err(DecodeError::WrongJidServer {
                form: "INTEROP_JID",
                server: other.as_str(),
            }),
        }
    }

    /// NIBBLE_8/HEX_8: a length byte (bit 7 = odd, drop the last character), then two
    /// characters per byte. At most 127 bytes, so the output is bounded at 254 characters.
    fn packed(&mut self, tag: u8) -> Result<String, DecodeError> {
        let start = self.byte()?;
        let len = usize::from(start & 0x7F);
        let packed = self.take(len)?;
        let mut text = String::with_capacity(len * 2);
        for &byte in packed {
            for nibble in [byte >> 4, byte & 0x0F] {
                text.push(unpack(tag, nibble)?);
            }
        }
        if start & 0x80 != 0 {
            text.pop();
        }
        Ok(text)
    }

    fn node(&mut self, depth: usize) -> Result<Node, DecodeError> {
        if depth >= MAX_DEPTH {
            return Err(DecodeError::TooDeep { limit: MAX_DEPTH });
        }
        let at = self.pos;
        let list_tag = self.byte()?;
        let size = self.list_size(list_tag)?;
        let tag = match self.value()? {
            Value::Text(tag) if !tag.is_empty() => tag,
            Value::Jid(jid) => jid.to_string(),
            _ => return Err(DecodeError::MissingTag { at }),
        };
        let attr_count = self.check_len(size.saturating_sub(1) / 2, 2)?;
        let mut attrs = Vec::with_capacity(attr_count);
        for _ in 0..attr_count {
            let key_at = self.pos;
            let key = match self.value()? {
                Value::Text(key) => key,
                Value::Jid(jid) => jid.to_string(),
                Value::Absent => return Err(DecodeError::MissingKey { at: key_at }),
            };
            let value = match self.value()? {
                Value::Text(text) => AttrValue::Text(text),
                Value::Jid(jid) => AttrValue::Jid(jid),
                Value::Absent => AttrValue::Text(String::new()),
            };
            attrs.push((key, value));
        }
        let content = if size % 2 == 0 {
            self.content(depth)?
        } else {
            Content::None
        };
        Ok(Node {
            tag,
            attrs,
            content,
        })
    }

    fn content(&mut self, depth: usize) -> Result<Content, DecodeError> {
        let at = self.pos;
        let tag = self.byte()?;
        match tag {
            tokens::LIST_EMPTY => Ok(Content::None),
            tokens::LIST_8 | tokens::LIST_16 => {
                let count = self.list_size(tag)?;
                let count = self.check_len(count, MIN_NODE_LEN)?;
                let mut children = Vec::with_capacity(count);
                for _ in 0..count {
                    children.push(self.node(depth + 1)?);
                }
                Ok(Content::Nodes(children))
            }
            tokens::BINARY_8 | tokens::BINARY_20 | tokens::BINARY_32 => {
                let len = self.binary_len(tag)?;
                Ok(Content::Bytes(self.take(len)?.to_vec()))
            }
            tokens::JID_PAIR | tokens::AD_JID | tokens::FB_JID | tokens::INTEROP_JID => {
                self.pos = at;
                match self.value()? {
                    Value::Jid(jid) => Ok(Content::Bytes(jid.to_string().into_bytes())),
                    _ => Err(DecodeError::InvalidTag { at, tag }),
                }
            }
            _ => Ok(match self.plain(tag, at)? {
                Some(text) => Content::Bytes(text.into_bytes()),
                None => Content::None,
            }),
        }
    }
}

fn unpack(tag: u8, nibble: u8) -> Result<char, DecodeError> {
    let c = match (tag, nibble) {
        (_, 0..=9) => b'0' + nibble,
        (tokens::HEX_8, 10..=15) => b'A' + nibble - 10,
        (_, 10) => b'-',
        (_, 11) => b'.',
        // 15 is the padding nibble; other clients accept it anywhere, so do we.
        (_, 15) => 0,
        _ => return Err(DecodeError::InvalidNibble(nibble)),
    };
    Ok(char::from(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_stanza_decodes() {
        // <iq id="1A" type="get" xmlns="w:p" to="s.whatsapp.net"><ping/></iq>, built by hand.
        let bytes = [
            tokens::LIST_8,
            10,
            25, // iq
            8,
            tokens::HEX_8,
            0x01,
            0x1A, // id="1A"
            4,
            41, // type="get"
            22,
            87, // xmlns="w:p"
            17,
            tokens::JID_PAIR,
            tokens::LIST_EMPTY,
            3, // to=s.whatsapp.net
            tokens::LIST_8,
            1,
            tokens::LIST_8,
            1,
            86, // <ping/>
        ];
        let node = decode(&bytes).expect("valid stanza");
        assert_eq!(
            node.to_string(),
            "<iq id=\"1A\" type=\"get\" xmlns=\"w:p\" to=\"s.whatsapp.net\"><ping/></iq>"
        );
    }

    #[test]
    fn packed_strings_unpack() {
        let mut reader = Reader {
            bytes: &[0x83, 0x12, 0x34, 0x5F],
            pos: 0,
        };
        assert_eq!(reader.packed(tokens::NIBBLE_8), Ok("12345".to_owned()));
        let mut bad = Reader {
            bytes: &[0x01, 0xC0],
            pos: 0,
        };
        assert_eq!(
            bad.packed(tokens::NIBBLE_8),
            Err(DecodeError::InvalidNibble(12))
        );
    }

    #[test]
    fn lengths_beyond_the_input_are_refused_before_allocating() {
        // BINARY_32 claiming 16 MiB of content with 3 bytes actually present.
        let bytes = [
            tokens::LIST_8,
            2,
            19,
            tokens::BINARY_32,
            0x01,
            0,
            0,
            0,
            1,
            2,
        ];
        assert!(matches!(
            decode(&bytes),
            Err(DecodeError::LengthExceedsInput {
                claimed: 16_777_216,
                ..
            })
        ));
        // LIST_16 claiming 65535 children in a few bytes.
        let list = [tokens::LIST_8, 2, 19, tokens::LIST_16, 0xFF, 0xFF, 0];
        assert!(matches!(
            decode(&list),
            Err(DecodeError::LengthExceedsInput {
                claimed: 65_535,
                ..
            })
        ));
    }

    #[test]
    fn nesting_past_the_cap_is_a_typed_error() {
        let mut bytes = Vec::new();
        for _ in 0..MAX_DEPTH + 1 {
            bytes.extend_from_slice(&[tokens::LIST_8, 2, 19, tokens::LIST_8, 1]);
        }
        bytes.extend_from_slice(&[tokens::LIST_8, 1, 19]);
        assert_eq!(
            decode(&bytes),
            Err(DecodeError::TooDeep { limit: MAX_DEPTH })
        );
    }

    #[test]
    fn jid_forms_must_carry_their_own_server() {
        // <message to=FB_JID(user "1", device 0, server s.whatsapp.net)/>
        let bytes = [tokens::LIST_8, 3, 19, 17, tokens::FB_JID, 85, 0, 0, 3];
        assert_eq!(
            decode(&bytes),
            Err(DecodeError::WrongJidServer {
                form: "FB_JID",
                server: "s.whatsapp.net"
            })
        );
        let unknown_domain = [tokens::LIST_8, 3, 19, 17, tokens::AD_JID, 2, 0, 85];
        assert_eq!(
            decode(&unknown_domain),
            Err(DecodeError::InvalidDomainType(2))
        );
    }

    #[test]
    fn a_jid_inside_a_jid_is_refused() {
        let bytes = [
            tokens::LIST_8,
            3,
            19,
            17,
            tokens::JID_PAIR,
            tokens::JID_PAIR,
        ];
        assert!(matches!(decode(&bytes), Err(DecodeError::NestedJid { .. })));
    }
}
