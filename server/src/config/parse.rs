//! Parsers for single configuration values. Each returns the one-line message shown to the operator,
//! so a bad `.env` is fixed in one pass instead of one restart per mistake.

use std::time::Duration;

/// `SESSION_IDLE_TIMEOUT`: "30m", "1h", "900s", "2d" or plain seconds ("900").
pub fn duration(name: &str, raw: &str) -> Result<Duration, String> {
    let value = raw.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, unit) = value.split_at(split);
    let bad = || {
        format!(
            "{name} must be a duration like \"30m\", \"1h\", \"900s\" or plain seconds, got {raw:?}"
        )
    };
    let amount: u64 = digits.parse().map_err(|_| bad())?;
    let seconds_per_unit = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let seconds = amount.checked_mul(seconds_per_unit).ok_or_else(bad)?;
    if seconds == 0 {
        return Err(format!("{name} must be greater than zero, got {raw:?}"));
    }
    Ok(Duration::from_secs(seconds))
}

/// A positive integer in `min..=max` (ports, counts, milliseconds).
pub fn number(name: &str, raw: &str, min: u64, max: u64) -> Result<u64, String> {
    match raw.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{name} must be a whole number from {min} to {max}, got {raw:?}"
        )),
    }
}

pub fn boolean(name: &str, raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("{name} must be true or false, got {raw:?}")),
    }
}

/// An origin for CORS: `scheme://host[:port]`, no path. A trailing slash is tolerated because that is
/// how people copy URLs out of the address bar.
pub fn origin(name: &str, raw: &str) -> Result<String, String> {
    let value = raw.trim().trim_end_matches('/');
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    match rest {
        Some(authority)
            if !authority.is_empty() && !authority.contains(['/', '?', '#', ' ', '@']) =>
        {
            Ok(value.to_owned())
        }
        _ => Err(format!(
            "{name} must be an origin like https://app.example.com (scheme and host, no path), got {raw:?}"
        )),
    }
}

/// A comma-separated list of origins (`EMBED_ALLOWED_ORIGINS`), each checked like [`origin`], so a
/// `*`, a bare host or a URL with a path is refused: the list ends up in `frame-ancestors` and as
/// the only `postMessage` targets, so it must name exact origins. Empty entries are skipped.
pub fn origins(name: &str, raw: &str) -> Result<Vec<String>, String> {
    let mut list: Vec<String> = Vec::new();
    for entry in raw.split(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let value = origin(name, entry)?;
        if !list.contains(&value) {
            list.push(value);
        }
    }
    Ok(list)
}

/// `SUPABASE_URL`: the project's origin (`https://<ref>.supabase.co`, no path). The server sends
/// the service key and people's passwords there, so plain `http://` is allowed only for a loopback
/// host (a local Supabase, or the tests' fake GoTrue).
pub fn supabase_url(name: &str, raw: &str) -> Result<String, String> {
    let value = origin(name, raw).map_err(|_| {
        format!(
            "{name} must be the project URL like https://<ref>.supabase.co (no path), got {raw:?}"
        )
    })?;
    if let Some(authority) = value.strip_prefix("http://") {
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
        };
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            return Err(format!(
                "{name} must use https:// (plain http:// only for localhost / 127.0.0.1 / [::1]), got {raw:?}"
            ));
        }
    }
    Ok(value)
}

/// Any http(s) URL (MEDIA_S3_ENDPOINT). Only the shape is checked.
pub fn http_url(name: &str, raw: &str) -> Result<String, String> {
    let value = raw.trim().trim_end_matches('/');
    if (value.starts_with("https://") || value.starts_with("http://")) && value.len() > 8 {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "{name} must be an http(s) URL like https://xyz.supabase.co, got {raw:?}"
        ))
    }
}

/// A WebSocket URL (WHATSAPP_SERVER_URL): `wss://…` or, for the offline WhatsApp on loopback,
/// `ws://…`.
pub fn ws_url(name: &str, raw: &str) -> Result<String, String> {
    let value = raw.trim();
    let rest = value
        .strip_prefix("wss://")
        .or_else(|| value.strip_prefix("ws://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') && !rest.contains(' ') => {
            Ok(value.to_owned())
        }
        _ => Err(format!(
            "{name} must be a WebSocket URL like wss://web.whatsapp.com/ws/chat, got {raw:?}"
        )),
    }
}

/// A 32-byte public key as exactly 64 hex characters (WHATSAPP_ROOT_PUBLIC_KEY).
pub fn hex_key32(name: &str, raw: &str) -> Result<[u8; 32], String> {
    let value = raw.trim();
    hex_decode(value)
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| {
            format!("{name} must be 64 hex characters (a 32-byte public key), got {raw:?}")
        })
}

/// Decodes a 32-byte key given as 64 hex characters or as base64 (standard or URL-safe, padding
/// optional).
pub fn key32(name: &str, raw: &str) -> Result<[u8; 32], String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

    let value = raw.trim();
    let bytes = if value.len().is_multiple_of(2)
        && !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_hexdigit())
    {
        hex_decode(value)
    } else {
        [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(value).ok())
    };
    let Some(bytes) = bytes else {
        return Err(format!(
            "{name} must be 32 bytes (64 hex chars or base64), got a value that is neither hex nor base64 \
             (generate one with `openssl rand -hex 32`)"
        ));
    };
    let len = bytes.len();
    <[u8; 32]>::try_from(bytes)
        .map_err(|_| format!("{name} must be 32 bytes (64 hex chars or base64), got {len} bytes"))
}

pub fn hex_decode(value: &str) -> Option<Vec<u8>> {
    if !value.len().is_multiple_of(2) {
        return None;
    }
    (0..value.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(value.get(i..i + 2)?, 16).ok())
        .collect()
}

pub fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_lists() {
        assert_eq!(
            super::origins("E", " https://a.example, http://127.0.0.1:4000/ ,,").unwrap(),
            ["https://a.example", "http://127.0.0.1:4000"]
        );
        for bad in [
            "*",
            "https://a.example/path",
            "a.example",
            "https://a.example,*",
        ] {
            assert!(super::origins("E", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn supabase_urls_are_https_unless_loopback() {
        for ok in [
            "https://abc.supabase.co",
            "https://abc.supabase.co/",
            "http://127.0.0.1:54321",
            "http://localhost:54321",
            "http://[::1]:54321",
        ] {
            assert!(supabase_url("SUPABASE_URL", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://abc.supabase.co",
            "http://10.0.0.5:8000",
            "https://abc.supabase.co/auth/v1",
            "abc.supabase.co",
            "http://127.0.0.1.evil.example",
        ] {
            assert!(supabase_url("SUPABASE_URL", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn websocket_urls_and_hex_keys() {
        assert_eq!(
            ws_url("U", "wss://web.whatsapp.com/ws/chat").as_deref(),
            Ok("wss://web.whatsapp.com/ws/chat")
        );
        assert!(ws_url("U", "ws://127.0.0.1:5222/ws/chat").is_ok());
        for bad in [
            "https://web.whatsapp.com",
            "wss://",
            "web.whatsapp.com",
            "ws:///x",
        ] {
            assert!(ws_url("U", bad).is_err(), "{bad}");
        }
        assert_eq!(hex_key32("K", &"ab".repeat(32)), Ok([0xab; 32]));
        for bad in ["ab", &"zz".repeat(32), &"ab".repeat(33)] {
            let err = hex_key32("K", bad).unwrap_err();
            assert!(err.starts_with("K must be 64 hex characters"), "{err}");
        }
    }

    #[test]
    fn durations_accept_units_and_plain_seconds() {
        assert_eq!(duration("X", "30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(duration("X", "1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(duration("X", "900s"), Ok(Duration::from_secs(900)));
        assert_eq!(duration("X", "900"), Ok(Duration::from_secs(900)));
        assert!(duration("X", "0").is_err());
        assert!(duration("X", "ten minutes").is_err());
        assert!(duration("X", "5w").is_err());
        assert!(duration("X", "").is_err());
        assert!(duration("X", "99999999999999999999d").is_err());
    }

    #[test]
    fn keys_decode_from_hex_and_base64_and_report_length() {
        let hex = "00".repeat(32);
        assert_eq!(key32("K", &hex), Ok([0u8; 32]));
        let b64 = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
        assert_eq!(key32("K", b64), Ok([1u8; 32]));
        assert_eq!(
            key32("K", &"ab".repeat(17)),
            Err("K must be 32 bytes (64 hex chars or base64), got 17 bytes".to_owned())
        );
        let err = key32("K", "your-secret-key-32-chars-long!!").unwrap_err();
        assert!(err.contains("neither hex nor base64"), "{err}");
    }

    #[test]
    fn origins_must_not_have_paths() {
        assert_eq!(
            origin("F", "http://localhost:3000/"),
            Ok("http://localhost:3000".into())
        );
        assert!(origin("F", "localhost:3000").is_err());
        assert!(origin("F", "https://a.example/app").is_err());
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(
            hex_decode(&hex_encode(&[0, 1, 254, 255])),
            Some(vec![0, 1, 254, 255])
        );
        assert_eq!(hex_decode("zz"), None);
    }
}
