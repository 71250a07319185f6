//! The media host: what WhatsApp's `mmg.whatsapp.net` does for the offline WhatsApp. Clients ask
//! for it with the `media_conn` IQ (answered with this host and an auth token), upload encrypted
//! blobs to `POST /mms/<type>/<token>?auth=…&token=…` (the token is the blob's SHA-256, base64url,
//! and is checked), and download them by direct path (`GET /v/…`). Blobs expire after
//! [`crate::Config::media_ttl`] (then `410 Gone`; unknown paths are `404`). The host never
//! decrypts anything, as the real one cannot.
//!
//! One port speaks plain HTTP and TLS (told apart by the first byte: `0x16` starts a TLS
//! handshake). Our engine uses `http://` on loopback (`ClientConfig::media_scheme`); Baileys
//! builds `https://` URLs itself, so it connects with TLS and a throw-away self-signed
//! certificate made at start-up, trusted by the Node child alone
//! (`NODE_TLS_REJECT_UNAUTHORIZED=0`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use whatsapp_binary::Node;

use crate::error::FakeError;
use crate::stanza::iq_result;

/// Uploads larger than this are refused (WhatsApp's own limit for documents is 2 GB; tests
/// stay far below).
pub const MAX_UPLOAD: usize = 512 * 1024 * 1024;
/// The `ttl` of a `media_conn` answer, in seconds (clients reuse it that long).
const MEDIA_CONN_TTL: u64 = 3600;

#[derive(Debug)]
struct Blob {
    data: Bytes,
    stored_at: Instant,
    /// Made to expire early by a test ([`MediaStore::expire`]).
    expired: bool,
}

#[derive(Debug, Default)]
struct Inner {
    /// `127.0.0.1:<port>`.
    host: String,
    ttl: Duration,
    auth: String,
    /// By direct path without its query.
    blobs: HashMap<String, Blob>,
    uploads: u64,
    downloads: u64,
}

/// Why a blob cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    NotFound,
    Expired,
}

/// The media host's storage, shared with the phones (which upload and download in-process).
#[derive(Debug, Default)]
pub struct MediaStore {
    inner: Mutex<Inner>,
}

/// A direct path without its query string (the key blobs are stored under).
fn path_key(direct_path: &str) -> &str {
    direct_path.split('?').next().unwrap_or(direct_path)
}

/// The direct path in a URL (`https://host/v/…?…` → `/v/…?…`).
pub fn direct_path_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    rest.find('/').map(|i| &rest[i..])
}

impl MediaStore {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut guard = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    pub(crate) fn configure(&self, host: String, ttl: Duration) {
        let mut auth = [0u8; 24];
        OsRng.fill_bytes(&mut auth);
        // Standard base64 on purpose: `+`, `/` and `=` must survive URL-encoding by clients.
        let auth = base64::engine::general_purpose::STANDARD.encode(auth);
        self.with(|m| {
            m.host = host;
            m.ttl = ttl;
            m.auth = auth;
        });
    }

    /// `127.0.0.1:<port>` of the media host.
    pub fn host(&self) -> String {
        self.with(|m| m.host.clone())
    }

    /// The answer to `<iq xmlns="w:m" type="set"><media_conn/>`.
    pub(crate) fn media_conn_reply(&self, id: &str) -> Node {
        let (host, auth) = self.with(|m| (m.host.clone(), m.auth.clone()));
        iq_result(id).child(
            Node::new("media_conn")
                .attr("auth", auth)
                .attr("ttl", MEDIA_CONN_TTL)
                .attr("auth_ttl", MEDIA_CONN_TTL)
                .attr("max_buckets", "12")
                .child(
                    Node::new("host")
                        .attr("hostname", host)
                        .attr("maxContentLengthBytes", MAX_UPLOAD as u64),
                ),
        )
    }

    /// Stores an encrypted blob of `media_type` (`image`, `audio`, …); returns its direct path.
    pub fn put(&self, media_type: &str, data: Bytes) -> String {
        let mut rand = [0u8; 8];
        OsRng.fill_bytes(&mut rand);
        self.with(|m| {
            m.uploads += 1;
            let path = format!(
                "/v/t62.{media_type}/{}_{}.enc",
                m.uploads,
                hex::encode(rand)
            );
            m.blobs.insert(
                path.clone(),
                Blob {
                    data,
                    stored_at: Instant::now(),
                    expired: false,
                },
            );
            // A query, as WhatsApp's direct paths carry (clients must keep it).
            format!("{path}?ccb=11-4&mms3=true")
        })
    }

    /// The blob at `direct_path` (its query is ignored).
    pub fn get(&self, direct_path: &str) -> Result<Bytes, Missing> {
        self.with(|m| {
            let ttl = m.ttl;
            let blob = m
                .blobs
                .get(path_key(direct_path))
                .ok_or(Missing::NotFound)?;
            if blob.expired || blob.stored_at.elapsed() >= ttl {
                return Err(Missing::Expired);
            }
            let data = blob.data.clone();
            m.downloads += 1;
            Ok(data)
        })
    }

    /// Flips one byte of the stored ciphertext (a test of the receiver's checks).
    pub fn tamper(&self, direct_path: &str) -> bool {
        self.with(|m| match m.blobs.get_mut(path_key(direct_path)) {
            Some(blob) if !blob.data.is_empty() => {
                let mut data = blob.data.to_vec();
                data[0] ^= 0x80;
                blob.data = Bytes::from(data);
                true
            }
            _ => false,
        })
    }

    /// The phone's re-upload after a media retry request: the same encrypted file under a new
    /// direct path with a fresh lifetime (as a phone uploads the file it still has, under the
    /// same media key). `None` when the host never had it.
    pub fn reupload(&self, direct_path: &str) -> Option<String> {
        let data = self.with(|m| m.blobs.get(path_key(direct_path)).map(|b| b.data.clone()))?;
        let media_type = path_key(direct_path)
            .strip_prefix("/v/t62.")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or("image")
            .to_owned();
        Some(self.put(&media_type, data))
    }

    /// Makes a blob expire now (as if its TTL had passed).
    pub fn expire(&self, direct_path: &str) -> bool {
        self.with(|m| match m.blobs.get_mut(path_key(direct_path)) {
            Some(blob) => {
                blob.expired = true;
                true
            }
            None => false,
        })
    }

    /// (uploads, downloads) served so far.
    pub fn counts(&self) -> (u64, u64) {
        self.with(|m| (m.uploads, m.downloads))
    }

    fn auth_ok(&self, auth: &str) -> bool {
        self.with(|m| !m.auth.is_empty() && m.auth == auth)
    }
}

// ---- HTTP ----

type Store = State<Arc<MediaStore>>;

fn router(store: Arc<MediaStore>) -> Router {
    Router::new()
        .route("/mms/{media_type}/{token}", post(upload))
        .route("/v/{bucket}/{file}", get(download))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD))
        .with_state(store)
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": why }))).into_response()
}

async fn upload(
    State(store): Store,
    Path((media_type, token)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if !query.get("auth").is_some_and(|a| store.auth_ok(a)) {
        return refuse(StatusCode::UNAUTHORIZED, "bad or missing auth");
    }
    if !matches!(
        media_type.as_str(),
        "image" | "audio" | "video" | "document" | "md-app-state" | "md-msg-hist"
    ) {
        return refuse(StatusCode::NOT_FOUND, "unknown media type");
    }
    let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&body));
    if token != hash || query.get("token") != Some(&hash) {
        return refuse(StatusCode::BAD_REQUEST, "token is not the blob's SHA-256");
    }
    let direct_path = store.put(&media_type, body);
    let url = format!("https://{}{direct_path}", store.host());
    axum::Json(serde_json::json!({ "url": url, "direct_path": direct_path })).into_response()
}

async fn download(State(store): Store, Path((bucket, file)): Path<(String, String)>) -> Response {
    match store.get(&format!("/v/{bucket}/{file}")) {
        Ok(data) => ([(header::CONTENT_TYPE, "application/octet-stream")], data).into_response(),
        Err(Missing::NotFound) => refuse(StatusCode::NOT_FOUND, "no such media"),
        Err(Missing::Expired) => refuse(StatusCode::GONE, "media expired"),
    }
}

// ---- one port, plain HTTP or TLS ----

/// A connection to the media host, in the clear or in TLS.
pub enum MaybeTls {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl AsyncRead for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    // Vectored writes let hyper send a large body without first copying it into its buffer.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Accepts TCP connections and wraps each in TLS when its first byte starts a handshake.
struct SniffingListener {
    tcp: TcpListener,
    tls: tokio_rustls::TlsAcceptor,
}

/// A handshake (or a first byte) slower than this drops that connection only.
const SNIFF_TIMEOUT: Duration = Duration::from_secs(5);

impl SniffingListener {
    async fn classify(&self, stream: TcpStream) -> std::io::Result<MaybeTls> {
        let mut first = [0u8; 1];
        let n = tokio::time::timeout(SNIFF_TIMEOUT, stream.peek(&mut first))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        if n == 1 && first[0] == 0x16 {
            let tls = tokio::time::timeout(SNIFF_TIMEOUT, self.tls.accept(stream))
                .await
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
            Ok(MaybeTls::Tls(Box::new(tls)))
        } else {
            Ok(MaybeTls::Plain(stream))
        }
    }
}

impl axum::serve::Listener for SniffingListener {
    type Io = MaybeTls;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, peer)) = self.tcp.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            match self.classify(stream).await {
                Ok(io) => return (io, peer),
                Err(e) => tracing::debug!(%peer, "media connection dropped before HTTP: {e}"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A TLS acceptor with a fresh self-signed certificate for `localhost` / `127.0.0.1`.
fn self_signed_acceptor() -> Result<tokio_rustls::TlsAcceptor, FakeError> {
    let tls_error = |e: &dyn std::fmt::Display| FakeError::Protocol(format!("media TLS: {e}"));
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .map_err(|e| tls_error(&e))?;
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(&e))?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(|e| tls_error(&e))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Binds the media host next to the chat server and starts serving `store`.
pub(crate) async fn start(
    bind: SocketAddr,
    store: Arc<MediaStore>,
    ttl: Duration,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), FakeError> {
    let tcp = TcpListener::bind(SocketAddr::new(bind.ip(), 0)).await?;
    let addr = tcp.local_addr()?;
    store.configure(addr.to_string(), ttl);
    let listener = SniffingListener {
        tcp,
        tls: self_signed_acceptor()?,
    };
    let app = router(store);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("media host stopped: {e}");
        }
    });
    Ok((addr, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_served_until_they_expire_and_tampering_changes_them() {
        let store = MediaStore::default();
        store.configure("127.0.0.1:1".into(), Duration::from_secs(60));
        let path = store.put("image", Bytes::from_static(b"blob"));
        assert!(path.starts_with("/v/t62.image/") && path.contains(".enc?"));
        assert_eq!(store.get(&path).unwrap(), Bytes::from_static(b"blob"));
        assert!(store.tamper(&path));
        assert_ne!(store.get(&path).unwrap(), Bytes::from_static(b"blob"));
        assert!(store.expire(&path));
        assert_eq!(store.get(&path), Err(Missing::Expired));
        assert_eq!(store.get("/v/t62.image/nope.enc"), Err(Missing::NotFound));

        store.configure("127.0.0.1:1".into(), Duration::ZERO);
        let path = store.put("audio", Bytes::from_static(b"x"));
        assert_eq!(store.get(&path), Err(Missing::Expired));
    }

    #[test]
    fn direct_paths_come_out_of_urls() {
        assert_eq!(
            direct_path_of("https://h:1/v/a/b.enc?x=1"),
            Some("/v/a/b.enc?x=1")
        );
        assert_eq!(direct_path_of("nonsense"), None);
    }
}
