//! Fuzz findings of the `npmrc` target (`fuzz/fuzz_targets/npmrc.rs`) as regression tests, and the
//! stable-toolchain smoke run of that target: its committed corpus plus seeded random mutants,
//! so CI exercises the fuzz target without nightly.

#[path = "../../../fuzz/targets/smoke.rs"]
mod smoke;
#[path = "../../../fuzz/targets/npmrc.rs"]
mod target;

#[test]
fn smoke_corpus_and_seeded_mutants() {
    smoke::smoke("npmrc", 2, target::run);
}
