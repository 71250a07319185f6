//! The standalone binary: prints its addresses and root key, and its HTTP control API answers.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::time::timeout;

async fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

#[tokio::test]
async fn binary_prints_root_key_and_serves_control_api() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-whatsapp"))
        .args(["--port", "0", "--control-port", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = async || {
        timeout(Duration::from_secs(10), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
    };
    let url = next().await;
    assert!(
        url.starts_with("url ws://127.0.0.1:") && url.ends_with("/ws/chat"),
        "{url}"
    );
    let root = next().await;
    let root = root.strip_prefix("root ").unwrap().to_owned();
    assert_eq!(hex::decode(&root).unwrap().len(), 32);
    let control = next().await;
    let control = control.strip_prefix("control http://").unwrap().to_owned();

    assert_eq!(http(&control, "GET", "/root-key", "").await, (200, root));
    assert_eq!(
        http(&control, "GET", "/refs", "").await,
        (200, "[]".to_owned())
    );
    let (status, reason) = http(&control, "POST", "/scan", "not,a,qr").await;
    assert_eq!(status, 400, "{reason}");
    assert_eq!(
        http(&control, "POST", "/kick/440", "").await,
        (200, r#"{"kicked":0}"#.to_owned())
    );
    assert_eq!(
        http(&control, "GET", "/stats", "").await,
        (200, r#"{"connections":0,"logins":0}"#.to_owned())
    );

    // Stdin commands answer on stdout.
    let stdin = child.stdin.as_mut().unwrap();
    stdin.write_all(b"drop\n").await.unwrap();
    assert_eq!(next().await, "dropped 0");
    child.kill().await.unwrap();
}
