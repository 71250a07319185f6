//! Integration tests of the whole router against a real PostgreSQL (one fresh database per test).
//! One binary with a module per area, so it links once.

mod auth;
mod bad_input;
mod blackbox;
mod config;
mod health;
mod helpers;
mod jwt;
mod lifecycle;
mod pages;
mod server_fns;
mod whatsapp;
mod ws;
