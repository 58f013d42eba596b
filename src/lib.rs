//! The harness for tack's cross-crate test suite in `tests/`: it builds temp projects,
//! starts the test registry, runs the real `tack` binary and real pnpm 12 with isolated homes,
//! and snapshots `node_modules` trees so two installs can be compared path by path.

pub mod conformance;
pub mod git;
pub mod hostile;
pub mod kill;
pub mod project;
pub mod registry;
pub mod setup;
pub mod stamps;
pub mod store_check;
pub mod stress;
pub mod tree;

use std::path::PathBuf;

/// The `tack` binary built by this workspace (`target/<profile>/tack`), found next to the
/// running test executable so it works with any `CARGO_TARGET_DIR`.
pub fn tack_bin() -> PathBuf {
    if let Ok(path) = std::env::var("TACK_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current test executable");
    // target/<profile>/deps/<test>-<hash> → target/<profile>/tack
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps");
    let bin = profile_dir.join("tack");
    assert!(
        bin.exists(),
        "{} is missing: build it first with `cargo build -p tack-cli` (.ci/run does)",
        bin.display()
    );
    bin
}

/// The committed fixture project (package.json + a pnpm-lock.yaml that real pnpm 12 resolved
/// against the test registry's fixtures).
pub fn basic_fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crates/test-registry/fixtures-projects/basic")
}

/// Real pnpm 12, installed into `.tools/` on first use.
pub fn pnpm_bin() -> PathBuf {
    tack_test_registry::tools::pnpm().expect("install pnpm 12 for the conformance tests")
}
