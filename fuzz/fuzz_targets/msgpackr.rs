//! libFuzzer entry point of the `msgpackr` target; the body is `targets/msgpackr.rs`, shared with the
//! stable smoke test of the owning crate.
#![no_main]

#[path = "../targets/msgpackr.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
