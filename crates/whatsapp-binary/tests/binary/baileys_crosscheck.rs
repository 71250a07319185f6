//! Cross-check against Baileys 7.0.0-rc14's binary-node codec (JavaScript, run with
//! `node`): 2 000 generated trees each way. Baileys' decoder reads our bytes to our tree;
//! our decoder reads Baileys' bytes to the tree it was given. Needs Node.js and the
//! workspace's npm packages (`npm ci` at the root); fails loudly without them.
//!
//! Baileys' tree has text-only attributes (JIDs as text, server-only JIDs as `@server`,
//! FB/interop JIDs with explicit zero device/integrator) in a JS object (integer-like keys
//! reordered), so both sides are compared as sorted key → text maps with JID text
//! normalised through our parser. Generated text has no `@` because Baileys' encoder
//! re-reads such text as a JID.

use std::io::Write;
use std::process::{Command, Stdio};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};
use whatsapp_binary::{Content, Jid, Node, pack, unpack};

use crate::generators::{self, PEERS, Shape};

const CASES: usize = 2_000;

/// Our bytes may use every JID form; Baileys decodes them all.
const FOR_DECODING: Shape = Shape {
    at_sign: false,
    all_jid_forms: true,
};

#[derive(Debug, PartialEq, Eq)]
enum TextContent {
    None,
    Bytes(Vec<u8>),
    Nodes(Vec<TextNode>),
}

/// A node with every attribute as text, sorted by key.
#[derive(Debug, PartialEq, Eq)]
struct TextNode {
    tag: String,
    attrs: Vec<(String, String)>,
    content: TextContent,
}

fn text_node(node: &Node) -> TextNode {
    let mut attrs: Vec<(String, String)> = node
        .attrs
        .iter()
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect();
    attrs.sort();
    TextNode {
        tag: node.tag.clone(),
        attrs,
        content: match &node.content {
            Content::None => TextContent::None,
            Content::Nodes(c) if c.is_empty() => TextContent::None,
            Content::Bytes(b) => TextContent::Bytes(b.clone()),
            Content::Nodes(c) => TextContent::Nodes(c.iter().map(text_node).collect()),
        },
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("node script writes hex"))
        .collect()
}

fn unhex_str(v: &Value) -> String {
    let s = v.as_str().expect("node script writes hex strings");
    String::from_utf8(unhex(s)).expect("node script writes UTF-8")
}

fn tree_json(node: &Node) -> Value {
    let attrs: Vec<Value> = node
        .attrs
        .iter()
        .map(|(k, v)| json!([hex(k.as_bytes()), hex(v.to_string().as_bytes())]))
        .collect();
    let content = match &node.content {
        Content::None => Value::Null,
        Content::Bytes(b) => json!({ "b": hex(b) }),
        Content::Nodes(c) => Value::Array(c.iter().map(tree_json).collect()),
    };
    json!({ "tag": hex(node.tag.as_bytes()), "attrs": attrs, "content": content })
}

/// Baileys' JID text in our canonical form (text without `@` is plain text here).
fn normalise_value(text: String) -> String {
    if !text.contains('@') {
        return text;
    }
    match text.trim_start_matches('@').parse::<Jid>() {
        Ok(jid) => jid.to_string(),
        Err(_) => text,
    }
}

fn from_baileys(tree: &Value) -> TextNode {
    let attrs = tree["attrs"]
        .as_array()
        .expect("attrs array")
        .iter()
        .map(|pair| (unhex_str(&pair[0]), normalise_value(unhex_str(&pair[1]))))
        .collect();
    let content = match &tree["content"] {
        Value::Null => TextContent::None,
        Value::Array(c) => TextContent::Nodes(c.iter().map(from_baileys).collect()),
        other => match (other.get("b"), other.get("t")) {
            (Some(b), _) => TextContent::Bytes(unhex(b.as_str().expect("hex"))),
            (_, Some(t)) => TextContent::Bytes(unhex(t.as_str().expect("hex"))),
            _ => panic!("unexpected content from node script: {other}"),
        },
    };
    TextNode {
        tag: unhex_str(&tree["tag"]),
        attrs,
        content,
    }
}

fn generate(shape: Shape, runner: &mut TestRunner) -> Vec<Node> {
    let strategy = generators::node(shape);
    (0..CASES)
        .map(|_| {
            strategy
                .new_tree(runner)
                .expect("generator produces a value")
                .current()
        })
        .collect()
}

fn run_baileys(cases: &Value) -> Vec<Value> {
    let dir = env!("CARGO_MANIFEST_DIR");
    let script = format!("{dir}/tests/baileys/crosscheck.mjs");
    let mut child = Command::new("node")
        .arg(&script)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "the Baileys cross-check needs `node` (Node.js 20+) on PATH and `npm ci` run at \
                 the workspace root: {e}"
            )
        });
    // The script reads all of stdin before writing, so writing first cannot deadlock.
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(cases.to_string().as_bytes())
        .expect("write cases to node");
    let output = child.wait_with_output().expect("node runs");
    assert!(
        output.status.success(),
        "node {script} failed ({}); is @whiskeysockets/baileys installed (`npm ci` at the root)?\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    match serde_json::from_slice(&output.stdout) {
        Ok(Value::Array(results)) => results,
        other => panic!("node script output is not a JSON array: {other:?}"),
    }
}

#[test]
fn baileys_and_our_codec_agree_both_ways() {
    let mut runner = TestRunner::deterministic();
    let for_decoding = generate(FOR_DECODING, &mut runner);
    let for_encoding = generate(PEERS, &mut runner);
    let cases: Vec<Value> = for_decoding
        .iter()
        .zip(&for_encoding)
        .map(|(ours, tree)| {
            json!({ "bytes": hex(&pack(ours).expect("encodable")), "tree": tree_json(tree) })
        })
        .collect();
    let results = run_baileys(&Value::Array(cases));
    assert_eq!(results.len(), CASES);

    for (i, result) in results.iter().enumerate() {
        let ours = &for_decoding[i];
        assert_eq!(
            from_baileys(&result["decoded"]),
            text_node(ours),
            "case {i}: Baileys decoded our bytes differently\n{ours}"
        );
        let tree = &for_encoding[i];
        let baileys_bytes = unhex(result["encoded"].as_str().expect("hex"));
        let decoded = unpack(&baileys_bytes)
            .unwrap_or_else(|e| panic!("case {i}: we rejected Baileys' bytes: {e}\n{tree}"));
        assert_eq!(
            text_node(&decoded),
            text_node(tree),
            "case {i}: we decoded Baileys' bytes differently"
        );
    }
}
