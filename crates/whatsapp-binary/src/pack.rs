//! The frame-payload wrapper: one flag byte, then the node. Flag bit 2 (value 2) means the
//! rest is zlib-deflated; inflation is bounded so a small "zip bomb" cannot exhaust memory.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;

use crate::decode::decode;
use crate::encode::encode_into;
use crate::error::{DecodeError, EncodeError};
use crate::node::Node;

/// Flag bit marking a zlib-deflated payload.
pub const FLAG_COMPRESSED: u8 = 2;

/// Default bound on an inflated payload. Stanzas are small; history-sync blobs are fetched
/// over HTTP, not sent inline, so 8 MiB is far above anything legitimate.
pub const DEFAULT_INFLATE_LIMIT: usize = 8 * 1024 * 1024;

/// A node as a frame payload: flag 0, then the encoded node (what clients send).
pub fn pack(node: &Node) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(256);
    out.push(0);
    encode_into(node, &mut out)?;
    Ok(out)
}

/// A node as a compressed frame payload (flag 2 + zlib). The server may send these; the fake
/// server and tests use it to exercise the client's inflate path.
pub fn pack_compressed(node: &Node) -> Result<Vec<u8>, EncodeError> {
    let mut plain = Vec::with_capacity(256);
    encode_into(node, &mut plain)?;
    let mut zlib = ZlibEncoder::new(vec![FLAG_COMPRESSED], Compression::default());
    // Writing into a Vec cannot fail; map it anyway rather than unwrap.
    zlib.write_all(&plain)
        .and_then(|()| zlib.finish())
        .map_err(|e| EncodeError::Compress(e.to_string()))
}

/// Decodes a frame payload, inflating it if flagged, with the default 8 MiB bound.
pub fn unpack(payload: &[u8]) -> Result<Node, DecodeError> {
    unpack_with_limit(payload, DEFAULT_INFLATE_LIMIT)
}

/// [`unpack`] with an explicit bound on the inflated size.
pub fn unpack_with_limit(payload: &[u8], limit: usize) -> Result<Node, DecodeError> {
    let (&flag, body) = payload.split_first().ok_or(DecodeError::EmptyPayload)?;
    if flag & FLAG_COMPRESSED == 0 {
        return decode(body);
    }
    let inflated = inflate_bounded(body, limit)?;
    decode(&inflated)
}

/// Inflates at most `limit` bytes; one byte more proves the payload is over the bound.
fn inflate_bounded(body: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    ZlibDecoder::new(body)
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Inflate(e.to_string()))?;
    if out.len() > limit {
        return Err(DecodeError::InflatedTooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Node {
        Node::new("iq")
            .attr("id", "abc")
            .attr("type", "result")
            .bytes(vec![0u8; 4096])
    }

    #[test]
    fn plain_and_compressed_payloads_unpack_to_the_same_node() {
        let plain = pack(&sample()).expect("encodes");
        assert_eq!(plain[0], 0);
        let compressed = pack_compressed(&sample()).expect("encodes");
        assert_eq!(compressed[0], FLAG_COMPRESSED);
        assert!(compressed.len() < plain.len(), "zeros compress");
        assert_eq!(unpack(&plain), Ok(sample()));
        assert_eq!(unpack(&compressed), Ok(sample()));
    }

    #[test]
    fn inflating_past_the_bound_is_a_typed_error() {
        let compressed = pack_compressed(&sample()).expect("encodes");
        assert_eq!(
            unpack_with_limit(&compressed, 1024),
            Err(DecodeError::InflatedTooLarge { limit: 1024 })
        );
    }

    #[test]
    fn garbage_and_empty_payloads_are_typed_errors() {
        assert_eq!(unpack(&[]), Err(DecodeError::EmptyPayload));
        assert!(matches!(
            unpack(&[FLAG_COMPRESSED, 1, 2, 3]),
            Err(DecodeError::Inflate(_))
        ));
    }
}
