//! Linking a companion device to a phone: the crypto both ends run, as pure functions. The
//! companion (our engine) and the phone (the fake WhatsApp's scripted phones) share this one
//! implementation, so a test that pairs a Baileys client with the fake also proves the code our
//! engine pairs with.
//!
//! - [`qr`]: the QR string a companion shows and a phone scans (ref, noise key, identity key,
//!   ADV secret, platform).
//! - [`adv`]: ADV ("account device verification"): the phone's signed device identity
//!   (`pair-success`), the companion's counter-signature (`pair-device-sign`), and the signed
//!   key-index list the phone publishes with device lists.
//! - [`link_code`]: pairing by an 8-character code typed on the phone instead of a QR scan; both
//!   sides derive the same ADV secret the QR would have carried.
//!
//! Nothing here does I/O or keeps state; callers hold keys and send stanzas. Every failure is a
//! [`PairingError`] naming what did not check out, because a pairing that fails must tell the
//! user (and the logs) more than "it did not work".

pub mod adv;
pub mod link_code;
pub mod qr;

use thiserror::Error;

pub use adv::{
    AcceptedIdentity, IssuedIdentity, accept_pair_success, issue_hosted_identity, issue_identity,
    sign_key_index_list, verify_device_signature, verify_key_index_list,
};
pub use qr::{QR_PREFIX, QrData, format_qr, parse_qr};

/// Why a pairing step refused its input.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PairingError {
    /// A QR string that is not `[prefix]ref,noise,identity,adv,platform` with 32-byte keys.
    #[error("bad QR string: {0}")]
    BadQr(&'static str),
    /// The `device-identity` HMAC does not match our ADV secret: the identity was not issued
    /// for this companion's QR/code, or was altered on the way.
    #[error("device identity HMAC does not match the ADV secret")]
    HmacMismatch,
    /// The phone's account signature over the device identity does not verify.
    #[error("account signature over the device identity does not verify")]
    BadAccountSignature,
    /// The companion's device signature does not verify (phone side).
    #[error("device signature does not verify")]
    BadDeviceSignature,
    /// The companion's reply names other identity details than the phone issued.
    #[error("identity details differ from the issued ones")]
    DetailsMismatch,
    /// The key-index list signature does not verify with the primary's identity key.
    #[error("key-index list signature does not verify")]
    BadKeyIndexSignature,
    /// A required protobuf field is absent.
    #[error("`{0}` is missing")]
    Missing(&'static str),
    /// A field has the wrong length or shape.
    #[error("`{0}` is malformed")]
    Malformed(&'static str),
    /// A protobuf does not decode.
    #[error("protobuf does not decode: {0}")]
    Decode(#[from] prost::DecodeError),
    /// A pairing code that is not 8 letters or digits.
    #[error("a pairing code is 8 letters or digits")]
    BadCode,
    /// The code does not unwrap the peer's key (see [`link_code`] for why this is not certain).
    #[error("wrong pairing code")]
    WrongCode,
    /// A wrapped key or key bundle of the wrong length.
    #[error("malformed {0}")]
    MalformedBundle(&'static str),
    /// The key bundle's AES-GCM tag does not verify: wrong code or tampered bundle.
    #[error("key bundle does not decrypt (wrong code or tampered)")]
    BundleDecrypt,
}
