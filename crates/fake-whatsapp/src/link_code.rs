//! Pairing by phone-number code: the other way a companion is linked. The companion shows an
//! 8-character code; the user types it on the phone; both sides then agree on the ADV secret
//! that a QR code would otherwise carry, and the phone links the companion as a scan does.
//!
//! Facts (from Baileys 7.0.0-rc14, `Socket/socket.js` `requestPairingCode` and
//! `Socket/messages-recv.js`, the `link_code_companion_reg` notification):
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
//! the phone refuses a code whose unwrapped key is not a valid X25519 public key (a point of
//! the prime-order subgroup, canonical top bit), which catches all but about 1 in 32 wrong
//! codes; the rest fail at `companion_finish`, whose GCM tag does not verify.
//!
//! The waiting companions live in a table of this module keyed by the server's shared state
//! (so separate servers in one process do not mix), pruned against its registrations.

use std::sync::Arc;
use std::time::Duration;

use aes::cipher::{KeyIvInit, StreamCipher};
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use curve25519_dalek::montgomery::MontgomeryPoint;
use hkdf::Hkdf;
use rand_core::{OsRng, RngCore};
use sha2::Sha256;
use signal::keys::{PrivateKey, PublicKey};
use whatsapp_binary::{Node, Server};

use crate::conn::Conn;
use crate::error::FakeError;
use crate::phone::Phone;
use crate::server::FakeWhatsApp;
use crate::stanza::{self, iq_error, iq_result};
use crate::state::{ConnCommand, State};

/// PBKDF2 iterations Baileys uses (`2 << 16`).
pub const PBKDF2_ROUNDS: u32 = 2 << 16;
/// Characters of a pairing code.
pub const CODE_LEN: usize = 8;
const SALT_LEN: usize = 32;
const CTR_IV_LEN: usize = 16;
const GCM_IV_LEN: usize = 12;
const GCM_TAG_LEN: usize = 16;
/// `salt ‖ iv ‖ ciphered public key`.
pub const WRAPPED_LEN: usize = SALT_LEN + CTR_IV_LEN + 32;
/// `salt ‖ iv ‖ GCM(companion identity ‖ primary identity ‖ random)`.
pub const BUNDLE_LEN: usize = SALT_LEN + GCM_IV_LEN + 96 + GCM_TAG_LEN;
/// How long after answering `companion_finish` the phone sends `pair-success`. The real phone
/// learns of the finish over the network, so there is a delay; it matters because the
/// companion acknowledges `primary_hello` only once its finish IQ is answered (Baileys awaits
/// the IQ inside its notification handler), and an ack still in flight when the server closes
/// the socket after 515 can reset the connection before the companion reads the 515.
pub const PHONE_DELAY: Duration = Duration::from_millis(250);
const BUNDLE_INFO: &[u8] = b"link_code_pairing_key_bundle_encryption_key";
const ADV_INFO: &[u8] = b"adv_secret";

type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

// ---------------------------------------------------------------------------------------------
// Crypto

/// PBKDF2-HMAC-SHA256 of the code (ring's, which is optimised even in this crate's debug
/// builds: 131 072 rounds of a generic HMAC at opt-level 0 take over a second).
pub fn code_key(code: &str, salt: &[u8]) -> [u8; 32] {
    let rounds = std::num::NonZeroU32::new(PBKDF2_ROUNDS).expect("non-zero");
    let mut out = [0u8; 32];
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        salt,
        code.as_bytes(),
        &mut out,
    );
    out
}

fn ctr_apply(key: &[u8; 32], iv: &[u8], data: &mut [u8]) {
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
pub fn unwrap(code: &str, wrapped: &[u8]) -> Result<[u8; 32], FakeError> {
    if wrapped.len() != WRAPPED_LEN {
        return Err(FakeError::Pairing(
            "wrapped key is not salt32 ‖ iv16 ‖ key32",
        ));
    }
    let (salt, rest) = wrapped.split_at(SALT_LEN);
    let (iv, ciphered) = rest.split_at(CTR_IV_LEN);
    let key = code_key(code, salt);
    let mut public: [u8; 32] = ciphered.try_into().expect("length checked above");
    ctr_apply(&key, iv, &mut public);
    if plausible_public_key(&public) {
        Ok(public)
    } else {
        Err(FakeError::Pairing("wrong pairing code"))
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
    Hkdf::<Sha256>::new(salt, ikm)
        .expand(info, &mut out)
        .expect("32 bytes is a valid HKDF-SHA256 length");
    out
}

/// The opened key bundle of `companion_finish`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyBundle {
    pub companion_identity: [u8; 32],
    pub primary_identity: [u8; 32],
    pub random: [u8; 32],
}

/// Opens `salt ‖ iv ‖ GCM(bundle)` with the ephemeral shared secret.
pub fn open_bundle(ephemeral_shared: &[u8; 32], sealed: &[u8]) -> Result<KeyBundle, FakeError> {
    if sealed.len() != BUNDLE_LEN {
        return Err(FakeError::Pairing("key bundle has the wrong length"));
    }
    let (salt, rest) = sealed.split_at(SALT_LEN);
    let (iv, ciphertext) = rest.split_at(GCM_IV_LEN);
    let key = hkdf32(ephemeral_shared, Some(salt), BUNDLE_INFO);
    let plain = Aes256Gcm::new((&key).into())
        .decrypt(Nonce::from_slice(iv), ciphertext)
        .map_err(|_| FakeError::Pairing("key bundle does not decrypt (wrong code or tampered)"))?;
    let part = |i: usize| -> [u8; 32] { plain[i * 32..(i + 1) * 32].try_into().expect("96 bytes") };
    Ok(KeyBundle {
        companion_identity: part(0),
        primary_identity: part(1),
        random: part(2),
    })
}

/// The companion's side of [`open_bundle`] (for tests and scripted companions).
pub fn seal_bundle(
    ephemeral_shared: &[u8; 32],
    bundle: &KeyBundle,
    salt: &[u8; 32],
    iv: &[u8; 12],
) -> Vec<u8> {
    let key = hkdf32(ephemeral_shared, Some(salt), BUNDLE_INFO);
    let mut plain = Vec::with_capacity(96);
    plain.extend_from_slice(&bundle.companion_identity);
    plain.extend_from_slice(&bundle.primary_identity);
    plain.extend_from_slice(&bundle.random);
    let sealed = Aes256Gcm::new((&key).into())
        .encrypt(Nonce::from_slice(iv), plain.as_slice())
        .expect("AES-GCM encrypts 96 bytes");
    let mut out = Vec::with_capacity(BUNDLE_LEN);
    out.extend_from_slice(salt);
    out.extend_from_slice(iv);
    out.extend_from_slice(&sealed);
    out
}

/// adv secret = HKDF(ephemeral shared ‖ identity shared ‖ random, info `adv_secret`).
pub fn adv_secret(
    ephemeral_shared: &[u8; 32],
    identity_shared: &[u8; 32],
    random: &[u8; 32],
) -> [u8; 32] {
    let mut ikm = Vec::with_capacity(96);
    ikm.extend_from_slice(ephemeral_shared);
    ikm.extend_from_slice(identity_shared);
    ikm.extend_from_slice(random);
    hkdf32(&ikm, None, ADV_INFO)
}

/// What a user may type: the code with optional dashes/spaces, any case. Baileys' codes are
/// Crockford base32 in upper case.
fn normalize_code(code: &str) -> Result<String, FakeError> {
    let code: String = code
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if code.len() == CODE_LEN && code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(code)
    } else {
        Err(FakeError::Pairing("a pairing code is 8 letters or digits"))
    }
}

// ---------------------------------------------------------------------------------------------
// Waiting companions

/// A registering connection that sent `companion_hello` (kept in the server state).
pub struct Waiting {
    conn_id: u64,
    /// The registration's keys, so a reused connection id never matches a stale entry.
    noise_public: [u8; 32],
    identity_public: [u8; 32],
    /// The account (phone number) the companion asked to be linked to.
    user: String,
    wrapped: [u8; WRAPPED_LEN],
    reference: Vec<u8>,
    /// Set once the code was entered and `primary_hello` sent.
    primary: Option<PrimaryHello>,
}

struct PrimaryHello {
    ephemeral: PrivateKey,
    companion_ephemeral: [u8; 32],
}

impl std::fmt::Debug for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiting")
            .field("conn_id", &self.conn_id)
            .field("user", &self.user)
            .field("entered", &self.primary.is_some())
            .finish_non_exhaustive()
    }
}

/// Runs `f` on the waiting table, under the state lock, after dropping entries whose
/// registration ended (paired, or the connection closed). `f` must not take the lock again.
fn with_waiting<R>(state: &Arc<State>, f: impl FnOnce(&mut Vec<Waiting>) -> R) -> R {
    state.with(|s| {
        let live: Vec<(u64, [u8; 32], [u8; 32])> = s
            .registrations
            .iter()
            .map(|r| (r.conn_id, r.noise_public, r.identity_public))
            .collect();
        s.link_codes
            .retain(|w| live.contains(&(w.conn_id, w.noise_public, w.identity_public)));
        f(&mut s.link_codes)
    })
}

// ---------------------------------------------------------------------------------------------
// Server side: the companion's IQs

/// Answers `<iq xmlns="md" type="set"><link_code_companion_reg stage=…>`: `companion_hello`
/// or `companion_finish`. Anything malformed gets `<iq type="error">` 400.
pub(crate) fn answer(conn: &Conn, id: &str, node: &Node) -> Node {
    let Some(reg) = node.child_by_tag("link_code_companion_reg") else {
        return bad_request(id);
    };
    let result = match reg.attr_str("stage") {
        Some("companion_hello") => companion_hello(conn, id, reg),
        Some("companion_finish") => companion_finish(conn, id, reg),
        _ => Err(Refusal::BadRequest),
    };
    match result {
        Ok(reply) => reply,
        Err(Refusal::BadRequest) => bad_request(id),
        Err(Refusal::NotFound) => iq_error(id, 404, "item-not-found"),
    }
}

enum Refusal {
    BadRequest,
    NotFound,
}

fn bad_request(id: &str) -> Node {
    iq_error(id, 400, "bad-request")
}

fn child_bytes<'a>(reg: &'a Node, tag: &str) -> Result<&'a [u8], Refusal> {
    reg.child_by_tag(tag)
        .and_then(Node::content_bytes)
        .ok_or(Refusal::BadRequest)
}

fn key32(bytes: &[u8]) -> Result<[u8; 32], Refusal> {
    bytes.try_into().map_err(|_| Refusal::BadRequest)
}

fn companion_hello(conn: &Conn, id: &str, reg: &Node) -> Result<Node, Refusal> {
    let jid = reg
        .attr_jid("jid")
        .ok()
        .flatten()
        .ok_or(Refusal::BadRequest)?;
    if jid.server() != Server::Pn || jid.device_id() != 0 {
        return Err(Refusal::BadRequest);
    }
    let wrapped: [u8; WRAPPED_LEN] =
        child_bytes(reg, "link_code_pairing_wrapped_companion_ephemeral_pub")?
            .try_into()
            .map_err(|_| Refusal::BadRequest)?;
    let noise = key32(child_bytes(reg, "companion_server_auth_key_pub")?)?;
    let conn_id = conn.conn_id;
    let state = &conn.ctx.state;
    let (registration, known) = state.with(|s| {
        (
            s.registrations
                .iter()
                .find(|r| r.conn_id == conn_id)
                .cloned(),
            s.accounts.contains_key(jid.user()),
        )
    });
    // Only a registering connection can ask, and with the noise key it shook hands with.
    let registration = registration.ok_or(Refusal::BadRequest)?;
    if registration.noise_public != noise {
        return Err(Refusal::BadRequest);
    }
    if !known {
        return Err(Refusal::NotFound);
    }
    let mut reference = vec![0u8; 16];
    OsRng.fill_bytes(&mut reference);
    let entry = Waiting {
        conn_id,
        noise_public: registration.noise_public,
        identity_public: registration.identity_public,
        user: jid.user().to_owned(),
        wrapped,
        reference: reference.clone(),
        primary: None,
    };
    with_waiting(state, |table| {
        // Asking again (a new code) replaces the earlier request.
        table.retain(|w| w.conn_id != conn_id);
        table.push(entry);
    });
    Ok(iq_result(id).child(
        Node::new("link_code_companion_reg")
            .child(Node::new("link_code_pairing_ref").bytes(reference)),
    ))
}

fn companion_finish(conn: &Conn, id: &str, reg: &Node) -> Result<Node, Refusal> {
    let sealed = child_bytes(reg, "link_code_pairing_wrapped_key_bundle")?;
    let identity = key32(child_bytes(reg, "companion_identity_public")?)?;
    let reference = child_bytes(reg, "link_code_pairing_ref")?;
    let conn_id = conn.conn_id;
    let state = &conn.ctx.state;
    // The phone's ephemeral key stays in the table: after a refused finish (a wrong code that
    // slipped through) the user can enter the code again.
    let found = with_waiting(state, |table| {
        table.iter().find(|w| w.conn_id == conn_id).and_then(|w| {
            let p = w.primary.as_ref()?;
            Some((
                w.user.clone(),
                w.reference.clone(),
                w.identity_public,
                p.ephemeral.clone(),
                p.companion_ephemeral,
            ))
        })
    });
    let (user, expected_ref, registered_identity, ephemeral, companion_ephemeral) =
        found.ok_or(Refusal::BadRequest)?;
    if reference != expected_ref.as_slice() || identity != registered_identity {
        return Err(Refusal::BadRequest);
    }
    let account = state.with(|s| {
        s.accounts
            .get(&user)
            .map(|a| (a.key.clone(), a.lid_user.clone()))
    });
    let (account_key, lid_user) = account.ok_or(Refusal::NotFound)?;
    let ephemeral_shared = ephemeral.agree(&PublicKey::from_bytes(companion_ephemeral));
    let bundle = open_bundle(&ephemeral_shared, sealed).map_err(|_| Refusal::BadRequest)?;
    if bundle.companion_identity != identity || bundle.primary_identity != *account_key.public() {
        return Err(Refusal::BadRequest);
    }
    let identity_shared =
        PrivateKey::from_bytes(*account_key.private()).agree(&PublicKey::from_bytes(identity));
    let secret = adv_secret(&ephemeral_shared, &identity_shared, &bundle.random);
    let phone = Phone {
        state: state.clone(),
        user,
        lid_user,
    };
    with_waiting(state, |table| {
        table.retain(|w| w.conn_id != conn_id);
    });
    // The phone links the companion a moment after this result, as the real one does after a
    // round trip; see PHONE_DELAY.
    tokio::spawn(async move {
        tokio::time::sleep(PHONE_DELAY).await;
        if let Err(e) = phone.link(conn_id, identity, &secret)
            && std::env::var_os("FAKE_WHATSAPP_DEBUG").is_some()
        {
            eprintln!("fake-whatsapp: linking code-paired connection {conn_id} failed: {e}");
        }
    });
    Ok(iq_result(id))
}

// ---------------------------------------------------------------------------------------------
// Phone side: the user types the code

impl Phone {
    /// The user types a companion's pairing code on this phone: finds the companion that asked
    /// to be linked to this number and whose code this is, and sends it `primary_hello`. The
    /// companion then answers `companion_finish` and is linked as by [`Phone::scan`].
    ///
    /// A code that is not 8 letters or digits, or that does not unwrap the companion's key,
    /// is refused with [`FakeError::Pairing`] and nothing is sent (see the `link_code` module
    /// docs: about 1 wrong code in 32 cannot be detected here and fails at `companion_finish`).
    pub fn enter_pairing_code(&self, code: &str) -> Result<(), FakeError> {
        let code = normalize_code(code)?;
        let candidates: Vec<(u64, [u8; WRAPPED_LEN])> = with_waiting(&self.state, |table| {
            table
                .iter()
                .filter(|w| w.user == self.user)
                .map(|w| (w.conn_id, w.wrapped))
                .collect()
        });
        if candidates.is_empty() {
            return Err(FakeError::Pairing(
                "no companion is waiting for a pairing code for this number",
            ));
        }
        let (conn_id, companion_ephemeral) = candidates
            .iter()
            .find_map(|(conn_id, wrapped)| unwrap(&code, wrapped).ok().map(|k| (*conn_id, k)))
            .ok_or(FakeError::Pairing("wrong pairing code"))?;
        let primary_identity = self
            .state
            .with(|s| s.accounts.get(&self.user).map(|a| *a.key.public()))
            .ok_or_else(|| FakeError::UnknownAccount(self.user.clone()))?;
        let ephemeral = PrivateKey::generate(&mut OsRng);
        let wrapped = wrap(&code, ephemeral.public_key().as_bytes());
        let reference = with_waiting(&self.state, |table| {
            let w = table.iter_mut().find(|w| w.conn_id == conn_id)?;
            w.primary = Some(PrimaryHello {
                ephemeral,
                companion_ephemeral,
            });
            Some(w.reference.clone())
        })
        .ok_or(FakeError::Pairing("the companion stopped waiting"))?;
        let node = Node::new("notification")
            .attr("from", stanza::server_jid())
            .attr("type", "link_code_companion_reg")
            .attr("id", crate::phone::new_message_id())
            .attr("t", stanza::now_unix())
            .child(
                Node::new("link_code_companion_reg")
                    .attr("stage", "primary_hello")
                    .children([
                        Node::new("link_code_pairing_wrapped_primary_ephemeral_pub")
                            .bytes(wrapped.to_vec()),
                        Node::new("primary_identity_pub").bytes(primary_identity.to_vec()),
                        Node::new("link_code_pairing_ref").bytes(reference),
                    ]),
            );
        let sent = self.state.with(|s| {
            s.conns
                .get(&conn_id)
                .map(|c| c.commands.send(ConnCommand::Send(node)).is_ok())
        });
        match sent {
            Some(true) => Ok(()),
            _ => Err(FakeError::Pairing("the registering connection has closed")),
        }
    }
}

impl FakeWhatsApp {
    /// The user types a companion's pairing code on the default account's phone (see
    /// [`Phone::enter_pairing_code`]).
    pub fn enter_pairing_code(&self, code: &str) -> Result<(), FakeError> {
        self.phone().enter_pairing_code(code)
    }

    /// Phone numbers named by companions waiting for their pairing code to be entered, one
    /// per registering connection that sent `companion_hello`.
    pub fn pairing_code_requests(&self) -> Vec<String> {
        let state = &self.phone().state;
        with_waiting(state, |table| {
            table.iter().map(|w| w.user.clone()).collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(n: usize, f: impl Fn(usize) -> u8) -> Vec<u8> {
        (0..n).map(f).collect()
    }

    /// Vectors computed with Baileys' own `derivePairingCodeKey`, `aesEncryptCTR`, `hkdf` and
    /// `aesEncryptGCM` (Node, whatsapp-rust-bridge).
    #[test]
    fn matches_baileys_primitives() {
        let salt: [u8; 32] = seq(32, |i| i as u8).try_into().unwrap();
        let iv: [u8; 16] = seq(16, |i| i as u8 + 100).try_into().unwrap();
        let public: [u8; 32] = seq(32, |i| (i * 3) as u8).try_into().unwrap();
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

    #[test]
    fn wrap_unwrap_round_trip() {
        let key = PrivateKey::generate(&mut OsRng).public_key().to_bytes();
        let wrapped = wrap("ABCD2345", &key);
        assert_eq!(wrapped.len(), WRAPPED_LEN);
        assert_eq!(unwrap("ABCD2345", &wrapped).unwrap(), key);
        assert!(matches!(
            unwrap("ABCD2345", &wrapped[1..]),
            Err(FakeError::Pairing(_))
        ));
    }

    #[test]
    fn generated_keys_are_plausible_and_garbage_mostly_not() {
        for _ in 0..64 {
            assert!(plausible_public_key(
                PrivateKey::generate(&mut OsRng).public_key().as_bytes()
            ));
        }
        let mut accepted = 0;
        for i in 0..=255u8 {
            let garbage: [u8; 32] = seq(32, |j| i.wrapping_mul(31).wrapping_add(j as u8 * 7))
                .try_into()
                .unwrap();
            accepted += usize::from(plausible_public_key(&garbage));
        }
        assert!(accepted < 32, "{accepted} of 256 garbage keys accepted");
    }

    #[test]
    fn wrong_code_fails_typed() {
        // Fixed inputs, so the outcome is deterministic (a wrong code is caught at this step
        // for ~31 of 32 inputs; these are).
        let key = PrivateKey::from_bytes([42; 32]).public_key().to_bytes();
        let wrapped = wrap_with("ABCD2345", &key, &[3; 32], &[4; 16]);
        assert_eq!(unwrap("ABCD2345", &wrapped).unwrap(), key);
        for wrong in ["ABCD2346", "ZZZZZZZZ"] {
            assert!(
                matches!(
                    unwrap(wrong, &wrapped),
                    Err(FakeError::Pairing("wrong pairing code"))
                ),
                "{wrong}"
            );
        }
        assert!(normalize_code("ABCD-2345").is_ok_and(|c| c == "ABCD2345"));
        assert!(normalize_code("abcd 2345").is_ok_and(|c| c == "ABCD2345"));
        assert!(matches!(normalize_code("ABC"), Err(FakeError::Pairing(_))));
        assert!(matches!(
            normalize_code("ABCD234!"),
            Err(FakeError::Pairing(_))
        ));
    }

    #[test]
    fn bundle_round_trip_and_tamper() {
        let companion_eph = PrivateKey::generate(&mut OsRng);
        let primary_eph = PrivateKey::generate(&mut OsRng);
        let companion_shared = companion_eph.agree(&primary_eph.public_key());
        let primary_shared = primary_eph.agree(&companion_eph.public_key());
        assert_eq!(companion_shared, primary_shared);
        let bundle = KeyBundle {
            companion_identity: [1; 32],
            primary_identity: [2; 32],
            random: [3; 32],
        };
        let sealed = seal_bundle(&companion_shared, &bundle, &[5; 32], &[6; 12]);
        assert_eq!(sealed.len(), BUNDLE_LEN);
        assert_eq!(open_bundle(&primary_shared, &sealed).unwrap(), bundle);
        for i in [0, 33, 50, BUNDLE_LEN - 1] {
            let mut tampered = sealed.clone();
            tampered[i] ^= 1;
            assert!(
                matches!(
                    open_bundle(&primary_shared, &tampered),
                    Err(FakeError::Pairing(_))
                ),
                "byte {i}"
            );
        }
        assert!(open_bundle(&[0; 32], &sealed).is_err());
        assert!(open_bundle(&primary_shared, &sealed[1..]).is_err());
    }

    #[test]
    fn both_sides_derive_the_same_adv_secret() {
        let companion_identity = PrivateKey::generate(&mut OsRng);
        let primary_identity = PrivateKey::generate(&mut OsRng);
        let ephemeral_shared = [8; 32];
        let random = [9; 32];
        let companion = adv_secret(
            &ephemeral_shared,
            &companion_identity.agree(&primary_identity.public_key()),
            &random,
        );
        let primary = adv_secret(
            &ephemeral_shared,
            &primary_identity.agree(&companion_identity.public_key()),
            &random,
        );
        assert_eq!(companion, primary);
    }
}
