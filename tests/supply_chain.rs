//! pnpm 11+'s supply-chain check of a frozen install (`minimumReleaseAge`), side by side with
//! real pnpm 12: a lockfile naming a version younger than the cutoff is refused, with
//! nothing of it left linked; `minimumReleaseAgeExclude`, `--trust-lockfile` and
//! `trustLockfile` let it in; a lockfile that passed is not checked again.

use std::process::Output;
use std::time::Duration;

use serde_json::json;
use tack_suite::project::{assert_success, TestProject};
use tack_test_registry::{Fault, FaultKind, PackageDef, TestRegistry};

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

/// Holds back the registry's answers about `tack-young` (600 ms each, its abbreviated and
/// its full packument), so that the verdict comes once the packages are imported.
fn delay_the_verdict(registry: &TestRegistry) {
    registry.inject(Fault::new(
        "*/tack-young",
        FaultKind::Delay(Duration::from_millis(600)),
    ));
}

/// The install failed (exit 1), saying `needle`.
fn assert_refused(output: &Output, needle: &str) {
    assert_eq!(output.status.code(), Some(1), "{}", text(output));
    assert!(text(output).contains(needle), "{}", text(output));
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
    // The verdict comes once the packages are imported into the virtual store (twice the
    // delay: the abbreviated packument, then the full one).
    delay_the_verdict(&registry);
    for tool in ["tack", "pnpm"] {
        let project_before = tack_suite::stamps::stamps(&project.dir());
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
            // What it linked while the registry was asked is gone (pnpm leaves it). The
            // store may have gained the packages' files (unless the verdict came before the
            // downloads started): content only, and whole.
            assert!(!project.dir().join("node_modules").exists());
            assert_eq!(tack_suite::stamps::stamps(&project.dir()), project_before);
            let store = project.store();
            if store.join("v11").exists() {
                let status = project.tack(&[
                    "store",
                    "status",
                    "--store-dir",
                    store.to_str().expect("utf-8 path"),
                ]);
                assert_success(&status, "store status after the refusal");
            }
        }
        let _ = fs_err::remove_dir_all(project.dir().join("node_modules"));
    }
}

/// Over an installed tree, a rejected lockfile's new packages are taken out of the virtual
/// store again, and the tree keeps its packages, links and state.
#[test]
fn a_rejected_lockfile_over_an_installed_tree_leaves_the_tree_as_it_was() {
    let registry = tack_suite::registry::start();
    registry.add_package(
        PackageDef::new("tack-young", "1.0.0")
            .field("dependencies", json!({"is-number": "7.0.0"}))
            .file("index.js", b"module.exports = 'young';\n".to_vec(), 0o644)
            .published(now_rfc3339()),
    );
    let project = locked_project(&registry, "is-odd", "3.0.1");
    assert_success(
        &project.tack(&["install", "--frozen-lockfile"]),
        "the first install",
    );
    let modules = project.dir().join("node_modules");
    let top_level = |modules: &std::path::Path| -> Vec<String> {
        let mut names: Vec<String> = fs_err::read_dir(modules)
            .expect("node_modules")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let (names_before, state_before, vstore_before, record_before) = (
        top_level(&modules),
        fs_err::read(modules.join(".modules.yaml")).expect(".modules.yaml"),
        top_level(&modules.join(".pnpm")),
        fs_err::read(modules.join(".pnpm/lock.yaml")).expect(".pnpm/lock.yaml"),
    );

    // The lockfile gains tack-young (and is-number 7, which it needs).
    let manifest = json!({"name": "app", "version": "1.0.0",
        "dependencies": {"is-odd": "3.0.1", "tack-young": "1.0.0"}});
    project
        .write("package.json", &manifest.to_string())
        .write("pnpm-workspace.yaml", "minimumReleaseAge: 0\n")
        .lock_with_pnpm()
        .write("pnpm-workspace.yaml", "");
    // The verdict comes late, once the new packages are imported into the virtual store.
    delay_the_verdict(&registry);
    let output = project.tack(&["install", "--frozen-lockfile"]);
    assert_refused(&output, "tack-young@1.0.0 was published at");
    // The same entries (the record and the no-op markers put back), the same record.
    assert_eq!(top_level(&modules.join(".pnpm")), vstore_before);
    assert_eq!(
        fs_err::read(modules.join(".pnpm/lock.yaml")).expect(".pnpm/lock.yaml"),
        record_before
    );
    assert_eq!(top_level(&modules), names_before);
    assert_eq!(
        fs_err::read(modules.join(".modules.yaml")).expect(".modules.yaml"),
        state_before
    );
    assert!(modules.join("is-odd/package.json").is_file());
    assert!(!modules.join("tack-young").exists());

    // Trusted, the same lockfile installs.
    let output = project.tack(&["install", "--frozen-lockfile", "--trust-lockfile"]);
    assert_success(&output, "the trusted install");
    assert!(modules.join("tack-young/index.js").is_file());
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
    assert_refused(&output, "ERR_PNPM_META_FETCH_FAIL");
    assert!(
        text(&output).contains("ERR_PNPM_NO_OFFLINE_META: "),
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

/// The check's records in `--reporter ndjson` output, in the order of each stream:
/// `(status, entries, elapsedMs given, verifiedAt given)`, each checked to name the lockfile.
fn verification_records(project: &TestProject, output: &Output) -> Vec<(String, i64, bool, bool)> {
    let lockfile = project.dir().join("pnpm-lock.yaml");
    // pnpm writes its log to stderr (read both, to see it is there).
    let streams = [&output.stdout, &output.stderr].map(|bytes| String::from_utf8_lossy(bytes));
    streams
        .iter()
        .flat_map(|stream| stream.lines())
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|record| record["name"] == "pnpm:lockfile-verification")
        .map(|record| {
            assert_eq!(record["level"], "debug", "{record}");
            assert!(
                !String::from_utf8_lossy(&output.stdout).contains("pnpm:lockfile-verification"),
                "the log went to stdout"
            );
            assert_eq!(
                record["lockfilePath"]
                    .as_str()
                    .map(std::path::PathBuf::from),
                Some(lockfile.clone()),
                "{record}"
            );
            (
                record["status"].as_str().unwrap_or_default().to_string(),
                record["entries"].as_i64().unwrap_or(-1),
                record["elapsedMs"].is_u64(),
                record["verifiedAt"].is_string(),
            )
        })
        .collect()
}

#[test]
fn the_check_is_logged_as_pnpm_logs_it_with_the_ndjson_reporter() {
    let registry = tack_suite::registry::start();
    let refused = young_project(&registry);
    let passing = locked_project(&registry, "is-odd", "3.0.1");
    let mut logged = Vec::new();
    for tool in ["pnpm", "tack"] {
        let args = ["install", "--frozen-lockfile", "--reporter", "ndjson"];
        let output = refused.run_tool(tool, &args);
        assert_eq!(output.status.code(), Some(1), "{tool}: {}", text(&output));
        let mut records = verification_records(&refused, &output);
        for _ in 0..2 {
            let _ = fs_err::remove_dir_all(passing.dir().join("node_modules"));
            let output = passing.run_tool(tool, &args);
            assert_success(&output, &format!("{tool} --reporter ndjson"));
            records.extend(verification_records(&passing, &output));
        }
        logged.push(records);
    }
    let expected = vec![
        ("started".to_string(), 2, false, false),
        ("failed".to_string(), 2, true, false),
        ("started".to_string(), 2, false, false),
        ("done".to_string(), 2, true, false),
        ("cached".to_string(), -1, false, true),
    ];
    assert_eq!(logged[0], expected, "pnpm");
    assert_eq!(logged[1], expected, "tack");
}

/// In a workspace, the projects' own links wait for the verdict too: a rejected lockfile
/// leaves no project a `node_modules` of links into packages that are gone.
#[test]
fn a_rejected_lockfile_links_nothing_into_the_workspace_projects() {
    let registry = tack_suite::registry::start();
    registry.add_package(
        PackageDef::new("tack-young", "1.0.0")
            .file("index.js", b"module.exports = 'young';\n".to_vec(), 0o644)
            .published(now_rfc3339()),
    );
    let project = TestProject::new();
    let app = json!({"name": "app", "version": "1.0.0", "dependencies": {"tack-young": "1.0.0"}});
    let root = json!({"name": "root", "version": "1.0.0", "dependencies": {"is-number": "7.0.0"}});
    project
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write("package.json", &root.to_string())
        .write("packages/app/package.json", &app.to_string())
        .write(
            "pnpm-workspace.yaml",
            "packages:\n  - packages/*\nminimumReleaseAge: 0\n",
        )
        .lock_with_pnpm()
        .write("pnpm-workspace.yaml", "packages:\n  - packages/*\n");
    delay_the_verdict(&registry);
    let output = project.tack(&["install", "--frozen-lockfile"]);
    assert_refused(&output, "ERR_PNPM_MINIMUM_RELEASE_AGE_VIOLATION");
    assert!(!project.dir().join("node_modules").exists());
    assert!(!project.dir().join("packages/app/node_modules").exists());
    // A filter that selects no project installs nothing, and still fails on the lockfile.
    let output = project.tack(&[
        "install",
        "--frozen-lockfile",
        "--filter",
        "no-such-project",
    ]);
    assert_refused(&output, "ERR_PNPM_MINIMUM_RELEASE_AGE_VIOLATION");
}

/// A rejected lockfile whose install imported packages that were there again (`--force`)
/// does not put the last install's record back: the tree is no longer that install's, and
/// the next install must check it rather than call it up to date.
#[test]
fn a_rejected_forced_install_leaves_the_tree_to_be_checked_again() {
    let registry = tack_suite::registry::start();
    let project = young_project(&registry);
    assert_success(
        &project.tack(&["install", "--frozen-lockfile", "--trust-lockfile"]),
        "the trusted install",
    );
    let modules = project.dir().join("node_modules");
    assert!(modules.join(".pnpm/lock.yaml").is_file());
    delay_the_verdict(&registry);
    let output = project.tack(&["install", "--frozen-lockfile", "--force"]);
    assert_refused(&output, "ERR_PNPM_MINIMUM_RELEASE_AGE_VIOLATION");
    assert!(!modules.join(".pnpm/.tack-markers").exists());
    assert!(modules.join(".tack-install-in-progress").exists());
    registry.clear_faults();
    let output = project.tack(&["install", "--trust-lockfile"]);
    assert_success(&output, "the next install");
    assert!(
        !text(&output).contains("Already up to date"),
        "{}",
        text(&output)
    );
    assert!(modules.join("tack-young/index.js").is_file());
}

/// A registry where `tack-trusted@1.0.0` was published with a provenance attestation and
/// `1.0.1`, a month later, without one; a project locked at `1.0.1`.
fn downgraded_project(registry: &TestRegistry) -> TestProject {
    let provenance = json!({"attestations": {
        "url": format!("{}/-/npm/v1/attestations/tack-trusted@1.0.0", registry.url()),
        "provenance": {"predicateType": "https://slsa.dev/provenance/v1"}
    }});
    registry.add_package(
        PackageDef::new("tack-trusted", "1.0.0")
            .field("dist", provenance)
            .published("2020-01-01T00:00:00.000Z"),
    );
    registry.add_package(
        PackageDef::new("tack-trusted", "1.0.1")
            .file(
                "index.js",
                b"module.exports = 'no evidence';\n".to_vec(),
                0o644,
            )
            .published("2020-02-01T00:00:00.000Z"),
    );
    locked_project(registry, "tack-trusted", "1.0.1")
}

#[test]
fn a_trust_downgrade_is_refused_with_trust_policy_no_downgrade_like_pnpm() {
    let registry = tack_suite::registry::start();
    let project = downgraded_project(&registry);
    project.write("pnpm-workspace.yaml", "trustPolicy: no-downgrade\n");
    for tool in ["pnpm", "tack"] {
        let output = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        let all = text(&output);
        assert_eq!(output.status.code(), Some(1), "{tool}:\n{all}");
        assert!(all.contains("ERR_PNPM_TRUST_DOWNGRADE"), "{tool}:\n{all}");
        for needle in [
            "1 lockfile entries failed verification:",
            "tack-trusted@1.0.1 High-risk trust downgrade for \"tack-trusted@1.0.1\" (possible \
             package takeover)",
            "Lockfile failed supply-chain policy check (1 entry in",
        ] {
            assert!(all.contains(needle), "{tool} did not say {needle}:\n{all}");
        }
        assert!(
            !project.dir().join("node_modules/tack-trusted").exists(),
            "{tool} linked it"
        );
        let _ = fs_err::remove_dir_all(project.dir().join("node_modules"));
    }
    // Excluded, or older than trustPolicyIgnoreAfter: installed.
    for settings in [
        "trustPolicyExclude:\n  - tack-trusted@1.0.1\n",
        "trustPolicyExclude:\n  - tack-*\n",
        "trustPolicyIgnoreAfter: 60\n",
        "trustPolicy: off\n",
    ] {
        project.write(
            "pnpm-workspace.yaml",
            &format!("trustPolicy: no-downgrade\n{settings}").replace(
                "trustPolicy: no-downgrade\ntrustPolicy: off\n",
                "trustPolicy: off\n",
            ),
        );
        for tool in ["pnpm", "tack"] {
            let _ = fs_err::remove_dir_all(project.dir().join("node_modules"));
            let output = project.run_tool(tool, &["install", "--frozen-lockfile"]);
            assert_success(&output, &format!("{tool} with {settings:?}"));
            assert!(!text(&output).contains("trustPolicy"), "{}", text(&output));
        }
    }
}

#[test]
fn a_lockfile_failing_both_policies_names_each_kind_like_pnpm() {
    let registry = tack_suite::registry::start();
    let project = downgraded_project(&registry);
    registry.add_package(PackageDef::new("tack-young", "1.0.0").published(now_rfc3339()));
    let manifest = json!({"name": "app", "version": "1.0.0",
        "dependencies": {"tack-trusted": "1.0.1", "tack-young": "1.0.0"}});
    project
        .write("package.json", &manifest.to_string())
        .write("pnpm-workspace.yaml", "minimumReleaseAge: 0\n")
        .lock_with_pnpm()
        .write("pnpm-workspace.yaml", "trustPolicy: no-downgrade\n");
    for tool in ["pnpm", "tack"] {
        let output = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        let all = text(&output);
        assert_eq!(output.status.code(), Some(1), "{tool}:\n{all}");
        for needle in [
            "ERR_PNPM_LOCKFILE_RESOLUTION_VERIFICATION",
            "2 lockfile entries failed verification:",
            "tack-trusted@1.0.1 [TRUST_DOWNGRADE] High-risk trust downgrade for \
             \"tack-trusted@1.0.1\" (possible package takeover)",
            "tack-young@1.0.0 [MINIMUM_RELEASE_AGE_VIOLATION] was published at",
        ] {
            assert!(all.contains(needle), "{tool} did not say {needle}:\n{all}");
        }
    }
}

/// A locked version whose publish time the registry lists but whose version object it does
/// not (an unpublished or hidden version) cannot be judged, and pnpm 12 refuses it; a
/// `trustPolicy` pnpm does not know stops the install before anything is checked or linked.
#[test]
fn a_version_without_its_version_object_and_an_unknown_trust_policy_are_refused_like_pnpm() {
    let registry = tack_suite::registry::start();
    let project = downgraded_project(&registry);
    let tarball = format!("{}/tack-trusted/-/tack-trusted-1.0.0.tgz", registry.url());
    let packument = json!({
        "name": "tack-trusted",
        "dist-tags": {"latest": "1.0.0"},
        "versions": {"1.0.0": {"name": "tack-trusted", "version": "1.0.0",
            "dist": {"tarball": tarball, "integrity": "sha512-AAAA"}}},
        "time": {"created": "2020-01-01T00:00:00.000Z", "modified": "2020-02-01T00:00:00.000Z",
                 "1.0.0": "2020-01-01T00:00:00.000Z", "1.0.1": "2020-02-01T00:00:00.000Z"}
    });
    registry.serve_raw("/tack-trusted", packument.to_string().into_bytes());
    let cases = [
        (
            "trustPolicy: no-downgrade\n",
            "ERR_PNPM_TRUST_DOWNGRADE",
            "tack-trusted@1.0.1 could not be checked against trustPolicy (missing version object \
             for version 1.0.1 of tack-trusted in metadata)",
        ),
        ("trustPolicy: maybe\n", "ERR_PNPM_INVALID_SETTING", "maybe"),
    ];
    check_both(&project, &cases);
    // Without the version's publish time either: pnpm says which is missing.
    let mut no_time = packument.clone();
    no_time["time"]
        .as_object_mut()
        .expect("time")
        .remove("1.0.1");
    registry.serve_raw("/tack-trusted", no_time.to_string().into_bytes());
    check_both(
        &project,
        &[(
            "trustPolicy: no-downgrade\n",
            "ERR_PNPM_TRUST_DOWNGRADE",
            "tack-trusted@1.0.1 could not be checked against trustPolicy (missing time for \
             version 1.0.1 of tack-trusted in metadata)",
        )],
    );
    // Off, the same metadata installs.
    project.write("pnpm-workspace.yaml", "trustPolicy: off\n");
    let output = project.run_tool("tack", &["install", "--frozen-lockfile"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
}

/// Runs pnpm and tack on each `(settings, code, line)`: both refuse, saying both.
fn check_both(project: &TestProject, cases: &[(&str, &str, &str)]) {
    for &(settings, code, needle) in cases {
        both_refuse(project, settings, &[code, needle]);
    }
}

/// Runs pnpm and tack under `settings`: both exit 1, say every one of `needles`, and link
/// nothing.
fn both_refuse(project: &TestProject, settings: &str, needles: &[&str]) {
    project.write("pnpm-workspace.yaml", settings);
    for tool in ["pnpm", "tack"] {
        let output = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        let all = text(&output);
        assert_eq!(output.status.code(), Some(1), "{tool}, {settings}:\n{all}");
        for needle in needles {
            assert!(all.contains(needle), "{tool} did not say {needle}:\n{all}");
        }
        assert!(
            !project.dir().join("node_modules/tack-trusted").exists(),
            "{tool} linked it"
        );
        let _ = fs_err::remove_dir_all(project.dir().join("node_modules"));
    }
}

/// A registry that answers 404 for a locked package's metadata fails the check, as in pnpm
/// 12, whichever policy asked for it: before, tack counted the package as having no publish
/// times, passed the lockfile and cached the pass. A 401, 403 or 410 fails it with the same
/// code (tack said `ERR_PNPM_FETCH_<status>` before).
#[test]
fn metadata_the_registry_does_not_have_fails_the_check_like_pnpm() {
    let registry = tack_suite::registry::start();
    let project = downgraded_project(&registry);
    registry.inject(Fault::status("*/tack-trusted", 404));
    for settings in [
        "minimumReleaseAge: 1440\n",
        "minimumReleaseAge: 1440\nminimumReleaseAgeIgnoreMissingTime: true\n",
        "minimumReleaseAge: 0\ntrustPolicy: no-downgrade\n",
    ] {
        let url = format!(
            "Failed to fetch metadata from {}tack-trusted",
            registry.url()
        );
        both_refuse(
            &project,
            settings,
            &["ERR_PNPM_META_FETCH_FAIL", &url, "(404 Not Found)"],
        );
    }
    // Other refusals of the metadata (a missing or bad token, a withdrawn package) fail the
    // check under the same code, with the status pnpm 12 names.
    for (status, reason) in [
        (401, "401 Unauthorized"),
        (403, "403 Forbidden"),
        (410, "410 Gone"),
    ] {
        registry.clear_faults();
        registry.inject(Fault::status("*/tack-trusted", status));
        let line = format!(
            "Failed to fetch metadata from {}tack-trusted: HTTP status client error ({reason})",
            registry.url()
        );
        both_refuse(
            &project,
            "minimumReleaseAge: 1440\n",
            &["ERR_PNPM_META_FETCH_FAIL", &line],
        );
    }
    // A package excluded from every policy is never asked for, so the refusal does not matter.
    project.write(
        "pnpm-workspace.yaml",
        "minimumReleaseAge: 1440\nminimumReleaseAgeExclude:\n  - tack-trusted\n",
    );
    let output = project.run_tool("tack", &["install", "--frozen-lockfile"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
}
