//! Linking a new companion: a registration connection, QR codes from the server's refs (the
//! first shown ~60 s, the next ones ~20 s each, then "attempts ended"), or a pairing code the
//! user types on the phone; the phone's `pair-success` (verified: HMAC with our ADV secret,
//! the account's signature), our counter-signature, and the 515 that ends the registration.
//! The caller then logs in with the new credentials and persists them only once that login
//! succeeds.
//!
//! Facts: PROTOCOL_NOTES.md "Pairing"; `link_code_companion_reg` shapes from Baileys'
//! `requestPairingCode` and its `link_code_companion_reg` notification handler.

use std::time::{Duration, SystemTime};

use rand_core::{OsRng, RngCore};
use signal::keys::{PrivateKey, PublicKey};
use tokio::sync::mpsc;
use tokio::time::Instant;
use whatsapp_binary::{Jid, Node, Server};

use super::account::{AccountCtx, Command, CommandError, LinkMethod, LinkStarted};
use super::disconnect::Disconnect;
use super::error::{ClientError, UNTRUSTED_SERVER};
use super::payload;
use super::socket::{self, Connection, Dial};
use crate::creds::{Credentials, Identity};
use crate::events::Event;
use crate::pairing::{adv, link_code, qr};

/// How a pairing attempt ended.
pub(crate) enum PairEnd {
    /// The phone linked us; log in with these credentials (not yet persisted).
    Paired(Box<Credentials>),
    /// The user stopped it (logout, delete, shutdown).
    Cancelled(Command),
    /// It did not work out; the reason is for the account's state.
    Failed {
        reason: &'static str,
        message: String,
    },
}

struct CodeRequest {
    phone: String,
    code: String,
    ephemeral: PrivateKey,
}

struct Pairing<'a> {
    ctx: &'a AccountCtx,
    conn: Connection,
    creds: Credentials,
    refs: Vec<String>,
    next_ref: usize,
    qr_deadline: Option<Instant>,
    current_qr: Option<(String, SystemTime)>,
    code: Option<CodeRequest>,
    /// Set once `pair-success` was answered: waiting for the 515.
    paired: bool,
}

fn server() -> Jid {
    Jid::server_only(Server::Pn)
}

fn system_time_in(d: Duration) -> SystemTime {
    SystemTime::now() + d
}

/// Runs one pairing attempt. `method` is how the user asked to link; they may switch to the
/// other method while it runs (a new `Link` command).
pub(crate) async fn pair(
    ctx: &AccountCtx,
    method: LinkMethod,
    reply: tokio::sync::oneshot::Sender<Result<LinkStarted, CommandError>>,
    commands: &mut mpsc::Receiver<Command>,
) -> PairEnd {
    let creds = Credentials::generate(&ctx.config.browser);
    let registration = payload::registration(&ctx.config, &creds);
    let connected = {
        let _permit = ctx.config.connect_gate.acquire().await;
        socket::connect(Dial {
            url: &ctx.config.server_url,
            root_key: &ctx.config.root_key,
            noise: &creds.noise,
            payload: &registration,
            connect_timeout: ctx.config.timing.connect_timeout,
            iq_timeout: ctx.config.timing.iq_timeout,
        })
        .await
    };
    let (conn, mut incoming) = match connected {
        Ok(c) => c,
        Err(e) if e.is_untrusted_server() => {
            let _ = reply.send(Err(CommandError::Unavailable(UNTRUSTED_SERVER.into())));
            return PairEnd::Failed {
                reason: "untrusted_server",
                message: UNTRUSTED_SERVER.into(),
            };
        }
        Err(e) => {
            let _ = reply.send(Err(CommandError::Unavailable(e.to_string())));
            return PairEnd::Failed {
                reason: "connection_failed",
                message: format!("Could not reach WhatsApp to start linking: {e}"),
            };
        }
    };
    let mut pairing = Pairing {
        ctx,
        conn,
        creds,
        refs: Vec::new(),
        next_ref: 0,
        qr_deadline: None,
        current_qr: None,
        code: None,
        paired: false,
    };
    let mut pending_reply = Some((method, reply));
    let end = loop {
        let deadline = pairing.qr_deadline;
        tokio::select! {
            node = incoming.recv() => {
                let Some(node) = node else {
                    break pairing.closed();
                };
                match pairing.on_node(&node, &mut pending_reply).await {
                    Ok(None) => {}
                    Ok(Some(end)) => break end,
                    Err(e) => break PairEnd::Failed {
                        reason: "pairing_failed",
                        message: format!("Linking failed: {e}"),
                    },
                }
            }
            () = sleep_until_opt(deadline) => {
                if let Some(end) = pairing.next_qr() {
                    break end;
                }
            }
            command = commands.recv() => {
                match command {
                    Some(Command::Link { method, reply }) => {
                        if pairing.refs.is_empty() {
                            // Not ready yet: answer once the server's refs arrive.
                            pending_reply = Some((method, reply));
                        } else {
                            let answer = pairing.start(method).await;
                            let _ = reply.send(answer);
                        }
                    }
                    Some(other @ (Command::Logout { .. } | Command::Shutdown)) => {
                        pairing.conn.close(Disconnect::Closed);
                        break PairEnd::Cancelled(other);
                    }
                    Some(other) => other.refuse(CommandError::NotLinked),
                    None => {
                        pairing.conn.close(Disconnect::Closed);
                        break PairEnd::Cancelled(Command::Shutdown);
                    }
                }
            }
        }
    };
    if let Some((_, reply)) = pending_reply {
        let _ = reply.send(Err(CommandError::Unavailable(
            "the server ended the linking attempt".into(),
        )));
    }
    if !matches!(end, PairEnd::Paired(_)) {
        pairing.conn.close(Disconnect::Closed);
    }
    end
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

impl Pairing<'_> {
    /// The registration connection closed: after `pair-success` that is the expected end (the
    /// server closes right after its 515), before it a failure.
    fn closed(&mut self) -> PairEnd {
        if self.paired {
            return PairEnd::Paired(Box::new(self.creds.clone()));
        }
        let why = self
            .conn
            .end_reason()
            .map_or_else(String::new, |r| format!(" ({r:?})"));
        PairEnd::Failed {
            reason: "connection_lost",
            message: format!("The connection to WhatsApp closed while linking{why}."),
        }
    }

    /// Shows the next QR code, or ends the attempt when the refs are used up.
    fn next_qr(&mut self) -> Option<PairEnd> {
        if self.paired {
            self.qr_deadline = None;
            return None;
        }
        let Some(reference) = self.refs.get(self.next_ref).cloned() else {
            return Some(PairEnd::Failed {
                reason: "qr_timeout",
                message: "No phone scanned the QR code in time. Try again.".into(),
            });
        };
        let timing = &self.ctx.config.timing;
        let ttl = if self.next_ref == 0 {
            timing.qr_first
        } else {
            timing.qr_next
        };
        self.next_ref += 1;
        let text = qr::format_qr(&qr::QrData {
            reference,
            noise_public: *self.creds.noise.public(),
            identity_public: self.creds.identity_public(),
            adv_secret: self.creds.adv_secret,
            platform: payload::companion_platform_id(&self.ctx.config.browser).to_owned(),
        });
        let expires_at = system_time_in(ttl);
        self.qr_deadline = Some(Instant::now() + ttl);
        self.current_qr = Some((text.clone(), expires_at));
        self.ctx.emit(Event::Qr {
            qr: text,
            expires_at,
        });
        None
    }

    /// Starts (or switches to) a linking method on the live registration.
    async fn start(&mut self, method: LinkMethod) -> Result<LinkStarted, CommandError> {
        match method {
            LinkMethod::Qr => {
                if self.current_qr.is_none() {
                    self.next_qr();
                }
                let (qr, expires_at) = self
                    .current_qr
                    .clone()
                    .ok_or_else(|| CommandError::Unavailable("no QR code available".into()))?;
                Ok(LinkStarted::Qr { qr, expires_at })
            }
            LinkMethod::Code { phone } => self.request_code(phone).await,
        }
    }

    async fn request_code(&mut self, phone: String) -> Result<LinkStarted, CommandError> {
        let digits = phone.trim_start_matches('+').to_owned();
        let jid = Jid::pn(digits.as_str())
            .map_err(|_| CommandError::Invalid("phone: not a phone number".into()))?;
        let code = link_code::generate_code();
        let ephemeral = PrivateKey::generate(&mut OsRng);
        let wrapped = link_code::wrap(&code, ephemeral.public_key().as_bytes());
        let hello = Node::new("iq")
            .attr("to", server())
            .attr("type", "set")
            .attr("xmlns", "md")
            .child(
                Node::new("link_code_companion_reg")
                    .attr("jid", jid)
                    .attr("stage", "companion_hello")
                    .attr("should_show_push_notification", "true")
                    .children([
                        Node::new("link_code_pairing_wrapped_companion_ephemeral_pub")
                            .bytes(wrapped.to_vec()),
                        Node::new("companion_server_auth_key_pub")
                            .bytes(self.creds.noise.public().to_vec()),
                        Node::new("companion_platform_id").bytes(
                            payload::companion_platform_id(&self.ctx.config.browser)
                                .as_bytes()
                                .to_vec(),
                        ),
                        Node::new("companion_platform_display").bytes(
                            format!("{} ({})", self.ctx.config.browser, self.ctx.config.os)
                                .into_bytes(),
                        ),
                        Node::new("link_code_pairing_nonce").bytes(b"0".to_vec()),
                    ]),
            );
        match self.conn.iq(hello).await {
            Ok(_) => {}
            Err(ClientError::Iq { code: 404, .. }) => {
                return Err(CommandError::Invalid(
                    "phone: this number has no WhatsApp account".into(),
                ));
            }
            Err(ClientError::Iq { code: 400, .. }) => {
                return Err(CommandError::Invalid(
                    "phone: WhatsApp refused this number".into(),
                ));
            }
            Err(e) => return Err(CommandError::Unavailable(e.to_string())),
        }
        let display = format!("{}-{}", &code[..4], &code[4..]);
        let expires_at = system_time_in(self.ctx.config.timing.pairing_code_ttl);
        self.code = Some(CodeRequest {
            phone: digits,
            code,
            ephemeral,
        });
        // The QR codes stop: the user chose the code.
        self.qr_deadline = Some(Instant::now() + self.ctx.config.timing.pairing_code_ttl);
        self.next_ref = self.refs.len();
        self.ctx.emit(Event::PairingCode {
            code: display.clone(),
            expires_at,
        });
        Ok(LinkStarted::Code {
            code: display,
            expires_at,
        })
    }

    async fn on_node(
        &mut self,
        node: &Node,
        pending_reply: &mut Option<(
            LinkMethod,
            tokio::sync::oneshot::Sender<Result<LinkStarted, CommandError>>,
        )>,
    ) -> Result<Option<PairEnd>, ClientError> {
        match node.tag.as_str() {
            "iq" if node.child_by_tag("pair-device").is_some() => {
                self.ack_iq(node)?;
                self.refs = node
                    .child_by_tag("pair-device")
                    .map(|p| {
                        p.children_by_tag("ref")
                            .filter_map(|r| r.content_bytes())
                            .map(|b| String::from_utf8_lossy(b).into_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                if self.refs.is_empty() {
                    return Err(ClientError::Protocol("pair-device without refs".into()));
                }
                if let Some((method, reply)) = pending_reply.take() {
                    if matches!(method, LinkMethod::Qr) {
                        self.next_qr();
                    }
                    let answer = self.start(method).await;
                    let _ = reply.send(answer);
                }
                Ok(None)
            }
            "iq" if node.child_by_tag("pair-success").is_some() => {
                self.on_pair_success(node)?;
                Ok(None)
            }
            "iq" => {
                if node.attr_str("type") == Some("get") {
                    self.ack_iq(node)?;
                }
                Ok(None)
            }
            "notification" => {
                self.ack(node);
                if node.attr_str("type") == Some("link_code_companion_reg") {
                    self.on_primary_hello(node).await?;
                }
                Ok(None)
            }
            "stream:error" => {
                let cause = Disconnect::from_stream_error(node);
                self.conn.note_end(cause.clone());
                Ok(Some(match cause {
                    Disconnect::Restart if self.paired => {
                        PairEnd::Paired(Box::new(self.creds.clone()))
                    }
                    other => PairEnd::Failed {
                        reason: "pairing_failed",
                        message: format!("WhatsApp ended the linking attempt ({other:?})."),
                    },
                }))
            }
            "failure" => Ok(Some(PairEnd::Failed {
                reason: "pairing_failed",
                message: format!(
                    "WhatsApp refused the linking attempt (reason {}).",
                    node.attr_str("reason").unwrap_or("unknown")
                ),
            })),
            _ => Ok(None),
        }
    }

    fn ack_iq(&self, node: &Node) -> Result<(), ClientError> {
        let id = node.attr_str("id").unwrap_or_default();
        self.conn.send(
            Node::new("iq")
                .attr("to", server())
                .attr("type", "result")
                .attr("id", id),
        )
    }

    fn ack(&self, node: &Node) {
        let Some(id) = node.attr_str("id") else {
            return;
        };
        let mut ack = Node::new("ack")
            .attr("id", id)
            .attr("class", node.tag.as_str());
        if let Some(from) = node.get_attr("from") {
            ack = ack.attr("to", from.clone());
        }
        if let Some(kind) = node.attr_str("type") {
            ack = ack.attr("type", kind);
        }
        let _ = self.conn.send(ack);
    }

    /// The phone typed our code: derive the ADV secret both sides now share and finish.
    async fn on_primary_hello(&mut self, node: &Node) -> Result<(), ClientError> {
        let Some(request) = &self.code else {
            return Ok(()); // not asked for: ignore
        };
        let reg = node
            .child_by_tag("link_code_companion_reg")
            .ok_or_else(|| ClientError::Protocol("link code notice without a body".into()))?;
        let bytes = |tag: &str| {
            reg.child_by_tag(tag)
                .and_then(Node::content_bytes)
                .ok_or_else(|| ClientError::Protocol(format!("link code notice lacks {tag}")))
        };
        let reference = bytes("link_code_pairing_ref")?.to_vec();
        let primary_identity: [u8; 32] = bytes("primary_identity_pub")?
            .try_into()
            .map_err(|_| ClientError::Protocol("primary identity is not 32 bytes".into()))?;
        let primary_ephemeral = link_code::unwrap(
            &request.code,
            bytes("link_code_pairing_wrapped_primary_ephemeral_pub")?,
        )?;
        let ephemeral_shared = request
            .ephemeral
            .agree(&PublicKey::from_bytes(primary_ephemeral));
        let mut random = [0u8; 32];
        let mut salt = [0u8; 32];
        let mut iv = [0u8; 12];
        OsRng.fill_bytes(&mut random);
        OsRng.fill_bytes(&mut salt);
        OsRng.fill_bytes(&mut iv);
        let sealed = link_code::seal_bundle(
            &ephemeral_shared,
            &link_code::KeyBundle {
                companion_identity: self.creds.identity_public(),
                primary_identity,
                random,
            },
            &salt,
            &iv,
        );
        let identity_shared = self
            .creds
            .identity
            .private
            .agree(&PublicKey::from_bytes(primary_identity));
        self.creds.adv_secret = link_code::adv_secret(&ephemeral_shared, &identity_shared, &random);
        let jid = Jid::pn(request.phone.as_str())?;
        let finish = Node::new("iq")
            .attr("to", server())
            .attr("type", "set")
            .attr("xmlns", "md")
            .child(
                Node::new("link_code_companion_reg")
                    .attr("jid", jid)
                    .attr("stage", "companion_finish")
                    .children([
                        Node::new("link_code_pairing_wrapped_key_bundle").bytes(sealed),
                        Node::new("companion_identity_public")
                            .bytes(self.creds.identity_public().to_vec()),
                        Node::new("link_code_pairing_ref").bytes(reference),
                    ]),
            );
        self.conn.iq(finish).await?;
        Ok(())
    }

    /// Verifies the phone's signed identity, counter-signs it, and remembers who we are.
    fn on_pair_success(&mut self, node: &Node) -> Result<(), ClientError> {
        let success = node
            .child_by_tag("pair-success")
            .ok_or_else(|| ClientError::Protocol("pair-success missing".into()))?;
        let device_identity = success
            .child_by_tag("device-identity")
            .and_then(Node::content_bytes)
            .ok_or_else(|| ClientError::Protocol("pair-success without device-identity".into()))?;
        let device = success
            .child_by_tag("device")
            .ok_or_else(|| ClientError::Protocol("pair-success without device".into()))?;
        let jid = device
            .attr_jid("jid")
            .ok()
            .flatten()
            .ok_or_else(|| ClientError::Protocol("pair-success without our JID".into()))?;
        let lid = device.attr_jid("lid").ok().flatten();
        let accepted = match adv::accept_pair_success(
            device_identity,
            &self.creds.adv_secret,
            &self.creds.identity_key_pair(),
        ) {
            Ok(a) => a,
            Err(e) => {
                // Tell the server we refuse it, then give up on this attempt.
                let id = node.attr_str("id").unwrap_or_default();
                let _ = self.conn.send(
                    Node::new("iq")
                        .attr("to", server())
                        .attr("type", "error")
                        .attr("id", id)
                        .child(
                            Node::new("error")
                                .attr("code", "401")
                                .attr("text", "not-authorized"),
                        ),
                );
                return Err(e.into());
            }
        };
        let id = node.attr_str("id").unwrap_or_default();
        self.conn.send(
            Node::new("iq")
                .attr("to", server())
                .attr("type", "result")
                .attr("id", id)
                .child(
                    Node::new("pair-device-sign").child(
                        Node::new("device-identity")
                            .attr("key-index", accepted.key_index)
                            .bytes(accepted.reply),
                    ),
                ),
        )?;
        self.creds.me = Some(Identity {
            jid,
            lid,
            account: accepted.account,
            linked_at: super::session::now_unix(),
        });
        self.paired = true;
        self.qr_deadline = None;
        Ok(())
    }
}
