//! The S3 side of the media storage against an S3-compatible server: moto's S3 server (PyPI
//! `moto[server]`, installed by `scripts/setup-test.sh` into `target/moto-venv`), the stand-in
//! for AWS S3 / MinIO, which are unreachable here. Files are put (in one request and in parts),
//! found, read whole and by range, and deleted, through the same `MediaStorage` the server uses.
//! Fails loudly when moto is missing.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt as _;
use server::media::{MediaStorage, StorageConfig};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn moto_server() -> PathBuf {
    if let Ok(path) = std::env::var("MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = root.join("target/moto-venv/bin/moto_server");
    assert!(
        path.exists(),
        "moto's S3 server is missing at {}: run `source scripts/setup-test.sh` (it installs moto[server] from PyPI)",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP request (moto takes unsigned bucket creation); the status code.
async fn http(port: u16, method: &str, path: &str) -> Option<u16> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.ok()?;
    String::from_utf8_lossy(&raw)
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

async fn read_all(file: server::media::storage::StoredFile) -> Vec<u8> {
    let mut stream = file.stream;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_live_in_an_s3_compatible_bucket() {
    let port = free_port();
    let mut moto = tokio::process::Command::new(moto_server())
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("moto_server starts");
    let mut up = false;
    for _ in 0..200 {
        if http(port, "GET", "/").await.is_some() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "moto_server did not answer within 20 s");
    assert_eq!(http(port, "PUT", "/rarity-media").await, Some(200));

    let storage = MediaStorage::open(&StorageConfig::S3 {
        bucket: "rarity-media".into(),
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        region: "us-east-1".into(),
        credentials: Some(("test-key".into(), "test-secret".to_owned().into())),
    })
    .expect("the S3 storage opens");
    let dir = std::env::temp_dir().join(format!("rarity-s3-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let user = uuid::Uuid::new_v4();

    // A small file in one put, and a 9 MiB one in parts (S3's multipart upload).
    for (size, sha) in [
        (5_000usize, "a".repeat(64)),
        (9 * 1024 * 1024 + 7, "b".repeat(64)),
    ] {
        let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let path = dir.join(&sha);
        std::fs::write(&path, &data).unwrap();
        assert!(!storage.has(user, &sha, None).await.unwrap());
        storage.put_file(user, &sha, &path).await.unwrap();
        assert!(storage.has(user, &sha, Some(size as u64)).await.unwrap());
        assert!(!storage.has(uuid::Uuid::new_v4(), &sha, None).await.unwrap());
        let whole = storage.get(user, &sha, None).await.unwrap();
        assert_eq!(whole.size, size as u64);
        assert!(read_all(whole).await == data, "{size} bytes round-trip");
        let part = storage.get(user, &sha, Some(100..200)).await.unwrap();
        assert_eq!(part.range, 100..200);
        assert_eq!(read_all(part).await, data[100..200]);
        // Stored once: a second put is a no-op.
        storage.put_file(user, &sha, &path).await.unwrap();
        storage.delete(user, &sha).await.unwrap();
        assert!(!storage.has(user, &sha, None).await.unwrap());
        storage.delete(user, &sha).await.unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = moto.kill().await;
}
