//! The decrypted frame payload: one flag byte, then the binary node. Flag bit `0x02` means the
//! node is zlib-deflated. Inflation is bounded, so a small compressed frame cannot expand into an
//! unbounded allocation (a "zip bomb").

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use thiserror::Error;

/// Flag bit marking a zlib-compressed node.
pub const FLAG_COMPRESSED: u8 = 0x02;
/// A generous default bound for an inflated node.
pub const DEFAULT_MAX_INFLATED_LEN: usize = 32 * 1024 * 1024;

#[derive(Debug, Error)]
pub enum PayloadError {
    #[error("empty frame payload (no flag byte)")]
    Empty,
    #[error("compressed node is not valid zlib data")]
    Inflate(#[source] std::io::Error),
    #[error("compressed node inflates beyond {max} bytes")]
    TooLarge { max: usize },
    #[error("compressing the node failed")]
    Deflate(#[source] std::io::Error),
}

/// Splits off the flag byte and returns the node bytes, inflated if flagged.
pub fn decode_payload(plaintext: &[u8], max_inflated: usize) -> Result<Vec<u8>, PayloadError> {
    let (&flag, node) = plaintext.split_first().ok_or(PayloadError::Empty)?;
    if flag & FLAG_COMPRESSED == 0 {
        return Ok(node.to_vec());
    }
    let limit = u64::try_from(max_inflated)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut out = Vec::new();
    ZlibDecoder::new(node)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(PayloadError::Inflate)?;
    if out.len() > max_inflated {
        return Err(PayloadError::TooLarge { max: max_inflated });
    }
    Ok(out)
}

/// Prefixes node bytes with the flag byte, compressing them if asked (clients send uncompressed;
/// the fake server may compress to exercise the client's inflate path).
pub fn encode_payload(node: &[u8], compress: bool) -> Result<Vec<u8>, PayloadError> {
    if !compress {
        let mut out = Vec::with_capacity(1 + node.len());
        out.push(0);
        out.extend_from_slice(node);
        return Ok(out);
    }
    let mut enc = ZlibEncoder::new(vec![FLAG_COMPRESSED], Compression::default());
    enc.write_all(node).map_err(PayloadError::Deflate)?;
    enc.finish().map_err(PayloadError::Deflate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_compressed_round_trip() {
        let node = b"\xf8\x02\x13\x14 some node bytes ".repeat(50);
        for compress in [false, true] {
            let p = encode_payload(&node, compress).unwrap();
            assert_eq!(p[0] & FLAG_COMPRESSED != 0, compress);
            assert_eq!(decode_payload(&p, DEFAULT_MAX_INFLATED_LEN).unwrap(), node);
        }
    }

    #[test]
    fn compressed_payload_is_independent_zlib() {
        // Decode a stream produced by flate2's one-shot encoder, not by encode_payload.
        let mut e = ZlibEncoder::new(Vec::new(), Compression::best());
        e.write_all(b"hello node").unwrap();
        let mut p = vec![FLAG_COMPRESSED];
        p.extend(e.finish().unwrap());
        assert_eq!(decode_payload(&p, 100).unwrap(), b"hello node");
    }

    #[test]
    fn inflation_beyond_the_bound_is_refused() {
        let p = encode_payload(&vec![0u8; 1_000_000], true).unwrap();
        assert!(p.len() < 10_000);
        assert!(matches!(
            decode_payload(&p, 999_999),
            Err(PayloadError::TooLarge { max: 999_999 })
        ));
        assert_eq!(decode_payload(&p, 1_000_000).unwrap().len(), 1_000_000);
    }

    #[test]
    fn empty_and_corrupt_payloads_are_errors() {
        assert!(matches!(decode_payload(&[], 10), Err(PayloadError::Empty)));
        assert!(matches!(
            decode_payload(&[FLAG_COMPRESSED, 1, 2, 3], 10),
            Err(PayloadError::Inflate(_))
        ));
    }
}
