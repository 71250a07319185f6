//! Pairing by QR code: parsing what the companion displayed, the ADV device identity the phone
//! signs, and checking the companion's counter-signature.
//!
//! Facts (from Baileys' `validate-connection.js` and `companion-reg-client-utils.js`):
//! - QR = optional `https://wa.me/settings/linked_devices#` ‖ `ref,noisePub,identityPub,advSecret,platform`
//!   with the three keys base64.
//! - account signature = XEdDSA(account key, `06 00` ‖ identity details ‖ companion identity pub).
//! - `device-identity` = `ADVSignedDeviceIdentityHMAC{details: signed identity, hmac:
//!   HMAC-SHA256(adv secret, signed identity)}`.
//! - the companion replies `pair-device-sign` with the identity re-encoded without the account
//!   key and with `deviceSignature` = XEdDSA(identity key, `06 01` ‖ details ‖ identity pub ‖
//!   account pub).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use prost::Message;
use rand_core::{OsRng, RngCore};
use sha2::Sha256;
use whatsapp::proto::{AdvDeviceIdentity, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac};

use crate::error::FakeError;

const QR_PREFIX: &str = "https://wa.me/settings/linked_devices#";
const ACCOUNT_SIG_PREFIX: [u8; 2] = [6, 0];
const DEVICE_SIG_PREFIX: [u8; 2] = [6, 1];

/// The fields of a pairing QR code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrData {
    pub reference: String,
    pub noise_public: [u8; 32],
    pub identity_public: [u8; 32],
    pub adv_secret: Vec<u8>,
    pub platform: String,
}

fn key32(b64: &str) -> Result<[u8; 32], FakeError> {
    let bytes = STANDARD
        .decode(b64)
        .map_err(|_| FakeError::BadQr("key is not base64"))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| FakeError::BadQr("key is not 32 bytes"))
}

/// Parses a QR string as a companion shows it.
pub fn parse_qr(qr: &str) -> Result<QrData, FakeError> {
    let body = qr.trim();
    let body = body.strip_prefix(QR_PREFIX).unwrap_or(body);
    let parts: Vec<&str> = body.split(',').collect();
    let [reference, noise, identity, adv, platform] = parts.as_slice() else {
        return Err(FakeError::BadQr("expected 5 comma-separated fields"));
    };
    if reference.is_empty() {
        return Err(FakeError::BadQr("empty ref"));
    }
    let adv_secret = STANDARD
        .decode(adv)
        .map_err(|_| FakeError::BadQr("adv secret is not base64"))?;
    if adv_secret.len() != 32 {
        return Err(FakeError::BadQr("adv secret is not 32 bytes"));
    }
    Ok(QrData {
        reference: (*reference).to_owned(),
        noise_public: key32(noise)?,
        identity_public: key32(identity)?,
        adv_secret,
        platform: (*platform).to_owned(),
    })
}

/// The phone's signed identity for one companion: the `device-identity` bytes for
/// `pair-success` and the raw details (kept to check the reply).
pub struct IssuedIdentity {
    pub device_identity: Vec<u8>,
    pub details: Vec<u8>,
}

pub fn issue_identity(
    account: &whatsapp::handshake::KeyPair,
    companion_identity: &[u8; 32],
    adv_secret: &[u8],
    raw_id: u32,
    key_index: u32,
    now_unix: u64,
) -> Result<IssuedIdentity, FakeError> {
    let details = AdvDeviceIdentity {
        raw_id: Some(raw_id),
        timestamp: Some(now_unix),
        key_index: Some(key_index),
        ..Default::default()
    }
    .encode_to_vec();
    let mut msg = ACCOUNT_SIG_PREFIX.to_vec();
    msg.extend_from_slice(&details);
    msg.extend_from_slice(companion_identity);
    let mut random = [0u8; 64];
    OsRng.fill_bytes(&mut random);
    let signature = signal::xeddsa::sign(account.private(), &msg, &random);
    let signed = AdvSignedDeviceIdentity {
        details: Some(details.clone()),
        account_signature_key: Some(account.public().to_vec()),
        account_signature: Some(signature.to_vec()),
        device_signature: None,
    }
    .encode_to_vec();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(adv_secret)
        .map_err(|_| FakeError::Pairing("adv secret unusable as HMAC key"))?;
    mac.update(&signed);
    let device_identity = AdvSignedDeviceIdentityHmac {
        details: Some(signed),
        hmac: Some(mac.finalize().into_bytes().to_vec()),
        account_type: None,
    }
    .encode_to_vec();
    Ok(IssuedIdentity {
        device_identity,
        details,
    })
}

/// Checks the companion's `pair-device-sign` identity against what the phone issued.
pub fn verify_device_signature(
    reply_identity: &[u8],
    issued_details: &[u8],
    companion_identity: &[u8; 32],
    account_public: &[u8; 32],
) -> Result<(), FakeError> {
    let signed = AdvSignedDeviceIdentity::decode(reply_identity)?;
    if signed.details.as_deref() != Some(issued_details) {
        return Err(FakeError::Pairing(
            "identity details differ from the issued ones",
        ));
    }
    let signature = signed
        .device_signature
        .as_deref()
        .and_then(|s| <[u8; 64]>::try_from(s).ok())
        .ok_or(FakeError::Pairing(
            "device signature missing or not 64 bytes",
        ))?;
    let mut msg = DEVICE_SIG_PREFIX.to_vec();
    msg.extend_from_slice(issued_details);
    msg.extend_from_slice(companion_identity);
    msg.extend_from_slice(account_public);
    if signal::xeddsa::verify(companion_identity, &msg, &signature) {
        Ok(())
    } else {
        Err(FakeError::Pairing("device signature does not verify"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use whatsapp::handshake::KeyPair;

    fn qr_for(noise: &[u8; 32], ident: &[u8; 32], adv: &[u8; 32]) -> String {
        format!(
            "{QR_PREFIX}REF1,{},{},{},WA",
            STANDARD.encode(noise),
            STANDARD.encode(ident),
            STANDARD.encode(adv)
        )
    }

    #[test]
    fn parses_with_and_without_prefix() {
        let qr = qr_for(&[1; 32], &[2; 32], &[3; 32]);
        let a = parse_qr(&qr).unwrap();
        let b = parse_qr(qr.trim_start_matches(QR_PREFIX)).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.reference, "REF1");
        assert_eq!(a.identity_public, [2; 32]);
        assert_eq!(a.platform, "WA");
    }

    #[test]
    fn rejects_malformed_qr() {
        assert!(parse_qr("a,b,c").is_err());
        assert!(parse_qr("r,!!,AAAA,AAAA,WA").is_err());
        let short = format!(
            "r,{},{},{},WA",
            STANDARD.encode([1; 31]),
            STANDARD.encode([1; 32]),
            STANDARD.encode([1; 32])
        );
        assert!(parse_qr(&short).is_err());
    }

    #[test]
    fn identity_round_trip_and_tamper() {
        let account = KeyPair::generate();
        let companion = KeyPair::generate();
        let adv = [9u8; 32];
        let issued =
            issue_identity(&account, companion.public(), &adv, 7, 1, 1_700_000_000).unwrap();
        let outer = AdvSignedDeviceIdentityHmac::decode(issued.device_identity.as_slice()).unwrap();
        let signed_bytes = outer.details.unwrap();
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&adv).unwrap();
        mac.update(&signed_bytes);
        assert_eq!(outer.hmac.unwrap(), mac.finalize().into_bytes().to_vec());
        let mut signed = AdvSignedDeviceIdentity::decode(signed_bytes.as_slice()).unwrap();
        let mut account_msg = vec![6, 0];
        account_msg.extend_from_slice(&issued.details);
        account_msg.extend_from_slice(companion.public());
        let sig: [u8; 64] = signed
            .account_signature
            .clone()
            .unwrap()
            .try_into()
            .unwrap();
        assert!(signal::xeddsa::verify(account.public(), &account_msg, &sig));

        // The companion counter-signs as Baileys does.
        let mut device_msg = vec![6, 1];
        device_msg.extend_from_slice(&issued.details);
        device_msg.extend_from_slice(companion.public());
        device_msg.extend_from_slice(account.public());
        signed.device_signature =
            Some(signal::xeddsa::sign(companion.private(), &device_msg, &[5; 64]).to_vec());
        signed.account_signature_key = None;
        let reply = signed.encode_to_vec();
        verify_device_signature(
            &reply,
            &issued.details,
            companion.public(),
            account.public(),
        )
        .unwrap();
        let other = KeyPair::generate();
        assert!(
            verify_device_signature(&reply, &issued.details, other.public(), account.public())
                .is_err()
        );
        assert!(
            verify_device_signature(
                &reply[1..],
                &issued.details,
                companion.public(),
                account.public()
            )
            .is_err()
        );
    }
}
