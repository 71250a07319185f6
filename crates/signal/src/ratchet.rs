//! The double ratchet on one [`SessionState`]: encrypting, and decrypting with the DH step,
//! skipped-key bookkeeping and duplicate detection. Callers work on a copy of the state and keep
//! it only when decryption succeeded, so a bad message never changes a stored session.

use rand_core::{CryptoRng, RngCore};
use subtle::ConstantTimeEq;

use crate::error::SignalError;
use crate::kdf::{self, INFO_RATCHET, MessageKeys};
use crate::keys::{KeyPair, PublicKey};
use crate::session::{
    ChainKey, MAX_RECEIVER_CHAINS, MAX_SKIPPED_KEYS, ReceiverChain, SessionState,
};
use crate::wire::{MAC_LEN, SignalMessage};

/// How far ahead of a chain a message may be (libsignal-node refuses more than 2000).
pub const MAX_FORWARD_JUMP: u32 = 2000;

/// One root-chain step: DH output mixed into the root key gives a new root and chain key.
pub(crate) fn root_step(
    root_key: &[u8; 32],
    their: &PublicKey,
    ours: &KeyPair,
) -> ([u8; 32], ChainKey) {
    let secret = ours.private.agree(their);
    let okm: [u8; 64] = kdf::derive(&secret, root_key, INFO_RATCHET);
    let mut root = [0u8; 32];
    let mut chain = [0u8; 32];
    root.copy_from_slice(&okm[..32]);
    chain.copy_from_slice(&okm[32..]);
    (
        root,
        ChainKey {
            key: chain,
            index: 0,
        },
    )
}

fn mac(keys: &MessageKeys, sender: &PublicKey, receiver: &PublicKey, body: &[u8]) -> [u8; 32] {
    kdf::hmac(
        &keys.mac_key,
        &[&sender.serialize(), &receiver.serialize(), body],
    )
}

/// Encrypts one message on the sending chain and returns the serialised SignalMessage.
pub(crate) fn encrypt(state: &mut SessionState, plaintext: &[u8]) -> Result<Vec<u8>, SignalError> {
    let chain = state
        .sender_chain
        .as_mut()
        .ok_or_else(|| SignalError::NoSession("no sending chain yet".into()))?;
    let counter = chain.index;
    let next_index = counter
        .checked_add(1)
        .ok_or(SignalError::CounterExhausted)?;
    let (seed, next_key) = kdf::chain_step(&chain.key);
    chain.key = next_key;
    chain.index = next_index;

    let keys = MessageKeys::derive(&seed);
    let ciphertext = kdf::aes_cbc_encrypt(&keys.cipher_key, &keys.iv, plaintext);
    let mut out = SignalMessage::encode_body(
        &state.sender_ratchet.public,
        counter,
        state.previous_counter,
        ciphertext,
    );
    let tag = mac(&keys, &state.local_identity, &state.remote_identity, &out);
    out.extend_from_slice(&tag[..MAC_LEN]);
    Ok(out)
}

/// Decrypts `message` with `state`, advancing it. On error `state` may be partly advanced, so
/// callers pass a copy.
pub(crate) fn decrypt<R: RngCore + CryptoRng>(
    state: &mut SessionState,
    message: &SignalMessage,
    rng: &mut R,
) -> Result<Vec<u8>, SignalError> {
    if message.ratchet_key == state.sender_ratchet.public {
        return Err(SignalError::NoSession(
            "message on our own sending chain".into(),
        ));
    }
    let position = match state
        .receiver_chains
        .iter()
        .position(|c| c.their_ratchet_key == message.ratchet_key)
    {
        Some(p) => p,
        None => step_ratchet(state, &message.ratchet_key, message.previous_counter, rng)?,
    };
    let seed = message_seed(&mut state.receiver_chains[position], message.counter)?;
    let keys = MessageKeys::derive(&seed);

    let expected = mac(
        &keys,
        &state.remote_identity,
        &state.local_identity,
        message.authenticated(),
    );
    if !bool::from(expected[..MAC_LEN].ct_eq(message.mac())) {
        return Err(SignalError::BadMac);
    }
    let plaintext = kdf::aes_cbc_decrypt(&keys.cipher_key, &keys.iv, &message.ciphertext)?;
    // The other side has our reply chain now, so it no longer needs pre-key messages.
    state.pending_pre_key = None;
    Ok(plaintext)
}

/// The DH ratchet step on a new ratchet key from the other side; returns the new receiving
/// chain's position.
fn step_ratchet<R: RngCore + CryptoRng>(
    state: &mut SessionState,
    their_new_key: &PublicKey,
    previous_counter: u32,
    rng: &mut R,
) -> Result<usize, SignalError> {
    // Keep the keys of messages still due on the chain being replaced, then close it: the
    // other side said (previousCounter) how many it sent there. libsignal-node sends -1 as
    // 0xffffffff when it sent none.
    let old_key = state.their_ratchet_key;
    if let Some(old) = state
        .receiver_chains
        .iter_mut()
        .find(|c| c.their_ratchet_key == old_key)
    {
        if previous_counter != u32::MAX {
            fill_to(old, previous_counter)?;
        }
        old.chain = None;
    }

    let (root, receiving) = root_step(&state.root_key, their_new_key, &state.sender_ratchet);
    let new_ratchet = KeyPair::generate(rng);
    let (root, sending) = root_step(&root, their_new_key, &new_ratchet);

    // libsignal-node's previousCounter is the index of the last message sent on the old chain.
    state.previous_counter = state
        .sender_chain
        .as_ref()
        .map_or(0, |c| c.index.saturating_sub(1));
    state.root_key = root;
    state.sender_ratchet = new_ratchet;
    state.sender_chain = Some(sending);
    state.their_ratchet_key = *their_new_key;
    state.receiver_chains.push(ReceiverChain {
        their_ratchet_key: *their_new_key,
        chain: Some(receiving),
        skipped: Vec::new(),
    });
    if state.receiver_chains.len() > MAX_RECEIVER_CHAINS {
        state.receiver_chains.remove(0);
    }
    Ok(state.receiver_chains.len() - 1)
}

/// Derives and keeps the keys for every index up to and including `last`.
fn fill_to(chain: &mut ReceiverChain, last: u32) -> Result<(), SignalError> {
    let Some(current) = chain.chain.as_mut() else {
        return Ok(());
    };
    if last < current.index {
        return Ok(());
    }
    if last - current.index >= MAX_FORWARD_JUMP {
        return Err(SignalError::TooFarInFuture {
            index: last,
            limit: MAX_FORWARD_JUMP,
        });
    }
    while current.index <= last {
        let (seed, next) = kdf::chain_step(&current.key);
        chain.skipped.push((current.index, seed));
        current.key = next;
        current.index = current
            .index
            .checked_add(1)
            .ok_or(SignalError::CounterExhausted)?;
    }
    trim_skipped(&mut chain.skipped);
    Ok(())
}

fn trim_skipped(skipped: &mut Vec<(u32, [u8; 32])>) {
    if skipped.len() > MAX_SKIPPED_KEYS {
        let excess = skipped.len() - MAX_SKIPPED_KEYS;
        skipped.drain(..excess);
    }
}

/// The message key seed for `index` on a receiving chain.
fn message_seed(chain: &mut ReceiverChain, index: u32) -> Result<[u8; 32], SignalError> {
    seed_for(chain.chain.as_mut(), &mut chain.skipped, index)
}

/// The message key seed for `index`: a kept skipped key, or derived by advancing the chain
/// (keeping the keys passed over). Shared by 1:1 chains and sender-key chains. `current` is
/// `None` for a closed chain, which only has its kept keys.
pub(crate) fn seed_for(
    current: Option<&mut ChainKey>,
    skipped: &mut Vec<(u32, [u8; 32])>,
    index: u32,
) -> Result<[u8; 32], SignalError> {
    if let Some(pos) = skipped.iter().position(|(i, _)| *i == index) {
        return Ok(skipped.remove(pos).1);
    }
    let Some(current) = current else {
        return Err(SignalError::DuplicateMessage(index));
    };
    if index < current.index {
        return Err(SignalError::DuplicateMessage(index));
    }
    if index - current.index >= MAX_FORWARD_JUMP {
        return Err(SignalError::TooFarInFuture {
            index,
            limit: MAX_FORWARD_JUMP,
        });
    }
    while current.index < index {
        let (seed, next) = kdf::chain_step(&current.key);
        skipped.push((current.index, seed));
        current.key = next;
        current.index += 1;
    }
    let (seed, next) = kdf::chain_step(&current.key);
    current.key = next;
    current.index = current
        .index
        .checked_add(1)
        .ok_or(SignalError::CounterExhausted)?;
    trim_skipped(skipped);
    Ok(seed)
}
