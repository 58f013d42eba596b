//! Fuzz findings of the `tarball` target (`fuzz/fuzz_targets/tarball.rs`) as regression tests, and the
//! stable-toolchain smoke run of that target: its committed corpus plus seeded random mutants,
//! so CI exercises the fuzz target without nightly.

#[path = "../../../fuzz/targets/smoke.rs"]
mod smoke;
#[path = "../../../fuzz/targets/tarball.rs"]
mod target;

#[test]
fn smoke_corpus_and_seeded_mutants() {
    smoke::smoke("tarball", 3, target::run);
}
