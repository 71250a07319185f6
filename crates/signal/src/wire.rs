//! The v3 wire format, with hand-written prost structs (field numbers from libsignal's
//! WhisperTextProtocol.proto, as libsignal-node and Baileys' WAProto declare them).
//!
//! - `msg` (SignalMessage): `0x33 ‖ proto{ratchetKey=1, counter=2, previousCounter=3,
//!   ciphertext=4} ‖ mac[8]`.
//! - `pkmsg` (PreKeySignalMessage): `0x33 ‖ proto{preKeyId=1, baseKey=2, identityKey=3,
//!   message=4, registrationId=5, signedPreKeyId=6}`.
//! - `skmsg` (SenderKeyMessage): `0x33 ‖ proto{id=1, iteration=2, ciphertext=3} ‖ signature[64]`.
//! - SenderKeyDistributionMessage: `0x33 ‖ proto{id=1, iteration=2, chainKey=3, signingKey=4}`.
//!
//! Decoding never allocates more than the input's length: prost checks every length prefix
//! against the bytes remaining before copying.

use prost::Message;

use crate::error::SignalError;
use crate::keys::PublicKey;

/// `(current version << 4) | current version`, both 3.
pub const VERSION_BYTE: u8 = 0x33;
pub const MAC_LEN: usize = 8;
pub const SIGNATURE_LEN: usize = 64;

#[derive(Clone, PartialEq, Message)]
pub(crate) struct SignalMessageProto {
    #[prost(bytes = "vec", optional, tag = "1")]
    pub ratchet_key: Option<Vec<u8>>,
    #[prost(uint32, optional, tag = "2")]
    pub counter: Option<u32>,
    #[prost(uint32, optional, tag = "3")]
    pub previous_counter: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub ciphertext: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct PreKeySignalMessageProto {
    #[prost(uint32, optional, tag = "1")]
    pub pre_key_id: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub base_key: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "3")]
    pub identity_key: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub message: Option<Vec<u8>>,
    #[prost(uint32, optional, tag = "5")]
    pub registration_id: Option<u32>,
    #[prost(uint32, optional, tag = "6")]
    pub signed_pre_key_id: Option<u32>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct SenderKeyMessageProto {
    #[prost(uint32, optional, tag = "1")]
    pub id: Option<u32>,
    #[prost(uint32, optional, tag = "2")]
    pub iteration: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "3")]
    pub ciphertext: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct SenderKeyDistributionMessageProto {
    #[prost(uint32, optional, tag = "1")]
    pub id: Option<u32>,
    #[prost(uint32, optional, tag = "2")]
    pub iteration: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "3")]
    pub chain_key: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub signing_key: Option<Vec<u8>>,
}

/// Checks the version byte: the high nibble is the message's version and must be 3.
fn check_version(what: &'static str, bytes: &[u8]) -> Result<(), SignalError> {
    match bytes.first() {
        None => Err(SignalError::malformed(what, "empty")),
        Some(&v) if v >> 4 == 3 => Ok(()),
        Some(&v) => Err(SignalError::BadVersion(v)),
    }
}

fn required<T>(field: Option<T>, what: &'static str, name: &'static str) -> Result<T, SignalError> {
    field.ok_or(SignalError::malformed(what, name))
}

fn key(
    bytes: Option<Vec<u8>>,
    what: &'static str,
    name: &'static str,
) -> Result<PublicKey, SignalError> {
    PublicKey::deserialize(&required(bytes, what, name)?)
}

/// A parsed `msg`. Keeps the authenticated bytes so the MAC can be checked once keys are known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalMessage {
    pub ratchet_key: PublicKey,
    pub counter: u32,
    pub previous_counter: u32,
    pub ciphertext: Vec<u8>,
    serialized: Vec<u8>,
}

impl SignalMessage {
    const WHAT: &'static str = "SignalMessage";

    pub fn parse(bytes: &[u8]) -> Result<Self, SignalError> {
        check_version(Self::WHAT, bytes)?;
        if bytes.len() < 1 + MAC_LEN {
            return Err(SignalError::malformed(Self::WHAT, "too short"));
        }
        let proto = SignalMessageProto::decode(&bytes[1..bytes.len() - MAC_LEN])
            .map_err(|_| SignalError::malformed(Self::WHAT, "bad protobuf"))?;
        Ok(Self {
            ratchet_key: key(proto.ratchet_key, Self::WHAT, "ratchetKey")?,
            counter: required(proto.counter, Self::WHAT, "counter")?,
            previous_counter: proto.previous_counter.unwrap_or(0),
            ciphertext: required(proto.ciphertext, Self::WHAT, "ciphertext")?,
            serialized: bytes.to_vec(),
        })
    }

    /// Encodes the version byte and body; the caller appends the MAC over these bytes.
    pub(crate) fn encode_body(
        ratchet_key: &PublicKey,
        counter: u32,
        previous_counter: u32,
        ciphertext: Vec<u8>,
    ) -> Vec<u8> {
        let proto = SignalMessageProto {
            ratchet_key: Some(ratchet_key.serialize().to_vec()),
            counter: Some(counter),
            previous_counter: Some(previous_counter),
            ciphertext: Some(ciphertext),
        };
        let mut out = Vec::with_capacity(1 + proto.encoded_len() + MAC_LEN);
        out.push(VERSION_BYTE);
        proto.encode_raw(&mut out);
        out
    }

    /// The bytes the MAC covers (version byte and protobuf).
    pub(crate) fn authenticated(&self) -> &[u8] {
        &self.serialized[..self.serialized.len() - MAC_LEN]
    }

    pub(crate) fn mac(&self) -> &[u8] {
        &self.serialized[self.serialized.len() - MAC_LEN..]
    }

    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }
}

/// A parsed `pkmsg`: a SignalMessage plus what the receiver needs to run X3DH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeySignalMessage {
    pub registration_id: u32,
    pub pre_key_id: Option<u32>,
    pub signed_pre_key_id: u32,
    pub base_key: PublicKey,
    pub identity_key: PublicKey,
    pub message: SignalMessage,
}

impl PreKeySignalMessage {
    const WHAT: &'static str = "PreKeySignalMessage";

    pub fn parse(bytes: &[u8]) -> Result<Self, SignalError> {
        check_version(Self::WHAT, bytes)?;
        let proto = PreKeySignalMessageProto::decode(&bytes[1..])
            .map_err(|_| SignalError::malformed(Self::WHAT, "bad protobuf"))?;
        Ok(Self {
            registration_id: proto.registration_id.unwrap_or(0),
            pre_key_id: proto.pre_key_id,
            signed_pre_key_id: required(proto.signed_pre_key_id, Self::WHAT, "signedPreKeyId")?,
            base_key: key(proto.base_key, Self::WHAT, "baseKey")?,
            identity_key: key(proto.identity_key, Self::WHAT, "identityKey")?,
            message: SignalMessage::parse(&required(proto.message, Self::WHAT, "message")?)?,
        })
    }

    pub(crate) fn encode(
        registration_id: u32,
        pre_key_id: Option<u32>,
        signed_pre_key_id: u32,
        base_key: &PublicKey,
        identity_key: &PublicKey,
        message: Vec<u8>,
    ) -> Vec<u8> {
        let proto = PreKeySignalMessageProto {
            pre_key_id,
            base_key: Some(base_key.serialize().to_vec()),
            identity_key: Some(identity_key.serialize().to_vec()),
            message: Some(message),
            registration_id: Some(registration_id),
            signed_pre_key_id: Some(signed_pre_key_id),
        };
        let mut out = Vec::with_capacity(1 + proto.encoded_len());
        out.push(VERSION_BYTE);
        proto.encode_raw(&mut out);
        out
    }
}

/// A parsed `skmsg`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderKeyMessage {
    pub key_id: u32,
    pub iteration: u32,
    pub ciphertext: Vec<u8>,
    serialized: Vec<u8>,
}

impl SenderKeyMessage {
    const WHAT: &'static str = "SenderKeyMessage";

    pub fn parse(bytes: &[u8]) -> Result<Self, SignalError> {
        check_version(Self::WHAT, bytes)?;
        if bytes.len() < 1 + SIGNATURE_LEN {
            return Err(SignalError::malformed(Self::WHAT, "too short"));
        }
        let proto = SenderKeyMessageProto::decode(&bytes[1..bytes.len() - SIGNATURE_LEN])
            .map_err(|_| SignalError::malformed(Self::WHAT, "bad protobuf"))?;
        Ok(Self {
            key_id: required(proto.id, Self::WHAT, "id")?,
            iteration: required(proto.iteration, Self::WHAT, "iteration")?,
            ciphertext: required(proto.ciphertext, Self::WHAT, "ciphertext")?,
            serialized: bytes.to_vec(),
        })
    }

    /// Version byte and body; the caller appends the signature over these bytes.
    pub(crate) fn encode_body(key_id: u32, iteration: u32, ciphertext: Vec<u8>) -> Vec<u8> {
        let proto = SenderKeyMessageProto {
            id: Some(key_id),
            iteration: Some(iteration),
            ciphertext: Some(ciphertext),
        };
        let mut out = Vec::with_capacity(1 + proto.encoded_len() + SIGNATURE_LEN);
        out.push(VERSION_BYTE);
        proto.encode_raw(&mut out);
        out
    }

    pub(crate) fn signed(&self) -> &[u8] {
        &self.serialized[..self.serialized.len() - SIGNATURE_LEN]
    }

    pub(crate) fn signature(&self) -> [u8; 64] {
        let mut sig = [0u8; 64];
        sig.copy_from_slice(&self.serialized[self.serialized.len() - SIGNATURE_LEN..]);
        sig
    }
}

/// What a group sender hands each member (inside a 1:1 message) so they can read its sender-key
/// messages: the chain at some iteration and the public signing key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderKeyDistributionMessage {
    pub key_id: u32,
    pub iteration: u32,
    pub chain_key: [u8; 32],
    pub signing_key: PublicKey,
}

impl SenderKeyDistributionMessage {
    const WHAT: &'static str = "SenderKeyDistributionMessage";

    pub fn parse(bytes: &[u8]) -> Result<Self, SignalError> {
        check_version(Self::WHAT, bytes)?;
        let proto = SenderKeyDistributionMessageProto::decode(&bytes[1..])
            .map_err(|_| SignalError::malformed(Self::WHAT, "bad protobuf"))?;
        let chain_key = required(proto.chain_key, Self::WHAT, "chainKey")?;
        Ok(Self {
            key_id: required(proto.id, Self::WHAT, "id")?,
            iteration: required(proto.iteration, Self::WHAT, "iteration")?,
            chain_key: chain_key
                .as_slice()
                .try_into()
                .map_err(|_| SignalError::malformed(Self::WHAT, "chainKey length"))?,
            signing_key: key(proto.signing_key, Self::WHAT, "signingKey")?,
        })
    }

    pub fn serialize(&self) -> Vec<u8> {
        let proto = SenderKeyDistributionMessageProto {
            id: Some(self.key_id),
            iteration: Some(self.iteration),
            chain_key: Some(self.chain_key.to_vec()),
            signing_key: Some(self.signing_key.serialize().to_vec()),
        };
        let mut out = Vec::with_capacity(1 + proto.encoded_len());
        out.push(VERSION_BYTE);
        proto.encode_raw(&mut out);
        out
    }
}
