//! Pairing by phone-number code: the other way a companion is linked. The companion shows an
//! 8-character code; the user types it on the phone; both sides then agree on the ADV secret
//! that a QR code would otherwise carry, and the phone links the companion as a scan does.
//! This module is the crypto of both sides; the stanzas are the caller's.
//!
//! Facts (from Baileys 7.0.0-rc14, `Socket/socket.js` `requestPairingCode`,
//! `Socket/messages-recv.js` (the `link_code_companion_reg` notification) and
//! `Utils/generics.js` `bytesToCrockford`):
//! - code = 5 random bytes in Crockford-style base32 over the alphabet
//!   `123456789ABCDEFGHJKLMNPQRSTVWXYZ` (no 0, I, L, O, U): 8 characters.
//! - code key = PBKDF2-HMAC-SHA256(code, salt, 2 << 16 iterations, 32 bytes);
//!   a wrapped public key = `salt32 ‖ iv16 ‖ AES-256-CTR(code key, iv, public32)`.
//! - `companion_hello` (iq set, `md`): the companion's wrapped ephemeral key, its noise key, its
//!   platform; the server answers with a `link_code_pairing_ref`.
//! - `primary_hello` (notification to the companion): the phone's wrapped ephemeral key, its
//!   identity key and the ref.
//! - `companion_finish` (iq set): `salt32 ‖ iv12 ‖ AES-256-GCM(k, iv, companion identity ‖
//!   primary identity ‖ random32)` with k = HKDF-SHA256(ephemeral shared, salt, info
//!   `link_code_pairing_key_bundle_encryption_key`); both sides then take
//!   adv secret = HKDF-SHA256(ephemeral shared ‖ identity shared ‖ random, no salt, `adv_secret`).
//!
//! The wrap is unauthenticated, so a wrong code cannot be told from a right one for certain:
//! a phone refuses a code whose unwrapped key is not a valid X25519 public key (a point of the
//! prime-order subgroup, canonical top bit), which catches all but about 1 in 32 wrong codes;
//! the rest fail at `companion_finish`, whose GCM tag does not verify.
//!
//! PBKDF2 is ring's: 131 072 rounds of a generic HMAC take over a second in an unoptimised
//! build, ring's assembly a few milliseconds.

use std::num::NonZeroU32;

use aes::cipher::{KeyIvInit, StreamCipher};
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use curve25519_dalek::montgomery::MontgomeryPoint;
use hkdf::Hkdf;
use rand_core::{OsRng, RngCore};
use sha2::Sha256;

use super::PairingError;

/// PBKDF2 iterations Baileys uses (`2 << 16`).
pub const PBKDF2_ROUNDS: u32 = 2 << 16;
/// Characters of a pairing code.
pub const CODE_LEN: usize = 8;
/// The characters of a pairing code, as Baileys' `bytesToCrockford` writes them.
pub const CODE_ALPHABET: &[u8; 32] = b"123456789ABCDEFGHJKLMNPQRSTVWXYZ";
const SALT_LEN: usize = 32;
const CTR_IV_LEN: usize = 16;
const GCM_IV_LEN: usize = 12;
const GCM_TAG_LEN: usize = 16;
/// `salt ‖ iv ‖ ciphered public key`.
pub const WRAPPED_LEN: usize = SALT_LEN + CTR_IV_LEN + 32;
/// `salt ‖ iv ‖ GCM(companion identity ‖ primary identity ‖ random)`.
pub const BUNDLE_LEN: usize = SALT_LEN + GCM_IV_LEN + 96 + GCM_TAG_LEN;
const BUNDLE_INFO: &[u8] = b"link_code_pairing_key_bundle_encryption_key";
const ADV_INFO: &[u8] = b"adv_secret";

type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

/// A fresh pairing code: 5 random bytes as 8 characters of [`CODE_ALPHABET`].
pub fn generate_code() -> String {
    let mut bytes = [0u8; 5];
    OsRng.fill_bytes(&mut bytes);
    code_from_bytes(bytes)
}

/// 40 bits, 5 at a time from the most significant, each naming a character.
fn code_from_bytes(bytes: [u8; 5]) -> String {
    let value = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    (0..CODE_LEN)
        .rev()
        .map(|i| char::from(CODE_ALPHABET[((value >> (i * 5)) & 31) as usize]))
        .collect()
}

/// What a user may type: the code with optional dashes/spaces, any case. Returns the code as
/// Baileys shows it (upper case, 8 letters or digits).
pub fn normalize_code(code: &str) -> Result<String, PairingError> {
    let code: String = code
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if code.len() == CODE_LEN && code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(code)
    } else {
        Err(PairingError::BadCode)
    }
}

/// PBKDF2-HMAC-SHA256 of the code.
pub fn code_key(code: &str, salt: &[u8]) -> [u8; 32] {
    const ROUNDS: NonZeroU32 = match NonZeroU32::new(PBKDF2_ROUNDS) {
        Some(n) => n,
        None => panic!("PBKDF2_ROUNDS is not zero"), // evaluated at compile time
    };
    let mut out = [0u8; 32];
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        ROUNDS,
        salt,
        code.as_bytes(),
        &mut out,
    );
    out
}

fn ctr_apply(key: &[u8; 32], iv: &[u8; CTR_IV_LEN], data: &mut [u8]) {
    let mut cipher = Aes256Ctr::new(key.into(), iv.into());
    cipher.apply_keystream(data);
}

/// Wraps an ephemeral public key under the code with the given salt and IV.
pub fn wrap_with(
    code: &str,
    public: &[u8; 32],
    salt: &[u8; 32],
    iv: &[u8; 16],
) -> [u8; WRAPPED_LEN] {
    let key = code_key(code, salt);
    let mut out = [0u8; WRAPPED_LEN];
    out[..SALT_LEN].copy_from_slice(salt);
    out[SALT_LEN..SALT_LEN + CTR_IV_LEN].copy_from_slice(iv);
    out[SALT_LEN + CTR_IV_LEN..].copy_from_slice(public);
    ctr_apply(&key, iv, &mut out[SALT_LEN + CTR_IV_LEN..]);
    out
}

/// Wraps an ephemeral public key under the code with a fresh salt and IV.
pub fn wrap(code: &str, public: &[u8; 32]) -> [u8; WRAPPED_LEN] {
    let mut salt = [0u8; SALT_LEN];
    let mut iv = [0u8; CTR_IV_LEN];
    OsRng.fill_bytes(&mut salt);
    OsRng.fill_bytes(&mut iv);
    wrap_with(code, public, &salt, &iv)
}

/// Unwraps a public key wrapped under `code`; a result that is no valid X25519 public key means
/// the code is wrong (see the module docs for why this is not certain).
pub fn unwrap(code: &str, wrapped: &[u8]) -> Result<[u8; 32], PairingError> {
    let wrapped: &[u8; WRAPPED_LEN] = wrapped
        .try_into()
        .map_err(|_| PairingError::MalformedBundle("wrapped key (salt32 ‖ iv16 ‖ key32)"))?;
    let (salt, rest) = wrapped.split_at(SALT_LEN);
    let (iv, ciphered) = rest.split_at(CTR_IV_LEN);
    let key = code_key(code, salt);
    let mut public = [0u8; 32];
    public.copy_from_slice(ciphered);
    let mut ctr_iv = [0u8; CTR_IV_LEN];
    ctr_iv.copy_from_slice(iv);
    ctr_apply(&key, &ctr_iv, &mut public);
    if plausible_public_key(&public) {
        Ok(public)
    } else {
        Err(PairingError::WrongCode)
    }
}

/// True for what an X25519 key generator can output: canonical top bit, a point on the curve
/// (not its twist), in the prime-order subgroup.
pub fn plausible_public_key(key: &[u8; 32]) -> bool {
    key[31] & 0x80 == 0
        && MontgomeryPoint(*key)
            .to_edwards(0)
            .is_some_and(|p| p.is_torsion_free() && !p.is_small_order())
}

fn hkdf32(ikm: &[u8], salt: Option<&[u8]>, info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 255 × 32-byte limit, so expand cannot fail; if it
    // somehow did, the zero key would only make the peer's GCM tag or HMAC fail to verify.
    let _ = Hkdf::<Sha256>::new(salt, ikm).expand(info, &mut out);
    out
}

/// The opened key bundle of `companion_finish`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyBundle {
    pub companion_identity: [u8; 32],
    pub primary_identity: [u8; 32],
    pub random: [u8; 32],
}

/// Opens `salt ‖ iv ‖ GCM(bundle)` with the ephemeral shared secret (phone side).
pub fn open_bundle(ephemeral_shared: &[u8; 32], sealed: &[u8]) -> Result<KeyBundle, PairingError> {
    if sealed.len() != BUNDLE_LEN {
        return Err(PairingError::MalformedBundle("key bundle length"));
    }
    let (salt, rest) = sealed.split_at(SALT_LEN);
    let (iv, ciphertext) = rest.split_at(GCM_IV_LEN);
    let key = hkdf32(ephemeral_shared, Some(salt), BUNDLE_INFO);
    let plain = Aes256Gcm::new((&key).into())
        .decrypt(Nonce::from_slice(iv), ciphertext)
        .map_err(|_| PairingError::BundleDecrypt)?;
    let part = |i: usize| -> Result<[u8; 32], PairingError> {
        plain
            .get(i * 32..(i + 1) * 32)
            .and_then(|p| p.try_into().ok())
            .ok_or(PairingError::MalformedBundle("key bundle plaintext"))
    };
    Ok(KeyBundle {
        companion_identity: part(0)?,
        primary_identity: part(1)?,
        random: part(2)?,
    })
}

/// Seals the key bundle for `companion_finish` (companion side) with the given salt and IV.
pub fn seal_bundle(
    ephemeral_shared: &[u8; 32],
    bundle: &KeyBundle,
    salt: &[u8; 32],
    iv: &[u8; 12],
) -> Vec<u8> {
    let key = hkdf32(ephemeral_shared, Some(salt), BUNDLE_INFO);
    let plain = [
        &bundle.companion_identity[..],
        &bundle.primary_identity,
        &bundle.random,
    ]
    .concat();
    let sealed = Aes256Gcm::new((&key).into())
        .encrypt(Nonce::from_slice(iv), plain.as_slice())
        .expect("AES-GCM fails only for plaintexts over 64 GiB; this one is 96 bytes");
    [&salt[..], iv, &sealed].concat()
}

/// adv secret = HKDF(ephemeral shared ‖ identity shared ‖ random, info `adv_secret`).
pub fn adv_secret(
    ephemeral_shared: &[u8; 32],
    identity_shared: &[u8; 32],
    random: &[u8; 32],
) -> [u8; 32] {
    let ikm = [&ephemeral_shared[..], identity_shared, random].concat();
    hkdf32(&ikm, None, ADV_INFO)
}

#[cfg(test)]
mod tests;
