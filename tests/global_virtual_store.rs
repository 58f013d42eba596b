//! The global virtual store (`enableGlobalVirtualStore: true`) against pnpm 12: the same slots
//! below `<store>/v11/links`, the same project links, shims and `.modules.yaml`; each tool
//! reuses the slots the other made without linking a file again; and, because every project
//! of the store shares them, an install never sweeps a slot and completes a partial one in
//! place instead of wiping it.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::json;
use sha2::{Digest, Sha256};
use tack_suite::conformance::{
    assert_basic_fixture_runs, install_both, normalized_modules_yaml, prepare, project_tree,
    publish,
};
use tack_suite::project::{assert_success, TestProject};
use tack_suite::tree::{self, Entry, Tree};
use tack_suite::{basic_fixture, registry};

/// The basic fixture with the global virtual store on.
fn gvs_project(registry_url: &str) -> TestProject {
    let project = TestProject::new();
    prepare(&project, &basic_fixture(), registry_url);
    project.add_settings("enableGlobalVirtualStore: true\n");
    project
}

fn links_dir(project: &TestProject) -> PathBuf {
    project.store().join("v11/links")
}

/// The project's `node_modules` and the store's `links` (as `<links>/…`). File contents are
/// compared with the test's temp root replaced: shims name the slots by absolute path, as
/// pnpm 12 writes them for what lies outside the project.
fn gvs_tree(project: &TestProject) -> Tree {
    let mut tree = project_tree(project);
    let links = tree::snapshot(&links_dir(project), &|_| false);
    tree.extend(links.into_iter().map(|(k, v)| (format!("<links>/{k}"), v)));
    let root = project.root().to_string_lossy().into_owned();
    for (rel, entry) in tree.iter_mut() {
        if let Entry::File { sha256, .. } = entry {
            let path = match rel.strip_prefix("<links>/") {
                Some(rest) => links_dir(project).join(rest),
                None => project.dir().join(rel),
            };
            let bytes = fs_err::read(&path).expect("read a file of the tree");
            let text = String::from_utf8_lossy(&bytes).replace(&root, "<root>");
            *sha256 = hex::encode(Sha256::digest(text.as_bytes()));
        }
    }
    tree
}

/// The status-change time of every file below `dir`: linking a file again (even to the same
/// store file) changes its inode's link count, and so this time.
fn change_times(dir: &Path) -> BTreeMap<String, i64> {
    tree::snapshot(dir, &|_| false)
        .into_iter()
        .filter(|(_, entry)| matches!(entry, Entry::File { .. }))
        .map(|(rel, _)| {
            let meta = fs_err::symlink_metadata(dir.join(&rel)).expect("stat");
            (rel, meta.ctime() * 1_000_000_000 + meta.ctime_nsec())
        })
        .collect()
}

/// The trees (project and slots) and `.modules.yaml` of `tack`'s install equal `pnpm`'s, whose
/// slots include each of `slots` (path prefixes in [`gvs_tree`]'s form).
fn assert_same_global_store(pnpm: &TestProject, tack: &TestProject, slots: &[&str]) {
    let expected = gvs_tree(pnpm);
    for slot in slots {
        assert!(
            expected.keys().any(|path| path.starts_with(slot)),
            "pnpm made no {slot}: {:?}",
            expected.keys().collect::<Vec<_>>()
        );
    }
    let differences = tree::diff(&expected, &gvs_tree(tack));
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    assert_eq!(normalized_modules_yaml(pnpm), normalized_modules_yaml(tack));
}

/// The package directory of `name@version`'s only slot in the store of `project`.
fn slot_package_dir(project: &TestProject, name: &str, version: &str) -> PathBuf {
    let versions = links_dir(project).join("@").join(name).join(version);
    let slots: Vec<_> = fs_err::read_dir(&versions)
        .expect("the version's slots")
        .map(|entry| entry.expect("slot").path())
        .collect();
    assert_eq!(slots.len(), 1, "slots of {name}@{version}: {slots:?}");
    slots[0].join("node_modules").join(name)
}

#[test]
fn tack_builds_the_global_virtual_store_pnpm_12_builds() {
    let registry = registry::start();
    let (tack, pnpm) = install_both(&gvs_project(&registry.url()));
    assert_same_global_store(&pnpm, &tack, &["<links>/@/is-odd/3.0.1/"]);
    assert!(
        !tack.dir().join("node_modules/.pnpm/is-odd@3.0.1").exists(),
        "a package was placed in the project's own virtual store"
    );
    assert_basic_fixture_runs(&tack);
}

/// A workspace whose projects link each other (`workspace:*`, a bin), with an npm alias, a
/// chain of published packages, peers, an optional dependency and two dependency cycles (one
/// with dependencies outside it and a package reaching it): pnpm 12's slots and links, each
/// project's included.
#[test]
fn a_workspace_with_links_aliases_chains_and_peers_gets_pnpm_12s_tree() {
    let registry = registry::start();
    publish(
        &registry,
        "gvs-chain-a",
        "1.0.0",
        json!({"dependencies": {"gvs-chain-b": "1.0.0"}}),
    );
    publish(&registry, "gvs-chain-b", "1.0.0", json!({}));
    for (name, fields) in [
        ("gvs-cy-a", json!({"dependencies": {"gvs-cy-b": "1.0.0"}})),
        ("gvs-cy-b", json!({"dependencies": {"gvs-cy-a": "1.0.0"}})),
        ("gvs-sx", json!({})),
        ("gvs-sy", json!({})),
        (
            "gvs-sa",
            json!({"dependencies": {"gvs-sb": "1.0.0", "gvs-sx": "1.0.0"}}),
        ),
        (
            "gvs-sb",
            json!({"dependencies": {"gvs-sa": "1.0.0", "gvs-sc": "1.0.0"}}),
        ),
        (
            "gvs-sc",
            json!({"dependencies": {"gvs-sb": "1.0.0"}, "optionalDependencies": {"gvs-sy": "1.0.0"}}),
        ),
        ("gvs-sr", json!({"dependencies": {"gvs-sa": "1.0.0"}})),
    ] {
        publish(&registry, name, "1.0.0", fields);
    }
    let reference = TestProject::new();
    let manifest = |value: serde_json::Value| value.to_string();
    reference
        .write(
            "package.json",
            &manifest(json!({
                "name": "gvs-workspace", "version": "1.0.0", "private": true,
                "dependencies": {"is-odd": "^3.0.1", "odd-alias": "npm:is-odd@3.0.1", "gvs-chain-a": "1.0.0",
                                 "gvs-cy-b": "1.0.0", "gvs-sr": "1.0.0"}
            })),
        )
        .write(
            "packages/a/package.json",
            &manifest(json!({
                "name": "a", "version": "1.0.0",
                "dependencies": {"b": "workspace:*", "tack-bin-string": "1.0.0", "use-peer": "1.0.0",
                                 "peer-host": "~1.0.0", "tack-has-optional": "1.0.0"}
            })),
        )
        .write(
            "packages/b/package.json",
            &manifest(json!({
                "name": "b", "version": "1.0.0", "bin": {"b-cli": "cli.js"},
                "dependencies": {"is-number": "^7.0.0"}
            })),
        )
        .write("packages/b/cli.js", "#!/usr/bin/env node\nconsole.log('b')\n")
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write(
            "pnpm-workspace.yaml",
            "packages:\n  - packages/*\nminimumReleaseAge: 0\nenableGlobalVirtualStore: true\n",
        );
    reference.lock_with_pnpm();
    let (tack, pnpm) = install_both(&reference);
    assert_same_global_store(
        &pnpm,
        &tack,
        &[
            "<links>/@/gvs-chain-b/1.0.0/",
            "<links>/@/use-peer/1.0.0/",
            "<links>/@/gvs-cy-a/1.0.0/",
            "<links>/@/gvs-sc/1.0.0/",
        ],
    );
}

#[test]
fn each_tool_reuses_the_slots_the_other_made() {
    let registry = registry::start();
    for (first, second) in [("pnpm", "tack"), ("tack", "pnpm")] {
        let project = gvs_project(&registry.url());
        assert_success(
            &project.run_tool(first, &["install", "--frozen-lockfile"]),
            &format!("{first} install"),
        );
        let expected = gvs_tree(&project);
        let linked = change_times(&links_dir(&project));
        fs_err::rename(
            project.dir().join("node_modules"),
            project.root().join("node_modules-aside"),
        )
        .expect("move node_modules aside");
        registry.clear_requests();

        let out = project.run_tool(second, &["install", "--frozen-lockfile", "--offline"]);
        assert_success(&out, &format!("{second} install over {first}'s slots"));
        let differences = tree::diff(&expected, &gvs_tree(&project));
        assert!(
            differences.is_empty(),
            "{second} after {first}:\n{}",
            differences.join("\n")
        );
        assert_eq!(
            change_times(&links_dir(&project)),
            linked,
            "{second} linked files of {first}'s slots again"
        );
        assert!(registry.requests().is_empty(), "{second} fetched");
        if second == "tack" {
            // As pnpm 12 reports it: no slot had to be filled, the links were made.
            let stdout = String::from_utf8_lossy(&out.stdout);
            for want in ["Already up to date", "+ is-odd 3.0.1"] {
                assert!(stdout.contains(want), "no {want:?} in {stdout}");
            }
            assert!(!stdout.contains("Progress:"), "{stdout}");
        }
    }
}

/// Another project's install of the same store drops a package this one links (`--prod`, with
/// a prune due at every install) and meets a slot that a third install is still filling (no
/// `package.json` yet, one file missing, one of its own): the dropped slot stays, and the
/// partial one is completed around the other install's file instead of being wiped.
#[test]
fn shared_slots_are_never_swept_and_a_partial_one_is_completed_in_place() {
    let registry = registry::start();
    let first = gvs_project(&registry.url());
    assert_success(
        &first.tack(&["install", "--frozen-lockfile"]),
        "the first project's install",
    );
    let expected = gvs_tree(&first);
    let partial = slot_package_dir(&first, "is-odd", "3.0.1");
    fs_err::remove_file(partial.join("package.json")).expect("remove the marker");
    fs_err::remove_file(partial.join("index.js")).expect("remove a file");
    let theirs = partial.join("written-by-another-install");
    fs_err::write(&theirs, "").expect("write another install's file");

    let second = gvs_project(&registry.url());
    second.add_settings("modulesCacheMaxAge: 0\n");
    let out = second
        .command(&tack_suite::tack_bin())
        .args(["install", "--frozen-lockfile", "--prod", "--store-dir"])
        .arg(first.store())
        .output()
        .expect("run tack");
    assert_success(&out, "the second project's install");
    assert!(
        !second.dir().join("node_modules/peer-host").exists(),
        "--prod linked the devDependency"
    );
    assert!(theirs.exists(), "the partial slot was wiped");
    fs_err::remove_file(&theirs).expect("remove the other install's file");
    let differences = tree::diff(&expected, &gvs_tree(&first));
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// With scripts ignored nothing is built, so a package allowed to build is placed too: its
/// slot, and the slot of every package reaching it, carries the engine, as pnpm 12 names
/// them (`tack-build-dep` allowed, `tack-build-parent` reaching it, `is-odd` neither).
#[test]
fn packages_allowed_to_build_get_pnpm_12s_slots_when_scripts_are_ignored() {
    let registry = registry::start();
    let reference = TestProject::new();
    reference
        .write(
            "package.json",
            &json!({
                "name": "gvs-builds", "version": "1.0.0",
                "dependencies": {"tack-build-parent": "1.0.0", "is-odd": "^3.0.1"}
            })
            .to_string(),
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write(
            "pnpm-workspace.yaml",
            "minimumReleaseAge: 0\nenableGlobalVirtualStore: true\nignoreScripts: true\n\
             allowBuilds:\n  tack-build-dep: true\n",
        );
    reference.lock_with_pnpm();
    let (tack, pnpm) = install_both(&reference);
    assert_same_global_store(
        &pnpm,
        &tack,
        &[
            "<links>/@/tack-build-dep/1.0.0/",
            "<links>/@/tack-build-parent/1.0.0/",
            "<links>/@/is-odd/3.0.1/",
        ],
    );
    assert!(
        !tack.dir().join("build-log.txt").exists(),
        "a script ran with scripts ignored"
    );
}

#[test]
fn a_package_to_build_is_refused_before_anything_is_written() {
    let registry = registry::start();
    let project = gvs_project(&registry.url());
    project.add_settings("allowBuilds:\n  is-odd: true\n");
    registry.clear_requests();
    let out = project.tack(&["install", "--frozen-lockfile"]);
    assert!(!out.status.success(), "tack installed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for want in [
        "ERR_TACK_UNSUPPORTED_SETTING",
        "enableGlobalVirtualStore",
        "is-odd@3.0.1",
        "allowBuilds",
    ] {
        assert!(stderr.contains(want), "no {want:?} in {stderr}");
    }
    assert!(!project.dir().join("node_modules").exists());
    assert!(!links_dir(&project).exists());
    assert!(registry.requests().is_empty(), "{:?}", registry.requests());
}

/// Four projects install into one empty store at the same moment, each racing the others
/// for the same slots (one creates a slot, the others find it partial and complete it in
/// place): every install succeeds, every slot ends complete, and each project runs.
#[test]
fn concurrent_installs_fill_shared_slots_together() {
    let registry = registry::start();
    for round in 0..3 {
        let store = TestProject::new();
        let projects: Vec<TestProject> = (0..4).map(|_| gvs_project(&registry.url())).collect();
        let children: Vec<_> = projects
            .iter()
            .map(|project| {
                project
                    .command(&tack_suite::tack_bin())
                    .args(["install", "--frozen-lockfile", "--store-dir"])
                    .arg(store.store())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("start tack")
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().expect("wait for tack");
            assert_success(&out, &format!("round {round}: a concurrent install"));
        }
        for project in &projects {
            assert_basic_fixture_runs(project);
        }
        let slots = fs_err::read_dir(links_dir(&store).join("@/is-odd/3.0.1"))
            .expect("is-odd's slots")
            .count();
        assert_eq!(slots, 1, "round {round}: one slot per package");
        let out = projects[0]
            .command(&tack_suite::tack_bin())
            .args(["store", "status", "--store-dir"])
            .arg(store.store())
            .output()
            .expect("run tack store status");
        assert_success(&out, "tack store status");
    }
}
