use super::*;
use crate::handshake::KeyPair;

fn seq<const N: usize>(f: impl Fn(usize) -> u8) -> [u8; N] {
    std::array::from_fn(f)
}

fn agree(ours: &KeyPair, theirs: &KeyPair) -> [u8; 32] {
    ours.agree(theirs.public(), "test").unwrap()
}

/// Vectors computed with Baileys' own `derivePairingCodeKey`, `aesEncryptCTR`, `hkdf` and
/// `aesEncryptGCM` (Node, whatsapp-rust-bridge).
#[test]
fn matches_baileys_primitives() {
    let salt: [u8; 32] = seq(|i| i as u8);
    let iv: [u8; 16] = seq(|i| i as u8 + 100);
    let public: [u8; 32] = seq(|i| (i * 3) as u8);
    assert_eq!(
        hex::encode(code_key("ABCD2345", &salt)),
        "fc9c4bfd83a71c63199e5871fd4ace6dfa302c1461a4596c3493f616f21756d1"
    );
    let wrapped = wrap_with("ABCD2345", &public, &salt, &iv);
    assert_eq!(&wrapped[..32], &salt);
    assert_eq!(&wrapped[32..48], &iv);
    assert_eq!(
        hex::encode(&wrapped[48..]),
        "ab650c4c824fc9c2fc5852c3c7bcc69eaf753d036892aa7e5dde92a8e924e09d"
    );
    let k = hkdf32(&[7; 32], Some(&[9; 32]), BUNDLE_INFO);
    assert_eq!(
        hex::encode(k),
        "3fec2fb3557621d2ecf9ce5e8b4478ce8c2b27cfee2b85bdf802bc798f099c9f"
    );
    assert_eq!(
        hex::encode(hkdf32(&[5; 96], None, ADV_INFO)),
        "f351ac9ea5148a4243e33103704dd1463ac9b1c89e52ab69eaf6f247132d33e4"
    );
    // seal_bundle derives the same key from [7; 32] with salt [9; 32].
    let bundle = KeyBundle {
        companion_identity: [1; 32],
        primary_identity: [1; 32],
        random: [1; 32],
    };
    let sealed = seal_bundle(&[7; 32], &bundle, &[9; 32], &[2; 12]);
    assert_eq!(
        hex::encode(&sealed[44..]),
        "0eb9a9c4a7e6de1b060848102745f41c824e90a9fab3bfd4d75f383bea86e330caa9162166e2bd67\
         c2dc382f70bbc85d5327185e8161bddd7c437d4d0bfc3014720176146985ef0b86a03eaf25af3025\
         c979952500bbff3ce6d22f8a3bedaaa3552e755c9f541b341ba54efafd731e56"
    );
}

/// Baileys' `bytesToCrockford`: 40 bits, 5 at a time, most significant first.
#[test]
fn codes_are_baileys_crockford_of_five_bytes() {
    assert_eq!(code_from_bytes([0; 5]), "11111111");
    assert_eq!(code_from_bytes([0xff; 5]), "ZZZZZZZZ");
    // 0x0842108421 = 00001 00001 00001 … : every group is 1 → the second character.
    assert_eq!(code_from_bytes([0x08, 0x42, 0x10, 0x84, 0x21]), "22222222");
    // 0x00000000 1f: only the last group set (31 → Z).
    assert_eq!(code_from_bytes([0, 0, 0, 0, 0x1f]), "1111111Z");
    for _ in 0..64 {
        let code = generate_code();
        assert_eq!(code.len(), CODE_LEN);
        assert!(code.bytes().all(|b| CODE_ALPHABET.contains(&b)), "{code}");
        assert_eq!(normalize_code(&code), Ok(code));
    }
}

#[test]
fn wrap_unwrap_round_trip() {
    let key = *KeyPair::generate().public();
    let wrapped = wrap("ABCD2345", &key);
    assert_eq!(wrapped.len(), WRAPPED_LEN);
    assert_eq!(unwrap("ABCD2345", &wrapped), Ok(key));
    assert!(matches!(
        unwrap("ABCD2345", &wrapped[1..]),
        Err(PairingError::MalformedBundle(_))
    ));
}

#[test]
fn generated_keys_are_plausible_and_garbage_mostly_not() {
    for _ in 0..64 {
        assert!(plausible_public_key(KeyPair::generate().public()));
    }
    let mut accepted = 0;
    for i in 0..=255u8 {
        let garbage: [u8; 32] = seq(|j| i.wrapping_mul(31).wrapping_add(j as u8 * 7));
        accepted += usize::from(plausible_public_key(&garbage));
    }
    assert!(accepted < 32, "{accepted} of 256 garbage keys accepted");
}

#[test]
fn wrong_code_fails_typed() {
    // Fixed inputs, so the outcome is deterministic (a wrong code is caught at this step for
    // ~31 of 32 inputs; these are).
    let key = *KeyPair::from_private([42; 32]).public();
    let wrapped = wrap_with("ABCD2345", &key, &[3; 32], &[4; 16]);
    assert_eq!(unwrap("ABCD2345", &wrapped), Ok(key));
    for wrong in ["ABCD2346", "ZZZZZZZZ"] {
        assert_eq!(
            unwrap(wrong, &wrapped),
            Err(PairingError::WrongCode),
            "{wrong}"
        );
    }
    assert_eq!(normalize_code("ABCD-2345"), Ok("ABCD2345".to_owned()));
    assert_eq!(normalize_code("abcd 2345"), Ok("ABCD2345".to_owned()));
    assert_eq!(normalize_code("ABC"), Err(PairingError::BadCode));
    assert_eq!(normalize_code("ABCD234!"), Err(PairingError::BadCode));
}

#[test]
fn bundle_round_trip_and_tamper() {
    let companion_eph = KeyPair::generate();
    let primary_eph = KeyPair::generate();
    let companion_shared = agree(&companion_eph, &primary_eph);
    let primary_shared = agree(&primary_eph, &companion_eph);
    assert_eq!(companion_shared, primary_shared);
    let bundle = KeyBundle {
        companion_identity: [1; 32],
        primary_identity: [2; 32],
        random: [3; 32],
    };
    let sealed = seal_bundle(&companion_shared, &bundle, &[5; 32], &[6; 12]);
    assert_eq!(sealed.len(), BUNDLE_LEN);
    assert_eq!(open_bundle(&primary_shared, &sealed), Ok(bundle));
    for i in [0, 33, 50, BUNDLE_LEN - 1] {
        let mut tampered = sealed.clone();
        tampered[i] ^= 1;
        assert_eq!(
            open_bundle(&primary_shared, &tampered),
            Err(PairingError::BundleDecrypt),
            "byte {i}"
        );
    }
    assert_eq!(
        open_bundle(&[0; 32], &sealed),
        Err(PairingError::BundleDecrypt)
    );
    assert!(matches!(
        open_bundle(&primary_shared, &sealed[1..]),
        Err(PairingError::MalformedBundle(_))
    ));
}

#[test]
fn both_sides_derive_the_same_adv_secret() {
    let companion_identity = KeyPair::generate();
    let primary_identity = KeyPair::generate();
    let ephemeral_shared = [8; 32];
    let random = [9; 32];
    let companion = adv_secret(
        &ephemeral_shared,
        &agree(&companion_identity, &primary_identity),
        &random,
    );
    let primary = adv_secret(
        &ephemeral_shared,
        &agree(&primary_identity, &companion_identity),
        &random,
    );
    assert_eq!(companion, primary);
}
