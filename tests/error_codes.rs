//! Failing installs against pnpm 12: a project that pnpm 12 refuses is refused by tack with the
//! same `ERR_PNPM_…` code (the first line of the error, `Error: <code>`), and one pnpm 12
//! installs is installed. Each case starts from the basic fixture, resolved by pnpm 12 against
//! the test registry, with one file changed; both tools install a copy of it.

use std::path::PathBuf;

use tack_suite::conformance::{clone_inputs, resolve_with_pnpm};
use tack_suite::project::TestProject;
use tack_suite::registry;

fn basic_fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/basic")
}

/// The code `out` failed with (`Error: <code>`, first line of stderr), or `None` for an
/// install that succeeded.
fn failure_code(out: &std::process::Output) -> Option<String> {
    if out.status.success() {
        return None;
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Some(
        stderr
            .lines()
            .find_map(|line| line.strip_prefix("Error: "))
            .unwrap_or("<no code>")
            .trim()
            .to_string(),
    )
}

/// Installs a copy of `reference` with each tool and asserts both fail with `code` (or both
/// succeed, for `None`); returns the tack copy.
fn both_end_with(reference: &TestProject, code: Option<&str>, case: &str) -> TestProject {
    let [_, (tack, _)] = outcomes_of_both(reference, code, case);
    tack
}

/// [`both_end_with`], returning each tool's copy and output (pnpm's first).
fn outcomes_of_both(
    reference: &TestProject,
    code: Option<&str>,
    case: &str,
) -> [(TestProject, std::process::Output); 2] {
    outcomes_with_flags(reference, &[], code, case)
}

/// [`outcomes_of_both`] for `install --frozen-lockfile` with `flags`.
fn outcomes_with_flags(
    reference: &TestProject,
    flags: &[&str],
    code: Option<&str>,
    case: &str,
) -> [(TestProject, std::process::Output); 2] {
    let args: Vec<&str> = ["install", "--frozen-lockfile"]
        .iter()
        .chain(flags)
        .copied()
        .collect();
    let outcomes = ["pnpm", "tack"].map(|tool| {
        let project = clone_inputs(reference);
        let out = project.run_tool(tool, &args);
        (project, out)
    });
    for ((_, out), tool) in outcomes.iter().zip(["pnpm", "tack"]) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            failure_code(out).as_deref(),
            code,
            "{case}: {tool}\n{stderr}"
        );
    }
    outcomes
}

/// The lines of `out`'s stdout that end a script that failed (`… postinstall: Failed`).
fn failed_script_lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| line.ends_with(": Failed") || line.contains(": Failed ("))
        .map(str::to_string)
        .collect()
}

/// The basic fixture's `package.json` with `edit` applied to its JSON.
fn with_manifest(
    reference: &TestProject,
    edit: impl FnOnce(&mut serde_json::Value),
) -> TestProject {
    let project = clone_inputs(reference);
    let path = project.dir().join("package.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(&path).expect("package.json")).expect("json");
    edit(&mut manifest);
    project.write("package.json", &manifest.to_string());
    project
}

/// Fields of another type than npm's are read as absent, as pnpm 12 reads them: the project
/// installs (tack refused each of these with `ERR_PNPM_JSON_PARSE`, "not valid JSON").
#[test]
fn manifests_with_odd_field_types_install_like_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&basic_fixture(), &registry.url());
    let odd: [(&str, serde_json::Value); 7] = [
        ("engines", serde_json::json!("node >= 4")),
        ("version", serde_json::json!(1)),
        ("name", serde_json::json!(5)),
        ("scripts", serde_json::json!({"test": 1})),
        ("peerDependencies", serde_json::Value::Null),
        ("peerDependencies", serde_json::json!(["x"])),
        // Read as no optional dependencies: the lockfile's are then one too many.
        ("optionalDependencies", serde_json::Value::Null),
    ];
    for (field, value) in odd {
        let project = with_manifest(&reference, |m| {
            m[field] = value.clone();
        });
        let outdated = field == "optionalDependencies";
        let code = outdated.then_some("ERR_PNPM_OUTDATED_LOCKFILE");
        let tack = both_end_with(&project, code, &format!("{field}: {value}"));
        let installed = tack
            .dir()
            .join("node_modules/is-odd/package.json")
            .is_file();
        assert_eq!(installed, !outdated, "{field}: {value}");
    }
}

/// A manifest whose document is not an object, and a workspace project's manifest that is not
/// JSON, fail with pnpm 12's codes before anything is written.
#[test]
fn manifests_that_are_no_object_or_no_json_fail_like_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&basic_fixture(), &registry.url());
    let array = clone_inputs(&reference);
    array.write("package.json", "[1, 2]");
    let tack = both_end_with(&array, Some("ERR_PNPM_INVALID_MANIFEST"), "an array");
    assert!(!tack.dir().join("node_modules").exists());

    let workspace = clone_inputs(&reference);
    workspace
        .write(
            "pnpm-workspace.yaml",
            &format!(
                "{}packages:\n  - 'pkgs/*'\n",
                fs_err::read_to_string(reference.dir().join("pnpm-workspace.yaml"))
                    .unwrap_or_default()
            ),
        )
        .write("pkgs/a/package.json", "{\n  \"name\": \"a\",\n");
    let tack = both_end_with(
        &workspace,
        Some("ERR_PNPM_PACKAGE_MANIFEST_SERIALIZATION_ERROR"),
        "a project's manifest cut short",
    );
    assert!(!tack.dir().join("node_modules").exists());
    workspace.write("pkgs/a/package.json", "\"just a string\"");
    both_end_with(
        &workspace,
        Some("ERR_PNPM_INVALID_MANIFEST"),
        "a project's manifest a string",
    );
}

/// A build that fails, a dependency's or the project's own, ends with pnpm 12's code (tack gave
/// pnpm 11's `ELIFECYCLE`) and the same `Failed` line, the exit status left to the error.
#[test]
fn failed_scripts_end_with_pnpm_12s_code() {
    let registry = registry::start();
    let dependency = TestProject::new();
    dependency
        .write(
            "package.json",
            &serde_json::json!({"name": "p", "version": "1.0.0",
                "dependencies": {"tack-build-fail": "1.0.0"}})
            .to_string(),
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write(
            "pnpm-workspace.yaml",
            "minimumReleaseAge: 0\nallowBuilds:\n  tack-build-fail: true\n",
        );
    dependency.lock_with_pnpm();
    let code = Some("ERR_PNPM_EXECUTOR_LIFECYCLE_SCRIPT_FAILED");
    let [(_, pnpm), (_, tack)] = outcomes_of_both(&dependency, code, "a dependency's build");
    assert_eq!(failed_script_lines(&pnpm), failed_script_lines(&tack));
    assert_eq!(failed_script_lines(&tack).len(), 1);
    let stderr = String::from_utf8_lossy(&tack.stderr);
    assert!(stderr.contains("exit code 3"), "{stderr}");

    let reference = resolve_with_pnpm(&basic_fixture(), &registry.url());
    let own = with_manifest(&reference, |m| {
        m["scripts"] = serde_json::json!({"postinstall": "echo own; exit 2"});
    });
    let [(_, pnpm), (_, tack)] = outcomes_of_both(&own, code, "the project's own script");
    assert_eq!(failed_script_lines(&pnpm), failed_script_lines(&tack));
    let stderr = String::from_utf8_lossy(&tack.stderr);
    assert!(
        stderr.contains("--ignore-scripts") && !stderr.contains("allowBuilds"),
        "{stderr}"
    );
}

/// A project declared for another package manager is refused as pnpm 12 refuses it, before
/// anything is written (tack installed it without a word); `onFail` or `pmOnFail` set to `warn`
/// installs with pnpm's warning, `ignore` without one.
#[test]
fn a_project_for_another_package_manager_is_refused_like_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&basic_fixture(), &registry.url());
    let yarn = with_manifest(&reference, |m| m["packageManager"] = "yarn@4.0.0".into());
    let tack = both_end_with(
        &yarn,
        Some("ERR_PNPM_OTHER_PM_EXPECTED"),
        "packageManager yarn",
    );
    assert!(!tack.dir().join("node_modules").exists());

    let warned = with_manifest(&reference, |m| {
        m["devEngines"] = serde_json::json!({"packageManager": {"name": "bun", "onFail": "warn"}});
    });
    let [(_, pnpm), (_, tack)] = outcomes_of_both(&warned, None, "devEngines, onFail warn");
    let warning = "[WARN] This project is configured to use bun";
    // Before the reporter starts, on stderr.
    for (tool, out) in [("pnpm", &pnpm), ("tack", &tack)] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.lines().any(|line| line == warning),
            "{tool}: {stderr}"
        );
    }

    let ignored = clone_inputs(&yarn);
    ignored.add_settings("pmOnFail: ignore\n");
    let [(_, pnpm), (_, tack)] = outcomes_of_both(&ignored, None, "pmOnFail ignore");
    for out in [&pnpm, &tack] {
        assert!(!String::from_utf8_lossy(&out.stderr).contains("configured to use"));
    }
}

/// `text` (a v9 lockfile) without the entry `key` of its top-level `section`.
fn without_entry(text: &str, section: &str, key: &str) -> String {
    let mut out = Vec::new();
    let (mut in_section, mut skipping, mut removed) = (false, false, false);
    for line in text.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            in_section = line == format!("{section}:");
            skipping = false;
        } else if in_section && line.starts_with("  ") && !line.starts_with("   ") {
            skipping = line.trim_end() == format!("  {key}:")
                || line.trim_end().starts_with(&format!("  {key}: "));
            removed |= skipping;
        }
        if !skipping {
            out.push(line);
        }
    }
    assert!(removed, "no {section}.{key} in the lockfile");
    out.join("\n") + "\n"
}

/// The reference's copy with its lockfile changed by `edit`.
fn with_lockfile(reference: &TestProject, edit: impl FnOnce(String) -> String) -> TestProject {
    let project = clone_inputs(reference);
    let path = project.dir().join("pnpm-lock.yaml");
    let text = fs_err::read_to_string(&path).expect("the lockfile");
    project.write("pnpm-lock.yaml", &edit(text));
    project
}

/// A lockfile damaged by hand (a merge conflict resolved badly, an entry deleted, an integrity
/// edited) fails with pnpm 12's code before anything is written; tack linked part of the tree
/// first for most of these and failed with codes of its own.
#[test]
fn damaged_lockfiles_fail_like_pnpm_before_anything_is_written() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&basic_fixture(), &registry.url());
    // pnpm downloads the tarball with a digest that is not base64, and retries.
    reference.add_settings(tack_suite::setup::FAST_FETCH_SETTINGS);
    let integrity_of_is_odd = |text: String, value: &str| {
        let entry = text
            .find("\n  is-odd@3.0.1:\n")
            .expect("is-odd's packages entry");
        let start = entry + text[entry..].find("integrity: ").expect("its integrity") + 11;
        let end = start
            + text[start..]
                .find(['\n', '}'])
                .expect("the integrity's end");
        format!("{}{value}{}", &text[..start], &text[end..])
    };
    let cases: Vec<(&str, TestProject, &str)> = vec![
        (
            "an empty lockfile",
            with_lockfile(&reference, |_| String::new()),
            "ERR_PNPM_NO_LOCKFILE",
        ),
        (
            "a direct dependency's snapshot deleted",
            with_lockfile(&reference, |t| {
                without_entry(&t, "snapshots", "is-odd@3.0.1")
            }),
            "ERR_PNPM_LOCKFILE_MISSING_DEPENDENCY",
        ),
        (
            "a transitive dependency's snapshot deleted",
            with_lockfile(&reference, |t| {
                without_entry(&t, "snapshots", "is-number@6.0.0")
            }),
            "ERR_PNPM_LOCKFILE_MISSING_DEPENDENCY",
        ),
        (
            "a packages entry deleted",
            with_lockfile(&reference, |t| {
                without_entry(&t, "packages", "is-odd@3.0.1")
            }),
            "ERR_PNPM_PACKAGE_MANAGER_MISSING_PACKAGE_METADATA",
        ),
        (
            "an integrity that is no SRI string",
            with_lockfile(&reference, |t| integrity_of_is_odd(t, "foo")),
            "ERR_PNPM_BROKEN_LOCKFILE",
        ),
        (
            "an integrity whose digest is not base64",
            with_lockfile(&reference, |t| integrity_of_is_odd(t, "sha512-!!!")),
            "ERR_PNPM_TARBALL_INTEGRITY",
        ),
    ];
    for (case, project, code) in cases {
        let tack = both_end_with(&project, Some(code), case);
        assert!(
            !tack.dir().join("node_modules").exists(),
            "{case}: tack wrote node_modules"
        );
    }
}

/// An unreadable `pnpm-workspace.yaml` is an invalid setting to pnpm 12 (tack said
/// `ERR_PNPM_YAML_PARSE`); an offline install of a lockfile never checked against the
/// supply-chain policies fails on the metadata it cannot read, with the cause's code in the
/// message (tack gave that code alone).
#[test]
fn unreadable_settings_and_offline_metadata_fail_like_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&basic_fixture(), &registry.url());
    let broken = clone_inputs(&reference);
    broken.write("pnpm-workspace.yaml", "packages:\n  - [pkgs/*\n");
    let tack = both_end_with(
        &broken,
        Some("ERR_PNPM_INVALID_SETTING"),
        "unclosed bracket",
    );
    assert!(!tack.dir().join("node_modules").exists());

    let checked = clone_inputs(&reference);
    checked.write("pnpm-workspace.yaml", "minimumReleaseAge: 1440\n");
    let code = Some("ERR_PNPM_META_FETCH_FAIL");
    let [(_, pnpm), (tack, out)] = outcomes_with_flags(&checked, &["--offline"], code, "offline");
    for (tool, out) in [("pnpm", &pnpm), ("tack", &out)] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("ERR_PNPM_NO_OFFLINE_META: "),
            "{tool}: {stderr}"
        );
    }
    assert!(!tack.dir().join("node_modules").exists());
}

/// The lockfile with the reference at `marker` (the text just before it, unique in the file)
/// replaced by `reference`.
fn with_reference(reference_project: &TestProject, marker: &str, reference: &str) -> TestProject {
    with_lockfile(reference_project, |text| {
        let start = text.find(marker).expect("the marker") + marker.len();
        let end = start + text[start..].find('\n').expect("the line's end");
        format!("{}{reference}{}", &text[..start], &text[end..])
    })
}

/// A dependency reference that cannot be a dep path (empty, a scoped name with no version,
/// parentheses that do not pair) makes the lockfile broken to pnpm 12 as it reads it, in an
/// importer or in a snapshot, reachable or not; tack looked it up and said a dependency was
/// missing, or installed when nothing reached it. One that parses but names nothing is a
/// missing dependency to both.
#[test]
fn references_that_are_no_dep_path_break_the_lockfile_like_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&basic_fixture(), &registry.url());
    let snapshot = "\n  is-odd@3.0.1:\n    dependencies:\n      is-number: ";
    let importer = "\n      is-odd:\n        specifier: ^3.0.1\n        version: ";
    let broken = "ERR_PNPM_BROKEN_LOCKFILE";
    let missing = "ERR_PNPM_LOCKFILE_MISSING_DEPENDENCY";
    let cases = [
        (snapshot, "'@@@bogus'", broken),
        (snapshot, "'@a/b'", broken),
        (snapshot, "''", broken),
        (snapshot, "'6.0.0(('", broken),
        (snapshot, "'6.0.0)'", broken),
        (snapshot, "bogus", missing),
        (snapshot, "'@a/b@1.0.0'", missing),
        (importer, "'@@@bogus'", broken),
        (importer, "'3.0.1(('", broken),
    ];
    for (marker, bad, code) in cases {
        let project = with_reference(&reference, marker, bad);
        let place = if marker == snapshot {
            "snapshot"
        } else {
            "importer"
        };
        let case = format!("{place} reference {bad}");
        let [_, (tack, out)] = outcomes_of_both(&project, Some(code), &case);
        assert!(
            !tack.dir().join("node_modules").exists(),
            "{case}: tack wrote node_modules"
        );
        if code == broken {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("is no dependency path"), "{case}: {stderr}");
        }
    }
    // A snapshot nothing reaches is read all the same.
    let unreached = with_lockfile(&reference, |text| {
        text.replacen(
            "\n  is-odd@3.0.1:\n",
            "\n  unreached@1.0.0:\n    dependencies:\n      x: '@@@bogus'\n\n  is-odd@3.0.1:\n",
            1,
        )
    });
    both_end_with(&unreached, Some(broken), "an unreached snapshot");
}

/// `dependenciesMeta` is compared with the lockfile's as written: a value that is no object
/// makes the lockfile outdated, as in pnpm 12 (tack read it as absent and installed); `null`
/// and `{}` are absent to both.
#[test]
fn dependencies_meta_that_is_no_object_outdates_the_lockfile_like_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&basic_fixture(), &registry.url());
    let cases: [(serde_json::Value, Option<&str>); 5] = [
        (serde_json::json!([]), Some("ERR_PNPM_OUTDATED_LOCKFILE")),
        (serde_json::json!(1), Some("ERR_PNPM_OUTDATED_LOCKFILE")),
        (serde_json::json!("x"), Some("ERR_PNPM_OUTDATED_LOCKFILE")),
        (serde_json::Value::Null, None),
        (serde_json::json!({}), None),
    ];
    for (value, code) in cases {
        let project = with_manifest(&reference, |m| {
            m["dependenciesMeta"] = value.clone();
        });
        let case = format!("dependenciesMeta: {value}");
        let [_, (tack, out)] = outcomes_of_both(&project, code, &case);
        let installed = tack
            .dir()
            .join("node_modules/is-odd/package.json")
            .is_file();
        assert_eq!(installed, code.is_none(), "{case}");
        if code.is_some() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains(&format!("package manifest dependencies meta ({value})")),
                "{case}: {stderr}"
            );
        }
    }
}

/// An option given twice takes its last value, as pnpm 12 takes `--store-dir` (a CI script
/// that appends its own to a command line that has one): tack refused the command line
/// ("cannot be used multiple times"). The harness adds the project's store last. (pnpm 12
/// refuses a repeated switch such as `--frozen-lockfile`; tack accepts that too.)
#[test]
fn a_flag_given_twice_takes_its_last_value_like_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&basic_fixture(), &registry.url());
    let [(pnpm, _), (tack, _)] = outcomes_with_flags(
        &reference,
        &["--store-dir", "first-store"],
        None,
        "--store-dir twice",
    );
    for (tool, project) in [("pnpm", &pnpm), ("tack", &tack)] {
        assert!(
            project.store().join("v11/index.db").is_file(),
            "{tool} did not use the last --store-dir"
        );
        assert!(
            !project.dir().join("first-store").exists(),
            "{tool} used the first --store-dir"
        );
        assert!(project
            .dir()
            .join("node_modules/is-odd/package.json")
            .is_file());
    }
}

/// A file where `node_modules` or `node_modules/.pnpm` must be stops the install before
/// anything is written, with pnpm 12's codes (tack failed later, with codes of its own, and
/// left its in-progress marker behind a file at `.pnpm`).
#[test]
fn a_file_where_node_modules_or_its_virtual_store_goes_fails_like_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&basic_fixture(), &registry.url());
    let cases = [
        ("node_modules", "ERR_PNPM_ENV_INSTALLER_READ_CONFIG_MODULES"),
        (
            "node_modules/.pnpm",
            "ERR_PNPM_PACKAGE_MANAGER_CREATE_SLOT_DIR",
        ),
    ];
    for (file, code) in cases {
        for tool in ["pnpm", "tack"] {
            let project = clone_inputs(&reference);
            project.write(file, "not a directory");
            let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                failure_code(&out).as_deref(),
                Some(code),
                "{file}: {tool}\n{stderr}"
            );
            assert_eq!(
                fs_err::read_to_string(project.dir().join(file)).unwrap(),
                "not a directory",
                "{file}: {tool}"
            );
            // Nothing beside the file either (tack's in-progress marker, say).
            let modules: Vec<_> = match fs_err::read_dir(project.dir().join("node_modules")) {
                Ok(entries) => entries.map(|e| e.unwrap().file_name()).collect(),
                Err(_) => Vec::new(),
            };
            let expected: Vec<&str> = if file == "node_modules" {
                vec![]
            } else {
                vec![".pnpm"]
            };
            assert_eq!(modules, expected, "{file}: {tool} wrote beside the file");
        }
    }
}

/// A store directory under a file (`--store-dir` naming a file, or a path through one) stops
/// the install before anything is written, with pnpm 12's code (tack read the lockfile and
/// failed creating `files/` with `ERR_TACK_STORE_IO`).
#[test]
fn a_store_directory_under_a_file_fails_like_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&basic_fixture(), &registry.url());
    for below in ["", "store"] {
        for tool in ["pnpm", "tack"] {
            let project = clone_inputs(&reference);
            project.write("blocker", "not a directory");
            let store = project.dir().join("blocker").join(below);
            let bin = if tool == "pnpm" {
                tack_suite::pnpm_bin()
            } else {
                tack_suite::tack_bin()
            };
            let out = project
                .command(&bin)
                .args(["install", "--frozen-lockfile", "--store-dir"])
                .arg(&store)
                .output()
                .expect("run the tool");
            let case = format!("--store-dir blocker/{below}: {tool}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                failure_code(&out).as_deref(),
                Some("ERR_PNPM_STORE_DIR_RESOLVE_OPERATION_LOCK"),
                "{case}\n{stderr}"
            );
            assert!(!project.dir().join("node_modules").exists(), "{case}");
            assert_eq!(
                fs_err::read_to_string(project.dir().join("blocker")).unwrap(),
                "not a directory"
            );
        }
    }
}
