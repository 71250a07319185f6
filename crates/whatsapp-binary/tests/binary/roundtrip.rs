//! Our encoder and decoder agree with each other on every generated tree.

use proptest::prelude::*;
use whatsapp_binary::{Content, Jid, Node, decode, encode, pack, pack_compressed, unpack};

use crate::canon::from_ours;
use crate::generators::{self, OURS};

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

    #[test]
    fn nodes_round_trip(node in generators::node(OURS)) {
        let bytes = encode(&node).expect("encodable");
        let back = decode(&bytes).map_err(|e| TestCaseError::fail(format!("{e}\n{node}")))?;
        prop_assert_eq!(from_ours(&back), from_ours(&node));
        // Re-encoding the decoded tree gives the same bytes: one canonical encoding.
        prop_assert_eq!(encode(&back).expect("encodable"), bytes);
    }

    #[test]
    fn payloads_round_trip_plain_and_compressed(node in generators::node(OURS)) {
        let plain = unpack(&pack(&node).expect("encodable")).expect("decodes");
        let inflated = unpack(&pack_compressed(&node).expect("encodable")).expect("decodes");
        prop_assert_eq!(from_ours(&plain), from_ours(&node));
        prop_assert_eq!(plain, inflated);
    }

    #[test]
    fn jids_print_and_parse_back(jid in generators::jid(OURS)) {
        let text = jid.to_string();
        prop_assert_eq!(text.parse::<Jid>(), Ok(jid));
    }
}

#[test]
fn an_empty_child_list_is_sent_as_no_content() {
    let node = Node::new("list").children(Vec::new());
    let back = decode(&encode(&node).expect("encodable")).expect("decodes");
    assert_eq!(back.content, Content::None);
}
