//! Fuzz findings of the `tarball` target (`fuzz/fuzz_targets/tarball.rs`) as regression tests, and
//! the stable-toolchain smoke run of that target: its committed corpus plus seeded random mutants,
//! so CI exercises the fuzz target without nightly.

#[path = "../../../fuzz/targets/smoke.rs"]
mod smoke;
#[path = "../../../fuzz/targets/tarball.rs"]
mod target;

#[test]
fn smoke_corpus_and_seeded_mutants() {
    smoke::smoke("tarball", 3, target::run);
}

/// Found by `just fuzz` (libFuzzer, tarball target): an entry named `nn:::…/:::…` was kept,
/// rightly (a colon is an ordinary character of a file name; only a letter and a colon is a
/// drive), but the target took any segment with a colon second for a drive. The target now
/// asks what the extractor refuses: `c:` and `C:x`, not `::` or `1:`.
#[test]
fn a_colon_is_a_drive_only_after_a_letter() {
    target::run(include_bytes!(
        "../../../fuzz/seeds/tarball/regression-colon-segment"
    ));
}
