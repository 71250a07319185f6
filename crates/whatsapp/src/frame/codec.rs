//! Length-prefixed frames: `len: u24 big-endian ‖ payload`, the client's first frame preceded by the
//! intro `57 41 06 03` ("WA", protocol version 6, dictionary version 3).
//!
//! The decoder is incremental because a WebSocket message may carry part of a frame or several
//! frames. It never allocates on the strength of a length claim: a header that promises 16 MiB
//! merely waits for bytes to arrive, and only bytes actually received are buffered.

use thiserror::Error;

/// Sent once, before the client's first frame; also the Noise prologue.
pub const INTRO: [u8; 4] = [0x57, 0x41, 0x06, 0x03];
/// Size of the length prefix.
pub const HEADER_LEN: usize = 3;
/// The largest payload a 24-bit length can describe.
pub const MAX_FRAME_LEN: usize = (1 << 24) - 1;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame payload of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("connection did not start with the WhatsApp intro (got {got:02x?})")]
    BadIntro { got: [u8; 4] },
}

/// Writes frames; the client variant prefixes the very first one with [`INTRO`].
#[derive(Debug, Clone)]
pub struct FrameEncoder {
    intro_pending: bool,
}

impl FrameEncoder {
    /// For the connecting side: the first frame carries the intro.
    pub fn client() -> Self {
        Self {
            intro_pending: true,
        }
    }

    /// For the accepting side: no intro.
    pub fn server() -> Self {
        Self {
            intro_pending: false,
        }
    }

    /// Appends one frame (and the intro, if still owed) to `out`.
    pub fn encode_into(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
        let len = payload.len();
        if len > MAX_FRAME_LEN {
            return Err(FrameError::TooLarge {
                len,
                max: MAX_FRAME_LEN,
            });
        }
        if self.intro_pending {
            out.extend_from_slice(&INTRO);
            self.intro_pending = false;
        }
        // Truncation is intended: len < 2^24 was checked above, so the top byte is zero.
        let [_, a, b, c] = (len as u32).to_be_bytes();
        out.extend_from_slice(&[a, b, c]);
        out.extend_from_slice(payload);
        Ok(())
    }

    /// One frame as a fresh buffer, ready to be sent as a WebSocket message.
    pub fn encode(&mut self, payload: &[u8]) -> Result<Vec<u8>, FrameError> {
        let extra = if self.intro_pending { INTRO.len() } else { 0 };
        let mut out = Vec::with_capacity(extra + HEADER_LEN + payload.len().min(MAX_FRAME_LEN));
        self.encode_into(payload, &mut out)?;
        Ok(out)
    }
}

/// Reassembles frames from arbitrary chunks of the byte stream.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Bytes before `start` have been handed out; compacted on the next `push`.
    start: usize,
    max_len: usize,
    intro_pending: bool,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// For the client side: the server sends no intro.
    pub fn new() -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            max_len: MAX_FRAME_LEN,
            intro_pending: false,
        }
    }

    /// For the server side: the stream must start with [`INTRO`], which is checked and dropped.
    pub fn expecting_intro() -> Self {
        Self {
            intro_pending: true,
            ..Self::new()
        }
    }

    /// Rejects frames longer than `max_len` (capped at [`MAX_FRAME_LEN`]) as soon as their header
    /// arrives, instead of waiting for the bytes.
    pub fn with_max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len.min(MAX_FRAME_LEN);
        self
    }

    /// Adds received bytes. Nothing is decoded until [`FrameDecoder::next_frame`] is called.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame's payload, `Ok(None)` if more bytes are needed.
    ///
    /// After an error the stream is unusable (framing is lost); drop the connection.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if self.intro_pending {
            let Some(intro) = self.pending().get(..INTRO.len()) else {
                return Ok(None);
            };
            let mut got = [0u8; 4];
            got.copy_from_slice(intro);
            if got != INTRO {
                return Err(FrameError::BadIntro { got });
            }
            self.start += INTRO.len();
            self.intro_pending = false;
        }
        let pending = self.pending();
        let Some(&[a, b, c]) = pending.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([0, a, b, c]) as usize;
        if len > self.max_len {
            return Err(FrameError::TooLarge {
                len,
                max: self.max_len,
            });
        }
        let Some(payload) = pending.get(HEADER_LEN..HEADER_LEN + len) else {
            return Ok(None);
        };
        let frame = payload.to_vec();
        self.start += HEADER_LEN + len;
        Ok(Some(frame))
    }

    /// Decodes every complete frame currently buffered.
    pub fn drain_frames(&mut self) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut frames = Vec::new();
        while let Some(frame) = self.next_frame()? {
            frames.push(frame);
        }
        Ok(frames)
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered_len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Memory held by the buffer; lets tests check that length claims do not reserve memory.
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    fn pending(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_encoder_prefixes_only_the_first_frame_with_the_intro() {
        let mut enc = FrameEncoder::client();
        assert_eq!(
            enc.encode(b"ab").unwrap(),
            [0x57, 0x41, 6, 3, 0, 0, 2, b'a', b'b']
        );
        assert_eq!(enc.encode(b"c").unwrap(), [0, 0, 1, b'c']);
    }

    #[test]
    fn length_is_big_endian_24_bit() {
        let payload = vec![7u8; 0x01_02_03];
        let bytes = FrameEncoder::server().encode(&payload).unwrap();
        assert_eq!(&bytes[..3], &[1, 2, 3]);
        assert_eq!(bytes.len(), 3 + 0x01_02_03);
    }

    #[test]
    fn encoder_rejects_a_payload_beyond_24_bits() {
        let payload = vec![0u8; MAX_FRAME_LEN + 1];
        let err = FrameEncoder::server().encode(&payload).unwrap_err();
        assert_eq!(
            err,
            FrameError::TooLarge {
                len: MAX_FRAME_LEN + 1,
                max: MAX_FRAME_LEN
            }
        );
    }

    #[test]
    fn decoder_reassembles_split_frames_and_yields_several_per_push() {
        let mut enc = FrameEncoder::server();
        let mut stream = Vec::new();
        for p in [&b"hello"[..], b"", b"world!"] {
            enc.encode_into(p, &mut stream).unwrap();
        }
        // One byte at a time: nothing is lost or duplicated.
        let mut dec = FrameDecoder::new();
        let mut got = Vec::new();
        for b in &stream {
            dec.push(std::slice::from_ref(b));
            got.extend(dec.drain_frames().unwrap());
        }
        assert_eq!(got, [b"hello".to_vec(), vec![], b"world!".to_vec()]);
        // All at once: three frames from one push.
        let mut dec = FrameDecoder::new();
        dec.push(&stream);
        assert_eq!(dec.drain_frames().unwrap().len(), 3);
        assert_eq!(dec.buffered_len(), 0);
    }

    #[test]
    fn server_decoder_checks_and_strips_the_intro() {
        let mut bytes = FrameEncoder::client().encode(b"x").unwrap();
        let mut dec = FrameDecoder::expecting_intro();
        dec.push(&bytes[..2]);
        assert_eq!(dec.next_frame().unwrap(), None);
        dec.push(&bytes[2..]);
        assert_eq!(dec.next_frame().unwrap(), Some(b"x".to_vec()));

        bytes[1] = b'B';
        let mut dec = FrameDecoder::expecting_intro();
        dec.push(&bytes);
        assert!(matches!(dec.next_frame(), Err(FrameError::BadIntro { .. })));
    }

    #[test]
    fn a_huge_length_claim_waits_without_reserving_memory() {
        let mut dec = FrameDecoder::new();
        dec.push(&[0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(dec.next_frame().unwrap(), None);
        assert_eq!(dec.buffered_len(), 10);
        assert!(dec.buffer_capacity() < 1024, "{}", dec.buffer_capacity());
    }

    #[test]
    fn a_configured_limit_rejects_at_the_header() {
        let mut dec = FrameDecoder::new().with_max_len(100);
        dec.push(&[0, 0, 101]);
        assert_eq!(
            dec.next_frame(),
            Err(FrameError::TooLarge { len: 101, max: 100 })
        );
    }
}
