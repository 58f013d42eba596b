//! Hostile input, end to end through the `tack` binary: tarballs with path traversal, an
//! absolute path, symlink and hard-link escapes, a decompression bomb, bins whose names or
//! targets escape the package; lockfiles with a traversal in a dependency name, a `link:`
//! outside the workspace, deeply nested YAML, an alias bomb and a huge file.
//!
//! Every tarball is served raw with a lockfile (written here) whose integrity matches the
//! hostile bytes, so tack really unpacks them. Around the project sits a sentinel dir with a
//! victim file: after each case, nothing outside the store and `node_modules` may have
//! changed (no new file, no chmod), tack must not panic, and refusals are one clear error.

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use tack_suite::hostile::{bomb, tgz, RawEntry};
use tack_suite::kill;
use tack_suite::project::TestProject;
use tack_suite::stress::{self, Outcome};
use tack_suite::tree::{self, Tree};
use tack_test_registry::{sha512_integrity, RegistryOptions, TestRegistry};

/// What a case must end in.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Exit 1 with exactly one `ERR_…` code (this one, when given).
    Refused(Option<&'static str>),
    /// Success or one clear error are both acceptable (pnpm drops such entries silently).
    Contained,
    Installed,
}

fn manifest(name: &str, extra: serde_json::Value) -> Vec<u8> {
    let mut m = json!({"name": name, "version": "1.0.0"});
    if let (Some(m), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            m.insert(k.clone(), v.clone());
        }
    }
    serde_json::to_vec(&m).unwrap()
}

fn file(path: &str, data: &[u8]) -> RawEntry {
    RawEntry::File {
        path: path.into(),
        data: data.to_vec(),
    }
}

/// package.json + pnpm-lock.yaml for one dependency `name@1.0.0` with `integrity`.
fn write_single_dep_project(
    project: &TestProject,
    url: &str,
    name: &str,
    integrity: &str,
    bin: bool,
) {
    project.write(".npmrc", &format!("registry={url}\n"));
    // The registry serves these tarballs without metadata, so the lockfile's supply-chain
    // check, which fails on that as pnpm's does, is off: the tarballs are what is tested.
    project.write("pnpm-workspace.yaml", "minimumReleaseAge: 0\n");
    project.write(
        "package.json",
        &serde_json::to_string(&json!({
            "name": "hostile-host", "version": "1.0.0",
            "dependencies": {name: "1.0.0"}
        }))
        .unwrap(),
    );
    let has_bin = if bin { "\n    hasBin: true" } else { "" };
    project.write(
        "pnpm-lock.yaml",
        &format!(
            "lockfileVersion: '9.0'\n\nsettings:\n  autoInstallPeers: true\n  excludeLinksFromLockfile: false\n\nimporters:\n\n  .:\n    dependencies:\n      '{name}':\n        specifier: 1.0.0\n        version: 1.0.0\n\npackages:\n\n  '{name}@1.0.0':\n    resolution: {{integrity: {integrity}}}{has_bin}\n\nsnapshots:\n\n  '{name}@1.0.0': {{}}\n"
        ),
    );
}

/// Serves `bytes` as `name@1.0.0` and writes a project that depends on it.
fn tarball_case(
    registry: &TestRegistry,
    project: &TestProject,
    name: &str,
    bytes: Vec<u8>,
    bin: bool,
) {
    let integrity = sha512_integrity(&bytes);
    registry.serve_raw(&format!("/{name}/-/{name}-1.0.0.tgz"), bytes);
    write_single_dep_project(project, &registry.url(), name, &integrity, bin);
}

/// Everything under the temp root except the store, the home and node_modules.
fn outside(project: &TestProject) -> Tree {
    tree::snapshot(project.root(), &|rel: &str| {
        rel == "store" || rel == "home" || rel == "project/node_modules"
    })
}

fn setup_sentinel(root: &Path) {
    fs_err::create_dir_all(root.join("sentinel")).unwrap();
    fs_err::write(root.join("sentinel/victim.js"), "// must stay 0644\n").unwrap();
    fs_err::create_dir_all(root.join("outside-pkg")).unwrap();
    fs_err::write(
        root.join("outside-pkg/package.json"),
        r#"{"name":"outside-pkg","version":"1.0.0","dependencies":{"is-odd":"3.0.1"}}"#,
    )
    .unwrap();
}

/// A named case: what it must end in, and how it prepares the project.
type Case<'a> = (&'static str, Expect, Box<dyn Fn(&TestProject) + 'a>);

fn cases(registry: &TestRegistry) -> Vec<Case<'_>> {
    let url: &'static str = Box::leak(registry.url().into_boxed_str());
    vec![
        (
            "tar entry with ..",
            Expect::Refused(Some("ERR_TACK_TARBALL_UNSAFE_PATH")),
            Box::new(move |p: &TestProject| {
                let bytes = tgz(&[
                    file(
                        "package/package.json",
                        &manifest("evil-traversal", json!({})),
                    ),
                    file("package/../../../../../../sentinel/pwned.js", b"pwned"),
                ]);
                tarball_case(registry, p, "evil-traversal", bytes, false);
            }),
        ),
        (
            "tar entry with an absolute path",
            Expect::Refused(Some("ERR_TACK_TARBALL_UNSAFE_PATH")),
            Box::new(move |p: &TestProject| {
                let abs = format!("{}/sentinel/abs.js", p.root().display());
                let bytes = tgz(&[
                    file(
                        "package/package.json",
                        &manifest("evil-absolute", json!({})),
                    ),
                    file(&abs, b"pwned"),
                ]);
                tarball_case(registry, p, "evil-absolute", bytes, false);
            }),
        ),
        (
            "symlink entry escaping, then a file through it",
            Expect::Contained,
            Box::new(move |p: &TestProject| {
                let bytes = tgz(&[
                    file("package/package.json", &manifest("evil-symlink", json!({}))),
                    RawEntry::Symlink {
                        path: "package/link".into(),
                        target: "../../../../../../sentinel".into(),
                    },
                    file("package/link/pwned.js", b"pwned"),
                ]);
                tarball_case(registry, p, "evil-symlink", bytes, false);
            }),
        ),
        (
            "hard-link entries to the victim and to /etc/passwd",
            Expect::Contained,
            Box::new(move |p: &TestProject| {
                let victim = format!("{}/sentinel/victim.js", p.root().display());
                let bytes = tgz(&[
                    file(
                        "package/package.json",
                        &manifest("evil-hardlink", json!({})),
                    ),
                    RawEntry::Hardlink {
                        path: "package/victim.js".into(),
                        target: victim,
                    },
                    RawEntry::Hardlink {
                        path: "package/passwd".into(),
                        target: "/etc/passwd".into(),
                    },
                    RawEntry::Hardlink {
                        path: "package/up.js".into(),
                        target: "../../../sentinel/victim.js".into(),
                    },
                ]);
                tarball_case(registry, p, "evil-hardlink", bytes, false);
            }),
        ),
        (
            "decompression bomb (one 600 MiB entry)",
            Expect::Refused(Some("ERR_TACK_TARBALL_TOO_LARGE")),
            Box::new(move |p: &TestProject| {
                let bytes = bomb(&manifest("evil-bomb", json!({})), 600 << 20);
                tarball_case(registry, p, "evil-bomb", bytes, false);
            }),
        ),
        (
            "bins whose names and targets escape the package",
            Expect::Contained,
            Box::new(move |p: &TestProject| {
                let m = manifest(
                    "evil-bin",
                    json!({"bin": {
                        "../../../sentinel/evil-name": "cli.js",
                        "evil-target": "../../../../../../sentinel/victim.js",
                        "/tmp/evil-abs": "cli.js",
                    }}),
                );
                let bytes = tgz(&[
                    file("package/package.json", &m),
                    file("package/cli.js", b"#!/usr/bin/env node\n"),
                ]);
                tarball_case(registry, p, "evil-bin", bytes, true);
            }),
        ),
        (
            "directories.bin outside the package",
            Expect::Contained,
            Box::new(move |p: &TestProject| {
                let m = manifest(
                    "evil-bin-dir",
                    json!({"directories": {"bin": "../../../../../../sentinel"}}),
                );
                let bytes = tgz(&[file("package/package.json", &m)]);
                tarball_case(registry, p, "evil-bin-dir", bytes, true);
            }),
        ),
        (
            "dependency name with a traversal",
            Expect::Refused(Some("ERR_PNPM_INVALID_PACKAGE_NAME")),
            Box::new(move |p: &TestProject| {
                let bytes = tgz(&[file("package/package.json", &manifest("x", json!({})))]);
                let integrity = sha512_integrity(&bytes);
                // Where a client that normalises the URL would fetch it, so the refusal
                // cannot come from a 404.
                registry.serve_raw("/../../sentinel/-/sentinel-1.0.0.tgz", bytes.clone());
                registry.serve_raw("/sentinel/-/sentinel-1.0.0.tgz", bytes);
                write_single_dep_project(p, &registry.url(), "../../sentinel", &integrity, false);
                // The importer's key and the package.json must agree for the frozen check.
                p.write(
                    "package.json",
                    r#"{"name":"hostile-host","version":"1.0.0","dependencies":{"../../sentinel":"1.0.0"}}"#,
                );
            }),
        ),
        (
            "link: to a directory outside the workspace",
            Expect::Installed,
            Box::new(move |p: &TestProject| {
                p.write(".npmrc", &format!("registry={url}\n"));
                p.write(
                    "package.json",
                    r#"{"name":"hostile-host","version":"1.0.0","dependencies":{"outside-pkg":"link:../outside-pkg"}}"#,
                );
                p.write(
                    "pnpm-lock.yaml",
                    "lockfileVersion: '9.0'\n\nsettings:\n  autoInstallPeers: true\n  excludeLinksFromLockfile: false\n\nimporters:\n\n  .:\n    dependencies:\n      outside-pkg:\n        specifier: link:../outside-pkg\n        version: link:../outside-pkg\n",
                );
            }),
        ),
        (
            "deeply nested YAML lockfile",
            Expect::Refused(None),
            Box::new(move |p: &TestProject| {
                basic_inputs(p, url);
                let depth = 200_000;
                let text = format!(
                    "lockfileVersion: '9.0'\nimporters: {}{}\n",
                    "[".repeat(depth),
                    "]".repeat(depth)
                );
                p.write("pnpm-lock.yaml", &text);
            }),
        ),
        (
            "YAML alias bomb",
            Expect::Refused(None),
            Box::new(move |p: &TestProject| {
                basic_inputs(p, url);
                let mut text = String::from("lockfileVersion: '9.0'\nx0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
                for i in 1..12 {
                    let refs = vec![format!("*a{}", i - 1); 9].join(",");
                    text.push_str(&format!("x{i}: &a{i} [{refs}]\n"));
                }
                text.push_str("importers: *a11\n");
                p.write("pnpm-lock.yaml", &text);
            }),
        ),
        (
            "huge lockfile (60 MB of packages)",
            Expect::Contained,
            Box::new(move |p: &TestProject| {
                basic_inputs(p, url);
                let mut text = fs_err::read_to_string(p.dir().join("pnpm-lock.yaml")).unwrap();
                text.push_str("\n  huge:\n");
                let line = format!("    {}: x\n", "k".repeat(100));
                let mut i = 0;
                while text.len() < 60 << 20 {
                    text.push_str(&line.replacen("k", &format!("{i}"), 1));
                    i += 1;
                }
                p.write("pnpm-lock.yaml", &text);
            }),
        ),
    ]
}

/// The basic fixture's inputs, pointed at `url`.
fn basic_inputs(project: &TestProject, url: &str) {
    project.copy_from(&tack_suite::setup::basic_fixture_dir());
    project.write(".npmrc", &format!("registry={url}\n"));
}

#[test]
fn hostile_input_is_contained() {
    let registry =
        TestRegistry::start_blocking(RegistryOptions::default()).expect("start the registry");
    let mut failures = Vec::new();
    let cases = cases(&registry);
    let runs = cases.len();
    for (name, expect, prepare) in &cases {
        let project = TestProject::new();
        setup_sentinel(project.root());
        prepare(&project);
        let before = outside(&project);
        let out = kill::run(
            kill::install_command(&project, &project.store(), &[]),
            Duration::from_secs(120),
        );
        let mut problems = Vec::new();
        let codes: Vec<&str> = out
            .stderr
            .lines()
            .filter_map(|l| l.strip_prefix("Error: "))
            .collect();
        eprintln!(
            "{name}: exit {:?}, codes {codes:?}, {:?}",
            out.status, out.elapsed
        );
        if out.timed_out() {
            problems.push("no answer within 120 s".to_string());
        }
        if out.stderr.contains("panicked") || out.code().is_none() {
            problems.push(format!("crashed or panicked: {}", out.describe()));
        }
        let clean_error = out.code() == Some(1) && codes.len() == 1 && codes[0].starts_with("ERR_");
        match expect {
            Expect::Refused(code) => {
                if !clean_error || code.is_some_and(|c| codes[0] != c) {
                    problems.push(format!(
                        "expected one clear error {code:?}: {}",
                        out.describe()
                    ));
                }
            }
            Expect::Contained => {
                if !out.success() && !clean_error {
                    problems.push(format!(
                        "neither success nor one clear error: {}",
                        out.describe()
                    ));
                }
            }
            Expect::Installed => {
                if !out.success() {
                    problems.push(format!("expected success: {}", out.describe()));
                }
            }
        }
        let after = outside(&project);
        let diff = tree::diff(&before, &after);
        if !diff.is_empty() {
            problems.push(format!(
                "written outside the store and node_modules:\n{}",
                diff.join("\n")
            ));
        }
        if Path::new("/tmp/evil-abs").exists() {
            problems.push("/tmp/evil-abs was created".into());
        }
        if !problems.is_empty() {
            failures.push(format!("{name}:\n{}", problems.join("\n")));
        }
    }
    stress::finish(
        Outcome {
            scenario: "hostile input".into(),
            runs,
            passes: runs - failures.len(),
            seed: None,
        },
        &failures,
    );
}
