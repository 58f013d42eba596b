//! Fuzz findings of the `lockfile` target (`fuzz/fuzz_targets/lockfile.rs`) as regression tests,
//! and the stable-toolchain smoke run of that target: its committed corpus plus seeded random
//! mutants, so CI exercises the fuzz target without nightly.

#[path = "../../../fuzz/targets/smoke.rs"]
mod smoke;
#[path = "../../../fuzz/targets/lockfile.rs"]
mod target;

#[test]
fn smoke_corpus_and_seeded_mutants() {
    smoke::smoke("lockfile", 1, target::run);
}

/// Found by `just fuzz` (libFuzzer, lockfile target): controls, a DEL and NULs in plain scalars.
/// The block reader read them as any other character, and the writer then put the DEL raw
/// inside double quotes, which no reader accepts. Now the text is refused as pnpm 12 refuses
/// it (`ERR_PNPM_BROKEN_LOCKFILE`, "unexpected character"), and the same characters written
/// as escapes (which YAML allows) survive the writer.
#[test]
fn unprintable_characters_are_refused_raw_and_written_escaped() {
    let input = include_str!("../../../fuzz/seeds/lockfile/regression-raw-del.yaml");
    target::run(input.as_bytes());
    let path = std::path::Path::new("pnpm-lock.yaml");
    let err = tack_lockfile::Lockfile::from_str(input, path).unwrap_err();
    assert_eq!(err.code(), "ERR_PNPM_BROKEN_LOCKFILE");
    assert!(err.to_string().contains("unexpected character"), "{err}");

    let escaped =
        "lockfileVersion: '9.0'\n\nimporters:\n\n  .:\n    dependencies:\n      x:\n        \
                   specifier: \"1.0.0\\u007f\\u0085\\u009f\\x00\"\n        version: 1.0.0\n";
    target::run(escaped.as_bytes());
    let lockfile = tack_lockfile::Lockfile::from_str(escaped, path).expect("escapes are allowed");
    let written = lockfile.to_yaml_string();
    let again = tack_lockfile::Lockfile::from_str(&written, path).expect("written text reads");
    assert_eq!(again, lockfile, "{written}");
}
