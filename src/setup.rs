//! Projects for the reliability suite: the committed `basic` fixture (resolved by pnpm 12
//! against the test registry's fixtures) pointed at a registry, with retry settings small
//! enough that a retry costs milliseconds, and the reference tree of a clean install.

use std::path::PathBuf;
use std::time::Duration;

use crate::kill;
use crate::project::TestProject;
use crate::store_check::tree_without_temp;
use crate::tree::Tree;
use tack_test_registry::{RegistryOptions, TestRegistry};

/// `pnpm-workspace.yaml` settings: two retries 10–50 ms apart, a 2 s idle timeout.
pub const FAST_FETCH_SETTINGS: &str =
    "fetchRetries: 2\nfetchRetryMintimeout: 10\nfetchRetryMaxtimeout: 50\nfetchTimeout: 2000\n";

/// The committed fixture project dir.
pub fn basic_fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crates/test-registry/fixtures-projects/basic")
}

/// A copy of the basic fixture using `registry_url`, with [`FAST_FETCH_SETTINGS`].
pub fn basic_project(registry_url: &str) -> TestProject {
    basic_project_with_npmrc(registry_url, "")
}

/// [`basic_project`] with `npmrc` added to its `.npmrc` after the `registry` line.
pub fn basic_project_with_npmrc(registry_url: &str, npmrc: &str) -> TestProject {
    let project = TestProject::new();
    project.copy_from(&basic_fixture_dir());
    project.write(".npmrc", &format!("registry={registry_url}\n{npmrc}"));
    project.write("pnpm-workspace.yaml", FAST_FETCH_SETTINGS);
    project
}

/// Installs a fresh copy of the basic fixture into its own store and returns its tree.
pub fn clean_basic_tree(registry_url: &str) -> Tree {
    let project = basic_project(registry_url);
    let out = kill::run(
        kill::install_command(&project, &project.store(), &[]),
        Duration::from_secs(60),
    );
    assert!(out.success(), "clean install failed: {}", out.describe());
    tree_without_temp(&project).0
}

/// The test registry over `https://`, with the committed test CA's server certificate
/// (trusted through `cafile` = [`tack_test_registry::test_ca_path`]).
pub fn https_registry() -> TestRegistry {
    TestRegistry::start_blocking(RegistryOptions {
        tls: true,
        ..RegistryOptions::default()
    })
    .expect("start the https registry")
}
