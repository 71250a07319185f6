//! Hostile input: arbitrary and mutated bytes never panic; oversize claims and deep nesting
//! are typed errors.

use proptest::prelude::*;
use whatsapp_binary::tokens::{BINARY_32, LIST_8, LIST_16};
use whatsapp_binary::{DecodeError, MAX_DEPTH, Node, decode, encode, pack, unpack};

use crate::generators::{self, OURS};

proptest! {
    #![proptest_config(ProptestConfig { cases: 5_000, ..ProptestConfig::default() })]

    /// Anything decodes to a node or a typed error; a node that decodes re-encodes.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(node) = decode(&bytes) {
            prop_assert!(encode(&node).is_ok());
        }
        let _ = unpack(&bytes);
    }

    /// Near-valid input (a real encoding with bytes flipped or cut) reaches the deep paths.
    #[test]
    fn mutated_encodings_never_panic(
        node in generators::node(OURS),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = pack(&node).expect("encodable");
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if let Ok(node) = unpack(&bytes) {
            prop_assert!(pack(&node).is_ok());
        }
        let len = cut.index(bytes.len());
        let _ = unpack(&bytes[..len]);
    }
}

#[test]
fn a_ten_byte_payload_claiming_16_mib_is_refused() {
    // flag, <message> with content BINARY_32 of 16 MiB, and one byte of it.
    let payload = [0, LIST_8, 2, 19, BINARY_32, 0x01, 0x00, 0x00, 0x00, 0xAA];
    assert_eq!(payload.len(), 10);
    assert_eq!(
        unpack(&payload),
        Err(DecodeError::LengthExceedsInput {
            at: 8,
            claimed: 16 * 1024 * 1024,
            remaining: 1
        })
    );
}

#[test]
fn a_list_claiming_more_children_than_bytes_is_refused() {
    let payload = [0, LIST_8, 2, 19, LIST_16, 0xFF, 0xFF, LIST_8, 1, 19];
    assert!(matches!(
        unpack(&payload),
        Err(DecodeError::LengthExceedsInput {
            claimed: 65_535,
            ..
        })
    ));
}

#[test]
fn deep_nesting_is_a_typed_error_not_a_stack_overflow() {
    // 100 000 levels of <message><message>…: far past the cap, far past any stack.
    let mut bytes = vec![0];
    for _ in 0..100_000 {
        bytes.extend_from_slice(&[LIST_8, 2, 19, LIST_8, 1]);
    }
    bytes.extend_from_slice(&[LIST_8, 1, 19]);
    assert_eq!(
        unpack(&bytes),
        Err(DecodeError::TooDeep { limit: MAX_DEPTH })
    );
}

#[test]
fn nesting_at_the_cap_still_decodes() {
    let mut node = Node::new("leaf");
    for _ in 0..MAX_DEPTH - 1 {
        node = Node::new("message").child(node);
    }
    let bytes = pack(&node).expect("encodable");
    assert_eq!(unpack(&bytes), Ok(node));
}
