//! The flags of `pnpm install` that a CI script may pass: tack takes each one as pnpm 12 does
//! (applies it, passes over it, or refuses the install before writing anything), where it used
//! to stop every one it did not name with a usage error. Checked side by side with pnpm 12.

use std::process::Output;

use tack_suite::conformance::{clone_inputs, prepare};
use tack_suite::project::{assert_success, TestProject};
use tack_suite::{basic_fixture, registry};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Flags that change nothing tack does, or set a setting, are taken: the install runs and
/// builds its tree.
#[test]
fn pnpm_s_other_install_flags_are_taken() {
    let registry = registry::start();
    let project = TestProject::new();
    prepare(&project, &basic_fixture(), &registry.url());
    let flags: &[&[&str]] = &[
        &[
            "-y",
            "--color",
            "--aggregate-output",
            "--stream",
            "--no-runtime",
        ],
        &[
            "--color=never",
            "--sort",
            "--reverse",
            "--parallel",
            "--no-sort",
        ],
        &["--workspace-concurrency", "2", "--include-workspace-root"],
        &["--auto-dedupe", "--no-frozen-store", "--state-dir", "state"],
        &[
            "--fetch-timeout",
            "60000",
            "--fetch-warn-timeout-ms",
            "5000",
        ],
        &["--fetch-min-speed-ki-bps", "1", "--user-agent", "ci"],
        &["--no-ignore-scripts", "--no-offline", "--no-prefer-offline"],
        &[
            "--optional",
            "--no-prefer-frozen-lockfile",
            "--test-pattern",
            "x",
        ],
    ];
    for args in flags {
        let _ = fs_err::remove_dir_all(project.dir().join("node_modules"));
        let mut all = vec!["install", "--frozen-lockfile"];
        all.extend_from_slice(args);
        let out = project.tack(&all);
        assert_success(&out, &format!("tack install {args:?}"));
        assert!(
            project
                .dir()
                .join("node_modules/is-odd/package.json")
                .is_file(),
            "{args:?}"
        );
    }
}

/// `--no-progress` leaves out the `Progress:` line, `--use-stderr` moves stdout's lines to
/// stderr; as with pnpm 12.
#[test]
fn output_flags_change_the_output_like_pnpm() {
    let registry = registry::start();
    let project = TestProject::new();
    prepare(&project, &basic_fixture(), &registry.url());
    let pnpm_project = clone_inputs(&project);
    for (tool, project) in [("tack", &project), ("pnpm", &pnpm_project)] {
        let out = project.run_tool(tool, &["install", "--frozen-lockfile", "--no-progress"]);
        assert_success(&out, &format!("{tool} --no-progress"));
        assert!(
            !stdout(&out).contains("Progress:"),
            "{tool}: {}",
            stdout(&out)
        );
        assert!(stdout(&out).contains("Done in"), "{tool}: {}", stdout(&out));

        fs_err::remove_dir_all(project.dir().join("node_modules")).unwrap();
        let out = project.run_tool(tool, &["install", "--frozen-lockfile", "--use-stderr"]);
        assert_success(&out, &format!("{tool} --use-stderr"));
        assert_eq!(stdout(&out), "", "{tool}");
        assert!(stderr(&out).contains("Done in"), "{tool}: {}", stderr(&out));
    }
}

/// Flags that ask for what tack does not do end the install before anything is written, with
/// the flag named.
#[test]
fn flags_tack_does_not_do_are_refused_before_anything_is_written() {
    let registry = registry::start();
    let project = TestProject::new();
    prepare(&project, &basic_fixture(), &registry.url());
    for args in [
        &["--dry-run"][..],
        &["--update-checksums"],
        &["--merge-git-branch-lockfiles"],
        &["--pnpr-server", "http://127.0.0.1:9"],
        &["--ignore-workspace"],
        &["--frozen-store"],
        &["--workspace-packages", "packages/*"],
        &["--env-file", ".env"],
    ] {
        let before = tack_suite::stamps::stamps(&project.dir());
        let mut all = vec!["install", "--frozen-lockfile"];
        all.extend_from_slice(args);
        let out = project.tack(&all);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        for want in ["ERR_TACK_UNSUPPORTED_FLAG", args[0]] {
            assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
        }
        assert_eq!(
            tack_suite::stamps::stamps(&project.dir()),
            before,
            "{args:?}"
        );
    }
    assert!(!project.dir().join("node_modules").exists());
}

/// A `--filter` that matches no project installs nothing and succeeds (pnpm 12: "Scope: 0 of
/// 2 workspace projects"); with `--fail-if-no-match` it fails. A selector that matches nothing
/// beside one that matches is passed over. tack failed every filter that matched nothing.
#[test]
fn filters_that_match_nothing_are_taken_like_pnpm() {
    let registry = registry::start();
    let fixture = TestProject::new();
    fixture
        .write(
            "package.json",
            r#"{"name": "root", "version": "1.0.0", "private": true}"#,
        )
        .write(
            "packages/b/package.json",
            r#"{"name": "b", "version": "1.0.0", "dependencies": {"is-odd": "3.0.1"}}"#,
        )
        .write("pnpm-workspace.yaml", "packages:\n  - packages/*\n");
    let resolved = tack_suite::conformance::resolve_with_pnpm(&fixture.dir(), &registry.url());
    let project = clone_inputs(&resolved);
    let pnpm_project = clone_inputs(&resolved);
    for (tool, project) in [("tack", &project), ("pnpm", &pnpm_project)] {
        let out = project.run_tool(tool, &["install", "--frozen-lockfile", "--filter", "nope"]);
        assert_success(&out, &format!("{tool} --filter nope"));
        assert!(
            stdout(&out).contains("Scope: 0 of 2 workspace projects"),
            "{tool}: {}",
            stdout(&out)
        );
        assert!(
            !project.dir().join("packages/b/node_modules").exists(),
            "{tool}"
        );

        let out = project.run_tool(
            tool,
            &[
                "install",
                "--frozen-lockfile",
                "--filter",
                "nope",
                "--fail-if-no-match",
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{tool}");
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            all.contains("No projects matched the filters"),
            "{tool}: {all}"
        );

        let out = project.run_tool(
            tool,
            &[
                "install",
                "--frozen-lockfile",
                "--filter",
                "nope",
                "--filter",
                "b",
            ],
        );
        assert_success(&out, &format!("{tool} --filter nope --filter b"));
        assert!(
            project
                .dir()
                .join("packages/b/node_modules/is-odd/package.json")
                .is_file(),
            "{tool}"
        );
    }
}

/// `--ignore-manifest-check` installs from a lockfile that no longer satisfies a
/// `package.json`, as pnpm 12 does; without it both fail with `ERR_PNPM_OUTDATED_LOCKFILE`.
#[test]
fn ignore_manifest_check_installs_an_outdated_lockfile_like_pnpm() {
    let registry = registry::start();
    let project = TestProject::new();
    prepare(&project, &basic_fixture(), &registry.url());
    let manifest = fs_err::read_to_string(project.dir().join("package.json")).unwrap();
    project.write(
        "package.json",
        &manifest.replace("\"is-odd\": \"^3.0.1\"", "\"is-odd\": \"^2.0.0\""),
    );
    let pnpm_project = clone_inputs(&project);
    for (tool, project) in [("tack", &project), ("pnpm", &pnpm_project)] {
        let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        assert_eq!(out.status.code(), Some(1), "{tool}");
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(all.contains("ERR_PNPM_OUTDATED_LOCKFILE"), "{tool}: {all}");

        let out = project.run_tool(
            tool,
            &["install", "--frozen-lockfile", "--ignore-manifest-check"],
        );
        assert_success(&out, &format!("{tool} --ignore-manifest-check"));
        let installed = project.dir().join("node_modules/is-odd/package.json");
        let version: serde_json::Value =
            serde_json::from_str(&fs_err::read_to_string(installed).unwrap()).unwrap();
        assert_eq!(version["version"], "3.0.1", "{tool}");
    }
}

/// `--force` imports every package again and links the tree again, as pnpm 12 does: a file
/// deleted from a package comes back, a file added to one goes, a child link removed is made
/// again, and the output counts every package as added. tack refused the flag.
#[test]
fn force_installs_every_package_again_like_pnpm() {
    let registry = registry::start();
    let reference = TestProject::new();
    prepare(&reference, &basic_fixture(), &registry.url());
    let mut outputs = Vec::new();
    let mut trees = Vec::new();
    for tool in ["pnpm", "tack"] {
        let project = clone_inputs(&reference);
        let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        assert_success(&out, &format!("{tool} install"));
        let slot = project
            .dir()
            .join("node_modules/.pnpm/is-odd@3.0.1/node_modules");
        let package = slot.join("is-odd");
        fs_err::remove_file(package.join("index.js")).expect("delete a file");
        fs_err::write(package.join("stray.txt"), "not from the store").expect("add a file");
        fs_err::remove_file(slot.join("is-number")).expect("delete a child link");

        let out = project.run_tool(tool, &["install", "--frozen-lockfile", "--force"]);
        assert_success(&out, &format!("{tool} install --force"));
        assert!(package.join("index.js").is_file(), "{tool}: index.js");
        assert!(!package.join("stray.txt").exists(), "{tool}: stray.txt");
        assert!(
            slot.join("is-number/package.json").is_file(),
            "{tool}: child link"
        );
        outputs.push(tack_suite::conformance::comparable_output(&out.stdout));
        trees.push(tack_suite::conformance::project_tree(&project));
    }
    let differences = tack_suite::tree::diff(&trees[0], &trees[1]);
    assert!(
        differences.is_empty(),
        "tack's tree differs from pnpm 12's:\n{}",
        differences.join("\n")
    );
    assert_eq!(outputs[0], outputs[1], "the outputs differ");
}
