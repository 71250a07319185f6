//! Fidelity: the unmodified Baileys client (`@whiskeysockets/baileys@7.0.0-rc14`, from the
//! workspace's node_modules) pairs by QR through the fake, reconnects from saved creds without
//! a QR, and reports 440 as `connectionReplaced`, a dropped socket as `connectionClosed` and 401
//! as `loggedOut`. Needs `node` and the workspace's npm
//! packages (`npm ci` at the workspace root); fails loudly without them.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fake_whatsapp::{Config, FakeWhatsApp};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::timeout;

fn fidelity_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fidelity")
}

fn require_node() {
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        matches!(&node, Ok(o) if o.status.success()),
        "the Baileys fidelity test needs `node` (>= 20) on PATH: {node:?}"
    );
    let baileys = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../node_modules/@whiskeysockets/baileys/package.json");
    let manifest = std::fs::read_to_string(&baileys).unwrap_or_else(|e| {
        panic!(
            "the Baileys fidelity test needs the workspace's npm packages (run `npm ci` in the \
             workspace root): {} unreadable: {e}",
            baileys.display()
        )
    });
    assert!(
        manifest.contains("\"version\": \"7.0.0-rc14\""),
        "expected @whiskeysockets/baileys 7.0.0-rc14 in {}",
        baileys.display()
    );
}

struct Baileys {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    seen: Vec<String>,
}

impl Baileys {
    fn spawn(fake: &FakeWhatsApp, auth_dir: &std::path::Path, exit_on_open: bool) -> Self {
        let mut cmd = Command::new("node");
        cmd.current_dir(fidelity_dir())
            .arg("--import")
            .arg("./patch-root.mjs")
            .arg("baileys-client.mjs")
            .env("FAKE_WA_ROOT_KEY", hex::encode(fake.root_public_key()))
            .env("FAKE_WA_URL", fake.url())
            .env("FAKE_WA_AUTH_DIR", auth_dir)
            .env("FAKE_WA_EXIT_ON_OPEN", if exit_on_open { "1" } else { "0" })
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn node");
        let stdout = child.stdout.take().expect("piped stdout");
        Self {
            child,
            lines: BufReader::new(stdout).lines(),
            seen: Vec::new(),
        }
    }

    /// Reads lines until one starts with `prefix`; returns it.
    async fn expect(&mut self, prefix: &str, limit: Duration) -> String {
        let found = timeout(limit, async {
            while let Some(line) = self.lines.next_line().await.expect("read node stdout") {
                self.seen.push(line.clone());
                if line.starts_with(prefix) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            Ok(None) => panic!("Baileys exited before {prefix:?}; saw {:?}", self.seen),
            Err(_) => panic!(
                "no {prefix:?} from Baileys within {limit:?}; saw {:?}",
                self.seen
            ),
        }
    }

    async fn exit_code(&mut self) -> Option<i32> {
        timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("Baileys did not exit")
            .expect("wait for node")
            .code()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baileys_pairs_reconnects_and_is_logged_out() {
    require_node();
    // The whole scenario is bounded so CI fails instead of hanging (it takes ~5 s here).
    timeout(Duration::from_secs(60), scenario())
        .await
        .expect("the Baileys fidelity scenario took more than 60 s");
}

async fn scenario() {
    let fake = FakeWhatsApp::start(Config::default()).await.unwrap();
    let auth = tempfile::tempdir().unwrap();
    let step = Duration::from_secs(20);

    // 1. Registration: Baileys shows a QR made of one of the fake's refs; the phone scans it.
    let mut first = Baileys::spawn(&fake, auth.path(), true);
    let qr_line = first.expect("QR ", step).await;
    let qr = qr_line.trim_start_matches("QR ");
    let offered = fake.pair_refs();
    assert_eq!(offered.len(), 1, "one registering connection");
    assert_eq!(offered[0].len(), 6);
    assert!(
        qr.contains(&format!("#{},", offered[0][0])),
        "the first QR carries the first ref: {qr}"
    );
    let jid = fake.phone().scan(qr).unwrap();
    assert_eq!(jid.to_string(), "15550001111:1@s.whatsapp.net");

    // 2. pair-success → signed reply → 515 → Baileys logs in with its new creds.
    first.expect("CLOSE 515", step).await;
    first.expect("OPEN", step).await;
    assert_eq!(first.exit_code().await, Some(0), "saw {:?}", first.seen);
    assert_eq!(fake.devices().len(), 1);
    assert_eq!(fake.logins(), 1);
    // Baileys saw 0 keys on the server and uploaded its INITIAL_PREKEY_COUNT (812) in one IQ.
    assert_eq!(fake.prekey_count("15550001111", 1), 812);

    // 3. A new process reconnects from the saved creds, without any QR.
    let mut second = Baileys::spawn(&fake, auth.path(), false);
    second.expect("OPEN", step).await;
    assert_eq!(fake.logins(), 2);
    assert_eq!(
        fake.prekey_count("15550001111", 1),
        812,
        "enough keys: no re-upload"
    );

    // 4. Another session replaces it: 440 is Baileys' connectionReplaced (the script then exits 1
    //    since it does not reconnect on purpose).
    fake.wait_until("the logged-in connection", step, |f| f.connections() == 1)
        .await
        .unwrap();
    assert_eq!(fake.kick(440), 1);
    second.expect("CLOSE 440", step).await;
    assert_eq!(second.exit_code().await, Some(1));

    // 5. A socket dropped without a goodbye is Baileys' connectionClosed (428).
    let mut third = Baileys::spawn(&fake, auth.path(), false);
    third.expect("OPEN", step).await;
    fake.wait_until("the logged-in connection", step, |f| f.connections() == 1)
        .await
        .unwrap();
    assert_eq!(fake.drop_sockets(), 1);
    third.expect("CLOSE 428", step).await;
    assert_eq!(third.exit_code().await, Some(1));

    // 6. The phone unlinks it: 401 is Baileys' loggedOut.
    let mut fourth = Baileys::spawn(&fake, auth.path(), false);
    fourth.expect("OPEN", step).await;
    assert_eq!(fake.logins(), 4);
    fake.wait_until("the logged-in connection", step, |f| f.connections() == 1)
        .await
        .unwrap();
    assert_eq!(fake.kick(401), 1);
    fourth.expect("CLOSE 401", step).await;
    fourth.expect("LOGGED_OUT", step).await;
    assert_eq!(fourth.exit_code().await, Some(0));
    assert!(fake.devices().is_empty(), "401 unlinks the device");

    // 7. The unlinked creds are refused at login (<failure reason="401">): loggedOut again.
    let mut fifth = Baileys::spawn(&fake, auth.path(), false);
    fifth.expect("CLOSE 401", step).await;
    fifth.expect("LOGGED_OUT", step).await;
    assert_eq!(fake.logins(), 4, "no login for an unlinked device");
    for run in [&second, &third, &fourth, &fifth] {
        assert!(
            !run.seen.iter().any(|l| l.starts_with("QR ")),
            "a paired client must not see a QR: {:?}",
            run.seen
        );
    }
}
