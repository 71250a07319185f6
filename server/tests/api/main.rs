//! Integration tests of the whole router against a real PostgreSQL (one fresh database per test).
//! One binary with a module per area, so it links once.

mod api_keys;
mod auth;
mod bad_input;
mod blackbox;
mod config;
mod deploy_files;
mod embed;
mod fake_gotrue;
mod hardening;
mod health;
mod helpers;
mod host_leads;
mod jwt;
mod lifecycle;
mod media;
mod media_s3;
mod metrics;
mod openapi;
mod pages;
mod privacy;
mod rate_limits;
mod server_fns;
mod supabase;
mod test_keys;
mod webhooks;
mod whatsapp;
mod ws;
