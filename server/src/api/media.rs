//! Media messages over REST: `POST /api/messages/media` (multipart) sends a file, and
//! `GET /api/media/{message id}` (+ `/thumbnail`) serves a message's file to its owner only.
//!
//! Sending: the upload is streamed to a temporary file (hashed on the way, never over
//! [`inspect::MAX_UPLOAD`]), judged by its content ([`inspect::classify`]), held to its kind's
//! limit, images re-encoded without metadata; then encrypted and uploaded to WhatsApp through the
//! account's connection, put in our storage and queued — the message row, its media row and the
//! descriptor in one transaction — for the engine to send. Nothing is stored for a refused file.
//!
//! Serving: the row is read under RLS (someone else's message, a guessed id and a message without
//! a file are all 404), the bytes come from storage by the row's hash, with the stored (sniffed)
//! MIME type, `nosniff`, a sandboxing CSP, and `attachment` for anything a browser could run.

use std::path::PathBuf;

use axum::Json;
use axum::body::Body;
use axum::extract::multipart::{Field, Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt as _};
use utoipa_axum::routes;
use uuid::Uuid;

use super::{ApiError, ApiUser, ErrorBody, ResourceId};
use crate::media::inspect::{self, SendKind};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send).layer(DefaultBodyLimit::max(
            usize::try_from(inspect::MAX_UPLOAD).unwrap_or(usize::MAX) + FORM_ROOM,
        )))
        .routes(routes!(download))
        .routes(routes!(thumbnail))
}

/// The form of `POST /api/messages/media`, for the OpenAPI document (the handler reads the parts
/// as they stream in).
#[derive(utoipa::ToSchema)]
#[schema(description = "The multipart form of a media message: one `file` part and text parts.")]
#[allow(dead_code)] // Describes the form; never built.
struct MediaUpload {
    /// The WhatsApp account to send from.
    account_id: Uuid,
    /// The recipient's number with its country code.
    to: String,
    /// The file (one). Judged by its content, not its name or declared type.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// At most 4096 characters (not sent with audio).
    caption: Option<String>,
    /// `image`, `audio`, `video` or `document`: what to send the file as (default: what its
    /// content is).
    kind: Option<String>,
    /// `true`: send an OGG/Opus recording as a voice note.
    voice_note: Option<bool>,
}

/// Room for the form's other fields and multipart framing on top of the largest file.
const FORM_ROOM: usize = 64 * 1024;
/// The longest text field (the caption is at most 4096 characters).
const FIELD_MAX: usize = 20 * 1024;

/// The upload, received.
struct Upload {
    account_id: Option<Uuid>,
    to: Option<String>,
    caption: String,
    kind: Option<SendKind>,
    voice_note: bool,
    file: Option<Received>,
}

/// The file part, on disk.
struct Received {
    temp: tempfile::TempPath,
    size: u64,
    sha256: String,
    head: Vec<u8>,
    file_name: Option<String>,
    claimed_mime: Option<String>,
}

async fn text_field(field: Field<'_>, name: &'static str) -> Result<String, ApiError> {
    let bytes = field
        .bytes()
        .await
        .map_err(|e| ApiError::BadRequest(format!("{name}: {}", e.body_text())))?;
    if bytes.len() > FIELD_MAX {
        return Err(ApiError::validation(name, "is too long"));
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| ApiError::validation(name, "must be UTF-8 text"))
}

/// Streams the file part to a temporary file, hashing it, refusing it past the largest limit.
async fn file_field(mut field: Field<'_>, tmp: &PathBuf) -> Result<Received, ApiError> {
    let file_name = field.file_name().map(str::to_owned);
    let claimed_mime = field.content_type().map(str::to_owned);
    let temp = tempfile::NamedTempFile::new_in(tmp).map_err(ApiError::internal)?;
    let (std_file, temp) = temp.into_parts();
    let mut out = tokio::fs::File::from_std(std_file);
    let mut hash = Sha256::new();
    let mut head = Vec::with_capacity(inspect::SNIFF_LEN);
    let mut size = 0u64;
    loop {
        let chunk = match field.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(too_large(None));
            }
            Err(e) => return Err(ApiError::BadRequest(format!("file: {}", e.body_text()))),
        };
        size += chunk.len() as u64;
        if size > inspect::MAX_UPLOAD {
            return Err(too_large(None));
        }
        if head.len() < inspect::SNIFF_LEN {
            let take = (inspect::SNIFF_LEN - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        hash.update(&chunk);
        out.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    out.flush().await.map_err(ApiError::internal)?;
    Ok(Received {
        temp,
        size,
        sha256: hex::encode(hash.finalize()),
        head,
        file_name,
        claimed_mime,
    })
}

fn too_large(kind: Option<SendKind>) -> ApiError {
    ApiError::FileTooLarge(match kind {
        Some(k) => k.limit_text().into(),
        None => "the file is larger than 100 MiB, the most any message can carry".into(),
    })
}

async fn read_form(
    multipart: Result<Multipart, MultipartRejection>,
    tmp: &PathBuf,
) -> Result<Upload, ApiError> {
    let mut multipart = multipart.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large(None)
        } else {
            ApiError::BadRequest(format!(
                "send the file as multipart/form-data: {}",
                e.body_text()
            ))
        }
    })?;
    let mut upload = Upload {
        account_id: None,
        to: None,
        caption: String::new(),
        kind: None,
        voice_note: false,
        file: None,
    };
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large(None)),
            Err(e) => return Err(ApiError::BadRequest(e.body_text())),
        };
        match field.name().unwrap_or("") {
            "account_id" => {
                let raw = text_field(field, "account_id").await?;
                upload.account_id = Some(
                    raw.trim()
                        .parse()
                        .map_err(|_| ApiError::validation("account_id", "must be a UUID"))?,
                );
            }
            "to" => upload.to = Some(text_field(field, "to").await?),
            "caption" => upload.caption = text_field(field, "caption").await?,
            "kind" => {
                let raw = text_field(field, "kind").await?;
                upload.kind = Some(SendKind::parse(&raw).ok_or_else(|| {
                    ApiError::validation("kind", "must be image, audio, video or document")
                })?);
            }
            "voice_note" => {
                let raw = text_field(field, "voice_note").await?;
                upload.voice_note = match raw.trim() {
                    "true" | "1" | "on" => true,
                    "false" | "0" | "" => false,
                    _ => return Err(ApiError::validation("voice_note", "must be true or false")),
                };
            }
            "file" => {
                if upload.file.is_some() {
                    return Err(ApiError::validation("file", "send one file per message"));
                }
                upload.file = Some(file_field(field, tmp).await?);
            }
            // Unknown fields are read and ignored (forms carry extras such as submit buttons).
            _ => {
                let _ = field.bytes().await;
            }
        }
    }
    Ok(upload)
}

/// `POST /api/messages/media` (multipart: `account_id`, `to`, `file`, optional `caption`, `kind`,
/// `voice_note`) → 202 with the queued message (as `GET /api/messages/{id}`, with `media`); the
/// same `Idempotency-Key` again → 200 with that message.
#[utoipa::path(
    post,
    path = "/messages/media",
    tag = "messages",
    operation_id = "send_media",
    summary = "Send a file: image, audio, voice note, video or document",
    description = "Multipart form. The file is judged by its content: one that is not what it \
        claims, or an executable, is 415. Limits: image, audio and video 16 MiB, documents \
        100 MiB (413). Images are re-encoded as JPEG without metadata. The account must be \
        connected (409 otherwise) on this server or another instance.",
    params(("Idempotency-Key" = Option<String>, Header, description = super::messages::IDEMPOTENCY_KEY)),
    request_body(content = MediaUpload, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The message queued earlier under this `Idempotency-Key`", body = store::Message),
        (status = 202, description = "The queued message, with `media`", body = store::Message),
        (status = 400, description = "The body is not a readable multipart form", body = ErrorBody),
        (status = 404, description = "The account is not the user's", body = ErrorBody),
        (status = 409, description = "`opted_out`: the recipient opted out; `conflict`: the account is not linked or not connected, or a different request used this `Idempotency-Key`", body = ErrorBody),
        (status = 413, description = "The file is over its kind's limit", body = ErrorBody),
        (status = 415, description = "The file is not what it claims to be, or not something we send", body = ErrorBody),
        (status = 422, description = "A field is missing or not valid (a voice note must be OGG/Opus); `field` names it", body = ErrorBody),
        (status = 503, description = "WhatsApp's media servers are not reachable (`whatsapp_unavailable`) or the engine did not answer (`unavailable`)", body = ErrorBody),
    ),
)]
async fn send(
    State(state): State<AppState>,
    user: ApiUser,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let key = super::messages::idempotency_key(&headers)?.map(str::to_owned);
    let upload = read_form(multipart, &state.media.tmp).await?;
    let account_id = upload
        .account_id
        .ok_or_else(|| ApiError::validation("account_id", "is required"))?;
    let to = upload
        .to
        .ok_or_else(|| ApiError::validation("to", "is required"))?;
    let file = upload
        .file
        .ok_or_else(|| ApiError::validation("file", "is required"))?;
    if file.size == 0 {
        return Err(ApiError::validation("file", "is empty"));
    }
    store::PhoneE164::parse(&to)
        .map_err(|_| ApiError::validation("to", "must be a phone number with its country code"))?;
    if upload.caption.chars().count() > 4096 {
        return Err(ApiError::validation(
            "caption",
            "must be at most 4096 characters",
        ));
    }

    // What the file is, by its content.
    let claimed_kind = if upload.voice_note {
        Some(SendKind::Audio)
    } else {
        upload.kind
    };
    let class = inspect::classify(&file.head, claimed_kind, file.claimed_mime.as_deref())
        .map_err(|e| ApiError::UnsupportedFile(e.0))?;
    if file.size > class.kind.limit() {
        return Err(too_large(Some(class.kind)));
    }
    if upload.voice_note && !inspect::voice_note_ok(&class.mimetype) {
        return Err(ApiError::validation(
            "voice_note",
            "a voice note must be an OGG/Opus recording",
        ));
    }

    // An image is sent re-encoded (no EXIF/GPS), so its hash is that of the new file.
    let mut meta = sessions::MediaMeta {
        mimetype: class.mimetype.clone(),
        ptt: upload.voice_note,
        ..sessions::MediaMeta::default()
    };
    let (path, sha256, size, thumbnail) = if class.kind == SendKind::Image {
        let bytes = tokio::fs::read(&file.temp)
            .await
            .map_err(ApiError::internal)?;
        let prepared = tokio::task::spawn_blocking(move || inspect::prepare_image(&bytes))
            .await
            .map_err(ApiError::internal)?
            .map_err(|e| ApiError::UnsupportedFile(e.0))?;
        let out = tempfile::NamedTempFile::new_in(&state.media.tmp).map_err(ApiError::internal)?;
        tokio::fs::write(out.path(), &prepared.jpeg)
            .await
            .map_err(ApiError::internal)?;
        meta.mimetype = "image/jpeg".to_owned();
        meta.width = Some(prepared.width);
        meta.height = Some(prepared.height);
        meta.jpeg_thumbnail = Some(prepared.thumbnail.clone());
        let sha = hex::encode(Sha256::digest(&prepared.jpeg));
        (
            out.into_temp_path(),
            sha,
            prepared.jpeg.len() as u64,
            Some(prepared.thumbnail),
        )
    } else {
        (file.temp, file.sha256, file.size, None)
    };
    let file_name = file.file_name.as_deref().and_then(store::clean_file_name);
    if class.kind == SendKind::Document {
        meta.file_name = Some(file_name.clone().unwrap_or_else(|| "file".to_owned()));
        meta.title = meta.file_name.clone();
    }
    let caption = upload.caption.trim().to_owned();
    if !caption.is_empty() && class.kind != SendKind::Audio {
        meta.caption = Some(caption.clone());
    }

    // A repeat of an earlier request is answered without uploading again.
    if let Some(key) = &key {
        let mut tx = state.store.as_user(user.id).await?;
        let earlier = tx
            .outgoing_repeat(account_id, key, &to, &caption, Some(&sha256))
            .await?;
        tx.commit().await?;
        if let Some(message) = earlier {
            return Ok((StatusCode::OK, Json(message)).into_response());
        }
    }

    let kind = match class.kind {
        SendKind::Image => sessions::MediaKind::Image,
        SendKind::Audio => sessions::MediaKind::Audio,
        SendKind::Video => sessions::MediaKind::Video,
        SendKind::Document => sessions::MediaKind::Document,
    };
    let descriptor = state
        .sessions
        .upload_media(
            user.id,
            account_id,
            kind,
            meta.clone(),
            sessions::MediaSource::File(path.to_path_buf()),
        )
        .await?;

    let mut tx = state.store.as_user(user.id).await?;
    tx.media_lock_file(&sha256).await?;
    state
        .media
        .storage
        .put_file(user.id, &sha256, &path)
        .await
        .map_err(ApiError::internal)?;
    let (message, created) = tx
        .media_message_enqueue(store::NewMediaOutgoing {
            session_id: account_id,
            to: &to,
            caption: &caption,
            idempotency_key: key.as_deref(),
            sha256: &sha256,
            media: store::NewMedia {
                kind: class.kind.as_str().to_owned(),
                mimetype: meta.mimetype.clone(),
                file_name: meta.file_name.clone(),
                file_length: size,
                width: meta.width,
                height: meta.height,
                seconds: meta.seconds,
                ptt: meta.ptt,
                thumbnail,
                descriptor: descriptor.encode(),
            },
        })
        .await?;
    tx.commit().await?;
    if created {
        state.sessions.wake(account_id);
    }
    let status = if created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(message)).into_response())
}

/// Types a browser shows inline without running anything (everything else is an attachment).
fn inline_safe(mimetype: &str) -> bool {
    matches!(
        mimetype,
        "image/jpeg"
            | "image/png"
            | "image/webp"
            | "image/gif"
            | "audio/ogg"
            | "audio/mpeg"
            | "audio/mp4"
            | "audio/m4a"
            | "audio/aac"
            | "audio/x-wav"
            | "audio/wav"
            | "video/mp4"
            | "video/webm"
            | "video/3gpp"
            | "video/quicktime"
    )
}

/// What stays unencoded in an RFC 5987 `filename*` here: letters, digits, `.`, `-`, `_`.
const FILENAME_KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'.')
    .remove(b'-')
    .remove(b'_');

/// `Content-Disposition` with an ASCII fallback name and the real one (RFC 6266 / 5987).
fn disposition(inline: bool, file_name: Option<&str>) -> HeaderValue {
    let kind = if inline { "inline" } else { "attachment" };
    let Some(name) = file_name else {
        return HeaderValue::from_static(if inline { "inline" } else { "attachment" });
    };
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ' | '(' | ')') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(name, FILENAME_KEEP);
    HeaderValue::from_str(&format!(
        "{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// A single `bytes=a-b` / `bytes=a-` / `bytes=-n` range within `size`; anything else is ignored
/// (the whole file is served), as RFC 9110 allows.
fn parse_range(headers: &HeaderMap, size: u64) -> Option<std::ops::Range<u64>> {
    let raw = headers.get(header::RANGE)?.to_str().ok()?;
    let spec = raw.strip_prefix("bytes=")?;
    if spec.contains(',') || size == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (size.saturating_sub(n), size)
        }
        (a, "") => (a.parse().ok()?, size),
        (a, b) => (
            a.parse().ok()?,
            b.parse::<u64>().ok()?.saturating_add(1).min(size),
        ),
    };
    (start < end && start < size).then_some(start..end)
}

/// `GET /api/media/{message id}`: the file of one of the user's messages.
#[utoipa::path(
    get,
    path = "/media/{id}",
    tag = "messages",
    operation_id = "download_media",
    summary = "The file of a media message",
    description = "`Content-Type` is the sniffed type; pictures, audio and video are `inline`, \
        everything else an `attachment` with its file name. One `Range` (`bytes=…`) is honoured.",
    params(
        ("id" = Uuid, Path, description = "The message's id"),
        ("Range" = Option<String>, Header, description = "One byte range, e.g. `bytes=0-1023`"),
    ),
    responses(
        (status = 200, description = "The whole file", content_type = "application/octet-stream", body = super::openapi::FileBytes,
            headers(("Content-Disposition" = String), ("Content-Length" = u64), ("Accept-Ranges" = String))),
        (status = 206, description = "The requested range", content_type = "application/octet-stream", body = super::openapi::FileBytes,
            headers(("Content-Range" = String), ("Content-Length" = u64))),
        (status = 404, description = "No such message of the user's, or it has no file", body = ErrorBody),
        (status = 409, description = "The file is still being downloaded from WhatsApp, or that failed (the reason is in `message`)", body = ErrorBody),
    ),
)]
async fn download(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let file = tx.media_file(id).await?;
    tx.commit().await?;
    let Some(sha256) = file.sha256.as_deref().filter(|_| file.state == "stored") else {
        return Err(ApiError::Conflict(match file.state.as_str() {
            "pending" => "the file is still being downloaded from WhatsApp".to_owned(),
            _ => format!(
                "the file could not be downloaded: {}",
                file.state_reason.as_deref().unwrap_or("unknown reason")
            ),
        }));
    };
    let range = parse_range(&headers, u64::try_from(file.file_length).unwrap_or(0));
    let stored = match state
        .media
        .storage
        .get(file.user_id, sha256, range.clone())
        .await
    {
        Ok(s) => s,
        Err(object_store::Error::NotFound { .. }) => {
            tracing::error!(message = %id, "a stored media file is missing from storage");
            return Err(ApiError::NotFound);
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    let mut response = Response::new(Body::from_stream(stored.stream));
    let h = response.headers_mut();
    let mime = HeaderValue::from_str(&file.mimetype)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_TYPE, mime);
    h.insert(
        header::CONTENT_DISPOSITION,
        disposition(inline_safe(&file.mimetype), file.file_name.as_deref()),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400, immutable"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(stored.range.end - stored.range.start),
    );
    if range.is_some() {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        let value = format!(
            "bytes {}-{}/{}",
            stored.range.start,
            stored.range.end - 1,
            stored.size
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(response)
}

/// `GET /api/media/{message id}/thumbnail`: the small JPEG the message carried.
#[utoipa::path(
    get,
    path = "/media/{id}/thumbnail",
    tag = "messages",
    operation_id = "download_media_thumbnail",
    summary = "The small JPEG preview a media message carried",
    params(("id" = Uuid, Path, description = "The message's id")),
    responses(
        (status = 200, description = "The preview", content_type = "image/jpeg", body = super::openapi::FileBytes),
        (status = 404, description = "No such message of the user's, or it has no preview", body = ErrorBody),
    ),
)]
async fn thumbnail(
    State(state): State<AppState>,
    user: ApiUser,
    ResourceId(id): ResourceId,
) -> Result<Response, ApiError> {
    let mut tx = state.store.as_user(user.id).await?;
    let jpeg = tx.media_thumbnail(id).await?;
    tx.commit().await?;
    // Only a real JPEG is served as one.
    if !jpeg.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Err(ApiError::NotFound);
    }
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "private, max-age=86400, immutable"),
        ],
        jpeg,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_parsed_within_the_file() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::RANGE, HeaderValue::from_str(v).unwrap());
            m
        };
        assert_eq!(parse_range(&h("bytes=0-9"), 100), Some(0..10));
        assert_eq!(parse_range(&h("bytes=90-"), 100), Some(90..100));
        assert_eq!(parse_range(&h("bytes=-5"), 100), Some(95..100));
        assert_eq!(parse_range(&h("bytes=50-500"), 100), Some(50..100));
        assert_eq!(parse_range(&h("bytes=100-"), 100), None);
        assert_eq!(parse_range(&h("bytes=0-1,5-6"), 100), None);
        assert_eq!(parse_range(&h("items=0-1"), 100), None);
        assert_eq!(parse_range(&HeaderMap::new(), 100), None);
    }

    #[test]
    fn dispositions_cannot_be_broken_out_of() {
        let v = disposition(false, Some("a\"; x=y\r\n.pdf"));
        let s = v.to_str().unwrap();
        assert!(
            s.starts_with("attachment; filename=\"a__ x_y__.pdf\""),
            "{s}"
        );
        assert!(
            s.contains("filename*=UTF-8''a%22%3B%20x%3Dy%0D%0A.pdf"),
            "{s}"
        );
        let v = disposition(true, Some("Brochure ü.pdf"));
        assert!(v.to_str().unwrap().contains("Brochure%20%C3%BC.pdf"));
        assert_eq!(disposition(true, None).to_str().unwrap(), "inline");
        assert!(!inline_safe("text/html"));
        assert!(!inline_safe("image/svg+xml"));
    }
}
