//! The Signal store the engine hands to the `signal` crate: reads come from the account's
//! [`AccountStore`] (each value loaded once per batch), writes are staged in memory and leave
//! through [`StagedKeys::take_writes`] into the same [`Commit`](crate::store::Commit) as the
//! messages they belong to. That is what makes "decrypt, store the message, then acknowledge"
//! one transaction: the session ratchet step, the consumed one-time pre-key and the message are
//! durable together or not at all.
//!
//! Identities are trusted on first use and *replaced* when a contact's key changes (as WhatsApp
//! clients do: the app shows "security code changed" and carries on); refusing would make a
//! contact who reinstalled WhatsApp unreachable.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use signal::keys::{KeyPair, PrivateKey, PublicKey};
use signal::prekeys::{IdentityKeyPair, PreKeyRecord, SignedPreKeyRecord};
use signal::sender_key::{SenderKeyName, SenderKeyRecord};
use signal::session::SessionRecord;
use signal::store::{
    IdentityKeyStore, PreKeyStore, SenderKeyStore, SessionStore, SignedPreKeyStore,
};
use signal::{ProtocolAddress, SignalError};
use whatsapp_binary::{Jid, Server};

use crate::creds::Credentials;
use crate::store::{AccountStore, KeyKind, KeyWrite};

/// The Signal address of a device JID: the user for phone-number JIDs, `user@lid` for LIDs (the
/// two never collide, and a contact's PN and LID sessions stay apart as WhatsApp keeps them).
pub fn address_of(jid: &Jid) -> ProtocolAddress {
    let name = match jid.server() {
        Server::Lid | Server::HostedLid => format!("{}@lid", jid.user()),
        _ => jid.user().to_owned(),
    };
    ProtocolAddress::new(name, u32::from(jid.device_id()))
}

type Slot = (KeyKind, String);

/// See the module docs.
pub struct StagedKeys<'a> {
    store: &'a dyn AccountStore,
    identity: IdentityKeyPair,
    registration_id: u32,
    signed_pre_key: SignedPreKeyRecord,
    /// Loaded or written values; `None` = known to be absent (or deleted).
    values: Mutex<HashMap<Slot, Option<Vec<u8>>>>,
    dirty: Mutex<BTreeSet<Slot>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each critical section is one map operation; a panic cannot leave them half-done.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn failure(e: crate::store::StoreFailure) -> SignalError {
    SignalError::Store(e)
}

impl<'a> StagedKeys<'a> {
    pub fn new(store: &'a dyn AccountStore, creds: &Credentials) -> Self {
        Self {
            store,
            identity: creds.identity.clone(),
            registration_id: creds.registration_id,
            signed_pre_key: creds.signed_pre_key.clone(),
            values: Mutex::default(),
            dirty: Mutex::default(),
        }
    }

    /// Loads several values in one store round trip (e.g. the sessions of every device a
    /// message goes to).
    pub async fn preload(&self, kind: KeyKind, names: &[String]) -> Result<(), SignalError> {
        let missing: Vec<String> = {
            let values = lock(&self.values);
            names
                .iter()
                .filter(|n| !values.contains_key(&(kind, (*n).clone())))
                .cloned()
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let found = self
            .store
            .load_keys(kind, &missing)
            .await
            .map_err(failure)?;
        let mut values = lock(&self.values);
        for name in missing {
            values.entry((kind, name)).or_insert(None);
        }
        for (name, value) in found {
            values.insert((kind, name), Some(value));
        }
        Ok(())
    }

    async fn get(&self, kind: KeyKind, name: &str) -> Result<Option<Vec<u8>>, SignalError> {
        let slot = (kind, name.to_owned());
        if let Some(v) = lock(&self.values).get(&slot) {
            return Ok(v.clone());
        }
        self.preload(kind, std::slice::from_ref(&slot.1)).await?;
        Ok(lock(&self.values).get(&slot).cloned().flatten())
    }

    fn put(&self, kind: KeyKind, name: String, value: Option<Vec<u8>>) {
        let slot = (kind, name);
        lock(&self.values).insert(slot.clone(), value);
        lock(&self.dirty).insert(slot);
    }

    /// Stages new one-time pre-keys (before they are uploaded).
    pub fn add_pre_keys(&self, keys: &[PreKeyRecord]) {
        for key in keys {
            self.put(
                KeyKind::PreKey,
                key.id.to_string(),
                Some(key.key_pair.private.as_bytes().to_vec()),
            );
        }
    }

    /// Stages any key write (app-state keys, session deletions).
    pub fn stage(&self, write: KeyWrite) {
        self.put(write.kind, write.name, write.value);
    }

    /// Whether a session with `address` is stored (or staged).
    pub async fn has_session(&self, address: &ProtocolAddress) -> Result<bool, SignalError> {
        Ok(self
            .get(KeyKind::Session, &address.to_string())
            .await?
            .is_some())
    }

    /// The staged writes, in a stable order; the staging area is then clean (the values stay
    /// cached, so later reads in the same batch see them).
    pub fn take_writes(&self) -> Vec<KeyWrite> {
        let dirty = std::mem::take(&mut *lock(&self.dirty));
        let values = lock(&self.values);
        dirty
            .into_iter()
            .map(|slot| {
                let value = values.get(&slot).cloned().flatten();
                KeyWrite {
                    kind: slot.0,
                    name: slot.1,
                    value,
                }
            })
            .collect()
    }

    /// Forgets staged writes and cached values (after a failed commit: the store is the truth).
    pub fn discard(&self) {
        lock(&self.dirty).clear();
        lock(&self.values).clear();
    }
}

#[async_trait]
impl IdentityKeyStore for StagedKeys<'_> {
    async fn identity_key_pair(&self) -> Result<IdentityKeyPair, SignalError> {
        Ok(self.identity.clone())
    }

    async fn local_registration_id(&self) -> Result<u32, SignalError> {
        Ok(self.registration_id)
    }

    async fn is_trusted_identity(
        &self,
        _address: &ProtocolAddress,
        _identity: &PublicKey,
    ) -> Result<bool, SignalError> {
        // Trust on first use, replace on change: see the module docs.
        Ok(true)
    }

    async fn save_identity(
        &self,
        address: &ProtocolAddress,
        identity: &PublicKey,
    ) -> Result<(), SignalError> {
        let name = address.to_string();
        let known = self.get(KeyKind::Identity, &name).await?;
        if known.as_deref() != Some(identity.as_bytes().as_slice()) {
            self.put(KeyKind::Identity, name, Some(identity.as_bytes().to_vec()));
        }
        Ok(())
    }
}

#[async_trait]
impl SessionStore for StagedKeys<'_> {
    async fn load_session(
        &self,
        address: &ProtocolAddress,
    ) -> Result<Option<SessionRecord>, SignalError> {
        self.get(KeyKind::Session, &address.to_string())
            .await?
            .map(|b| SessionRecord::deserialize(&b))
            .transpose()
    }

    async fn store_session(
        &self,
        address: &ProtocolAddress,
        record: &SessionRecord,
    ) -> Result<(), SignalError> {
        self.put(
            KeyKind::Session,
            address.to_string(),
            Some(record.serialize()),
        );
        Ok(())
    }
}

#[async_trait]
impl PreKeyStore for StagedKeys<'_> {
    async fn load_pre_key(&self, id: u32) -> Result<Option<PreKeyRecord>, SignalError> {
        let Some(bytes) = self.get(KeyKind::PreKey, &id.to_string()).await? else {
            return Ok(None);
        };
        let private: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| SignalError::CorruptRecord("pre-key"))?;
        Ok(Some(PreKeyRecord {
            id,
            key_pair: KeyPair::from_private(PrivateKey::from_bytes(private)),
        }))
    }

    async fn remove_pre_key(&self, id: u32) -> Result<(), SignalError> {
        self.put(KeyKind::PreKey, id.to_string(), None);
        Ok(())
    }
}

#[async_trait]
impl SignedPreKeyStore for StagedKeys<'_> {
    async fn load_signed_pre_key(
        &self,
        id: u32,
    ) -> Result<Option<SignedPreKeyRecord>, SignalError> {
        Ok((id == self.signed_pre_key.id).then(|| self.signed_pre_key.clone()))
    }
}

#[async_trait]
impl SenderKeyStore for StagedKeys<'_> {
    async fn load_sender_key(
        &self,
        name: &SenderKeyName,
    ) -> Result<Option<SenderKeyRecord>, SignalError> {
        self.get(KeyKind::SenderKey, &sender_key_name(name))
            .await?
            .map(|b| SenderKeyRecord::deserialize(&b))
            .transpose()
    }

    async fn store_sender_key(
        &self,
        name: &SenderKeyName,
        record: &SenderKeyRecord,
    ) -> Result<(), SignalError> {
        self.put(
            KeyKind::SenderKey,
            sender_key_name(name),
            Some(record.serialize()),
        );
        Ok(())
    }
}

fn sender_key_name(name: &SenderKeyName) -> String {
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Commit, MemoryStore};
    use rand_core::OsRng;
    use signal::prekeys::PreKeyBundle;

    #[tokio::test]
    async fn a_conversation_through_staged_keys_commits_only_what_changed() {
        let alice_store = MemoryStore::new();
        let bob_store = MemoryStore::new();
        let alice_creds = Credentials::generate("test");
        let bob_creds = Credentials::generate("test");
        let alice = StagedKeys::new(&alice_store, &alice_creds);
        let bob = StagedKeys::new(&bob_store, &bob_creds);
        let one_time = signal::prekeys::generate_pre_keys(7, 1, &mut OsRng);
        bob.add_pre_keys(&one_time);
        bob_store
            .commit(Commit {
                keys: bob.take_writes(),
                ..Commit::default()
            })
            .await
            .unwrap();
        assert_eq!(bob_store.key_count(KeyKind::PreKey), 1);

        let bundle = PreKeyBundle {
            registration_id: bob_creds.registration_id,
            device_id: 1,
            pre_key: Some((7, one_time[0].key_pair.public)),
            signed_pre_key_id: bob_creds.signed_pre_key.id,
            signed_pre_key: bob_creds.signed_pre_key.key_pair.public,
            signed_pre_key_signature: bob_creds.signed_pre_key.signature,
            identity_key: bob_creds.identity.public,
        };
        let bob_addr = ProtocolAddress::new("bob", 1);
        let alice_addr = ProtocolAddress::new("alice", 1);
        signal::process_bundle(&alice, &bob_addr, &bundle, &mut OsRng)
            .await
            .unwrap();
        let msg = signal::encrypt(&alice, &bob_addr, b"hi").await.unwrap();
        let writes = alice.take_writes();
        assert!(writes.iter().any(|w| w.kind == KeyKind::Session));
        assert!(writes.iter().any(|w| w.kind == KeyKind::Identity));

        // A fresh staging area for Bob: everything comes from the store.
        let bob = StagedKeys::new(&bob_store, &bob_creds);
        let plain = signal::decrypt_pre_key_message(&bob, &alice_addr, msg.bytes(), &mut OsRng)
            .await
            .unwrap();
        assert_eq!(plain, b"hi");
        // Nothing is durable until committed: the pre-key is still in the store.
        assert_eq!(bob_store.key_count(KeyKind::PreKey), 1);
        let writes = bob.take_writes();
        assert!(
            writes
                .iter()
                .any(|w| w.kind == KeyKind::PreKey && w.value.is_none()),
            "{writes:?}"
        );
        bob_store
            .commit(Commit {
                keys: writes,
                ..Commit::default()
            })
            .await
            .unwrap();
        assert_eq!(bob_store.key_count(KeyKind::PreKey), 0);
        assert_eq!(bob_store.key_count(KeyKind::Session), 1);
        assert!(bob.take_writes().is_empty(), "staging is clean after take");
    }

    #[test]
    fn pn_and_lid_devices_have_distinct_addresses() {
        let pn: Jid = "15550001111:2@s.whatsapp.net".parse().unwrap();
        let lid: Jid = "100000000000001:2@lid".parse().unwrap();
        assert_eq!(address_of(&pn).to_string(), "15550001111.2");
        assert_eq!(address_of(&lid).to_string(), "100000000000001@lid.2");
    }
}
