//! The `ClientPayload` of the handshake's last message: a registration (a device that is not
//! paired yet) or a login (a paired device). Shapes follow what WhatsApp Web sends (facts from
//! Baileys' `validate-connection.js`).

use md5::Digest as _;
use prost::Message as _;

use super::config::ClientConfig;
use crate::creds::Credentials;
use crate::proto::client_payload::{
    self, ConnectReason, ConnectType, DevicePairingRegistrationData, UserAgent, WebInfo,
};
use crate::proto::{ClientPayload, DeviceProps, device_props};

/// The companion platform id a QR code and pairing code carry (Chrome = 1).
pub fn companion_platform_id(browser: &str) -> &'static str {
    match browser {
        "Chrome" => "1",
        "Edge" => "2",
        "Firefox" => "3",
        "IE" => "4",
        "Opera" => "5",
        "Safari" => "6",
        _ => "9",
    }
}

fn common(config: &ClientConfig) -> ClientPayload {
    let [primary, secondary, tertiary] = config.version;
    ClientPayload {
        connect_type: Some(ConnectType::WifiUnknown as i32),
        connect_reason: Some(ConnectReason::UserActivated as i32),
        user_agent: Some(UserAgent {
            platform: Some(client_payload::user_agent::Platform::Web as i32),
            app_version: Some(client_payload::user_agent::AppVersion {
                primary: Some(primary),
                secondary: Some(secondary),
                tertiary: Some(tertiary),
                ..Default::default()
            }),
            mcc: Some("000".into()),
            mnc: Some("000".into()),
            os_version: Some("0.1".into()),
            device: Some("Desktop".into()),
            os_build_number: Some("0.1".into()),
            release_channel: Some(client_payload::user_agent::ReleaseChannel::Release as i32),
            locale_language_iso6391: Some("en".into()),
            locale_country_iso31661_alpha2: Some("US".into()),
            ..Default::default()
        }),
        web_info: Some(WebInfo {
            web_sub_platform: Some(client_payload::web_info::WebSubPlatform::WebBrowser as i32),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A login with paired credentials: `username` is our phone number, `device` our device id.
pub fn login(config: &ClientConfig, username: u64, device: u16) -> ClientPayload {
    ClientPayload {
        username: Some(username),
        device: Some(u32::from(device)),
        passive: Some(true),
        pull: Some(true),
        lid_db_migrated: Some(false),
        ..common(config)
    }
}

/// A registration: our keys for the phone to link, and how we appear in its device list.
pub fn registration(config: &ClientConfig, creds: &Credentials) -> ClientPayload {
    let version = config
        .version
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".");
    // WhatsApp Web sends the MD5 of its version string as the build hash.
    let build_hash = md5::Md5::digest(version.as_bytes()).to_vec();
    let platform_type = match config.browser.as_str() {
        "Firefox" => device_props::PlatformType::Firefox,
        "Safari" => device_props::PlatformType::Safari,
        "Edge" => device_props::PlatformType::Edge,
        _ => device_props::PlatformType::Chrome,
    };
    let props = DeviceProps {
        os: Some(config.os.clone()),
        version: Some(device_props::AppVersion {
            primary: Some(10),
            secondary: Some(15),
            tertiary: Some(7),
            ..Default::default()
        }),
        platform_type: Some(platform_type as i32),
        require_full_sync: Some(false),
        history_sync_config: Some(device_props::HistorySyncConfig {
            storage_quota_mb: Some(10_240),
            inline_initial_payload_in_e2_ee_msg: Some(true),
            ..Default::default()
        }),
    };
    let signed = &creds.signed_pre_key;
    ClientPayload {
        passive: Some(false),
        pull: Some(false),
        device_pairing_data: Some(DevicePairingRegistrationData {
            e_regid: Some(creds.registration_id.to_be_bytes().to_vec()),
            e_keytype: Some(vec![signal::keys::DJB_TYPE]),
            e_ident: Some(creds.identity_public().to_vec()),
            e_skey_id: Some(signed.id.to_be_bytes()[1..].to_vec()),
            e_skey_val: Some(signed.key_pair.public.as_bytes().to_vec()),
            e_skey_sig: Some(signed.signature.to_vec()),
            build_hash: Some(build_hash),
            device_props: Some(props.encode_to_vec()),
        }),
        ..common(config)
    }
}
