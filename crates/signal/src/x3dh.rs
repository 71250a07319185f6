//! X3DH session setup, as libsignal-node computes it (session_builder.js):
//!
//! secret = 0xFF×32 ‖ DH(IK_A, SPK_B) ‖ DH(EK_A, IK_B) ‖ DH(EK_A, SPK_B) [‖ DH(EK_A, OPK_B)]
//!
//! HKDF(secret, salt = 0×32, "WhisperText") gives the first root key. The initiator then makes
//! its first sending chain at once with a fresh ratchet key against the signed pre-key; the
//! responder's first ratchet key is its signed pre-key, so it can only answer after receiving.

use rand_core::{CryptoRng, RngCore};

use crate::error::SignalError;
use crate::kdf::{self, INFO_X3DH};
use crate::keys::{KeyPair, PublicKey};
use crate::prekeys::{IdentityKeyPair, PreKeyBundle};
use crate::ratchet::root_step;
use crate::session::{PendingPreKey, SessionState};

/// The curve's "discontinuity bytes" that prefix the X3DH input.
const DISCONTINUITY: [u8; 32] = [0xff; 32];

fn root_key(parts: &[[u8; 32]]) -> [u8; 32] {
    let mut secret = Vec::with_capacity(32 * (parts.len() + 1));
    secret.extend_from_slice(&DISCONTINUITY);
    for part in parts {
        secret.extend_from_slice(part);
    }
    let okm: [u8; 64] = kdf::derive(&secret, &[0u8; 32], INFO_X3DH);
    let mut root = [0u8; 32];
    root.copy_from_slice(&okm[..32]);
    root
}

/// Alice: a new session from Bob's bundle. Fails if the signed pre-key's signature is bad.
pub fn initiate<R: RngCore + CryptoRng>(
    ours: &IdentityKeyPair,
    bundle: &PreKeyBundle,
    rng: &mut R,
) -> Result<SessionState, SignalError> {
    bundle.verify()?;
    let base = KeyPair::generate(rng);
    let mut parts = vec![
        ours.private.agree(&bundle.signed_pre_key),
        base.private.agree(&bundle.identity_key),
        base.private.agree(&bundle.signed_pre_key),
    ];
    if let Some((_, one_time)) = &bundle.pre_key {
        parts.push(base.private.agree(one_time));
    }
    let root = root_key(&parts);
    let sender_ratchet = KeyPair::generate(rng);
    let (root, sending) = root_step(&root, &bundle.signed_pre_key, &sender_ratchet);
    Ok(SessionState {
        remote_registration_id: bundle.registration_id,
        local_identity: ours.public,
        remote_identity: bundle.identity_key,
        root_key: root,
        sender_ratchet,
        sender_chain: Some(sending),
        previous_counter: 0,
        their_ratchet_key: bundle.signed_pre_key,
        receiver_chains: Vec::new(),
        pending_pre_key: Some(PendingPreKey {
            pre_key_id: bundle.pre_key.map(|(id, _)| id),
            signed_pre_key_id: bundle.signed_pre_key_id,
            base_key: base.public,
        }),
        base_key: base.public,
        base_key_ours: true,
    })
}

/// What Bob learns from Alice's pre-key message.
pub struct Incoming<'a> {
    pub their_identity: &'a PublicKey,
    pub their_base_key: &'a PublicKey,
    pub their_registration_id: u32,
}

/// Bob: a new session from Alice's pre-key message and his own pre-keys.
pub fn respond(
    ours: &IdentityKeyPair,
    signed_pre_key: &KeyPair,
    one_time_pre_key: Option<&KeyPair>,
    incoming: &Incoming<'_>,
) -> SessionState {
    let mut parts = vec![
        signed_pre_key.private.agree(incoming.their_identity),
        ours.private.agree(incoming.their_base_key),
        signed_pre_key.private.agree(incoming.their_base_key),
    ];
    if let Some(one_time) = one_time_pre_key {
        parts.push(one_time.private.agree(incoming.their_base_key));
    }
    SessionState {
        remote_registration_id: incoming.their_registration_id,
        local_identity: ours.public,
        remote_identity: *incoming.their_identity,
        root_key: root_key(&parts),
        sender_ratchet: signed_pre_key.clone(),
        sender_chain: None,
        previous_counter: 0,
        their_ratchet_key: *incoming.their_base_key,
        receiver_chains: Vec::new(),
        pending_pre_key: None,
        base_key: *incoming.their_base_key,
        base_key_ours: false,
    }
}
