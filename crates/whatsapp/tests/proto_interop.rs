//! Our `.proto` subset against Baileys' WAProto (an independent implementation of WhatsApp's
//! schema): every message below is encoded by prost, decoded and re-encoded by Baileys in Node,
//! and must decode back to the same value. A field whose number or type differs from WhatsApp's
//! would be dropped, moved or rejected by Baileys and fail the comparison.
//!
//! Needs `node` and the workspace's npm packages (`npm ci` at the workspace root); fails loudly
//! without them.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use prost::Message as _;
use whatsapp::proto::{self, *};

/// Runs every `(Baileys type name, our bytes)` through Baileys and returns its bytes.
fn through_baileys(cases: &[(&str, Vec<u8>)]) -> Vec<Vec<u8>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node/proto_roundtrip.mjs");
    let mut child = Command::new("node")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("`node` is required for this test (Node.js 20+ on PATH)");
    let input: String = cases
        .iter()
        .map(|(ty, bytes)| format!("{ty} {}\n", hex::encode(bytes)))
        .collect();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "node script failed (run `npm ci` at the workspace root?):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Vec<u8>> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| hex::decode(l).unwrap())
        .collect();
    assert_eq!(lines.len(), cases.len());
    lines
}

fn context_info() -> ContextInfo {
    ContextInfo {
        stanza_id: Some("3EB0C0FFEE".into()),
        participant: Some("15550001111@s.whatsapp.net".into()),
        quoted_message: Some(Box::new(proto::Message {
            conversation: Some("quoted".into()),
            ..Default::default()
        })),
        remote_jid: Some("120363000000000000@g.us".into()),
        mentioned_jid: vec!["1@s.whatsapp.net".into(), "2@lid".into()],
        forwarding_score: Some(4),
        is_forwarded: Some(true),
        expiration: Some(86_400),
        ephemeral_setting_timestamp: Some(1_700_000_000),
    }
}

fn key() -> MessageKey {
    MessageKey {
        remote_jid: Some("15550001111@s.whatsapp.net".into()),
        from_me: Some(true),
        id: Some("3EB0ABCDEF".into()),
        participant: Some("15550002222:3@s.whatsapp.net".into()),
    }
}

fn every_message_kind() -> proto::Message {
    use proto::message::*;
    proto::Message {
        conversation: Some("hello 👋".into()),
        sender_key_distribution_message: Some(SenderKeyDistributionMessage {
            group_id: Some("120363000000000000@g.us".into()),
            axolotl_sender_key_distribution_message: Some(vec![0x33, 1, 2, 3]),
        }),
        image_message: Some(Box::new(ImageMessage {
            url: Some("https://mmg.whatsapp.net/x".into()),
            mimetype: Some("image/jpeg".into()),
            caption: Some("cap".into()),
            file_sha256: Some(vec![1; 32]),
            file_length: Some(123_456),
            height: Some(640),
            width: Some(480),
            media_key: Some(vec![2; 32]),
            file_enc_sha256: Some(vec![3; 32]),
            direct_path: Some("/v/t62".into()),
            media_key_timestamp: Some(1_700_000_001),
            jpeg_thumbnail: Some(vec![0xff, 0xd8]),
            context_info: Some(Box::new(context_info())),
            view_once: Some(true),
        })),
        extended_text_message: Some(Box::new(ExtendedTextMessage {
            text: Some("see https://example.com".into()),
            matched_text: Some("https://example.com".into()),
            description: Some("desc".into()),
            title: Some("title".into()),
            jpeg_thumbnail: Some(vec![9]),
            context_info: Some(Box::new(context_info())),
        })),
        sticker_message: Some(Box::new(StickerMessage {
            url: Some("https://mmg.whatsapp.net/s".into()),
            file_sha256: Some(vec![7; 32]),
            file_enc_sha256: Some(vec![8; 32]),
            media_key: Some(vec![9; 32]),
            mimetype: Some("image/webp".into()),
            height: Some(512),
            width: Some(512),
            direct_path: Some("/v/t62.15575-24/s".into()),
            file_length: Some(20_480),
            media_key_timestamp: Some(1_700_000_005),
            is_animated: Some(false),
            png_thumbnail: Some(vec![0x89, b'P']),
            context_info: None,
        })),
        document_with_caption_message: Some(Box::new(FutureProofMessage {
            message: Some(Box::new(proto::Message {
                document_message: Some(Box::new(DocumentMessage {
                    file_name: Some("inner.pdf".into()),
                    caption: Some("wrapped".into()),
                    ..Default::default()
                })),
                ..Default::default()
            })),
        })),
        document_message: Some(Box::new(DocumentMessage {
            url: Some("u".into()),
            mimetype: Some("application/pdf".into()),
            title: Some("t".into()),
            file_sha256: Some(vec![4]),
            file_length: Some(99),
            page_count: Some(3),
            media_key: Some(vec![5]),
            file_name: Some("a.pdf".into()),
            file_enc_sha256: Some(vec![6]),
            direct_path: Some("/d".into()),
            media_key_timestamp: Some(7),
            jpeg_thumbnail: Some(vec![8]),
            context_info: None,
            caption: Some("doc caption".into()),
        })),
        audio_message: Some(Box::new(AudioMessage {
            url: Some("u".into()),
            mimetype: Some("audio/ogg; codecs=opus".into()),
            file_sha256: Some(vec![1]),
            file_length: Some(2),
            seconds: Some(3),
            ptt: Some(true),
            media_key: Some(vec![4]),
            file_enc_sha256: Some(vec![5]),
            direct_path: Some("/a".into()),
            media_key_timestamp: Some(6),
            context_info: None,
            streaming_sidecar: Some(vec![7]),
            waveform: Some(vec![8, 9]),
            view_once: Some(false),
        })),
        video_message: Some(Box::new(VideoMessage {
            url: Some("u".into()),
            mimetype: Some("video/mp4".into()),
            file_sha256: Some(vec![1]),
            file_length: Some(2),
            seconds: Some(3),
            media_key: Some(vec![4]),
            caption: Some("vid".into()),
            gif_playback: Some(true),
            height: Some(5),
            width: Some(6),
            file_enc_sha256: Some(vec![7]),
            direct_path: Some("/v".into()),
            media_key_timestamp: Some(8),
            jpeg_thumbnail: Some(vec![9]),
            context_info: None,
            streaming_sidecar: Some(vec![10]),
            view_once: Some(true),
        })),
        protocol_message: Some(Box::new(ProtocolMessage {
            key: Some(key()),
            r#type: Some(protocol_message::Type::MessageEdit as i32),
            ephemeral_expiration: Some(604_800),
            ephemeral_setting_timestamp: Some(1),
            history_sync_notification: Some(HistorySyncNotification {
                file_sha256: Some(vec![1]),
                file_length: Some(2),
                media_key: Some(vec![3]),
                file_enc_sha256: Some(vec![4]),
                direct_path: Some("/h".into()),
                sync_type: Some(HistorySyncType::InitialBootstrap as i32),
                chunk_order: Some(5),
                original_message_id: Some("id".into()),
                progress: Some(6),
                oldest_msg_in_chunk_timestamp_sec: Some(7),
                initial_hist_bootstrap_inline_payload: Some(vec![8]),
                peer_data_request_session_id: Some("s".into()),
            }),
            app_state_sync_key_share: Some(AppStateSyncKeyShare {
                keys: vec![AppStateSyncKey {
                    key_id: Some(AppStateSyncKeyId {
                        key_id: Some(vec![0, 0, 0, 0, 0x5a, 0x3f]),
                    }),
                    key_data: Some(AppStateSyncKeyData {
                        key_data: Some(vec![7; 32]),
                        fingerprint: Some(AppStateSyncKeyFingerprint {
                            raw_id: Some(123_456_789),
                            current_index: Some(3),
                            device_indexes: vec![0, 1, 3],
                        }),
                        timestamp: Some(1_700_000_000_000),
                    }),
                }],
            }),
            app_state_sync_key_request: Some(AppStateSyncKeyRequest {
                key_ids: vec![AppStateSyncKeyId {
                    key_id: Some(vec![0, 0, 0, 0, 0x12, 0x34]),
                }],
            }),
            edited_message: Some(Box::new(proto::Message {
                conversation: Some("edited".into()),
                ..Default::default()
            })),
            timestamp_ms: Some(1_700_000_000_123),
        })),
        device_sent_message: Some(Box::new(DeviceSentMessage {
            destination_jid: Some("15550001111@s.whatsapp.net".into()),
            message: Some(Box::new(proto::Message {
                conversation: Some("to myself".into()),
                ..Default::default()
            })),
            phash: Some("2:abc".into()),
        })),
        message_context_info: Some(MessageContextInfo {
            device_list_metadata: Some(DeviceListMetadata {
                sender_key_hash: Some(vec![1, 2]),
                sender_timestamp: Some(3),
                sender_key_indexes: vec![1, 5, 9],
                sender_account_type: Some(AdvEncryptionType::Hosted as i32),
                receiver_account_type: Some(AdvEncryptionType::E2ee as i32),
                recipient_key_hash: Some(vec![4]),
                recipient_timestamp: Some(5),
                recipient_key_indexes: vec![2],
            }),
            device_list_metadata_version: Some(2),
            message_secret: Some(vec![7; 32]),
            padding_bytes: Some(vec![0; 3]),
        }),
        reaction_message: Some(ReactionMessage {
            key: Some(key()),
            text: Some("❤️".into()),
            grouping_key: Some("❤️".into()),
            sender_timestamp_ms: Some(1_700_000_000_999),
        }),
    }
}

fn web_message_info() -> WebMessageInfo {
    WebMessageInfo {
        key: Some(key()),
        message: Some(every_message_kind()),
        message_timestamp: Some(1_700_000_000),
        status: Some(web_message_info::Status::Read as i32),
        participant: Some("p@s.whatsapp.net".into()),
        message_c2s_timestamp: Some(1_700_000_001),
        ignore: Some(false),
        starred: Some(true),
        broadcast: Some(false),
        push_name: Some("Ana".into()),
        multicast: Some(true),
        message_stub_parameters: vec!["a".into(), "b".into()],
        duration: Some(5),
        labels: vec!["lead".into()],
        ephemeral_start_timestamp: Some(6),
        ephemeral_duration: Some(7),
        message_secret: Some(vec![1; 32]),
    }
}

fn login_payload() -> ClientPayload {
    use client_payload::*;
    ClientPayload {
        username: Some(15_551_234_567),
        passive: Some(true),
        user_agent: Some(UserAgent {
            platform: Some(user_agent::Platform::Web as i32),
            app_version: Some(user_agent::AppVersion {
                primary: Some(2),
                secondary: Some(3000),
                tertiary: Some(1_029_496_320),
                quaternary: Some(4),
                quinary: Some(5),
            }),
            mcc: Some("000".into()),
            mnc: Some("000".into()),
            os_version: Some("0.1".into()),
            manufacturer: Some("Rarity".into()),
            device: Some("Desktop".into()),
            os_build_number: Some("0.1".into()),
            phone_id: Some("phone".into()),
            release_channel: Some(user_agent::ReleaseChannel::Release as i32),
            locale_language_iso6391: Some("en".into()),
            locale_country_iso31661_alpha2: Some("US".into()),
            device_board: Some("board".into()),
        }),
        web_info: Some(WebInfo {
            ref_token: Some("ref".into()),
            version: Some("2.3000".into()),
            web_sub_platform: Some(web_info::WebSubPlatform::Darwin as i32),
        }),
        push_name: Some("Rarity".into()),
        session_id: Some(-123),
        short_connect: Some(true),
        connect_type: Some(ConnectType::WifiUnknown as i32),
        connect_reason: Some(ConnectReason::UserActivated as i32),
        connect_attempt_count: Some(2),
        device: Some(3),
        device_pairing_data: None,
        product: Some(Product::Whatsapp as i32),
        oc: Some(false),
        lc: Some(1),
        pull: Some(true),
        lid_db_migrated: Some(true),
    }
}

fn registration_payload() -> ClientPayload {
    let props = DeviceProps {
        os: Some("Rarity".into()),
        version: Some(device_props::AppVersion {
            primary: Some(10),
            secondary: Some(15),
            tertiary: Some(7),
            quaternary: None,
            quinary: None,
        }),
        platform_type: Some(device_props::PlatformType::Chrome as i32),
        require_full_sync: Some(false),
        history_sync_config: Some(device_props::HistorySyncConfig {
            full_sync_days_limit: Some(30),
            full_sync_size_mb_limit: Some(100),
            storage_quota_mb: Some(1024),
            inline_initial_payload_in_e2_ee_msg: Some(true),
            recent_sync_days_limit: Some(7),
        }),
    };
    ClientPayload {
        passive: Some(false),
        device_pairing_data: Some(client_payload::DevicePairingRegistrationData {
            e_regid: Some(vec![0, 0, 0x30, 0x39]),
            e_keytype: Some(vec![5]),
            e_ident: Some(vec![1; 32]),
            e_skey_id: Some(vec![0, 0, 1]),
            e_skey_val: Some(vec![2; 32]),
            e_skey_sig: Some(vec![3; 64]),
            build_hash: Some(vec![4; 16]),
            device_props: Some(props.encode_to_vec()),
        }),
        ..login_payload()
    }
}

#[test]
fn baileys_reads_and_writes_our_messages_identically() {
    let hs = HandshakeMessage {
        client_hello: Some(handshake_message::ClientHello {
            ephemeral: Some(vec![1; 32]),
            r#static: Some(vec![2; 48]),
            payload: Some(vec![3; 20]),
        }),
        server_hello: Some(handshake_message::ServerHello {
            ephemeral: Some(vec![4; 32]),
            r#static: Some(vec![5; 48]),
            payload: Some(vec![6; 200]),
        }),
        client_finish: Some(handshake_message::ClientFinish {
            r#static: Some(vec![7; 48]),
            payload: Some(vec![8; 100]),
        }),
    };
    let details = cert_chain::noise_certificate::Details {
        serial: Some(329),
        issuer_serial: Some(3),
        key: Some(vec![9; 32]),
        not_before: Some(1_742_850_000),
        not_after: Some(1_753_736_400),
    };
    let cert = cert_chain::NoiseCertificate {
        details: Some(details.encode_to_vec()),
        signature: Some(vec![1; 64]),
    };
    let chain = CertChain {
        leaf: Some(cert.clone()),
        intermediate: Some(cert),
    };
    let identity = AdvDeviceIdentity {
        raw_id: Some(12345),
        timestamp: Some(1_700_000_000),
        key_index: Some(4),
        account_type: Some(AdvEncryptionType::Hosted as i32),
        device_type: Some(AdvEncryptionType::E2ee as i32),
    };
    let signed = AdvSignedDeviceIdentity {
        details: Some(identity.encode_to_vec()),
        account_signature_key: Some(vec![1; 32]),
        account_signature: Some(vec![2; 64]),
        device_signature: Some(vec![3; 64]),
    };
    let hmac = AdvSignedDeviceIdentityHmac {
        details: Some(signed.encode_to_vec()),
        hmac: Some(vec![4; 32]),
        account_type: Some(AdvEncryptionType::Hosted as i32),
    };
    let key_index = AdvKeyIndexList {
        raw_id: Some(12345),
        timestamp: Some(1_700_000_000),
        current_index: Some(5),
        valid_indexes: vec![0, 3, 5],
        account_type: Some(AdvEncryptionType::E2ee as i32),
    };
    let signed_key_index = AdvSignedKeyIndexList {
        details: Some(key_index.encode_to_vec()),
        account_signature: Some(vec![5; 64]),
        account_signature_key: Some(vec![6; 32]),
    };
    let history = HistorySync {
        sync_type: Some(history_sync::HistorySyncType::Recent as i32),
        conversations: vec![Conversation {
            id: Some("15550001111@s.whatsapp.net".into()),
            messages: vec![HistorySyncMsg {
                message: Some(web_message_info()),
                msg_order_id: Some(1),
            }],
            new_jid: Some("n".into()),
            old_jid: Some("o".into()),
            last_msg_timestamp: Some(1),
            unread_count: Some(2),
            read_only: Some(false),
            end_of_history_transfer: Some(true),
            ephemeral_expiration: Some(3),
            ephemeral_setting_timestamp: Some(4),
            conversation_timestamp: Some(5),
            name: Some("Chat".into()),
            archived: Some(true),
            pinned: Some(6),
            mute_end_time: Some(7),
            display_name: Some("Display".into()),
            pn_jid: Some("15550001111@s.whatsapp.net".into()),
            lid_jid: Some("99@lid".into()),
            username: Some("user".into()),
        }],
        status_v3_messages: vec![web_message_info()],
        chunk_order: Some(2),
        progress: Some(50),
        pushnames: vec![Pushname {
            id: Some("15550001111@s.whatsapp.net".into()),
            pushname: Some("Ana".into()),
        }],
    };

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("HandshakeMessage", hs.encode_to_vec()),
        ("CertChain", chain.encode_to_vec()),
        (
            "CertChain.NoiseCertificate.Details",
            details.encode_to_vec(),
        ),
        ("ClientPayload", login_payload().encode_to_vec()),
        ("ClientPayload", registration_payload().encode_to_vec()),
        ("ADVDeviceIdentity", identity.encode_to_vec()),
        ("ADVSignedDeviceIdentity", signed.encode_to_vec()),
        ("ADVSignedDeviceIdentityHMAC", hmac.encode_to_vec()),
        ("ADVKeyIndexList", key_index.encode_to_vec()),
        ("Message", every_message_kind().encode_to_vec()),
        ("WebMessageInfo", web_message_info().encode_to_vec()),
        ("HistorySync", history.encode_to_vec()),
        ("ADVSignedKeyIndexList", signed_key_index.encode_to_vec()),
    ];
    let back = through_baileys(&cases);

    assert_eq!(HandshakeMessage::decode(back[0].as_slice()).unwrap(), hs);
    assert_eq!(CertChain::decode(back[1].as_slice()).unwrap(), chain);
    assert_eq!(
        cert_chain::noise_certificate::Details::decode(back[2].as_slice()).unwrap(),
        details
    );
    assert_eq!(
        ClientPayload::decode(back[3].as_slice()).unwrap(),
        login_payload()
    );
    let reg = ClientPayload::decode(back[4].as_slice()).unwrap();
    assert_eq!(reg, registration_payload());
    assert_eq!(
        AdvDeviceIdentity::decode(back[5].as_slice()).unwrap(),
        identity
    );
    assert_eq!(
        AdvSignedDeviceIdentity::decode(back[6].as_slice()).unwrap(),
        signed
    );
    assert_eq!(
        AdvSignedDeviceIdentityHmac::decode(back[7].as_slice()).unwrap(),
        hmac
    );
    assert_eq!(
        AdvKeyIndexList::decode(back[8].as_slice()).unwrap(),
        key_index
    );
    assert_eq!(
        proto::Message::decode(back[9].as_slice()).unwrap(),
        every_message_kind()
    );
    assert_eq!(
        WebMessageInfo::decode(back[10].as_slice()).unwrap(),
        web_message_info()
    );
    assert_eq!(HistorySync::decode(back[11].as_slice()).unwrap(), history);
    assert_eq!(
        AdvSignedKeyIndexList::decode(back[12].as_slice()).unwrap(),
        signed_key_index
    );

    // The nested DeviceProps bytes must survive as well.
    let props_bytes = reg.device_pairing_data.unwrap().device_props.unwrap();
    let props = through_baileys(&[("DeviceProps", props_bytes.clone())]);
    assert_eq!(props[0], props_bytes);
}
