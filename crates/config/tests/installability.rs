//! The installability walk over a lockfile graph.

use std::path::Path;

use tack_config::installability::{filter_lockfile, HostInfo};
use tack_config::{IncludedDeps, SupportedArchitectures};
use tack_lockfile::Lockfile;

const LOCKFILE: &str = "lockfileVersion: '9.0'
importers:
  .:
    dependencies:
      a: {specifier: 1.0.0, version: 1.0.0}
    devDependencies:
      devdep: {specifier: 1.0.0, version: 1.0.0}
    optionalDependencies:
      plat: {specifier: 1.0.0, version: 1.0.0}
      opt-ok: {specifier: 1.0.0, version: 1.0.0}
      eng-opt: {specifier: 1.0.0, version: 1.0.0}
      '@esbuild/darwin-arm64': {specifier: 1.0.0, version: 1.0.0}
packages:
  a@1.0.0: {resolution: {integrity: sha512-a}}
  shared@1.0.0: {resolution: {integrity: sha512-s}}
  req-bad@1.0.0:
    resolution: {integrity: sha512-r}
    os: [win32]
  devdep@1.0.0:
    resolution: {integrity: sha512-d}
    engines: {node: '>=99'}
  plat@1.0.0:
    resolution: {integrity: sha512-p}
    os: [darwin]
  only-under-plat@1.0.0: {resolution: {integrity: sha512-u}}
  opt-ok@1.0.0:
    resolution: {integrity: sha512-o}
    os: ['!win32']
    libc: [glibc]
  eng-opt@1.0.0:
    resolution: {integrity: sha512-e}
    engines: {node: '>=99.0.0-0'}
  '@esbuild/darwin-arm64@1.0.0': {resolution: {integrity: sha512-x}}
snapshots:
  a@1.0.0:
    dependencies:
      shared: 1.0.0
      req-bad: 1.0.0
  shared@1.0.0: {}
  req-bad@1.0.0: {}
  devdep@1.0.0: {}
  plat@1.0.0:
    dependencies:
      shared: 1.0.0
      only-under-plat: 1.0.0
  only-under-plat@1.0.0: {}
  opt-ok@1.0.0: {}
  eng-opt@1.0.0: {}
  '@esbuild/darwin-arm64@1.0.0': {}
";

fn host() -> HostInfo {
    HostInfo {
        os: "linux".into(),
        cpu: "x64".into(),
        libc: Some("glibc".into()),
        node_version: Some("20.0.0".into()),
    }
}

fn lockfile() -> Lockfile {
    Lockfile::from_str(LOCKFILE, Path::new("pnpm-lock.yaml")).unwrap()
}

fn sorted(set: &indexmap::IndexSet<String>) -> Vec<&str> {
    let mut v: Vec<&str> = set.iter().map(String::as_str).collect();
    v.sort();
    v
}

#[test]
fn optional_incompatible_subtree_is_skipped_shared_node_kept() {
    let lf = lockfile();
    let g = filter_lockfile(
        &lf,
        &[".".into()],
        IncludedDeps::default(),
        &host(),
        &SupportedArchitectures::default(),
        false,
    )
    .unwrap();
    assert_eq!(
        sorted(&g.installable),
        vec![
            "a@1.0.0",
            "devdep@1.0.0",
            "opt-ok@1.0.0",
            "req-bad@1.0.0",
            "shared@1.0.0"
        ]
    );
    assert_eq!(
        sorted(&g.skipped),
        vec!["@esbuild/darwin-arm64@1.0.0", "eng-opt@1.0.0", "plat@1.0.0"]
    );
    let codes: Vec<&str> = g.warnings.iter().map(|w| w.code).collect();
    assert_eq!(codes.len(), 2, "{:?}", g.warnings);
    assert!(codes.contains(&"ERR_PNPM_UNSUPPORTED_PLATFORM"));
    assert!(codes.contains(&"ERR_PNPM_UNSUPPORTED_ENGINE"));
    assert!(g
        .warnings
        .iter()
        .any(|w| w.message.contains("req-bad@1.0.0")));
}

#[test]
fn groups_and_supported_architectures() {
    let lf = lockfile();
    let prod_only = IncludedDeps {
        dev_dependencies: false,
        optional_dependencies: false,
        ..IncludedDeps::default()
    };
    let g = filter_lockfile(
        &lf,
        &[".".into()],
        prod_only,
        &host(),
        &SupportedArchitectures::default(),
        false,
    )
    .unwrap();
    assert_eq!(
        sorted(&g.installable),
        vec!["a@1.0.0", "req-bad@1.0.0", "shared@1.0.0"]
    );
    assert!(g.skipped.is_empty());

    let supported = SupportedArchitectures {
        os: Some(vec!["current".into(), "darwin".into()]),
        cpu: Some(vec!["current".into(), "arm64".into()]),
        libc: None,
    };
    let g = filter_lockfile(
        &lf,
        &[".".into()],
        IncludedDeps::default(),
        &host(),
        &supported,
        false,
    )
    .unwrap();
    assert!(g.installable.contains("plat@1.0.0"));
    assert!(g.installable.contains("only-under-plat@1.0.0"));
    assert!(g.installable.contains("@esbuild/darwin-arm64@1.0.0"));
    // pnpm's checkList counts negations per supported value, so a negation-only list (`!win32`) fails
    // once several values are supported.
    assert_eq!(sorted(&g.skipped), vec!["eng-opt@1.0.0", "opt-ok@1.0.0"]);
}

#[test]
fn engine_strict_turns_warnings_into_errors() {
    let lf = lockfile();
    let err = filter_lockfile(
        &lf,
        &[".".into()],
        IncludedDeps::default(),
        &host(),
        &SupportedArchitectures::default(),
        true,
    )
    .unwrap_err();
    assert!(
        err.code() == "ERR_PNPM_UNSUPPORTED_PLATFORM"
            || err.code() == "ERR_PNPM_UNSUPPORTED_ENGINE"
    );
}

#[test]
fn real_workspace_lockfile_skips_fsevents_on_linux() {
    let lf = Lockfile::read_from_path(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workspace/pnpm-lock.yaml"),
    )
    .unwrap()
    .unwrap();
    let ids: Vec<String> = lf.importers.keys().cloned().collect();
    let g = filter_lockfile(
        &lf,
        &ids,
        IncludedDeps::default(),
        &host(),
        &SupportedArchitectures::default(),
        false,
    )
    .unwrap();
    assert_eq!(sorted(&g.skipped), vec!["fsevents@2.3.3"]);
    assert_eq!(g.installable.len(), lf.snapshots.len() - 1);
    let mac = HostInfo {
        os: "darwin".into(),
        libc: None,
        ..host()
    };
    let g = filter_lockfile(
        &lf,
        &ids,
        IncludedDeps::default(),
        &mac,
        &SupportedArchitectures::default(),
        false,
    )
    .unwrap();
    assert!(g.skipped.is_empty());
}
