//! The scripted primary phone: owns the account key and links companions by "scanning" the
//! QR string they displayed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use whatsapp::handshake::KeyPair;
use whatsapp_binary::{Jid, Node, Server};

use crate::error::FakeError;
use crate::pairing::{self, parse_qr};
use crate::stanza;
use crate::state::{ConnCommand, Device, PendingPair, State};

#[derive(Debug)]
pub struct Phone {
    pub(crate) state: Arc<State>,
    pub(crate) account: KeyPair,
    pub(crate) user: String,
    pub(crate) lid_user: String,
    pub(crate) next_device: AtomicU16,
}

impl Phone {
    /// The account's phone number (JID user part).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Scans a companion's QR string: checks it names a waiting connection with the same noise
    /// key, signs a device identity and sends `pair-success`. Returns the new device JID; the
    /// pairing completes when the companion's signed reply arrives (see
    /// [`FakeWhatsApp::devices`](crate::FakeWhatsApp::devices)).
    pub fn scan(&self, qr: &str) -> Result<Jid, FakeError> {
        let qr = parse_qr(qr)?;
        let registration = self
            .state
            .with(|s| {
                s.registrations
                    .iter()
                    .find(|r| r.refs.contains(&qr.reference))
                    .cloned()
            })
            .ok_or_else(|| FakeError::UnknownRef(qr.reference.clone()))?;
        if registration.noise_public != qr.noise_public
            || registration.identity_public != qr.identity_public
        {
            return Err(FakeError::Pairing(
                "QR keys differ from the connection's handshake",
            ));
        }
        let device_id = self.next_device.fetch_add(1, Ordering::Relaxed);
        let issued = pairing::issue_identity(
            &self.account,
            &qr.identity_public,
            &qr.adv_secret,
            u32::from(device_id),
            u32::from(device_id),
            stanza::now_unix(),
        )?;
        let jid = Jid::device(self.user.as_str(), Server::Pn, device_id)?;
        let lid = Jid::device(self.lid_user.as_str(), Server::Lid, device_id)?;
        let iq_id = format!("pair-success-{}", registration.conn_id);
        let node = Node::new("iq")
            .attr("from", stanza::server_jid())
            // A server-initiated request like `pair-device`: the companion answers it with
            // `<iq type="result" id=…><pair-device-sign>`.
            .attr("type", "set")
            .attr("id", iq_id.as_str())
            .attr("xmlns", "md")
            .attr("t", stanza::now_unix())
            .child(
                Node::new("pair-success").children([
                    Node::new("device-identity").bytes(issued.device_identity),
                    Node::new("platform").attr("name", "smbi"),
                    Node::new("device")
                        .attr("jid", jid.clone())
                        .attr("lid", lid),
                ]),
            );
        let device = Device {
            user: self.user.clone(),
            device: device_id,
            lid_user: self.lid_user.clone(),
            noise_public: qr.noise_public,
            identity_public: qr.identity_public,
        };
        let sent = self.state.with(|s| {
            s.pending.insert(
                registration.conn_id,
                PendingPair {
                    device,
                    details: issued.details,
                    account_public: *self.account.public(),
                    iq_id,
                },
            );
            s.conns
                .get(&registration.conn_id)
                .map(|c| c.commands.send(ConnCommand::Send(node)).is_ok())
        });
        match sent {
            Some(true) => Ok(jid),
            _ => Err(FakeError::UnknownRef(qr.reference)),
        }
    }
}
