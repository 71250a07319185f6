//! What the protocol needs to persist, as async traits a database can implement, and an
//! in-memory implementation for tests and simulated contacts.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::address::ProtocolAddress;
use crate::error::SignalError;
use crate::keys::PublicKey;
use crate::prekeys::{IdentityKeyPair, PreKeyRecord, SignedPreKeyRecord};
use crate::sender_key::{SenderKeyName, SenderKeyRecord};
use crate::session::SessionRecord;

/// Our identity and the identities we have seen for others.
#[async_trait]
pub trait IdentityKeyStore: Send + Sync {
    async fn identity_key_pair(&self) -> Result<IdentityKeyPair, SignalError>;
    async fn local_registration_id(&self) -> Result<u32, SignalError>;
    /// Whether `identity` may be used for `address` (e.g. trust on first use).
    async fn is_trusted_identity(
        &self,
        address: &ProtocolAddress,
        identity: &PublicKey,
    ) -> Result<bool, SignalError>;
    async fn save_identity(
        &self,
        address: &ProtocolAddress,
        identity: &PublicKey,
    ) -> Result<(), SignalError>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn load_session(
        &self,
        address: &ProtocolAddress,
    ) -> Result<Option<SessionRecord>, SignalError>;
    async fn store_session(
        &self,
        address: &ProtocolAddress,
        record: &SessionRecord,
    ) -> Result<(), SignalError>;
}

#[async_trait]
pub trait PreKeyStore: Send + Sync {
    async fn load_pre_key(&self, id: u32) -> Result<Option<PreKeyRecord>, SignalError>;
    async fn remove_pre_key(&self, id: u32) -> Result<(), SignalError>;
}

#[async_trait]
pub trait SignedPreKeyStore: Send + Sync {
    async fn load_signed_pre_key(&self, id: u32)
    -> Result<Option<SignedPreKeyRecord>, SignalError>;
}

#[async_trait]
pub trait SenderKeyStore: Send + Sync {
    async fn load_sender_key(
        &self,
        name: &SenderKeyName,
    ) -> Result<Option<SenderKeyRecord>, SignalError>;
    async fn store_sender_key(
        &self,
        name: &SenderKeyName,
        record: &SenderKeyRecord,
    ) -> Result<(), SignalError>;
}

/// Everything at once, for callers that hold one store.
pub trait ProtocolStore:
    IdentityKeyStore + SessionStore + PreKeyStore + SignedPreKeyStore + SenderKeyStore
{
}

impl<T> ProtocolStore for T where
    T: IdentityKeyStore + SessionStore + PreKeyStore + SignedPreKeyStore + SenderKeyStore
{
}

/// A store in memory. Sessions and sender keys are kept serialised, as a database would keep
/// them, so every use also exercises the record encoding.
pub struct InMemoryStore {
    identity: IdentityKeyPair,
    registration_id: u32,
    identities: Mutex<HashMap<ProtocolAddress, PublicKey>>,
    sessions: Mutex<HashMap<ProtocolAddress, Vec<u8>>>,
    pre_keys: Mutex<HashMap<u32, PreKeyRecord>>,
    signed_pre_keys: Mutex<HashMap<u32, SignedPreKeyRecord>>,
    sender_keys: Mutex<HashMap<SenderKeyName, Vec<u8>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave the maps half-updated (each
    // critical section is a single insert/remove), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl InMemoryStore {
    pub fn new(identity: IdentityKeyPair, registration_id: u32) -> Self {
        Self {
            identity,
            registration_id,
            identities: Mutex::default(),
            sessions: Mutex::default(),
            pre_keys: Mutex::default(),
            signed_pre_keys: Mutex::default(),
            sender_keys: Mutex::default(),
        }
    }

    pub fn add_pre_key(&self, record: PreKeyRecord) {
        lock(&self.pre_keys).insert(record.id, record);
    }

    pub fn add_signed_pre_key(&self, record: SignedPreKeyRecord) {
        lock(&self.signed_pre_keys).insert(record.id, record);
    }

    pub fn has_pre_key(&self, id: u32) -> bool {
        lock(&self.pre_keys).contains_key(&id)
    }

    /// The stored bytes of a session record (tests compare them to prove nothing changed).
    pub fn session_bytes(&self, address: &ProtocolAddress) -> Option<Vec<u8>> {
        lock(&self.sessions).get(address).cloned()
    }
}

#[async_trait]
impl IdentityKeyStore for InMemoryStore {
    async fn identity_key_pair(&self) -> Result<IdentityKeyPair, SignalError> {
        Ok(self.identity.clone())
    }

    async fn local_registration_id(&self) -> Result<u32, SignalError> {
        Ok(self.registration_id)
    }

    async fn is_trusted_identity(
        &self,
        address: &ProtocolAddress,
        identity: &PublicKey,
    ) -> Result<bool, SignalError> {
        Ok(lock(&self.identities)
            .get(address)
            .is_none_or(|known| known == identity))
    }

    async fn save_identity(
        &self,
        address: &ProtocolAddress,
        identity: &PublicKey,
    ) -> Result<(), SignalError> {
        lock(&self.identities).insert(address.clone(), *identity);
        Ok(())
    }
}

#[async_trait]
impl SessionStore for InMemoryStore {
    async fn load_session(
        &self,
        address: &ProtocolAddress,
    ) -> Result<Option<SessionRecord>, SignalError> {
        let bytes = lock(&self.sessions).get(address).cloned();
        bytes.map(|b| SessionRecord::deserialize(&b)).transpose()
    }

    async fn store_session(
        &self,
        address: &ProtocolAddress,
        record: &SessionRecord,
    ) -> Result<(), SignalError> {
        lock(&self.sessions).insert(address.clone(), record.serialize());
        Ok(())
    }
}

#[async_trait]
impl PreKeyStore for InMemoryStore {
    async fn load_pre_key(&self, id: u32) -> Result<Option<PreKeyRecord>, SignalError> {
        Ok(lock(&self.pre_keys).get(&id).cloned())
    }

    async fn remove_pre_key(&self, id: u32) -> Result<(), SignalError> {
        lock(&self.pre_keys).remove(&id);
        Ok(())
    }
}

#[async_trait]
impl SignedPreKeyStore for InMemoryStore {
    async fn load_signed_pre_key(
        &self,
        id: u32,
    ) -> Result<Option<SignedPreKeyRecord>, SignalError> {
        Ok(lock(&self.signed_pre_keys).get(&id).cloned())
    }
}

#[async_trait]
impl SenderKeyStore for InMemoryStore {
    async fn load_sender_key(
        &self,
        name: &SenderKeyName,
    ) -> Result<Option<SenderKeyRecord>, SignalError> {
        let bytes = lock(&self.sender_keys).get(name).cloned();
        bytes.map(|b| SenderKeyRecord::deserialize(&b)).transpose()
    }

    async fn store_sender_key(
        &self,
        name: &SenderKeyName,
        record: &SenderKeyRecord,
    ) -> Result<(), SignalError> {
        lock(&self.sender_keys).insert(name.clone(), record.serialize());
        Ok(())
    }
}
