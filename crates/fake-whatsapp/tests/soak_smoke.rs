//! The soak script (`soak/soak.mjs`) at a size CI affords: 10 Baileys clients pair through the
//! standalone binary and exchange verified texts for 5 seconds. It keeps the script working; the
//! numbers it prints are for reading, not asserted (the real soak is 200 clients, see README).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::require_node;
use tokio::process::Command;
use tokio::time::timeout;

#[tokio::test]
async fn ten_clients_exchange_messages_without_errors() {
    require_node();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("soak/soak.mjs");
    let run = Command::new("node")
        .arg(&script)
        .args(["--clients", "10", "--seconds", "5", "--drain", "60"])
        .env("FAKE_WA_BIN", env!("CARGO_BIN_EXE_fake-whatsapp"))
        .kill_on_drop(true)
        .output();
    let output = timeout(Duration::from_secs(240), run)
        .await
        .expect("the soak did not finish within 240 s")
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "soak failed ({:?}):\n{stdout}\n{stderr}",
        output.status
    );
    let errors = stdout
        .lines()
        .find(|l| l.starts_with("ERRORS"))
        .unwrap_or_else(|| panic!("no ERRORS line in:\n{stdout}"));
    assert_eq!(errors.split_whitespace().last(), Some("0"), "{stdout}");
    assert!(
        stdout.contains("clients (open / asked)         10 / 10"),
        "{stdout}"
    );
    eprintln!("{stdout}");
}
