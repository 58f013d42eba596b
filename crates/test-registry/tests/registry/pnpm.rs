//! Real pnpm 12 resolves and installs a fixture project from the registry: proof that the
//! protocol is the real one. It also keeps the committed `fixtures-projects/basic`
//! lockfile honest (set `TACK_UPDATE_FIXTURES=1` to rewrite it after a fixture change).

use std::path::{Path, PathBuf};
use std::process::Command;

use tack_test_registry::{tools, RegistryOptions, TestRegistry};

fn project_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures-projects/basic")
}

/// pnpm with HOME, XDG dirs and the store inside `root`, and no inherited npm/pnpm config.
fn pnpm(root: &Path, project: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(tools::pnpm().unwrap());
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy().to_ascii_lowercase();
        if k.starts_with("npm_config_") || k.starts_with("pnpm_") || k == "ci" {
            cmd.env_remove(&key);
        }
    }
    for dir in ["home", "config", "cache", "data", "state"] {
        fs_err::create_dir_all(root.join(dir)).unwrap();
    }
    cmd.current_dir(project)
        .env("HOME", root.join("home"))
        .env("XDG_CONFIG_HOME", root.join("config"))
        .env("XDG_CACHE_HOME", root.join("cache"))
        .env("XDG_DATA_HOME", root.join("data"))
        .env("XDG_STATE_HOME", root.join("state"))
        .env("pnpm_config_update_notifier", "false")
        .args(args)
        .arg("--store-dir")
        .arg(root.join("store"))
        .arg("--reporter=append-only");
    let out = cmd.output().unwrap();
    eprintln!(
        "pnpm {args:?}: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn write_project(dir: &Path, registry: &TestRegistry) {
    fs_err::create_dir_all(dir).unwrap();
    fs_err::copy(project_dir().join("package.json"), dir.join("package.json")).unwrap();
    fs_err::write(dir.join(".npmrc"), format!("registry={}\n", registry.url())).unwrap();
    fs_err::write(dir.join("pnpm-workspace.yaml"), "minimumReleaseAge: 0\n").unwrap();
}

#[test]
fn pnpm_resolves_installs_and_reinstalls_frozen() {
    let reg = TestRegistry::start_blocking(RegistryOptions::default()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    write_project(&project, &reg);

    let out = pnpm(tmp.path(), &project, &["install", "--no-frozen-lockfile"]);
    assert!(out.status.success());
    let lockfile = fs_err::read_to_string(project.join("pnpm-lock.yaml")).unwrap();
    for (name, version) in [
        ("is-odd", "3.0.1"),
        ("is-number", "6.0.0"),
        ("is-number", "7.0.0"),
        ("@tack-test/scoped", "1.0.0"),
        ("UpperCase", "1.0.0"),
        ("use-peer", "1.0.0"),
        ("peer-host", "1.0.0"),
        ("tack-bin-dir", "1.0.0"),
        ("only-darwin", "1.0.0"),
    ] {
        let integrity = reg.integrity(name, version).unwrap();
        assert!(
            lockfile.contains(&format!("{{integrity: {integrity}}}")),
            "{name}@{version} {integrity} missing from\n{lockfile}"
        );
    }
    assert!(
        lockfile.contains("use-peer@1.0.0(peer-host@1.0.0)"),
        "{lockfile}"
    );
    let nm = project.join("node_modules");
    for pkg in [
        "is-odd",
        "@tack-test/scoped",
        "UpperCase",
        "use-peer",
        "tack-bin-map",
    ] {
        assert!(nm.join(pkg).join("package.json").is_file(), "{pkg}");
    }
    assert!(
        nm.join(".pnpm/node_modules/is-number/package.json")
            .is_file()
            || nm.join("is-number").is_dir()
    );
    for bin in [
        "tack-bin-string",
        "tack-bin-map",
        "tack-shared-cmd",
        "tack-dir-a",
    ] {
        assert!(nm.join(".bin").join(bin).is_file(), "bin {bin}");
    }
    assert!(
        !nm.join(".pnpm/only-darwin@1.0.0").exists(),
        "the darwin-only optional dependency is skipped on linux"
    );
    // Every tarball came from this registry, once each.
    assert_eq!(reg.request_count("/is-odd/-/is-odd-3.0.1.tgz"), 1);
    assert_eq!(
        reg.request_count("/@tack-test/scoped/-/scoped-1.0.0.tgz"),
        1
    );

    let committed = project_dir().join("pnpm-lock.yaml");
    if std::env::var_os("TACK_UPDATE_FIXTURES").is_some() {
        fs_err::write(&committed, &lockfile).unwrap();
    }
    assert_eq!(
        fs_err::read_to_string(&committed).unwrap(),
        lockfile,
        "fixtures-projects/basic/pnpm-lock.yaml is stale; rerun with TACK_UPDATE_FIXTURES=1"
    );

    // A frozen install from the committed lockfile, clean node_modules and a cold store:
    // tarballs only, no metadata requests.
    fs_err::remove_dir_all(&nm).unwrap();
    fs_err::remove_dir_all(tmp.path().join("store")).unwrap();
    reg.clear_requests();
    let out = pnpm(tmp.path(), &project, &["install", "--frozen-lockfile"]);
    assert!(out.status.success());
    assert!(nm.join("is-odd/package.json").is_file());
    assert!(nm.join(".bin/tack-bin-string").is_file());
    let requests = reg.requests();
    assert!(!requests.is_empty());
    assert!(
        requests
            .iter()
            .all(|r| r.decoded_path.ends_with(".tgz") && r.status == 200),
        "{requests:#?}"
    );
}

#[test]
fn pnpm_sends_the_configured_token_and_fails_without_it() {
    let reg = TestRegistry::start_blocking(RegistryOptions::default()).unwrap();
    reg.require_auth(Some("tack-token".into()));
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    write_project(&project, &reg);
    fs_err::copy(
        project_dir().join("pnpm-lock.yaml"),
        project.join("pnpm-lock.yaml"),
    )
    .unwrap();

    let out = pnpm(tmp.path(), &project, &["install", "--frozen-lockfile"]);
    assert!(
        !out.status.success(),
        "no token configured: the install must fail"
    );
    assert!(reg.requests().iter().any(|r| r.status == 401));

    let nerf = reg.url().trim_start_matches("http:").to_string();
    fs_err::write(
        project.join(".npmrc"),
        format!("registry={}\n{nerf}:_authToken=tack-token\n", reg.url()),
    )
    .unwrap();
    reg.clear_requests();
    let out = pnpm(tmp.path(), &project, &["install", "--frozen-lockfile"]);
    assert!(out.status.success());
    let requests = reg.requests();
    assert!(!requests.is_empty());
    assert!(
        requests
            .iter()
            .all(|r| r.authorization.as_deref() == Some("Bearer tack-token") && r.status == 200),
        "{requests:#?}"
    );
}
