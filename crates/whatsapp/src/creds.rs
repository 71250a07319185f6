//! The credentials of one companion device: created when pairing starts, completed by the phone's
//! `pair-success`, and persisted (encrypted, by the store) only after the first login with them
//! succeeds. Everything else the engine keeps about an account is a Signal key (see
//! [`crate::keys`]).

use prost::Message as _;
use rand_core::{OsRng, RngCore};
use signal::keys::{KeyPair as SignalKeyPair, PrivateKey};
use signal::prekeys::{SignedPreKeyRecord, generate_registration_id};
use thiserror::Error;
use whatsapp_binary::Jid;

use crate::handshake::KeyPair;
use crate::proto::{AdvSignedDeviceIdentity, StoredCredentials};

#[derive(Debug, Error)]
pub enum CredentialsError {
    #[error("stored credentials are not valid protobuf")]
    Decode(#[from] prost::DecodeError),
    #[error("stored credentials lack {0}")]
    Missing(&'static str),
    #[error("stored credentials have a malformed {0}")]
    Malformed(&'static str),
}

/// Who we are once the phone has linked us.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Our device JID on the phone-number server, e.g. `15550001111:1@s.whatsapp.net`.
    pub jid: Jid,
    /// Our device JID on the LID server, when the phone told us.
    pub lid: Option<Jid>,
    /// The identity the phone signed for us, with our device signature (sent as
    /// `<device-identity>` beside `pkmsg` messages).
    pub account: AdvSignedDeviceIdentity,
    /// Unix seconds of the link.
    pub linked_at: u64,
}

/// A companion device's secrets and identity.
#[derive(Clone)]
pub struct Credentials {
    pub noise: KeyPair,
    pub identity: SignalKeyPair,
    pub registration_id: u32,
    pub signed_pre_key: SignedPreKeyRecord,
    pub adv_secret: [u8; 32],
    /// `None` until paired.
    pub me: Option<Identity>,
    /// The next one-time pre-key id to generate (ids are 24-bit, never 0).
    pub next_pre_key_id: u32,
    pub push_name: Option<String>,
    pub platform: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("registration_id", &self.registration_id)
            .field("me", &self.me.as_ref().map(|m| m.jid.to_string()))
            .finish_non_exhaustive()
    }
}

fn key32(bytes: Option<&Vec<u8>>, what: &'static str) -> Result<[u8; 32], CredentialsError> {
    bytes
        .ok_or(CredentialsError::Missing(what))?
        .as_slice()
        .try_into()
        .map_err(|_| CredentialsError::Malformed(what))
}

impl Credentials {
    /// Fresh keys for a device that is about to register (pair).
    pub fn generate(platform: &str) -> Self {
        let identity = SignalKeyPair::generate(&mut OsRng);
        let signed_pre_key = SignedPreKeyRecord::generate(&identity, 1, &mut OsRng);
        let mut adv_secret = [0u8; 32];
        OsRng.fill_bytes(&mut adv_secret);
        Self {
            noise: KeyPair::generate(),
            identity,
            registration_id: generate_registration_id(&mut OsRng),
            signed_pre_key,
            adv_secret,
            me: None,
            next_pre_key_id: 1,
            push_name: None,
            platform: platform.to_owned(),
        }
    }

    /// The identity key's public half.
    pub fn identity_public(&self) -> [u8; 32] {
        self.identity.public.to_bytes()
    }

    /// The identity key as a handshake-style key pair (what the pairing code signs with).
    pub fn identity_key_pair(&self) -> KeyPair {
        KeyPair::from_private(*self.identity.private.as_bytes())
    }

    pub fn encode(&self) -> Vec<u8> {
        let me = self.me.as_ref();
        StoredCredentials {
            noise_private: Some(self.noise.private().to_vec()),
            identity_private: Some(self.identity.private.as_bytes().to_vec()),
            registration_id: Some(self.registration_id),
            signed_pre_key_id: Some(self.signed_pre_key.id),
            signed_pre_key_private: Some(self.signed_pre_key.key_pair.private.as_bytes().to_vec()),
            signed_pre_key_signature: Some(self.signed_pre_key.signature.to_vec()),
            adv_secret: Some(self.adv_secret.to_vec()),
            jid: me.map(|m| m.jid.to_string()),
            lid: me.and_then(|m| m.lid.as_ref()).map(ToString::to_string),
            account: me.map(|m| m.account.clone()),
            next_pre_key_id: Some(self.next_pre_key_id),
            push_name: self.push_name.clone(),
            platform: Some(self.platform.clone()),
            linked_at: me.map(|m| m.linked_at),
        }
        .encode_to_vec()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, CredentialsError> {
        let s = StoredCredentials::decode(bytes)?;
        let identity = SignalKeyPair::from_private(PrivateKey::from_bytes(key32(
            s.identity_private.as_ref(),
            "identity key",
        )?));
        let signature: [u8; 64] = s
            .signed_pre_key_signature
            .as_deref()
            .ok_or(CredentialsError::Missing("signed pre-key signature"))?
            .try_into()
            .map_err(|_| CredentialsError::Malformed("signed pre-key signature"))?;
        let signed_pre_key = SignedPreKeyRecord {
            id: s
                .signed_pre_key_id
                .ok_or(CredentialsError::Missing("signed pre-key id"))?,
            key_pair: SignalKeyPair::from_private(PrivateKey::from_bytes(key32(
                s.signed_pre_key_private.as_ref(),
                "signed pre-key",
            )?)),
            signature,
        };
        let parse_jid = |text: &str, what| {
            text.parse::<Jid>()
                .map_err(|_| CredentialsError::Malformed(what))
        };
        let me = match (&s.jid, s.account) {
            (Some(jid), Some(account)) => Some(Identity {
                jid: parse_jid(jid, "jid")?,
                lid: s.lid.as_deref().map(|l| parse_jid(l, "lid")).transpose()?,
                account,
                linked_at: s.linked_at.unwrap_or(0),
            }),
            (None, None) => None,
            _ => {
                return Err(CredentialsError::Malformed(
                    "identity (jid without account)",
                ));
            }
        };
        Ok(Self {
            noise: KeyPair::from_private(key32(s.noise_private.as_ref(), "noise key")?),
            identity,
            registration_id: s
                .registration_id
                .ok_or(CredentialsError::Missing("registration id"))?,
            signed_pre_key,
            adv_secret: key32(s.adv_secret.as_ref(), "adv secret")?,
            me,
            next_pre_key_id: s.next_pre_key_id.unwrap_or(1).max(1),
            push_name: s.push_name,
            platform: s.platform.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_before_and_after_pairing() {
        let mut creds = Credentials::generate("Chrome");
        let back = Credentials::decode(&creds.encode()).unwrap();
        assert_eq!(back.noise.public(), creds.noise.public());
        assert_eq!(back.identity, creds.identity);
        assert_eq!(back.signed_pre_key, creds.signed_pre_key);
        assert_eq!(back.adv_secret, creds.adv_secret);
        assert!(back.me.is_none());

        creds.me = Some(Identity {
            jid: "15550001111:3@s.whatsapp.net".parse().unwrap(),
            lid: Some("100000000000001:3@lid".parse().unwrap()),
            account: AdvSignedDeviceIdentity {
                details: Some(vec![1, 2, 3]),
                ..Default::default()
            },
            linked_at: 1_700_000_000,
        });
        creds.next_pre_key_id = 51;
        let back = Credentials::decode(&creds.encode()).unwrap();
        let me = back.me.unwrap();
        assert_eq!(me.jid.to_string(), "15550001111:3@s.whatsapp.net");
        assert_eq!(me.lid.unwrap().to_string(), "100000000000001:3@lid");
        assert_eq!(me.account.details, Some(vec![1, 2, 3]));
        assert_eq!(back.next_pre_key_id, 51);
    }

    #[test]
    fn garbage_is_a_typed_error() {
        assert!(Credentials::decode(&[0xff, 0xff, 0xff]).is_err());
        assert!(matches!(
            Credentials::decode(&[]),
            Err(CredentialsError::Missing(_))
        ));
    }
}
