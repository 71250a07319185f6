//! The HTTP control API on loopback, for driving a standalone fake from another process (a Node
//! test, a soak, a demo). Plain text or JSON; every route maps to a [`FakeWhatsApp`] or
//! [`Phone`](crate::Phone) method. Errors are `4xx` with `{"error": "…"}`.
//!
//! - `GET /root-key` → hex root public key
//! - `GET /refs` → `[[ref, …], …]` per registering connection
//! - `POST /scan[?account=<number>]` (body: the QR string) → the new device JID (default account)
//! - `POST /pair-code[?account=<number>]` `{"code"}` → that phone (default account) enters a
//!   companion's 8-character pairing code
//! - `POST /kick/{code}[?user=<number>&device=<n>]` → `{"kicked": n}` (stream error to every
//!   logged-in connection, or to that one device only; 401 also unlinks it)
//! - `POST /drop` → `{"dropped": n}`
//! - `GET /devices` → `[{"user", "device", "lid"}]`
//! - `GET /stats` → `{"connections", "logins", "messages_in", "deliveries", "decrypted",
//!   "decrypt_failures", "nacks", "duplicates_ignored", "resent", "resumed_handshakes",
//!   "fallback_handshakes"}`
//! - `GET /accounts` · `POST /accounts` `{"user", "lid", "name"}` → 201 (409 if taken)
//! - `POST /accounts/{number}/send` `{"to", "text"}` → `{"id"}` (really encrypted)
//! - `POST /accounts/{number}/receipt` `{"to", "ids", "type"?}` (`read`, `played`; none = delivered)
//! - `POST /accounts/{number}/typing` `{"to", "state"}` (`composing`, `paused`, `recording`)
//! - `POST /accounts/{number}/presence` `{"available"}`
//! - `POST /accounts/{number}/undecryptable` `{"to"}` → `{"id"}` (garbage; nothing to resend)
//! - `POST /accounts/{number}/send-garbled` `{"to", "text"}` → `{"id"}` (garbage first; the
//!   companion's retry receipt brings the real text with the same id)
//! - `GET /accounts/{number}/received` → what that phone received (`from`, `id`, `text`,
//!   `media` when it is a media message: `kind`, `mimetype`, `caption`, `file_name`, `ptt`,
//!   `seconds`, `file_length`, `direct_path`, …)
//! - `POST /accounts/{number}/send-media` `{"to", "kind" (image|audio|video|document|sticker),
//!   "data" (base64), "mimetype", "caption"?, "file_name"?, "title"?, "page_count"?, "ptt"?,
//!   "seconds"?, "width"?, "height"?, "gif_playback"?, "thumbnail"? (base64)}` → `{"id",
//!   "direct_path"}`: that phone encrypts the file, puts it on the media host and sends it
//! - `GET /accounts/{number}/received/{id}/media` → the media that phone received in message
//!   `id`, fetched and decrypted (MAC and both hashes checked): its `media` description plus
//!   `"data"` (base64); 404 when there is no such media message, 400 when it does not verify
//! - `POST /media/tamper` · `POST /media/expire` `{"direct_path"}` → `{"ok"}`: flip a byte of a
//!   stored blob, or make it expire now (downloads then get `410`)
//! - `GET /seen` → receipts, chat states and presences clients sent
//! - `GET /faults` · `PUT /faults` `{"withhold_acks", "withhold_receipts", "delay_ms",
//!   "duplicate_deliveries", "instant_restart"}` (missing fields keep their value)
//! - `GET /queued/{number}/{device}` → `{"queued": n}` stanzas in that device's offline queue

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use whatsapp::media::{MediaDescriptor, MediaKind, MediaMeta};

use crate::error::FakeError;
use crate::phone::Phone;
use crate::server::FakeWhatsApp;

type Fake = State<Arc<FakeWhatsApp>>;

pub fn router(fake: Arc<FakeWhatsApp>) -> Router {
    Router::new()
        .route("/root-key", get(root_key))
        .route("/refs", get(refs))
        .route("/scan", post(scan))
        .route("/pair-code", post(pair_code))
        .route("/kick/{code}", post(kick))
        .route("/drop", post(drop_sockets))
        .route("/devices", get(devices))
        .route("/stats", get(stats))
        .route("/accounts", get(accounts).post(add_account))
        .route("/accounts/{user}/send", post(send))
        .route("/accounts/{user}/receipt", post(receipt))
        .route("/accounts/{user}/typing", post(typing))
        .route("/accounts/{user}/presence", post(presence))
        .route("/accounts/{user}/undecryptable", post(undecryptable))
        .route("/accounts/{user}/send-garbled", post(send_garbled))
        .route("/accounts/{user}/received", get(received))
        .route("/accounts/{user}/send-media", post(send_media))
        .route("/accounts/{user}/received/{id}/media", get(received_media))
        .route("/media/tamper", post(tamper_media))
        .route("/media/expire", post(expire_media))
        .route("/seen", get(seen))
        .route("/faults", get(faults).put(set_faults))
        .route("/queued/{user}/{device}", get(queued))
        .with_state(fake)
}

/// Serves the control API on `bind`; returns the bound address and the server task.
pub async fn serve(
    fake: Arc<FakeWhatsApp>,
    bind: SocketAddr,
) -> Result<(SocketAddr, JoinHandle<()>), FakeError> {
    let listener = TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(fake)).await {
            tracing::warn!("control API stopped: {e}");
        }
    });
    Ok((addr, task))
}

/// A control error: 404 for an unknown account, 409 for a taken one, 400 otherwise.
struct ApiError(FakeError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            FakeError::UnknownAccount(_) => StatusCode::NOT_FOUND,
            FakeError::AccountExists(_) => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        };
        (status, Json(json!({ "error": self.0.to_string() }))).into_response()
    }
}

impl From<FakeError> for ApiError {
    fn from(e: FakeError) -> Self {
        Self(e)
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

fn phone(fake: &FakeWhatsApp, user: &str) -> Result<Phone, ApiError> {
    fake.account(user)
        .ok_or_else(|| ApiError(FakeError::UnknownAccount(user.to_owned())))
}

fn field<'a>(body: &'a Value, name: &'static str) -> Result<&'a str, ApiError> {
    body.get(name).and_then(Value::as_str).ok_or_else(|| {
        ApiError(FakeError::Protocol(format!(
            "missing string field {name:?}"
        )))
    })
}

async fn root_key(State(fake): Fake) -> String {
    hex::encode(fake.root_public_key())
}

async fn refs(State(fake): Fake) -> Json<Value> {
    Json(json!(fake.pair_refs()))
}

async fn scan(
    State(fake): Fake,
    Query(query): Query<HashMap<String, String>>,
    body: String,
) -> Result<String, ApiError> {
    let phone = match query.get("account") {
        Some(user) => phone(&fake, user)?,
        None => fake.phone().clone(),
    };
    Ok(phone.scan(&body)?.to_string())
}

async fn pair_code(
    State(fake): Fake,
    Query(query): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> ApiResult {
    let phone = match query.get("account") {
        Some(user) => phone(&fake, user)?,
        None => fake.phone().clone(),
    };
    phone.enter_pairing_code(field(&body, "code")?)?;
    Ok(Json(json!({ "ok": true })))
}

async fn kick(
    State(fake): Fake,
    Path(code): Path<u16>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let kicked = match (query.get("user"), query.get("device")) {
        (None, None) => fake.kick(code),
        (Some(user), Some(device)) => {
            let device = device
                .parse::<u16>()
                .map_err(|_| ApiError(FakeError::Protocol("device must be a number".into())))?;
            fake.kick_device(user, device, code)
        }
        _ => {
            return Err(ApiError(FakeError::Protocol(
                "give both user and device, or neither".into(),
            )));
        }
    };
    Ok(Json(json!({ "kicked": kicked })))
}

async fn drop_sockets(State(fake): Fake) -> Json<Value> {
    Json(json!({ "dropped": fake.drop_sockets() }))
}

async fn devices(State(fake): Fake) -> Json<Value> {
    let list: Vec<Value> = fake
        .devices()
        .iter()
        .map(|d| json!({ "user": d.user, "device": d.device, "lid": d.lid_user }))
        .collect();
    Json(Value::Array(list))
}

async fn stats(State(fake): Fake) -> Json<Value> {
    let s = fake.stats();
    Json(json!({
        "connections": fake.connections(),
        "logins": s.logins,
        "messages_in": s.messages_in,
        "deliveries": s.deliveries,
        "decrypted": s.decrypted,
        "decrypt_failures": s.decrypt_failures,
        "nacks": s.nacks,
        "duplicates_ignored": s.duplicates_ignored,
        "resent": s.resent,
        "resumed_handshakes": s.resumed_handshakes,
        "fallback_handshakes": s.fallback_handshakes,
    }))
}

async fn accounts(State(fake): Fake) -> Json<Value> {
    let list: Vec<Value> = fake
        .accounts()
        .iter()
        .filter_map(|u| fake.account(u))
        .map(|p| json!({ "user": p.user(), "lid": p.lid_user() }))
        .collect();
    Json(Value::Array(list))
}

async fn add_account(
    State(fake): Fake,
    Json(body): Json<Value>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let user = field(&body, "user")?;
    let lid = field(&body, "lid")?;
    let name = body.get("name").and_then(Value::as_str).unwrap_or(user);
    let phone = fake.add_account(user, lid, name)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "user": phone.user(), "lid": phone.lid_user(), "name": name })),
    ))
}

async fn send(State(fake): Fake, Path(user): Path<String>, Json(body): Json<Value>) -> ApiResult {
    let phone = phone(&fake, &user)?;
    let id = phone
        .send_text(field(&body, "to")?, field(&body, "text")?)
        .await?;
    Ok(Json(json!({ "id": id })))
}

async fn receipt(
    State(fake): Fake,
    Path(user): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult {
    let phone = phone(&fake, &user)?;
    let ids: Vec<String> = body
        .get("ids")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let kind = body.get("type").and_then(Value::as_str);
    phone.send_receipt(field(&body, "to")?, &ids, kind)?;
    Ok(Json(json!({ "ok": true })))
}

async fn typing(State(fake): Fake, Path(user): Path<String>, Json(body): Json<Value>) -> ApiResult {
    let phone = phone(&fake, &user)?;
    let n = phone.set_typing(field(&body, "to")?, field(&body, "state")?)?;
    Ok(Json(json!({ "sent": n })))
}

async fn presence(
    State(fake): Fake,
    Path(user): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult {
    let phone = phone(&fake, &user)?;
    let available = body
        .get("available")
        .and_then(Value::as_bool)
        .ok_or_else(|| {
            ApiError(FakeError::Protocol(
                "missing boolean field \"available\"".into(),
            ))
        })?;
    Ok(Json(json!({ "sent": phone.set_presence(available)? })))
}

async fn undecryptable(
    State(fake): Fake,
    Path(user): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult {
    let phone = phone(&fake, &user)?;
    Ok(Json(
        json!({ "id": phone.send_undecryptable(field(&body, "to")?)? }),
    ))
}

async fn send_garbled(
    State(fake): Fake,
    Path(user): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult {
    let phone = phone(&fake, &user)?;
    let id = phone.send_text_garbled(field(&body, "to")?, field(&body, "text")?)?;
    Ok(Json(json!({ "id": id })))
}

async fn received(State(fake): Fake, Path(user): Path<String>) -> ApiResult {
    let phone = phone(&fake, &user)?;
    let list: Vec<Value> = phone
        .received()
        .into_iter()
        .map(|r| {
            json!({
                "from": r.from, "id": r.id, "kind": r.kind, "text": r.text,
                "sent_to": r.sent_to, "error": r.error,
                "media": r.media.as_ref().map(media_json),
            })
        })
        .collect();
    Ok(Json(Value::Array(list)))
}

fn media_json(m: &MediaDescriptor) -> Value {
    json!({
        "kind": m.kind.as_str(),
        "mimetype": m.meta.mimetype,
        "caption": m.meta.caption,
        "file_name": m.meta.file_name,
        "title": m.meta.title,
        "page_count": m.meta.page_count,
        "ptt": m.meta.ptt,
        "seconds": m.meta.seconds,
        "width": m.meta.width,
        "height": m.meta.height,
        "gif_playback": m.meta.gif_playback,
        "file_length": m.file_length,
        "url": m.url,
        "direct_path": m.direct_path,
        "thumbnail": m.meta.jpeg_thumbnail.as_ref().map(|t| B64.encode(t)),
    })
}

fn opt_str(body: &Value, name: &str) -> Option<String> {
    body.get(name).and_then(Value::as_str).map(str::to_owned)
}

fn opt_u32(body: &Value, name: &str) -> Option<u32> {
    body.get(name)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

fn base64_field(body: &Value, name: &'static str) -> Result<Option<Vec<u8>>, ApiError> {
    match body.get(name).and_then(Value::as_str) {
        None => Ok(None),
        Some(text) => B64
            .decode(text)
            .map(Some)
            .map_err(|e| ApiError(FakeError::Protocol(format!("{name} is not base64: {e}")))),
    }
}

async fn send_media(
    State(fake): Fake,
    Path(user): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult {
    let phone = phone(&fake, &user)?;
    let kind = MediaKind::parse(field(&body, "kind")?)
        .ok_or_else(|| ApiError(FakeError::Protocol("unknown media kind".into())))?;
    let data = base64_field(&body, "data")?
        .ok_or_else(|| ApiError(FakeError::Protocol("missing string field \"data\"".into())))?;
    let flag = |name: &str| body.get(name).and_then(Value::as_bool).unwrap_or(false);
    let meta = MediaMeta {
        mimetype: field(&body, "mimetype")?.to_owned(),
        caption: opt_str(&body, "caption"),
        file_name: opt_str(&body, "file_name"),
        title: opt_str(&body, "title"),
        page_count: opt_u32(&body, "page_count"),
        jpeg_thumbnail: base64_field(&body, "thumbnail")?,
        width: opt_u32(&body, "width"),
        height: opt_u32(&body, "height"),
        seconds: opt_u32(&body, "seconds"),
        ptt: flag("ptt"),
        gif_playback: flag("gif_playback"),
    };
    let (id, sent) = phone
        .send_media(field(&body, "to")?, kind, &data, meta)
        .await?;
    Ok(Json(json!({ "id": id, "direct_path": sent.direct_path })))
}

async fn received_media(
    State(fake): Fake,
    Path((user, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let phone = phone(&fake, &user)?;
    let Some(media) = phone
        .received()
        .into_iter()
        .find(|r| r.id == id)
        .and_then(|r| r.media)
    else {
        return Ok((
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no media message with that id" })),
        )
            .into_response());
    };
    let data = phone.download(&media)?;
    let mut out = media_json(&media);
    out["data"] = json!(B64.encode(data));
    Ok(Json(out).into_response())
}

async fn tamper_media(State(fake): Fake, Json(body): Json<Value>) -> ApiResult {
    Ok(Json(
        json!({ "ok": fake.media().tamper(field(&body, "direct_path")?) }),
    ))
}

async fn expire_media(State(fake): Fake, Json(body): Json<Value>) -> ApiResult {
    Ok(Json(
        json!({ "ok": fake.media().expire(field(&body, "direct_path")?) }),
    ))
}

async fn seen(State(fake): Fake) -> Json<Value> {
    let list: Vec<Value> = fake
        .seen()
        .into_iter()
        .map(|s| json!({ "from": s.from, "to": s.to, "kind": s.kind, "ids": s.ids }))
        .collect();
    Json(Value::Array(list))
}

fn faults_json(fake: &FakeWhatsApp) -> Value {
    let f = fake.faults();
    json!({
        "withhold_acks": f.withhold_acks,
        "withhold_receipts": f.withhold_receipts,
        "delay_ms": u64::try_from(f.delay.as_millis()).unwrap_or(u64::MAX),
        "duplicate_deliveries": f.duplicate_deliveries,
        "instant_restart": f.instant_restart,
    })
}

async fn faults(State(fake): Fake) -> Json<Value> {
    Json(faults_json(&fake))
}

async fn set_faults(State(fake): Fake, Json(body): Json<Value>) -> ApiResult {
    let mut f = fake.faults();
    let flag =
        |name: &str, current: bool| body.get(name).and_then(Value::as_bool).unwrap_or(current);
    f.withhold_acks = flag("withhold_acks", f.withhold_acks);
    f.withhold_receipts = flag("withhold_receipts", f.withhold_receipts);
    f.duplicate_deliveries = flag("duplicate_deliveries", f.duplicate_deliveries);
    f.instant_restart = flag("instant_restart", f.instant_restart);
    if let Some(ms) = body.get("delay_ms") {
        let ms = ms
            .as_u64()
            .filter(|ms| *ms <= 60_000)
            .ok_or_else(|| ApiError(FakeError::Protocol("delay_ms must be 0..=60000".into())))?;
        f.delay = Duration::from_millis(ms);
    }
    fake.set_faults(f);
    Ok(Json(faults_json(&fake)))
}

async fn queued(State(fake): Fake, Path((user, device)): Path<(String, u16)>) -> Json<Value> {
    Json(json!({ "queued": fake.queued(&user, device) }))
}
