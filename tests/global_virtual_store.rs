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
    assert_basic_fixture_runs, clone_inputs, install_both, normalized_modules_yaml, prepare,
    project_tree, publish, publish_with_file,
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
            let time = change_time(&dir.join(&rel));
            (rel, time)
        })
        .collect()
}

/// The change time of `path` (not followed), in nanoseconds.
fn change_time(path: &Path) -> i64 {
    let meta = fs_err::symlink_metadata(path).expect("stat");
    meta.ctime() * 1_000_000_000 + meta.ctime_nsec()
}

/// The files of `before` ([`change_times`] of `dir`) whose change time is not the same now:
/// linked again since.
fn linked_again(before: &BTreeMap<String, i64>, dir: &Path) -> Vec<String> {
    let now = change_times(dir);
    before
        .iter()
        .filter(|(path, time)| now.get(*path) != Some(time))
        .map(|(path, _)| path.clone())
        .collect()
}

/// What the one slot of `name@1.0.0` holds of its package directory and of staging
/// directories: nothing, after a build or a patch that failed.
fn left_in_slot(project: &TestProject, name: &str) -> Vec<String> {
    let slots: Vec<_> = fs_err::read_dir(links_dir(project).join("@").join(name).join("1.0.0"))
        .expect("the package's slots")
        .map(|slot| slot.expect("slot").path().join("node_modules"))
        .collect();
    assert_eq!(slots.len(), 1);
    fs_err::read_dir(&slots[0])
        .expect("the slot's node_modules")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|entry| entry == name || entry.starts_with(".pnpm-"))
        .collect()
}

/// What `require(<package>)` gives in `project`, as `node -p` prints it.
fn required(project: &TestProject, package: &str) -> String {
    let run = project
        .command(Path::new("node"))
        .args(["-p", &format!("require('{package}')")])
        .output()
        .expect("run node");
    String::from_utf8_lossy(&run.stdout).trim().to_string()
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

/// Starts `tack install --frozen-lockfile` in every one of `projects` at once, all into
/// `store`, and asserts that each succeeds.
fn install_at_once(projects: &[TestProject], store: &Path, round: usize) {
    let children: Vec<_> = projects
        .iter()
        .map(|project| {
            project
                .command(&tack_suite::tack_bin())
                .args(["install", "--frozen-lockfile", "--store-dir"])
                .arg(store)
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

/// Under the global virtual store, a project's link to a direct dependency deleted or left
/// dangling is linked again as pnpm 12 links it (`install --frozen-lockfile` for either, a
/// plain `install` for a dangling one), with the same lines ("Already up to date", then the
/// link listed) and tree. (tack's no-op gate answered "Already up to date".)
#[test]
fn a_deleted_or_dangling_project_link_to_a_slot_is_made_again_like_pnpm() {
    let registry = registry::start();
    let reference = gvs_project(&registry.url());
    fn dangle(dir: &Path) {
        let link = dir.join("node_modules/is-odd");
        fs_err::remove_file(&link).unwrap();
        std::os::unix::fs::symlink("gone", &link).unwrap();
    }
    type Damage = fn(&Path);
    let cases: [(&str, bool, Damage); 3] = [
        ("a deleted scoped link", true, |dir| {
            fs_err::remove_file(dir.join("node_modules/@tack-test/scoped")).unwrap()
        }),
        ("a dangling link", true, dangle),
        ("a dangling link, plain install", false, dangle),
    ];
    for (what, frozen, damage) in cases {
        let seen = ["pnpm", "tack"].map(|tool| {
            let project = clone_inputs(&reference);
            assert_success(
                &project.run_tool(tool, &["install", "--frozen-lockfile"]),
                tool,
            );
            damage(&project.dir());
            let args: &[&str] = match frozen {
                true => &["install", "--frozen-lockfile"],
                false => &["install"],
            };
            let out = project.run_tool(tool, args);
            assert_success(&out, tool);
            let lines = tack_suite::conformance::comparable_output(&out.stdout);
            (lines, gvs_tree(&project))
        });
        assert_eq!(seen[1].0, seen[0].0, "{what}: tack's output, then pnpm's");
        assert!(
            seen[0].0.contains(&"Already up to date".to_string())
                && seen[0].0.iter().any(|l| l.starts_with("+ ")),
            "{what}: {:?}",
            seen[0].0
        );
        let differences = tree::diff(&seen[0].1, &seen[1].1);
        assert!(
            differences.is_empty(),
            "{what}:\n{}",
            differences.join("\n")
        );
    }
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
    let reference = locked_gvs_project(
        &registry.url(),
        "gvs-builds",
        json!({"tack-build-parent": "1.0.0", "is-odd": "^3.0.1"}),
        &["tack-build-dep"],
        "ignoreScripts: true\n",
    );
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

/// A project named `name` depending on `dependencies`, with the global virtual store on,
/// each of `allowed` in `allowBuilds` and `extra` settings, locked by pnpm 12.
fn locked_gvs_project(
    registry_url: &str,
    name: &str,
    dependencies: serde_json::Value,
    allowed: &[&str],
    extra: &str,
) -> TestProject {
    let reference = gvs_project_inputs(registry_url, name, dependencies, allowed, extra);
    reference.lock_with_pnpm();
    reference
}

/// [`locked_gvs_project`]'s project before it is locked.
fn gvs_project_inputs(
    registry_url: &str,
    name: &str,
    dependencies: serde_json::Value,
    allowed: &[&str],
    extra: &str,
) -> TestProject {
    let allow: String = allowed.iter().map(|n| format!("  {n}: true\n")).collect();
    let reference = TestProject::new();
    reference
        .write(
            "package.json",
            &json!({"name": name, "version": "1.0.0", "dependencies": dependencies}).to_string(),
        )
        .write(".npmrc", &format!("registry={registry_url}\n"))
        .write(
            "pnpm-workspace.yaml",
            &format!(
                "minimumReleaseAge: 0\nenableGlobalVirtualStore: true\n{extra}allowBuilds:\n{allow}"
            ),
        );
    reference
}

/// A project with dependencies allowed to build: a dependency whose `postinstall` rewrites
/// a file and one whose dependent's `install` checks it was built first, and a bin whose
/// target the build replaces.
fn gvs_builds_project(registry_url: &str) -> TestProject {
    locked_gvs_project(
        registry_url,
        "gvs-builds",
        json!({"tack-build-parent": "1.0.0", "tack-build-bin": "1.0.0", "is-odd": "^3.0.1"}),
        &["tack-build-dep", "tack-build-parent", "tack-build-bin"],
        "",
    )
}

const BUILT_SLOTS: [&str; 3] = [
    "<links>/@/tack-build-dep/1.0.0/",
    "<links>/@/tack-build-parent/1.0.0/",
    "<links>/@/tack-build-bin/1.0.0/",
];

/// What an install printed of its scripts, sorted (packages of one chunk build side by
/// side), each install's staging directory name replaced.
fn script_lines(stdout: &[u8]) -> Vec<String> {
    let mut lines: Vec<String> = String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| l.starts_with(".../"))
        .map(without_stage_names)
        .collect();
    lines.sort();
    lines
}

/// Packages allowed to build are built in a staging directory inside their slot
/// (`<slot>/node_modules/.pnpm-<8 hex>`, named in the script output) and moved to their
/// package directory once built, dependencies first, as pnpm 12.21 builds them: the same
/// slots, built files and shims, and nothing left staged.
#[test]
fn packages_allowed_to_build_are_built_in_their_slots_as_pnpm_12_builds_them() {
    let registry = registry::start();
    let reference = gvs_builds_project(&registry.url());
    let (tack, pnpm) = (clone_inputs(&reference), clone_inputs(&reference));
    let by_tack = tack.tack(&["install", "--frozen-lockfile"]);
    assert_success(&by_tack, "tack install");
    let by_pnpm = pnpm.pnpm(&["install", "--frozen-lockfile", "--reporter", "append-only"]);
    assert_success(&by_pnpm, "pnpm install");
    assert_same_global_store(&pnpm, &tack, &BUILT_SLOTS);
    assert_eq!(
        fs_err::read_to_string(tack.dir().join("build-log.txt")).expect("the build log"),
        "tack-build-dep preinstall\ntack-build-dep postinstall\ntack-build-parent install\n"
    );
    assert_eq!(script_lines(&by_tack.stdout), script_lines(&by_pnpm.stdout));
    assert!(
        script_lines(&by_tack.stdout)
            .contains(&".../node_modules/.pnpm-<stage> postinstall$ node build.js".to_string()),
        "{}",
        String::from_utf8_lossy(&by_tack.stdout)
    );
    let built = slot_package_dir(&tack, "tack-build-dep", "1.0.0");
    assert_eq!(
        fs_err::read_to_string(built.join("index.js")).expect("the built index.js"),
        "module.exports = 'built';\n"
    );
    let run = std::process::Command::new(tack.dir().join("node_modules/.bin/tack-build-bin"))
        .output()
        .expect("run the built bin");
    assert_eq!(String::from_utf8_lossy(&run.stdout), "native-tool\n");
}

/// Each tool takes the other's built slots as built: offline, over slots pnpm 12 built, tack
/// runs no script and links no file again; over slots tack built, pnpm 12 finds the build
/// tack cached for the package whose build changed files and installs a project that runs.
#[test]
fn each_tool_takes_the_builds_the_other_placed_in_the_slots() {
    let registry = registry::start();
    for (first, second) in [("pnpm", "tack"), ("tack", "pnpm")] {
        let project = clone_inputs(&gvs_builds_project(&registry.url()));
        assert_success(
            &project.run_tool(first, &["install", "--frozen-lockfile"]),
            &format!("{first} install"),
        );
        let linked = change_times(&links_dir(&project));
        if second == "tack" {
            // The project's own record then lists the builds as pending (an install with
            // scripts ignored, into slots named without `built`): that must not send tack
            // to build again in slots that are built.
            let out = project.tack(&[
                "install",
                "--frozen-lockfile",
                "--offline",
                "--ignore-scripts",
            ]);
            assert_success(&out, "tack install --ignore-scripts");
            let bin = project.dir().join("node_modules/.bin/tack-build-bin");
            let run = std::process::Command::new(&bin)
                .output()
                .expect("run the bin");
            assert_eq!(
                String::from_utf8_lossy(&run.stdout),
                "js-launcher\n",
                "the project's shim still names the built slot"
            );
            let tool = project.dir().join("node_modules/tack-build-bin/bin/tool");
            assert_ne!(
                fs_err::read_to_string(&tool).expect("the bin's target"),
                "echo native-tool\n",
                "the project still links the built slot"
            );
            // Edited since: the next install takes the full path, not "Already up to date".
            project.add_settings("# edited\n");
        } else {
            fs_err::rename(
                project.dir().join("node_modules"),
                project.root().join("node_modules-aside"),
            )
            .expect("move node_modules aside");
        }
        let log = project.dir().join("build-log.txt");
        fs_err::remove_file(&log).expect("remove the build log");
        registry.clear_requests();
        let out = project.run_tool(second, &["install", "--frozen-lockfile", "--offline"]);
        assert_success(&out, &format!("{second} install over {first}'s slots"));
        assert!(registry.requests().is_empty(), "{second} fetched");
        let run =
            std::process::Command::new(project.dir().join("node_modules/.bin/tack-build-bin"))
                .output()
                .expect("run the built bin");
        assert_eq!(String::from_utf8_lossy(&run.stdout), "native-tool\n");
        // The slot the project links (the store may hold the unbuilt one too).
        let built = fs_err::canonicalize(
            project
                .dir()
                .join("node_modules/.pnpm/node_modules/tack-build-dep"),
        )
        .expect("the hoisted tack-build-dep");
        assert!(built.join("built.txt").is_file(), "{second} after {first}");
        if second == "tack" {
            assert!(!log.exists(), "tack ran scripts over built slots");
            let again = linked_again(&linked, &links_dir(&project));
            assert!(
                again.is_empty(),
                "tack linked files of pnpm's slots again: {again:?}"
            );
        } else {
            // pnpm 12 builds again, beside the package directory, a package whose build
            // changed no file (its side-effects cache has nothing to restore), but not
            // tack-build-dep, whose build tack cached.
            let log = fs_err::read_to_string(&log).unwrap_or_default();
            assert!(
                !log.contains("tack-build-dep"),
                "pnpm built it again: {log}"
            );
        }
        let staged: Vec<_> = tack_suite::tree::snapshot(&links_dir(&project), &|_| false)
            .into_keys()
            .filter(|path| path.contains("/.pnpm-"))
            .collect();
        assert!(staged.is_empty(), "{second} after {first}: {staged:?}");
    }
}

/// A build that fails in a shared slot leaves neither its staging directory nor a package
/// directory there (another project would take one for built), nor does the staged
/// dependent it stopped the install before; the next install imports and builds again.
#[test]
fn a_failed_build_leaves_nothing_in_its_slot() {
    let registry = registry::start();
    publish(
        &registry,
        "gvs-fail-parent",
        "1.0.0",
        json!({"dependencies": {"tack-build-fail": "1.0.0"},
               "scripts": {"postinstall": "echo never"}}),
    );
    let reference = locked_gvs_project(
        &registry.url(),
        "gvs-fail",
        json!({"gvs-fail-parent": "1.0.0"}),
        &["tack-build-fail", "gvs-fail-parent"],
        "",
    );
    let project = clone_inputs(&reference);
    for attempt in 0..2 {
        let out = project.tack(&["install", "--frozen-lockfile"]);
        assert!(!out.status.success(), "attempt {attempt}: tack installed");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("tack-build-fail: about to fail"),
            "attempt {attempt}: the script did not run: {stdout}"
        );
        for name in ["tack-build-fail", "gvs-fail-parent"] {
            let left = left_in_slot(&project, name);
            assert!(
                left.is_empty(),
                "attempt {attempt}: left in {name}'s slot: {left:?}"
            );
        }
    }
}

/// Two projects build the same slots at the same moment, each in its own staging
/// directory: both succeed, each slot holds one built package, and nothing is left staged.
#[test]
fn concurrent_installs_build_a_shared_slot_once_each_and_keep_one() {
    let registry = registry::start();
    let reference = gvs_builds_project(&registry.url());
    for round in 0..2 {
        let store = TestProject::new();
        let projects: Vec<TestProject> = (0..2).map(|_| clone_inputs(&reference)).collect();
        install_at_once(&projects, &store.store(), round);
        let links = store.store().join("v11/links");
        let tree = tack_suite::tree::snapshot(&links, &|_| false);
        let staged: Vec<_> = tree.keys().filter(|p| p.contains("/.pnpm-")).collect();
        assert!(staged.is_empty(), "round {round}: {staged:?}");
        for project in &projects {
            let run =
                std::process::Command::new(project.dir().join("node_modules/.bin/tack-build-bin"))
                    .output()
                    .expect("run the built bin");
            assert_eq!(String::from_utf8_lossy(&run.stdout), "native-tool\n");
        }
        let built = fs_err::read_dir(links.join("@/tack-build-dep/1.0.0"))
            .expect("slots")
            .map(|slot| {
                slot.expect("slot")
                    .path()
                    .join("node_modules/tack-build-dep/built.txt")
            })
            .collect::<Vec<_>>();
        assert_eq!(built.len(), 1, "round {round}: one slot");
        assert!(built[0].is_file(), "round {round}: not built");
    }
}

/// A package built in its slot whose install script runs a command of its dependency (as
/// prebuilt native modules run `node-gyp-build`): the command is on its PATH, in the
/// staging directory's `.bin`, while it builds, and the package directory appears only
/// once built, with the `.bin` pnpm 12 gives it.
#[test]
fn a_build_in_a_slot_runs_its_dependencys_command_as_pnpm_12_does() {
    let registry = registry::start();
    publish_with_file(
        &registry,
        "gvs-tool",
        "1.0.0",
        json!({"bin": {"gvs-tool": "cli.js"}}),
        (
            "cli.js",
            b"#!/usr/bin/env node\nrequire('fs').writeFileSync('made-by-tool.txt', 'made\\n');\n",
            0o755,
        ),
    );
    publish(
        &registry,
        "gvs-native",
        "1.0.0",
        json!({"dependencies": {"gvs-tool": "1.0.0"}, "scripts": {"install": "gvs-tool"}}),
    );
    let reference = locked_gvs_project(
        &registry.url(),
        "gvs-native-user",
        json!({"gvs-native": "1.0.0"}),
        &["gvs-native"],
        "",
    );
    let (tack, pnpm) = install_both(&reference);
    let built = slot_package_dir(&tack, "gvs-native", "1.0.0");
    assert_eq!(
        fs_err::read_to_string(built.join("made-by-tool.txt")).expect("the tool's output"),
        "made\n"
    );
    assert_same_global_store(
        &pnpm,
        &tack,
        &["<links>/@/gvs-native/1.0.0/", "<links>/@/gvs-tool/1.0.0/"],
    );
}

/// A build in a slot sees the environment pnpm 12 gives it: the staging directory as its
/// package directory (`PNPM_SCRIPT_SRC_DIR`, `npm_package_json`, `TMPDIR`), the `.bin`
/// chain from there, and `NODE_PATH` naming the project's hoisted packages, which a slot
/// outside the project cannot reach by walking up.
#[test]
fn a_build_in_a_slot_sees_pnpm_12s_environment() {
    let registry = registry::start();
    publish(
        &registry,
        "gvs-env-dump",
        "1.0.0",
        json!({"scripts": {"postinstall": "node -e \"require('fs').writeFileSync(require('path').join(process.env.INIT_CWD, 'env.json'), JSON.stringify(process.env))\""}}),
    );
    let reference = locked_gvs_project(
        &registry.url(),
        "gvs-env",
        json!({"gvs-env-dump": "1.0.0", "is-odd": "^3.0.1"}),
        &["gvs-env-dump"],
        "",
    );
    let (tack, pnpm) = install_both(&reference);
    let env_of = |project: &TestProject| -> BTreeMap<String, String> {
        let text = fs_err::read_to_string(project.dir().join("env.json")).expect("env.json");
        let env: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&text).expect("the dumped environment");
        let root = project.root().to_string_lossy().into_owned();
        [
            "PATH",
            "NODE_PATH",
            "INIT_CWD",
            "PNPM_SCRIPT_SRC_DIR",
            "npm_package_json",
            "TMPDIR",
        ]
        .into_iter()
        .map(|key| {
            let value = env.get(key).and_then(|v| v.as_str()).unwrap_or("<unset>");
            // PATH goes on with the runner's own directories: up to the project's `.bin`.
            let value = match key {
                "PATH" => value
                    .split(':')
                    .take_while(|dir| !dir.ends_with("/project/node_modules/.bin"))
                    .filter(|dir| !dir.contains("node-gyp-bin"))
                    .collect::<Vec<_>>()
                    .join(":"),
                _ => value.to_string(),
            };
            (
                key.to_string(),
                without_stage_names(&value.replace(&root, "<root>")),
            )
        })
        .collect()
    };
    assert_eq!(env_of(&tack), env_of(&pnpm));
}

/// `text` with each `/.pnpm-<8 hex>` (an install's staging directory) as `/.pnpm-<stage>`.
fn without_stage_names(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("/.pnpm-") {
        let (head, tail) = rest.split_at(at + "/.pnpm-".len());
        out.push_str(head);
        let hex = tail
            .get(..8)
            .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
        if hex {
            out.push_str("<stage>");
            rest = &tail[8..];
        } else {
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// The patch the `gvs-patched` package gets: its `index.js` says it was patched.
const GVS_PATCH: &str = "diff --git a/index.js b/index.js
--- a/index.js
+++ b/index.js
@@ -1 +1 @@
-module.exports = 1;
+module.exports = 'patched';
";

/// A project depending on `gvs-patched` (whose dependency has a bin) and is-odd, with
/// `patch` for `gvs-patched` in `patchedDependencies`, locked by pnpm 12.
fn gvs_patched_project(registry: &tack_test_registry::TestRegistry, patch: &str) -> TestProject {
    publish(
        registry,
        "gvs-patched",
        "1.0.0",
        json!({"dependencies": {"tack-bin-string": "1.0.0"}}),
    );
    let reference = gvs_project_inputs(
        &registry.url(),
        "gvs-patch",
        json!({"gvs-patched": "1.0.0", "is-odd": "^3.0.1"}),
        &[],
        "patchedDependencies:\n  gvs-patched@1.0.0: patches/gvs-patched@1.0.0.patch\n",
    );
    reference.write("patches/gvs-patched@1.0.0.patch", patch);
    reference.lock_with_pnpm();
    reference
}

/// A patched package is patched in its slot as pnpm 12.21 patches it, with scripts run or
/// ignored: the same slot names, files and shims (its dependency's command in its own
/// `.bin`), the patched file copied, not linked, and nothing left staged.
#[test]
fn a_patched_package_is_patched_in_its_slot_as_pnpm_12_patches_it() {
    let registry = registry::start();
    let reference = gvs_patched_project(&registry, GVS_PATCH);
    for flags in [&[][..], &["--ignore-scripts"][..]] {
        let args = [&["install", "--frozen-lockfile"][..], flags].concat();
        let (tack, pnpm) = (clone_inputs(&reference), clone_inputs(&reference));
        assert_success(&tack.tack(&args), "tack install");
        assert_success(&pnpm.pnpm(&args), "pnpm install");
        assert_same_global_store(&pnpm, &tack, &["<links>/@/gvs-patched/1.0.0/"]);
        let patched = slot_package_dir(&tack, "gvs-patched", "1.0.0");
        let index = patched.join("index.js");
        assert_eq!(
            fs_err::read_to_string(&index).expect("the patched index.js"),
            "module.exports = 'patched';\n",
            "{flags:?}"
        );
        let links = fs_err::metadata(&index).expect("stat index.js").nlink();
        assert_eq!(
            links, 1,
            "{flags:?}: the patched file is linked from the store"
        );
        assert!(
            patched.join("node_modules/.bin/tack-bin-string").is_file(),
            "{flags:?}: no shim for the dependency's command"
        );
        // The shim was written in the staging directory, before the rename that moved it
        // into place (and changed its time): another install may take the package as soon
        // as it appears.
        let shim = change_time(&patched.join("node_modules/.bin/tack-bin-string"));
        assert!(
            shim <= change_time(&patched),
            "{flags:?}: the shim was written after the package appeared in its slot"
        );
        assert_eq!(required(&tack, "gvs-patched"), "patched", "{flags:?}");
    }
}

/// The `local-dir` package of [`gvs_directory_project`], `index.js` saying `says`.
fn write_local_dir(project: &TestProject, says: &str) {
    project
        .write(
            "local-dir/package.json",
            r#"{"name": "local-dir", "version": "1.0.0", "dependencies": {"is-number": "^7.0.0"}}"#,
        )
        .write(
            "local-dir/index.js",
            &format!("module.exports = '{says}';\n"),
        );
}

/// A project depending on a local directory (`file:./local-dir`, which depends on a registry
/// package) and on is-odd, locked by pnpm 12.
fn gvs_directory_project(registry_url: &str) -> TestProject {
    let reference = gvs_project_inputs(
        registry_url,
        "gvs-dir",
        json!({"local-dir": "file:./local-dir", "is-odd": "^3.0.1"}),
        &[],
        "",
    );
    write_local_dir(&reference, "local");
    reference.lock_with_pnpm();
    let project = clone_inputs(&reference);
    write_local_dir(&project, "local");
    project
}

/// A directory dependency gets the slot pnpm 12.21 gives it, `<name>/directory/<hash>` with
/// the project's directory in the hash (so tack and pnpm are compared in one project, each
/// with its own store), and is imported again from its directory by the next install, as
/// pnpm does.
#[test]
fn a_directory_dependency_gets_the_projects_own_slot_as_pnpm_12_names_it() {
    let registry = registry::start();
    let project = gvs_directory_project(&registry.url());
    assert_success(
        &project.pnpm(&["install", "--frozen-lockfile"]),
        "pnpm install",
    );
    let by_pnpm = gvs_tree(&project);
    let modules_yaml = normalized_modules_yaml(&project);
    assert!(
        by_pnpm
            .keys()
            .any(|path| path.starts_with("<links>/@/local-dir/directory/")),
        "pnpm made no directory slot: {:?}",
        by_pnpm.keys().collect::<Vec<_>>()
    );
    for moved in ["node_modules", "../store"] {
        let aside = project
            .root()
            .join(format!("aside-{}", moved.replace('/', "")));
        fs_err::rename(project.dir().join(moved), aside).expect("move pnpm's install aside");
    }
    assert_success(
        &project.tack(&["install", "--frozen-lockfile"]),
        "tack install",
    );
    let differences = tree::diff(&by_pnpm, &gvs_tree(&project));
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    assert_eq!(normalized_modules_yaml(&project), modules_yaml);
    assert_eq!(required(&project, "local-dir"), "local");
    write_local_dir(&project, "changed");
    assert_success(
        &project.tack(&["install", "--frozen-lockfile"]),
        "tack install after the directory changed",
    );
    assert_eq!(required(&project, "local-dir"), "changed");
}

/// Each tool takes the other's patched slot as patched: offline, with another slot to
/// place, nothing is linked or patched again in the slots there were, and the project runs
/// the patched code.
#[test]
fn each_tool_takes_the_patched_slot_the_other_made() {
    let registry = registry::start();
    let reference = gvs_patched_project(&registry, GVS_PATCH);
    for (first, second) in [("pnpm", "tack"), ("tack", "pnpm")] {
        let project = clone_inputs(&reference);
        assert_success(
            &project.run_tool(first, &["install", "--frozen-lockfile"]),
            &format!("{first} install"),
        );
        fs_err::rename(
            project.dir().join("node_modules"),
            project.root().join("node_modules-aside"),
        )
        .expect("move node_modules aside");
        // One other slot gone, so that the install is no "Already up to date" but places
        // packages, and builds and patches what needs it.
        fs_err::remove_dir_all(links_dir(&project).join("@/is-odd")).expect("remove a slot");
        let linked = change_times(&links_dir(&project));
        registry.clear_requests();
        let out = project.run_tool(second, &["install", "--frozen-lockfile", "--offline"]);
        assert_success(&out, &format!("{second} install over {first}'s slots"));
        assert!(registry.requests().is_empty(), "{second} fetched");
        assert_eq!(required(&project, "gvs-patched"), "patched");
        let again = linked_again(&linked, &links_dir(&project));
        assert!(
            again.is_empty(),
            "{second} linked files of {first}'s slots again: {again:?}"
        );
    }
}

/// A patch that does not apply fails the install with pnpm's code and leaves neither a
/// package directory (another project would take it for patched) nor a staging directory
/// in the slot; the next install tries again.
#[test]
fn a_patch_that_fails_leaves_nothing_in_its_slot() {
    let registry = registry::start();
    let reference = gvs_patched_project(&registry, &GVS_PATCH.replace("= 1;", "= 2;"));
    let project = clone_inputs(&reference);
    for attempt in 0..2 {
        let out = project.tack(&["install", "--frozen-lockfile"]);
        assert!(!out.status.success(), "attempt {attempt}: tack installed");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("ERR_PNPM_PATCH_FAILED"),
            "attempt {attempt}: {stderr}"
        );
        let left = left_in_slot(&project, "gvs-patched");
        assert!(
            left.is_empty(),
            "attempt {attempt}: left in the slot: {left:?}"
        );
    }
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
        install_at_once(&projects, &store.store(), round);
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

/// `--force` under the global virtual store keeps every complete slot as it is, as pnpm 12.21
/// does (no file linked again, the same package directories), and counts every package as
/// added. tack used to import them all again and swap each shared slot in place, under every
/// other project of the store that used it.
#[test]
fn force_keeps_complete_slots_as_pnpm_12_does() {
    let registry = registry::start();
    let mut counts = Vec::new();
    for tool in ["pnpm", "tack"] {
        let project = clone_inputs(&gvs_builds_project(&registry.url()));
        let run = |args: &[&str]| match tool {
            "pnpm" => project.pnpm(args),
            _ => project.tack(args),
        };
        assert_success(&run(&["install", "--frozen-lockfile"]), "the first install");
        let dirs = [("is-odd", "3.0.1"), ("tack-build-dep", "1.0.0")]
            .map(|(name, version)| slot_package_dir(&project, name, version));
        let inodes = dirs
            .each_ref()
            .map(|dir| fs_err::metadata(dir).expect("slot").ino());
        let before = change_times(&links_dir(&project));
        let forced = run(&[
            "install",
            "--frozen-lockfile",
            "--force",
            "--reporter",
            "append-only",
        ]);
        assert_success(&forced, "the forced install");
        let again = dirs
            .each_ref()
            .map(|dir| fs_err::metadata(dir).expect("slot").ino());
        assert_eq!(inodes, again, "{tool} swapped a slot's package directory");
        let linked = linked_again(&before, &links_dir(&project));
        assert!(linked.is_empty(), "{tool} linked again: {linked:?}");
        assert_eq!(required(&project, "is-odd"), "[Function: isOdd]", "{tool}");
        let stdout = String::from_utf8_lossy(&forced.stdout).into_owned();
        counts.push(
            stdout
                .lines()
                .filter(|line| line.starts_with("Packages:") || line.starts_with("Progress:"))
                .map(str::to_string)
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(counts[0], counts[1]);
    assert!(
        counts[1].contains(&"Packages: +5".to_string()),
        "{counts:?}"
    );
}
