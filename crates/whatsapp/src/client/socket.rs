//! One connection to the server: the WebSocket, the Noise handshake, and two tasks — a reader
//! that decrypts frames into stanzas and a writer that encrypts them — joined by a
//! [`Connection`] handle that sends stanzas and awaits IQ answers. Stanzas other than IQ answers
//! go to the caller in order through a bounded channel (so a slow consumer slows the socket
//! rather than growing memory).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use rand_core::{OsRng, RngCore};
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tracing::Instrument as _;
use whatsapp_binary::Node;

use super::disconnect::Disconnect;
use super::error::ClientError;
use crate::frame::{ChannelReader, ChannelWriter, FrameDecoder, FrameEncoder, SecureChannel};
use crate::handshake::{ClientHandshake, KeyPair};
use crate::proto::ClientPayload;

/// The server's stanzas are small; history sync blobs arrive by media download, not inline.
const MAX_INFLATED: usize = 8 * 1024 * 1024;
/// The `Origin` WhatsApp Web connects from.
const WEB_ORIGIN: &str = "https://web.whatsapp.com";
/// Stanzas buffered between the reader and their consumer.
const INCOMING_BUFFER: usize = 256;

type PendingIqs = Arc<Mutex<HashMap<String, oneshot::Sender<Node>>>>;

/// Why a connection ended, as far as the socket knows (stream errors are parsed by the consumer
/// of the stanzas, which records them here first).
#[derive(Debug, Default)]
struct EndState {
    reason: Option<Disconnect>,
}

/// A handle on an established connection. Cheap to clone.
#[derive(Clone)]
pub struct Connection {
    out: mpsc::UnboundedSender<Outbound>,
    pending: PendingIqs,
    ids: Arc<IdGen>,
    end: Arc<Mutex<EndState>>,
    iq_timeout: Duration,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}

enum Outbound {
    Node(Box<Node>),
    Close,
}

/// Stanza ids: a random per-connection prefix and a counter, as WhatsApp Web makes them.
struct IdGen {
    prefix: String,
    next: AtomicU64,
}

impl IdGen {
    fn new() -> Self {
        let mut bytes = [0u8; 4];
        OsRng.fill_bytes(&mut bytes);
        Self {
            prefix: format!(
                "{}.{}",
                u16::from_be_bytes([bytes[0], bytes[1]]),
                u16::from_be_bytes([bytes[2], bytes[3]])
            ),
            next: AtomicU64::new(1),
        }
    }

    fn next(&self) -> String {
        format!(
            "{}-{}",
            self.prefix,
            self.next.fetch_add(1, Ordering::Relaxed)
        )
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Where and how to connect.
pub struct Dial<'a> {
    pub url: &'a str,
    pub root_key: &'a [u8; 32],
    pub noise: &'a KeyPair,
    pub payload: &'a ClientPayload,
    pub connect_timeout: Duration,
    pub iq_timeout: Duration,
}

/// Connects, runs the handshake (verifying the server's certificate chain against the root
/// key) and sends the login or registration payload. Returns the connection and the stream of
/// stanzas the server sends (the first is `success`, `failure` or `pair-device`).
pub async fn connect(dial: Dial<'_>) -> Result<(Connection, Incoming), ClientError> {
    let config = WebSocketConfig::default()
        // Stanzas are small; the defaults (128 KiB read buffer) would dominate an idle
        // account's memory. The codec zero-fills this much before each read, so an idle account
        // keeps it resident: 2 KiB instead of 8 saved ~4 KiB per account after a restart
        // (engine-bench, N=100); a larger frame still reserves its full length. (It bounds the
        // reads, not the buffer: tungstenite 0.29 keeps the handshake's 4 KiB buffer as the
        // frame buffer — heaptrack, 2026-12-07.)
        .read_buffer_size(2 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(32 << 20))
        .max_frame_size(Some(16 << 20));
    let mut request = dial
        .url
        .into_client_request()
        .map_err(|e| ClientError::Connect(format!("bad server URL: {e}")))?;
    // WhatsApp's endpoint serves WhatsApp Web, which connects from its own origin.
    request
        .headers_mut()
        .insert("Origin", HeaderValue::from_static(WEB_ORIGIN));
    // Boxed: dialling (DNS, TCP, TLS, the HTTP upgrade) is by far the largest state of this
    // future, and every caller's future would otherwise keep room for it for as long as the
    // account lives, idle or not.
    let (mut ws, _) = timeout(
        dial.connect_timeout,
        Box::pin(tokio_tungstenite::connect_async_with_config(
            request,
            Some(config),
            true,
        )),
    )
    .await
    .map_err(|_| ClientError::Timeout("connecting to the WhatsApp server"))?
    .map_err(|e| ClientError::Connect(e.to_string()))?;

    let mut encoder = FrameEncoder::client();
    let mut decoder = FrameDecoder::new().with_max_len(64 * 1024);
    let (handshake, hello) = ClientHandshake::start();
    ws.send(WsMessage::binary(encoder.encode(&hello)?))
        .await
        .map_err(|e| ClientError::Connect(e.to_string()))?;
    let server_hello = timeout(dial.connect_timeout, async {
        loop {
            if let Some(frame) = decoder.next_frame()? {
                return Ok(frame);
            }
            match ws.next().await {
                Some(Ok(WsMessage::Binary(bytes))) => decoder.push(&bytes),
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
                Some(Ok(WsMessage::Close(frame))) => {
                    return Err(ClientError::Connect(format!(
                        "server closed during the handshake ({})",
                        frame.map_or_else(|| "no code".to_owned(), |f| f.code.to_string())
                    )));
                }
                Some(Ok(_)) => {
                    return Err(ClientError::Protocol(
                        "text frame during the handshake".into(),
                    ));
                }
                Some(Err(e)) => return Err(ClientError::Connect(e.to_string())),
                None => {
                    return Err(ClientError::Connect(
                        "server closed during the handshake".into(),
                    ));
                }
            }
        }
    })
    .await
    .map_err(|_| ClientError::Timeout("the server hello"))??;
    let accepted = handshake.read_server_hello(&server_hello, dial.root_key, now_unix())?;
    let (finish, keys) = accepted.finish(dial.noise, &dial.payload.encode_to_vec())?;
    ws.send(WsMessage::binary(encoder.encode(&finish)?))
        .await
        .map_err(|e| ClientError::Connect(e.to_string()))?;

    let channel = SecureChannel::new(
        encoder,
        decoder.with_max_len(crate::frame::MAX_FRAME_LEN),
        &keys,
        MAX_INFLATED,
    );
    let (writer, reader) = channel.split();
    let (sink, stream) = ws.split();
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let (in_tx, in_rx) = mpsc::channel(INCOMING_BUFFER);
    let pending: PendingIqs = Arc::default();
    let end = Arc::new(Mutex::new(EndState::default()));
    tokio::spawn(write_loop(sink, writer, out_rx, end.clone()).in_current_span());
    tokio::spawn(read_loop(stream, reader, in_tx, pending.clone(), end.clone()).in_current_span());
    Ok((
        Connection {
            out: out_tx,
            pending,
            ids: Arc::new(IdGen::new()),
            end,
            iq_timeout: dial.iq_timeout,
        },
        Incoming(in_rx),
    ))
}

/// The stanzas the server sent, in order. Boxed in the channel: its slots are allocated in blocks
/// of 32 and stay resident once used, 32 × 8 bytes instead of 32 × 80 for every idle account.
pub struct Incoming(mpsc::Receiver<Box<Node>>);

impl Incoming {
    pub async fn recv(&mut self) -> Option<Node> {
        self.0.recv().await.map(|node| *node)
    }

    pub fn try_recv(&mut self) -> Result<Node, mpsc::error::TryRecvError> {
        self.0.try_recv().map(|node| *node)
    }
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn write_loop(
    mut sink: futures_util::stream::SplitSink<WsStream, WsMessage>,
    mut writer: ChannelWriter,
    mut out: mpsc::UnboundedReceiver<Outbound>,
    end: Arc<Mutex<EndState>>,
) {
    while let Some(item) = out.recv().await {
        match item {
            Outbound::Node(node) => {
                let frame = whatsapp_binary::encode(&node)
                    .map_err(|e| e.to_string())
                    .and_then(|bytes| writer.seal(&bytes, false).map_err(|e| e.to_string()));
                let result = match frame {
                    Ok(frame) => sink
                        .send(WsMessage::binary(frame))
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                };
                if let Err(e) = result {
                    record(&end, Disconnect::Lost(format!("write failed: {e}")));
                    let _ = sink.close().await;
                    return;
                }
            }
            Outbound::Close => break,
        }
    }
    let _ = sink.close().await;
}

async fn read_loop(
    mut stream: futures_util::stream::SplitStream<WsStream>,
    mut reader: ChannelReader,
    incoming: mpsc::Sender<Box<Node>>,
    pending: PendingIqs,
    end: Arc<Mutex<EndState>>,
) {
    let reason = loop {
        let bytes = match stream.next().await {
            Some(Ok(WsMessage::Binary(bytes))) => bytes,
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_))) => continue,
            Some(Ok(WsMessage::Close(frame))) => {
                break Disconnect::Lost(format!(
                    "the server closed the connection ({})",
                    frame.map_or_else(|| "no code".to_owned(), |f| f.code.to_string())
                ));
            }
            Some(Ok(WsMessage::Text(_))) => break Disconnect::Lost("unexpected text frame".into()),
            Some(Err(e)) => break Disconnect::Lost(format!("socket error: {e}")),
            None => break Disconnect::Lost("the connection closed".into()),
        };
        let nodes = match reader.open(&bytes) {
            Ok(nodes) => nodes,
            Err(e) => break Disconnect::Lost(format!("undecodable frame: {e}")),
        };
        for raw in nodes {
            let node = match whatsapp_binary::decode(&raw) {
                Ok(node) => node,
                Err(e) => {
                    // One undecodable stanza is not worth the connection; WhatsApp adds tags
                    // and forms over time.
                    tracing::warn!(error = %e, "skipping an undecodable stanza");
                    continue;
                }
            };
            // The server's last words say why the connection ends; record them before the
            // socket's close (which follows at once) can be mistaken for a lost connection.
            match node.tag.as_str() {
                "stream:error" => record(&end, Disconnect::from_stream_error(&node)),
                "failure" => record(&end, Disconnect::from_failure(&node)),
                _ => {}
            }
            if node.tag == "iq"
                && matches!(node.attr_str("type"), Some("result" | "error"))
                && let Some(id) = node.attr_str("id")
            {
                let waiter = lock(&pending).remove(id);
                if let Some(waiter) = waiter {
                    let _ = waiter.send(node);
                    continue;
                }
            }
            if incoming.send(Box::new(node)).await.is_err() {
                return; // nobody listens any more: the connection is being torn down
            }
        }
    };
    record(&end, reason);
    // Wake IQ waiters: their answers will never come.
    lock(&pending).clear();
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Keeps the first reason: a stream error recorded by the stanza consumer wins over the socket
/// closing right after it.
fn record(end: &Mutex<EndState>, reason: Disconnect) {
    let mut state = lock(end);
    if state.reason.is_none() {
        state.reason = Some(reason);
    }
}

impl Connection {
    /// Queues a stanza for the writer. An error means the connection is gone.
    pub fn send(&self, node: Node) -> Result<(), ClientError> {
        self.out
            .send(Outbound::Node(Box::new(node)))
            .map_err(|_| ClientError::NotConnected)
    }

    /// A fresh stanza id.
    pub fn next_id(&self) -> String {
        self.ids.next()
    }

    /// Sends an IQ (its `id` is set here) and waits for the answer; an `error` answer is
    /// [`ClientError::Iq`].
    pub async fn iq(&self, node: Node) -> Result<Node, ClientError> {
        self.iq_within(node, self.iq_timeout).await
    }

    pub async fn iq_within(&self, mut node: Node, limit: Duration) -> Result<Node, ClientError> {
        let id = self.next_id();
        node.set_attr("id", id.as_str());
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id.clone(), tx);
        if let Err(e) = self.send(node) {
            lock(&self.pending).remove(&id);
            return Err(e);
        }
        let answer = match timeout(limit, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => return Err(ClientError::NotConnected),
            Err(_) => {
                lock(&self.pending).remove(&id);
                return Err(ClientError::Timeout("an answer to an IQ"));
            }
        };
        if answer.attr_str("type") == Some("error") {
            let error = answer.child_by_tag("error");
            return Err(ClientError::Iq {
                code: error
                    .and_then(|e| e.attr_str("code"))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0),
                text: error
                    .and_then(|e| e.attr_str("text"))
                    .unwrap_or_default()
                    .to_owned(),
            });
        }
        Ok(answer)
    }

    /// Records why the connection is ending (first reason wins) and closes it.
    pub fn close(&self, reason: Disconnect) {
        record(&self.end, reason);
        let _ = self.out.send(Outbound::Close);
    }

    /// Records a reason without closing (the server is about to close, e.g. after a stream
    /// error).
    pub fn note_end(&self, reason: Disconnect) {
        record(&self.end, reason);
    }

    /// Why the connection ended (or is ending).
    pub fn end_reason(&self) -> Option<Disconnect> {
        lock(&self.end).reason.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn future_size<A, B, C, D, F: FnOnce(A, B, C, D) -> Fut, Fut>(_: F) -> usize {
        std::mem::size_of::<Fut>()
    }

    fn future_size_5<A, B, C, D, E, F: FnOnce(A, B, C, D, E) -> Fut, Fut>(_: F) -> usize {
        std::mem::size_of::<Fut>()
    }

    /// The reader and writer run for as long as an account is connected. An async fn keeps its
    /// arguments and the locals they move into, so a large argument counts twice: with an
    /// expanded AES-GCM in each channel half they were 2.4 and 2.6 KiB (see `CipherState`).
    #[test]
    fn a_connections_reader_and_writer_stay_small() {
        let sizes = [
            ("write_loop", future_size(write_loop), 1024),
            ("read_loop", future_size_5(read_loop), 1024),
        ];
        for (name, size, limit) in sizes {
            eprintln!("{name}: {size} bytes");
            assert!(
                size <= limit,
                "{name}'s future is {size} bytes (limit {limit})"
            );
        }
    }
}
