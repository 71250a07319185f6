//! One integration-test binary (fast to link): round trips, the cross-check against an
//! independent codec (wacore-binary), and robustness against hostile bytes.

mod canon;
mod generators;
mod robustness;
mod roundtrip;
mod wacore_crosscheck;
