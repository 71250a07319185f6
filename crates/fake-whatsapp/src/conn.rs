//! One client connection: WebSocket upgrade, the responder handshake (XX, or a resume by Noise
//! IK, answered with XXfallback when the client's cached server key is stale), then the stanza
//! loop (incoming nodes and control commands). Every error ends this connection only.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use whatsapp::frame::{FrameDecoder, FrameEncoder, SecureChannel};
use whatsapp::handshake::{Accepted, ServerHandshake};
use whatsapp::proto::ClientPayload;
use whatsapp_binary::Node;

use crate::error::FakeError;
use crate::server::Ctx;
use crate::state::{ConnCommand, LiveConn};
use crate::{iq, login, routing, stanza};

/// Handshake messages are a few hundred bytes; anything near this is hostile.
const HANDSHAKE_MAX_FRAME: usize = 64 * 1024;
/// Stanzas after login (pre-key uploads are the largest a client sends early).
const MAX_FRAME: usize = 4 * 1024 * 1024;
const MAX_INFLATED: usize = 8 * 1024 * 1024;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the six QR refs of a registration last in all (one 60 s, five 20 s) plus slack.
const REGISTRATION_WINDOW: Duration = Duration::from_secs(180);

type Ws = WebSocketStream<TcpStream>;

/// What the stanza loop should do after handling one event.
pub enum Next {
    Continue,
    /// Send `<stream:error code=…>` and close.
    StreamError(u16),
    /// Close without a word.
    Drop,
}

/// Only `/ws/chat` upgrades; anything else is a 404, as on the real host.
#[allow(clippy::result_large_err)] // the signature is tungstenite's handshake `Callback`
fn check_path(req: &Request, resp: Response) -> Result<Response, ErrorResponse> {
    if req.uri().path() == "/ws/chat" {
        Ok(resp)
    } else {
        let mut err = ErrorResponse::new(Some("not found".into()));
        *err.status_mut() = StatusCode::NOT_FOUND;
        Err(err)
    }
}

pub async fn serve(stream: TcpStream, ctx: Arc<Ctx>) -> Result<(), FakeError> {
    let mut ws = tokio_tungstenite::accept_hdr_async(stream, check_path).await?;

    let mut decoder = FrameDecoder::expecting_intro().with_max_len(HANDSHAKE_MAX_FRAME);
    let mut encoder = FrameEncoder::server();
    let hello = timeout(HANDSHAKE_TIMEOUT, read_frame(&mut ws, &mut decoder))
        .await
        .map_err(|_| FakeError::Timeout("client hello"))??;
    let finished = match ServerHandshake::accept(&hello, &ctx.static_key, &ctx.cert_chain)? {
        Accepted::Resumed { reply, finished } => {
            ws.send(Message::binary(encoder.encode(&reply)?)).await?;
            ctx.state.with(|s| s.stats.resumed_handshakes += 1);
            finished
        }
        Accepted::Hello {
            handshake,
            reply,
            fallback,
        } => {
            ws.send(Message::binary(encoder.encode(&reply)?)).await?;
            if fallback {
                ctx.state.with(|s| s.stats.fallback_handshakes += 1);
            }
            let finish = timeout(HANDSHAKE_TIMEOUT, read_frame(&mut ws, &mut decoder))
                .await
                .map_err(|_| FakeError::Timeout("client finish"))??;
            handshake.read_client_finish(&finish)?
        }
    };
    let payload = ClientPayload::decode(finished.client_payload.as_slice())?;
    let decoder = decoder.with_max_len(MAX_FRAME);
    let channel = SecureChannel::new(encoder, decoder, &finished.keys, MAX_INFLATED);

    let (tx, rx) = mpsc::unbounded_channel();
    let conn_id = ctx.state.with(|s| {
        s.next_conn_id += 1;
        let id = s.next_conn_id;
        s.conns.insert(
            id,
            LiveConn {
                commands: tx,
                device: None,
                subscriptions: Vec::new(),
            },
        );
        id
    });
    let mut conn = Conn {
        ws,
        channel,
        ctx: ctx.clone(),
        conn_id,
        device: None,
    };
    let result = conn.run(payload, finished.client_static, rx).await;
    ctx.state.with(|s| {
        s.conns.remove(&conn_id);
        s.registrations.retain(|r| r.conn_id != conn_id);
        s.pending.remove(&conn_id);
    });
    result
}

/// Reads WebSocket messages until the decoder yields one whole frame.
async fn read_frame(ws: &mut Ws, decoder: &mut FrameDecoder) -> Result<Vec<u8>, FakeError> {
    loop {
        if let Some(frame) = decoder.next_frame()? {
            return Ok(frame);
        }
        match ws.next().await {
            Some(Ok(Message::Binary(bytes))) => decoder.push(&bytes),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Close(frame))) => return Err(closed_by_client(frame)),
            Some(Ok(_)) => return Err(FakeError::Protocol("non-binary message".into())),
            Some(Err(e)) => return Err(e.into()),
            None => return Err(FakeError::Closed),
        }
    }
}

/// A close frame as an error that says so, with the client's code.
fn closed_by_client(frame: Option<CloseFrame>) -> FakeError {
    FakeError::ClosedByClient {
        code: frame.as_ref().map(|f| u16::from(f.code)),
        reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
    }
}

pub struct Conn {
    ws: Ws,
    channel: SecureChannel,
    pub ctx: Arc<Ctx>,
    pub conn_id: u64,
    /// `(user, device)` once logged in.
    pub device: Option<(String, u16)>,
}

impl Conn {
    async fn run(
        &mut self,
        payload: ClientPayload,
        client_static: [u8; 32],
        mut commands: mpsc::UnboundedReceiver<ConnCommand>,
    ) -> Result<(), FakeError> {
        let next = login::start(self, &payload, client_static).await?;
        if self.finish(next).await? {
            return Ok(());
        }
        let idle = self.ctx.idle_timeout;
        let mut deadline = tokio::time::Instant::now() + idle;
        // A registering connection may wait quietly for its QR to be scanned for as long as its
        // refs last (60 s + 5 × 20 s), so it is exempt from the idle timeout until then.
        let registration_ends = tokio::time::Instant::now() + idle.max(REGISTRATION_WINDOW);
        loop {
            let next = tokio::select! {
                msg = self.ws.next() => {
                    deadline = tokio::time::Instant::now() + idle;
                    self.on_ws(msg).await?
                }
                () = tokio::time::sleep_until(deadline) => {
                    if self.device.is_none() && tokio::time::Instant::now() < registration_ends {
                        deadline = registration_ends;
                        Next::Continue
                    } else {
                        // Silent for too long: the server hangs up (a WebSocket close, no stanza).
                        let _ = self.ws.close(None).await;
                        return Ok(());
                    }
                }
                cmd = commands.recv() => match cmd {
                    Some(ConnCommand::Send(node)) => { self.send(&node).await?; Next::Continue }
                    Some(ConnCommand::Deliver { class, id }) => {
                        self.flush(Some((class.as_str(), id.as_str())), false).await?;
                        Next::Continue
                    }
                    Some(ConnCommand::Kick(code)) => Next::StreamError(code),
                    Some(ConnCommand::Failure(reason)) => {
                        self.send(&Node::new("failure").attr("reason", reason)).await?;
                        Next::Drop
                    }
                    Some(ConnCommand::Drop) | None => Next::Drop,
                },
            };
            if self.finish(next).await? {
                return Ok(());
            }
        }
    }

    /// Carries out a `Next`; true when the connection is over.
    async fn finish(&mut self, next: Next) -> Result<bool, FakeError> {
        match next {
            Next::Continue => Ok(false),
            Next::StreamError(code) => {
                self.send(&stanza::stream_error(code)).await?;
                // The real server closes right after a stream error. Dropping the socket at
                // once would reset the connection if the client is still sending, and it could
                // lose the stream error; so close, then read until the client closes too
                // (bounded). A failed close is moot.
                let _ = self.ws.close(None).await;
                let _ = timeout(Duration::from_secs(2), async {
                    while let Some(Ok(_)) = self.ws.next().await {}
                })
                .await;
                Ok(true)
            }
            Next::Drop => Ok(true),
        }
    }

    async fn on_ws(
        &mut self,
        msg: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> Result<Next, FakeError> {
        let bytes = match msg {
            Some(Ok(Message::Binary(bytes))) => bytes,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => return Ok(Next::Continue),
            Some(Ok(Message::Close(frame))) => return Err(closed_by_client(frame)),
            None => return Err(FakeError::Closed),
            Some(Ok(_)) => return Err(FakeError::Protocol("non-binary message".into())),
            Some(Err(e)) => return Err(e.into()),
        };
        for node_bytes in self.channel.open(&bytes)? {
            let node = whatsapp_binary::decode(&node_bytes)?;
            let next = self.on_node(node).await?;
            if !matches!(next, Next::Continue) {
                return Ok(next);
            }
        }
        Ok(Next::Continue)
    }

    async fn on_node(&mut self, node: Node) -> Result<Next, FakeError> {
        match node.tag.as_str() {
            "iq" => iq::handle(self, &node).await,
            "message" => routing::on_message(self, &node).await,
            "receipt" | "notification" | "call" => {
                if node.tag == "receipt" {
                    routing::on_receipt(self, &node);
                }
                if let Some(ack) = stanza::ack_for(&node) {
                    self.pause().await;
                    self.send(&ack).await?;
                }
                Ok(Next::Continue)
            }
            "ack" => {
                routing::on_ack(self, &node);
                Ok(Next::Continue)
            }
            "chatstate" => {
                routing::on_chatstate(self, &node);
                Ok(Next::Continue)
            }
            "presence" => routing::on_presence(self, &node).await,
            // unified_session telemetry and the like need no answer.
            _ => Ok(Next::Continue),
        }
    }

    /// Waits out the "delayed responses" fault, if set.
    pub async fn pause(&self) {
        let delay = self.ctx.state.with(|s| s.faults.delay);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }

    /// Sends this device's queued stanzas not yet sent on this connection: one (`only`), or
    /// all of them at login (`offline`: marked `offline="1"`, as the real server marks what
    /// it kept while the device was away). Returns how many went out.
    pub async fn flush(
        &mut self,
        only: Option<(&str, &str)>,
        offline: bool,
    ) -> Result<usize, FakeError> {
        let Some((user, device)) = self.device.clone() else {
            return Ok(0);
        };
        let conn_id = self.conn_id;
        let nodes: Vec<Node> = self.ctx.state.with(|s| {
            let Some(queue) = s.outbox.get_mut(&crate::state::device_key(&user, device)) else {
                return Vec::new();
            };
            queue
                .iter_mut()
                .filter(|q| only.is_none_or(|(class, id)| q.class == class && q.id == id))
                .filter(|q| !q.sent_on.contains(&conn_id))
                .map(|q| {
                    q.sent_on.push(conn_id);
                    q.node.clone()
                })
                .collect()
        });
        for mut node in nodes.iter().cloned() {
            if offline {
                node.set_attr("offline", "1");
            }
            self.send(&node).await?;
        }
        Ok(nodes.len())
    }

    pub async fn send(&mut self, node: &Node) -> Result<(), FakeError> {
        tracing::trace!(conn = self.conn_id, "sends {node}");
        let bytes = whatsapp_binary::encode(node)?;
        let frame = self.channel.seal(&bytes, false)?;
        self.ws.send(Message::binary(frame)).await?;
        Ok(())
    }
}
