//! Decoding allocates in proportion to the input, never to what a length field claims.
//! Its own test binary (one test) so the global allocation counter sees only this thread.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use signal::sender_key::SenderKeyRecord;
use signal::session::SessionRecord;
use signal::wire::{
    PreKeySignalMessage, SenderKeyDistributionMessage, SenderKeyMessage, SignalMessage,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn decoding_allocates_at_most_a_small_multiple_of_the_input() {
    // The counter itself works: a 1 MiB allocation is seen.
    let region = Region::new(GLOBAL);
    let big = std::hint::black_box(vec![1u8; 1 << 20]);
    assert!(region.change().bytes_allocated >= 1 << 20);
    drop(big);

    // Inputs with large claimed lengths: varints decoding to up to 2^32 placed after tags.
    let strategy = (
        prop::collection::vec(any::<u8>(), 0..256),
        any::<u32>(),
        0u8..8,
    )
        .prop_map(|(mut body, claimed, field)| {
            let mut out = vec![0x33, (field << 3) | 2];
            let mut v = claimed;
            loop {
                let byte = (v & 0x7f) as u8;
                v >>= 7;
                if v == 0 {
                    out.push(byte);
                    break;
                }
                out.push(byte | 0x80);
            }
            out.append(&mut body);
            out
        });
    let mut runner = TestRunner::new(ProptestConfig::with_cases(3000));
    for _ in 0..3000 {
        let bytes = strategy.new_tree(&mut runner).unwrap().current();
        let region = Region::new(GLOBAL);
        let _ = SignalMessage::parse(&bytes);
        let _ = PreKeySignalMessage::parse(&bytes);
        let _ = SenderKeyMessage::parse(&bytes);
        let _ = SenderKeyDistributionMessage::parse(&bytes);
        let _ = SessionRecord::deserialize(&bytes);
        let _ = SenderKeyRecord::deserialize(&bytes);
        let allocated = region.change().bytes_allocated;
        let bound = 16 * bytes.len() + 4096;
        assert!(
            allocated <= bound,
            "{allocated} bytes allocated decoding {} bytes",
            bytes.len()
        );
    }
}
