//! Session state (one double-ratchet conversation) and the session record (the current state
//! plus older ones), with their stored form.
//!
//! Like libsignal, a record keeps previous session states: when either side starts a new session
//! (a fresh pre-key message), messages still in flight on the old one must keep decrypting.

use prost::Message;

use crate::error::SignalError;
use crate::keys::{KeyPair, PrivateKey, PublicKey};

/// At most this many older states are kept per record (libsignal keeps 40).
pub const MAX_PREVIOUS_SESSIONS: usize = 40;
/// At most this many receiving chains are kept per state; older ones are dropped.
pub const MAX_RECEIVER_CHAINS: usize = 5;
/// At most this many skipped message keys are kept per receiving chain.
pub const MAX_SKIPPED_KEYS: usize = 2000;

/// A symmetric chain: the key that yields message `index`'s key and the following chain key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ChainKey {
    pub key: [u8; 32],
    pub index: u32,
}

/// A chain for messages from the other side under one of their ratchet keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReceiverChain {
    pub their_ratchet_key: PublicKey,
    /// `None` once the other side has moved to a newer ratchet key (libsignal "closes" it).
    pub chain: Option<ChainKey>,
    /// Message key seeds for indices that were skipped over, oldest first.
    pub skipped: Vec<(u32, [u8; 32])>,
}

/// What a session started by us still needs to send in every message until the other side
/// answers: the X3DH parameters of a pre-key message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PendingPreKey {
    pub pre_key_id: Option<u32>,
    pub signed_pre_key_id: u32,
    pub base_key: PublicKey,
}

/// One double-ratchet session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionState {
    pub(crate) remote_registration_id: u32,
    pub(crate) local_identity: PublicKey,
    pub(crate) remote_identity: PublicKey,
    pub(crate) root_key: [u8; 32],
    pub(crate) sender_ratchet: KeyPair,
    pub(crate) sender_chain: Option<ChainKey>,
    pub(crate) previous_counter: u32,
    pub(crate) their_ratchet_key: PublicKey,
    pub(crate) receiver_chains: Vec<ReceiverChain>,
    pub(crate) pending_pre_key: Option<PendingPreKey>,
    /// The X3DH base key: identifies the session (ours if we started it).
    pub(crate) base_key: PublicKey,
    pub(crate) base_key_ours: bool,
}

impl SessionState {
    pub fn remote_identity(&self) -> &PublicKey {
        &self.remote_identity
    }

    pub fn remote_registration_id(&self) -> u32 {
        self.remote_registration_id
    }

    pub fn base_key(&self) -> &PublicKey {
        &self.base_key
    }

    /// True while we have not yet heard back on a session we started (our messages are
    /// still `pkmsg`).
    pub fn has_pending_pre_key(&self) -> bool {
        self.pending_pre_key.is_some()
    }
}

/// All sessions with one address: the current one and older ones, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionRecord {
    pub(crate) current: Option<SessionState>,
    pub(crate) previous: Vec<SessionState>,
}

impl SessionRecord {
    pub fn current(&self) -> Option<&SessionState> {
        self.current.as_ref()
    }

    pub fn previous_count(&self) -> usize {
        self.previous.len()
    }

    /// Makes `state` current, keeping the old current one as the newest previous state.
    pub(crate) fn promote(&mut self, state: SessionState) {
        if let Some(old) = self.current.replace(state) {
            self.previous.insert(0, old);
            self.previous.truncate(MAX_PREVIOUS_SESSIONS);
        }
    }

    /// Archives the current session (e.g. the contact's identity changed).
    pub fn archive_current(&mut self) {
        if let Some(old) = self.current.take() {
            self.previous.insert(0, old);
            self.previous.truncate(MAX_PREVIOUS_SESSIONS);
        }
    }

    /// The states in the order decryption tries them: current first.
    pub(crate) fn states(&self) -> impl Iterator<Item = &SessionState> {
        self.current.iter().chain(self.previous.iter())
    }

    /// Replaces the `i`-th state of [`Self::states`].
    pub(crate) fn replace_state(&mut self, i: usize, state: SessionState) {
        let slot = match (self.current.is_some(), i) {
            (true, 0) => self.current.as_mut(),
            (true, n) => self.previous.get_mut(n - 1),
            (false, n) => self.previous.get_mut(n),
        };
        if let Some(slot) = slot {
            *slot = state;
        }
    }

    pub fn serialize(&self) -> Vec<u8> {
        let proto = RecordProto {
            current: self.current.as_ref().map(state_to_proto),
            previous: self.previous.iter().map(state_to_proto).collect(),
        };
        proto.encode_to_vec()
    }

    /// Decodes a stored record; anything malformed or over the bounds is an error.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, SignalError> {
        let corrupt = || SignalError::CorruptRecord("session record");
        let proto = RecordProto::decode(bytes).map_err(|_| corrupt())?;
        if proto.previous.len() > MAX_PREVIOUS_SESSIONS {
            return Err(corrupt());
        }
        Ok(Self {
            current: proto.current.map(state_from_proto).transpose()?,
            previous: proto
                .previous
                .into_iter()
                .map(state_from_proto)
                .collect::<Result<_, _>>()?,
        })
    }
}

// ---- stored form ----------------------------------------------------------------------------

#[derive(Clone, PartialEq, Message)]
struct RecordProto {
    #[prost(message, optional, tag = "1")]
    current: Option<StateProto>,
    #[prost(message, repeated, tag = "2")]
    previous: Vec<StateProto>,
}

#[derive(Clone, PartialEq, Message)]
struct StateProto {
    #[prost(uint32, tag = "1")]
    remote_registration_id: u32,
    #[prost(bytes = "vec", tag = "2")]
    local_identity: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    remote_identity: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    root_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    sender_ratchet_private: Vec<u8>,
    #[prost(message, optional, tag = "6")]
    sender_chain: Option<ChainProto>,
    #[prost(uint32, tag = "7")]
    previous_counter: u32,
    #[prost(bytes = "vec", tag = "8")]
    their_ratchet_key: Vec<u8>,
    #[prost(message, repeated, tag = "9")]
    receiver_chains: Vec<ReceiverChainProto>,
    #[prost(message, optional, tag = "10")]
    pending_pre_key: Option<PendingProto>,
    #[prost(bytes = "vec", tag = "11")]
    base_key: Vec<u8>,
    #[prost(bool, tag = "12")]
    base_key_ours: bool,
    /// Stored so loading a record needs no scalar multiplication per state.
    #[prost(bytes = "vec", tag = "13")]
    sender_ratchet_public: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct ChainProto {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    #[prost(uint32, tag = "2")]
    index: u32,
}

#[derive(Clone, PartialEq, Message)]
struct SkippedProto {
    #[prost(uint32, tag = "1")]
    index: u32,
    #[prost(bytes = "vec", tag = "2")]
    seed: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct ReceiverChainProto {
    #[prost(bytes = "vec", tag = "1")]
    their_ratchet_key: Vec<u8>,
    #[prost(message, optional, tag = "2")]
    chain: Option<ChainProto>,
    #[prost(message, repeated, tag = "3")]
    skipped: Vec<SkippedProto>,
}

#[derive(Clone, PartialEq, Message)]
struct PendingProto {
    #[prost(uint32, optional, tag = "1")]
    pre_key_id: Option<u32>,
    #[prost(uint32, tag = "2")]
    signed_pre_key_id: u32,
    #[prost(bytes = "vec", tag = "3")]
    base_key: Vec<u8>,
}

fn chain_to_proto(c: &ChainKey) -> ChainProto {
    ChainProto {
        key: c.key.to_vec(),
        index: c.index,
    }
}

fn state_to_proto(s: &SessionState) -> StateProto {
    StateProto {
        remote_registration_id: s.remote_registration_id,
        local_identity: s.local_identity.serialize().to_vec(),
        remote_identity: s.remote_identity.serialize().to_vec(),
        root_key: s.root_key.to_vec(),
        sender_ratchet_private: s.sender_ratchet.private.as_bytes().to_vec(),
        sender_chain: s.sender_chain.as_ref().map(chain_to_proto),
        previous_counter: s.previous_counter,
        their_ratchet_key: s.their_ratchet_key.serialize().to_vec(),
        receiver_chains: s
            .receiver_chains
            .iter()
            .map(|r| ReceiverChainProto {
                their_ratchet_key: r.their_ratchet_key.serialize().to_vec(),
                chain: r.chain.as_ref().map(chain_to_proto),
                skipped: r
                    .skipped
                    .iter()
                    .map(|(index, seed)| SkippedProto {
                        index: *index,
                        seed: seed.to_vec(),
                    })
                    .collect(),
            })
            .collect(),
        pending_pre_key: s.pending_pre_key.as_ref().map(|p| PendingProto {
            pre_key_id: p.pre_key_id,
            signed_pre_key_id: p.signed_pre_key_id,
            base_key: p.base_key.serialize().to_vec(),
        }),
        base_key: s.base_key.serialize().to_vec(),
        base_key_ours: s.base_key_ours,
        sender_ratchet_public: s.sender_ratchet.public.serialize().to_vec(),
    }
}

const CORRUPT: SignalError = SignalError::CorruptRecord("session state");

fn bytes32(v: &[u8]) -> Result<[u8; 32], SignalError> {
    v.try_into().map_err(|_| CORRUPT)
}

fn public(v: &[u8]) -> Result<PublicKey, SignalError> {
    PublicKey::deserialize(v).map_err(|_| CORRUPT)
}

fn chain_from_proto(c: ChainProto) -> Result<ChainKey, SignalError> {
    Ok(ChainKey {
        key: bytes32(&c.key)?,
        index: c.index,
    })
}

fn state_from_proto(p: StateProto) -> Result<SessionState, SignalError> {
    if p.receiver_chains.len() > MAX_RECEIVER_CHAINS
        || p.receiver_chains
            .iter()
            .any(|c| c.skipped.len() > MAX_SKIPPED_KEYS)
    {
        return Err(CORRUPT);
    }
    let receiver_chains = p
        .receiver_chains
        .into_iter()
        .map(|r| {
            Ok(ReceiverChain {
                their_ratchet_key: public(&r.their_ratchet_key)?,
                chain: r.chain.map(chain_from_proto).transpose()?,
                skipped: r
                    .skipped
                    .into_iter()
                    .map(|s| Ok((s.index, bytes32(&s.seed)?)))
                    .collect::<Result<_, SignalError>>()?,
            })
        })
        .collect::<Result<_, SignalError>>()?;
    let pending_pre_key = p
        .pending_pre_key
        .map(|pp| {
            Ok::<_, SignalError>(PendingPreKey {
                pre_key_id: pp.pre_key_id,
                signed_pre_key_id: pp.signed_pre_key_id,
                base_key: public(&pp.base_key)?,
            })
        })
        .transpose()?;
    Ok(SessionState {
        remote_registration_id: p.remote_registration_id,
        local_identity: public(&p.local_identity)?,
        remote_identity: public(&p.remote_identity)?,
        root_key: bytes32(&p.root_key)?,
        sender_ratchet: KeyPair {
            public: public(&p.sender_ratchet_public)?,
            private: PrivateKey::from_bytes(bytes32(&p.sender_ratchet_private)?),
        },
        sender_chain: p.sender_chain.map(chain_from_proto).transpose()?,
        previous_counter: p.previous_counter,
        their_ratchet_key: public(&p.their_ratchet_key)?,
        receiver_chains,
        pending_pre_key,
        base_key: public(&p.base_key)?,
        base_key_ours: p.base_key_ours,
    })
}
