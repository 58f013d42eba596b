//! libFuzzer entry point of the `npmrc` target; the body is `targets/npmrc.rs`, shared with the
//! stable smoke test of the owning crate.
#![no_main]

#[path = "../targets/npmrc.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
