//! The store-driven 1:1 API: start a session from a bundle, encrypt, decrypt `msg` and
//! `pkmsg`. Decryption is transactional: it works on a copy of the stored record and writes
//! it back (and consumes the one-time pre-key) only after the MAC and padding checked out.

use rand_core::{CryptoRng, RngCore};

use crate::address::ProtocolAddress;
use crate::error::SignalError;
use crate::prekeys::PreKeyBundle;
use crate::ratchet;
use crate::session::{SessionRecord, SessionState};
use crate::store::{IdentityKeyStore, PreKeyStore, SessionStore, SignedPreKeyStore};
use crate::wire::{PreKeySignalMessage, SignalMessage};
use crate::x3dh;

/// An encrypted 1:1 message, as it goes into `<enc type="…">`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CiphertextMessage {
    /// `pkmsg`: the first messages of a session we started, carrying the X3DH parameters.
    PreKey(Vec<u8>),
    /// `msg`: an ordinary ratchet message.
    Signal(Vec<u8>),
}

impl CiphertextMessage {
    /// The `type` attribute of WhatsApp's `<enc>` node.
    pub fn enc_type(&self) -> &'static str {
        match self {
            Self::PreKey(_) => "pkmsg",
            Self::Signal(_) => "msg",
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            Self::PreKey(b) | Self::Signal(b) => b,
        }
    }
}

async fn check_trust<S: IdentityKeyStore + ?Sized>(
    store: &S,
    address: &ProtocolAddress,
    identity: &crate::keys::PublicKey,
) -> Result<(), SignalError> {
    if store.is_trusted_identity(address, identity).await? {
        Ok(())
    } else {
        Err(SignalError::UntrustedIdentity(address.to_string()))
    }
}

/// Starts a session with `address` from its pre-key bundle (the old session, if any, is kept
/// for messages still in flight).
pub async fn process_bundle<S, R>(
    store: &S,
    address: &ProtocolAddress,
    bundle: &PreKeyBundle,
    rng: &mut R,
) -> Result<(), SignalError>
where
    S: IdentityKeyStore + SessionStore + ?Sized,
    R: RngCore + CryptoRng + Send,
{
    check_trust(store, address, &bundle.identity_key).await?;
    let identity = store.identity_key_pair().await?;
    let state = x3dh::initiate(&identity, bundle, rng)?;
    let mut record = store.load_session(address).await?.unwrap_or_default();
    record.promote(state);
    store.store_session(address, &record).await?;
    store.save_identity(address, &bundle.identity_key).await
}

/// Encrypts `plaintext` for `address` on the current session.
pub async fn encrypt<S>(
    store: &S,
    address: &ProtocolAddress,
    plaintext: &[u8],
) -> Result<CiphertextMessage, SignalError>
where
    S: IdentityKeyStore + SessionStore + ?Sized,
{
    let no_session = || SignalError::NoSession(address.to_string());
    let mut record = store.load_session(address).await?.ok_or_else(no_session)?;
    let state = record.current.as_mut().ok_or_else(no_session)?;
    check_trust(store, address, &state.remote_identity).await?;
    let body = ratchet::encrypt(state, plaintext)?;
    let message = match &state.pending_pre_key {
        None => CiphertextMessage::Signal(body),
        Some(pending) => CiphertextMessage::PreKey(PreKeySignalMessage::encode(
            store.local_registration_id().await?,
            pending.pre_key_id,
            pending.signed_pre_key_id,
            &pending.base_key,
            &state.local_identity,
            body,
        )),
    };
    store.store_session(address, &record).await?;
    Ok(message)
}

/// Tries each state of the record, current first; on success replaces that state.
fn decrypt_with_record<R: RngCore + CryptoRng>(
    record: &mut SessionRecord,
    message: &SignalMessage,
    rng: &mut R,
) -> Result<(Vec<u8>, SessionState), SignalError> {
    let mut first_error = None;
    let mut duplicate = None;
    // Clone one state at a time: most messages match the first (current) one.
    for i in 0..record.states().count() {
        let Some(mut state) = record.states().nth(i).cloned() else {
            break;
        };
        match ratchet::decrypt(&mut state, message, rng) {
            Ok(plaintext) => {
                record.replace_state(i, state.clone());
                return Ok((plaintext, state));
            }
            Err(e @ SignalError::DuplicateMessage(_)) => duplicate = duplicate.or(Some(e)),
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    Err(duplicate
        .or(first_error)
        .unwrap_or_else(|| SignalError::NoSession("empty session record".into())))
}

/// Decrypts a `msg` from `address`.
pub async fn decrypt_message<S, R>(
    store: &S,
    address: &ProtocolAddress,
    bytes: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, SignalError>
where
    S: IdentityKeyStore + SessionStore + ?Sized,
    R: RngCore + CryptoRng + Send,
{
    let message = SignalMessage::parse(bytes)?;
    let mut record = store
        .load_session(address)
        .await?
        .ok_or_else(|| SignalError::NoSession(address.to_string()))?;
    let (plaintext, state) = decrypt_with_record(&mut record, &message, rng)?;
    check_trust(store, address, &state.remote_identity).await?;
    store.store_session(address, &record).await?;
    Ok(plaintext)
}

/// Decrypts a `pkmsg` from `address`, setting up the session it starts (or reusing it when
/// this is a further pre-key message of a session we already accepted).
pub async fn decrypt_pre_key_message<S, R>(
    store: &S,
    address: &ProtocolAddress,
    bytes: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, SignalError>
where
    S: IdentityKeyStore + SessionStore + PreKeyStore + SignedPreKeyStore + ?Sized,
    R: RngCore + CryptoRng + Send,
{
    let message = PreKeySignalMessage::parse(bytes)?;
    check_trust(store, address, &message.identity_key).await?;
    let mut record = store.load_session(address).await?.unwrap_or_default();

    // The sender keeps sending pkmsg until it hears from us; those belong to the session the
    // first one created, whose one-time pre-key is already gone.
    let existing = record
        .states()
        .position(|s| !s.base_key_ours && s.base_key == message.base_key);
    if let Some(i) = existing {
        let mut state = record
            .states()
            .nth(i)
            .cloned()
            .ok_or_else(|| SignalError::NoSession(address.to_string()))?;
        let plaintext = ratchet::decrypt(&mut state, &message.message, rng)?;
        record.replace_state(i, state);
        store.store_session(address, &record).await?;
        return Ok(plaintext);
    }

    let signed = store
        .load_signed_pre_key(message.signed_pre_key_id)
        .await?
        .ok_or(SignalError::UnknownSignedPreKey(message.signed_pre_key_id))?;
    let one_time = match message.pre_key_id {
        Some(id) => Some(
            store
                .load_pre_key(id)
                .await?
                .ok_or(SignalError::UnknownPreKey(id))?,
        ),
        None => None,
    };
    let identity = store.identity_key_pair().await?;
    let mut state = x3dh::respond(
        &identity,
        &signed.key_pair,
        one_time.as_ref().map(|k| &k.key_pair),
        &x3dh::Incoming {
            their_identity: &message.identity_key,
            their_base_key: &message.base_key,
            their_registration_id: message.registration_id,
        },
    );
    let plaintext = ratchet::decrypt(&mut state, &message.message, rng)?;
    record.promote(state);
    store.store_session(address, &record).await?;
    store.save_identity(address, &message.identity_key).await?;
    if let Some(id) = message.pre_key_id {
        store.remove_pre_key(id).await?;
    }
    Ok(plaintext)
}
