//! Sender keys for groups: each member sends with its own symmetric chain, distributed to the
//! others once (inside 1:1 messages), and signs every message with a per-chain signing key.
//! Interoperable with Baileys' group cipher (lib/Signal/Group): message keys from
//! HKDF(seed, "WhisperGroup") with IV = bytes 0..16 and key = bytes 16..48, AES-256-CBC, XEdDSA
//! over `0x33 ‖ protobuf`.

use prost::Message;
use rand_core::{CryptoRng, RngCore};

use crate::address::ProtocolAddress;
use crate::error::SignalError;
use crate::kdf::{self, MessageKeys};
use crate::keys::{KeyPair, PrivateKey, PublicKey};
use crate::ratchet::seed_for;
use crate::session::{ChainKey, MAX_SKIPPED_KEYS};
use crate::store::SenderKeyStore;
use crate::wire::{SenderKeyDistributionMessage, SenderKeyMessage};
use crate::xeddsa;

/// At most this many sender key states per (group, sender), newest kept (as Baileys).
pub const MAX_SENDER_KEY_STATES: usize = 5;

/// Whose chain in which group.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SenderKeyName {
    pub group_id: String,
    pub sender: ProtocolAddress,
}

impl std::fmt::Display for SenderKeyName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}::{}::{}",
            self.group_id, self.sender.name, self.sender.device_id
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct SenderKeyState {
    key_id: u32,
    chain: ChainKey,
    signing_public: PublicKey,
    /// Present only for our own chains.
    signing_private: Option<PrivateKey>,
    skipped: Vec<(u32, [u8; 32])>,
}

/// The sender key states of one (group, sender), oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SenderKeyRecord {
    states: Vec<SenderKeyState>,
}

impl SenderKeyRecord {
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    pub fn serialize(&self) -> Vec<u8> {
        RecordProto {
            states: self
                .states
                .iter()
                .map(|s| StateProto {
                    key_id: s.key_id,
                    iteration: s.chain.index,
                    chain_key: s.chain.key.to_vec(),
                    signing_public: s.signing_public.serialize().to_vec(),
                    signing_private: s.signing_private.as_ref().map(|p| p.as_bytes().to_vec()),
                    skipped: s
                        .skipped
                        .iter()
                        .map(|(index, seed)| SkippedProto {
                            index: *index,
                            seed: seed.to_vec(),
                        })
                        .collect(),
                })
                .collect(),
        }
        .encode_to_vec()
    }

    pub fn deserialize(bytes: &[u8]) -> Result<Self, SignalError> {
        const CORRUPT: SignalError = SignalError::CorruptRecord("sender key record");
        let b32 = |v: &[u8]| <[u8; 32]>::try_from(v).map_err(|_| CORRUPT);
        let proto = RecordProto::decode(bytes).map_err(|_| CORRUPT)?;
        if proto.states.len() > MAX_SENDER_KEY_STATES
            || proto
                .states
                .iter()
                .any(|s| s.skipped.len() > MAX_SKIPPED_KEYS)
        {
            return Err(CORRUPT);
        }
        let states = proto
            .states
            .into_iter()
            .map(|s| {
                Ok(SenderKeyState {
                    key_id: s.key_id,
                    chain: ChainKey {
                        key: b32(&s.chain_key)?,
                        index: s.iteration,
                    },
                    signing_public: PublicKey::deserialize(&s.signing_public)
                        .map_err(|_| CORRUPT)?,
                    signing_private: s
                        .signing_private
                        .map(|p| b32(&p).map(PrivateKey::from_bytes))
                        .transpose()?,
                    skipped: s
                        .skipped
                        .into_iter()
                        .map(|k| Ok((k.index, b32(&k.seed)?)))
                        .collect::<Result<_, SignalError>>()?,
                })
            })
            .collect::<Result<_, SignalError>>()?;
        Ok(Self { states })
    }
}

#[derive(Clone, PartialEq, Message)]
struct RecordProto {
    #[prost(message, repeated, tag = "1")]
    states: Vec<StateProto>,
}

#[derive(Clone, PartialEq, Message)]
struct StateProto {
    #[prost(uint32, tag = "1")]
    key_id: u32,
    #[prost(uint32, tag = "2")]
    iteration: u32,
    #[prost(bytes = "vec", tag = "3")]
    chain_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    signing_public: Vec<u8>,
    #[prost(bytes = "vec", optional, tag = "5")]
    signing_private: Option<Vec<u8>>,
    #[prost(message, repeated, tag = "6")]
    skipped: Vec<SkippedProto>,
}

#[derive(Clone, PartialEq, Message)]
struct SkippedProto {
    #[prost(uint32, tag = "1")]
    index: u32,
    #[prost(bytes = "vec", tag = "2")]
    seed: Vec<u8>,
}

/// Our distribution message for `name` (our own address in a group), creating our chain on
/// first use.
pub async fn create_distribution_message<S, R>(
    store: &S,
    name: &SenderKeyName,
    rng: &mut R,
) -> Result<SenderKeyDistributionMessage, SignalError>
where
    S: SenderKeyStore + ?Sized,
    R: RngCore + CryptoRng + Send,
{
    let mut record = store.load_sender_key(name).await?.unwrap_or_default();
    let own = record
        .states
        .last()
        .filter(|s| s.signing_private.is_some())
        .cloned();
    let state = match own {
        Some(state) => state,
        None => {
            let mut chain_key = [0u8; 32];
            rng.fill_bytes(&mut chain_key);
            let signing = KeyPair::generate(rng);
            let state = SenderKeyState {
                key_id: rng.next_u32() & 0x7fff_ffff,
                chain: ChainKey {
                    key: chain_key,
                    index: 0,
                },
                signing_public: signing.public,
                signing_private: Some(signing.private),
                skipped: Vec::new(),
            };
            record.states = vec![state.clone()];
            store.store_sender_key(name, &record).await?;
            state
        }
    };
    Ok(SenderKeyDistributionMessage {
        key_id: state.key_id,
        iteration: state.chain.index,
        chain_key: state.chain.key,
        signing_key: state.signing_public,
    })
}

/// Accepts another member's distribution message for `name` (their address in a group).
pub async fn process_distribution_message<S>(
    store: &S,
    name: &SenderKeyName,
    message: &SenderKeyDistributionMessage,
) -> Result<(), SignalError>
where
    S: SenderKeyStore + ?Sized,
{
    let mut record = store.load_sender_key(name).await?.unwrap_or_default();
    // A repeated distribution of a chain we already follow must not rewind it (that would let
    // a replayed message decrypt again).
    if record
        .states
        .iter()
        .any(|s| s.key_id == message.key_id && s.signing_public == message.signing_key)
    {
        return Ok(());
    }
    record.states.push(SenderKeyState {
        key_id: message.key_id,
        chain: ChainKey {
            key: message.chain_key,
            index: message.iteration,
        },
        signing_public: message.signing_key,
        signing_private: None,
        skipped: Vec::new(),
    });
    if record.states.len() > MAX_SENDER_KEY_STATES {
        record.states.remove(0);
    }
    store.store_sender_key(name, &record).await
}

/// Encrypts a group message on our chain for `name`.
pub async fn group_encrypt<S, R>(
    store: &S,
    name: &SenderKeyName,
    plaintext: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, SignalError>
where
    S: SenderKeyStore + ?Sized,
    R: RngCore + CryptoRng + Send,
{
    let no_key = || SignalError::NoSenderKey(name.to_string());
    let mut record = store.load_sender_key(name).await?.ok_or_else(no_key)?;
    let state = record.states.last_mut().ok_or_else(no_key)?;
    let private = state.signing_private.clone().ok_or_else(no_key)?;
    let iteration = state.chain.index;
    let next_index = iteration
        .checked_add(1)
        .ok_or(SignalError::CounterExhausted)?;
    let (seed, next_key) = kdf::chain_step(&state.chain.key);
    state.chain = ChainKey {
        key: next_key,
        index: next_index,
    };
    let keys = MessageKeys::derive_group(&seed);
    let ciphertext = kdf::aes_cbc_encrypt(&keys.cipher_key, &keys.iv, plaintext);
    let mut out = SenderKeyMessage::encode_body(state.key_id, iteration, ciphertext);
    let mut random = [0u8; 64];
    rng.fill_bytes(&mut random);
    let signature = xeddsa::sign(private.as_bytes(), &out, &random);
    out.extend_from_slice(&signature);
    store.store_sender_key(name, &record).await?;
    Ok(out)
}

/// Decrypts a group message from `name`'s sender. Transactional like 1:1 decryption.
pub async fn group_decrypt<S>(
    store: &S,
    name: &SenderKeyName,
    bytes: &[u8],
) -> Result<Vec<u8>, SignalError>
where
    S: SenderKeyStore + ?Sized,
{
    let message = SenderKeyMessage::parse(bytes)?;
    let no_key = || SignalError::NoSenderKey(name.to_string());
    let mut record = store.load_sender_key(name).await?.ok_or_else(no_key)?;
    let position = record
        .states
        .iter()
        .position(|s| s.key_id == message.key_id)
        .ok_or_else(no_key)?;
    let mut state = record.states[position].clone();
    if !xeddsa::verify(
        state.signing_public.as_bytes(),
        message.signed(),
        &message.signature(),
    ) {
        return Err(SignalError::BadSignature("sender key message"));
    }
    let seed = seed_for(
        Some(&mut state.chain),
        &mut state.skipped,
        message.iteration,
    )?;
    let keys = MessageKeys::derive_group(&seed);
    let plaintext = kdf::aes_cbc_decrypt(&keys.cipher_key, &keys.iv, &message.ciphertext)?;
    record.states[position] = state;
    store.store_sender_key(name, &record).await?;
    Ok(plaintext)
}
