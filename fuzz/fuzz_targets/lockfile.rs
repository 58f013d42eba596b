//! libFuzzer entry point of the `lockfile` target; the body is `targets/lockfile.rs`, shared with the
//! stable smoke test of the owning crate.
#![no_main]

#[path = "../targets/lockfile.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
