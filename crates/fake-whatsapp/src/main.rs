//! `cargo run -p fake-whatsapp -- --port N`: runs the fake on loopback and prints its root public
//! key (hex) for clients to trust, then QR-scan lines typed on stdin (`scan <qr>`).

use std::net::SocketAddr;

use fake_whatsapp::{Config, FakeWhatsApp};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut port: u16 = 0;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next().map(|v| v.parse::<u16>())) {
            ("--port", Some(Ok(p))) => port = p,
            _ => {
                eprintln!("usage: fake-whatsapp [--port N]");
                return std::process::ExitCode::from(2);
            }
        }
    }
    let config = Config {
        bind: SocketAddr::from(([127, 0, 0, 1], port)),
        ..Config::default()
    };
    let fake = match FakeWhatsApp::start(config).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("fake-whatsapp: cannot start: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("url {}", fake.url());
    println!("root {}", hex::encode(fake.root_public_key()));
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let line = line.trim();
        let result = if let Some(qr) = line.strip_prefix("scan ") {
            fake.phone().scan(qr).map(|jid| format!("paired {jid}"))
        } else if let Some(code) = line.strip_prefix("kick ").and_then(|c| c.parse().ok()) {
            Ok(format!("kicked {}", fake.kick(code)))
        } else if line == "drop" {
            Ok(format!("dropped {}", fake.drop_sockets()))
        } else {
            Ok("commands: scan <qr> | kick <code> | drop".to_owned())
        };
        match result {
            Ok(msg) => println!("{msg}"),
            Err(e) => println!("error {e}"),
        }
    }
    std::process::ExitCode::SUCCESS
}
