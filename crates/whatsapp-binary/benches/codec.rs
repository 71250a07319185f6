//! Encode/decode throughput on two realistic shapes: a 1:1 message stanza fanned out to
//! three devices, and a usync result listing 500 devices. Criterion reports each twice:
//! as nodes/s ("elements") and as MB/s ("bytes").
//!
//! Run: `cargo bench -p whatsapp-binary --bench codec`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use whatsapp_binary::{Content, Jid, Node, Server, pack, unpack};

fn jid(user: &str, server: Server, device: u16) -> Jid {
    Jid::device(user, server, device).unwrap_or_else(|e| panic!("bench JID {user}: {e}"))
}

/// `<message>` with a pkmsg for each of three devices and a device identity, as a client
/// sends a first message to a contact.
fn message_stanza() -> Node {
    let to = |device| {
        Node::new("to")
            .attr("jid", jid("15551234567", Server::Lid, device))
            .child(
                Node::new("enc")
                    .attr("v", "2")
                    .attr("type", "pkmsg")
                    .bytes(vec![0x33; 220]),
            )
    };
    Node::new("message")
        .attr("id", "3EB0C5A2F4D1E6B7A890")
        .attr("to", jid("15551234567", Server::Lid, 0))
        .attr("type", "text")
        .attr("t", 1_764_000_000u64)
        .child(Node::new("participants").children([to(0), to(1), to(2)]))
        .child(Node::new("device-identity").bytes(vec![0x44; 160]))
}

/// A usync `<iq type="result">` for 100 users × 5 devices = 500 devices.
fn usync_result() -> Node {
    let user = |i: u32| {
        let phone = format!("1555{:07}", i);
        let devices = (0..5u16).map(|d| {
            let node = Node::new("device").attr("id", d);
            if d == 0 {
                node
            } else {
                node.attr("key-index", d)
            }
        });
        Node::new("user")
            .attr("jid", jid(&phone, Server::Pn, 0))
            .child(
                Node::new("devices")
                    .child(Node::new("device-list").children(devices))
                    .child(
                        Node::new("key-index-list")
                            .attr("ts", 1_763_000_000u64)
                            .bytes(vec![0x55; 120]),
                    ),
            )
            .child(Node::new("lid").attr("val", jid(&format!("2{:014}", i), Server::Lid, 0)))
    };
    Node::new("iq")
        .attr("from", Jid::server_only(Server::Pn))
        .attr("id", "12345.6789-42")
        .attr("type", "result")
        .child(
            Node::new("usync")
                .attr("sid", "sync_sid_1")
                .attr("index", "0")
                .attr("last", "true")
                .attr("mode", "query")
                .attr("context", "message")
                .child(Node::new("list").children((0..100).map(user))),
        )
}

fn count_nodes(node: &Node) -> u64 {
    1 + match &node.content {
        Content::Nodes(children) => children.iter().map(count_nodes).sum(),
        _ => 0,
    }
}

fn bench_shape(c: &mut Criterion, name: &str, node: &Node) {
    let payload = pack(node).unwrap_or_else(|e| panic!("bench node encodes: {e}"));
    let nodes = count_nodes(node);
    println!("{name}: {nodes} nodes, {} bytes packed", payload.len());
    for (unit, throughput) in [
        ("nodes", Throughput::Elements(nodes)),
        ("bytes", Throughput::Bytes(payload.len() as u64)),
    ] {
        let mut group = c.benchmark_group(format!("{name}/{unit}"));
        group.throughput(throughput);
        group.measurement_time(Duration::from_secs(3));
        group.warm_up_time(Duration::from_secs(1));
        group.bench_function("encode", |b| b.iter(|| pack(black_box(node))));
        group.bench_function("decode", |b| b.iter(|| unpack(black_box(&payload))));
        group.finish();
    }
}

fn codec(c: &mut Criterion) {
    bench_shape(c, "message_stanza", &message_stanza());
    bench_shape(c, "usync_500_devices", &usync_result());
}

criterion_group!(benches, codec);
criterion_main!(benches);
