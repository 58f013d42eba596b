//! libFuzzer entry point of the `tarball` target; the body is `targets/tarball.rs`, shared with the
//! stable smoke test of the owning crate.
#![no_main]

#[path = "../targets/tarball.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
