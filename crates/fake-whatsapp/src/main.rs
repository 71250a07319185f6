//! `cargo run -p fake-whatsapp -- --port N [--control-port M] [--static-key HEX]
//! [--media-ttl SECS]`: runs the fake on loopback and prints `url …`, `root <hex>` (the key
//! clients must trust), `static <hex>` (its Noise static public key, which clients cache to
//! resume) and, with `--control-port`, `control http://…` (see [`fake_whatsapp::control`]).
//! Its media host (plain HTTP, or TLS with a self-signed certificate) is named to clients by the
//! `media_conn` IQ; blobs expire after `--media-ttl` seconds (default 30 days). `--static-key`
//! takes 32 private bytes in hex, so a restarted fake keeps its key and clients resume by Noise
//! IK (a new key makes them fall back). Stdin takes `scan <qr>`, `kick <code>` and `drop`; the fake keeps running when
//! stdin closes, until it is killed.
//!
//! Logs go to stderr through `tracing`: `RUST_LOG` picks the level (default `fake_whatsapp=warn`:
//! only what went wrong on the fake's side; `debug` adds why each connection ended, e.g. a client
//! closing the WebSocket during the handshake, with its close code); `FAKE_WHATSAPP_DEBUG=1`
//! means `fake_whatsapp=trace`, every stanza sent.

use std::net::SocketAddr;

use std::sync::Arc;

use fake_whatsapp::{Config, FakeWhatsApp, control};
use tokio::io::{AsyncBufReadExt, BufReader};
use tracing_subscriber::EnvFilter;

const USAGE: &str =
    "usage: fake-whatsapp [--port N] [--control-port M] [--static-key HEX32] [--media-ttl SECS]";

/// Logs to stderr: `FAKE_WHATSAPP_DEBUG` (everything), else `RUST_LOG`, else warnings.
fn init_logging() {
    let filter = if std::env::var_os("FAKE_WHATSAPP_DEBUG").is_some() {
        EnvFilter::new("fake_whatsapp=trace")
    } else {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("fake_whatsapp=warn"))
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Parses the command line into a config and the control port.
fn parse_args() -> Option<(Config, Option<u16>)> {
    let mut config = Config::default();
    let mut port: u16 = 0;
    let mut control_port = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next()?;
        match arg.as_str() {
            "--port" => port = value.parse().ok()?,
            "--control-port" => control_port = Some(value.parse().ok()?),
            "--static-key" => {
                let bytes = hex::decode(value.trim()).ok()?;
                config.static_key = Some(bytes.try_into().ok()?);
            }
            "--media-ttl" => {
                config.media_ttl = std::time::Duration::from_secs(value.parse().ok()?);
            }
            _ => return None,
        }
    }
    config.bind = SocketAddr::from(([127, 0, 0, 1], port));
    Some((config, control_port))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    init_logging();
    let Some((config, control_port)) = parse_args() else {
        eprintln!("{USAGE}");
        return std::process::ExitCode::from(2);
    };
    let fake = match FakeWhatsApp::start(config).await {
        Ok(f) => Arc::new(f),
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("url {}", fake.url());
    println!("root {}", hex::encode(fake.root_public_key()));
    println!("static {}", hex::encode(fake.static_public_key()));
    let _control = match control_port {
        Some(p) => {
            match control::serve(fake.clone(), SocketAddr::from(([127, 0, 0, 1], p))).await {
                Ok((addr, task)) => {
                    println!("control http://{addr}");
                    Some(task)
                }
                Err(e) => {
                    tracing::error!("cannot start the control API: {e}");
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
