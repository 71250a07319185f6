//! Loads configuration, installs logging and runs the server (or, as `server rotate-key`,
//! re-encrypts the stored WhatsApp sessions under a new key). Everything else is in the library.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    // Before the configuration: `--version` must answer on a machine that is not set up.
    if matches!(
        std::env::args().nth(1).as_deref(),
        Some("--version" | "-V" | "version")
    ) {
        println!("server {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let config = match server::Config::load() {
        Ok(config) => config,
        Err(e) => {
            for problem in &e.problems {
                eprintln!("config error: {problem}");
            }
            return ExitCode::from(2);
        }
    };
    if let Err(e) = server::telemetry::init(config.log_format) {
        eprintln!("cannot install the logger: {e}");
        return ExitCode::FAILURE;
    }
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("rotate-key") => return rotate_key(&config).await,
        Some(other) => {
            eprintln!("unknown command {other:?}; usage: server [rotate-key | --version]");
            return ExitCode::from(2);
        }
    }
    match server::run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server stopped with an error");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn rotate_key(config: &server::Config) -> ExitCode {
    let new_key = std::env::var("NEW_SESSION_ENCRYPTION_KEY").ok();
    match server::rotate::rotate_key(config, new_key.as_deref()).await {
        Ok(report) => {
            println!(
                "rotated {} account(s), {} value(s) re-encrypted, {} already under the new key; \
                 now set SESSION_ENCRYPTION_KEY to the new key",
                report.sessions, report.rows, report.already_rotated
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rotate-key: {e}");
            ExitCode::FAILURE
        }
    }
}
