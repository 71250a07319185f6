//! The standalone binary: prints its addresses, root key and static key (kept across restarts
//! with `--static-key`), and its HTTP control API answers.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::time::timeout;
use whatsapp::handshake::KeyPair;

async fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let content_type = if body.starts_with('{') {
        "Content-Type: application/json\r\n"
    } else {
        ""
    };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{content_type}Content-Length: {}\r\n\r\n{body}",
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

const STATIC: [u8; 32] = [0x42; 32];

#[tokio::test]
async fn a_malformed_static_key_is_a_usage_error() {
    for bad in ["zz", "0102", &hex::encode([1u8; 33])] {
        let status = Command::new(env!("CARGO_BIN_EXE_fake-whatsapp"))
            .args(["--static-key", bad])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .unwrap();
        assert_eq!(status.code(), Some(2), "{bad}");
    }
}

#[tokio::test]
async fn binary_prints_root_key_and_serves_control_api() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-whatsapp"))
        .args([
            "--port",
            "0",
            "--control-port",
            "0",
            "--static-key",
            &hex::encode(STATIC),
        ])
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
    let static_key = next().await;
    assert_eq!(
        static_key.strip_prefix("static "),
        Some(hex::encode(KeyPair::from_private(STATIC).public()).as_str()),
        "the given static key is kept"
    );
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
    let (status, stats) = http(&control, "GET", "/stats", "").await;
    assert_eq!(status, 200);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["connections"], 0);
    assert_eq!(stats["logins"], 0);
    assert_eq!(stats["decrypt_failures"], 0);
    assert_eq!(stats["duplicates_ignored"], 0);
    assert_eq!(stats["resent"], 0);

    // Accounts: created once, then 409; bad numbers and missing fields are 400.
    let carol = r#"{"user":"15550002222","lid":"100000000000002","name":"Carol"}"#;
    let (status, body) = http(&control, "POST", "/accounts", carol).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(http(&control, "POST", "/accounts", carol).await.0, 409);
    let bad = r#"{"user":"+1 555","lid":"1"}"#;
    assert_eq!(http(&control, "POST", "/accounts", bad).await.0, 400);
    assert_eq!(
        http(&control, "POST", "/accounts", r#"{"user":"1"}"#)
            .await
            .0,
        400
    );
    assert_eq!(
        http(&control, "POST", "/accounts", "{not json").await.0,
        400
    );
    let (status, list) = http(&control, "GET", "/accounts", "").await;
    assert_eq!(status, 200);
    assert!(
        list.contains("15550002222") && list.contains("15550001111"),
        "{list}"
    );

    // Sending: to a known account without companions is fine (nobody to deliver to yet);
    // an unknown sender or recipient is 404.
    let send = r#"{"to":"15550002222","text":"hi"}"#;
    let (status, body) = http(&control, "POST", "/accounts/15550001111/send", send).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"id\":\"3EB0"), "{body}");
    assert_eq!(
        http(&control, "POST", "/accounts/19999999999/send", send)
            .await
            .0,
        404
    );
    let to_nobody = r#"{"to":"19999999999","text":"hi"}"#;
    assert_eq!(
        http(&control, "POST", "/accounts/15550001111/send", to_nobody)
            .await
            .0,
        404
    );
    let (status, body) = http(&control, "POST", "/accounts/15550001111/send-garbled", send).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"id\":\"3EB0"), "{body}");
    assert_eq!(
        http(
            &control,
            "POST",
            "/accounts/15550001111/send-garbled",
            to_nobody
        )
        .await
        .0,
        404
    );
    let typing = r#"{"to":"15550002222","state":"dancing"}"#;
    assert_eq!(
        http(&control, "POST", "/accounts/15550001111/typing", typing)
            .await
            .0,
        400
    );
    let receipt = r#"{"to":"15550002222","ids":[]}"#;
    assert_eq!(
        http(&control, "POST", "/accounts/15550001111/receipt", receipt)
            .await
            .0,
        400
    );
    assert_eq!(
        http(&control, "GET", "/accounts/15550002222/received", "").await,
        (200, "[]".to_owned())
    );

    // Faults: partial updates keep the other fields; out-of-range delays are refused.
    let (status, faults) = http(
        &control,
        "PUT",
        "/faults",
        r#"{"withhold_acks":true,"delay_ms":5}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        faults,
        r#"{"delay_ms":5,"duplicate_deliveries":false,"instant_restart":false,"withhold_acks":true,"withhold_receipts":false}"#
    );
    assert_eq!(
        http(&control, "PUT", "/faults", r#"{"delay_ms":-1}"#)
            .await
            .0,
        400
    );
    assert_eq!(http(&control, "GET", "/faults", "").await.1, faults);
    let (status, instant) = http(&control, "PUT", "/faults", r#"{"instant_restart":true}"#).await;
    assert_eq!(status, 200);
    assert!(instant.contains(r#""instant_restart":true"#), "{instant}");
    assert!(instant.contains(r#""withhold_acks":true"#), "{instant}");
    assert_eq!(
        http(&control, "GET", "/queued/15550001111/1", "").await,
        (200, r#"{"queued":0}"#.to_owned())
    );
    let (status, body) = http(&control, "POST", "/pair-code", r#"{"code":"ABCD1234"}"#).await;
    assert_eq!(status, 400, "no companion is waiting for a code: {body}");
    let (status, body) = http(
        &control,
        "POST",
        "/pair-code?account=19999999999",
        r#"{"code":"ABCD1234"}"#,
    )
    .await;
    assert_eq!(status, 404, "no such phone: {body}");
    // One device only: both its user and number, or neither.
    assert_eq!(
        http(&control, "POST", "/kick/401?user=15550001111", "")
            .await
            .0,
        400
    );
    assert_eq!(
        http(&control, "POST", "/kick/401?user=15550001111&device=x", "")
            .await
            .0,
        400
    );
    assert_eq!(
        http(&control, "POST", "/kick/401?user=15550001111&device=7", "").await,
        (200, r#"{"kicked":0}"#.to_owned())
    );

    // Stdin commands answer on stdout.
    let stdin = child.stdin.as_mut().unwrap();
    stdin.write_all(b"drop\n").await.unwrap();
    assert_eq!(next().await, "dropped 0");
    child.kill().await.unwrap();
}
