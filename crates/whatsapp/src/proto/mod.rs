//! WhatsApp's protobuf messages: our own `.proto` subset under `crates/whatsapp/proto/`, compiled
//! by `build.rs` (prost + protox, no `protoc`). Field numbers match WhatsApp's (see the header of
//! each `.proto` file for the source).
//!
//! Decoding is `prost::Message::decode`, which returns an error (never panics) on malformed input
//! and skips unknown fields, so newer WhatsApp fields do not break us.

#![allow(clippy::all, missing_docs)] // generated code

include!(concat!(env!("OUT_DIR"), "/wa.rs"));
