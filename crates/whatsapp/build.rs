//! Compiles our `.proto` subset with prost. `protox` parses the files in pure Rust, so building
//! this crate needs no `protoc` binary on the machine or in CI.

const PROTO_DIR: &str = "proto";
const FILES: [&str; 6] = [
    "handshake.proto",
    "client_payload.proto",
    "adv.proto",
    "message.proto",
    "history_sync.proto",
    "engine.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_DIR}");
    for file in FILES {
        println!("cargo:rerun-if-changed={PROTO_DIR}/{file}");
    }
    let descriptors = protox::compile(FILES, [PROTO_DIR])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
