//! The phone's and the companion's halves checked against each other, and every tamper.

use super::*;

const NOW: u64 = 1_700_000_000;

struct Pairing {
    account: KeyPair,
    companion: KeyPair,
    adv: [u8; 32],
}

fn pairing() -> Pairing {
    Pairing {
        account: KeyPair::generate(),
        companion: KeyPair::generate(),
        adv: [9; 32],
    }
}

impl Pairing {
    fn issue(&self) -> IssuedIdentity {
        issue_identity(&self.account, self.companion.public(), &self.adv, 7, 3, NOW).unwrap()
    }

    fn accept(&self, device_identity: &[u8]) -> Result<AcceptedIdentity, PairingError> {
        accept_pair_success(device_identity, &self.adv, &self.companion)
    }

    fn verify_reply(&self, issued: &IssuedIdentity, reply: &[u8]) -> Result<(), PairingError> {
        verify_device_signature(
            reply,
            &issued.details,
            self.companion.public(),
            self.account.public(),
        )
    }
}

/// Re-wraps a (modified) signed identity with a correct HMAC, so a test reaches the check after.
fn rewrap(adv: &[u8; 32], signed: &AdvSignedDeviceIdentity) -> Vec<u8> {
    let signed = signed.encode_to_vec();
    let hmac = identity_hmac(adv, false, &signed)
        .unwrap()
        .finalize()
        .into_bytes()
        .to_vec();
    AdvSignedDeviceIdentityHmac {
        details: Some(signed),
        hmac: Some(hmac),
        account_type: None,
    }
    .encode_to_vec()
}

fn signed_of(device_identity: &[u8]) -> AdvSignedDeviceIdentity {
    let outer = AdvSignedDeviceIdentityHmac::decode(device_identity).unwrap();
    AdvSignedDeviceIdentity::decode(outer.details.unwrap().as_slice()).unwrap()
}

#[test]
fn the_companion_accepts_what_the_phone_issues_and_the_phone_accepts_the_reply() {
    let p = pairing();
    let issued = p.issue();
    let accepted = p.accept(&issued.device_identity).unwrap();
    assert_eq!(accepted.key_index, 3);
    assert_eq!(accepted.details.raw_id, Some(7));
    assert_eq!(accepted.details.timestamp, Some(NOW));
    assert_eq!(
        accepted.account_signature_key(),
        Some(&p.account.public()[..])
    );
    assert_eq!(
        accepted.account.details.as_deref(),
        Some(&issued.details[..])
    );
    let reply = AdvSignedDeviceIdentity::decode(accepted.reply.as_slice()).unwrap();
    assert_eq!(
        reply.account_signature_key, None,
        "the reply leaves the key out"
    );
    assert_eq!(reply.device_signature, accepted.account.device_signature);
    assert_eq!(reply.account_signature, accepted.account.account_signature);
    p.verify_reply(&issued, &accepted.reply).unwrap();
}

#[test]
fn the_issued_identity_has_the_documented_shape() {
    let p = pairing();
    let issued = p.issue();
    let outer = AdvSignedDeviceIdentityHmac::decode(issued.device_identity.as_slice()).unwrap();
    let signed_bytes = outer.details.clone().unwrap();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&p.adv).unwrap();
    mac.update(&signed_bytes);
    assert_eq!(outer.hmac.unwrap(), mac.finalize().into_bytes().to_vec());
    assert_eq!(outer.account_type, None);
    let signed = AdvSignedDeviceIdentity::decode(signed_bytes.as_slice()).unwrap();
    let message = [&[6u8, 0][..], &issued.details, p.companion.public()].concat();
    let sig: [u8; 64] = signed.account_signature.unwrap().try_into().unwrap();
    assert!(signal::xeddsa::verify(p.account.public(), &message, &sig));
}

#[test]
fn a_wrong_adv_secret_or_hmac_is_refused() {
    let p = pairing();
    let issued = p.issue();
    assert_eq!(
        accept_pair_success(&issued.device_identity, &[8; 32], &p.companion),
        Err(PairingError::HmacMismatch)
    );
    let mut outer = AdvSignedDeviceIdentityHmac::decode(issued.device_identity.as_slice()).unwrap();
    if let Some(h) = outer.hmac.as_mut() {
        h[0] ^= 1;
    }
    assert_eq!(
        p.accept(&outer.encode_to_vec()),
        Err(PairingError::HmacMismatch)
    );
    outer.hmac = None;
    assert_eq!(
        p.accept(&outer.encode_to_vec()),
        Err(PairingError::Missing("ADVSignedDeviceIdentityHMAC.hmac"))
    );
}

#[test]
fn tampered_details_fail_the_hmac_and_then_the_account_signature() {
    let p = pairing();
    let issued = p.issue();
    let mut outer = AdvSignedDeviceIdentityHmac::decode(issued.device_identity.as_slice()).unwrap();
    let mut signed = signed_of(&issued.device_identity);
    let mut details = AdvDeviceIdentity::decode(issued.details.as_slice()).unwrap();
    details.key_index = Some(4);
    signed.details = Some(details.encode_to_vec());
    // Same HMAC, other bytes.
    outer.details = Some(signed.encode_to_vec());
    assert_eq!(
        p.accept(&outer.encode_to_vec()),
        Err(PairingError::HmacMismatch)
    );
    // Someone who knows the ADV secret but not the account key.
    assert_eq!(
        p.accept(&rewrap(&p.adv, &signed)),
        Err(PairingError::BadAccountSignature)
    );
}

#[test]
fn a_bad_account_signature_or_signer_is_refused() {
    let p = pairing();
    let issued = p.issue();
    let mut signed = signed_of(&issued.device_identity);
    if let Some(s) = signed.account_signature.as_mut() {
        s[5] ^= 1;
    }
    assert_eq!(
        p.accept(&rewrap(&p.adv, &signed)),
        Err(PairingError::BadAccountSignature)
    );
    let mut signed = signed_of(&issued.device_identity);
    signed.account_signature_key = Some(KeyPair::generate().public().to_vec());
    assert_eq!(
        p.accept(&rewrap(&p.adv, &signed)),
        Err(PairingError::BadAccountSignature)
    );
    signed.account_signature_key = Some(vec![1; 31]);
    assert_eq!(
        p.accept(&rewrap(&p.adv, &signed)),
        Err(PairingError::Malformed(
            "ADVSignedDeviceIdentity.accountSignatureKey"
        ))
    );
    // Issued for another companion: our identity key is part of the signed message.
    let other = KeyPair::generate();
    assert_eq!(
        accept_pair_success(&issued.device_identity, &p.adv, &other),
        Err(PairingError::BadAccountSignature)
    );
}

#[test]
fn garbage_is_a_decode_error() {
    let p = pairing();
    assert!(matches!(
        p.accept(&[0xff, 0xff, 0xff]),
        Err(PairingError::Decode(_))
    ));
}

#[test]
fn the_phone_refuses_a_reply_with_other_details_or_signer() {
    let p = pairing();
    let issued = p.issue();
    let accepted = p.accept(&issued.device_identity).unwrap();
    let other = KeyPair::generate();
    assert_eq!(
        verify_device_signature(
            &accepted.reply,
            &issued.details,
            other.public(),
            p.account.public()
        ),
        Err(PairingError::BadDeviceSignature)
    );
    let mut reply = AdvSignedDeviceIdentity::decode(accepted.reply.as_slice()).unwrap();
    reply.details = Some(vec![8, 1]);
    assert_eq!(
        p.verify_reply(&issued, &reply.encode_to_vec()),
        Err(PairingError::DetailsMismatch)
    );
    let mut unsigned = AdvSignedDeviceIdentity::decode(accepted.reply.as_slice()).unwrap();
    unsigned.device_signature = None;
    assert_eq!(
        p.verify_reply(&issued, &unsigned.encode_to_vec()),
        Err(PairingError::Missing(
            "ADVSignedDeviceIdentity.deviceSignature"
        ))
    );
    assert!(matches!(
        p.verify_reply(&issued, &accepted.reply[1..]),
        Err(PairingError::Decode(_) | PairingError::DetailsMismatch)
    ));
}

#[test]
fn hosted_identities_use_their_own_prefixes_end_to_end() {
    let p = pairing();
    let issued =
        issue_hosted_identity(&p.account, p.companion.public(), &p.adv, 7, 2, NOW).unwrap();
    let outer = AdvSignedDeviceIdentityHmac::decode(issued.device_identity.as_slice()).unwrap();
    assert_eq!(outer.account_type, Some(HOSTED));
    let signed_bytes = outer.details.clone().unwrap();
    // The HMAC covers 06 05 ‖ signed identity.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&p.adv).unwrap();
    mac.update(&[6, 5]);
    mac.update(&signed_bytes);
    assert_eq!(
        outer.hmac.clone().unwrap(),
        mac.finalize().into_bytes().to_vec()
    );

    let accepted = p.accept(&issued.device_identity).unwrap();
    assert_eq!(accepted.details.device_type, Some(HOSTED));
    let sig: [u8; 64] = accepted
        .account
        .device_signature
        .clone()
        .unwrap()
        .try_into()
        .unwrap();
    let hosted_message = [
        &[6u8, 6][..],
        &issued.details,
        p.companion.public(),
        p.account.public(),
    ]
    .concat();
    assert!(signal::xeddsa::verify(
        p.companion.public(),
        &hosted_message,
        &sig
    ));
    p.verify_reply(&issued, &accepted.reply).unwrap();

    // A hosted identity whose wrapper claims E2EE fails the HMAC (the prefix is missing).
    let mut e2ee = outer;
    e2ee.account_type = None;
    assert_eq!(
        p.accept(&e2ee.encode_to_vec()),
        Err(PairingError::HmacMismatch)
    );
}

#[test]
fn key_index_lists_verify_with_the_primary_key_only() {
    let account = KeyPair::generate();
    let signed = sign_key_index_list(&account, 77, &[1, 4, 2], NOW);
    let list = verify_key_index_list(&signed, account.public()).unwrap();
    assert_eq!(list.raw_id, Some(77));
    assert_eq!(list.valid_indexes, [1, 4, 2]);
    assert_eq!(list.current_index, Some(4));
    assert_eq!(list.timestamp, Some(NOW));
    assert_eq!(
        verify_key_index_list(&signed, KeyPair::generate().public()),
        Err(PairingError::BadKeyIndexSignature)
    );
    let mut tampered = AdvSignedKeyIndexList::decode(signed.as_slice()).unwrap();
    if let Some(d) = tampered.details.as_mut() {
        d[1] ^= 1;
    }
    assert_eq!(
        verify_key_index_list(&tampered.encode_to_vec(), account.public()),
        Err(PairingError::BadKeyIndexSignature)
    );
    tampered.account_signature = None;
    assert_eq!(
        verify_key_index_list(&tampered.encode_to_vec(), account.public()),
        Err(PairingError::Missing(
            "ADVSignedKeyIndexList.accountSignature"
        ))
    );
    // No companions yet: an empty list, no current index.
    let empty = sign_key_index_list(&account, 77, &[], NOW);
    let list = verify_key_index_list(&empty, account.public()).unwrap();
    assert!(list.valid_indexes.is_empty());
    assert_eq!(list.current_index, None);
}
