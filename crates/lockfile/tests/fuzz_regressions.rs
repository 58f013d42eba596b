//! Fuzz findings of the `lockfile` target (`fuzz/fuzz_targets/lockfile.rs`) as regression tests, and the
//! stable-toolchain smoke run of that target: its committed corpus plus seeded random mutants,
//! so CI exercises the fuzz target without nightly.

#[path = "../../../fuzz/targets/smoke.rs"]
mod smoke;
#[path = "../../../fuzz/targets/lockfile.rs"]
mod target;

#[test]
fn smoke_corpus_and_seeded_mutants() {
    smoke::smoke("lockfile", 1, target::run);
}
