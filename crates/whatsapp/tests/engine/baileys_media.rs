//! Cross-check with an independent implementation: the unmodified Baileys client
//! (`@whiskeysockets/baileys` 7.0.0-rc14 from the workspace's node_modules, driven by the fake's
//! `tests/fidelity/baileys-client.mjs`) and our engine, each linked to its own account on one
//! offline WhatsApp. Baileys sends an image, a voice note, a video and a PDF, which our engine
//! downloads byte-identical; our engine sends the same four, which Baileys' own
//! `downloadMediaMessage` decrypts byte-identical. Needs `node` and `npm ci` at the workspace
//! root; fails loudly without them.
//!
//! Baileys builds `https://` media URLs itself; the fake's media host also speaks TLS (a
//! self-signed certificate), which only this Node child is told to accept
//! (`NODE_TLS_REJECT_UNAUTHORIZED=0`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use fake_whatsapp::scenarios::STEP;
use fake_whatsapp::{Config, FakeWhatsApp};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use whatsapp::client::Command;
use whatsapp::client::media::MediaSource;
use whatsapp::media::{MediaKind, MediaMeta};

use crate::driver::linked_engine;
use crate::media::{download, file, inbound, upload};

fn fidelity_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fake-whatsapp/tests/fidelity")
}

fn require_node() {
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        matches!(&node, Ok(o) if o.status.success()),
        "the Baileys cross-check needs `node` (>= 20) on PATH: {node:?}"
    );
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../node_modules/@whiskeysockets/baileys/package.json");
    let text = std::fs::read_to_string(&manifest).unwrap_or_else(|e| {
        panic!(
            "the Baileys cross-check needs the workspace's npm packages (`npm ci` at the root): {}: {e}",
            manifest.display()
        )
    });
    assert!(
        text.contains("\"version\": \"7.0.0-rc14\""),
        "expected Baileys 7.0.0-rc14"
    );
}

/// One Baileys process: events on stdout (`KIND json`), commands on stdin.
struct Baileys {
    _child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    seen: Vec<String>,
}

impl Baileys {
    fn spawn(fake: &FakeWhatsApp, auth: &Path, media: &Path) -> Self {
        let mut child = tokio::process::Command::new("node")
            .current_dir(fidelity_dir())
            .args(["--import", "./patch-root.mjs", "baileys-client.mjs"])
            .env("FAKE_WA_ROOT_KEY", hex::encode(fake.root_public_key()))
            .env("FAKE_WA_URL", fake.url())
            .env("FAKE_WA_AUTH_DIR", auth)
            .env("FAKE_WA_MEDIA_DIR", media)
            .env("NODE_TLS_REJECT_UNAUTHORIZED", "0")
            // Node warns on stderr that TLS checks are off: expected here.
            .env("NODE_NO_WARNINGS", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn node");
        let stdout = child.stdout.take().expect("piped stdout");
        let stdin = child.stdin.take().expect("piped stdin");
        Self {
            _child: child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            seen: Vec::new(),
        }
    }

    /// The next line starting with `prefix` (others are kept in `seen`); fails on `ERROR`.
    async fn expect(&mut self, prefix: &str) -> String {
        let found = tokio::time::timeout(STEP, async {
            while let Some(line) = self.lines.next_line().await.expect("read node stdout") {
                self.seen.push(line.clone());
                assert!(
                    !line.starts_with("ERROR ") && !line.starts_with("MEDIA_ERROR "),
                    "Baileys failed: {line}"
                );
                if let Some(rest) = line.strip_prefix(prefix) {
                    return Some(rest.trim_start().to_owned());
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(rest)) => rest,
            Ok(None) => panic!("Baileys exited before {prefix}; saw {:?}", self.seen),
            Err(_) => panic!(
                "no {prefix} from Baileys within {STEP:?}; saw {:?}",
                self.seen
            ),
        }
    }

    async fn event(&mut self, kind: &str) -> Value {
        let rest = self.expect(&format!("{kind} ")).await;
        serde_json::from_str(&rest).expect("event JSON")
    }

    async fn command(&mut self, command: Value) {
        let line = format!("{command}\n");
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("write to Baileys");
        self.stdin.flush().await.expect("flush to Baileys");
    }
}

struct Case {
    kind: MediaKind,
    name: &'static str,
    data: Vec<u8>,
    meta: MediaMeta,
}

fn cases() -> Vec<Case> {
    let thumb = file(b"\xff\xd8", 400, 11);
    vec![
        Case {
            kind: MediaKind::Image,
            name: "photo.jpg",
            data: file(b"\xff\xd8\xff\xe0JFIF", 70_001, 21),
            meta: MediaMeta {
                mimetype: "image/jpeg".into(),
                caption: Some("the blue sofa".into()),
                jpeg_thumbnail: Some(thumb.clone()),
                width: Some(800),
                height: Some(600),
                ..MediaMeta::default()
            },
        },
        Case {
            kind: MediaKind::Audio,
            name: "voice.ogg",
            data: file(b"OggS", 33_333, 22),
            meta: MediaMeta {
                mimetype: "audio/ogg; codecs=opus".into(),
                seconds: Some(9),
                ptt: true,
                ..MediaMeta::default()
            },
        },
        Case {
            kind: MediaKind::Video,
            name: "tour.mp4",
            data: file(b"\0\0\0\x20ftypisom", 2_000_003, 23),
            meta: MediaMeta {
                mimetype: "video/mp4".into(),
                caption: Some("walk-through".into()),
                seconds: Some(42),
                jpeg_thumbnail: Some(thumb),
                ..MediaMeta::default()
            },
        },
        Case {
            kind: MediaKind::Document,
            name: "brochure.pdf",
            data: file(b"%PDF-1.4\n", 250_017, 24),
            meta: MediaMeta {
                mimetype: "application/pdf".into(),
                file_name: Some("brochure.pdf".into()),
                ..MediaMeta::default()
            },
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baileys_and_our_engine_exchange_every_media_type_byte_identical() {
    require_node();
    tokio::time::timeout(Duration::from_secs(240), cross_check())
        .await
        .expect("the Baileys media cross-check took more than 240 s");
}

async fn cross_check() {
    let fake = FakeWhatsApp::start(Config::default()).await.unwrap();
    let me = fake.phone().clone();
    let lead = fake
        .add_account("15550002222", "100000000000002", "Lead")
        .unwrap();
    let mut engine = linked_engine(&fake, &me).await;

    let dir = std::env::temp_dir().join(format!("baileys-media-{}", std::process::id()));
    let (auth, inbox, outbox) = (dir.join("auth"), dir.join("inbox"), dir.join("outbox"));
    for d in [&auth, &inbox, &outbox] {
        std::fs::create_dir_all(d).unwrap();
    }
    let mut baileys = Baileys::spawn(&fake, &auth, &inbox);
    let qr = baileys.expect("QR ").await;
    lead.scan(&qr).unwrap();
    baileys.expect("OPEN").await;

    let our_jid = format!("{}@s.whatsapp.net", me.user());
    for case in cases() {
        // Baileys → our engine.
        let path = outbox.join(case.name);
        std::fs::write(&path, &case.data).unwrap();
        baileys
            .command(json!({
                "cmd": "send-media",
                "to": our_jid,
                "kind": case.kind.as_str(),
                "file": path,
                "mimetype": case.meta.mimetype,
                "caption": case.meta.caption,
                "fileName": case.meta.file_name,
                "ptt": case.meta.ptt,
                "seconds": case.meta.seconds,
                "thumbnail": case.meta.jpeg_thumbnail.as_ref()
                    .map(|t| base64::engine::general_purpose::STANDARD.encode(t)),
            }))
            .await;
        let sent = baileys.event("SENT").await;
        let id = sent["id"].as_str().expect("SENT id").to_owned();
        let message = inbound(&mut engine, &id).await;
        let media = message
            .media
            .clone()
            .expect("our engine sees a media message");
        assert_eq!(media.kind, case.kind);
        assert_eq!(media.meta.mimetype, case.meta.mimetype);
        assert_eq!(media.meta.caption, case.meta.caption);
        assert_eq!(media.meta.file_name, case.meta.file_name);
        assert_eq!(media.meta.ptt, case.meta.ptt);
        assert_eq!(media.meta.seconds, case.meta.seconds);
        assert_eq!(media.file_length, case.data.len() as u64);
        assert_eq!(
            download(&engine, &media).await.unwrap(),
            case.data,
            "{} from Baileys",
            case.name
        );

        // Our engine → Baileys, which downloads and decrypts it with its own code.
        let uploaded = upload(
            &engine,
            case.kind,
            case.meta.clone(),
            MediaSource::File(path.clone()),
        )
        .await
        .unwrap();
        let out_id = fake_whatsapp::new_message_id();
        engine
            .store
            .enqueue_media(&out_id, &format!("+{}", lead.user()), "", uploaded);
        engine.command(Command::Wake).await;
        let got = baileys.event("MEDIA").await;
        assert_eq!(got["id"], json!(out_id), "{got}");
        assert_eq!(got["kind"], json!(case.kind.as_str()));
        assert_eq!(got["mimetype"], json!(case.meta.mimetype));
        assert_eq!(got["caption"], json!(case.meta.caption));
        assert_eq!(got["fileName"], json!(case.meta.file_name));
        assert_eq!(got["ptt"], json!(case.meta.ptt));
        assert_eq!(got["seconds"], json!(case.meta.seconds));
        let decrypted = std::fs::read(got["path"].as_str().expect("MEDIA path")).unwrap();
        assert!(
            decrypted == case.data,
            "{} as Baileys decrypted it differs",
            case.name
        );
    }
    let (uploads, downloads) = fake.media().counts();
    assert_eq!((uploads, downloads), (8, 8));
    let _ = std::fs::remove_dir_all(&dir);
}
