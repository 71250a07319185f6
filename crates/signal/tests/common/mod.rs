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

/// One side of a conversation on our implementation, with an in-memory store.
pub mod rust_party {
    use rand_core::OsRng;
    use serde_json::{Value, json};
    use signal::keys::KeyPair;
    use signal::prekeys::{
        PreKeyBundle, PreKeyRecord, SignedPreKeyRecord, generate_registration_id,
    };
    use signal::store::InMemoryStore;

    pub fn new_store() -> InMemoryStore {
        InMemoryStore::new(
            KeyPair::generate(&mut OsRng),
            generate_registration_id(&mut OsRng),
        )
    }

    /// Publishes a signed pre-key (and optionally a one-time pre-key) with id `id`, returning
    /// the bundle in the peer's JSON shape and as our type.
    pub fn publish_bundle(
        store: &InMemoryStore,
        identity: &KeyPair,
        registration_id: u32,
        id: u32,
        with_pre_key: bool,
    ) -> (Value, PreKeyBundle) {
        let signed = SignedPreKeyRecord::generate(identity, id, &mut OsRng);
        store.add_signed_pre_key(signed.clone());
        let pre = with_pre_key.then(|| {
            let pre = PreKeyRecord {
                id,
                key_pair: KeyPair::generate(&mut OsRng),
            };
            store.add_pre_key(pre.clone());
            pre
        });
        let mut json = json!({
            "registrationId": registration_id,
            "identityKey": hex::encode(identity.public.serialize()),
            "signedPreKey": {
                "keyId": id,
                "publicKey": hex::encode(signed.key_pair.public.serialize()),
                "signature": hex::encode(signed.signature),
            },
        });
        if let Some(pre) = &pre {
            json["preKey"] =
                json!({"keyId": id, "publicKey": hex::encode(pre.key_pair.public.serialize())});
        }
        let bundle = PreKeyBundle {
            registration_id,
            device_id: 1,
            pre_key: pre.map(|p| (p.id, p.key_pair.public)),
            signed_pre_key_id: id,
            signed_pre_key: signed.key_pair.public,
            signed_pre_key_signature: signed.signature,
            identity_key: identity.public,
        };
        (json, bundle)
    }

    /// Our bundle type from the peer's JSON bundle.
    pub fn bundle_from_json(v: &Value) -> PreKeyBundle {
        let key = |s: &Value| {
            signal::keys::PublicKey::deserialize(&hex::decode(s.as_str().unwrap()).unwrap())
                .unwrap()
        };
        let spk = &v["signedPreKey"];
        PreKeyBundle {
            registration_id: v["registrationId"].as_u64().unwrap() as u32,
            device_id: 1,
            pre_key: v
                .get("preKey")
                .map(|p| (p["keyId"].as_u64().unwrap() as u32, key(&p["publicKey"]))),
            signed_pre_key_id: spk["keyId"].as_u64().unwrap() as u32,
            signed_pre_key: key(&spk["publicKey"]),
            signed_pre_key_signature: hex::decode(spk["signature"].as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap(),
            identity_key: key(&v["identityKey"]),
        }
    }
}
