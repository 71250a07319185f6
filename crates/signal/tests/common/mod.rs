//! Drives the libsignal-node peer (tests/interop/peer.mjs) over JSON lines.
//!
//! The peer needs `node` and the workspace's root node_modules (libsignal@6.0.0 and
//! @whiskeysockets/baileys). When either is missing the test fails with a message saying what
//! to install; it never skips.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

/// The directory holding `node_modules/libsignal`, found by walking up from this crate.
fn node_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in manifest.ancestors() {
        if dir.join("node_modules/libsignal/package.json").is_file()
            && dir
                .join("node_modules/@whiskeysockets/baileys/package.json")
                .is_file()
        {
            return dir.to_path_buf();
        }
    }
    panic!(
        "interop test needs libsignal@6.0.0 and @whiskeysockets/baileys in a node_modules above {} \
         — run `npm ci` at the workspace root",
        manifest.display()
    );
}

pub struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    pub fn start() -> Peer {
        let root = node_root();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/peer.mjs");
        let mut child = Command::new("node")
            .arg(&script)
            .current_dir(&root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("interop test needs `node` on PATH (Node 18+) to run {script:?}: {e}")
            });
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Peer {
            child,
            stdin,
            stdout,
        }
    }

    /// Sends one request and returns the reply, panicking on a peer-side error.
    pub fn call(&mut self, request: Value) -> Value {
        let reply = self.try_call(request.clone());
        assert!(
            reply["ok"] == json!(true),
            "peer failed {request}: {}",
            reply["error"]
        );
        reply
    }

    /// Sends one request and returns the reply, whether it succeeded or not.
    pub fn try_call(&mut self, request: Value) -> Value {
        writeln!(self.stdin, "{request}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        let n = self.stdout.read_line(&mut line).unwrap();
        assert!(
            n > 0,
            "node peer exited unexpectedly while handling {request}"
        );
        serde_json::from_str(&line).unwrap()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn hex_field(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(
        v[key]
            .as_str()
            .unwrap_or_else(|| panic!("missing {key} in {v}")),
    )
    .unwrap()
}

pub fn arr<const N: usize>(bytes: &[u8]) -> [u8; N] {
    bytes.try_into().unwrap()
}
