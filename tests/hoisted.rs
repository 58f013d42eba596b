//! `nodeLinker: hoisted`: tack builds the npm-style tree pnpm 12 builds (real package
//! directories, nested where versions conflict, one `.bin` per `node_modules`), and keeps it
//! right when the lockfile or the layout changes under an installed tree. Every tree is
//! compared with real pnpm 12's, path by path.

use std::path::PathBuf;

use serde_json::json;
use tack_suite::conformance::{
    assert_basic_fixture_runs, assert_same_tree, clone_inputs, comparable_output, install_both,
    project_tree, publish, publish_with_file, resolve_with_pnpm, resolved_project,
};
use tack_suite::project::{assert_success, TestProject};
use tack_suite::{registry, tree};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Asks for the hoisted layout in the project's `pnpm-workspace.yaml`.
fn set_hoisted(project: &TestProject) {
    project.add_settings("\nnodeLinker: hoisted\n");
}

/// Fails with the differences when the two projects' trees differ.
fn assert_trees_equal(expected: &TestProject, actual: &TestProject, what: &str) {
    let differences = tree::diff(&project_tree(expected), &project_tree(actual));
    assert!(
        differences.is_empty(),
        "{what}: tack's tree differs from pnpm 12's ({} differences):\n{}",
        differences.len(),
        differences.join("\n")
    );
}

fn modules_yaml(project: &TestProject) -> serde_json::Value {
    let text = fs_err::read_to_string(project.dir().join("node_modules/.modules.yaml"))
        .expect("read .modules.yaml");
    serde_json::from_str(&text).expect("parse .modules.yaml")
}

#[test]
fn a_hoisted_project_matches_pnpm_and_runs() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("basic"), &registry.url());
    set_hoisted(&reference);
    let tack = assert_same_tree(&reference, &[]);

    // Real directories, not links; a conflicting version nested below its dependent.
    let modules = tack.dir().join("node_modules");
    assert!(fs_err::symlink_metadata(modules.join("is-odd"))
        .expect("is-odd")
        .is_dir());
    assert!(!modules.join(".pnpm/is-odd@3.0.1").exists());
    let yaml = modules_yaml(&tack);
    assert_eq!(yaml["nodeLinker"], "hoisted");
    assert!(yaml["hoistedLocations"]["is-odd@3.0.1"].is_array());

    assert_basic_fixture_runs(&tack);
}

/// What an install prints in the hoisted layout, fresh and then as a no-op.
#[test]
fn a_hoisted_install_says_what_pnpm_says() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("basic"), &registry.url());
    set_hoisted(&reference);
    let (tack, pnpm) = (clone_inputs(&reference), clone_inputs(&reference));
    for round in ["fresh", "no-op"] {
        let ours = tack.tack(&["install", "--frozen-lockfile", "--ignore-scripts"]);
        let theirs = pnpm.pnpm(&["install", "--frozen-lockfile", "--ignore-scripts"]);
        assert_success(&ours, round);
        assert_success(&theirs, round);
        assert_eq!(
            comparable_output(&ours.stdout),
            comparable_output(&theirs.stdout),
            "{round}: tack's output, then pnpm's"
        );
    }
}

#[test]
fn a_hoisted_workspace_matches_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("workspace"), &registry.url());
    set_hoisted(&reference);
    assert_same_tree(&reference, &[]);
}

#[test]
fn a_hoisted_production_install_matches_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("basic"), &registry.url());
    set_hoisted(&reference);
    assert_same_tree(&reference, &["--prod"]);
}

/// Two versions of one package, which the hoister places in the root or below a dependent
/// depending on who else needs them.
fn publish_conflict(registry: &tack_test_registry::TestRegistry) {
    for version in ["1.0.0", "2.0.0"] {
        publish(
            registry,
            "hoist-leaf",
            version,
            json!({"bin": {"hoist-leaf": "index.js"}}),
        );
    }
    publish(
        registry,
        "hoist-a",
        "1.0.0",
        json!({"dependencies": {"hoist-leaf": "1.0.0"}}),
    );
    publish(
        registry,
        "hoist-b",
        "1.0.0",
        json!({"dependencies": {"hoist-leaf": "2.0.0"}}),
    );
}

/// A changed lockfile over an installed hoisted tree: the versions swap places (the one in
/// the root goes below its dependent and the other way round), a package goes away, and the
/// tree afterwards is the one pnpm 12 leaves after the same two installs.
#[test]
fn a_changed_lockfile_moves_versions_over_an_installed_hoisted_tree() {
    let registry = registry::start();
    publish_conflict(&registry);
    let before = resolved_project(
        r#"{"name": "p", "version": "1.0.0", "dependencies": {"hoist-a": "1.0.0", "hoist-b": "1.0.0"}}"#,
        &registry.url(),
    );
    set_hoisted(&before);
    let after = resolved_project(
        r#"{"name": "p", "version": "1.0.0", "dependencies": {"hoist-b": "1.0.0", "hoist-leaf": "2.0.0"}}"#,
        &registry.url(),
    );
    set_hoisted(&after);

    let (tack, pnpm) = install_both(&before);
    let leaf = |project: &TestProject, at: &str| -> String {
        let text = fs_err::read_to_string(project.dir().join(at).join("package.json"))
            .expect("leaf manifest");
        serde_json::from_str::<serde_json::Value>(&text).expect("manifest")["version"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(leaf(&tack, "node_modules/hoist-leaf"), "1.0.0");
    assert_eq!(
        leaf(&tack, "node_modules/hoist-b/node_modules/hoist-leaf"),
        "2.0.0"
    );

    for project in [&tack, &pnpm] {
        for file in ["package.json", "pnpm-lock.yaml"] {
            fs_err::copy(after.dir().join(file), project.dir().join(file)).expect("copy input");
        }
    }
    assert_success(
        &tack.tack(&["install", "--frozen-lockfile"]),
        "tack install (after)",
    );
    assert_eq!(leaf(&tack, "node_modules/hoist-leaf"), "2.0.0");
    assert!(!tack.dir().join("node_modules/hoist-a").exists());
    assert!(!tack
        .dir()
        .join("node_modules/hoist-b/node_modules/hoist-leaf")
        .exists());
    assert_success(
        &pnpm.pnpm(&["install", "--frozen-lockfile"]),
        "pnpm install (after)",
    );
    assert_trees_equal(&pnpm, &tack, "after the lockfile changed");
}

/// From the isolated layout to the hoisted one and back, over the same tree: each time the
/// tree is the one pnpm 12 leaves after the same installs.
#[test]
fn switching_between_isolated_and_hoisted_rebuilds_the_tree() {
    let registry = registry::start();
    publish_conflict(&registry);
    let isolated = resolved_project(
        r#"{"name": "p", "version": "1.0.0", "dependencies": {"hoist-a": "1.0.0", "hoist-b": "1.0.0"}}"#,
        &registry.url(),
    );
    let hoisted = clone_inputs(&isolated);
    set_hoisted(&hoisted);

    let (tack, pnpm) = install_both(&isolated);
    for (layout, what) in [(&hoisted, "to hoisted"), (&isolated, "back to isolated")] {
        for project in [&tack, &pnpm] {
            fs_err::copy(
                layout.dir().join("pnpm-workspace.yaml"),
                project.dir().join("pnpm-workspace.yaml"),
            )
            .expect("copy pnpm-workspace.yaml");
        }
        assert_success(&tack.tack(&["install", "--frozen-lockfile"]), what);
        assert_success(&pnpm.pnpm(&["install", "--frozen-lockfile"]), what);
        assert_trees_equal(&pnpm, &tack, what);
    }
}

/// A package directory the tree lost is put back, and nothing else is imported again; a
/// second install is a no-op.
#[test]
fn a_hoisted_tree_is_repaired_and_then_up_to_date() {
    let registry = registry::start();
    publish_conflict(&registry);
    let project = resolved_project(
        r#"{"name": "p", "version": "1.0.0", "dependencies": {"hoist-a": "1.0.0", "hoist-b": "1.0.0"}}"#,
        &registry.url(),
    );
    set_hoisted(&project);
    assert_success(
        &project.tack(&["install", "--frozen-lockfile"]),
        "first install",
    );
    let nested = project
        .dir()
        .join("node_modules/hoist-b/node_modules/hoist-leaf");
    let kept = project.dir().join("node_modules/hoist-a/index.js");
    let kept_inode = std::os::unix::fs::MetadataExt::ino(&fs_err::metadata(&kept).expect("stat"));
    fs_err::remove_dir_all(&nested).expect("remove a nested package");
    assert_success(&project.tack(&["install", "--frozen-lockfile"]), "repair");
    assert!(nested.join("package.json").is_file());
    let inode = std::os::unix::fs::MetadataExt::ino(&fs_err::metadata(&kept).expect("stat"));
    assert_eq!(inode, kept_inode, "an intact package was imported again");

    let out = project.tack(&["install", "--frozen-lockfile"]);
    assert_success(&out, "third install");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Lockfile is up to date"),
        "not a no-op:\n{stdout}"
    );
}

/// The part of `.modules.yaml` the hoisted layout writes: where each package went and which
/// workspace projects are linked into the root.
fn hoisted_state(project: &TestProject) -> (serde_json::Value, serde_json::Value) {
    let modules = modules_yaml(project);
    (
        modules["hoistedLocations"].clone(),
        modules["hoistedDependencies"].clone(),
    )
}

/// Gives the workspace project at `rel` a `postinstall` that appends its name to
/// `<root>/ran.txt`.
fn add_postinstall(project: &TestProject, rel: &str) {
    let path = project.dir().join(rel).join("package.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(&path).expect("read manifest"))
            .expect("parse manifest");
    let name = manifest["name"].as_str().unwrap_or_default().to_string();
    manifest["scripts"] = json!({ "postinstall": format!("echo {name} >> ../../ran.txt") });
    fs_err::write(&path, manifest.to_string()).expect("write manifest");
}

/// Filtered installs in the hoisted layout, one after another over the same tree, then a
/// full one: pnpm 12 places the selected projects' dependencies together with those of the
/// projects the earlier installs placed (so nothing they placed is lost, and a version they
/// share moves where the whole tree puts it), links every workspace project into the root,
/// and runs only the selected projects' own scripts. After each step tack's tree, output,
/// `hoistedLocations` and scripts run are pnpm's.
#[test]
fn filtered_hoisted_installs_match_pnpm_step_by_step() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("workspace"), &registry.url());
    set_hoisted(&reference);
    add_postinstall(&reference, "packages/a");
    add_postinstall(&reference, "packages/b");
    let (tack, pnpm) = (clone_inputs(&reference), clone_inputs(&reference));
    let steps: [&[&str]; 4] = [
        &["--filter", "b"],
        &["--filter", "a"],
        &["--filter", "d"],
        &[],
    ];
    for filter in steps {
        let mut args = vec!["install", "--frozen-lockfile"];
        args.extend_from_slice(filter);
        let theirs = pnpm.pnpm(&args);
        assert_success(&theirs, "pnpm install");
        let ours = tack.tack(&args);
        assert_success(&ours, "tack install");
        let step = format!("after `{}`", args.join(" "));
        assert_trees_equal(&pnpm, &tack, &step);
        assert_eq!(hoisted_state(&tack), hoisted_state(&pnpm), "{step}");
        assert_eq!(
            comparable_output(&ours.stdout),
            comparable_output(&theirs.stdout),
            "{step}: tack's output, then pnpm's"
        );
        let ran =
            |project: &TestProject| fs_err::read_to_string(project.dir().join("ran.txt")).ok();
        assert_eq!(ran(&tack), ran(&pnpm), "{step}: the projects' scripts run");
    }
}

/// Approved builds run in the hoisted directories, dependencies first, with the tree's
/// `.bin` directories on PATH; the tree afterwards is pnpm 12's, built files included.
#[test]
fn builds_run_in_the_hoisted_directories_like_pnpm() {
    let registry = registry::start();
    let reference = resolved_project(
        r#"{"name": "p", "version": "1.0.0", "dependencies": {"tack-build-parent": "1.0.0"}}"#,
        &registry.url(),
    );
    reference.add_settings("\nallowBuilds:\n  tack-build-dep: true\n  tack-build-parent: true\n");
    set_hoisted(&reference);
    let (tack, pnpm) = install_both(&reference);
    let log = fs_err::read_to_string(tack.dir().join("build-log.txt")).expect("build log");
    assert_eq!(
        log,
        "tack-build-dep preinstall\ntack-build-dep postinstall\ntack-build-parent install\n"
    );
    assert!(tack
        .dir()
        .join("node_modules/tack-build-dep/built.txt")
        .is_file());
    assert_trees_equal(&pnpm, &tack, "after the builds");
}

/// A package that builds, placed in two directories: it is built once and the other
/// directory gets the built copy, as pnpm 12 does.
#[test]
fn a_package_built_in_two_places_is_built_once_and_copied() {
    let registry = registry::start();
    let build = "node -e \"require('fs').appendFileSync(process.env.INIT_CWD + '/builds.txt', 'built\\n'); require('fs').writeFileSync('built.txt', 'yes')\"";
    publish(
        &registry,
        "hoist-built",
        "1.0.0",
        json!({"scripts": {"postinstall": build}}),
    );
    publish(&registry, "hoist-built", "2.0.0", json!({}));
    for user in ["hoist-user-a", "hoist-user-b"] {
        publish(
            &registry,
            user,
            "1.0.0",
            json!({"dependencies": {"hoist-built": "1.0.0"}}),
        );
    }
    let reference = resolved_project(
        r#"{"name": "p", "version": "1.0.0", "dependencies": {"hoist-built": "2.0.0", "hoist-user-a": "1.0.0", "hoist-user-b": "1.0.0"}}"#,
        &registry.url(),
    );
    reference.add_settings("\nallowBuilds:\n  hoist-built: true\n");
    set_hoisted(&reference);
    let (tack, pnpm) = install_both(&reference);
    for user in ["hoist-user-a", "hoist-user-b"] {
        let built = tack.dir().join(format!(
            "node_modules/{user}/node_modules/hoist-built/built.txt"
        ));
        assert!(built.is_file(), "{} is missing", built.display());
    }
    let builds = fs_err::read_to_string(tack.dir().join("builds.txt")).expect("builds.txt");
    assert_eq!(builds, "built\n", "built more than once");
    assert_trees_equal(&pnpm, &tack, "after the builds");
}

/// `hoist-pa` and `hoist-pb`, each depending on `hoist-peer-user` with another version of its
/// peer `hoist-leaf`: one version of `hoist-peer-user`, two snapshots.
fn publish_peer_variants(registry: &tack_test_registry::TestRegistry) {
    publish_conflict(registry);
    publish(
        registry,
        "hoist-peer-user",
        "1.0.0",
        json!({"peerDependencies": {"hoist-leaf": "*"}}),
    );
    for (name, leaf) in [("hoist-pa", "1.0.0"), ("hoist-pb", "2.0.0")] {
        publish(
            registry,
            name,
            "1.0.0",
            json!({"dependencies": {"hoist-leaf": leaf, "hoist-peer-user": "1.0.0"}}),
        );
    }
}

/// One package resolved with two versions of its peer (two snapshots of one version): the
/// hoisted tree places them as pnpm 12 does.
#[test]
fn peer_variants_of_one_version_are_placed_like_pnpm() {
    let registry = registry::start();
    publish_peer_variants(&registry);
    let reference = resolved_project(
        r#"{"name": "p", "version": "1.0.0", "dependencies": {"hoist-pa": "1.0.0", "hoist-pb": "1.0.0"}}"#,
        &registry.url(),
    );
    let lockfile =
        fs_err::read_to_string(reference.dir().join("pnpm-lock.yaml")).expect("lockfile");
    assert!(
        lockfile.contains("hoist-peer-user@1.0.0(hoist-leaf@1.0.0)")
            && lockfile.contains("hoist-peer-user@1.0.0(hoist-leaf@2.0.0)"),
        "two peer variants expected:\n{lockfile}"
    );
    set_hoisted(&reference);
    assert_same_tree(&reference, &[]);
}

/// `autoInstallPeers: false`: pnpm gives the hoister each package's peer names. A package
/// whose parent provides another version of its peer than the root has stays below that
/// parent (with the default, it would move to the root and take its own copy of the peer),
/// and so does a package whose dependency takes the peer (`transitivePeerDependencies`);
/// a peer nothing provides stays missing.
#[test]
fn a_hoisted_tree_without_auto_installed_peers_matches_pnpm() {
    let registry = registry::start();
    publish_conflict(&registry);
    publish(
        &registry,
        "hoist-peer-user",
        "1.0.0",
        json!({"peerDependencies": {"hoist-leaf": "*", "hoist-absent-peer": "*"}}),
    );
    // Takes hoist-leaf from above through hoist-peer-user: a transitive peer.
    publish(
        &registry,
        "hoist-wrap",
        "1.0.0",
        json!({"dependencies": {"hoist-peer-user": "1.0.0"}}),
    );
    publish(
        &registry,
        "hoist-pa",
        "1.0.0",
        json!({"dependencies": {"hoist-peer-user": "1.0.0", "hoist-leaf": "1.0.0", "hoist-wrap": "1.0.0"}}),
    );
    let reference = TestProject::new();
    reference.write(
        "package.json",
        r#"{"name": "p", "version": "1.0.0", "dependencies": {"hoist-pa": "1.0.0", "hoist-leaf": "2.0.0"}}"#,
    );
    reference.write(".npmrc", &format!("registry={}\n", registry.url()));
    reference.write(
        "pnpm-workspace.yaml",
        "minimumReleaseAge: 0\nautoInstallPeers: false\nnodeLinker: hoisted\nstrictPeerDependencies: false\n",
    );
    reference.lock_with_pnpm();
    let lockfile =
        fs_err::read_to_string(reference.dir().join("pnpm-lock.yaml")).expect("lockfile");
    assert!(
        !lockfile.contains("hoist-absent-peer@"),
        "the missing peer was installed:\n{lockfile}"
    );
    let tack = assert_same_tree(&reference, &[]);
    for nested in ["hoist-peer-user", "hoist-wrap"] {
        let nested = tack
            .dir()
            .join("node_modules/hoist-pa/node_modules")
            .join(nested);
        assert!(nested.is_dir(), "{} is missing", nested.display());
    }
    assert!(!tack.dir().join("node_modules/hoist-absent-peer").exists());
}

/// An alias that would climb out of `node_modules`, on a dependency of a package this host
/// skips (so the isolated plan never reads it, but the hoister places it): refused with
/// pnpm's code before anything is written.
#[test]
fn an_alias_that_climbs_out_is_refused_in_the_hoisted_layout() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("basic"), &registry.url());
    set_hoisted(&reference);
    let project = clone_inputs(&reference);
    let path = project.dir().join("pnpm-lock.yaml");
    let lockfile = fs_err::read_to_string(&path).expect("lockfile");
    let (head, snapshots) = lockfile.split_once("\nsnapshots:\n").expect("snapshots");
    let line = snapshots
        .lines()
        .find(|l| l.starts_with("  only-darwin@1.0.0:"))
        .expect("the skipped package's snapshot");
    let tampered = snapshots.replacen(
        line,
        "  only-darwin@1.0.0:\n    dependencies:\n      '../../evil': is-number@6.0.0",
        1,
    );
    fs_err::write(&path, format!("{head}\nsnapshots:\n{tampered}")).expect("write lockfile");

    let out = project.tack(&["install", "--frozen-lockfile"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "installed:\n{stderr}");
    assert!(stderr.contains("ERR_PNPM_INVALID_PACKAGE_NAME"), "{stderr}");
    assert!(!project.dir().join("evil").exists());
    assert!(!project.dir().join("node_modules").exists());
}

/// In the hoisted layout, only the targets of the commands a `.bin` lists are made
/// executable: a command that lost its name to another package keeps its target's mode, as
/// pnpm 12 leaves it (`npm-run-all2`'s `run-p` beside `npm-run-all`'s). tack made every
/// command's target executable, as the isolated layout does.
#[test]
fn a_command_that_loses_its_name_keeps_its_target_mode_in_the_hoisted_layout_like_pnpm() {
    let registry = registry::start();
    // Each file its own content: files of equal content share one inode in the store.
    let script = |file: &str| format!("#!/usr/bin/env node\nconsole.log('{file}')\n").into_bytes();
    for (name, bins) in [
        ("mode-a", json!({"shared-cmd": "shared.js"})),
        (
            "mode-b",
            json!({"shared-cmd": "shared.js", "only-b": "only.js"}),
        ),
    ] {
        registry.add_package(
            tack_test_registry::PackageDef::new(name, "1.0.0")
                .field("bin", bins)
                .file("shared.js", script(&format!("{name}/shared")), 0o644)
                .file("only.js", script(&format!("{name}/only")), 0o644),
        );
    }
    let reference = resolved_project(
        r#"{"name": "modes", "version": "1.0.0",
            "dependencies": {"mode-a": "1.0.0", "mode-b": "1.0.0"}}"#,
        &registry.url(),
    );
    set_hoisted(&reference);
    let tack = assert_same_tree(&reference, &[]);
    let mode = |rel: &str| {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs_err::metadata(tack.dir().join("node_modules").join(rel)).unwrap();
        meta.permissions().mode() & 0o777
    };
    // The smaller package name wins the command (see `bins.rs`).
    assert_eq!(mode("mode-a/shared.js"), 0o755);
    assert_eq!(mode("mode-b/shared.js"), 0o644);
    assert_eq!(mode("mode-b/only.js"), 0o755);
}

/// pnpm 12's hoister walks the tree once. `once-e@2` can reach the root from nowhere in the
/// root's turn (`once-m@2` has `once-e@3` on its way, and the root's `once-b@1` keeps its
/// parent `once-b@2` below `once-r`); in `once-r`'s turn `once-b@2` and then `once-e@2` move up
/// into `once-r`, and there `once-e@2` stays, beside the root's. yarn's hoister, which tack
/// followed, walks again and merges it into the root's. babel-cli@6 has this shape
/// (`extend-shallow@2` under `readdirp` and at the root).
#[test]
fn a_version_that_reaches_a_dependency_in_its_turn_stays_there_beside_the_roots_like_pnpm() {
    let registry = registry::start();
    for (name, version, dependencies) in [
        ("once-b", "1.0.0", json!({})),
        ("once-b", "2.0.0", json!({"once-e": "2.0.0"})),
        ("once-e", "2.0.0", json!({})),
        ("once-e", "3.0.0", json!({})),
        ("once-m", "1.0.0", json!({})),
        (
            "once-m",
            "2.0.0",
            json!({"once-b": "2.0.0", "once-e": "3.0.0"}),
        ),
        ("once-r", "1.0.0", json!({"once-m": "2.0.0"})),
    ] {
        publish(
            &registry,
            name,
            version,
            json!({ "dependencies": dependencies }),
        );
    }
    let reference = resolved_project(
        r#"{"name": "once", "version": "1.0.0", "dependencies":
            {"once-b": "1.0.0", "once-e": "2.0.0", "once-m": "1.0.0", "once-r": "1.0.0"}}"#,
        &registry.url(),
    );
    set_hoisted(&reference);
    let tack = assert_same_tree(&reference, &[]);
    let modules = tack.dir().join("node_modules");
    for dir in ["once-e", "once-r/node_modules/once-e"] {
        let text = fs_err::read_to_string(modules.join(dir).join("package.json"))
            .expect("once-e's package.json");
        let manifest: serde_json::Value = serde_json::from_str(&text).expect("parse");
        assert_eq!(manifest["version"], "2.0.0", "{dir}");
    }
}

/// `autoInstallPeers: false` and a package that lists a name both in `dependencies` and in
/// `peerDependencies`: with nothing above it providing the peer, the lockfile resolves the name
/// to the package's own dependency (`both-d@1.0.0` depends on `both-f@1.0.0`, no peer suffix),
/// and pnpm 12 places it, below the package here (the root has the more used `both-f@2`). A
/// peer name only keeps a package below its provider: `both-x` takes `both-f` as a peer from
/// `both-d`'s own dependency, so it stays below `both-d`, and its `both-f` stays below it
/// (`both-d` cannot take it: the name is among `both-d`'s peer names). tack used to drop the
/// dependency as a peer and fail with `ERR_TACK_LINK_UNKNOWN_DEP_PATH`.
#[test]
fn a_dependency_that_is_also_a_peer_is_placed_like_pnpm_without_auto_installed_peers() {
    let registry = registry::start();
    for (name, version, fields) in [
        ("both-f", "1.0.0", json!({})),
        ("both-f", "2.0.0", json!({})),
        (
            "both-a",
            "1.0.0",
            json!({"dependencies": {"both-d": "1.0.0"}}),
        ),
        (
            "both-b",
            "1.0.0",
            json!({"dependencies": {"both-f": "2.0.0"}}),
        ),
        (
            "both-c",
            "1.0.0",
            json!({"dependencies": {"both-f": "2.0.0"}}),
        ),
        (
            "both-e",
            "1.0.0",
            json!({"dependencies": {"both-f": "2.0.0"}}),
        ),
        (
            "both-d",
            "1.0.0",
            json!({"dependencies": {"both-f": "1.0.0", "both-x": "1.0.0"},
                   "peerDependencies": {"both-f": "*"}}),
        ),
        (
            "both-x",
            "1.0.0",
            json!({"peerDependencies": {"both-f": "*"}}),
        ),
    ] {
        publish(&registry, name, version, fields);
    }
    let reference = TestProject::new();
    reference.write(
        "package.json",
        r#"{"name": "both", "version": "1.0.0", "dependencies":
            {"both-a": "1.0.0", "both-b": "1.0.0", "both-c": "1.0.0", "both-e": "1.0.0"}}"#,
    );
    reference.write(".npmrc", &format!("registry={}\n", registry.url()));
    reference.write(
        "pnpm-workspace.yaml",
        "minimumReleaseAge: 0\nautoInstallPeers: false\nnodeLinker: hoisted\n",
    );
    reference.lock_with_pnpm();
    let lockfile =
        fs_err::read_to_string(reference.dir().join("pnpm-lock.yaml")).expect("lockfile");
    assert!(
        lockfile.contains("\n  both-d@1.0.0:\n    dependencies:\n      both-f: 1.0.0\n"),
        "both-d does not take its own both-f:\n{lockfile}"
    );
    let tack = assert_same_tree(&reference, &[]);
    let modules = tack.dir().join("node_modules");
    for dir in [
        "both-d/node_modules/both-f",
        "both-d/node_modules/both-x/node_modules/both-f",
    ] {
        let text = fs_err::read_to_string(modules.join(dir).join("package.json"))
            .expect("both-f's package.json");
        let manifest: serde_json::Value = serde_json::from_str(&text).expect("parse");
        assert_eq!(manifest["version"], "1.0.0", "{dir}");
    }
}

/// One install of [`installs_like_pnpm`]: the inputs it copies in, what it deletes from the
/// tree first (a directory below the project), and the arguments after `--frozen-lockfile`.
struct Step<'a> {
    inputs: &'a TestProject,
    delete: Option<&'a str>,
    args: &'a [&'a str],
}

impl<'a> Step<'a> {
    fn install(inputs: &'a TestProject, args: &'a [&'a str]) -> Self {
        Step {
            inputs,
            delete: None,
            args,
        }
    }
}

/// Runs `steps` over one tree with pnpm 12 and over another with tack: each step copies its
/// inputs in (`package.json`, `pnpm-lock.yaml`, `pnpm-workspace.yaml`), deletes what it says,
/// and installs. After each step the outputs and trees must be equal; returns tack's outputs
/// (see `comparable_output`).
fn installs_like_pnpm(steps: &[Step<'_>]) -> Vec<Vec<String>> {
    let (tack, pnpm) = (TestProject::new(), TestProject::new());
    let mut outputs = Vec::new();
    for (n, step) in steps.iter().enumerate() {
        let mut args = vec!["install", "--frozen-lockfile"];
        args.extend_from_slice(step.args);
        let what = format!("step {} (`{}`)", n + 1, args.join(" "));
        let mut seen = Vec::new();
        for (project, tool) in [(&pnpm, "pnpm"), (&tack, "tack")] {
            project.copy_from(&step.inputs.dir());
            if let Some(rel) = step.delete {
                fs_err::remove_dir_all(project.dir().join(rel)).expect("delete");
            }
            let out = project.run_tool(tool, &args);
            assert_success(&out, &format!("{tool}: {what}"));
            seen.push(comparable_output(&out.stdout));
        }
        assert_eq!(seen[1], seen[0], "{what}: tack's output, then pnpm's");
        assert_trees_equal(&pnpm, &tack, &what);
        outputs.push(seen.remove(1));
    }
    outputs
}

/// The `Packages: …` line of an output, if it has one.
fn packages_line(output: &[String]) -> Option<&str> {
    output
        .iter()
        .find(|line| line.starts_with("Packages:"))
        .map(String::as_str)
}

/// A hoisted project resolved by pnpm 12 from `manifest`.
fn hoisted_project(manifest: &str, registry: &tack_test_registry::TestRegistry) -> TestProject {
    let project = resolved_project(manifest, &registry.url());
    set_hoisted(&project);
    project
}

/// pnpm 12 counts directories of the hoisted layout, not dep paths: a package whose version
/// changes in place is one added directory and none removed (what is placed below it stays),
/// and a version that moves up is one added and one removed. tack counted dep paths, and
/// deleted a directory whose package changed with everything below it: `+2 -1` where pnpm 12
/// says `+1`.
#[test]
fn re_install_counts_are_directories_like_pnpm() {
    let registry = registry::start();
    publish_conflict(&registry);
    // Files of its own: pnpm 12 copies a downloaded file that the store has already, made
    // executable since by a command's link (`hoist-leaf`'s has the same content).
    publish_with_file(
        &registry,
        "hoist-b",
        "1.1.0",
        json!({"dependencies": {"hoist-leaf": "2.0.0"}}),
        ("index.js", b"module.exports = 'b';\n", 0o644),
    );
    let project = |deps: &str| {
        hoisted_project(
            &format!(r#"{{"name": "p", "version": "1.0.0", "dependencies": {{{deps}}}}}"#),
            &registry,
        )
    };
    let first = project(r#""hoist-leaf": "1.0.0", "hoist-b": "1.0.0""#);
    let in_place = project(r#""hoist-leaf": "1.0.0", "hoist-b": "1.1.0""#);
    let moved_up = project(r#""hoist-b": "1.1.0""#);
    let outputs = installs_like_pnpm(&[
        Step::install(&first, &[]),
        Step::install(&in_place, &[]),
        Step::install(&moved_up, &[]),
    ]);
    let lines: Vec<Option<&str>> = outputs.iter().map(|o| packages_line(o)).collect();
    assert_eq!(
        lines,
        [
            Some("Packages: +3"),
            Some("Packages: +1"),
            Some("Packages: +1 -1")
        ],
        "{outputs:#?}"
    );
    assert!(
        outputs[1].iter().any(|l| l.ends_with("added 1, done")),
        "{outputs:#?}"
    );
}

/// An optional package this host skips keeps its place in the layout pnpm 12 makes of the
/// recorded lockfile, so pnpm 12 counts its directory as removed on every install over the
/// tree: after another lockfile, and after a directory deleted by hand. An install with
/// nothing to do (an input written again, a setting that changes no package) still says
/// nothing: not even a progress line, which tack printed.
#[test]
fn a_package_skipped_on_this_host_counts_as_removed_on_each_re_install_like_pnpm() {
    let registry = registry::start();
    for name in ["hoist-x", "hoist-y"] {
        publish(&registry, name, "1.0.0", json!({}));
    }
    publish(
        &registry,
        "hoist-elsewhere",
        "1.0.0",
        json!({"os": ["aix"]}),
    );
    let project = |deps: &str| {
        hoisted_project(
            &format!(
                r#"{{"name": "p", "version": "1.0.0", "dependencies": {{{deps}}},
                    "optionalDependencies": {{"hoist-elsewhere": "1.0.0"}}}}"#
            ),
            &registry,
        )
    };
    let first = project(r#""hoist-x": "1.0.0""#);
    let more = project(r#""hoist-x": "1.0.0", "hoist-y": "1.0.0""#);
    let more_settled = clone_inputs(&more);
    more_settled.add_settings("childConcurrency: 3\n");
    let outputs = installs_like_pnpm(&[
        Step::install(&first, &[]),
        Step::install(&more, &[]),
        Step {
            inputs: &more,
            delete: Some("node_modules/hoist-y"),
            args: &[],
        },
        Step::install(&more, &[]),
        Step::install(&more_settled, &[]),
    ]);
    let lines: Vec<Option<&str>> = outputs.iter().map(|o| packages_line(o)).collect();
    assert_eq!(
        lines,
        [
            Some("Packages: +1"),
            Some("Packages: +1 -1"),
            Some("Packages: +1 -1"),
            None,
            None
        ],
        "{outputs:#?}"
    );
    assert!(
        !outputs[4].iter().any(|l| l.starts_with("Progress:")),
        "{outputs:#?}"
    );
}

/// The peer variants of one version are placed once, but pnpm 12 counts each snapshot of the
/// lockfile as resolved, and as reused when the store has its files: tack counted the placed
/// ones only.
#[test]
fn unplaced_peer_variants_are_resolved_like_pnpm() {
    let registry = registry::start();
    publish_peer_variants(&registry);
    let project = hoisted_project(
        r#"{"name": "p", "version": "1.0.0", "dependencies": {"hoist-pa": "1.0.0", "hoist-pb": "1.0.0"}}"#,
        &registry,
    );
    let outputs = installs_like_pnpm(&[
        Step::install(&project, &[]),
        Step {
            inputs: &project,
            delete: Some("node_modules"),
            args: &[],
        },
    ]);
    let progress: Vec<&String> = outputs
        .iter()
        .filter_map(|o| o.iter().find(|l| l.starts_with("Progress:")))
        .collect();
    assert_eq!(
        progress,
        [
            "Progress: resolved 6, reused 0, downloaded 5, added 5, done",
            "Progress: resolved 6, reused 6, downloaded 0, added 5, done"
        ],
        "{outputs:#?}"
    );
}

/// `--prod`, `--no-optional` and `--dev` over a hoisted tree, and back: pnpm 12 counts the
/// directories each layout adds and removes, and lists no dependency of a group the install
/// leaves out as removed (tack listed the dev dependencies after `--prod`).
#[test]
fn installs_of_fewer_groups_count_and_list_like_pnpm() {
    let registry = registry::start();
    publish_conflict(&registry);
    publish(
        &registry,
        "hoist-elsewhere",
        "1.0.0",
        json!({"os": ["aix"]}),
    );
    let project = hoisted_project(
        r#"{"name": "p", "version": "1.0.0", "dependencies": {"hoist-a": "1.0.0"},
            "devDependencies": {"hoist-b": "1.0.0"},
            "optionalDependencies": {"hoist-elsewhere": "1.0.0", "hoist-leaf": "2.0.0"}}"#,
        &registry,
    );
    let outputs = installs_like_pnpm(&[
        Step::install(&project, &[]),
        Step::install(&project, &["--prod"]),
        Step::install(&project, &[]),
        Step::install(&project, &["--no-optional"]),
        Step::install(&project, &["--dev"]),
        Step::install(&project, &[]),
    ]);
    let lines: Vec<Option<&str>> = outputs.iter().map(|o| packages_line(o)).collect();
    assert_eq!(
        lines,
        [
            Some("Packages: +4"),
            Some("Packages: -2"),
            Some("Packages: +1 -1"),
            Some("Packages: +2 -2"),
            Some("Packages: +1 -2"),
            Some("Packages: +2")
        ],
        "{outputs:#?}"
    );
    // Nothing listed as removed after `--prod`, `--no-optional` or `--dev`.
    for output in &outputs[1..] {
        assert!(!output.iter().any(|l| l.starts_with("- ")), "{outputs:#?}");
    }
}

/// A dependency moved to another group, installed with only its new group: pnpm 12 lists it
/// as added there, in either layout (tack listed nothing: the record had it at that version).
#[test]
fn a_dependency_moved_to_a_group_installed_alone_is_listed_like_pnpm() {
    let registry = registry::start();
    publish_conflict(&registry);
    for layout in ["nodeLinker: hoisted\n", ""] {
        let project = |manifest: &str| {
            let project = resolved_project(manifest, &registry.url());
            project.add_settings(layout);
            project
        };
        let before = project(
            r#"{"name": "p", "version": "1.0.0", "dependencies": {"hoist-a": "1.0.0"},
                "devDependencies": {"hoist-b": "1.0.0"}}"#,
        );
        let after = project(
            r#"{"name": "p", "version": "1.0.0",
                "devDependencies": {"hoist-a": "1.0.0", "hoist-b": "1.0.0"}}"#,
        );
        let outputs = installs_like_pnpm(&[
            Step::install(&before, &[]),
            Step::install(&after, &["--dev"]),
        ]);
        // (Sorted: without a progress line, the output is compared sorted.)
        let mut listed: Vec<&str> = outputs[1]
            .iter()
            .map(String::as_str)
            .filter(|l| l.starts_with("Already") || l.ends_with(':') || l.starts_with("+ "))
            .collect();
        listed.sort_unstable();
        assert_eq!(
            listed,
            ["+ hoist-a 1.0.0", "Already up to date", "devDependencies:"],
            "{layout:?}: {outputs:#?}"
        );
    }
}
