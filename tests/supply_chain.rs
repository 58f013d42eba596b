//! pnpm 11+'s supply-chain check of a frozen install (`minimumReleaseAge`), side by side with
//! real pnpm 12: a lockfile naming a version younger than the cutoff is refused before
//! anything is fetched or linked; `minimumReleaseAgeExclude`, `--trust-lockfile` and
//! `trustLockfile` let it in; a lockfile that passed is not checked again.

use std::process::Output;

use serde_json::json;
use tack_suite::project::{assert_success, TestProject};
use tack_test_registry::{PackageDef, TestRegistry};

/// Both streams, with every run of whitespace made one space (pnpm wraps its messages).
fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
    .split_whitespace()
    .collect::<Vec<_>>()
    .join(" ")
}

/// Now, as the registry writes publish times.
fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// A registry with `tack-young@1.0.0`, published just now, which depends on `is-number`
/// (published long ago), and a project that depends on it (see [`locked_project`]).
fn young_project(registry: &TestRegistry) -> TestProject {
    registry.add_package(
        PackageDef::new("tack-young", "1.0.0")
            .field("dependencies", json!({"is-number": "7.0.0"}))
            .file("index.js", b"module.exports = 'young';\n".to_vec(), 0o644)
            .published(now_rfc3339()),
    );
    locked_project(registry, "tack-young", "1.0.0")
}

/// A project that depends on `name@version`, locked by pnpm with the check off (pnpm would
/// not resolve a version younger than the cutoff), then with the default policy again.
fn locked_project(registry: &TestRegistry, name: &str, version: &str) -> TestProject {
    let project = TestProject::new();
    let manifest = json!({"name": "app", "version": "1.0.0", "dependencies": {name: version}});
    project
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write("package.json", &manifest.to_string())
        .write("pnpm-workspace.yaml", "minimumReleaseAge: 0\n")
        .lock_with_pnpm()
        .write("pnpm-workspace.yaml", "");
    project
}

fn packument_requests(registry: &TestRegistry) -> Vec<String> {
    registry
        .requests()
        .into_iter()
        .filter(|r| !r.path.contains("/-/"))
        .map(|r| format!("{} {}", r.path, r.accept.unwrap_or_default()))
        .collect()
}

#[test]
fn a_version_younger_than_minimum_release_age_is_refused_like_pnpm() {
    let registry = tack_suite::registry::start();
    let project = young_project(&registry);
    for tool in ["tack", "pnpm"] {
        let (project_before, store_before) = (
            tack_suite::stamps::stamps(&project.dir()),
            tack_suite::stamps::stamps(&project.store()),
        );
        let output = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        let all = text(&output);
        assert_eq!(output.status.code(), Some(1), "{tool}:\n{all}");
        assert!(
            all.contains("ERR_PNPM_MINIMUM_RELEASE_AGE_VIOLATION"),
            "{tool}:\n{all}"
        );
        assert!(
            all.contains("1 lockfile entries failed verification"),
            "{tool}:\n{all}"
        );
        assert!(
            all.contains("tack-young@1.0.0 was published at"),
            "{tool}:\n{all}"
        );
        assert!(
            all.contains("within the minimumReleaseAge cutoff"),
            "{tool}:\n{all}"
        );
        assert!(
            all.contains("? Verifying lockfile against supply-chain policies (2 entries)..."),
            "{tool}:\n{all}"
        );
        assert!(
            all.contains("✗ Lockfile failed supply-chain policy check (2 entries in"),
            "{tool}:\n{all}"
        );
        assert!(
            !all.contains("is-number@7.0.0 was published"),
            "{tool}:\n{all}"
        );
        if tool == "tack" {
            // Refused before anything was fetched or linked (pnpm links while it checks).
            assert!(!project.dir().join("node_modules").exists());
            assert_eq!(tack_suite::stamps::stamps(&project.dir()), project_before);
            assert_eq!(
                tack_suite::stamps::stamps(&project.store()),
                store_before,
                "the store was written"
            );
        }
        let _ = fs_err::remove_dir_all(project.dir().join("node_modules"));
    }
}

#[test]
fn excluded_or_trusted_young_versions_are_installed_like_pnpm() {
    let registry = tack_suite::registry::start();
    let project = young_project(&registry);
    let cases: [(&str, &[&str]); 5] = [
        ("minimumReleaseAgeExclude:\n  - tack-young\n", &[]),
        ("minimumReleaseAgeExclude:\n  - tack-*\n", &[]),
        (
            "minimumReleaseAgeExclude:\n  - tack-young@0.9.0 || 1.0.0\n",
            &[],
        ),
        ("trustLockfile: true\n", &[]),
        ("", &["--trust-lockfile"]),
    ];
    for (settings, flags) in cases {
        project.write("pnpm-workspace.yaml", settings);
        for tool in ["pnpm", "tack"] {
            let _ = fs_err::remove_dir_all(project.dir().join("node_modules"));
            let mut args = vec!["install", "--frozen-lockfile"];
            args.extend_from_slice(flags);
            let output = project.run_tool(tool, &args);
            assert_success(&output, &format!("{tool} with {settings:?} {flags:?}"));
            assert!(
                project
                    .dir()
                    .join("node_modules/tack-young/index.js")
                    .exists(),
                "{tool} with {settings:?} {flags:?}"
            );
        }
    }
    // An exclusion of another version does not cover this one.
    project.write(
        "pnpm-workspace.yaml",
        "minimumReleaseAgeExclude:\n  - tack-young@0.9.0\n",
    );
    let _ = fs_err::remove_dir_all(project.dir().join("node_modules"));
    let output = project.tack(&["install", "--frozen-lockfile"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(text(&output).contains("tack-young@1.0.0 was published at"));
}

#[test]
fn a_lockfile_that_passed_is_not_checked_again_until_it_or_the_policy_changes() {
    let registry = tack_suite::registry::start();
    let project = locked_project(&registry, "is-odd", "3.0.1");
    // Offline, a lockfile never checked cannot be: nothing is fetched or linked.
    registry.clear_requests();
    let output = project.tack(&["install", "--frozen-lockfile", "--offline"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("ERR_PNPM_NO_OFFLINE_META"),
        "{}",
        text(&output)
    );
    assert!(!project.dir().join("node_modules").exists());
    assert!(registry.requests().is_empty());

    // Checked once: one abbreviated packument per package, no full one (nothing changed
    // since the cutoff).
    let output = project.tack(&["install", "--frozen-lockfile"]);
    assert_success(&output, "first install");
    assert!(
        text(&output).contains("✓ Lockfile passes supply-chain policies (2 entries in"),
        "{}",
        text(&output)
    );
    let mut asked = packument_requests(&registry);
    asked.sort();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(asked[0].starts_with("/is-number application/vnd.npm.install-v1+json"));
    assert!(asked[1].starts_with("/is-odd application/vnd.npm.install-v1+json"));
    // Asked for gzipped, as registries serve metadata (and this one then does).
    let encodings: Vec<Option<String>> = registry
        .requests()
        .into_iter()
        .filter(|r| !r.path.contains("/-/"))
        .map(|r| r.accept_encoding)
        .collect();
    assert!(
        encodings.iter().all(|e| e.as_deref() == Some("gzip")),
        "{encodings:?}"
    );

    // Not again, online or offline.
    for flags in [&[][..], &["--offline"][..]] {
        let _ = fs_err::remove_dir_all(project.dir().join("node_modules"));
        registry.clear_requests();
        let mut args = vec!["install", "--frozen-lockfile"];
        args.extend_from_slice(flags);
        let output = project.tack(&args);
        assert_success(&output, "a second install");
        assert!(
            text(&output).contains("✓ Lockfile passes supply-chain policies (verified "),
            "{}",
            text(&output)
        );
        assert!(packument_requests(&registry).is_empty());
    }

    // Another policy is checked afresh.
    project.write("pnpm-workspace.yaml", "minimumReleaseAge: 60\n");
    let _ = fs_err::remove_dir_all(project.dir().join("node_modules"));
    registry.clear_requests();
    assert_success(
        &project.tack(&["install", "--frozen-lockfile"]),
        "an install under another policy",
    );
    assert_eq!(packument_requests(&registry).len(), 2);
}

#[test]
fn a_package_changed_since_the_cutoff_is_read_in_full_and_its_old_versions_pass() {
    let registry = tack_suite::registry::start();
    // is-odd gets a new version today; the locked 3.0.1 is old.
    registry.add_package(
        PackageDef::new("is-odd", "3.0.2")
            .field("dependencies", json!({"is-number": "^6.0.0"}))
            .published(now_rfc3339()),
    );
    let project = locked_project(&registry, "is-odd", "3.0.1");
    registry.clear_requests();
    let output = project.tack(&["install", "--frozen-lockfile"]);
    assert_success(&output, "install");
    let asked = packument_requests(&registry);
    assert!(
        asked.iter().any(|r| r == "/is-odd application/json"),
        "the full packument was not read: {asked:?}"
    );
    assert!(!asked.iter().any(|r| r == "/is-number application/json"));
}

/// A tree installed from a trusted lockfile is up to date for a plain install, as for pnpm 12;
/// an install with `--frozen-lockfile` checks the lockfile all the same and refuses it.
#[test]
fn a_frozen_install_over_an_up_to_date_tree_still_checks_the_lockfile_like_pnpm() {
    let registry = tack_suite::registry::start();
    let project = young_project(&registry);
    for tool in ["pnpm", "tack"] {
        let _ = fs_err::remove_dir_all(project.dir().join("node_modules"));
        assert_success(
            &project.run_tool(tool, &["install", "--frozen-lockfile", "--trust-lockfile"]),
            &format!("{tool}: the trusted install"),
        );
        let output = project.run_tool(tool, &["install"]);
        assert_success(&output, &format!("{tool}: a plain install over it"));
        assert!(
            text(&output).contains("Already up to date"),
            "{tool}: {}",
            text(&output)
        );
        let output = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        assert_eq!(output.status.code(), Some(1), "{tool}: {}", text(&output));
        assert!(
            text(&output).contains("tack-young@1.0.0 was published at"),
            "{tool}: {}",
            text(&output)
        );
        assert!(project
            .dir()
            .join("node_modules/tack-young/index.js")
            .exists());
    }
}
