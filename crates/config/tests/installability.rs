//! The installability walk over a lockfile graph.

use std::path::Path;

use tack_config::installability::{filter_lockfile, FilteredGraph, HostInfo};
use tack_config::{ConfigError, IncludedDeps, SupportedArchitectures};
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
  under-under-plat@1.0.0: {resolution: {integrity: sha512-uu}}
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
  only-under-plat@1.0.0:
    dependencies:
      under-under-plat: 1.0.0
    optional: true
  under-under-plat@1.0.0:
    optional: true
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

/// The root importer with every default: all dependency groups, this host, not strict.
fn filter_root(lf: &Lockfile) -> Result<FilteredGraph, ConfigError> {
    filter_lockfile(
        lf,
        &[".".into()],
        IncludedDeps::default(),
        &host(),
        &SupportedArchitectures::default(),
        false,
    )
}

fn sorted(set: &indexmap::IndexSet<String>) -> Vec<&str> {
    let mut v: Vec<&str> = set.iter().map(String::as_str).collect();
    v.sort();
    v
}

#[test]
fn optional_incompatible_subtree_is_skipped_shared_node_kept() {
    let lf = lockfile();
    let g = filter_root(&lf).unwrap();
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
    // Below a skipped package: what nothing else installs (not `shared`, which `a` needs).
    assert_eq!(
        sorted(&g.skipped_below),
        vec!["only-under-plat@1.0.0", "under-under-plat@1.0.0"]
    );
    assert_eq!(
        g.modules_skipped(),
        vec![
            "@esbuild/darwin-arm64@1.0.0",
            "eng-opt@1.0.0",
            "only-under-plat@1.0.0",
            "plat@1.0.0",
            "under-under-plat@1.0.0"
        ]
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
    // pnpm's checkList counts negations per supported value, so a negation-only list (`!win32`)
    // fails once several values are supported.
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

/// Optional edges below the importers: an incompatible package reached only through them is
/// skipped with what only it reaches; one a regular edge also reaches is installed, with a
/// warning. `link:` refs are not packages; a ref to a dep path without a snapshot is a broken
/// lockfile, as to pnpm 12.
/// The installable packages come in discovery order (depth first, in listed order).
#[test]
fn optional_edges_of_snapshots_and_discovery_order() {
    const NESTED: &str = "lockfileVersion: '9.0'
importers:
  .:
    dependencies:
      a: {specifier: 1.0.0, version: 1.0.0}
packages:
  a@1.0.0: {resolution: {integrity: sha512-a}}
  b@1.0.0: {resolution: {integrity: sha512-b}}
  c@1.0.0: {resolution: {integrity: sha512-c}}
  fse@1.0.0:
    resolution: {integrity: sha512-f}
    os: [darwin]
  both@1.0.0:
    resolution: {integrity: sha512-o}
    os: [darwin]
  under-fse@1.0.0: {resolution: {integrity: sha512-u}}
snapshots:
  a@1.0.0:
    dependencies:
      b: 1.0.0
      c: 1.0.0
      d: link:../d
    optionalDependencies:
      fse: 1.0.0
      both: 1.0.0
  b@1.0.0:
    dependencies:
      both: 1.0.0
  fse@1.0.0:
    dependencies:
      under-fse: 1.0.0
  both@1.0.0: {}
  under-fse@1.0.0: {}
";
    let broken = Lockfile::from_str(NESTED, Path::new("pnpm-lock.yaml")).unwrap();
    let err = filter_root(&broken).unwrap_err();
    assert_eq!(err.code(), "ERR_PNPM_LOCKFILE_MISSING_DEPENDENCY");
    assert!(err.to_string().contains("no entry for 'c@1.0.0'"), "{err}");
    let whole = NESTED.replace("  both@1.0.0: {}\n", "  both@1.0.0: {}\n  c@1.0.0: {}\n");
    let lf = Lockfile::from_str(&whole, Path::new("pnpm-lock.yaml")).unwrap();
    let g = filter_root(&lf).unwrap();
    let order: Vec<&str> = g.installable.iter().map(String::as_str).collect();
    assert_eq!(order, ["a@1.0.0", "b@1.0.0", "both@1.0.0", "c@1.0.0"]);
    assert_eq!(sorted(&g.skipped), vec!["fse@1.0.0"]);
    assert_eq!(g.warnings.len(), 1, "{:?}", g.warnings);
    assert!(g.warnings[0].message.contains("both@1.0.0"));
}
