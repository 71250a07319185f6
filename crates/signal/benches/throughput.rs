//! Encrypt/decrypt throughput for 1:1 (double ratchet) and group (sender key) messages, through
//! the in-memory store (which serialises records on every call, as a database-backed store
//! would). Criterion prints `thrpt` in messages per second.
//!
//! Run: `cargo bench -p signal --bench throughput`

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rand_core::OsRng;
use signal::keys::KeyPair;
use signal::prekeys::{PreKeyBundle, PreKeyRecord, SignedPreKeyRecord, generate_registration_id};
use signal::store::InMemoryStore;
use signal::{ProtocolAddress, SenderKeyName};
use tokio::runtime::Runtime;

/// A WhatsApp text message's typical size once padded.
const PLAINTEXT: &[u8] = &[0x42; 120];

fn store() -> (InMemoryStore, KeyPair, u32) {
    let identity = KeyPair::generate(&mut OsRng);
    let reg = generate_registration_id(&mut OsRng);
    (InMemoryStore::new(identity.clone(), reg), identity, reg)
}

fn established(
    rt: &Runtime,
) -> (
    InMemoryStore,
    InMemoryStore,
    ProtocolAddress,
    ProtocolAddress,
) {
    let (alice, _, _) = store();
    let (bob, bob_identity, bob_reg) = store();
    let signed = SignedPreKeyRecord::generate(&bob_identity, 1, &mut OsRng);
    let pre = PreKeyRecord {
        id: 1,
        key_pair: KeyPair::generate(&mut OsRng),
    };
    bob.add_signed_pre_key(signed.clone());
    bob.add_pre_key(pre.clone());
    let bundle = PreKeyBundle {
        registration_id: bob_reg,
        device_id: 1,
        pre_key: Some((1, pre.key_pair.public)),
        signed_pre_key_id: 1,
        signed_pre_key: signed.key_pair.public,
        signed_pre_key_signature: signed.signature,
        identity_key: bob_identity.public,
    };
    let (to_bob, to_alice) = (
        ProtocolAddress::new("bob", 1),
        ProtocolAddress::new("alice", 1),
    );
    rt.block_on(async {
        signal::process_bundle(&alice, &to_bob, &bundle, &mut OsRng)
            .await
            .expect("bench setup: bundle");
        let m = signal::encrypt(&alice, &to_bob, b"x")
            .await
            .expect("bench setup: encrypt");
        signal::decrypt_pre_key_message(&bob, &to_alice, m.bytes(), &mut OsRng)
            .await
            .expect("bench setup: decrypt");
        let r = signal::encrypt(&bob, &to_alice, b"y")
            .await
            .expect("bench setup: reply");
        signal::decrypt_message(&alice, &to_bob, r.bytes(), &mut OsRng)
            .await
            .expect("bench setup: reply decrypt");
    });
    (alice, bob, to_bob, to_alice)
}

fn one_to_one(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("bench runtime");
    let mut group = c.benchmark_group("1:1");
    group.throughput(Throughput::Elements(1));
    let (alice, _, to_bob, _) = established(&rt);
    group.bench_function("encrypt", |b| {
        b.iter(|| rt.block_on(signal::encrypt(&alice, &to_bob, PLAINTEXT)))
    });
    // A fresh pair: the encrypt run above left Alice's chain far ahead of Bob.
    let (alice, bob, to_bob, to_alice) = established(&rt);
    group.bench_function("decrypt", |b| {
        b.iter_batched(
            || {
                rt.block_on(signal::encrypt(&alice, &to_bob, PLAINTEXT))
                    .expect("bench: encrypt")
            },
            |m| {
                rt.block_on(signal::decrypt_message(
                    &bob,
                    &to_alice,
                    m.bytes(),
                    &mut OsRng,
                ))
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// A group sender and one member who has its distribution message.
fn group_pair(rt: &Runtime) -> (InMemoryStore, InMemoryStore, SenderKeyName) {
    let (alice, _, _) = store();
    let (bob, _, _) = store();
    let name = SenderKeyName {
        group_id: "120363000000000000@g.us".into(),
        sender: ProtocolAddress::new("alice", 1),
    };
    rt.block_on(async {
        let dist = signal::create_distribution_message(&alice, &name, &mut OsRng)
            .await
            .expect("bench setup: distribution");
        signal::process_distribution_message(&bob, &name, &dist)
            .await
            .expect("bench setup: process");
    });
    (alice, bob, name)
}

fn sender_keys(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("bench runtime");
    let mut group = c.benchmark_group("group");
    group.throughput(Throughput::Elements(1));
    let (alice, _, name) = group_pair(&rt);
    group.bench_function("encrypt", |b| {
        b.iter(|| rt.block_on(signal::group_encrypt(&alice, &name, PLAINTEXT, &mut OsRng)))
    });
    let (alice, bob, name) = group_pair(&rt);
    group.bench_function("decrypt", |b| {
        b.iter_batched(
            || {
                rt.block_on(signal::group_encrypt(&alice, &name, PLAINTEXT, &mut OsRng))
                    .expect("bench: encrypt")
            },
            |m| {
                rt.block_on(signal::group_decrypt(&bob, &name, &m))
                    .expect("bench: group decrypt")
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, one_to_one, sender_keys);
criterion_main!(benches);
