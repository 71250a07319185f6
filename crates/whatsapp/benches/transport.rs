//! Transport cipher throughput (AES-256-GCM with 32-bit counter nonces) for typical frame sizes,
//! from a small receipt up to a large history/media frame. Run: `cargo bench -p whatsapp`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use whatsapp::frame::{TransportCipher, TransportKeys};

const SIZES: [usize; 4] = [64, 1024, 64 * 1024, 1024 * 1024];

fn pair() -> (TransportCipher, TransportCipher) {
    let client = TransportKeys {
        write: [7; 32],
        read: [9; 32],
    };
    let server = TransportKeys {
        write: [9; 32],
        read: [7; 32],
    };
    (TransportCipher::new(&client), TransportCipher::new(&server))
}

fn encrypt(c: &mut Criterion) {
    let mut group = c.benchmark_group("transport_encrypt");
    for size in SIZES {
        let plaintext = vec![0x5a; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &plaintext, |b, pt| {
            let (mut sender, _) = pair();
            b.iter(|| sender.encrypt(black_box(pt)));
        });
    }
    group.finish();
}

fn decrypt(c: &mut Criterion) {
    let mut group = c.benchmark_group("transport_decrypt");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            // Each decrypt consumes one counter, so pair every measured decrypt with a fresh
            // ciphertext from a sender that is kept in lock-step; only decrypt is timed.
            let (mut sender, mut receiver) = pair();
            let plaintext = vec![0x5a; size];
            b.iter_batched(
                || sender.encrypt(&plaintext),
                |ct| match ct {
                    Ok(ct) => receiver.decrypt(black_box(&ct)).map(|pt| pt.len()),
                    Err(e) => Err(e),
                },
                criterion::BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, encrypt, decrypt);
criterion_main!(benches);
