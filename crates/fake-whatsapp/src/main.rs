//! `cargo run -p fake-whatsapp -- --port N [--control-port M]`: runs the fake on loopback and
//! prints `url …`, `root <hex>` (the key clients must trust) and, with `--control-port`,
//! `control http://…` (see [`fake_whatsapp::control`]). Stdin takes `scan <qr>`, `kick <code>`
//! and `drop`; the fake keeps running when stdin closes, until it is killed.

use std::net::SocketAddr;

use std::sync::Arc;

use fake_whatsapp::{Config, FakeWhatsApp, control};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut port: u16 = 0;
    let mut control_port: Option<u16> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next().map(|v| v.parse::<u16>())) {
            ("--port", Some(Ok(p))) => port = p,
            ("--control-port", Some(Ok(p))) => control_port = Some(p),
            _ => {
                eprintln!("usage: fake-whatsapp [--port N] [--control-port M]");
                return std::process::ExitCode::from(2);
            }
        }
    }
    let config = Config {
        bind: SocketAddr::from(([127, 0, 0, 1], port)),
        ..Config::default()
    };
    let fake = match FakeWhatsApp::start(config).await {
        Ok(f) => Arc::new(f),
        Err(e) => {
            eprintln!("fake-whatsapp: cannot start: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("url {}", fake.url());
    println!("root {}", hex::encode(fake.root_public_key()));
    let _control = match control_port {
        Some(p) => {
            match control::serve(fake.clone(), SocketAddr::from(([127, 0, 0, 1], p))).await {
                Ok((addr, task)) => {
                    println!("control http://{addr}");
                    Some(task)
                }
                Err(e) => {
                    eprintln!("fake-whatsapp: cannot start the control API: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            }
        }
        None => None,
    };
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
    // Stdin closed (e.g. started in the background): keep serving until killed.
    std::future::pending::<()>().await;
    std::process::ExitCode::SUCCESS
}
