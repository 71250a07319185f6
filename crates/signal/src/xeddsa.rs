//! XEdDSA: Ed25519-style signatures made and checked with X25519 (Montgomery) keys, written from
//! Signal's XEdDSA specification (https://signal.org/docs/specifications/xeddsa/).
//!
//! One deployed detail differs from the specification's letter and matters for interoperability:
//! libsignal (and curve25519-js, which libsignal-node uses) do not negate the private scalar to
//! force the Edwards public key's sign bit to zero; they sign with the unmodified key and store
//! the Edwards sign bit in the otherwise-unused top bit of the signature (bit 7 of byte 63).
//! So [`verify`] reads that bit to pick the Edwards point, which accepts both those signatures
//! and the specification's (whose top bit is always zero). [`sign`] follows the specification
//! exactly (sign bit forced to zero), which every verifier of either flavour accepts.

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::Scalar;
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::keys::clamp;

/// Signs `message` with an X25519 private key. `random` must be 64 fresh random bytes; it
/// randomises the nonce (the specification's `Z`) so that a weak hash input cannot leak the key.
pub fn sign(private: &[u8; 32], message: &[u8], random: &[u8; 64]) -> [u8; 64] {
    // calculate_key_pair(k): E = kB; a = k, or -k when E's sign bit is set, so A = aB has sign 0.
    let mut clamped = clamp(*private);
    let k = Scalar::from_bytes_mod_order(clamped);
    clamped.zeroize();
    let e = EdwardsPoint::mul_base(&k).compress();
    let a = if e.as_bytes()[31] >> 7 == 1 { -k } else { k };
    let mut cap_a = e.to_bytes();
    cap_a[31] &= 0x7f;

    // r = hash1(a ‖ M ‖ Z) mod q, where hash1 prefixes 2^256 - 1 - 1 encoded little-endian.
    let mut hash1_prefix = [0xffu8; 32];
    hash1_prefix[0] = 0xfe;
    let mut nonce_hash = Sha512::new();
    nonce_hash.update(hash1_prefix);
    nonce_hash.update(a.as_bytes());
    nonce_hash.update(message);
    nonce_hash.update(random);
    let r = Scalar::from_bytes_mod_order_wide(&nonce_hash.finalize().into());
    let cap_r = EdwardsPoint::mul_base(&r).compress();

    let h = challenge(cap_r.as_bytes(), &cap_a, message);
    let s = r + h * a;

    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(cap_r.as_bytes());
    signature[32..].copy_from_slice(s.as_bytes());
    signature
}

/// Checks an XEdDSA signature. `public` is the raw 32-byte Montgomery u-coordinate (no 0x05).
pub fn verify(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    // Like libsignal and curve25519-js, the top bit of u is ignored; a value not reduced mod p
    // is rejected as the specification asks.
    let mut u = *public;
    u[31] &= 0x7f;
    if !is_canonical_field_element(&u) {
        return false;
    }
    let sign_bit = signature[63] >> 7;
    let Some(a_point) = MontgomeryPoint(u).to_edwards(sign_bit) else {
        return false;
    };
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&signature[32..]);
    s_bytes[31] &= 0x7f;
    // A non-canonical s (s ≥ q) would make signatures malleable; honest signers always reduce.
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
        return false;
    };
    let cap_a = a_point.compress();
    let h = challenge(&signature[..32], cap_a.as_bytes(), message);
    let r_check = EdwardsPoint::vartime_double_scalar_mul_basepoint(&h, &(-a_point), &s);
    r_check.compress().as_bytes().ct_eq(&signature[..32]).into()
}

/// h = SHA-512(R ‖ A ‖ M) mod q, the Ed25519 challenge.
fn challenge(cap_r: &[u8], cap_a: &[u8; 32], message: &[u8]) -> Scalar {
    let mut hash = Sha512::new();
    hash.update(cap_r);
    hash.update(cap_a);
    hash.update(message);
    Scalar::from_bytes_mod_order_wide(&hash.finalize().into())
}

/// True when the little-endian value (top bit already cleared) is below p = 2^255 - 19.
fn is_canonical_field_element(u: &[u8; 32]) -> bool {
    // The only values ≥ p below 2^255 are p..2^255-1: bytes 1..31 all 0xff (top byte 0x7f)
    // and the low byte ≥ 0xed.
    let high_all_ones = u[1..31].iter().all(|&b| b == 0xff) && u[31] == 0x7f;
    !(high_all_ones && u[0] >= 0xed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyPair;
    use rand_core::{OsRng, RngCore};

    fn random64() -> [u8; 64] {
        let mut z = [0u8; 64];
        OsRng.fill_bytes(&mut z);
        z
    }

    #[test]
    fn signs_and_verifies_for_many_keys() {
        // Half of all keys have an Edwards sign bit of 1, so 32 keys exercise the negation path.
        for _ in 0..32 {
            let pair = KeyPair::generate(&mut OsRng);
            let msg = b"certificate details";
            let sig = sign(pair.private.as_bytes(), msg, &random64());
            assert!(verify(pair.public.as_bytes(), msg, &sig));
            assert_eq!(sig[63] & 0x80, 0, "spec signatures have a zero top bit");
        }
    }

    #[test]
    fn rejects_wrong_message_key_or_any_flipped_bit() {
        let pair = KeyPair::generate(&mut OsRng);
        let other = KeyPair::generate(&mut OsRng);
        let sig = sign(pair.private.as_bytes(), b"abc", &random64());
        assert!(!verify(pair.public.as_bytes(), b"abd", &sig));
        assert!(!verify(other.public.as_bytes(), b"abc", &sig));
        for bit in 0..512 {
            let mut bad = sig;
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(
                !verify(pair.public.as_bytes(), b"abc", &bad),
                "bit {bit} flip accepted"
            );
        }
    }

    #[test]
    fn accepts_a_libsignal_node_signature_with_the_sign_bit_set() {
        // Made by libsignal-node 6.0.0 (curve25519-js, deterministic, Edwards sign bit stored
        // in the signature's top bit), restated as data so this check runs without Node.
        let private: [u8; 32] =
            hex::decode("f09d5260ba4c0df879a874ddf271c3fe5b2d30a3c28da76f045c0c63ae57754b")
                .unwrap()
                .try_into()
                .unwrap();
        let public: [u8; 32] =
            hex::decode("cb5b3f8242956ed942c2a78e1abd56eff00d961b0de477402ae5e11f32930f1b")
                .unwrap()
                .try_into()
                .unwrap();
        let sig: [u8; 64] = hex::decode(
            "75310bd9812f00120f06db0d4ad95eda7b8db597ede65913f45bb6184076b77f\
             95e22530f09a63d80daa09fb28805877cbce3852c3b2c5a3303cfdfbfc43338e",
        )
        .unwrap()
        .try_into()
        .unwrap();
        assert_ne!(sig[63] & 0x80, 0);
        let derived = crate::keys::PrivateKey::from_bytes(private).public_key();
        assert_eq!(derived.as_bytes(), &public);
        assert!(verify(&public, b"xeddsa vector 0", &sig));
        assert!(!verify(&public, b"xeddsa vector 1", &sig));
        let mut cleared = sig;
        cleared[63] &= 0x7f;
        assert!(!verify(&public, b"xeddsa vector 0", &cleared));
    }

    #[test]
    fn rejects_non_canonical_public_key() {
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(!verify(&p, b"m", &[0u8; 64]));
    }
}
