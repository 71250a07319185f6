//! One integration-test binary (fast to link): round trips, cross-checks against two
//! independent codecs (wacore-binary in Rust, Baileys in Node), and robustness against
//! hostile bytes.

mod baileys_crosscheck;
mod canon;
mod generators;
mod robustness;
mod roundtrip;
mod wacore_crosscheck;
