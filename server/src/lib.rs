//! The Rarity Leads server: configuration, the axum router (Leptos pages, server functions, auth
//! forms, REST API, probes) and process start-up/shutdown. `main.rs` only wires these together.

pub mod api;
pub mod auth;
pub mod campaigns;
pub mod client_ip;
pub mod config;
pub mod embed;
pub mod engine;
pub mod form_errors;
pub mod health;
pub mod media;
pub mod request_id;
pub mod retention;
pub mod rotate;
pub mod router;
pub mod security;
pub mod startup;
pub mod state;
pub mod stats;
pub mod telemetry;
pub mod throttle;
pub mod webhooks;
pub mod ws;

pub use config::Config;
pub use router::router;
pub use startup::{StartupError, run};
pub use state::AppState;
