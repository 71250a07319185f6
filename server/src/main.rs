//! Loads configuration, installs logging and runs the server. Everything else is in the library.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
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
    match server::run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server stopped with an error");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
