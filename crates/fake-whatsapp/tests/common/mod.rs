//! What the Node-driven tests share: where the driver scripts live, and a loud failure when Node
//! or the pinned Baileys is missing (never a silent skip).

use std::path::PathBuf;

pub fn fidelity_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fidelity")
}

/// Panics unless `node` runs and the workspace's node_modules hold Baileys 7.0.0-rc14.
pub fn require_node() {
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        matches!(&node, Ok(o) if o.status.success()),
        "the Baileys tests need `node` (>= 20) on PATH: {node:?}"
    );
    let baileys = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../node_modules/@whiskeysockets/baileys/package.json");
    let manifest = std::fs::read_to_string(&baileys).unwrap_or_else(|e| {
        panic!(
            "the Baileys tests need the workspace's npm packages (run `npm ci` in the workspace \
             root): {} unreadable: {e}",
            baileys.display()
        )
    });
    assert!(
        manifest.contains("\"version\": \"7.0.0-rc14\""),
        "expected @whiskeysockets/baileys 7.0.0-rc14 in {}",
        baileys.display()
    );
}
