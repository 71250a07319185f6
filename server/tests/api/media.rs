//! Media both ways against the offline WhatsApp (its media host really holds the encrypted
//! blobs): received files are downloaded eagerly, verified, stored and served to their owner only;
//! files sent through `POST /api/messages/media` reach the contact's phone, which decrypts them
//! byte-identical; and every bad file or request is refused clearly with nothing stored.

use std::time::Duration;

use fake_whatsapp::{Config as FakeConfig, FakeWhatsApp, Phone};
use http::{Method, StatusCode, header};
use serde_json::{Value, json};
use whatsapp::media::{MediaDescriptor, MediaKind, MediaMeta};

use crate::helpers::{TestApp, TestResponse, request, unique_email};
use crate::whatsapp::{create_account, link_by_qr};

const ME: &str = "15550001111";
const CONTACT: &str = "15550002222";

fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 7) as u8, (y * 5) as u8, 200])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(width, height, image::Rgb([30, 60, 90]));
    let mut out = Vec::new();
    img.write_with_encoder(image::codecs::jpeg::JpegEncoder::new(&mut out))
        .unwrap();
    out
}

fn pdf() -> Vec<u8> {
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    for i in 0..2000 {
        out.extend_from_slice(
            format!("{i} 0 obj << /Type /Brochure /N {i} >> endobj\n").as_bytes(),
        );
    }
    out.extend_from_slice(b"%%EOF\n");
    out
}

/// An OGG page header followed by bytes: what content sniffing calls `audio/ogg`.
fn ogg() -> Vec<u8> {
    let mut out = b"OggS\0\x02".to_vec();
    out.extend((0..40_000u32).map(|i| (i * 31 % 251) as u8));
    out
}

fn mp4() -> Vec<u8> {
    let mut out = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
    out.extend((0..300_000u32).map(|i| (i % 253) as u8));
    out
}

fn meta(mimetype: &str) -> MediaMeta {
    MediaMeta {
        mimetype: mimetype.to_owned(),
        ..MediaMeta::default()
    }
}

/// One form field: (name, file name + content type for a file, bytes).
type Part<'a> = (&'a str, Option<(&'a str, &'a str)>, &'a [u8]);
/// A [`Part`] that owns its bytes.
type OwnedPart<'a> = (&'a str, Option<(&'a str, &'a str)>, Vec<u8>);

/// A multipart/form-data body.
fn multipart(parts: &[Part<'_>]) -> (String, Vec<u8>) {
    let boundary = "----rarity-test-boundary-7d1f";
    let mut body = Vec::new();
    for (name, file, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some((file_name, content_type)) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn send_file(
    app: &TestApp,
    cookie: &str,
    parts: &[Part<'_>],
    key: Option<&str>,
) -> TestResponse {
    let (content_type, body) = multipart(parts);
    let mut req = request(Method::POST, "/api/messages/media", Some(cookie), None);
    *req.body_mut() = axum::body::Body::from(body);
    req.headers_mut()
        .insert(header::CONTENT_TYPE, content_type.parse().unwrap());
    if let Some(key) = key {
        req.headers_mut()
            .insert("idempotency-key", key.parse().unwrap());
    }
    app.send(req).await
}

/// Polls the lead's messages until the one with WhatsApp id `wa_id` has media in `state`.
async fn media_until(app: &TestApp, cookie: &str, wa_id: &str, state: &str) -> Value {
    for _ in 0..300 {
        let list = app.get("/api/conversations", Some(cookie)).await;
        for conversation in list.json().as_array().cloned().unwrap_or_default() {
            let lead = conversation["lead_id"].as_str().unwrap_or_default();
            let page = app
                .get(
                    &format!("/api/conversations/{lead}/messages?limit=200"),
                    Some(cookie),
                )
                .await
                .json();
            for m in page["messages"].as_array().cloned().unwrap_or_default() {
                if m["message_id"] == wa_id && m["media"]["state"] == state {
                    return m;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the media of {wa_id} never became {state}");
}

/// The contact's phone sends a file whose blob the test prepared (tampered, expired …).
async fn send_prepared(
    fake: &FakeWhatsApp,
    contact: &Phone,
    kind: MediaKind,
    data: &[u8],
    meta: MediaMeta,
    spoil: impl FnOnce(&FakeWhatsApp, &str, &mut MediaDescriptor),
) -> String {
    let key = whatsapp::media::new_media_key();
    let (blob, info) = whatsapp::media::encrypt(&key, kind, data);
    let media_type = kind.upload_path().trim_start_matches("/mms/");
    let direct_path = fake.media().put(media_type, blob.into());
    let mut descriptor = MediaDescriptor::uploaded(
        kind,
        meta,
        key,
        &info,
        Some(format!("https://{}{direct_path}", fake.media().host())),
        Some(direct_path.clone()),
        1_700_000_000,
    );
    spoil(fake, &direct_path, &mut descriptor);
    let id = fake_whatsapp::new_message_id();
    contact
        .send_message(ME, &id, &descriptor.to_message())
        .await
        .unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn received_media_are_stored_verified_and_served_to_their_owner_only() {
    let fake = FakeWhatsApp::start(FakeConfig::default()).await.unwrap();
    let contact = fake
        .add_account(CONTACT, "100000000000002", "Carol")
        .unwrap();
    let app = crate::whatsapp::app_for(&fake, &[]).await;
    let cookie = app.signup(&unique_email()).await;
    let account = create_account(&app, &cookie, "Sales line").await;
    link_by_qr(&app, &fake, &cookie, &account).await;

    // Every kind, from a real phone: encrypted, put on the media host, described in a message.
    let photo = jpeg(64, 48);
    let thumb = jpeg(8, 6);
    let brochure = pdf();
    let voice = ogg();
    let clip = mp4();
    let (photo_id, _) = contact
        .send_media(
            ME,
            MediaKind::Image,
            &photo,
            MediaMeta {
                caption: Some("Our product".into()),
                width: Some(64),
                height: Some(48),
                jpeg_thumbnail: Some(thumb.clone()),
                ..meta("image/jpeg")
            },
        )
        .await
        .unwrap();
    let (pdf_id, _) = contact
        .send_media(
            ME,
            MediaKind::Document,
            &brochure,
            MediaMeta {
                file_name: Some("Price list \"2027\".pdf".into()),
                ..meta("application/pdf")
            },
        )
        .await
        .unwrap();
    let (voice_id, _) = contact
        .send_media(
            ME,
            MediaKind::Audio,
            &voice,
            MediaMeta {
                ptt: true,
                seconds: Some(7),
                ..meta("audio/ogg; codecs=opus")
            },
        )
        .await
        .unwrap();
    let (video_id, _) = contact
        .send_media(ME, MediaKind::Video, &clip, meta("video/mp4"))
        .await
        .unwrap();

    let photo_msg = media_until(&app, &cookie, &photo_id, "stored").await;
    assert_eq!(photo_msg["type"], "image");
    assert_eq!(photo_msg["text"], "Our product", "the caption is the text");
    assert_eq!(photo_msg["media"]["mimetype"], "image/jpeg");
    assert_eq!(photo_msg["media"]["width"], 64);
    assert_eq!(photo_msg["media"]["has_thumbnail"], true);
    let pdf_msg = media_until(&app, &cookie, &pdf_id, "stored").await;
    assert_eq!(pdf_msg["type"], "document");
    assert!(pdf_msg["text"].is_null(), "no caption, no label: {pdf_msg}");
    assert_eq!(pdf_msg["media"]["file_name"], "Price list \"2027\".pdf");
    assert_eq!(pdf_msg["media"]["file_length"], brochure.len());
    let voice_msg = media_until(&app, &cookie, &voice_id, "stored").await;
    assert_eq!(voice_msg["type"], "audio");
    assert_eq!(voice_msg["media"]["ptt"], true);
    assert_eq!(voice_msg["media"]["seconds"], 7);
    assert_eq!(voice_msg["media"]["mimetype"], "audio/ogg");
    let video_msg = media_until(&app, &cookie, &video_id, "stored").await;
    assert_eq!(video_msg["type"], "video");

    // Byte-identical, with safe headers.
    for (message, original) in [
        (&photo_msg, &photo),
        (&pdf_msg, &brochure),
        (&voice_msg, &voice),
        (&video_msg, &clip),
    ] {
        let id = message["id"].as_str().unwrap();
        let file = app.get(&format!("/api/media/{id}"), Some(&cookie)).await;
        assert_eq!(file.status, StatusCode::OK, "{}", file.body);
        assert!(
            file.raw == *original,
            "{} differs from what was sent",
            message["type"]
        );
        assert_eq!(file.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(
            file.headers[header::CONTENT_TYPE],
            message["media"]["mimetype"].as_str().unwrap()
        );
    }
    let pdf_row = pdf_msg["id"].as_str().unwrap();
    let file = app
        .get(&format!("/api/media/{pdf_row}"), Some(&cookie))
        .await;
    let disposition = file.headers[header::CONTENT_DISPOSITION].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"Price list _2027_.pdf\""),
        "{disposition}"
    );
    // A range, as a browser asks to seek in audio and video.
    let mut ranged = request(
        Method::GET,
        &format!("/api/media/{pdf_row}"),
        Some(&cookie),
        None,
    );
    ranged
        .headers_mut()
        .insert(header::RANGE, "bytes=5-14".parse().unwrap());
    let part = app.send(ranged).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.raw, brochure[5..15]);
    assert_eq!(
        part.headers[header::CONTENT_RANGE],
        format!("bytes 5-14/{}", brochure.len()).as_str()
    );
    let photo_row = photo_msg["id"].as_str().unwrap();
    let t = app
        .get(&format!("/api/media/{photo_row}/thumbnail"), Some(&cookie))
        .await;
    assert_eq!(t.status, StatusCode::OK);
    assert_eq!(t.raw, thumb);
    assert_eq!(t.headers[header::CONTENT_TYPE], "image/jpeg");

    // Nobody else: another user, a guessed id, a text message's id, garbage.
    let stranger = app.signup(&unique_email()).await;
    for path in [
        format!("/api/media/{photo_row}"),
        format!("/api/media/{photo_row}/thumbnail"),
        format!("/api/media/{}", uuid::Uuid::new_v4()),
        "/api/media/not-a-uuid".to_owned(),
        "/api/media/..%2F..%2Fetc%2Fpasswd".to_owned(),
    ] {
        let r = app.get(&path, Some(&stranger)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
    }
    assert_eq!(
        app.get(&format!("/api/media/{photo_row}"), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let pdf_thumb = app
        .get(&format!("/api/media/{pdf_row}/thumbnail"), Some(&cookie))
        .await;
    assert_eq!(pdf_thumb.status, StatusCode::NOT_FOUND);

    // Tampered ciphertext, a wrong announced hash, more bytes than announced: failed with the
    // reason, and nothing served.
    let tampered = send_prepared(
        &fake,
        &contact,
        MediaKind::Image,
        &photo,
        meta("image/jpeg"),
        |f, path, _| {
            assert!(f.media().tamper(path));
        },
    )
    .await;
    let wrong_hash = send_prepared(
        &fake,
        &contact,
        MediaKind::Document,
        &brochure,
        meta("application/pdf"),
        |_, _, d| {
            d.file_sha256[0] ^= 1;
        },
    )
    .await;
    let too_long = send_prepared(
        &fake,
        &contact,
        MediaKind::Document,
        &brochure,
        meta("application/pdf"),
        |_, _, d| {
            d.file_length = 100;
        },
    )
    .await;
    let failed = media_until(&app, &cookie, &tampered, "failed").await;
    assert!(
        failed["media"]["state_reason"]
            .as_str()
            .unwrap()
            .contains("MAC"),
        "{failed}"
    );
    let r = app
        .get(
            &format!("/api/media/{}", failed["id"].as_str().unwrap()),
            Some(&cookie),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body.contains("could not be downloaded"), "{}", r.body);
    let failed = media_until(&app, &cookie, &wrong_hash, "failed").await;
    assert!(
        failed["media"]["state_reason"]
            .as_str()
            .unwrap()
            .contains("SHA-256"),
        "{failed}"
    );
    let failed = media_until(&app, &cookie, &too_long, "failed").await;
    assert!(
        failed["media"]["state_reason"]
            .as_str()
            .unwrap()
            .contains("more than"),
        "{failed}"
    );

    // Expired on the host before we fetched it: the media retry receipt makes the phone upload
    // it again, and the file arrives intact.
    let expired = send_prepared(
        &fake,
        &contact,
        MediaKind::Document,
        &brochure,
        meta("application/pdf"),
        |f, path, _| {
            assert!(f.media().expire(path));
        },
    )
    .await;
    let restored = media_until(&app, &cookie, &expired, "stored").await;
    let file = app
        .get(
            &format!("/api/media/{}", restored["id"].as_str().unwrap()),
            Some(&cookie),
        )
        .await;
    assert!(file.raw == brochure, "the re-uploaded file is the original");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_sent_through_the_api_reach_the_contact_intact_and_bad_files_are_refused() {
    let fake = FakeWhatsApp::start(FakeConfig::default()).await.unwrap();
    let contact = fake
        .add_account(CONTACT, "100000000000002", "Carol")
        .unwrap();
    let app = crate::whatsapp::app_for(&fake, &[]).await;
    let cookie = app.signup(&unique_email()).await;
    let account = create_account(&app, &cookie, "Sales line").await;
    link_by_qr(&app, &fake, &cookie, &account).await;
    let to = "+1 555 000 2222";

    // A PDF: byte-identical at the contact's phone, with its name.
    let brochure = pdf();
    let r = send_file(
        &app,
        &cookie,
        &[
            ("account_id", None, account.as_bytes()),
            ("to", None, to.as_bytes()),
            ("caption", None, "Our brochure".as_bytes()),
            (
                "file",
                Some(("Brochure 2027.pdf", "application/pdf")),
                &brochure,
            ),
        ],
        Some("brochure-1"),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let sent = r.json();
    assert_eq!(sent["type"], "document");
    assert_eq!(sent["status"], "queued");
    assert_eq!(sent["media"]["state"], "stored");
    assert_eq!(sent["media"]["file_name"], "Brochure 2027.pdf");
    // The same request again: the same message, not a second upload or send.
    let again = send_file(
        &app,
        &cookie,
        &[
            ("account_id", None, account.as_bytes()),
            ("to", None, to.as_bytes()),
            ("caption", None, "Our brochure".as_bytes()),
            (
                "file",
                Some(("Brochure 2027.pdf", "application/pdf")),
                &brochure,
            ),
        ],
        Some("brochure-1"),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.json()["id"], sent["id"]);

    // A PNG with metadata-bearing chunks: sent as a re-encoded JPEG with a thumbnail.
    let picture = png(120, 80);
    let r = send_file(
        &app,
        &cookie,
        &[
            ("account_id", None, account.as_bytes()),
            ("to", None, to.as_bytes()),
            ("file", Some(("photo.png", "image/png")), &picture),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let photo = r.json();
    assert_eq!(photo["type"], "image");
    assert_eq!(photo["media"]["mimetype"], "image/jpeg");
    assert_eq!(photo["media"]["width"], 120);
    assert_eq!(photo["media"]["has_thumbnail"], true);

    // A voice note.
    let voice = ogg();
    let r = send_file(
        &app,
        &cookie,
        &[
            ("account_id", None, account.as_bytes()),
            ("to", None, to.as_bytes()),
            ("voice_note", None, b"true"),
            ("file", Some(("note.ogg", "audio/ogg")), &voice),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let note = r.json();
    assert_eq!(note["media"]["ptt"], true);

    // The contact's phone decrypts each one, byte-identical to what we stored.
    for (message, kind) in [(&sent, "document"), (&photo, "image"), (&note, "audio")] {
        let wa_id = message["message_id"].as_str().unwrap();
        let mut got = None;
        for _ in 0..200 {
            if let Some(r) = contact.received().into_iter().find(|r| r.id == wa_id) {
                got = Some(r);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let received = got.unwrap_or_else(|| panic!("the contact never got the {kind}"));
        let media = received.media.clone().expect("a media message");
        assert_eq!(media.kind.as_str(), kind);
        let data = contact.download(&media).expect("decrypts and verifies");
        let ours = app
            .get(
                &format!("/api/media/{}", message["id"].as_str().unwrap()),
                Some(&cookie),
            )
            .await;
        assert_eq!(ours.status, StatusCode::OK);
        assert!(
            data == ours.raw,
            "the {kind} differs at the contact's phone"
        );
        match kind {
            "document" => {
                assert!(data == brochure);
                assert_eq!(media.meta.file_name.as_deref(), Some("Brochure 2027.pdf"));
                assert_eq!(media.meta.caption.as_deref(), Some("Our brochure"));
            }
            "image" => {
                assert_eq!(&data[..3], &[0xFF, 0xD8, 0xFF], "a JPEG");
                assert!(media.meta.jpeg_thumbnail.is_some());
                assert_eq!(media.meta.width, Some(120));
            }
            _ => {
                assert!(data == voice);
                assert!(media.meta.ptt);
            }
        }
    }
    let sent_once = contact
        .received()
        .into_iter()
        .filter(|r| r.id == sent["message_id"].as_str().unwrap())
        .count();
    assert_eq!(sent_once, 1, "the repeated request did not send twice");

    // Bad files and requests: clear 4xx, and nothing stored.
    let count_before = stored_media(&app).await;
    let cases: Vec<(Vec<OwnedPart<'_>>, StatusCode, &str)> = vec![
        // A PDF claiming to be a PNG.
        (
            vec![
                ("account_id", None, account.clone().into_bytes()),
                ("to", None, to.as_bytes().to_vec()),
                ("file", Some(("x.png", "image/png")), brochure.clone()),
            ],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/pdf",
        ),
        // A PDF sent as an image.
        (
            vec![
                ("account_id", None, account.clone().into_bytes()),
                ("to", None, to.as_bytes().to_vec()),
                ("kind", None, b"image".to_vec()),
                ("file", Some(("x.pdf", "application/pdf")), brochure.clone()),
            ],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not an image",
        ),
        // An executable, whatever it claims.
        (
            vec![
                ("account_id", None, account.clone().into_bytes()),
                ("to", None, to.as_bytes().to_vec()),
                ("file", Some(("report.pdf", "application/pdf")), {
                    let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
                    elf.extend([0u8; 64]);
                    elf
                }),
            ],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "executable",
        ),
        // An image over 16 MiB.
        (
            vec![
                ("account_id", None, account.clone().into_bytes()),
                ("to", None, to.as_bytes().to_vec()),
                ("file", Some(("huge.png", "image/png")), {
                    let mut big = png(4, 4);
                    big.resize(17 * 1024 * 1024, 0);
                    big
                }),
            ],
            StatusCode::PAYLOAD_TOO_LARGE,
            "16 MiB",
        ),
        // A voice note that is an MP3.
        (
            vec![
                ("account_id", None, account.clone().into_bytes()),
                ("to", None, to.as_bytes().to_vec()),
                ("voice_note", None, b"true".to_vec()),
                ("file", Some(("a.mp3", "audio/mpeg")), {
                    let mut mp3 = b"ID3\x03\0\0\0\0\0\0".to_vec();
                    mp3.extend([0x55u8; 2000]);
                    mp3
                }),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "OGG/Opus",
        ),
        // Empty, no file, no recipient, a bad number, a bad account id.
        (
            vec![
                ("account_id", None, account.clone().into_bytes()),
                ("to", None, to.as_bytes().to_vec()),
                ("file", Some(("empty.pdf", "application/pdf")), Vec::new()),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty",
        ),
        (
            vec![
                ("account_id", None, account.clone().into_bytes()),
                ("to", None, to.as_bytes().to_vec()),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "file",
        ),
        (
            vec![
                ("account_id", None, account.clone().into_bytes()),
                ("file", Some(("x.pdf", "application/pdf")), brochure.clone()),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "to",
        ),
        (
            vec![
                ("account_id", None, account.clone().into_bytes()),
                ("to", None, b"not a number".to_vec()),
                ("file", Some(("x.pdf", "application/pdf")), brochure.clone()),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "phone number",
        ),
        (
            vec![
                ("account_id", None, b"nope".to_vec()),
                ("to", None, to.as_bytes().to_vec()),
                ("file", Some(("x.pdf", "application/pdf")), brochure.clone()),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "UUID",
        ),
        // Someone else's (or no such) account.
        (
            vec![
                (
                    "account_id",
                    None,
                    uuid::Uuid::new_v4().to_string().into_bytes(),
                ),
                ("to", None, to.as_bytes().to_vec()),
                ("file", Some(("x.pdf", "application/pdf")), brochure.clone()),
            ],
            StatusCode::NOT_FOUND,
            "not found",
        ),
    ];
    for (parts, status, says) in cases {
        let borrowed: Vec<Part<'_>> = parts
            .iter()
            .map(|(n, f, d)| (*n, *f, d.as_slice()))
            .collect();
        let r = send_file(&app, &cookie, &borrowed, None).await;
        assert_eq!(r.status, status, "{says}: {}", r.body);
        assert!(r.body.contains(says), "expected {says:?} in {}", r.body);
    }
    // Not multipart at all.
    let r = app
        .json(
            Method::POST,
            "/api/messages/media",
            Some(&cookie),
            &json!({"account_id": account, "to": to}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(
        stored_media(&app).await,
        count_before,
        "nothing stored for a refusal"
    );
}

/// Media rows in the database (any user), read as the owner role.
async fn stored_media(app: &TestApp) -> i64 {
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM public.whatsapp_media")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}
