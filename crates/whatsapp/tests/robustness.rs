//! Arbitrary bytes into every decoder: nothing panics, nothing allocates on the strength of a
//! length claim.

use proptest::prelude::*;
use prost::Message;
use whatsapp::frame::{FrameDecoder, FrameError, decode_payload};
use whatsapp::handshake::{
    ClientHandshake, KeyPair, ServerHandshake, WHATSAPP_ROOT_KEY, verify_chain,
};
use whatsapp::proto;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn frame_decoder_never_panics(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..8),
                                  intro in any::<bool>()) {
        let mut dec = if intro { FrameDecoder::expecting_intro() } else { FrameDecoder::new() };
        let mut received = 0usize;
        for chunk in &chunks {
            received += chunk.len();
            dec.push(chunk);
            loop {
                match dec.next_frame() {
                    Ok(Some(frame)) => prop_assert!(frame.len() <= received),
                    Ok(None) => break,
                    Err(FrameError::BadIntro { .. } | FrameError::TooLarge { .. }) => return Ok(()),
                }
            }
            // Only received bytes are held, whatever the headers claimed.
            prop_assert!(dec.buffered_len() <= received);
            prop_assert!(dec.buffer_capacity() <= 4 * received.max(16));
        }
    }

    #[test]
    fn handshake_parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let (client, _) = ClientHandshake::start();
        prop_assert!(client.read_server_hello(&bytes, &WHATSAPP_ROOT_KEY, 0).is_err());
        let server_static = KeyPair::generate();
        if let Ok((server, _)) = ServerHandshake::respond(&bytes, &server_static, b"chain") {
            prop_assert!(server.read_client_finish(&bytes).is_err());
        }
        prop_assert!(verify_chain(&bytes, &WHATSAPP_ROOT_KEY, &[0; 32], 0).is_err());
    }

    #[test]
    fn a_live_responder_rejects_arbitrary_client_finishes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let (_, hello) = ClientHandshake::start();
        let (server, _) = ServerHandshake::respond(&hello, &KeyPair::generate(), b"chain").unwrap();
        prop_assert!(server.read_client_finish(&bytes).is_err());
    }

    #[test]
    fn well_formed_server_hellos_with_arbitrary_fields_are_rejected(
        ephemeral in prop::collection::vec(any::<u8>(), 0..40),
        encrypted_static in prop::collection::vec(any::<u8>(), 0..80),
        payload in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let hello = proto::HandshakeMessage {
            server_hello: Some(proto::handshake_message::ServerHello {
                ephemeral: Some(ephemeral),
                r#static: Some(encrypted_static),
                payload: Some(payload),
            }),
            ..Default::default()
        };
        let (client, _) = ClientHandshake::start();
        prop_assert!(client.read_server_hello(&hello.encode_to_vec(), &WHATSAPP_ROOT_KEY, 0).is_err());
    }

    #[test]
    fn protobuf_decoding_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = proto::HandshakeMessage::decode(bytes.as_slice());
        let _ = proto::CertChain::decode(bytes.as_slice());
        let _ = proto::ClientPayload::decode(bytes.as_slice());
        let _ = proto::DeviceProps::decode(bytes.as_slice());
        let _ = proto::AdvSignedDeviceIdentityHmac::decode(bytes.as_slice());
        let _ = proto::AdvSignedDeviceIdentity::decode(bytes.as_slice());
        let _ = proto::AdvDeviceIdentity::decode(bytes.as_slice());
        let _ = proto::AdvKeyIndexList::decode(bytes.as_slice());
        let _ = proto::Message::decode(bytes.as_slice());
        let _ = proto::WebMessageInfo::decode(bytes.as_slice());
        let _ = proto::HistorySync::decode(bytes.as_slice());
    }

    #[test]
    fn payload_decoding_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(node) = decode_payload(&bytes, 4096) {
            prop_assert!(node.len() <= 4096);
        }
    }
}

#[test]
fn a_ten_byte_input_claiming_16_mib_is_need_more_not_an_allocation() {
    let mut dec = FrameDecoder::new();
    dec.push(&[0xff, 0xff, 0xff, 0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(dec.next_frame(), Ok(None));
    assert!(dec.buffer_capacity() < 1024);
    // With a limit configured (as a server would), the same header is an immediate error.
    let mut dec = FrameDecoder::new().with_max_len(1 << 20);
    dec.push(&[0xff, 0xff, 0xff, 0, 1, 2, 3, 4, 5, 6]);
    assert!(matches!(dec.next_frame(), Err(FrameError::TooLarge { .. })));
}

#[test]
fn deeply_nested_protobuf_is_an_error_not_a_stack_overflow() {
    // Message.extendedTextMessage.contextInfo.quotedMessage.… nested 2000 levels deep.
    let mut bytes: Vec<u8> = Vec::new();
    for _ in 0..2000 {
        let mut ctx = vec![0x1a]; // ContextInfo.quotedMessage = 3
        push_len(&mut ctx, bytes.len());
        ctx.extend(&bytes);
        let mut ext = vec![0x8a, 0x01]; // ExtendedTextMessage.contextInfo = 17
        push_len(&mut ext, ctx.len());
        ext.extend(ctx);
        let mut msg = vec![0x32]; // Message.extendedTextMessage = 6
        push_len(&mut msg, ext.len());
        msg.extend(ext);
        bytes = msg;
    }
    assert!(proto::Message::decode(bytes.as_slice()).is_err());
}

fn push_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}
