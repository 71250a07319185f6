//! ADV ("account device verification"): how a phone vouches for a companion device, and how the
//! companion checks and counter-signs that. Both halves live here: the phone's (issuing, checking
//! the counter-signature, signing key-index lists; used by the fake WhatsApp) and the
//! companion's ([`accept_pair_success`]; used by our engine).
//!
//! Why it matters: every other WhatsApp client checks these signatures. A companion whose
//! identity does not verify is not trusted by its contacts' devices (its `pkmsg`s carry the signed
//! identity as `<device-identity>`), and a device list whose key-index list does not verify is
//! ignored.
//!
//! Facts (Baileys 7.0.0-rc14 `Utils/validate-connection.js` `configureSuccessfulPairing`,
//! `Defaults/index.js`; whatsmeow `pair.go`; key-index lists: whatsmeow `usync.go` and Baileys
//! `Utils/signal.js`):
//! - `details` = encoded `ADVDeviceIdentity{rawId, timestamp, keyIndex[, accountType,
//!   deviceType]}`.
//! - account signature = XEdDSA(account key, `06 00` ‖ details ‖ companion identity pub).
//! - `<pair-success><device-identity>` = `ADVSignedDeviceIdentityHMAC{details: encoded
//!   ADVSignedDeviceIdentity{details, accountSignatureKey, accountSignature}, hmac:
//!   HMAC-SHA256(adv secret, details)}`.
//! - the companion replies `<pair-device-sign><device-identity key-index=…>` with the identity
//!   re-encoded without `accountSignatureKey` and with device signature = XEdDSA(companion
//!   identity key, `06 01` ‖ details ‖ companion identity pub ‖ account key). It keeps the full
//!   identity (with the account key) and sends it as `<device-identity>` with its `pkmsg`s.
//! - HOSTED accounts (`ADVSignedDeviceIdentityHMAC.accountType = HOSTED`, business accounts
//!   hosted by Meta): the HMAC covers `06 05` ‖ details, the account signature uses `06 05`, and
//!   whatsmeow signs the device signature with `06 06`. Baileys picks the account-signature
//!   prefix from `ADVDeviceIdentity.deviceType` instead and always signs with `06 01`; we treat
//!   an identity as hosted when either field says so and follow whatsmeow for the device
//!   signature (Baileys does not support hosted companions end to end).
//! - key-index list = `ADVSignedKeyIndexList{details: encoded ADVKeyIndexList{rawId,
//!   timestamp, currentIndex, validIndexes}, accountSignature: XEdDSA(account key, `06 02` ‖
//!   details)}`.

use hmac::{Hmac, Mac};
use prost::Message;
use rand_core::{OsRng, RngCore};
use sha2::Sha256;

use super::PairingError;
use crate::handshake::KeyPair;
use crate::proto::{
    AdvDeviceIdentity, AdvEncryptionType, AdvKeyIndexList, AdvSignedDeviceIdentity,
    AdvSignedDeviceIdentityHmac, AdvSignedKeyIndexList,
};

const ACCOUNT_SIG_PREFIX: [u8; 2] = [6, 0];
const DEVICE_SIG_PREFIX: [u8; 2] = [6, 1];
const KEY_INDEX_PREFIX: [u8; 2] = [6, 2];
const HOSTED_ACCOUNT_SIG_PREFIX: [u8; 2] = [6, 5];
const HOSTED_DEVICE_SIG_PREFIX: [u8; 2] = [6, 6];

const HOSTED: i32 = AdvEncryptionType::Hosted as i32;

// ---------------------------------------------------------------------------------------------
// Phone side

/// The phone's signed identity for one companion: the `device-identity` bytes for
/// `pair-success`, and the raw details (kept to check the companion's reply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedIdentity {
    pub device_identity: Vec<u8>,
    pub details: Vec<u8>,
}

/// Issues an identity for the companion whose Signal identity is `companion_identity`, HMAC'd
/// with the ADV secret from its QR (or derived during code pairing).
pub fn issue_identity(
    account: &KeyPair,
    companion_identity: &[u8; 32],
    adv_secret: &[u8; 32],
    raw_id: u32,
    key_index: u32,
    now_unix: u64,
) -> Result<IssuedIdentity, PairingError> {
    let details = AdvDeviceIdentity {
        raw_id: Some(raw_id),
        timestamp: Some(now_unix),
        key_index: Some(key_index),
        ..Default::default()
    };
    issue(account, companion_identity, adv_secret, details, false)
}

/// As [`issue_identity`] for a HOSTED account (see the module docs for the prefixes).
pub fn issue_hosted_identity(
    account: &KeyPair,
    companion_identity: &[u8; 32],
    adv_secret: &[u8; 32],
    raw_id: u32,
    key_index: u32,
    now_unix: u64,
) -> Result<IssuedIdentity, PairingError> {
    let details = AdvDeviceIdentity {
        raw_id: Some(raw_id),
        timestamp: Some(now_unix),
        key_index: Some(key_index),
        account_type: Some(HOSTED),
        device_type: Some(HOSTED),
    };
    issue(account, companion_identity, adv_secret, details, true)
}

fn issue(
    account: &KeyPair,
    companion_identity: &[u8; 32],
    adv_secret: &[u8; 32],
    details: AdvDeviceIdentity,
    hosted: bool,
) -> Result<IssuedIdentity, PairingError> {
    let details = details.encode_to_vec();
    let prefix = if hosted {
        HOSTED_ACCOUNT_SIG_PREFIX
    } else {
        ACCOUNT_SIG_PREFIX
    };
    let signature = sign(account.private(), &[&prefix, &details, companion_identity]);
    let signed = AdvSignedDeviceIdentity {
        details: Some(details.clone()),
        account_signature_key: Some(account.public().to_vec()),
        account_signature: Some(signature.to_vec()),
        device_signature: None,
    }
    .encode_to_vec();
    let hmac = identity_hmac(adv_secret, hosted, &signed)?
        .finalize()
        .into_bytes()
        .to_vec();
    let device_identity = AdvSignedDeviceIdentityHmac {
        details: Some(signed),
        hmac: Some(hmac),
        account_type: hosted.then_some(HOSTED),
    }
    .encode_to_vec();
    Ok(IssuedIdentity {
        device_identity,
        details,
    })
}

/// Checks the companion's `pair-device-sign` identity against what the phone issued: the same
/// details, and a device signature by the companion's identity key.
pub fn verify_device_signature(
    reply_identity: &[u8],
    issued_details: &[u8],
    companion_identity: &[u8; 32],
    account_public: &[u8; 32],
) -> Result<(), PairingError> {
    let signed = AdvSignedDeviceIdentity::decode(reply_identity)?;
    if signed.details.as_deref() != Some(issued_details) {
        return Err(PairingError::DetailsMismatch);
    }
    let details = AdvDeviceIdentity::decode(issued_details)?;
    let signature = signature64(
        signed.device_signature.as_deref(),
        "ADVSignedDeviceIdentity.deviceSignature",
    )?;
    let prefix = if details.device_type == Some(HOSTED) || details.account_type == Some(HOSTED) {
        HOSTED_DEVICE_SIG_PREFIX
    } else {
        DEVICE_SIG_PREFIX
    };
    let message = [
        &prefix[..],
        issued_details,
        companion_identity,
        account_public,
    ]
    .concat();
    if signal::xeddsa::verify(companion_identity, &message, &signature) {
        Ok(())
    } else {
        Err(PairingError::BadDeviceSignature)
    }
}

/// The encoded `ADVSignedKeyIndexList` for an account's companions with `key_indexes`.
pub fn sign_key_index_list(
    account: &KeyPair,
    raw_id: u32,
    key_indexes: &[u32],
    now: u64,
) -> Vec<u8> {
    let details = AdvKeyIndexList {
        raw_id: Some(raw_id),
        timestamp: Some(now),
        current_index: key_indexes.iter().copied().max(),
        valid_indexes: key_indexes.to_vec(),
        account_type: None,
    }
    .encode_to_vec();
    let signature = sign(account.private(), &[&KEY_INDEX_PREFIX, &details]);
    AdvSignedKeyIndexList {
        details: Some(details),
        account_signature: Some(signature.to_vec()),
        account_signature_key: None,
    }
    .encode_to_vec()
}

/// Checks a `<key-index-list>` against the account's primary identity key (the identity of its
/// device 0 bundle) and returns the list.
pub fn verify_key_index_list(
    signed: &[u8],
    primary_identity: &[u8; 32],
) -> Result<AdvKeyIndexList, PairingError> {
    let signed = AdvSignedKeyIndexList::decode(signed)?;
    let details = signed
        .details
        .as_deref()
        .ok_or(PairingError::Missing("ADVSignedKeyIndexList.details"))?;
    let signature = signature64(
        signed.account_signature.as_deref(),
        "ADVSignedKeyIndexList.accountSignature",
    )?;
    let message = [&KEY_INDEX_PREFIX[..], details].concat();
    if !signal::xeddsa::verify(primary_identity, &message, &signature) {
        return Err(PairingError::BadKeyIndexSignature);
    }
    Ok(AdvKeyIndexList::decode(details)?)
}

// ---------------------------------------------------------------------------------------------
// Companion side

/// A `pair-success` identity that checked out, counter-signed.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptedIdentity {
    /// The full signed identity as the phone issued it plus our device signature, account
    /// signature key kept (the engine stores it and sends it as `<device-identity>` with pkmsg
    /// messages).
    pub account: AdvSignedDeviceIdentity,
    /// Encoded `ADVSignedDeviceIdentity` for `<pair-device-sign><device-identity>`: without
    /// `accountSignatureKey`, with `deviceSignature`.
    pub reply: Vec<u8>,
    /// The key index the phone gave us (the `key-index` attribute of the reply).
    pub key_index: u32,
    pub details: AdvDeviceIdentity,
}

impl AcceptedIdentity {
    /// The phone's account (primary identity) key, which signed us.
    pub fn account_signature_key(&self) -> Option<&[u8]> {
        self.account.account_signature_key.as_deref()
    }
}

/// The companion's handling of `<pair-success><device-identity>`: checks the HMAC with our ADV
/// secret and the phone's account signature over our identity key, then adds our device
/// signature. Any failure means the pairing must be refused (answer the IQ with an error).
pub fn accept_pair_success(
    device_identity: &[u8],
    adv_secret: &[u8; 32],
    identity: &KeyPair,
) -> Result<AcceptedIdentity, PairingError> {
    let container = AdvSignedDeviceIdentityHmac::decode(device_identity)?;
    let signed = container
        .details
        .as_deref()
        .ok_or(PairingError::Missing("ADVSignedDeviceIdentityHMAC.details"))?;
    let hmac = container
        .hmac
        .as_deref()
        .ok_or(PairingError::Missing("ADVSignedDeviceIdentityHMAC.hmac"))?;
    let hosted_account = container.account_type == Some(HOSTED);
    // Constant-time comparison: the HMAC is the one thing an attacker could probe byte by byte.
    identity_hmac(adv_secret, hosted_account, signed)?
        .verify_slice(hmac)
        .map_err(|_| PairingError::HmacMismatch)?;

    let mut account = AdvSignedDeviceIdentity::decode(signed)?;
    let details_bytes = account
        .details
        .clone()
        .ok_or(PairingError::Missing("ADVSignedDeviceIdentity.details"))?;
    let details = AdvDeviceIdentity::decode(details_bytes.as_slice())?;
    let account_key: [u8; 32] = account
        .account_signature_key
        .as_deref()
        .ok_or(PairingError::Missing(
            "ADVSignedDeviceIdentity.accountSignatureKey",
        ))?
        .try_into()
        .map_err(|_| PairingError::Malformed("ADVSignedDeviceIdentity.accountSignatureKey"))?;
    let account_signature = signature64(
        account.account_signature.as_deref(),
        "ADVSignedDeviceIdentity.accountSignature",
    )?;
    let hosted = hosted_account || details.device_type == Some(HOSTED);
    let (account_prefix, device_prefix) = if hosted {
        (HOSTED_ACCOUNT_SIG_PREFIX, HOSTED_DEVICE_SIG_PREFIX)
    } else {
        (ACCOUNT_SIG_PREFIX, DEVICE_SIG_PREFIX)
    };
    let message = [&account_prefix[..], &details_bytes, identity.public()].concat();
    if !signal::xeddsa::verify(&account_key, &message, &account_signature) {
        return Err(PairingError::BadAccountSignature);
    }
    let key_index = details
        .key_index
        .ok_or(PairingError::Missing("ADVDeviceIdentity.keyIndex"))?;

    let device_signature = sign(
        identity.private(),
        &[
            &device_prefix,
            &details_bytes,
            identity.public(),
            &account_key,
        ],
    );
    account.device_signature = Some(device_signature.to_vec());
    let reply = AdvSignedDeviceIdentity {
        account_signature_key: None,
        ..account.clone()
    }
    .encode_to_vec();
    Ok(AcceptedIdentity {
        account,
        reply,
        key_index,
        details,
    })
}

// ---------------------------------------------------------------------------------------------
// Shared

/// HMAC-SHA256 keyed with the ADV secret, primed with the HOSTED prefix when it applies.
fn identity_hmac(
    adv_secret: &[u8; 32],
    hosted: bool,
    signed: &[u8],
) -> Result<Hmac<Sha256>, PairingError> {
    // HMAC takes keys of any length, so this cannot fail; mapped rather than unwrapped anyway.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(adv_secret)
        .map_err(|_| PairingError::Malformed("adv secret"))?;
    if hosted {
        mac.update(&HOSTED_ACCOUNT_SIG_PREFIX);
    }
    mac.update(signed);
    Ok(mac)
}

fn signature64(bytes: Option<&[u8]>, what: &'static str) -> Result<[u8; 64], PairingError> {
    bytes
        .ok_or(PairingError::Missing(what))?
        .try_into()
        .map_err(|_| PairingError::Malformed(what))
}

/// XEdDSA over the concatenation of `parts`, with fresh randomness.
fn sign(private: &[u8; 32], parts: &[&[u8]]) -> [u8; 64] {
    let mut random = [0u8; 64];
    OsRng.fill_bytes(&mut random);
    signal::xeddsa::sign(private, &parts.concat(), &random)
}

#[cfg(test)]
mod tests;
