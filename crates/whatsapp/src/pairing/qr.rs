//! The QR code a companion shows while it waits to be linked, and that the phone scans.
//!
//! Facts (Baileys 7.0.0-rc14 `Socket/socket.js` `pair-device` handler; whatsmeow `makeQRData`):
//! the server sends `<pair-device>` with several `<ref>`s; for each the companion shows
//! `https://wa.me/settings/linked_devices#` ‖ `ref,base64(noise static pub),base64(identity
//! pub),base64(adv secret),platform` (standard base64 with padding). Older clients leave out the
//! URL prefix and whatsmeow the platform; a phone reads what follows the prefix. The ADV secret
//! is how the phone proves to the companion that the identity it signs is for this QR: it HMACs
//! the identity with it (see [`super::adv`]).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::PairingError;

/// What newer companions put in front of the QR fields.
pub const QR_PREFIX: &str = "https://wa.me/settings/linked_devices#";

/// The fields of a pairing QR code.
#[derive(Clone, PartialEq, Eq)]
pub struct QrData {
    /// One of the refs the server offered the registering connection.
    pub reference: String,
    /// The companion's Noise static public key (its identity on the socket).
    pub noise_public: [u8; 32],
    /// The companion's Signal identity public key.
    pub identity_public: [u8; 32],
    /// The companion's random ADV secret (a shared secret with the phone, so keep it out of
    /// logs; `Debug` leaves it out).
    pub adv_secret: [u8; 32],
    /// The platform the companion names itself (Baileys sends its browser's platform id).
    pub platform: String,
}

impl std::fmt::Debug for QrData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QrData")
            .field("reference", &self.reference)
            .field("noise_public", &self.noise_public)
            .field("identity_public", &self.identity_public)
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

fn key32(b64: &str, what: &'static str) -> Result<[u8; 32], PairingError> {
    let bytes = STANDARD
        .decode(b64)
        .map_err(|_| PairingError::BadQr(what))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| PairingError::BadQr(what))
}

/// Parses a QR string as a companion shows it, with or without [`QR_PREFIX`].
pub fn parse_qr(qr: &str) -> Result<QrData, PairingError> {
    let body = qr.trim();
    let body = body.strip_prefix(QR_PREFIX).unwrap_or(body);
    let parts: Vec<&str> = body.split(',').collect();
    let [reference, noise, identity, adv, platform] = parts.as_slice() else {
        return Err(PairingError::BadQr("expected 5 comma-separated fields"));
    };
    if reference.is_empty() {
        return Err(PairingError::BadQr("empty ref"));
    }
    Ok(QrData {
        reference: (*reference).to_owned(),
        noise_public: key32(noise, "noise key is not 32 bytes of base64")?,
        identity_public: key32(identity, "identity key is not 32 bytes of base64")?,
        adv_secret: key32(adv, "adv secret is not 32 bytes of base64")?,
        platform: (*platform).to_owned(),
    })
}

/// The exact string a phone scans: [`QR_PREFIX`] ‖ `ref,noise,identity,adv,platform`.
pub fn format_qr(qr: &QrData) -> String {
    format!(
        "{QR_PREFIX}{},{},{},{},{}",
        qr.reference,
        STANDARD.encode(qr.noise_public),
        STANDARD.encode(qr.identity_public),
        STANDARD.encode(qr.adv_secret),
        qr.platform
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> QrData {
        QrData {
            reference: "2@REF1+/=".into(),
            noise_public: [1; 32],
            identity_public: [2; 32],
            adv_secret: [3; 32],
            platform: "WA".into(),
        }
    }

    #[test]
    fn format_then_parse_round_trips_with_and_without_prefix() {
        let qr = format_qr(&sample());
        assert!(qr.starts_with("https://wa.me/settings/linked_devices#2@REF1+/=,AQEB"));
        assert_eq!(parse_qr(&qr), Ok(sample()));
        assert_eq!(parse_qr(qr.trim_start_matches(QR_PREFIX)), Ok(sample()));
        assert_eq!(parse_qr(&format!("  {qr}\n")), Ok(sample()));
    }

    #[test]
    fn malformed_qr_strings_are_typed_errors() {
        assert!(matches!(parse_qr("a,b,c"), Err(PairingError::BadQr(_))));
        assert!(matches!(
            parse_qr("r,!!,AAAA,AAAA,WA"),
            Err(PairingError::BadQr(_))
        ));
        let short = format!(
            "r,{},{},{},WA",
            STANDARD.encode([1; 31]),
            STANDARD.encode([1; 32]),
            STANDARD.encode([1; 32])
        );
        assert!(matches!(parse_qr(&short), Err(PairingError::BadQr(_))));
        let short_adv = format!(
            "r,{},{},{},WA",
            STANDARD.encode([1; 32]),
            STANDARD.encode([1; 32]),
            STANDARD.encode([1; 16])
        );
        assert!(matches!(parse_qr(&short_adv), Err(PairingError::BadQr(_))));
        let mut no_ref = sample();
        no_ref.reference.clear();
        assert_eq!(
            parse_qr(&format_qr(&no_ref)),
            Err(PairingError::BadQr("empty ref"))
        );
    }

    #[test]
    fn debug_leaves_the_adv_secret_out() {
        let shown = format!("{:?}", sample());
        assert!(!shown.contains("adv_secret"), "{shown}");
    }
}
