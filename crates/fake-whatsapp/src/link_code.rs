//! Pairing by phone-number code, the server's and the phone's part: the waiting companions,
//! the companion's `link_code_companion_reg` IQs, and the user typing the code on a phone. The
//! crypto both sides run (code key, key wrap, key bundle, ADV secret) and the facts behind it are
//! in [`whatsapp::pairing::link_code`], shared with our engine.
//!
//! The flow: the companion's `companion_hello` (its wrapped ephemeral key) waits in a table;
//! the phone unwraps it with the typed code and sends `primary_hello`; the companion's
//! `companion_finish` carries the sealed key bundle; both sides derive the ADV secret and the
//! phone links the companion as a QR scan does ([`Phone::link`]).
//!
//! The wrap is unauthenticated, so the phone refuses a wrong code only when the unwrapped key is
//! implausible (about 31 in 32 wrong codes); the rest fail at `companion_finish` (400), and the
//! right code can still be entered.
//!
//! The waiting companions live in a table of this module keyed by the server's shared state
//! (so separate servers in one process do not mix), pruned against its registrations.

use std::sync::Arc;
use std::time::Duration;

use rand_core::{OsRng, RngCore};
use signal::keys::{PrivateKey, PublicKey};
use whatsapp::pairing::link_code::{
    WRAPPED_LEN, adv_secret, normalize_code, open_bundle, unwrap, wrap,
};
use whatsapp_binary::{Node, Server};

use crate::conn::Conn;
use crate::error::FakeError;
use crate::phone::Phone;
use crate::server::FakeWhatsApp;
use crate::stanza::{self, iq_error, iq_result};
use crate::state::{ConnCommand, State};

/// How long after answering `companion_finish` the phone sends `pair-success`. The real phone
/// learns of the finish over the network, so there is a delay; it matters because the
/// companion acknowledges `primary_hello` only once its finish IQ is answered (Baileys awaits
/// the IQ inside its notification handler), and an ack still in flight when the server closes
/// the socket after 515 can reset the connection before the companion reads the 515.
pub const PHONE_DELAY: Duration = Duration::from_millis(250);

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
        if let Err(e) = phone.link(conn_id, identity, &secret) {
            tracing::info!("linking code-paired connection {conn_id} failed: {e}");
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
        let code = normalize_code(code)
            .map_err(|_| FakeError::Pairing("a pairing code is 8 letters or digits"))?;
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
