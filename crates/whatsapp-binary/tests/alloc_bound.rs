//! Decoding allocates in proportion to the input, not to the lengths the input claims.
//!
//! Its own test binary with a single test: the counting allocator is process-global, so a
//! sibling test running in parallel would add its allocations to the measurement.

use std::alloc::System;

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use whatsapp_binary::tokens::{BINARY_32, LIST_8, LIST_16};
use whatsapp_binary::{DecodeError, unpack};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn oversized_length_claims_allocate_nothing_for_the_claim() {
    // flag, <message> with BINARY_32 content claiming 16 MiB, one byte present: 10 bytes.
    let binary = [0u8, LIST_8, 2, 19, BINARY_32, 0x01, 0x00, 0x00, 0x00, 0xAA];
    // flag, <message> with a LIST_16 of 65 535 children, one byte present.
    let list = [0u8, LIST_8, 2, 19, LIST_16, 0xFF, 0xFF, 0xAA];

    let region = Region::new(GLOBAL);
    let binary_result = unpack(&binary);
    let list_result = unpack(&list);
    let stats = region.change();

    assert!(matches!(
        binary_result,
        Err(DecodeError::LengthExceedsInput {
            claimed: 16_777_216,
            ..
        })
    ));
    assert!(matches!(
        list_result,
        Err(DecodeError::LengthExceedsInput {
            claimed: 65_535,
            ..
        })
    ));
    // The tag string and error values are a few bytes; 16 MiB (or 65 535 nodes) is not.
    assert!(
        stats.bytes_allocated < 4096,
        "decoding 18 hostile bytes allocated {} bytes",
        stats.bytes_allocated
    );
}
