//! Start-up validation reports each problem on its own line (unit tests cover every parser).

use server::Config;

fn problems(pairs: &[(&str, &str)]) -> Vec<String> {
    let map: std::collections::HashMap<&str, &str> = pairs.iter().copied().collect();
    Config::from_vars(|k| map.get(k).map(|v| (*v).to_owned()))
        .expect_err("config must be refused")
        .problems
}

#[test]
fn wrong_key_length_is_one_clear_line() {
    assert_eq!(
        problems(&[("SESSION_ENCRYPTION_KEY", "AAECAwQFBgcICQoLDA0ODxA=")]),
        vec!["SESSION_ENCRYPTION_KEY must be 32 bytes (64 hex chars or base64), got 17 bytes"]
    );
}

#[test]
fn bad_numbers_and_timeouts_each_get_a_line() {
    let lines = problems(&[
        ("PORT", "http"),
        ("WHATSAPP_MAX_SESSIONS_PER_USER", "0"),
        ("SESSION_IDLE_TIMEOUT", "30 minutes"),
        ("COOKIE_SECURE", "maybe"),
    ]);
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(lines[0].starts_with("PORT must be"));
    assert!(lines[1].starts_with("WHATSAPP_MAX_SESSIONS_PER_USER must be"));
    assert!(lines[2].starts_with("SESSION_IDLE_TIMEOUT must be a duration"));
    assert!(lines[3].starts_with("COOKIE_SECURE must be true or false"));
}
