//! What happens right after the handshake: a `ClientPayload` with `devicePairingData` is a
//! registration (the server hands out QR refs); otherwise it is a login by `username` + `device`,
//! accepted only if that device was paired with the same noise static key.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand_core::{OsRng, RngCore};
use whatsapp::proto::ClientPayload;
use whatsapp::proto::client_payload::DevicePairingRegistrationData;
use whatsapp_binary::{Jid, Node, Server};

use crate::conn::{Conn, Next};
use crate::error::FakeError;
use crate::prekeys::{Bundle, UploadedKey};
use crate::stanza;
use crate::state::Registration;

/// The real server offers six refs: one 60 s QR then five 20 s ones.
pub const REF_COUNT: usize = 6;

pub async fn start(
    conn: &mut Conn,
    payload: &ClientPayload,
    client_static: [u8; 32],
) -> Result<Next, FakeError> {
    match &payload.device_pairing_data {
        Some(reg) => {
            check_signed_pre_key(reg)?;
            register(conn, reg, client_static).await
        }
        None => log_in(conn, payload, client_static).await,
    }
}

/// The registration's signed pre-key must be signed by its identity key (XEdDSA over the
/// `0x05`-prefixed key, as in every Signal bundle); the real server refuses it otherwise.
fn check_signed_pre_key(reg: &DevicePairingRegistrationData) -> Result<(), FakeError> {
    let bad = |why: &str| FakeError::Protocol(format!("registration: {why}"));
    let identity: [u8; 32] = reg
        .e_ident
        .as_deref()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("eIdent is not 32 bytes"))?;
    let value = reg
        .e_skey_val
        .as_deref()
        .filter(|v| v.len() == 32)
        .ok_or_else(|| bad("eSkeyVal is not 32 bytes"))?;
    let signature: [u8; 64] = reg
        .e_skey_sig
        .as_deref()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("eSkeySig is not 64 bytes"))?;
    let mut signed = vec![crate::party::KEY_TYPE];
    signed.extend_from_slice(value);
    if signal::xeddsa::verify(&identity, &signed, &signature) {
        Ok(())
    } else {
        Err(bad("eSkeySig does not verify with eIdent"))
    }
}

fn random_ref() -> String {
    let mut bytes = [0u8; 24];
    OsRng.fill_bytes(&mut bytes);
    format!("2@{}", STANDARD.encode(bytes))
}

/// The registration's keys as the start of the device's bundle on the server: the real server
/// knows them from here on (it answers the digest query with them before any upload).
fn registration_keys(reg: &DevicePairingRegistrationData) -> Bundle {
    let bytes = |b: &Option<Vec<u8>>| b.clone().unwrap_or_default();
    Bundle {
        registration: bytes(&reg.e_regid),
        key_type: bytes(&reg.e_keytype),
        identity: bytes(&reg.e_ident),
        signed: Some(UploadedKey {
            id: bytes(&reg.e_skey_id),
            value: bytes(&reg.e_skey_val),
            signature: reg.e_skey_sig.clone(),
        }),
        ..Bundle::default()
    }
}

async fn register(
    conn: &mut Conn,
    reg: &DevicePairingRegistrationData,
    noise_public: [u8; 32],
) -> Result<Next, FakeError> {
    let identity_public = reg
        .e_ident
        .as_deref()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| FakeError::Protocol("registration without a 32-byte eIdent".into()))?;
    let refs: Vec<String> = (0..REF_COUNT).map(|_| random_ref()).collect();
    let id = format!("pair-{}", conn.conn_id);
    let iq = Node::new("iq")
        .attr("from", stanza::server_jid())
        .attr("type", "set")
        .attr("id", id)
        .attr("xmlns", "md")
        .child(
            Node::new("pair-device").children(
                refs.iter()
                    .map(|r| Node::new("ref").bytes(r.as_bytes().to_vec())),
            ),
        );
    let conn_id = conn.conn_id;
    conn.ctx.state.with(|s| {
        s.registrations.push(Registration {
            conn_id,
            refs,
            noise_public,
            identity_public,
            keys: registration_keys(reg),
        })
    });
    conn.send(&iq).await?;
    Ok(Next::Continue)
}

async fn log_in(
    conn: &mut Conn,
    payload: &ClientPayload,
    noise_public: [u8; 32],
) -> Result<Next, FakeError> {
    let user = payload.username.map(|u| u.to_string());
    let device_id = payload.device.and_then(|d| u16::try_from(d).ok());
    let conn_id = conn.conn_id;
    let found = match (user, device_id) {
        (Some(user), Some(device_id)) => conn.ctx.state.with(|s| {
            let found = s
                .devices
                .iter()
                .find(|d| d.user == user && d.device == device_id && d.noise_public == noise_public)
                .cloned();
            if let (Some(d), Some(live)) = (&found, s.conns.get_mut(&conn_id)) {
                live.device = Some((d.user.clone(), d.device));
                s.stats.logins += 1;
            }
            found
        }),
        _ => None,
    };
    let Some(device) = found else {
        // An unknown or unpaired device: the real server answers <failure reason="401">.
        conn.send(&Node::new("failure").attr("reason", "401"))
            .await?;
        return Ok(Next::Drop);
    };
    conn.device = Some((device.user.clone(), device.device));
    let lid = Jid::device(device.lid_user.as_str(), Server::Lid, device.device)?;
    let success = Node::new("success")
        .attr("t", stanza::now_unix())
        .attr("props", "1")
        .attr("abprops", "1")
        .attr("location", "fake")
        .attr("lid", lid)
        .attr("creation", stanza::now_unix());
    conn.send(&success).await?;
    Ok(Next::Continue)
}
