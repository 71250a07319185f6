//! Typed errors. Decoding untrusted bytes never panics; every refusal lands here.

use thiserror::Error;

/// A JID that cannot be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JidError {
    #[error("unknown JID server {0:?}")]
    UnknownServer(String),
    #[error("JID user {0:?} contains a character reserved by the JID syntax")]
    ReservedCharacter(String),
    #[error("a server-only JID cannot carry a device, agent or integrator")]
    DetailsWithoutUser,
    #[error("device {device} is not valid for server {server}")]
    DeviceNotAllowed { device: u16, server: &'static str },
    #[error("agent is not valid for server {0}")]
    AgentNotAllowed(&'static str),
    #[error("integrator is only valid for interop JIDs")]
    IntegratorNotAllowed,
    #[error("malformed JID text {0:?}")]
    Malformed(String),
}

/// A node that cannot be written in the binary format.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    #[error("a node tag must not be empty")]
    EmptyTag,
    #[error("{0} attributes/children exceed the 65535-entry list limit")]
    ListTooLong(usize),
    #[error("{0} bytes exceed the 32-bit length limit")]
    TooLarge(usize),
    #[error("JID {0} carries an agent, which no wire form can hold")]
    AgentNotEncodable(String),
    #[error("nodes nested deeper than {limit}, which no decoder here would accept")]
    TooDeep { limit: usize },
    #[error("compressing the payload failed: {0}")]
    Compress(String),
}

/// Bytes that are not a valid binary node (or frame payload).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("input ended at byte {at}: needed {needed} more, {remaining} left")]
    UnexpectedEnd {
        at: usize,
        needed: usize,
        remaining: usize,
    },
    /// A list or binary length that cannot fit in what is left; rejected before allocating.
    #[error("length {claimed} at byte {at} exceeds the {remaining} bytes left")]
    LengthExceedsInput {
        at: usize,
        claimed: usize,
        remaining: usize,
    },
    #[error("unexpected tag {tag} at byte {at}")]
    InvalidTag { at: usize, tag: u8 },
    #[error("no token {index} in double-byte dictionary {dict}")]
    UnknownToken { dict: u8, index: u8 },
    #[error("invalid packed nibble {0}")]
    InvalidNibble(u8),
    #[error("string at byte {at} is not UTF-8")]
    InvalidUtf8 { at: usize },
    #[error("node at byte {at} has no tag")]
    MissingTag { at: usize },
    #[error("attribute key at byte {at} is missing")]
    MissingKey { at: usize },
    #[error("a JID part at byte {at} is itself a JID")]
    NestedJid { at: usize },
    #[error("{form} carries server {server}")]
    WrongJidServer {
        form: &'static str,
        server: &'static str,
    },
    #[error("AD JID domain type {0} is not one of 0, 1, 128, 129")]
    InvalidDomainType(u8),
    #[error(transparent)]
    Jid(#[from] JidError),
    #[error("nodes nested deeper than {limit}")]
    TooDeep { limit: usize },
    #[error("{0} bytes left over after the node")]
    TrailingBytes(usize),
    #[error("empty frame payload")]
    EmptyPayload,
    #[error("inflating the payload failed: {0}")]
    Inflate(String),
    #[error("inflated payload exceeds the {limit}-byte bound")]
    InflatedTooLarge { limit: usize },
}
