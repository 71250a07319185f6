//! Media transfer: the `media_conn` IQ (which hosts to upload to, with which auth token, for how
//! long), the upload, and the download that verifies as it decrypts. The cryptography is
//! [`crate::media`]; this is its I/O.
//!
//! Facts (Baileys 7.0.0-rc14, `Socket/messages-send.js` `refreshMediaConn` and
//! `Utils/messages-media.js` `getWAUploadToServer` / `downloadContentFromMessage`):
//! - `<iq to="s.whatsapp.net" type="set" xmlns="w:m"><media_conn/></iq>` → `<media_conn
//!   auth=… ttl=…><host hostname=…/>…</media_conn>`; cached until `ttl` seconds have passed.
//! - Upload: `POST https://{host}{/mms/<type>}/{token}?auth={auth}&token={token}` where token =
//!   base64url (no padding) of `fileEncSha256`; body = the encrypted blob; headers
//!   `Content-Type: application/octet-stream`, `Origin: https://web.whatsapp.com`; answer JSON
//!   `{url, direct_path}`. Hosts are tried in order.
//! - Download: `https://{host}{direct_path}` (the host taken from the message's `url`, else
//!   `mmg.whatsapp.net`), or the `url` itself when there is no direct path.
//!
//! The scheme is configurable ([`ClientConfig::media_scheme`]) only so the offline WhatsApp's
//! plain-HTTP media host on loopback can be used; WhatsApp's is always `https`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::StreamExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use whatsapp_binary::Node;

use super::account::CommandError;
use super::config::ClientConfig;
use super::error::ClientError;
use super::session::Session;
use crate::media::{
    Decryptor, EncryptedInfo, Encryptor, MAC_LEN, MediaDescriptor, MediaError, MediaKind,
    MediaMeta, new_media_key,
};

/// WhatsApp's default media host (Baileys' `DEF_MEDIA_HOST`).
pub const DEFAULT_MEDIA_HOST: &str = "mmg.whatsapp.net";
/// The origin WhatsApp Web's requests carry.
const ORIGIN: &str = "https://web.whatsapp.com";
/// Read size when streaming a file through the encryptor.
const CHUNK: usize = 64 * 1024;

/// Why a media transfer failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaTransferError {
    /// The file downloaded but is not the file the message describes (tampered, corrupted, wrong
    /// hash): nothing of it may be kept.
    #[error(transparent)]
    Invalid(#[from] MediaError),
    /// The media host no longer has it (404/410: WhatsApp's URLs expire); the sender's phone can
    /// be asked to upload it again.
    #[error("the media host no longer has this file (HTTP {0})")]
    Expired(u16),
    /// Any other HTTP status.
    #[error("the media host answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    /// The host sent more bytes than the message announced.
    #[error("the media host sent more than the {0} bytes the message announced")]
    Oversized(u64),
    /// The message names no URL or direct path (or an unusable one).
    #[error("the message has no usable media URL")]
    NoUrl,
    #[error("the media_conn answer is unusable: {0}")]
    BadMediaConn(String),
    #[error("the upload answer names no url or direct_path: {0}")]
    BadUploadAnswer(String),
    #[error("every media host refused the upload; last: {0}")]
    UploadFailed(String),
    #[error("network: {0}")]
    Http(#[from] reqwest::Error),
    /// Reading the file to upload or writing the download failed.
    #[error("local I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// One host from `media_conn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaHost {
    pub hostname: String,
    pub max_content_length: Option<u64>,
}

/// The answer to the `media_conn` IQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConn {
    pub hosts: Vec<MediaHost>,
    pub auth: String,
    pub ttl: Duration,
    pub fetched_at: Instant,
}

impl MediaConn {
    /// The IQ that asks for it (the connection sets the id).
    pub fn request() -> Node {
        Node::new("iq")
            .attr("to", "s.whatsapp.net")
            .attr("type", "set")
            .attr("xmlns", "w:m")
            .child(Node::new("media_conn"))
    }

    /// Reads the `<iq type="result"><media_conn auth ttl><host hostname/>…` answer.
    pub fn parse(answer: &Node) -> Result<Self, MediaTransferError> {
        let bad = |why: &str| MediaTransferError::BadMediaConn(why.to_owned());
        let conn = answer
            .child_by_tag("media_conn")
            .ok_or_else(|| bad("no <media_conn>"))?;
        let auth = conn
            .attr_str("auth")
            .filter(|a| !a.is_empty())
            .ok_or_else(|| bad("no auth"))?
            .to_owned();
        let ttl = conn.attr_u64("ttl").ok().flatten().unwrap_or(0);
        let hosts: Vec<MediaHost> = conn
            .children_by_tag("host")
            .filter_map(|h| {
                let hostname = h.attr_str("hostname").filter(|n| valid_host(n))?;
                Some(MediaHost {
                    hostname: hostname.to_owned(),
                    max_content_length: h.attr_u64("maxContentLengthBytes").ok().flatten(),
                })
            })
            .collect();
        if hosts.is_empty() {
            return Err(bad("no usable host"));
        }
        Ok(Self {
            hosts,
            auth,
            ttl: Duration::from_secs(ttl),
            fetched_at: Instant::now(),
        })
    }

    /// Whether it is still within its `ttl`.
    pub fn is_fresh(&self) -> bool {
        self.fetched_at.elapsed() < self.ttl
    }
}

/// A host name (with an optional port) safe to put in a URL: no scheme, path or credentials.
fn valid_host(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// base64url without padding, as the upload path and token spell `fileEncSha256`.
pub fn upload_token(file_enc_sha256: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(file_enc_sha256)
}

/// What to upload: bytes in memory, or a file read twice (once to learn the hashes the URL
/// needs, once to stream it to the host), so its size never matters.
#[derive(Debug, Clone)]
pub enum MediaSource {
    Bytes(bytes::Bytes),
    File(PathBuf),
}

impl From<Vec<u8>> for MediaSource {
    fn from(v: Vec<u8>) -> Self {
        Self::Bytes(v.into())
    }
}

/// Where an upload landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub url: Option<String>,
    pub direct_path: Option<String>,
}

/// The HTTP side of media: one per process is enough (it pools connections).
#[derive(Debug, Clone)]
pub struct MediaHttp {
    client: reqwest::Client,
    scheme: String,
}

impl MediaHttp {
    pub fn new(config: &ClientConfig) -> Result<Self, MediaTransferError> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.timing.connect_timeout)
            // Only a stalled transfer times out: a 100 MB video may take minutes.
            .read_timeout(config.timing.iq_timeout)
            .build()?;
        Ok(Self {
            client,
            scheme: config.media_scheme.clone(),
        })
    }

    /// Encrypts `source` with a fresh media key, uploads it to the first host of `conn` that
    /// takes it, and returns the message's description of it.
    pub async fn upload(
        &self,
        conn: &MediaConn,
        kind: MediaKind,
        meta: MediaMeta,
        source: &MediaSource,
    ) -> Result<MediaDescriptor, MediaTransferError> {
        let key = new_media_key();
        // Bytes are encrypted once and the blob reused for every host; a file is hashed in a
        // first pass and streamed through the encryptor again for each attempt.
        let (info, blob) = match source {
            MediaSource::Bytes(b) => {
                let (blob, info) = crate::media::encrypt(&key, kind, b);
                (info, Some(bytes::Bytes::from(blob)))
            }
            MediaSource::File(path) => (hash_file(&key, kind, path).await?, None),
        };
        let token = upload_token(&info.file_enc_sha256);
        let auth: String = url_component(&conn.auth);
        let mut last = String::from("no hosts");
        for host in &conn.hosts {
            if host
                .max_content_length
                .is_some_and(|max| max > 0 && info.enc_length > max)
            {
                last = format!(
                    "{} takes at most {:?} bytes",
                    host.hostname, host.max_content_length
                );
                continue;
            }
            let url = format!(
                "{}://{}{}/{token}?auth={auth}&token={token}",
                self.scheme,
                host.hostname,
                kind.upload_path()
            );
            let request = self
                .client
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .header(reqwest::header::ORIGIN, ORIGIN);
            let request = match (&blob, source) {
                (Some(blob), _) => request.body(blob.clone()),
                // A stream has no length of its own; the hashing pass told us.
                (None, MediaSource::File(path)) => request
                    .header(reqwest::header::CONTENT_LENGTH, info.enc_length)
                    .body(encrypted_file_body(&key, kind, path).await?),
                (None, MediaSource::Bytes(b)) => {
                    request.body(crate::media::encrypt(&key, kind, b).0)
                }
            };
            let sent = request.send().await;
            let response = match sent {
                Ok(r) => r,
                Err(e) => {
                    last = format!("{}: {e}", host.hostname);
                    continue;
                }
            };
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            if !status.is_success() {
                last = format!("{}: HTTP {status}: {}", host.hostname, clip(&text));
                continue;
            }
            let uploaded = parse_upload_answer(&text)?;
            return Ok(MediaDescriptor::uploaded(
                kind,
                meta,
                key,
                &info,
                uploaded.url,
                uploaded.direct_path,
                unix_now(),
            ));
        }
        Err(MediaTransferError::UploadFailed(last))
    }

    /// The URL a descriptor is downloaded from: `{scheme}://{host}{direct_path}`, the host from
    /// the message's `url` (else [`DEFAULT_MEDIA_HOST`]); or the `url` itself.
    pub fn download_url(&self, media: &MediaDescriptor) -> Result<String, MediaTransferError> {
        let from_url = media
            .url
            .as_deref()
            .and_then(|u| reqwest::Url::parse(u).ok());
        if let Some(path) = media.direct_path.as_deref().filter(|p| p.starts_with('/')) {
            let host = match &from_url {
                Some(u) => match (u.host_str(), u.port()) {
                    (Some(h), Some(p)) => format!("{h}:{p}"),
                    (Some(h), None) => h.to_owned(),
                    _ => DEFAULT_MEDIA_HOST.to_owned(),
                },
                None => DEFAULT_MEDIA_HOST.to_owned(),
            };
            if !valid_host(&host) || !self.may_fetch_from(&host) {
                return Err(MediaTransferError::NoUrl);
            }
            return Ok(format!("{}://{host}{path}", self.scheme));
        }
        match from_url {
            Some(u)
                if (u.scheme() == "https" || (u.scheme() == "http" && self.scheme == "http"))
                    && u.host_str().is_some_and(|h| self.may_fetch_from(h)) =>
            {
                Ok(u.to_string())
            }
            _ => Err(MediaTransferError::NoUrl),
        }
    }

    /// Downloads go to WhatsApp's media hosts only (`*.whatsapp.net`): a message (or a row a
    /// user wrote through the database API) naming another host must not make the server fetch
    /// internal addresses. Against the offline WhatsApp (`http`) its own host is the media host.
    fn may_fetch_from(&self, host_and_port: &str) -> bool {
        if self.scheme != "https" {
            return true;
        }
        let host = host_and_port
            .rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host_and_port, |(h, _)| h)
            .to_ascii_lowercase();
        host == "whatsapp.net" || host.ends_with(".whatsapp.net")
    }

    /// Downloads the media a message describes, decrypting into `sink` as it arrives, and
    /// verifies the MAC and both hashes. What reaches `sink` is **unverified until this returns
    /// `Ok`**: write to a temporary file and keep it only then. Memory stays bounded by one
    /// network chunk, whatever the file's size.
    pub async fn download_and_decrypt<W: AsyncWrite + Unpin>(
        &self,
        media: &MediaDescriptor,
        sink: &mut W,
    ) -> Result<EncryptedInfo, MediaTransferError> {
        let mut decryptor = Decryptor::from_slice(&media.media_key, media.kind, media.expected())?;
        let url = self.download_url(media)?;
        let response = self
            .client
            .get(&url)
            .header(reqwest::header::ORIGIN, ORIGIN)
            .send()
            .await?;
        let status = response.status().as_u16();
        if status == 404 || status == 410 {
            return Err(MediaTransferError::Expired(status));
        }
        if !response.status().is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(MediaTransferError::Status {
                status,
                body: clip(&body),
            });
        }
        // The blob is the plaintext padded to whole blocks plus the MAC; never take more.
        let limit = (media.file_length / 16 + 1) * 16 + MAC_LEN as u64;
        let mut received = 0u64;
        let mut out = Vec::with_capacity(CHUNK);
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            received += chunk.len() as u64;
            if received > limit {
                return Err(MediaTransferError::Oversized(limit));
            }
            decryptor.update(&chunk, &mut out);
            sink.write_all(&out).await?;
            out.clear();
        }
        let info = decryptor.finish(&mut out)?;
        sink.write_all(&out).await?;
        sink.flush().await?;
        Ok(info)
    }
}

/// Pass one over a file: its hashes under `key` (the ciphertext is thrown away).
async fn hash_file(
    key: &[u8; 32],
    kind: MediaKind,
    path: &std::path::Path,
) -> Result<EncryptedInfo, MediaTransferError> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut e = Encryptor::new(key, kind);
    let mut buf = vec![0u8; CHUNK];
    let mut sink = Vec::with_capacity(CHUNK + 16);
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        e.update(&buf[..n], &mut sink);
        sink.clear();
    }
    Ok(e.finish(&mut sink))
}

/// A file's encrypted blob as a streamed request body: the same key gives the same bytes as
/// the hashing pass.
async fn encrypted_file_body(
    key: &[u8; 32],
    kind: MediaKind,
    path: &std::path::Path,
) -> Result<reqwest::Body, MediaTransferError> {
    let file = tokio::fs::File::open(path).await?;
    let state = Some((file, Encryptor::new(key, kind)));
    let stream = futures_util::stream::unfold(state, |state| async move {
        let (mut file, mut e) = state?;
        let mut buf = vec![0u8; CHUNK];
        let mut out = Vec::with_capacity(CHUNK + 16);
        match file.read(&mut buf).await {
            Ok(0) => {
                e.finish(&mut out);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(out)), None))
            }
            Ok(n) => {
                e.update(&buf[..n], &mut out);
                Some((Ok(bytes::Bytes::from(out)), Some((file, e))))
            }
            Err(err) => Some((Err(err), None)),
        }
    });
    Ok(reqwest::Body::wrap_stream(stream))
}

fn parse_upload_answer(text: &str) -> Result<Uploaded, MediaTransferError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|_| MediaTransferError::BadUploadAnswer(clip(text)))?;
    let field = |k: &str| value.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let uploaded = Uploaded {
        url: field("url"),
        direct_path: field("direct_path"),
    };
    if uploaded.url.is_none() && uploaded.direct_path.is_none() {
        return Err(MediaTransferError::BadUploadAnswer(clip(text)));
    }
    Ok(uploaded)
}

/// Percent-encodes everything but RFC 3986's unreserved characters (`encodeURIComponent`).
fn url_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn clip(s: &str) -> String {
    s.chars().take(200).collect()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// An upload asked of a connected account ([`super::Command::UploadMedia`]).
#[derive(Debug)]
pub struct MediaUpload {
    pub kind: MediaKind,
    pub meta: MediaMeta,
    pub source: MediaSource,
    pub reply: tokio::sync::oneshot::Sender<Result<MediaDescriptor, CommandError>>,
}

impl Session {
    /// The media hosts and upload token: the cached answer while its ttl lasts, else asked anew.
    pub(crate) async fn media_conn(&self, force: bool) -> Result<MediaConn, ClientError> {
        let mut cached = self.media_conn.lock().await;
        if !force && let Some(conn) = cached.as_ref().filter(|c| c.is_fresh()) {
            return Ok(conn.clone());
        }
        let answer = self.conn.iq(MediaConn::request()).await?;
        let conn = MediaConn::parse(&answer).map_err(|e| ClientError::Protocol(e.to_string()))?;
        *cached = Some(conn.clone());
        Ok(conn)
    }

    fn media_http(&self) -> Result<&MediaHttp, MediaTransferError> {
        if let Some(http) = self.media_http.get() {
            return Ok(http);
        }
        let http = MediaHttp::new(&self.config)?;
        Ok(self.media_http.get_or_init(|| http))
    }
}

/// Carries out an upload for a connected account: `media_conn`, then the upload; a refused
/// upload is tried once more with a fresh `media_conn` (its token may have been revoked early).
pub(crate) async fn upload_for(s: std::sync::Arc<Session>, req: MediaUpload) {
    let result = upload_with_retry(&s, req.kind, req.meta, &req.source).await;
    if let Err(e) = &result {
        tracing::info!(error = %e, kind = req.kind.as_str(), "media upload failed");
    }
    let _ = req.reply.send(result);
}

async fn upload_with_retry(
    s: &Session,
    kind: MediaKind,
    meta: MediaMeta,
    source: &MediaSource,
) -> Result<MediaDescriptor, CommandError> {
    let unavailable = |e: &dyn std::fmt::Display| CommandError::Unavailable(e.to_string());
    let http = s.media_http().map_err(|e| unavailable(&e))?;
    let conn = s.media_conn(false).await.map_err(|e| unavailable(&e))?;
    match http.upload(&conn, kind, meta.clone(), source).await {
        Ok(d) => Ok(d),
        Err(MediaTransferError::Io(e)) => Err(CommandError::Invalid(format!(
            "cannot read the file to upload: {e}"
        ))),
        Err(MediaTransferError::UploadFailed(why)) => {
            tracing::info!(%why, "media upload refused; asking for a fresh media_conn");
            let conn = s.media_conn(true).await.map_err(|e| unavailable(&e))?;
            http.upload(&conn, kind, meta, source)
                .await
                .map_err(|e| unavailable(&e))
        }
        Err(e) => Err(unavailable(&e)),
    }
}

/// A media retry asked of a connected account ([`super::Command::RetryMedia`]).
#[derive(Debug)]
pub struct MediaRetry {
    pub message_id: String,
    /// The chat the message is in (the sender's user JID for a received message).
    pub chat: String,
    /// Whether we sent it (from another of our devices).
    pub from_me: bool,
    pub media: MediaDescriptor,
    pub reply: tokio::sync::oneshot::Sender<Result<MediaDescriptor, CommandError>>,
}

/// Sends the media retry receipt (Baileys' `encryptMediaRetryRequest`: `<receipt id to=<our
/// user> type="server-error"><encrypt><enc_p/><enc_iv/></encrypt><rmr jid from_me/></receipt>`)
/// and waits, up to the IQ timeout, for the phone's `mediaretry` notification.
pub(crate) async fn retry_for(s: std::sync::Arc<Session>, req: MediaRetry) {
    let result = ask_for_reupload(&s, &req).await;
    super::session::lock(&s.media_retries).remove(&req.message_id);
    if let Err(e) = &result {
        tracing::info!(error = %e, id = %req.message_id, "media retry failed");
    }
    let _ = req.reply.send(result);
}

async fn ask_for_reupload(s: &Session, req: &MediaRetry) -> Result<MediaDescriptor, CommandError> {
    use crate::media::retry::{RetryOutcome, Sealed, open_answer, seal_request};
    let invalid = |e: &dyn std::fmt::Display| CommandError::Invalid(e.to_string());
    let sealed = seal_request(&req.media.media_key, &req.message_id).map_err(|e| invalid(&e))?;
    let chat: whatsapp_binary::Jid = req
        .chat
        .parse()
        .map_err(|_| CommandError::Invalid(format!("{:?} is not a JID", req.chat)))?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    super::session::lock(&s.media_retries).insert(req.message_id.clone(), tx);
    let receipt = Node::new("receipt")
        .attr("id", req.message_id.as_str())
        .attr("to", s.me.to_user())
        .attr("type", "server-error")
        .child(
            Node::new("encrypt")
                .child(Node::new("enc_p").bytes(sealed.ciphertext))
                .child(Node::new("enc_iv").bytes(sealed.iv.to_vec())),
        )
        .child(
            Node::new("rmr")
                .attr("jid", chat.to_user())
                .attr("from_me", if req.from_me { "true" } else { "false" }),
        );
    s.conn
        .send(receipt)
        .map_err(|e| CommandError::Unavailable(e.to_string()))?;
    let answer = tokio::time::timeout(s.config.timing.iq_timeout, rx)
        .await
        .map_err(|_| CommandError::Unavailable("the phone did not answer the media retry".into()))?
        .map_err(|_| CommandError::Unavailable("the connection ended".into()))?;
    if let Some(error) = answer.child_by_tag("error") {
        return Err(CommandError::Unavailable(format!(
            "the phone could not upload the media again (error {})",
            error.attr_str("code").unwrap_or("?")
        )));
    }
    let sealed = answer
        .child_by_tag("encrypt")
        .and_then(|e| {
            Some(Sealed {
                ciphertext: e.child_by_tag("enc_p")?.content_bytes()?.to_vec(),
                iv: e.child_by_tag("enc_iv")?.content_bytes()?.try_into().ok()?,
            })
        })
        .ok_or_else(|| CommandError::Unavailable("the media retry answer is malformed".into()))?;
    match open_answer(&req.media.media_key, &req.message_id, &sealed).map_err(|e| invalid(&e))? {
        RetryOutcome::Reuploaded { direct_path } => Ok(MediaDescriptor {
            direct_path: Some(direct_path),
            ..req.media.clone()
        }),
        RetryOutcome::NotFound => Err(CommandError::Unavailable(
            "the sender's phone no longer has this media".into(),
        )),
        RetryOutcome::Failed => Err(CommandError::Unavailable(
            "the sender's phone could not upload the media again".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_conn_answers_parse_and_junk_hosts_are_dropped() {
        let answer = Node::new("iq").attr("type", "result").child(
            Node::new("media_conn")
                .attr("auth", "AbC+/=")
                .attr("ttl", "300")
                .child(Node::new("host").attr("hostname", "mmg.whatsapp.net"))
                .child(Node::new("host").attr("hostname", "evil.com/path?x"))
                .child(
                    Node::new("host")
                        .attr("hostname", "127.0.0.1:8080")
                        .attr("maxContentLengthBytes", "1000"),
                ),
        );
        let conn = MediaConn::parse(&answer).unwrap();
        assert_eq!(conn.auth, "AbC+/=");
        assert_eq!(conn.ttl, Duration::from_secs(300));
        assert!(conn.is_fresh());
        let names: Vec<_> = conn.hosts.iter().map(|h| h.hostname.as_str()).collect();
        assert_eq!(names, ["mmg.whatsapp.net", "127.0.0.1:8080"]);
        assert_eq!(conn.hosts[1].max_content_length, Some(1000));

        assert!(MediaConn::parse(&Node::new("iq")).is_err());
        let no_auth = Node::new("iq")
            .child(Node::new("media_conn").child(Node::new("host").attr("hostname", "a.b")));
        assert!(MediaConn::parse(&no_auth).is_err());
        let zero_ttl = Node::new("iq").child(
            Node::new("media_conn")
                .attr("auth", "x")
                .child(Node::new("host").attr("hostname", "a.b")),
        );
        assert!(!MediaConn::parse(&zero_ttl).unwrap().is_fresh());
    }

    #[test]
    fn tokens_and_auth_are_spelled_as_whatsapp_web_spells_them() {
        assert_eq!(upload_token(&[0xfb, 0xff, 0xfe]), "-__-");
        assert_eq!(url_component("a+b/c=d"), "a%2Bb%2Fc%3Dd");
    }

    fn described(url: Option<&str>, direct_path: Option<&str>) -> MediaDescriptor {
        MediaDescriptor {
            kind: MediaKind::Image,
            url: url.map(str::to_owned),
            direct_path: direct_path.map(str::to_owned),
            media_key: vec![0; 32],
            file_sha256: vec![],
            file_enc_sha256: vec![],
            file_length: 0,
            media_key_timestamp: None,
            meta: MediaMeta::default(),
        }
    }

    #[test]
    fn downloads_prefer_the_direct_path_on_the_urls_host() {
        let mut config = ClientConfig::new("ws://x", [0; 32]);
        let https = MediaHttp::new(&config).unwrap();
        config.media_scheme = "http".into();
        let http = MediaHttp::new(&config).unwrap();
        let d = described(
            Some("https://mmg.whatsapp.net/o1/v/x.enc?a=1"),
            Some("/v/x.enc?b=2"),
        );
        assert_eq!(
            https.download_url(&d).unwrap(),
            "https://mmg.whatsapp.net/v/x.enc?b=2"
        );
        let d = described(Some("http://127.0.0.1:4000/m/1"), Some("/m/1"));
        assert_eq!(http.download_url(&d).unwrap(), "http://127.0.0.1:4000/m/1");
        let d = described(None, Some("/v/y"));
        assert_eq!(
            https.download_url(&d).unwrap(),
            "https://mmg.whatsapp.net/v/y"
        );
        let d = described(Some("https://mmg.whatsapp.net/z"), None);
        assert_eq!(
            https.download_url(&d).unwrap(),
            "https://mmg.whatsapp.net/z"
        );
        assert!(matches!(
            https.download_url(&described(Some("file:///etc/passwd"), None)),
            Err(MediaTransferError::NoUrl)
        ));
        // Only WhatsApp's media hosts: no fetching of internal or foreign addresses.
        for foreign in [
            "https://169.254.169.254/latest/meta-data",
            "https://evil.example/x.enc",
            "https://mmg.whatsapp.net.evil.example/x",
            "http://mmg.whatsapp.net/x.enc",
        ] {
            assert!(
                matches!(
                    https.download_url(&described(Some(foreign), None)),
                    Err(MediaTransferError::NoUrl)
                ),
                "{foreign}"
            );
            assert!(
                matches!(
                    https.download_url(&described(Some(foreign), Some("/v/x"))),
                    Err(MediaTransferError::NoUrl)
                ) || foreign.starts_with("http://mmg"),
                "{foreign} with a direct path"
            );
        }
        assert_eq!(
            https
                .download_url(&described(
                    Some("https://media-lhr8-1.cdn.whatsapp.net/v/y"),
                    None
                ))
                .unwrap(),
            "https://media-lhr8-1.cdn.whatsapp.net/v/y"
        );
        assert!(matches!(
            https.download_url(&described(None, Some("relative"))),
            Err(MediaTransferError::NoUrl)
        ));
    }
}
