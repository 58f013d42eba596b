//! The conformance check: install one fixture project with real pnpm 12 and with tack, each
//! in its own temp dir and store, then compare the two trees path by path.
//!
//! The lockfile is produced by pnpm itself (a resolving install against the test registry),
//! so tack always installs exactly what pnpm resolved.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tack_test_registry::{PackageDef, TestRegistry};

use crate::project::{assert_success, TestProject};
use crate::tree::{self, Tree};

/// Paths left out of the comparison, each with its reason. Everything else must be equal.
pub const ALLOW_LIST: &[(&str, &str)] = &[
    (
        "node_modules/.modules.yaml",
        "compared separately after normalising the fields that differ run to run",
    ),
    (
        "node_modules/.pnpm-workspace-state-v1.json",
        "holds timestamps and absolute paths; its settings are compared by the no-op tests",
    ),
    (
        "node_modules/.pnpm/.tack-markers",
        "tack's own record of completion markers for its no-op check (pnpm ignores dot files)",
    ),
];

/// The fields of `.modules.yaml` that legitimately differ between two installs.
const VOLATILE_MODULES_FIELDS: &[&str] = &["prunedAt", "storeDir", "packageManager"];

/// Sets up `project` from a fixture dir, pointed at `registry_url`.
pub fn prepare(project: &TestProject, fixture: &Path, registry_url: &str) {
    project.copy_from(fixture);
    project.write(".npmrc", &format!("registry={registry_url}\n"));
    let ws = project.dir().join("pnpm-workspace.yaml");
    let mut text = fs_err::read_to_string(&ws).unwrap_or_default();
    if !text.contains("minimumReleaseAge") {
        text.push_str("\nminimumReleaseAge: 0\n");
    }
    fs_err::write(&ws, text).expect("write pnpm-workspace.yaml");
}

/// A project whose `package.json` is `manifest`, pointed at `registry_url`, with its lockfile
/// written by real pnpm 12 (`install --lockfile-only`).
pub fn resolved_project(manifest: &str, registry_url: &str) -> TestProject {
    let project = TestProject::new();
    project.write("package.json", manifest);
    project.write(".npmrc", &format!("registry={registry_url}\n"));
    project.write("pnpm-workspace.yaml", "minimumReleaseAge: 0\n");
    assert_success(
        &project.pnpm(&["install", "--lockfile-only"]),
        "pnpm install --lockfile-only",
    );
    project
}

/// Publishes `name@version` to `registry` with the manifest `fields` (an object) and an
/// `index.js`.
pub fn publish(registry: &TestRegistry, name: &str, version: &str, fields: Value) {
    publish_with_file(
        registry,
        name,
        version,
        fields,
        ("index.js", b"module.exports = 1;\n", 0o644),
    );
}

/// [`publish`] with one file of the caller's instead of `index.js`: `(path, content, mode)`.
pub fn publish_with_file(
    registry: &TestRegistry,
    name: &str,
    version: &str,
    fields: Value,
    (path, content, mode): (&str, &[u8], u32),
) {
    let mut def = PackageDef::new(name, version).file(path, content.to_vec(), mode);
    for (key, value) in fields.as_object().into_iter().flatten() {
        def = def.field(key.as_str(), value.clone());
    }
    registry.add_package(def);
}

/// Resolves `fixture` with pnpm (writing `pnpm-lock.yaml`), returning the project.
pub fn resolve_with_pnpm(fixture: &Path, registry_url: &str) -> TestProject {
    let project = TestProject::new();
    prepare(&project, fixture, registry_url);
    let out = project.pnpm(&["install", "--no-frozen-lockfile", "--ignore-scripts"]);
    assert_success(&out, "pnpm install (resolving)");
    project
}

/// Copies the inputs of `from` (manifests, lockfile, configs; no node_modules) into a new project.
pub fn clone_inputs(from: &TestProject) -> TestProject {
    let project = TestProject::new();
    project.copy_from(&from.dir());
    project
}

/// Two copies of `reference`, installed by tack and by pnpm (`--frozen-lockfile`, scripts
/// run): `(tack, pnpm)`.
pub fn install_both(reference: &TestProject) -> (TestProject, TestProject) {
    let (tack, pnpm) = (clone_inputs(reference), clone_inputs(reference));
    assert_success(
        &tack.tack(&["install", "--frozen-lockfile"]),
        "tack install",
    );
    assert_success(
        &pnpm.pnpm(&["install", "--frozen-lockfile"]),
        "pnpm install",
    );
    (tack, pnpm)
}

/// A patch of the fixture `is-odd@3.0.1` (its error message).
pub const IS_ODD_PATCH: &str = "diff --git a/index.js b/index.js
--- a/index.js
+++ b/index.js
@@ -1,6 +1,6 @@
 'use strict';
 const isNumber = require('is-number');
 module.exports = function isOdd(i) {
-  if (!isNumber(i)) throw new TypeError('expected a number');
+  if (!isNumber(i)) throw new TypeError('expected a patched number');
   return Math.abs(Number(i)) % 2 === 1;
 };
";

/// Snapshot of everything under the project dir except the inputs and the allow-list.
pub fn project_tree(project: &TestProject) -> Tree {
    let mut tree = tree::snapshot(&project.dir(), &|rel: &str| {
        ALLOW_LIST
            .iter()
            .any(|(p, _)| rel == *p || rel.ends_with(&format!("/{p}")))
    });
    tree.retain(|rel, _| rel.split('/').any(|c| c == "node_modules"));
    tree
}

/// `.modules.yaml` as JSON without the volatile fields.
pub fn normalized_modules_yaml(project: &TestProject) -> Value {
    let path = project.dir().join("node_modules/.modules.yaml");
    let text = fs_err::read_to_string(&path).expect("read .modules.yaml");
    let mut value: Value = serde_json::from_str(&text).expect(".modules.yaml is JSON");
    if let Some(map) = value.as_object_mut() {
        for field in VOLATILE_MODULES_FIELDS {
            map.remove(*field);
        }
    }
    value
}

/// Installs `reference` with pnpm and a clone with tack (both `--frozen-lockfile` plus
/// `args`), and asserts the trees are equal. Returns the tack project for further checks.
pub fn assert_same_tree(reference: &TestProject, args: &[&str]) -> TestProject {
    let pnpm_project = clone_inputs(reference);
    let mut pnpm_args = vec!["install", "--frozen-lockfile", "--ignore-scripts"];
    pnpm_args.extend_from_slice(args);
    assert_success(
        &pnpm_project.pnpm(&pnpm_args),
        "pnpm install --frozen-lockfile",
    );

    let tack_project = clone_inputs(reference);
    let mut tack_args = vec!["install", "--frozen-lockfile", "--ignore-scripts"];
    tack_args.extend_from_slice(args);
    let out = tack_project.tack(&tack_args);
    assert_success(&out, "tack install --frozen-lockfile");

    let expected = project_tree(&pnpm_project);
    let actual = project_tree(&tack_project);
    let differences = tree::diff(&expected, &actual);
    assert!(
        differences.is_empty(),
        "tack's tree differs from pnpm 12's ({} differences):\n{}",
        differences.len(),
        differences.join("\n")
    );
    assert_eq!(
        normalized_modules_yaml(&pnpm_project),
        normalized_modules_yaml(&tack_project),
        ".modules.yaml differs"
    );
    tack_project
}

/// An install's stdout in a form two runs can be compared in, pnpm's and tack's: without the
/// lines that differ by tool or by run (the store path, the import method, `Done in`, pnpm's
/// supply-chain check, progress lines before the final one, which depend on timing), and with the
/// lines before the counts (`Packages:`) or the final progress line sorted, since pnpm prints its
/// context, lockfile and progress lines in an order that depends on timing too.
pub fn comparable_output(stdout: &[u8]) -> Vec<String> {
    let lines: Vec<String> = String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| {
            // pnpm names the import method of the first package it imports: "copied" when
            // that one happens to be a package it copies for a build.
            let varies = l.contains("supply-chain")
                || l.starts_with("Done in")
                || l.contains("Content-addressable store is at")
                || l.starts_with("Packages are ")
                || (l.contains("Progress: ") && !l.ends_with(", done"));
            !varies
        })
        .map(str::to_string)
        .collect();
    let split = lines
        .iter()
        .position(|l| l.starts_with("Packages:") || l.contains("Progress: "))
        .unwrap_or(lines.len());
    let (head, tail) = lines.split_at(split);
    let mut head = head.to_vec();
    head.sort();
    head.extend_from_slice(tail);
    head
}

/// The `basic` fixture installed in `project` works: node loads a dependency and a scoped one
/// from the project directory, and the `tack-bin-string` command in `node_modules/.bin` runs.
pub fn assert_basic_fixture_runs(project: &TestProject) {
    let node = Command::new("node")
        .current_dir(project.dir())
        .args([
            "-e",
            "process.stdout.write(String(require('is-odd')(3)) + require('@tack-test/scoped'))",
        ])
        .output()
        .expect("run node");
    assert_success(&node, "node -e require(...)");
    let bin = Command::new(project.dir().join("node_modules/.bin/tack-bin-string"))
        .current_dir(project.dir())
        .output()
        .expect("run the bin");
    assert_success(&bin, "node_modules/.bin/tack-bin-string");
}
