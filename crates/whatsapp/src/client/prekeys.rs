//! Our one-time pre-keys on the server (count, top-up) and other devices' bundles (fetch).
//!
//! New keys are committed to the store *before* they are uploaded: a crash in between leaves
//! keys we hold but never published (harmless), never published keys we do not hold (which
//! would make the messages that use them undecryptable).
//!
//! Shapes (Baileys' `getNextPreKeysNode`, `parseAndInjectE2ESessions`; the fake's prekeys.rs):
//! upload `<iq xmlns="encrypt" type="set"><registration/><type/><identity/><list><key><id/>
//! <value/></key>…</list><skey><id/><value/><signature/></skey></iq>`; ids are 3 bytes
//! big-endian, keys 32 raw bytes. Fetch `<key><user jid/>…</key>` answers `<list><user jid>`
//! with the same children plus at most one `<key>`, or `<error code="404">`.

use rand_core::OsRng;
use signal::keys::PublicKey;
use signal::prekeys::{PreKeyBundle, generate_pre_keys};
use whatsapp_binary::{Jid, Node, Server};

use super::error::ClientError;
use super::session::Session;
use crate::keys::StagedKeys;
use crate::store::Commit;

fn id3(id: u32) -> Vec<u8> {
    id.to_be_bytes()[1..].to_vec()
}

fn be(bytes: &[u8]) -> Option<u32> {
    (!bytes.is_empty() && bytes.len() <= 4)
        .then(|| bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
}

fn encrypt_iq(kind: &str) -> Node {
    Node::new("iq")
        .attr("to", Jid::server_only(Server::Pn))
        .attr("type", kind)
        .attr("xmlns", "encrypt")
}

/// How many of our one-time pre-keys the server still has.
pub(crate) async fn server_count(s: &Session) -> Result<u32, ClientError> {
    let answer = s
        .conn
        .iq(encrypt_iq("get").child(Node::new("count")))
        .await?;
    answer
        .child_by_tag("count")
        .and_then(|c| c.attr_str("value"))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ClientError::Protocol("pre-key count without a value".into()))
}

/// Uploads a batch of fresh pre-keys when the server's stock is low (or `force`d, after the
/// server said so). Returns how many were uploaded.
pub(crate) async fn top_up(s: &Session, force: bool) -> Result<u32, ClientError> {
    let count = server_count(s).await?;
    if !force && count >= s.config.pre_key_low_water {
        return Ok(0);
    }
    let batch = s.config.pre_key_batch;
    let upload = {
        let mut creds = s.creds.lock().await;
        let keys = generate_pre_keys(creds.next_pre_key_id, batch, &mut OsRng);
        let staged = StagedKeys::new(&*s.store, &creds);
        staged.add_pre_keys(&keys);
        let mut next = creds.clone();
        next.next_pre_key_id = (creds.next_pre_key_id + batch - 1) % 0x00ff_ffff + 1;
        s.store
            .commit(Commit {
                credentials: Some(next.encode()),
                keys: staged.take_writes(),
                ..Commit::default()
            })
            .await
            .map_err(ClientError::store)?;
        *creds = next;
        let signed = &creds.signed_pre_key;
        encrypt_iq("set")
            .child(Node::new("registration").bytes(creds.registration_id.to_be_bytes().to_vec()))
            .child(Node::new("type").bytes(vec![signal::keys::DJB_TYPE]))
            .child(Node::new("identity").bytes(creds.identity_public().to_vec()))
            .child(Node::new("list").children(keys.iter().map(|k| {
                Node::new("key")
                    .child(Node::new("id").bytes(id3(k.id)))
                    .child(Node::new("value").bytes(k.key_pair.public.as_bytes().to_vec()))
            })))
            .child(
                Node::new("skey")
                    .child(Node::new("id").bytes(id3(signed.id)))
                    .child(Node::new("value").bytes(signed.key_pair.public.as_bytes().to_vec()))
                    .child(Node::new("signature").bytes(signed.signature.to_vec())),
            )
    };
    s.conn.iq(upload).await?;
    tracing::debug!(uploaded = batch, had = count, "uploaded one-time pre-keys");
    Ok(batch)
}

fn key32(node: Option<&Node>) -> Option<PublicKey> {
    let bytes = node?.content_bytes()?;
    match bytes.len() {
        32 => <[u8; 32]>::try_from(bytes).ok().map(PublicKey::from_bytes),
        33 => PublicKey::deserialize(bytes).ok(),
        _ => None,
    }
}

/// A bundle as it appears in a fetch answer or a retry receipt's `<keys>`.
pub(crate) fn parse_bundle(
    node: &Node,
    registration: Option<&[u8]>,
    device: u16,
) -> Option<PreKeyBundle> {
    let registration = node
        .child_by_tag("registration")
        .and_then(Node::content_bytes)
        .or(registration)
        .and_then(be)?;
    let skey = node.child_by_tag("skey")?;
    let pre_key = match node.child_by_tag("key") {
        Some(k) => Some((
            be(k.child_by_tag("id")?.content_bytes()?)?,
            key32(k.child_by_tag("value"))?,
        )),
        None => None,
    };
    Some(PreKeyBundle {
        registration_id: registration,
        device_id: u32::from(device),
        pre_key,
        signed_pre_key_id: be(skey.child_by_tag("id")?.content_bytes()?)?,
        signed_pre_key: key32(skey.child_by_tag("value"))?,
        signed_pre_key_signature: skey
            .child_by_tag("signature")?
            .content_bytes()?
            .try_into()
            .ok()?,
        identity_key: key32(node.child_by_tag("identity"))?,
    })
}

/// Fetches the bundles of `devices`. Devices the server has no bundle for are left out.
pub(crate) async fn fetch_bundles(
    s: &Session,
    devices: &[Jid],
) -> Result<Vec<(Jid, PreKeyBundle)>, ClientError> {
    if devices.is_empty() {
        return Ok(Vec::new());
    }
    let query = encrypt_iq("get").child(
        Node::new("key").children(
            devices
                .iter()
                .map(|d| Node::new("user").attr("jid", d.clone())),
        ),
    );
    let answer = s.conn.iq(query).await?;
    let Some(list) = answer.child_by_tag("list") else {
        return Ok(Vec::new());
    };
    Ok(list
        .children_by_tag("user")
        .filter(|u| u.child_by_tag("error").is_none())
        .filter_map(|u| {
            let jid = u.attr_jid("jid").ok().flatten()?;
            let bundle = parse_bundle(u, None, jid.device_id())?;
            Some((jid, bundle))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles_parse_with_and_without_a_one_time_key_and_garbage_is_skipped() {
        let user = |with_key: bool| {
            let node = Node::new("user")
                .attr("jid", Jid::pn("15550002222").unwrap())
                .child(Node::new("registration").bytes(vec![0, 0, 1, 2]))
                .child(Node::new("type").bytes(vec![5]))
                .child(Node::new("identity").bytes(vec![7; 32]))
                .child(
                    Node::new("skey")
                        .child(Node::new("id").bytes(vec![0, 0, 1]))
                        .child(Node::new("value").bytes(vec![8; 32]))
                        .child(Node::new("signature").bytes(vec![9; 64])),
                );
            if with_key {
                node.child(
                    Node::new("key")
                        .child(Node::new("id").bytes(vec![0, 0, 5]))
                        .child(Node::new("value").bytes(vec![6; 32])),
                )
            } else {
                node
            }
        };
        let b = parse_bundle(&user(true), None, 0).unwrap();
        assert_eq!(b.registration_id, 258);
        assert_eq!(b.pre_key.map(|(id, _)| id), Some(5));
        assert_eq!(b.signed_pre_key_id, 1);
        assert!(
            parse_bundle(&user(false), None, 0)
                .unwrap()
                .pre_key
                .is_none()
        );
        assert!(parse_bundle(&Node::new("user"), None, 0).is_none());
        let short_sig = Node::new("user")
            .child(Node::new("registration").bytes(vec![1]))
            .child(Node::new("identity").bytes(vec![7; 32]))
            .child(
                Node::new("skey")
                    .child(Node::new("id").bytes(vec![1]))
                    .child(Node::new("value").bytes(vec![8; 32]))
                    .child(Node::new("signature").bytes(vec![9; 10])),
            );
        assert!(parse_bundle(&short_sig, None, 0).is_none());
    }
}
