//! Framing + transport cipher + payload flag in one object, for after the handshake: what the
//! client connection and the fake server both need per socket.
//!
//! The encoder and decoder are carried over from the handshake, because the client's intro has
//! already been sent (or, on the server, consumed) by then.

use thiserror::Error;

use super::cipher::{RecvCipher, SendCipher};
use super::{
    CipherError, FrameDecoder, FrameEncoder, FrameError, PayloadError, TransportCipher,
    TransportKeys, decode_payload, encode_payload,
};

#[derive(Debug, Error)]
pub enum ChannelError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Cipher(#[from] CipherError),
    #[error(transparent)]
    Payload(#[from] PayloadError),
}

/// An established, encrypted connection's byte handling (no I/O).
#[derive(Debug)]
pub struct SecureChannel {
    encoder: FrameEncoder,
    decoder: FrameDecoder,
    cipher: TransportCipher,
    max_inflated: usize,
}

impl SecureChannel {
    pub fn new(
        encoder: FrameEncoder,
        decoder: FrameDecoder,
        keys: &TransportKeys,
        max_inflated: usize,
    ) -> Self {
        Self {
            encoder,
            decoder,
            cipher: TransportCipher::new(keys),
            max_inflated,
        }
    }

    /// Encodes binary-node bytes into the bytes to send (one frame). `compress` sets the zlib
    /// flag; clients send uncompressed.
    pub fn seal(&mut self, node: &[u8], compress: bool) -> Result<Vec<u8>, ChannelError> {
        let ciphertext = self.cipher.encrypt(&encode_payload(node, compress)?)?;
        Ok(self.encoder.encode(&ciphertext)?)
    }

    /// Feeds received bytes; returns the binary-node bytes of every frame they complete. Any
    /// error means the stream can no longer be trusted: close the connection.
    pub fn open(&mut self, received: &[u8]) -> Result<Vec<Vec<u8>>, ChannelError> {
        self.decoder.push(received);
        let mut nodes = Vec::new();
        while let Some(frame) = self.decoder.next_frame()? {
            let plaintext = self.cipher.decrypt(&frame)?;
            nodes.push(decode_payload(&plaintext, self.max_inflated)?);
        }
        Ok(nodes)
    }

    /// Splits into a sealing half and an opening half, so one task can write while another
    /// reads.
    pub fn split(self) -> (ChannelWriter, ChannelReader) {
        let (send, recv) = self.cipher.split();
        (
            ChannelWriter {
                encoder: self.encoder,
                cipher: send,
            },
            ChannelReader {
                decoder: self.decoder,
                cipher: recv,
                max_inflated: self.max_inflated,
            },
        )
    }
}

/// The sending half of a [`SecureChannel`].
#[derive(Debug)]
pub struct ChannelWriter {
    encoder: FrameEncoder,
    cipher: SendCipher,
}

/// The receiving half of a [`SecureChannel`].
#[derive(Debug)]
pub struct ChannelReader {
    decoder: FrameDecoder,
    cipher: RecvCipher,
    max_inflated: usize,
}

impl ChannelWriter {
    /// See [`SecureChannel::seal`].
    pub fn seal(&mut self, node: &[u8], compress: bool) -> Result<Vec<u8>, ChannelError> {
        let ciphertext = self.cipher.encrypt(&encode_payload(node, compress)?)?;
        Ok(self.encoder.encode(&ciphertext)?)
    }
}

impl ChannelReader {
    /// See [`SecureChannel::open`].
    pub fn open(&mut self, received: &[u8]) -> Result<Vec<Vec<u8>>, ChannelError> {
        self.decoder.push(received);
        let mut nodes = Vec::new();
        while let Some(frame) = self.decoder.next_frame()? {
            let plaintext = self.cipher.decrypt(&frame)?;
            nodes.push(decode_payload(&plaintext, self.max_inflated)?);
        }
        Ok(nodes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::DEFAULT_MAX_INFLATED_LEN;

    fn pair() -> (SecureChannel, SecureChannel) {
        let client = TransportKeys {
            write: [1; 32],
            read: [2; 32],
        };
        let server = TransportKeys {
            write: [2; 32],
            read: [1; 32],
        };
        (
            SecureChannel::new(
                FrameEncoder::server(),
                FrameDecoder::new(),
                &client,
                DEFAULT_MAX_INFLATED_LEN,
            ),
            SecureChannel::new(
                FrameEncoder::server(),
                FrameDecoder::new(),
                &server,
                DEFAULT_MAX_INFLATED_LEN,
            ),
        )
    }

    #[test]
    fn nodes_cross_in_both_directions_in_any_chunking() {
        let (mut client, mut server) = pair();
        let mut wire = client.seal(b"first", false).unwrap();
        wire.extend(client.seal(&[7; 100_000], true).unwrap());
        let mut got = Vec::new();
        for chunk in wire.chunks(333) {
            got.extend(server.open(chunk).unwrap());
        }
        assert_eq!(got, [b"first".to_vec(), vec![7; 100_000]]);
        let back = server.seal(b"reply", false).unwrap();
        assert_eq!(client.open(&back).unwrap(), [b"reply".to_vec()]);
    }

    #[test]
    fn split_halves_interoperate_with_a_whole_channel() {
        let (client, mut server) = pair();
        let (mut writer, mut reader) = client.split();
        let wire = writer.seal(b"from the writer half", true).unwrap();
        assert_eq!(
            server.open(&wire).unwrap(),
            [b"from the writer half".to_vec()]
        );
        let back = server.seal(b"to the reader half", false).unwrap();
        assert_eq!(
            reader.open(&back).unwrap(),
            [b"to the reader half".to_vec()]
        );
        let again = writer.seal(b"second", false).unwrap();
        assert_eq!(server.open(&again).unwrap(), [b"second".to_vec()]);
    }

    #[test]
    fn a_tampered_frame_is_a_cipher_error() {
        let (mut client, mut server) = pair();
        let mut wire = client.seal(b"node", false).unwrap();
        let last = wire.len() - 1;
        wire[last] ^= 1;
        assert!(matches!(
            server.open(&wire),
            Err(ChannelError::Cipher(CipherError::Decrypt { counter: 0 }))
        ));
    }
}
