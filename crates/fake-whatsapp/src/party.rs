//! A scripted Signal party: the primary device (device 0) of an account the fake simulates. It
//! has a real identity, signed pre-key and one-time pre-keys, so clients fetch its bundle, start
//! sessions with `pkmsg` and exchange `msg`s with it exactly as with a real phone; it decrypts
//! what they send and encrypts what it sends, with our `signal` crate.
//!
//! Plaintexts are padded and unpadded with [`whatsapp::padding`], as every WhatsApp client does.

use std::sync::atomic::{AtomicU32, Ordering};

use rand_core::OsRng;
use signal::keys::{KeyPair, PrivateKey, PublicKey};
use signal::prekeys::{PreKeyBundle, PreKeyRecord, SignedPreKeyRecord, generate_registration_id};
use signal::store::InMemoryStore;
use signal::{CiphertextMessage, ProtocolAddress, SignalError};
use tokio::sync::Mutex;
use whatsapp::padding::{pad, unpad};
use whatsapp_binary::{AttrValue, Node};

use crate::prekeys::Bundle;

/// `KEY_BUNDLE_TYPE`: the one key type WhatsApp uses (Curve25519, `0x05`).
pub const KEY_TYPE: u8 = 5;

/// One-time pre-keys handed out and not yet used that a party keeps at most; beyond that its
/// bundles carry only the signed pre-key, as a real phone's do once its stock on the server is
/// gone. Keeps a client that fetches bundles in a loop from growing the fake without bound.
pub const MAX_OUTSTANDING_PRE_KEYS: usize = 1000;

pub struct Party {
    identity: KeyPair,
    registration_id: u32,
    store: InMemoryStore,
    signed: SignedPreKeyRecord,
    next_pre_key: AtomicU32,
    /// Ids of one-time pre-keys handed out in bundles, oldest first.
    outstanding: std::sync::Mutex<std::collections::VecDeque<u32>>,
    /// Signal operations on one party run one at a time (load → ratchet → store).
    ops: Mutex<()>,
}

impl std::fmt::Debug for Party {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Party")
            .field("identity", &hex::encode(self.identity_public()))
            .field("registration_id", &self.registration_id)
            .finish_non_exhaustive()
    }
}

fn be(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || bytes.len() > 4 {
        return None;
    }
    Some(bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
}

fn key32(bytes: &[u8]) -> Option<PublicKey> {
    match bytes.len() {
        32 => <[u8; 32]>::try_from(bytes).ok().map(PublicKey::from_bytes),
        33 => PublicKey::deserialize(bytes).ok(),
        _ => None,
    }
}

/// The companion bundle from the directory, as a sender needs it for X3DH; `None` when the
/// device uploaded nothing usable.
pub fn to_signal_bundle(
    bundle: &Bundle,
    device_id: u32,
    one_time: Option<crate::prekeys::UploadedKey>,
) -> Option<PreKeyBundle> {
    let signed = bundle.signed.as_ref()?;
    let signature: [u8; 64] = signed.signature.as_deref()?.try_into().ok()?;
    let pre_key = match one_time {
        Some(k) => Some((be(&k.id)?, key32(&k.value)?)),
        None => None,
    };
    Some(PreKeyBundle {
        registration_id: be(&bundle.registration)?,
        device_id,
        pre_key,
        signed_pre_key_id: be(&signed.id)?,
        signed_pre_key: key32(&signed.value)?,
        signed_pre_key_signature: signature,
        identity_key: key32(&bundle.identity)?,
    })
}

impl Party {
    /// A party whose identity key is `identity_private` (for a primary phone, the account key:
    /// WhatsApp verifies ADV and key-index signatures with the primary's identity key).
    pub fn new(identity_private: [u8; 32]) -> Self {
        let identity = KeyPair::from_private(PrivateKey::from_bytes(identity_private));
        let registration_id = generate_registration_id(&mut OsRng);
        let store = InMemoryStore::new(identity.clone(), registration_id);
        let signed = SignedPreKeyRecord::generate(&identity, 1, &mut OsRng);
        store.add_signed_pre_key(signed.clone());
        Self {
            identity,
            registration_id,
            store,
            signed,
            next_pre_key: AtomicU32::new(1),
            outstanding: std::sync::Mutex::default(),
            ops: Mutex::new(()),
        }
    }

    pub fn identity_public(&self) -> [u8; 32] {
        *self.identity.public.as_bytes()
    }

    /// `<user jid=…>` with this party's bundle and a one-time pre-key minted for this fetch
    /// (a real phone keeps a stock on the server; minting on demand is indistinguishable), while
    /// fewer than [`MAX_OUTSTANDING_PRE_KEYS`] handed-out keys are still unused.
    pub fn bundle_node(&self, jid: AttrValue) -> Node {
        let id3 = |id: u32| id.to_be_bytes()[1..].to_vec();
        let mut children = vec![
            Node::new("registration").bytes(self.registration_id.to_be_bytes().to_vec()),
            Node::new("type").bytes(vec![KEY_TYPE]),
            Node::new("identity").bytes(self.identity_public().to_vec()),
            Node::new("skey").children([
                Node::new("id").bytes(id3(self.signed.id)),
                Node::new("value").bytes(self.signed.key_pair.public.as_bytes().to_vec()),
                Node::new("signature").bytes(self.signed.signature.to_vec()),
            ]),
        ];
        let mut outstanding = self
            .outstanding
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        outstanding.retain(|id| self.store.has_pre_key(*id));
        if outstanding.len() < MAX_OUTSTANDING_PRE_KEYS {
            let id = self.next_pre_key.fetch_add(1, Ordering::Relaxed) % 0x00ff_ffff + 1;
            let one = PreKeyRecord {
                id,
                key_pair: KeyPair::generate(&mut OsRng),
            };
            let one_public = *one.key_pair.public.as_bytes();
            self.store.add_pre_key(one);
            outstanding.push_back(id);
            children.push(Node::new("key").children([
                Node::new("id").bytes(id3(id)),
                Node::new("value").bytes(one_public.to_vec()),
            ]));
        }
        Node::new("user").attr("jid", jid).children(children)
    }

    /// Decrypts a `pkmsg` or `msg` from `from` and strips the padding.
    pub async fn decrypt(
        &self,
        from: &ProtocolAddress,
        kind: &str,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, SignalError> {
        let _turn = self.ops.lock().await;
        let padded = match kind {
            "pkmsg" => {
                signal::decrypt_pre_key_message(&self.store, from, ciphertext, &mut OsRng).await?
            }
            "msg" => signal::decrypt_message(&self.store, from, ciphertext, &mut OsRng).await?,
            _ => {
                return Err(SignalError::Malformed {
                    what: "enc",
                    reason: "type is neither pkmsg nor msg",
                });
            }
        };
        // The Signal layer authenticated these bytes, so bad padding is the sender's bug; to
        // the phone it is as unreadable as a bad ciphertext.
        unpad(&padded)
            .map(<[u8]>::to_vec)
            .map_err(|_| SignalError::BadCiphertext)
    }

    /// Whether a session with `to` exists (else the caller must fetch a bundle first).
    pub fn has_session(&self, to: &ProtocolAddress) -> bool {
        self.store.session_bytes(to).is_some()
    }

    /// Pads and encrypts `plaintext` for `to`, starting a session from `bundle` when given.
    pub async fn encrypt(
        &self,
        to: &ProtocolAddress,
        bundle: Option<&PreKeyBundle>,
        plaintext: Vec<u8>,
    ) -> Result<CiphertextMessage, SignalError> {
        let _turn = self.ops.lock().await;
        if let Some(bundle) = bundle {
            bundle.verify()?;
            signal::process_bundle(&self.store, to, bundle, &mut OsRng).await?;
        }
        signal::encrypt(&self.store, to, &pad(plaintext)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn two_parties_talk_through_bundle_nodes() {
        let alice = Party::new([1; 32]);
        let bob = Party::new([2; 32]);
        let node = bob.bundle_node("2@s.whatsapp.net".into());
        // Parse the node the way the directory stores an upload.
        let mut bundle = Bundle::default();
        bundle.apply_upload(
            &Node::new("iq")
                .children(
                    node.get_children()
                        .iter()
                        .filter(|c| c.tag != "key")
                        .cloned(),
                )
                .child(Node::new("list").children(node.child_by_tag("key").cloned())),
        );
        let one = bundle.one_time.pop_front();
        let signal_bundle = to_signal_bundle(&bundle, 0, one).unwrap();
        let bob_addr = ProtocolAddress::new("2", 0);
        let alice_addr = ProtocolAddress::new("1", 0);
        let first = alice
            .encrypt(&bob_addr, Some(&signal_bundle), b"hi bob".to_vec())
            .await
            .unwrap();
        assert_eq!(first.enc_type(), "pkmsg");
        let got = bob
            .decrypt(&alice_addr, "pkmsg", first.bytes())
            .await
            .unwrap();
        assert_eq!(got, b"hi bob");
        let reply = bob
            .encrypt(&alice_addr, None, b"hi alice".to_vec())
            .await
            .unwrap();
        assert_eq!(reply.enc_type(), "msg");
        assert_eq!(
            alice
                .decrypt(&bob_addr, "msg", reply.bytes())
                .await
                .unwrap(),
            b"hi alice"
        );
        assert!(bob.decrypt(&alice_addr, "msg", &[3; 40]).await.is_err());
        assert!(bob.decrypt(&alice_addr, "other", &[3; 40]).await.is_err());
    }

    #[test]
    fn bundle_fetches_in_a_loop_stop_minting_one_time_keys() {
        let party = Party::new([7; 32]);
        for _ in 0..MAX_OUTSTANDING_PRE_KEYS {
            assert!(
                party
                    .bundle_node("7@s.whatsapp.net".into())
                    .child_by_tag("key")
                    .is_some()
            );
        }
        let dry = party.bundle_node("7@s.whatsapp.net".into());
        assert!(dry.child_by_tag("key").is_none(), "stock exhausted");
        assert!(
            dry.child_by_tag("skey").is_some(),
            "the signed pre-key is always there"
        );
    }
}
