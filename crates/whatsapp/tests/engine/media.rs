//! Media both ways between our engine and the offline WhatsApp's contacts: each type is sent by
//! a contact's phone and arrives byte-identical through `download_and_decrypt`, and each type
//! our engine uploads and sends is decrypted byte-identical by the contact's phone. Then what
//! must fail does, with typed errors: tampered blobs, wrong hashes, expired URLs, a bad upload
//! token, an upload without a connection.

use std::time::Duration;

use fake_whatsapp::scenarios::STEP;
use fake_whatsapp::{Config, FakeWhatsApp, Phone};
use tokio::sync::oneshot;
use whatsapp::client::media::{
    MediaConn, MediaHost, MediaHttp, MediaSource, MediaTransferError, MediaUpload,
};
use whatsapp::client::{Command, CommandError};
use whatsapp::events::Event;
use whatsapp::media::{MediaDescriptor, MediaError, MediaKind, MediaMeta};
use whatsapp::store::{InboundMessage, MessageStatus};

use crate::driver::{Engine, linked_engine};

const CONTACT: &str = "15550002222";

/// Deterministic, incompressible-looking bytes that start like the file type they claim.
pub fn file(magic: &[u8], len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    let mut out = magic.to_vec();
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.push(x as u8);
    }
    out
}

struct Case {
    kind: MediaKind,
    data: Vec<u8>,
    meta: MediaMeta,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            kind: MediaKind::Image,
            data: file(b"\xff\xd8\xff\xe0JFIF", 48_000, 1),
            meta: MediaMeta {
                mimetype: "image/jpeg".into(),
                caption: Some("the blue sofa".into()),
                jpeg_thumbnail: Some(file(b"\xff\xd8", 600, 9)),
                width: Some(1280),
                height: Some(960),
                ..MediaMeta::default()
            },
        },
        Case {
            kind: MediaKind::Audio,
            data: file(b"OggS", 21_000, 2),
            meta: MediaMeta {
                mimetype: "audio/ogg; codecs=opus".into(),
                seconds: Some(7),
                ptt: true,
                ..MediaMeta::default()
            },
        },
        Case {
            kind: MediaKind::Video,
            data: file(b"\0\0\0\x20ftypisom", 1_300_007, 3),
            meta: MediaMeta {
                mimetype: "video/mp4".into(),
                caption: Some("walk-through".into()),
                seconds: Some(31),
                width: Some(640),
                height: Some(360),
                jpeg_thumbnail: Some(file(b"\xff\xd8", 300, 8)),
                ..MediaMeta::default()
            },
        },
        Case {
            kind: MediaKind::Document,
            data: file(b"%PDF-1.4\n", 300_001, 4),
            meta: MediaMeta {
                mimetype: "application/pdf".into(),
                file_name: Some("brochure.pdf".into()),
                title: Some("brochure.pdf".into()),
                page_count: Some(12),
                ..MediaMeta::default()
            },
        },
    ]
}

async fn setup() -> (FakeWhatsApp, Phone, Engine) {
    let fake = FakeWhatsApp::start(Config::default()).await.unwrap();
    let contact = fake
        .add_account(CONTACT, "100000000000002", "Carol")
        .unwrap();
    let me = fake.phone().clone();
    let engine = linked_engine(&fake, &me).await;
    (fake, contact, engine)
}

pub async fn inbound(engine: &mut Engine, id: &str) -> InboundMessage {
    engine
        .expect(&format!("message {id}"), |e| match e {
            Event::Message { message, .. } if message.message_id == id => Some(message.clone()),
            _ => None,
        })
        .await
}

pub async fn upload(
    engine: &Engine,
    kind: MediaKind,
    meta: MediaMeta,
    source: MediaSource,
) -> Result<MediaDescriptor, CommandError> {
    let (reply, rx) = oneshot::channel();
    engine
        .command(Command::UploadMedia(Box::new(MediaUpload {
            kind,
            meta,
            source,
            reply,
        })))
        .await;
    tokio::time::timeout(STEP, rx)
        .await
        .expect("the upload is answered in time")
        .expect("the upload is answered")
}

pub async fn download(
    engine: &Engine,
    media: &MediaDescriptor,
) -> Result<Vec<u8>, MediaTransferError> {
    let http = MediaHttp::new(&engine.config).unwrap();
    let mut sink = Vec::new();
    let info = http.download_and_decrypt(media, &mut sink).await?;
    assert_eq!(info.file_length, sink.len() as u64);
    Ok(sink)
}

async fn received_by(phone: &Phone, id: &str) -> fake_whatsapp::Received {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        if let Some(r) = phone.received().into_iter().find(|r| r.id == id) {
            return r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the contact never received {id}; it has {:?}",
            phone.received()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_media_type_travels_both_ways_byte_identical() {
    let (fake, contact, mut engine) = setup().await;
    let me = fake.phone().user().to_owned();

    for case in cases() {
        // Contact → us: the message describes the file exactly as sent, and it downloads and
        // verifies byte-identical.
        let (id, sent) = contact
            .send_media(&me, case.kind, &case.data, case.meta.clone())
            .await
            .unwrap();
        let message = inbound(&mut engine, &id).await;
        let media = *message.media.clone().expect("a media descriptor");
        assert_eq!(media, sent, "{:?}", case.kind);
        let shown = case
            .meta
            .caption
            .clone()
            .or(case.meta.file_name.clone())
            .unwrap_or_else(|| "[voice message]".into());
        assert_eq!(message.text.as_deref(), Some(shown.as_str()));
        assert_eq!(
            download(&engine, &media).await.unwrap(),
            case.data,
            "{:?}",
            case.kind
        );

        // Us → contact: upload (the video from a file, streamed), send through the outbox, and
        // the contact's phone decrypts it byte-identical.
        let source = if case.kind == MediaKind::Video {
            let path = std::env::temp_dir().join(format!("media-test-{}.mp4", std::process::id()));
            std::fs::write(&path, &case.data).unwrap();
            MediaSource::File(path)
        } else {
            MediaSource::from(case.data.clone())
        };
        let uploaded = upload(&engine, case.kind, case.meta.clone(), source.clone())
            .await
            .unwrap();
        if let MediaSource::File(path) = &source {
            let _ = std::fs::remove_file(path);
        }
        assert_eq!(uploaded.file_length, case.data.len() as u64);
        assert_eq!(uploaded.meta, case.meta);
        let out_id = fake_whatsapp::new_message_id();
        engine
            .store
            .enqueue_media(&out_id, &format!("+{CONTACT}"), "", uploaded.clone());
        engine.command(Command::Wake).await;
        let got = received_by(&contact, &out_id).await;
        assert_eq!(got.error, None);
        let media = got.media.expect("the contact got a media message");
        assert_eq!(media, uploaded, "{:?}", case.kind);
        assert_eq!(
            contact.download(&media).unwrap(),
            case.data,
            "{:?}",
            case.kind
        );
        assert!(
            engine.store.message(&out_id).is_some_and(
                |m| m.status >= MessageStatus::Sent && m.status != MessageStatus::Failed
            )
        );
    }
    let (uploads, downloads) = fake.media().counts();
    assert_eq!((uploads, downloads), (8, 8));
    assert_eq!(fake.stats().decrypt_failures, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_mislabelled_and_expired_media_are_refused_with_typed_errors() {
    let (fake, contact, mut engine) = setup().await;
    let me = fake.phone().user().to_owned();
    let data = file(b"\xff\xd8\xff", 40_000, 5);
    let meta = MediaMeta {
        mimetype: "image/jpeg".into(),
        ..MediaMeta::default()
    };

    let (id, _) = contact
        .send_media(&me, MediaKind::Image, &data, meta.clone())
        .await
        .unwrap();
    let media = inbound(&mut engine, &id).await.media.unwrap();
    let path = media.direct_path.clone().unwrap();
    assert_eq!(download(&engine, &media).await.unwrap(), data);

    // The message lies about a hash: the file is refused though it decrypts.
    let mut wrong = media.clone();
    wrong.file_sha256[0] ^= 1;
    assert!(matches!(
        download(&engine, &wrong).await,
        Err(MediaTransferError::Invalid(MediaError::FileHashMismatch))
    ));
    let mut wrong = media.clone();
    wrong.file_enc_sha256[5] ^= 1;
    assert!(matches!(
        download(&engine, &wrong).await,
        Err(MediaTransferError::Invalid(MediaError::EncHashMismatch))
    ));
    // A key of the wrong size is refused before any request.
    let mut wrong = media.clone();
    wrong.media_key.truncate(16);
    assert!(matches!(
        download(&engine, &wrong).await,
        Err(MediaTransferError::Invalid(MediaError::BadKey(16)))
    ));
    // The blob on the host is changed.
    assert!(fake.media().tamper(&path));
    assert!(matches!(
        download(&engine, &media).await,
        Err(MediaTransferError::Invalid(MediaError::MacMismatch))
    ));
    // It expires; a path that never existed is gone too.
    assert!(fake.media().expire(&path));
    assert!(matches!(
        download(&engine, &media).await,
        Err(MediaTransferError::Expired(410))
    ));
    let mut unknown = media.clone();
    unknown.direct_path = Some("/v/t62.image/0_none.enc".into());
    assert!(matches!(
        download(&engine, &unknown).await,
        Err(MediaTransferError::Expired(404))
    ));

    // An upload with an auth token the host did not issue is refused.
    let http = MediaHttp::new(&engine.config).unwrap();
    let forged = MediaConn {
        hosts: vec![MediaHost {
            hostname: fake.media_addr().to_string(),
            max_content_length: None,
        }],
        auth: "forged".into(),
        ttl: Duration::from_secs(60),
        fetched_at: std::time::Instant::now(),
    };
    let refused = http
        .upload(
            &forged,
            MediaKind::Image,
            meta,
            &MediaSource::from(data.clone()),
        )
        .await;
    assert!(
        matches!(&refused, Err(MediaTransferError::UploadFailed(why)) if why.contains("401")),
        "{refused:?}"
    );

    // None of that touched the account: it still sends and receives.
    let text = contact.send_text(&me, "still there?").await.unwrap();
    assert_eq!(
        inbound(&mut engine, &text).await.text.as_deref(),
        Some("still there?")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_needs_a_linked_account() {
    let fake = FakeWhatsApp::start(Config::default()).await.unwrap();
    let engine = Engine::start(
        crate::driver::test_config(&fake),
        std::sync::Arc::new(whatsapp::store::MemoryStore::new()),
    );
    let refused = upload(
        &engine,
        MediaKind::Document,
        MediaMeta::default(),
        MediaSource::from(b"%PDF".to_vec()),
    )
    .await;
    assert!(
        matches!(refused, Err(CommandError::NotLinked)),
        "{refused:?}"
    );
}

/// The control API's media routes, as a test in another process drives them: a contact sends a
/// PDF (bytes given as base64), and what a contact received comes back decrypted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_api_sends_media_and_returns_what_a_contact_received() {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;

    let fake = std::sync::Arc::new(FakeWhatsApp::start(Config::default()).await.unwrap());
    fake.add_account(CONTACT, "100000000000002", "Carol")
        .unwrap();
    let me = fake.phone().clone();
    let mut engine = linked_engine(&fake, &me).await;
    let (addr, _server) =
        fake_whatsapp::control::serve(fake.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
    let http = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value| {
        http.post(format!("http://{addr}{path}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let pdf = file(b"%PDF-1.7\n", 90_000, 31);

    let answer = post(
        &format!("/accounts/{CONTACT}/send-media"),
        serde_json::json!({
            "to": me.user(), "kind": "document", "mimetype": "application/pdf",
            "file_name": "price list.pdf", "page_count": 3, "data": B64.encode(&pdf),
        }),
    )
    .await
    .unwrap();
    let answer = json_of(answer).await;
    let id = answer["id"].as_str().unwrap().to_owned();
    let media = inbound(&mut engine, &id).await.media.unwrap();
    assert_eq!(media.meta.file_name.as_deref(), Some("price list.pdf"));
    assert_eq!(media.meta.page_count, Some(3));
    assert_eq!(download(&engine, &media).await.unwrap(), pdf);

    // A voice note from us, read back through the control API.
    let note = file(b"OggS", 12_345, 32);
    let meta = MediaMeta {
        mimetype: "audio/ogg; codecs=opus".into(),
        seconds: Some(4),
        ptt: true,
        ..MediaMeta::default()
    };
    let uploaded = upload(&engine, MediaKind::Audio, meta, note.clone().into())
        .await
        .unwrap();
    let out_id = fake_whatsapp::new_message_id();
    engine
        .store
        .enqueue_media(&out_id, &format!("+{CONTACT}"), "", uploaded);
    engine.command(Command::Wake).await;
    let contact = fake.account(CONTACT).unwrap();
    received_by(&contact, &out_id).await;
    let got = http
        .get(format!(
            "http://{addr}/accounts/{CONTACT}/received/{out_id}/media"
        ))
        .send()
        .await
        .unwrap();
    let got = json_of(got).await;
    assert_eq!(got["kind"], "audio");
    assert_eq!(got["ptt"], true);
    assert_eq!(got["seconds"], 4);
    assert_eq!(B64.decode(got["data"].as_str().unwrap()).unwrap(), note);

    // Tampered on the host: the control API reports it instead of returning bytes.
    let path = got["direct_path"].as_str().unwrap();
    let tampered = post("/media/tamper", serde_json::json!({ "direct_path": path }))
        .await
        .unwrap();
    assert_eq!(json_of(tampered).await["ok"], true);
    let refused = http
        .get(format!(
            "http://{addr}/accounts/{CONTACT}/received/{out_id}/media"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let missing = http
        .get(format!(
            "http://{addr}/accounts/{CONTACT}/received/nope/media"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

async fn json_of(response: reqwest::Response) -> serde_json::Value {
    let status = response.status();
    let body = response.bytes().await.unwrap();
    assert!(
        status.is_success(),
        "HTTP {status}: {}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body).unwrap()
}

async fn retry(
    engine: &Engine,
    id: &str,
    media: &MediaDescriptor,
) -> Result<MediaDescriptor, CommandError> {
    let (reply, rx) = oneshot::channel();
    engine
        .command(Command::RetryMedia(Box::new(
            whatsapp::client::media::MediaRetry {
                message_id: id.to_owned(),
                chat: format!("{CONTACT}@s.whatsapp.net"),
                from_me: false,
                media: media.clone(),
                reply,
            },
        )))
        .await;
    tokio::time::timeout(STEP, rx)
        .await
        .expect("the media retry is answered in time")
        .expect("the media retry is answered")
}

/// WhatsApp's URLs expire: the media retry receipt asks the sender's phone to upload the file
/// again, and the new direct path downloads byte-identical. A request sealed with the wrong key
/// is refused by the phone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_download_is_uploaded_again_by_the_phone_on_a_media_retry() {
    let (fake, contact, mut engine) = setup().await;
    let data = file(b"%PDF-1.5\n", 64_000, 41);
    let meta = MediaMeta {
        mimetype: "application/pdf".into(),
        file_name: Some("quote.pdf".into()),
        ..MediaMeta::default()
    };
    let (id, _) = contact
        .send_media(fake.phone().user(), MediaKind::Document, &data, meta)
        .await
        .unwrap();
    let media = *inbound(&mut engine, &id).await.media.unwrap();
    assert!(fake.media().expire(media.direct_path.as_deref().unwrap()));
    assert!(matches!(
        download(&engine, &media).await,
        Err(MediaTransferError::Expired(410))
    ));

    let renewed = retry(&engine, &id, &media).await.unwrap();
    assert_ne!(renewed.direct_path, media.direct_path);
    assert_eq!(renewed.media_key, media.media_key);
    assert_eq!(download(&engine, &renewed).await.unwrap(), data);

    let mut forged = media.clone();
    forged.media_key = vec![7; 32];
    let refused = retry(&engine, &id, &forged).await;
    assert!(
        matches!(&refused, Err(CommandError::Unavailable(why)) if why.contains("error")),
        "{refused:?}"
    );
}
