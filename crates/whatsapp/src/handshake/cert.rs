//! The server's Noise certificate chain: building one (fake server) and verifying one (client).
//!
//! `CertChain{leaf, intermediate}`; each certificate is `details` (an encoded
//! `NoiseCertificate.Details`: serial, issuer serial, key, validity) plus an XEdDSA signature over
//! the raw `details` bytes. The intermediate is signed by the root key, the leaf by the
//! intermediate's key, and the leaf's key must be the server's Noise static key. The root key is
//! always a parameter: WhatsApp's in production, the fake server's own in tests.

use prost::Message;
use rand_core::{OsRng, RngCore};
use thiserror::Error;

use super::KeyPair;
use crate::proto::CertChain;
use crate::proto::cert_chain::NoiseCertificate;
use crate::proto::cert_chain::noise_certificate::Details;

/// WhatsApp's production root public key for the Noise certificate chain.
pub const WHATSAPP_ROOT_KEY: [u8; 32] = [
    0x14, 0x23, 0x75, 0x57, 0x4d, 0x0a, 0x58, 0x71, 0x66, 0xaa, 0xe7, 0x1e, 0xbe, 0x51, 0x64, 0x37,
    0xc4, 0xa2, 0x8b, 0x73, 0xe3, 0x69, 0x5c, 0x6c, 0xe1, 0xf7, 0xf9, 0x54, 0x5d, 0xa8, 0xee, 0x6b,
];

/// Which certificate of the chain an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Leaf,
    Intermediate,
}

impl std::fmt::Display for Which {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Which::Leaf => "leaf",
            Which::Intermediate => "intermediate",
        })
    }
}

#[derive(Debug, Error, PartialEq)]
pub enum CertError {
    #[error("certificate chain is not a valid protobuf")]
    Decode(#[from] prost::DecodeError),
    #[error("{0} certificate missing")]
    MissingCertificate(Which),
    #[error("{0} certificate lacks `{1}`")]
    MissingField(Which, &'static str),
    #[error("{0} certificate has a malformed `{1}`")]
    Malformed(Which, &'static str),
    #[error("{0} certificate signature does not verify")]
    BadSignature(Which),
    #[error("intermediate certificate's issuer serial is {0}, expected 0 (the root)")]
    IntermediateIssuer(u32),
    #[error("leaf issuer serial {got} does not match intermediate serial {expected}")]
    LeafIssuer { expected: u32, got: u32 },
    #[error("leaf certificate key is not the server's static key")]
    LeafKeyMismatch,
    #[error("{which} certificate not valid before {not_before} (now {now})")]
    NotYetValid {
        which: Which,
        not_before: u64,
        now: u64,
    },
    #[error("{which} certificate expired at {not_after} (now {now})")]
    Expired {
        which: Which,
        not_after: u64,
        now: u64,
    },
}

/// The decoded contents of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertDetails {
    pub serial: u32,
    pub issuer_serial: u32,
    pub key: [u8; 32],
    /// Unix seconds.
    pub not_before: u64,
    /// Unix seconds.
    pub not_after: u64,
}

/// A chain that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedChain {
    pub leaf: CertDetails,
    pub intermediate: CertDetails,
}

/// Verifies an encoded `CertChain` against `root_key`, the server's static key and `now_unix`.
pub fn verify_chain(
    chain: &[u8],
    root_key: &[u8; 32],
    server_static: &[u8; 32],
    now_unix: u64,
) -> Result<VerifiedChain, CertError> {
    let chain = CertChain::decode(chain)?;
    let leaf = chain
        .leaf
        .ok_or(CertError::MissingCertificate(Which::Leaf))?;
    let intermediate = chain
        .intermediate
        .ok_or(CertError::MissingCertificate(Which::Intermediate))?;

    let intermediate = check_signed(&intermediate, root_key, Which::Intermediate)?;
    let leaf = check_signed(&leaf, &intermediate.key, Which::Leaf)?;

    if intermediate.issuer_serial != 0 {
        return Err(CertError::IntermediateIssuer(intermediate.issuer_serial));
    }
    if leaf.issuer_serial != intermediate.serial {
        return Err(CertError::LeafIssuer {
            expected: intermediate.serial,
            got: leaf.issuer_serial,
        });
    }
    if &leaf.key != server_static {
        return Err(CertError::LeafKeyMismatch);
    }
    check_validity(&intermediate, Which::Intermediate, now_unix)?;
    check_validity(&leaf, Which::Leaf, now_unix)?;
    Ok(VerifiedChain { leaf, intermediate })
}

/// Checks the signature over the raw details bytes, then decodes them.
fn check_signed(
    cert: &NoiseCertificate,
    issuer_key: &[u8; 32],
    which: Which,
) -> Result<CertDetails, CertError> {
    let details = cert
        .details
        .as_deref()
        .ok_or(CertError::MissingField(which, "details"))?;
    let signature = cert
        .signature
        .as_deref()
        .ok_or(CertError::MissingField(which, "signature"))?;
    let signature =
        <&[u8; 64]>::try_from(signature).map_err(|_| CertError::Malformed(which, "signature"))?;
    if !signal::xeddsa::verify(issuer_key, details, signature) {
        return Err(CertError::BadSignature(which));
    }
    let d = Details::decode(details)?;
    let key = d
        .key
        .as_deref()
        .ok_or(CertError::MissingField(which, "key"))?;
    Ok(CertDetails {
        serial: d.serial.ok_or(CertError::MissingField(which, "serial"))?,
        issuer_serial: d
            .issuer_serial
            .ok_or(CertError::MissingField(which, "issuerSerial"))?,
        key: <[u8; 32]>::try_from(key).map_err(|_| CertError::Malformed(which, "key"))?,
        not_before: d
            .not_before
            .ok_or(CertError::MissingField(which, "notBefore"))?,
        not_after: d
            .not_after
            .ok_or(CertError::MissingField(which, "notAfter"))?,
    })
}

fn check_validity(cert: &CertDetails, which: Which, now: u64) -> Result<(), CertError> {
    if now < cert.not_before {
        return Err(CertError::NotYetValid {
            which,
            not_before: cert.not_before,
            now,
        });
    }
    if now > cert.not_after {
        return Err(CertError::Expired {
            which,
            not_after: cert.not_after,
            now,
        });
    }
    Ok(())
}

/// Issues certificate chains for a server (the fake WhatsApp): a root key, and an intermediate
/// certificate signed by it; each [`CertificateAuthority::issue`] signs a leaf for a server key.
#[derive(Debug, Clone)]
pub struct CertificateAuthority {
    root: KeyPair,
    intermediate_key: KeyPair,
    intermediate: NoiseCertificate,
    intermediate_serial: u32,
    not_before: u64,
    not_after: u64,
}

impl CertificateAuthority {
    /// Fresh random root and intermediate keys; certificates valid in `[not_before, not_after]`.
    pub fn generate(not_before: u64, not_after: u64) -> Self {
        Self::new(
            KeyPair::generate(),
            KeyPair::generate(),
            3,
            not_before,
            not_after,
        )
    }

    /// From given keys (so a test process can pin the root key it trusts).
    pub fn new(
        root: KeyPair,
        intermediate_key: KeyPair,
        intermediate_serial: u32,
        not_before: u64,
        not_after: u64,
    ) -> Self {
        let details = Details {
            serial: Some(intermediate_serial),
            issuer_serial: Some(0),
            key: Some(intermediate_key.public().to_vec()),
            not_before: Some(not_before),
            not_after: Some(not_after),
        };
        let intermediate = sign_details(&root, details);
        Self {
            root,
            intermediate_key,
            intermediate,
            intermediate_serial,
            not_before,
            not_after,
        }
    }

    /// The public key clients must trust.
    pub fn root_public(&self) -> &[u8; 32] {
        self.root.public()
    }

    /// An encoded `CertChain` whose leaf (serial `leaf_serial`) certifies `server_static`.
    pub fn issue(&self, leaf_serial: u32, server_static: &[u8; 32]) -> Vec<u8> {
        let details = Details {
            serial: Some(leaf_serial),
            issuer_serial: Some(self.intermediate_serial),
            key: Some(server_static.to_vec()),
            not_before: Some(self.not_before),
            not_after: Some(self.not_after),
        };
        CertChain {
            leaf: Some(sign_details(&self.intermediate_key, details)),
            intermediate: Some(self.intermediate.clone()),
        }
        .encode_to_vec()
    }
}

fn sign_details(signer: &KeyPair, details: Details) -> NoiseCertificate {
    let details = details.encode_to_vec();
    let mut random = [0u8; 64];
    OsRng.fill_bytes(&mut random);
    let signature = signal::xeddsa::sign(signer.private(), &details, &random);
    NoiseCertificate {
        details: Some(details),
        signature: Some(signature.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_000_000;

    fn details(serial: u32, issuer_serial: u32, key: &[u8; 32]) -> Details {
        Details {
            serial: Some(serial),
            issuer_serial: Some(issuer_serial),
            key: Some(key.to_vec()),
            not_before: Some(NOW - 10),
            not_after: Some(NOW + 10),
        }
    }

    struct Keys {
        root: KeyPair,
        intermediate: KeyPair,
        server: KeyPair,
    }

    fn keys() -> Keys {
        Keys {
            root: KeyPair::generate(),
            intermediate: KeyPair::generate(),
            server: KeyPair::generate(),
        }
    }

    /// A chain built by hand, so each rule can be broken on its own.
    fn chain(k: &Keys, intermediate: Details, leaf: Details) -> Vec<u8> {
        CertChain {
            leaf: Some(sign_details(&k.intermediate, leaf)),
            intermediate: Some(sign_details(&k.root, intermediate)),
        }
        .encode_to_vec()
    }

    fn verify(k: &Keys, chain: &[u8]) -> Result<VerifiedChain, CertError> {
        verify_chain(chain, k.root.public(), k.server.public(), NOW)
    }

    #[test]
    fn a_well_formed_chain_verifies() {
        let k = keys();
        let c = chain(
            &k,
            details(5, 0, k.intermediate.public()),
            details(9, 5, k.server.public()),
        );
        let v = verify(&k, &c).unwrap();
        assert_eq!((v.intermediate.serial, v.leaf.serial), (5, 9));
    }

    #[test]
    fn the_authority_issues_chains_that_verify_only_for_its_server() {
        let k = keys();
        let ca = CertificateAuthority::generate(NOW - 1, NOW + 1);
        let c = ca.issue(77, k.server.public());
        let v = verify_chain(&c, ca.root_public(), k.server.public(), NOW).unwrap();
        assert_eq!(v.leaf.issuer_serial, v.intermediate.serial);
        assert_eq!(
            verify_chain(&c, ca.root_public(), k.root.public(), NOW),
            Err(CertError::LeafKeyMismatch)
        );
    }

    #[test]
    fn intermediate_must_be_issued_by_the_root_serial_zero() {
        let k = keys();
        let c = chain(
            &k,
            details(5, 1, k.intermediate.public()),
            details(9, 5, k.server.public()),
        );
        assert_eq!(verify(&k, &c), Err(CertError::IntermediateIssuer(1)));
    }

    #[test]
    fn leaf_issuer_serial_must_match_the_intermediate() {
        let k = keys();
        let c = chain(
            &k,
            details(5, 0, k.intermediate.public()),
            details(9, 6, k.server.public()),
        );
        assert_eq!(
            verify(&k, &c),
            Err(CertError::LeafIssuer {
                expected: 5,
                got: 6
            })
        );
    }

    #[test]
    fn leaf_must_be_signed_by_the_intermediate_key() {
        let k = keys();
        // The intermediate certifies some other key than the one that signed the leaf.
        let c = chain(
            &k,
            details(5, 0, k.server.public()),
            details(9, 5, k.server.public()),
        );
        assert_eq!(verify(&k, &c), Err(CertError::BadSignature(Which::Leaf)));
    }

    #[test]
    fn validity_windows_of_both_certificates_are_enforced() {
        let k = keys();
        let mut inter = details(5, 0, k.intermediate.public());
        inter.not_after = Some(NOW - 1);
        let c = chain(&k, inter, details(9, 5, k.server.public()));
        assert!(matches!(
            verify(&k, &c),
            Err(CertError::Expired {
                which: Which::Intermediate,
                ..
            })
        ));
        let mut leaf = details(9, 5, k.server.public());
        leaf.not_before = Some(NOW + 1);
        let c = chain(&k, details(5, 0, k.intermediate.public()), leaf);
        assert!(matches!(
            verify(&k, &c),
            Err(CertError::NotYetValid {
                which: Which::Leaf,
                ..
            })
        ));
    }

    #[test]
    fn missing_parts_are_typed_errors() {
        let k = keys();
        let full = CertChain::decode(
            chain(
                &k,
                details(5, 0, k.intermediate.public()),
                details(9, 5, k.server.public()),
            )
            .as_slice(),
        )
        .unwrap();

        let mut c = full.clone();
        c.leaf = None;
        assert_eq!(
            verify(&k, &c.encode_to_vec()),
            Err(CertError::MissingCertificate(Which::Leaf))
        );
        let mut c = full.clone();
        c.intermediate = None;
        assert_eq!(
            verify(&k, &c.encode_to_vec()),
            Err(CertError::MissingCertificate(Which::Intermediate))
        );
        let mut c = full.clone();
        if let Some(leaf) = c.leaf.as_mut() {
            leaf.signature = Some(vec![0; 63]);
        }
        assert_eq!(
            verify(&k, &c.encode_to_vec()),
            Err(CertError::Malformed(Which::Leaf, "signature"))
        );
        let mut no_key = details(9, 5, k.server.public());
        no_key.key = None;
        let c = chain(&k, details(5, 0, k.intermediate.public()), no_key);
        assert_eq!(
            verify(&k, &c),
            Err(CertError::MissingField(Which::Leaf, "key"))
        );
    }
}
