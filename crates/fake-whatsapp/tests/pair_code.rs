//! Pairing by phone-number code: the unmodified Baileys client (`@whiskeysockets/baileys@7.0.0-rc14`
//! from the workspace's node_modules) calls `requestPairingCode` for the fake phone's number, the
//! test types the code on the phone (`FakeWhatsApp::enter_pairing_code`), and Baileys gets
//! `pair-success`, restarts (515) and logs in. Needs `node` and the workspace's npm packages.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Baileys, require_node};
use fake_whatsapp::scenarios::STEP;
use fake_whatsapp::{Config, FakeError, FakeWhatsApp};
use tokio::time::timeout;

fn spawn(fake: &FakeWhatsApp, auth: &Path, phone: &str) -> Baileys {
    Baileys::script(
        fake,
        "baileys-pair-code.mjs",
        auth,
        &[("FAKE_WA_PHONE", phone)],
    )
}

/// `code` with its first character changed to another Crockford character.
fn wrong_code(code: &str) -> String {
    let replacement = if code.starts_with('A') { 'B' } else { 'A' };
    std::iter::once(replacement)
        .chain(code.chars().skip(1))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baileys_pairs_by_code() {
    require_node();
    timeout(Duration::from_secs(90), pairs_by_code())
        .await
        .expect("the Baileys pairing-code scenario took more than 90 s");
}

async fn pairs_by_code() {
    let fake = FakeWhatsApp::start(Config::default()).await.unwrap();
    let number = fake.phone().user().to_owned();
    assert_eq!(number, "15550001111");
    assert!(
        matches!(
            fake.enter_pairing_code("ABCD2345"),
            Err(FakeError::Pairing(_))
        ),
        "nobody is waiting for a code yet"
    );
    let auth = tempfile::tempdir().unwrap();
    let mut baileys = spawn(&fake, auth.path(), &number);
    let line = baileys.expect("CODE ", STEP).await;
    let code = line.trim_start_matches("CODE ").to_owned();
    assert_eq!(code.len(), 8, "{code}");
    fake.wait_until("the companion_hello", STEP, |f| {
        f.pairing_code_requests() == std::slice::from_ref(&number)
    })
    .await
    .unwrap();

    // A mistyped code is refused on the phone and nothing reaches the companion. The wrap is
    // unauthenticated, so ~1 in 32 wrong codes slips past the phone; the server then refuses
    // Baileys' companion_finish (its key bundle does not decrypt) and the companion stays
    // unpaired and waiting either way.
    match fake.enter_pairing_code(&wrong_code(&code)) {
        Err(FakeError::Pairing(_)) => {}
        Ok(()) => tokio::time::sleep(Duration::from_secs(2)).await,
        Err(e) => panic!("a wrong code must fail as Pairing: {e}"),
    }
    assert!(fake.devices().is_empty(), "a wrong code paired a device");
    assert_eq!(fake.pairing_code_requests(), std::slice::from_ref(&number));
    assert!(matches!(
        fake.enter_pairing_code("short"),
        Err(FakeError::Pairing(_))
    ));

    // The right code (typed as the phone shows it, with a dash): primary_hello →
    // companion_finish → pair-success → pair-device-sign → 515 → login.
    let typed = format!("{}-{}", &code[..4], &code[4..]);
    fake.enter_pairing_code(&typed).unwrap();
    baileys.expect("CLOSE 515", STEP).await;
    baileys.expect("OPEN", STEP).await;
    assert_eq!(baileys.exit_code().await, Some(0), "saw {:?}", baileys.seen);
    let devices = fake.devices();
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert_eq!(devices[0].user, number);
    assert_eq!(fake.logins(), 1);
    assert!(fake.pairing_code_requests().is_empty());
    assert!(
        !baileys
            .seen
            .iter()
            .any(|l| l.starts_with("CLOSE ") && l != "CLOSE 515"),
        "saw {:?}",
        baileys.seen
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_for_an_unknown_number_is_refused() {
    require_node();
    timeout(Duration::from_secs(60), unknown_number())
        .await
        .expect("the unknown-number scenario took more than 60 s");
}

async fn unknown_number() {
    let fake = FakeWhatsApp::start(Config::default()).await.unwrap();
    let auth = tempfile::tempdir().unwrap();
    let mut baileys = spawn(&fake, auth.path(), "15559999999");
    let line = baileys.expect("CODE ", STEP).await;
    let code = line.trim_start_matches("CODE ");
    // The server answers companion_hello with an iq error (Baileys does not wait for it).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(fake.pairing_code_requests().is_empty());
    assert!(matches!(
        fake.enter_pairing_code(code),
        Err(FakeError::Pairing(_))
    ));
    assert!(fake.devices().is_empty());
}
