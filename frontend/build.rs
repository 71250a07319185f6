//! The WASM is linked with its relocations kept (`--emit-relocs`): `scripts/build-site.sh` needs
//! them to cut the lazy routes and `#[lazy]` functions out into chunks (scripts/wasm-split).
fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo::rustc-link-arg-cdylib=--emit-relocs");
    }
}
