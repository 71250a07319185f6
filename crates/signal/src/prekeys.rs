//! Identity, registration id, one-time pre-keys, signed pre-keys and the pre-key bundle a
//! sender fetches to start a session.

use rand_core::{CryptoRng, RngCore};

use crate::error::SignalError;
use crate::keys::{KeyPair, PublicKey};

/// The long-term identity key pair (an ordinary Curve25519 pair that also signs).
pub type IdentityKeyPair = KeyPair;

/// A registration id as libsignal generates it: 14 bits, never zero.
pub fn generate_registration_id<R: RngCore + CryptoRng>(rng: &mut R) -> u32 {
    rng.next_u32() % 16380 + 1
}

/// A one-time pre-key (WhatsApp ids are 24-bit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyRecord {
    pub id: u32,
    pub key_pair: KeyPair,
}

/// `count` fresh one-time pre-keys with ids `start`, `start + 1`, … (wrapping within 24 bits,
/// skipping 0, as WhatsApp's ids are 3 bytes on the wire).
pub fn generate_pre_keys<R: RngCore + CryptoRng>(
    start: u32,
    count: u32,
    rng: &mut R,
) -> Vec<PreKeyRecord> {
    (0..count)
        .map(|i| PreKeyRecord {
            id: (start.wrapping_add(i).wrapping_sub(1) % 0x00ff_ffff) + 1,
            key_pair: KeyPair::generate(rng),
        })
        .collect()
}

/// A medium-term pre-key signed by the identity key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedPreKeyRecord {
    pub id: u32,
    pub key_pair: KeyPair,
    /// XEdDSA by the identity key over the 33-byte serialised public key.
    pub signature: [u8; 64],
}

impl SignedPreKeyRecord {
    pub fn generate<R: RngCore + CryptoRng>(
        identity: &IdentityKeyPair,
        id: u32,
        rng: &mut R,
    ) -> Self {
        let key_pair = KeyPair::generate(rng);
        let signature = identity.private.sign(&key_pair.public.serialize(), rng);
        Self {
            id,
            key_pair,
            signature,
        }
    }
}

/// What a sender needs to start a session with one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyBundle {
    pub registration_id: u32,
    pub device_id: u32,
    /// The one-time pre-key, when the server still had one.
    pub pre_key: Option<(u32, PublicKey)>,
    pub signed_pre_key_id: u32,
    pub signed_pre_key: PublicKey,
    pub signed_pre_key_signature: [u8; 64],
    pub identity_key: PublicKey,
}

impl PreKeyBundle {
    /// Checks the signed pre-key's signature by the bundle's identity key.
    pub fn verify(&self) -> Result<(), SignalError> {
        if self.identity_key.verify_signature(
            &self.signed_pre_key.serialize(),
            &self.signed_pre_key_signature,
        ) {
            Ok(())
        } else {
            Err(SignalError::BadSignature("signed pre-key"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    #[test]
    fn signed_pre_key_signature_covers_the_prefixed_key() {
        let identity = KeyPair::generate(&mut OsRng);
        let spk = SignedPreKeyRecord::generate(&identity, 1, &mut OsRng);
        assert!(
            identity
                .public
                .verify_signature(&spk.key_pair.public.serialize(), &spk.signature)
        );
        assert!(
            !identity
                .public
                .verify_signature(spk.key_pair.public.as_bytes(), &spk.signature)
        );
    }

    #[test]
    fn registration_ids_are_14_bit_and_non_zero() {
        for _ in 0..1000 {
            let id = generate_registration_id(&mut OsRng);
            assert!((1..=16380).contains(&id));
        }
    }

    #[test]
    fn pre_key_ids_are_sequential_and_24_bit() {
        let keys = generate_pre_keys(0x00ff_fffe, 3, &mut OsRng);
        let ids: Vec<u32> = keys.iter().map(|k| k.id).collect();
        assert_eq!(ids, vec![0x00ff_fffe, 0x00ff_ffff, 1]);
    }
}
