//! Re-installs: the no-op path writes nothing, a damaged package directory is repaired, a
//! lockfile change touches only the packages it changes, and the links of a tree are trusted
//! only while the lockfile it was built from is the one installed.
//!
//! Installs here run as `install` in CI (frozen): a no-op then says "Already up to date", the
//! line these tests tell the no-op path by. (With `--frozen-lockfile` given, a no-op says what
//! pnpm 12 says then: "Lockfile is up to date, resolution step is skipped".)

use tack_suite::conformance::{clone_inputs, prepare, project_tree};
use tack_suite::project::{assert_success, TestProject};
use tack_suite::{basic_fixture, registry, stamps, tree};

fn installed_basic(registry_url: &str) -> TestProject {
    let project = TestProject::new();
    prepare(&project, &basic_fixture(), registry_url);
    assert_success(&project.tack(&["install"]), "first install");
    project
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn noop_says_already_up_to_date_and_writes_nothing() {
    let registry = registry::start();
    let project = installed_basic(&registry.url());
    let before = stamps::stamps(&project.dir());
    let requests_before = registry.requests().len();

    let out = project.tack(&["install"]);
    assert_success(&out, "second install");
    assert!(
        stdout(&out).contains("Already up to date"),
        "stdout: {}",
        stdout(&out)
    );
    let after = stamps::stamps(&project.dir());
    let changed: Vec<&String> = after
        .iter()
        .filter(|(path, stamp)| before.get(*path) != Some(stamp))
        .map(|(path, _)| path)
        .collect();
    assert!(changed.is_empty(), "the no-op install changed: {changed:?}");
    assert_eq!(before.len(), after.len(), "entries were added or removed");
    assert_eq!(
        registry.requests().len(),
        requests_before,
        "the no-op install used the network"
    );
}

/// A pnpmfile created after the install changes what pnpm 12 accepts (its checksum is in the
/// lockfile), so the no-op gate must not answer from the stamps of the files it recorded.
#[test]
fn a_pnpmfile_added_since_the_install_is_not_a_noop() {
    let registry = registry::start();
    let project = installed_basic(&registry.url());
    project.write(
        ".pnpmfile.cjs",
        "module.exports = { hooks: { readPackage: (pkg) => pkg } };\n",
    );
    let out = project.tack(&["install"]);
    assert!(!out.status.success(), "stdout: {}", stdout(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ERR_PNPM_LOCKFILE_CONFIG_MISMATCH") && stderr.contains("pnpmfileChecksum"),
        "stderr: {stderr}"
    );
}

#[test]
fn a_changed_manifest_is_not_a_noop() {
    let registry = registry::start();
    let project = installed_basic(&registry.url());
    // Other bytes of the same size: the gate, reading the content once the stamp moved, must
    // fall through to the full path, which checks the lockfile against package.json.
    let manifest = project.dir().join("package.json");
    let text = fs_err::read_to_string(&manifest).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    fs_err::write(
        &manifest,
        text.replace("\"is-odd\": \"^3.0.1\"", "\"is-odd\": \"^3.0.0\""),
    )
    .unwrap();
    let out = project.tack(&["install"]);
    assert!(!out.status.success(), "an outdated lockfile must fail");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ERR_PNPM_OUTDATED_LOCKFILE"),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Deletes one package's completion marker (its `package.json`), runs `damage` on the
/// project, re-installs, and checks that the tree is whole again. Returns the install's
/// stdout.
fn repair_after(damage: impl FnOnce(&TestProject)) -> String {
    let registry = registry::start();
    let project = installed_basic(&registry.url());
    let expected = project_tree(&project);
    let marker = project
        .dir()
        .join("node_modules/.pnpm/is-odd@3.0.1/node_modules/is-odd/package.json");
    fs_err::remove_file(&marker).unwrap();
    damage(&project);

    let out = project.tack(&["install"]);
    assert_success(&out, "repairing install");
    assert!(marker.exists(), "package.json was not restored");
    let differences = tree::diff(&expected, &project_tree(&project));
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    stdout(&out)
}

#[test]
fn a_deleted_package_json_is_repaired() {
    repair_after(|_| {});
}

/// The marker list is not fsynced, so a power loss can leave it empty. An empty list must
/// not read as "every package is complete": the damaged package is repaired.
#[test]
fn an_emptied_marker_list_is_not_a_noop() {
    let out = repair_after(|project| {
        fs_err::write(project.dir().join("node_modules/.pnpm/.tack-markers"), "").unwrap();
    });
    assert!(!out.contains("Already up to date"), "stdout: {out}");
}

#[test]
fn removing_and_adding_a_dependency_touches_only_it() {
    let registry = registry::start();
    // Lockfile B: the basic project without @tack-test/scoped.
    let without = without_scoped(&registry.url());

    let project = installed_basic(&registry.url());
    let kept = project
        .dir()
        .join("node_modules/.pnpm/is-odd@3.0.1/node_modules/is-odd/index.js");
    let inode_before = std::os::unix::fs::MetadataExt::ino(&fs_err::metadata(&kept).unwrap());

    // Remove: swap in lockfile B and its manifest.
    for file in ["package.json", "pnpm-lock.yaml"] {
        fs_err::copy(without.dir().join(file), project.dir().join(file)).unwrap();
    }
    let out = project.tack(&["install"]);
    assert_success(&out, "install after removal");
    assert!(
        stdout(&out).contains("- @tack-test/scoped 1.0.0"),
        "stdout: {}",
        stdout(&out)
    );
    assert!(!project
        .dir()
        .join("node_modules/@tack-test")
        .join("scoped")
        .exists());
    // Its directory stays until a prune is due (`modulesCacheMaxAge`, a week), as in pnpm.
    assert!(project
        .dir()
        .join("node_modules/.pnpm/@tack-test+scoped@1.0.0/node_modules/@tack-test/scoped/package.json")
        .exists());
    let inode_after = std::os::unix::fs::MetadataExt::ino(&fs_err::metadata(&kept).unwrap());
    assert_eq!(
        inode_before, inode_after,
        "an unchanged package was re-imported"
    );

    // The result equals what pnpm makes of the same two installs.
    let reference = pnpm_basic_then(&registry.url(), &without);
    let differences = tree::diff(&project_tree(&reference), &project_tree(&project));
    assert!(differences.is_empty(), "{}", differences.join("\n"));

    // Add it back.
    for file in ["package.json", "pnpm-lock.yaml"] {
        fs_err::copy(basic_fixture().join(file), project.dir().join(file)).unwrap();
    }
    let out = project.tack(&["install"]);
    assert_success(&out, "install after adding back");
    assert!(
        stdout(&out).contains("+ @tack-test/scoped 1.0.0"),
        "stdout: {}",
        stdout(&out)
    );
    assert!(project
        .dir()
        .join("node_modules/@tack-test/scoped/package.json")
        .exists());
    let inode_final = std::os::unix::fs::MetadataExt::ino(&fs_err::metadata(&kept).unwrap());
    assert_eq!(
        inode_before, inode_final,
        "an unchanged package was re-imported"
    );
}

/// What real pnpm makes of the basic project installed, then `next`'s manifest and lockfile
/// installed over it.
fn pnpm_basic_then(registry_url: &str, next: &TestProject) -> TestProject {
    let reference = TestProject::new();
    prepare(&reference, &basic_fixture(), registry_url);
    assert_success(
        &reference.pnpm(&["install"]),
        "pnpm install of the basic project",
    );
    for file in ["package.json", "pnpm-lock.yaml"] {
        fs_err::copy(next.dir().join(file), reference.dir().join(file)).unwrap();
    }
    assert_success(
        &reference.pnpm(&["install"]),
        "pnpm install of the next project over it",
    );
    reference
}

/// The basic project without @tack-test/scoped, its lockfile resolved by pnpm.
fn without_scoped(registry_url: &str) -> TestProject {
    let without = TestProject::new();
    prepare(&without, &basic_fixture(), registry_url);
    let manifest = without.dir().join("package.json");
    let text = fs_err::read_to_string(&manifest).unwrap();
    fs_err::write(
        &manifest,
        text.replace("    \"@tack-test/scoped\": \"^1.0.0\",\n", ""),
    )
    .unwrap();
    assert_success(
        &without.pnpm(&["install", "--lockfile-only", "--no-frozen-lockfile"]),
        "pnpm resolving the smaller project",
    );
    without
}

/// Appends a newline to `path`: the no-op gate, which reads a file whose stamp moved and keeps
/// the no-op when its content did not change, falls through, while the file parses the same.
fn edit_blank(path: &std::path::Path) {
    let mut bytes = fs_err::read(path).unwrap();
    bytes.push(b'\n');
    fs_err::write(path, bytes).unwrap();
}

#[test]
fn links_are_trusted_only_while_the_recorded_lockfile_is_the_installed_one() {
    let registry = registry::start();
    let without = without_scoped(&registry.url());
    let project = TestProject::new();
    prepare(&project, &basic_fixture(), &registry.url());
    for file in ["package.json", "pnpm-lock.yaml"] {
        fs_err::copy(without.dir().join(file), project.dir().join(file)).unwrap();
    }
    assert_success(
        &project.tack(&["install"]),
        "install of the smaller project",
    );
    let record = project.dir().join("node_modules/.pnpm/lock.yaml");
    let child = project
        .dir()
        .join("node_modules/.pnpm/is-odd@3.0.1/node_modules/is-number");
    assert!(record.is_file() && child.join("package.json").is_file());

    // Same lockfile, tree recorded as built from it: a reinstall trusts the links, as pnpm
    // does, and does not check (or remake) the one removed by hand.
    fs_err::remove_file(&child).unwrap();
    edit_blank(&project.dir().join("pnpm-lock.yaml"));
    assert_success(
        &project.tack(&["install"]),
        "reinstall of the same lockfile",
    );
    assert!(fs_err::symlink_metadata(&child).is_err());
    assert!(record.is_file());

    // Another lockfile, whose new package the store lacks, offline: the install fails after
    // it has taken the record away, before it changed any link.
    for file in ["package.json", "pnpm-lock.yaml"] {
        fs_err::copy(basic_fixture().join(file), project.dir().join(file)).unwrap();
    }
    let out = project.tack(&["install", "--offline"]);
    assert!(!out.status.success(), "stdout: {}", stdout(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ERR_PNPM_NO_OFFLINE_TARBALL"),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!record.exists(), "the record outlived the failed install");

    // Back to the first lockfile: with no record, every link is checked, and the one
    // removed by hand is made again.
    for file in ["package.json", "pnpm-lock.yaml"] {
        fs_err::copy(without.dir().join(file), project.dir().join(file)).unwrap();
    }
    assert_success(
        &project.tack(&["install"]),
        "install of the smaller project again",
    );
    assert!(child.join("package.json").is_file());
    assert!(record.is_file());
}

#[test]
fn a_wiped_store_is_refilled_even_when_node_modules_is_complete() {
    let registry = registry::start();
    let project = installed_basic(&registry.url());
    let expected = project_tree(&project);
    fs_err::remove_dir_all(project.store()).unwrap();
    registry.clear_requests();

    let out = project.tack(&["install"]);
    assert_success(&out, "install after wiping the store");
    let tarballs = registry
        .requests()
        .iter()
        .filter(|r| r.path.ends_with(".tgz"))
        .count();
    assert!(tarballs > 0, "nothing was fetched into the wiped store");
    let verify = project.tack(&[
        "store",
        "verify",
        "--store-dir",
        project.store().to_str().unwrap(),
    ]);
    assert_success(&verify, "tack store verify");
    // The package dirs were complete, so they are kept as they are: their files lost their
    // second link when the store went away, so compare without the hard-link class.
    let unlinked = |t: tree::Tree| -> tree::Tree {
        t.into_iter()
            .map(|(k, v)| match v {
                tree::Entry::File {
                    sha256, executable, ..
                } => (
                    k,
                    tree::Entry::File {
                        sha256,
                        executable,
                        hardlinked: false,
                    },
                ),
                other => (k, other),
            })
            .collect()
    };
    let differences = tree::diff(&unlinked(expected), &unlinked(project_tree(&project)));
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// Two peer variants of one package (`use-peer` with `peer-host` 1.0.0 and 1.1.0) share one
/// store index row. A warm install must serve both from the store: before, the second
/// variant missed the row the first had taken and was downloaded again.
#[test]
fn peer_variants_sharing_a_store_row_are_both_served_from_the_store() {
    let registry = registry::start();
    let fixture = TestProject::new();
    fixture
        .write(
            "package.json",
            r#"{"name":"root","version":"1.0.0","private":true,
               "dependencies":{"use-peer":"1.0.0","peer-host":"1.0.0"}}"#,
        )
        .write(
            "packages/b/package.json",
            r#"{"name":"b","version":"1.0.0",
               "dependencies":{"use-peer":"1.0.0","peer-host":"1.1.0"}}"#,
        )
        .write("pnpm-workspace.yaml", "packages:\n  - packages/*\n");
    let resolved = tack_suite::conformance::resolve_with_pnpm(&fixture.dir(), &registry.url());
    let lockfile = fs_err::read_to_string(resolved.dir().join("pnpm-lock.yaml")).unwrap();
    for variant in [
        "use-peer@1.0.0(peer-host@1.0.0):",
        "use-peer@1.0.0(peer-host@1.1.0):",
    ] {
        assert!(
            lockfile.contains(variant),
            "lockfile lacks {variant}:\n{lockfile}"
        );
    }

    let project = clone_inputs(&resolved);
    assert_success(&project.tack(&["install"]), "cold install");
    fs_err::remove_dir_all(project.dir().join("node_modules")).unwrap();
    fs_err::remove_dir_all(project.dir().join("packages/b/node_modules")).unwrap();
    registry.clear_requests();
    assert_success(&project.tack(&["install"]), "warm install");
    let downloads: Vec<String> = registry
        .requests()
        .into_iter()
        .map(|r| r.decoded_path)
        .filter(|p| p.ends_with(".tgz"))
        .collect();
    assert!(
        downloads.is_empty(),
        "the warm install downloaded {downloads:?}"
    );
    for variant in [
        "use-peer@1.0.0_peer-host@1.0.0",
        "use-peer@1.0.0_peer-host@1.1.0",
    ] {
        let manifest = project
            .dir()
            .join("node_modules/.pnpm")
            .join(variant)
            .join("node_modules/use-peer/package.json");
        assert!(manifest.is_file(), "{} is missing", manifest.display());
    }
}

/// The last download seals the index writer while imports still run (see `materialize.rs`):
/// every row must still be committed, so that the next install serves every package from
/// the store.
#[test]
fn every_package_of_a_cold_install_is_served_from_the_store_next_time() {
    let registry = registry::start();
    let project = installed_basic(&registry.url());
    let tarballs = |registry: &tack_test_registry::TestRegistry| -> Vec<String> {
        registry
            .requests()
            .into_iter()
            .map(|r| r.decoded_path)
            .filter(|p| p.ends_with(".tgz"))
            .collect()
    };
    let fetched = tarballs(&registry);
    assert!(fetched.len() > 3, "the cold install fetched {fetched:?}");
    fs_err::remove_dir_all(project.dir().join("node_modules")).unwrap();
    registry.clear_requests();
    assert_success(&project.tack(&["install"]), "warm install");
    let downloads = tarballs(&registry);
    assert!(
        downloads.is_empty(),
        "the warm install downloaded {downloads:?}"
    );
}

/// A project copied with its `node_modules` (a restored cache, a moved checkout) carries the
/// state file of the original, whose stamps are of the original's files. A changed lockfile in
/// the copy must still be installed, not answered with "Already up to date" from the stamps
/// of files elsewhere; and an unchanged copy must still be a correct tree afterwards.
#[test]
fn a_copied_tree_is_not_judged_by_the_original_project_files() {
    let registry = registry::start();
    let without = without_scoped(&registry.url());
    let original = installed_basic(&registry.url());
    let copy = TestProject::new();
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", original.dir().display()))
        .arg(copy.dir())
        .status()
        .expect("cp -a");
    assert!(status.success(), "cp -a failed");
    for file in ["package.json", "pnpm-lock.yaml"] {
        fs_err::copy(without.dir().join(file), copy.dir().join(file)).unwrap();
    }
    // The copy shares the original's store, as a restored CI cache does.
    let install_copy = || {
        copy.command(&tack_suite::tack_bin())
            .args(["install", "--store-dir"])
            .arg(original.store())
            .output()
            .expect("run tack")
    };
    let out = install_copy();
    assert_success(&out, "install in the copy");
    assert!(
        !stdout(&out).contains("Already up to date"),
        "stdout: {}",
        stdout(&out)
    );
    assert!(!copy.dir().join("node_modules/@tack-test/scoped").exists());
    let reference = pnpm_basic_then(&registry.url(), &without);
    // The same paths as pnpm's tree (the copied package files are copies, no longer hard
    // links into the store: `cp -a` made them so, and like pnpm tack keeps complete ones).
    let (expected, actual) = (project_tree(&reference), project_tree(&copy));
    let paths = |t: &tree::Tree| t.keys().cloned().collect::<Vec<String>>();
    assert_eq!(paths(&expected), paths(&actual));
    let lock =
        |p: &TestProject| fs_err::read(p.dir().join("node_modules/.pnpm/lock.yaml")).unwrap();
    assert_eq!(lock(&reference), lock(&copy), ".pnpm/lock.yaml differs");
    // The copy's own state now answers for it.
    let again = install_copy();
    assert!(
        stdout(&again).contains("Already up to date"),
        "stdout: {}",
        stdout(&again)
    );
}

/// Runs `tool install` (frozen: CI is set) in `project` with `extra` arguments and environment,
/// and without the `--store-dir` the project's helpers add when `store` says otherwise.
fn install_with(
    project: &TestProject,
    tool: &str,
    store: &std::path::Path,
    env: &[(&str, &str)],
) -> std::process::Output {
    let program = if tool == "pnpm" {
        tack_suite::pnpm_bin()
    } else {
        tack_suite::tack_bin()
    };
    let mut cmd = project.command(&program);
    // CI is set: frozen, and a no-op says "Already up to date" (with `--frozen-lockfile`
    // given, pnpm 12 says the lockfile is up to date instead).
    cmd.args(["install", "--ignore-scripts", "--store-dir"])
        .arg(store);
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.output().expect("run the installer")
}

/// A second install with another store, or with a setting from the environment, is not a
/// no-op: pnpm 12 purges the tree and links it again (from the new store, without the hoisted
/// links), and so must tack. (tack answered "Already up to date": the gate compared only the
/// dependency groups; and the full path refused another store with `ERR_PNPM_UNEXPECTED_STORE`,
/// which pnpm 12 no longer does.)
#[test]
fn another_store_or_an_env_setting_relinks_the_tree_like_pnpm() {
    let registry = registry::start();
    let mut trees = Vec::new();
    for tool in ["pnpm", "tack"] {
        let project = TestProject::new();
        prepare(&project, &basic_fixture(), &registry.url());
        let first = project.root().join("first-store");
        let second = project.root().join("second-store");
        assert_success(&install_with(&project, tool, &first, &[]), tool);

        let out = install_with(&project, tool, &second, &[]);
        assert_success(&out, tool);
        assert!(!stdout(&out).contains("Already up to date"), "{tool}");
        let modules_yaml =
            fs_err::read_to_string(project.dir().join("node_modules/.modules.yaml")).unwrap();
        assert!(
            modules_yaml.contains(&second.join("v11").display().to_string()),
            "{tool}: {modules_yaml}"
        );
        let linked = project
            .dir()
            .join("node_modules/.pnpm/is-odd@3.0.1/node_modules/is-odd/package.json");
        let inode = std::os::unix::fs::MetadataExt::ino(&fs_err::metadata(&linked).unwrap());
        assert!(
            store_holds_inode(&second.join("v11/files"), inode),
            "{tool}: {} is not linked from the second store",
            linked.display()
        );

        let out = install_with(&project, tool, &second, &[("PNPM_CONFIG_HOIST", "false")]);
        assert_success(&out, tool);
        assert!(!stdout(&out).contains("Already up to date"), "{tool}");
        assert!(
            !project
                .dir()
                .join("node_modules/.pnpm/node_modules")
                .exists(),
            "{tool} kept the hoisted links"
        );
        let out = install_with(&project, tool, &second, &[("PNPM_CONFIG_HOIST", "false")]);
        assert_success(&out, tool);
        trees.push((project_tree(&project), project));
    }
    assert!(
        stdout(&install_with(
            &trees[1].1,
            "tack",
            &trees[1].1.root().join("second-store"),
            &[("PNPM_CONFIG_HOIST", "false")]
        ))
        .contains("Already up to date"),
        "the same install again is a no-op"
    );
    let differences = tree::diff(&trees[0].0, &trees[1].0);
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

fn store_holds_inode(dir: &std::path::Path, inode: u64) -> bool {
    fs_err::read_dir(dir).unwrap().any(|entry| {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        if meta.is_dir() {
            store_holds_inode(&entry.path(), inode)
        } else {
            std::os::unix::fs::MetadataExt::ino(&meta) == inode
        }
    })
}

/// The summary lines of an install (`dependencies:`, `+ name version`, …).
fn summary_lines(out: &std::process::Output) -> Vec<String> {
    stdout(out)
        .lines()
        .filter(|l| {
            l.starts_with("+ ")
                || l.starts_with("- ")
                || l.ends_with("ependencies:") && !l.starts_with(' ')
        })
        .map(str::to_string)
        .collect()
}

/// The summary of a first install, of a re-install with the same lockfile and manifests (an
/// edited `file:` directory, which both tools import again: not a no-op), and of another lockfile,
/// line for line as pnpm 12 prints it: groups in pnpm's order (optional before dev), the project's
/// optional dependency that does not fit this platform listed as removed whenever something was
/// linked. (tack printed a line per skipped package instead, put optional dependencies last, listed
/// a re-imported `file:` directory as added, and did not import it again at all.)
#[test]
fn summaries_list_what_pnpm_lists() {
    let registry = registry::start();
    // The conformance project: `only-darwin` is one of its own optional dependencies.
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/basic");
    let mut seen: Vec<Vec<Vec<String>>> = Vec::new();
    for tool in ["pnpm", "tack"] {
        let project = TestProject::new();
        prepare(&project, &fixture, &registry.url());
        project
            .write(
                "local/dir-dep/package.json",
                r#"{"name": "dir-dep", "version": "1.0.0"}"#,
            )
            .write("local/dir-dep/index.js", "module.exports = 1\n");
        let manifest = project.dir().join("package.json");
        let text = fs_err::read_to_string(&manifest).unwrap();
        let with_dir = |text: &str| {
            text.replace(
                "\"dependencies\": {\n",
                "\"dependencies\": {\n    \"dir-dep\": \"file:local/dir-dep\",\n",
            )
        };
        fs_err::write(&manifest, with_dir(&text)).unwrap();
        assert_success(
            &project.pnpm(&["install", "--lockfile-only", "--no-frozen-lockfile"]),
            "resolving",
        );
        let install = || {
            let args = ["install"];
            let out = project.run_tool(tool, &args);
            assert_success(&out, tool);
            summary_lines(&out)
        };
        let mut runs = vec![install()];
        std::thread::sleep(std::time::Duration::from_millis(20));
        // Nothing else changes: the no-op gate must see the edit (and the new file).
        project.write("local/dir-dep/index.js", "module.exports = 2\n");
        project.write("local/dir-dep/lib/added.js", "module.exports = 3\n");
        runs.push(install());
        let next = with_dir(&text).replace("    \"@tack-test/scoped\": \"^1.0.0\",\n", "");
        assert_ne!(next, with_dir(&text));
        fs_err::write(&manifest, next).unwrap();
        assert_success(
            &project.pnpm(&["install", "--lockfile-only", "--no-frozen-lockfile"]),
            "resolving the smaller project",
        );
        runs.push(install());
        assert_eq!(
            fs_err::read_to_string(project.dir().join(
                "node_modules/.pnpm/dir-dep@file+local+dir-dep/node_modules/dir-dep/index.js"
            ))
            .unwrap(),
            "module.exports = 2\n",
            "{tool} imported the edited directory again"
        );
        assert!(
            project
                .dir()
                .join("node_modules/.pnpm/dir-dep@file+local+dir-dep/node_modules/dir-dep/lib/added.js")
                .exists(),
            "{tool} imported the new file"
        );
        seen.push(runs);
    }
    assert_eq!(seen[0], seen[1], "pnpm's summaries, then tack's");
    assert!(
        seen[1][0].contains(&"- only-darwin 1.0.0".to_string()),
        "{:?}",
        seen[1]
    );
    // Nothing added for the directory imported again; the skipped one listed, as pnpm does.
    assert_eq!(
        seen[1][1],
        ["optionalDependencies:", "- only-darwin 1.0.0"],
        "{:?}",
        seen[1]
    );
}

/// A `file:` dependency outside the project (`file:../shared`) is stamped like one inside: an
/// unchanged tree is a no-op, an edit in it is not. (Stamps outside the project kept the gate
/// from ever answering.)
#[test]
fn a_directory_dependency_outside_the_project_keeps_the_no_op() {
    let registry = registry::start();
    let project = TestProject::new();
    let shared = project.root().join("shared");
    fs_err::create_dir_all(&shared).unwrap();
    fs_err::write(
        shared.join("package.json"),
        r#"{"name": "shared", "version": "1.0.0"}"#,
    )
    .unwrap();
    fs_err::write(shared.join("index.js"), "module.exports = 1\n").unwrap();
    project
        .write(
            "package.json",
            r#"{"name": "p", "version": "1.0.0", "dependencies": {"shared": "file:../shared"}}"#,
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write("pnpm-workspace.yaml", "minimumReleaseAge: 0\n");
    project.lock_with_pnpm();
    assert_success(&project.tack(&["install"]), "first install");
    let out = project.tack(&["install"]);
    assert!(
        stdout(&out).contains("Already up to date"),
        "{}",
        stdout(&out)
    );
    std::thread::sleep(std::time::Duration::from_millis(20));
    fs_err::write(shared.join("index.js"), "module.exports = 2\n").unwrap();
    let out = project.tack(&["install"]);
    assert!(
        !stdout(&out).contains("Already up to date"),
        "{}",
        stdout(&out)
    );
    let copy = project.dir().join("node_modules/shared/index.js");
    assert_eq!(
        fs_err::read_to_string(copy).unwrap(),
        "module.exports = 2\n"
    );
}

/// What an import of a directory dependency takes from a nested `node_modules`, or as a copy
/// through one of its symlinks (a file of its own `node_modules` here), is stamped too: an
/// unchanged tree is a no-op, an edit there is not, and the copy gets it. (The gate walked no
/// `node_modules` and no symlink.)
#[test]
fn a_directory_dependencys_nested_modules_and_symlinked_files_are_stamped() {
    let registry = registry::start();
    let project = TestProject::new();
    project
        .write(
            "local/dep/package.json",
            r#"{"name": "dep", "version": "1.0.0"}"#,
        )
        .write("local/dep/sub/node_modules/x/index.js", "1\n")
        .write("local/dep/node_modules/y/index.js", "1\n")
        .write(
            "package.json",
            r#"{"name": "p", "version": "1.0.0", "dependencies": {"dep": "file:local/dep"}}"#,
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write("pnpm-workspace.yaml", "minimumReleaseAge: 0\n");
    let links = project.dir().join("local/dep/links");
    fs_err::create_dir_all(&links).unwrap();
    std::os::unix::fs::symlink("../node_modules/y/index.js", links.join("y.js")).unwrap();
    project.lock_with_pnpm();
    assert_success(&project.tack(&["install"]), "first install");
    let out = project.tack(&["install"]);
    assert!(
        stdout(&out).contains("Already up to date"),
        "{}",
        stdout(&out)
    );
    for (edited, copy) in [
        ("sub/node_modules/x/index.js", "sub/node_modules/x/index.js"),
        ("node_modules/y/index.js", "links/y.js"),
    ] {
        std::thread::sleep(std::time::Duration::from_millis(20));
        // A new file in its place: the copy, a hard link of the old one, keeps the old text
        // until the dependency is imported again.
        let source = project.dir().join("local/dep").join(edited);
        let next = source.with_extension("next");
        fs_err::write(&next, "2\n").unwrap();
        fs_err::rename(&next, &source).unwrap();
        let out = project.tack(&["install"]);
        assert_success(&out, edited);
        assert!(
            !stdout(&out).contains("Already up to date"),
            "{edited}: {}",
            stdout(&out)
        );
        let copy = project.dir().join("node_modules/dep").join(copy);
        assert_eq!(fs_err::read_to_string(copy).unwrap(), "2\n", "{edited}");
    }
}

/// Another node on PATH is another install: `engines` decide which optional packages are
/// installed and whether the projects may be. Here a project that wants node 20 or later is
/// installed, then a node 18 comes first on PATH: with `engineStrict` the install must fail
/// as pnpm 12's does, not answer "Already up to date".
#[test]
fn another_node_is_not_a_no_op() {
    let registry = registry::start();
    let project = TestProject::new();
    project
        .write(
            "package.json",
            r#"{"name": "p", "version": "1.0.0", "engines": {"node": ">=20"},
                "dependencies": {"is-odd": "3.0.1"}}"#,
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write(
            "pnpm-workspace.yaml",
            "minimumReleaseAge: 0\nengineStrict: true\n",
        );
    project.lock_with_pnpm();
    assert_success(&project.tack(&["install"]), "first install");
    let out = project.tack(&["install"]);
    assert!(
        stdout(&out).contains("Already up to date"),
        "{}",
        stdout(&out)
    );

    let old_node = project.root().join("old-node");
    fs_err::create_dir_all(&old_node).unwrap();
    let fake = old_node.join("node");
    fs_err::write(&fake, "#!/bin/sh\necho v18.19.0\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        old_node.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = project
        .command(&tack_suite::tack_bin())
        .args(["install", "--store-dir"])
        .arg(project.store())
        .env("PATH", path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("ERR_PNPM_UNSUPPORTED_ENGINE"),
        "stdout: {}\nstderr: {stderr}",
        stdout(&out)
    );
}

/// A directory dependency changed while an install runs (here by the project's own
/// `postinstall`, which replaces a file of it after the packages were imported) is imported
/// again by the next install: its stamps are taken before the import, not after.
#[test]
fn a_directory_dependency_changed_during_the_install_is_imported_again() {
    let registry = registry::start();
    let project = TestProject::new();
    project
        .write("local/dir-dep/package.json", r#"{"name": "dir-dep", "version": "1.0.0"}"#)
        .write("local/dir-dep/index.js", "module.exports = 1\n")
        .write(
            "package.json",
            r#"{"name": "p", "version": "1.0.0",
                "dependencies": {"dir-dep": "file:local/dir-dep"},
                "scripts": {"postinstall": "test -e built || (echo 'module.exports = 2' > local/dir-dep/new.js && mv local/dir-dep/new.js local/dir-dep/index.js && touch built)"}}"#,
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write("pnpm-workspace.yaml", "minimumReleaseAge: 0\n");
    project.lock_with_pnpm();
    assert_success(&project.tack(&["install"]), "first install");
    let copy = project.dir().join("node_modules/dir-dep/index.js");
    assert_eq!(
        fs_err::read_to_string(&copy).unwrap(),
        "module.exports = 1\n"
    );
    let out = project.tack(&["install"]);
    assert_success(&out, "second install");
    assert!(
        !stdout(&out).contains("Already up to date"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        fs_err::read_to_string(&copy).unwrap(),
        "module.exports = 2\n"
    );
}

/// A directory dependency imported again is swapped in whole: the new copy is a new directory
/// (built beside the old one, then renamed in place), nothing of the staging is left, and its
/// bin still works.
#[test]
fn a_directory_dependency_imported_again_is_swapped_in_whole() {
    let registry = registry::start();
    let project = TestProject::new();
    project
        .write(
            "local/tool/package.json",
            r#"{"name": "tool", "version": "1.0.0", "bin": {"tool": "cli.js"}}"#,
        )
        .write(
            "local/tool/cli.js",
            "#!/usr/bin/env node\nconsole.log('one')\n",
        )
        .write(
            "package.json",
            r#"{"name": "p", "version": "1.0.0", "dependencies": {"tool": "file:local/tool"}}"#,
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write("pnpm-workspace.yaml", "minimumReleaseAge: 0\n");
    project.lock_with_pnpm();
    assert_success(&project.tack(&["install"]), "first install");
    let slot_modules = project
        .dir()
        .join("node_modules/.pnpm/tool@file+local+tool/node_modules");
    let inode =
        |p: &std::path::Path| std::os::unix::fs::MetadataExt::ino(&fs_err::metadata(p).unwrap());
    let before = inode(&slot_modules.join("tool"));
    std::thread::sleep(std::time::Duration::from_millis(20));
    project.write(
        "local/tool/cli.js",
        "#!/usr/bin/env node\nconsole.log('two')\n",
    );
    assert_success(&project.tack(&["install"]), "second install");
    assert_ne!(inode(&slot_modules.join("tool")), before, "not swapped in");
    let leftovers: Vec<String> = fs_err::read_dir(&slot_modules)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(tack_suite::store_check::TEMP_INFIX))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let out = project
        .command(&project.dir().join("node_modules/.bin/tool"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "two\n");
}

/// With the virtual store outside `node_modules` (`virtualStoreDir: .vstore`), another store
/// relinks that virtual store too: its packages were linked from the old store, and its
/// recorded lockfile would have let them be trusted. (pnpm 12 leaves such a tree linked from
/// the old store and the new store empty; the tree is the same either way, and the store asked
/// for is the one filled.)
#[test]
fn another_store_relinks_a_virtual_store_outside_node_modules() {
    let registry = registry::start();
    let project = TestProject::new();
    prepare(&project, &basic_fixture(), &registry.url());
    project.add_settings("virtualStoreDir: .vstore\n");
    let first = project.root().join("first-store");
    let second = project.root().join("second-store");
    assert_success(
        &install_with(&project, "tack", &first, &[]),
        "first install",
    );
    let out = install_with(&project, "tack", &second, &[]);
    assert_success(&out, "second install");
    let linked = project
        .dir()
        .join(".vstore/is-odd@3.0.1/node_modules/is-odd/package.json");
    let inode = std::os::unix::fs::MetadataExt::ino(&fs_err::metadata(&linked).unwrap());
    assert!(
        store_holds_inode(&second.join("v11/files"), inode),
        "{} is not linked from the second store",
        linked.display()
    );
    let leftovers: Vec<String> = fs_err::read_dir(project.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(tack_suite::store_check::TEMP_INFIX))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A `link:` dependency taken out of `package.json` (and so out of the lockfile) loses its
/// link and its bin, as with pnpm 12; a workspace project taken out of the workspace loses
/// the link the root had to it. tack removed only links into the virtual store or to a
/// current project, so both stayed.
#[test]
fn a_removed_link_dependency_is_unlinked_like_pnpm() {
    let registry = registry::start();
    let project = TestProject::new();
    let outside = project.root().join("tool");
    fs_err::create_dir_all(&outside).unwrap();
    fs_err::write(
        outside.join("package.json"),
        r#"{"name": "tool", "version": "1.0.0", "bin": {"tool": "cli.js"}}"#,
    )
    .unwrap();
    fs_err::write(outside.join("cli.js"), "#!/usr/bin/env node\n").unwrap();
    let manifest =
        |deps: &str| format!(r#"{{"name": "p", "version": "1.0.0", "dependencies": {{{deps}}}}}"#);
    project
        .write(
            "package.json",
            &manifest(r#""tool": "link:../tool", "b": "workspace:*", "is-odd": "3.0.1""#),
        )
        .write(
            "packages/b/package.json",
            r#"{"name": "b", "version": "1.0.0"}"#,
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write(
            "pnpm-workspace.yaml",
            "packages:\n  - packages/*\nminimumReleaseAge: 0\n",
        );
    project.lock_with_pnpm();
    assert_success(&project.tack(&["install"]), "first install");
    let modules = project.dir().join("node_modules");
    for entry in ["tool", "b", ".bin/tool"] {
        assert!(modules.join(entry).symlink_metadata().is_ok(), "{entry}");
    }

    project
        .write("package.json", &manifest(r#""is-odd": "3.0.1""#))
        .write("pnpm-workspace.yaml", "minimumReleaseAge: 0\n");
    fs_err::remove_dir_all(project.dir().join("packages")).unwrap();
    project.lock_with_pnpm();
    assert_success(&project.tack(&["install"]), "install without them");
    for entry in ["tool", "b", ".bin/tool"] {
        assert!(
            modules.join(entry).symlink_metadata().is_err(),
            "node_modules/{entry} is still there"
        );
    }
    assert!(modules.join("is-odd/package.json").is_file());
}

/// A `file:` directory is imported again by every install into the slot it had; a dependency
/// it no longer has loses its link there, as with pnpm 12 (the slot kept every link it ever
/// had: the links of a slot that existed were only added to).
#[test]
fn a_directory_dependency_that_drops_a_dependency_loses_its_link_like_pnpm() {
    let registry = registry::start();
    let project = TestProject::new();
    let dep = project.root().join("dep");
    fs_err::create_dir_all(&dep).unwrap();
    let dep_manifest = |deps: &str| {
        fs_err::write(
            dep.join("package.json"),
            format!(r#"{{"name": "dep", "version": "1.0.0", "dependencies": {{{deps}}}}}"#),
        )
        .unwrap();
    };
    dep_manifest(r#""is-odd": "3.0.1""#);
    project
        .write(
            "package.json",
            r#"{"name": "p", "version": "1.0.0", "dependencies": {"dep": "file:../dep"}}"#,
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write("pnpm-workspace.yaml", "minimumReleaseAge: 0\n");
    project.lock_with_pnpm();
    assert_success(&project.tack(&["install"]), "first install");
    let slot = project
        .dir()
        .join("node_modules/.pnpm/dep@file+..+dep/node_modules");
    assert!(slot.join("is-odd").symlink_metadata().is_ok());

    dep_manifest("");
    project.lock_with_pnpm();
    assert_success(&project.tack(&["install"]), "install after the change");
    assert!(
        slot.join("is-odd").symlink_metadata().is_err(),
        "the dropped dependency is still linked in {}",
        slot.display()
    );
    assert!(slot.join("dep/package.json").is_file());
}

/// `dedupeDirectDeps` decides whether a workspace project links a direct dependency the root
/// has too, and neither the lockfile nor `.modules.yaml` records it: turned off, the next
/// install links it in the project (as pnpm 12 does); turned on again, the link in place
/// stays (as pnpm 12 leaves it: the setting keeps an install from making the link, it does
/// not remove one). tack trusted the links across the first change and left them as they were.
#[test]
fn a_changed_dedupe_direct_deps_relinks_the_projects() {
    let registry = registry::start();
    let project = TestProject::new();
    project
        .write(
            "package.json",
            r#"{"name": "root", "version": "1.0.0", "private": true, "dependencies": {"is-odd": "3.0.1"}}"#,
        )
        .write(
            "packages/b/package.json",
            r#"{"name": "b", "version": "1.0.0", "dependencies": {"is-odd": "3.0.1", "is-number": "6.0.0"}}"#,
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()));
    let workspace = |extra: &str| {
        project.write(
            "pnpm-workspace.yaml",
            &format!("packages:\n  - packages/*\nminimumReleaseAge: 0\n{extra}"),
        );
    };
    workspace("dedupeDirectDeps: true\n");
    project.lock_with_pnpm();
    assert_success(&project.tack(&["install"]), "install with dedupeDirectDeps");
    let linked = project.dir().join("packages/b/node_modules/is-odd");
    assert!(linked.symlink_metadata().is_err(), "deduplicated");

    workspace("");
    assert_success(&project.tack(&["install"]), "install without it");
    assert!(
        linked.join("package.json").is_file(),
        "linked in the project"
    );

    workspace("dedupeDirectDeps: true\n");
    assert_success(&project.tack(&["install"]), "install with it again");
    assert!(
        linked.join("package.json").is_file(),
        "the link in place stays"
    );
    assert!(project
        .dir()
        .join("packages/b/node_modules/is-number/package.json")
        .is_file());
}

/// With `modulesDir`, the no-op check looks at the tree in that directory: it looked at
/// `node_modules`, so such a project was never up to date, and a `node_modules` left from
/// before the setting was judged instead of the tree the install builds. An install that did
/// not end (its in-progress file is there) is never up to date.
#[test]
fn the_no_op_check_looks_at_the_modules_dir_the_install_builds() {
    let registry = registry::start();
    let project = TestProject::new();
    project
        .write(
            "package.json",
            r#"{"name": "p", "version": "1.0.0", "dependencies": {"is-odd": "3.0.1"}}"#,
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write("pnpm-workspace.yaml", "minimumReleaseAge: 0\n");
    project.lock_with_pnpm();
    assert_success(&project.tack(&["install"]), "install into node_modules");
    project.write(
        "pnpm-workspace.yaml",
        "minimumReleaseAge: 0\nmodulesDir: nm2\n",
    );
    assert_success(&project.tack(&["install"]), "install into nm2");
    assert!(project.dir().join("nm2/is-odd/package.json").is_file());
    let out = project.tack(&["install"]);
    assert_success(&out, "again");
    assert!(
        stdout(&out).contains("Already up to date"),
        "{}",
        stdout(&out)
    );

    // The tree in nm2 is damaged; the one left in node_modules is whole.
    let marker = project
        .dir()
        .join("nm2/.pnpm/is-odd@3.0.1/node_modules/is-odd/package.json");
    fs_err::remove_file(&marker).unwrap();
    assert_success(&project.tack(&["install"]), "install over the damage");
    assert!(marker.is_file(), "the damaged tree was judged up to date");

    project.write("nm2/.tack-install-in-progress", "");
    let out = project.tack(&["install"]);
    assert_success(&out, "after an install that did not end");
    // The no-op would have left it; an install removes it at its end.
    assert!(
        !project.dir().join("nm2/.tack-install-in-progress").exists(),
        "{}",
        stdout(&out)
    );
}

/// An install stopped before it wrote `.modules.yaml` leaves no record of what it hoisted;
/// the next install, with hoisting turned off, must not keep those links (it went by the
/// record alone, and kept every one).
#[test]
fn hoisted_links_of_an_install_that_left_no_record_are_removed() {
    let registry = registry::start();
    let project = TestProject::new();
    project
        .write(
            "package.json",
            r#"{"name": "p", "version": "1.0.0", "dependencies": {"is-odd": "3.0.1"}}"#,
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write("pnpm-workspace.yaml", "minimumReleaseAge: 0\n");
    project.lock_with_pnpm();
    assert_success(&project.tack(&["install"]), "install with hoisting");
    let hoisted = project
        .dir()
        .join("node_modules/.pnpm/node_modules/is-number");
    assert!(hoisted.symlink_metadata().is_ok(), "is-number is hoisted");

    // As an install killed before its state files leaves the tree.
    for state in [".modules.yaml", ".pnpm/lock.yaml", ".pnpm/.tack-markers"] {
        fs_err::remove_file(project.dir().join("node_modules").join(state)).unwrap();
    }
    project.write(
        "pnpm-workspace.yaml",
        "minimumReleaseAge: 0\nhoist: false\n",
    );
    assert_success(&project.tack(&["install"]), "install without hoisting");
    assert!(
        hoisted.symlink_metadata().is_err(),
        "the unrecorded hoisted link stayed"
    );
    assert!(project
        .dir()
        .join("node_modules/is-odd/package.json")
        .is_file());
}

/// The counts of a re-install over a tree whose install recorded its lockfile, as pnpm 12
/// prints them: only the packages it has to import are resolved and reused, one the recorded
/// lockfile lacks is added even when its directory is still there, and one the lockfile no
/// longer has is removed though its directory stays until the next prune. tack counted every
/// package as resolved and reused, and a package as removed only when it deleted it.
#[test]
fn re_install_counts_are_pnpm_s() {
    let registry = registry::start();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workspace");
    let mut seen: Vec<Vec<Vec<String>>> = Vec::new();
    for tool in ["pnpm", "tack"] {
        let project = TestProject::new();
        prepare(&project, &fixture, &registry.url());
        assert_success(
            &project.pnpm(&["install", "--lockfile-only", "--no-frozen-lockfile"]),
            "resolving",
        );
        let manifest = project.dir().join("packages/a/package.json");
        let full = fs_err::read_to_string(&manifest).unwrap();
        let lockfile = fs_err::read_to_string(project.dir().join("pnpm-lock.yaml")).unwrap();
        let install = || {
            let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
            assert_success(&out, tool);
            tack_suite::conformance::comparable_output(&out.stdout)
        };
        let mut runs = vec![install()];
        // a drops tack-bin-string.
        let smaller = full
            .replace("\"tack-bin-string\": \"1.0.0\"", "")
            .replace("\"^3.0.1\",", "\"^3.0.1\"");
        assert_ne!(smaller, full);
        fs_err::write(&manifest, smaller).unwrap();
        project.lock_with_pnpm();
        runs.push(install());
        // And takes it back: its directory was never pruned.
        fs_err::write(&manifest, &full).unwrap();
        fs_err::write(project.dir().join("pnpm-lock.yaml"), &lockfile).unwrap();
        runs.push(install());
        // A package directory deleted from the tree.
        fs_err::remove_dir_all(project.dir().join("node_modules/.pnpm/is-number@7.0.0")).unwrap();
        runs.push(install());
        seen.push(runs);
    }
    assert_eq!(seen[0], seen[1], "pnpm's outputs, then tack's");
    assert!(
        seen[1][1].iter().any(|l| l == "Packages: +1 -1"),
        "{:?}",
        seen[1]
    );
}

/// A re-install that only removes a package prints no progress line, as pnpm 12 (its line
/// comes from progress events, and nothing was resolved); tack printed
/// "Progress: resolved 0, reused 0, downloaded 0, added 0, done".
#[test]
fn a_re_install_that_only_removes_prints_no_progress_like_pnpm() {
    let registry = registry::start();
    let mut seen = Vec::new();
    for tool in ["pnpm", "tack"] {
        let project = tack_suite::conformance::resolved_project(
            r#"{"name": "shrink", "version": "1.0.0",
                "dependencies": {"is-odd": "^3.0.1", "tack-bin-string": "1.0.0"}}"#,
            &registry.url(),
        );
        assert_success(
            &project.run_tool(tool, &["install", "--frozen-lockfile"]),
            tool,
        );
        project.write(
            "package.json",
            r#"{"name": "shrink", "version": "1.0.0", "dependencies": {"is-odd": "^3.0.1"}}"#,
        );
        project.lock_with_pnpm();
        let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        assert_success(&out, tool);
        seen.push(tack_suite::conformance::comparable_output(&out.stdout));
    }
    assert_eq!(seen[1], seen[0], "tack's output, then pnpm's");
    assert!(seen[0].iter().any(|l| l == "Packages: -1"), "{:?}", seen[0]);
}

/// A project taken out of the workspace loses its hoisted link in `.pnpm/node_modules`, as
/// pnpm 12 removes it, whether its directory stays or goes; a project still in the workspace
/// keeps its. (tack kept every project's link, left dangling once the directory went.)
#[test]
fn a_project_taken_out_of_the_workspace_loses_its_hoisted_link_like_pnpm() {
    let registry = registry::start();
    let fixture = TestProject::new();
    fixture
        .write(
            "package.json",
            r#"{"name":"root","version":"1.0.0","private":true}"#,
        )
        .write(
            "x/package.json",
            r#"{"name":"x","version":"1.0.0","dependencies":{"is-odd":"3.0.1"}}"#,
        )
        .write("y/package.json", r#"{"name":"y","version":"1.0.0"}"#)
        .write("pnpm-workspace.yaml", "packages:\n  - x\n  - y\n");
    let resolved = tack_suite::conformance::resolve_with_pnpm(&fixture.dir(), &registry.url());
    for remove_dir in [false, true] {
        let [pnpm, tack] = ["pnpm", "tack"].map(|tool| {
            let project = clone_inputs(&resolved);
            assert_success(
                &project.run_tool(tool, &["install", "--frozen-lockfile"]),
                tool,
            );
            assert!(project
                .dir()
                .join("node_modules/.pnpm/node_modules/y")
                .exists());
            let yaml = fs_err::read_to_string(project.dir().join("pnpm-workspace.yaml")).unwrap();
            assert!(yaml.contains("  - y\n"), "{yaml}");
            project.write("pnpm-workspace.yaml", &yaml.replace("  - y\n", ""));
            project.lock_with_pnpm();
            if remove_dir {
                fs_err::remove_dir_all(project.dir().join("y")).unwrap();
            }
            let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
            assert_success(&out, tool);
            (
                tack_suite::conformance::comparable_output(&out.stdout),
                project_tree(&project),
            )
        });
        assert_eq!(tack.0, pnpm.0, "tack's output, then pnpm's");
        let differences = tree::diff(&pnpm.1, &tack.1);
        assert!(differences.is_empty(), "{}", differences.join("\n"));
        assert!(
            !pnpm.1.contains_key("node_modules/.pnpm/node_modules/y")
                && pnpm.1.contains_key("node_modules/.pnpm/node_modules/x"),
            "pnpm 12's tree: {:?}",
            pnpm.1.keys().collect::<Vec<_>>()
        );
    }
}

/// Peer variants of one version that a re-install drops count once in `Packages: -N`, as pnpm
/// 12 counts them (`use-peer` with `peer-host` 1.0.0 and with 1.1.0), and so does one variant
/// dropped while the other stays. (tack counted every variant: `-2`.)
#[test]
fn dropped_peer_variants_count_once_like_pnpm() {
    let registry = registry::start();
    let root = |deps: &str| {
        format!(r#"{{"name":"root","version":"1.0.0","private":true,"dependencies":{{{deps}}}}}"#)
    };
    let b = |deps: &str| format!(r#"{{"name":"b","version":"1.0.0","dependencies":{{{deps}}}}}"#);
    let fixture = TestProject::new();
    fixture
        .write(
            "package.json",
            &root(r#""use-peer":"1.0.0","peer-host":"1.0.0""#),
        )
        .write(
            "packages/b/package.json",
            &b(r#""use-peer":"1.0.0","peer-host":"1.1.0""#),
        )
        .write("pnpm-workspace.yaml", "packages:\n  - packages/*\n");
    let resolved = tack_suite::conformance::resolve_with_pnpm(&fixture.dir(), &registry.url());
    let [pnpm, tack] = ["pnpm", "tack"].map(|tool| {
        let project = clone_inputs(&resolved);
        let install = || {
            let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
            assert_success(&out, tool);
            tack_suite::conformance::comparable_output(&out.stdout)
        };
        install();
        // One variant goes, the other stays.
        project.write("packages/b/package.json", &b(r#""peer-host":"1.1.0""#));
        project.lock_with_pnpm();
        let one = install();
        // Both variants go: the one left, and the other brought back first.
        project.write(
            "packages/b/package.json",
            &b(r#""use-peer":"1.0.0","peer-host":"1.1.0""#),
        );
        project.lock_with_pnpm();
        install();
        project.write("package.json", &root(r#""peer-host":"1.0.0""#));
        project.write("packages/b/package.json", &b(r#""peer-host":"1.1.0""#));
        project.lock_with_pnpm();
        [one, install()]
    });
    assert_eq!(tack, pnpm, "tack's outputs, then pnpm's");
    for run in &pnpm {
        assert!(run.iter().any(|l| l == "Packages: -1"), "{run:?}");
    }
}

/// The summary of a re-install lists what pnpm 12 lists: a dependency whose peers alone changed
/// is not listed (`use-peer` when `peer-host` moves), and a removed workspace project is named
/// by its manifest's name and version. (tack listed `- use-peer 1.0.0` / `+ use-peer 1.0.0`,
/// and `- b <- packages/b`.)
#[test]
fn re_install_summaries_skip_peer_only_changes_and_name_removed_projects_like_pnpm() {
    let registry = registry::start();
    let manifest = |host: &str, project: &str| {
        format!(
            r#"{{"name": "root", "version": "1.0.0", "private": true,
                "dependencies": {{"peer-host": "{host}", "use-peer": "1.0.0", "{project}": "workspace:*"}}}}"#
        )
    };
    let mut seen = Vec::new();
    for tool in ["pnpm", "tack"] {
        let project = TestProject::new();
        project
            .write("package.json", &manifest("1.0.0", "b"))
            .write(".npmrc", &format!("registry={}\n", registry.url()))
            .write(
                "pnpm-workspace.yaml",
                "packages:\n  - packages/*\nminimumReleaseAge: 0\n",
            )
            .write(
                "packages/a/package.json",
                r#"{"name": "a", "version": "2.0.0"}"#,
            )
            .write(
                "packages/b/package.json",
                r#"{"name": "b", "version": "3.0.0"}"#,
            );
        project.lock_with_pnpm();
        assert_success(
            &project.run_tool(tool, &["install", "--frozen-lockfile"]),
            tool,
        );
        project.write("package.json", &manifest("1.1.0", "a"));
        project.lock_with_pnpm();
        let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        assert_success(&out, tool);
        seen.push(summary_lines(&out));
    }
    assert_eq!(seen[1], seen[0], "tack's summary, then pnpm's");
    assert!(seen[0].iter().any(|l| l == "- b 3.0.0"), "{:?}", seen[0]);
    assert!(
        !seen[0].iter().any(|l| l.contains("use-peer")),
        "{:?}",
        seen[0]
    );
}

/// Without its recorded lockfile (`node_modules/.pnpm/lock.yaml`) a tree is linked again and
/// every package counted as added, as pnpm 12 does; tack answered "Lockfile is up to date" and
/// left the record missing. The store context is printed only when the virtual store itself
/// is gone (tack printed it over any tree that was not a no-op). Without its virtual store,
/// no direct dependency is listed as added, their links being in place (tack listed every one
/// it imported).
#[test]
fn a_tree_without_its_recorded_lockfile_is_linked_again_like_pnpm() {
    let registry = registry::start();
    let mut seen = Vec::new();
    for tool in ["pnpm", "tack"] {
        let project = TestProject::new();
        prepare(&project, &basic_fixture(), &registry.url());
        let install = || {
            let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
            assert_success(&out, tool);
            tack_suite::conformance::comparable_output(&out.stdout)
        };
        install();
        let record = project.dir().join("node_modules/.pnpm/lock.yaml");
        fs_err::remove_file(&record).unwrap();
        let mut outputs = vec![install()];
        assert!(record.is_file(), "{tool} wrote the record again");
        fs_err::remove_dir_all(project.dir().join("node_modules/.pnpm")).unwrap();
        outputs.push(install());
        seen.push(outputs);
    }
    assert_eq!(seen[0], seen[1], "pnpm's outputs, then tack's");
    assert!(
        seen[1][0].iter().any(|l| l.starts_with("Packages: +")),
        "{:?}",
        seen[1]
    );
    assert!(
        seen[1][1]
            .iter()
            .any(|l| l.contains("Virtual store is at:")),
        "{:?}",
        seen[1]
    );
}

/// A setting that makes the modules dir incompatible (`publicHoistPattern`,
/// `virtualStoreDir`) recreates it silently, as pnpm 12 does, and the store context is printed
/// only for a virtual store that was not there before (the new `vs`), not for one recreated
/// in place. (tack printed `WARN  Recreating …: publicHoistPattern` and the context each time.)
#[test]
fn a_recreated_modules_dir_prints_what_pnpm_prints() {
    let registry = registry::start();
    let reference = installed_basic(&registry.url());
    let _ = std::fs::remove_dir_all(reference.dir().join("node_modules"));
    for setting in [
        "publicHoistPattern:\n  - is-number\n",
        "virtualStoreDir: vs\n",
    ] {
        let outputs = ["pnpm", "tack"].map(|tool| {
            let project = clone_inputs(&reference);
            let first = project.run_tool(tool, &["install", "--frozen-lockfile"]);
            assert_success(&first, tool);
            project.add_settings(setting);
            let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
            assert_success(&out, tool);
            (
                tack_suite::conformance::comparable_output(&out.stdout),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        });
        assert_eq!(outputs[0].0, outputs[1].0, "{setting}");
        assert!(!outputs[1].1.contains("Recreating"), "{}", outputs[1].1);
        let context = outputs[1]
            .0
            .iter()
            .any(|l| l.contains("Virtual store is at"));
        assert_eq!(context, setting.starts_with("virtualStoreDir"), "{setting}");
    }
}

/// A package whose dependencies change under the same dep path (here an override gives
/// `is-odd@3.0.1` another `is-number`) is linked anew, and pnpm 12 counts it as added:
/// `Packages: +2 -1` and a progress line. (tack counted only the new `is-number`.)
#[test]
fn a_package_whose_dependencies_changed_counts_as_added_like_pnpm() {
    let registry = registry::start();
    let mut seen = Vec::new();
    for tool in ["pnpm", "tack"] {
        let project = TestProject::new();
        project
            .write(
                "package.json",
                r#"{"name": "p", "version": "1.0.0", "dependencies": {"is-odd": "3.0.1"}}"#,
            )
            .write(".npmrc", &format!("registry={}\n", registry.url()))
            .write("pnpm-workspace.yaml", "minimumReleaseAge: 0\n");
        project.lock_with_pnpm();
        assert_success(
            &project.run_tool(tool, &["install", "--frozen-lockfile"]),
            tool,
        );
        project.add_settings("overrides:\n  is-number: 7.0.0\n");
        project.lock_with_pnpm();
        let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        assert_success(&out, tool);
        seen.push(tack_suite::conformance::comparable_output(&out.stdout));
    }
    assert_eq!(seen[1], seen[0], "tack's output, then pnpm's");
    assert!(
        seen[1].iter().any(|l| l == "Packages: +2 -1"),
        "{:#?}",
        seen[1]
    );
}

/// A workspace whose projects link a package, a scoped package, a package with a command and
/// another project, with a package hoisted into `node_modules/.pnpm/node_modules`; its
/// lockfile resolved by real pnpm 12.
fn links_workspace(registry_url: &str) -> TestProject {
    let project = TestProject::new();
    project
        .write(
            "package.json",
            r#"{"name": "root", "version": "1.0.0", "private": true,
                "dependencies": {"is-odd": "^3.0.1", "@tack-test/scoped": "^1.0.0",
                                 "tack-bin-string": "1.0.0"},
                "devDependencies": {"peer-host": "~1.0.0"}}"#,
        )
        .write(
            "packages/a/package.json",
            r#"{"name": "a", "version": "1.0.0",
                "dependencies": {"b": "workspace:*", "is-number": "^7.0.0"}}"#,
        )
        .write(
            "packages/b/package.json",
            r#"{"name": "b", "version": "1.0.0", "bin": {"b-cli": "cli.js"}}"#,
        )
        .write(
            "packages/b/cli.js",
            "#!/usr/bin/env node\nconsole.log('b')\n",
        )
        .write(".npmrc", &format!("registry={registry_url}\n"))
        .write(
            "pnpm-workspace.yaml",
            "packages:\n  - packages/*\nminimumReleaseAge: 0\n",
        );
    project.lock_with_pnpm();
    project
}

/// Replaces `rel` in `dir` with a symlink whose text is `text`.
fn relink(dir: &std::path::Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    let _ = fs_err::remove_file(&path);
    std::os::unix::fs::symlink(text, &path).unwrap();
}

/// Damage pnpm 12 does not look at: a `.bin` shim, a hoisted link, and a directory, a file and
/// a link to another package in place of the projects' links to their direct dependencies.
fn damage_pnpm_leaves(dir: &std::path::Path) {
    fs_err::remove_file(dir.join("node_modules/.bin/tack-bin-string")).unwrap();
    fs_err::remove_file(dir.join("node_modules/.pnpm/node_modules/is-number")).unwrap();
    fs_err::remove_file(dir.join("node_modules/is-odd")).unwrap();
    fs_err::create_dir(dir.join("node_modules/is-odd")).unwrap();
    fs_err::write(dir.join("node_modules/is-odd/mine.txt"), "mine\n").unwrap();
    fs_err::remove_file(dir.join("node_modules/@tack-test/scoped")).unwrap();
    fs_err::write(dir.join("node_modules/@tack-test/scoped"), "mine\n").unwrap();
    relink(
        dir,
        "packages/a/node_modules/is-number",
        "../../../node_modules/.pnpm/is-number@6.0.0/node_modules/is-number",
    );
}

/// Where an install runs, with `--frozen-lockfile` or not, and what it damages first.
type DamageCase = (&'static str, &'static str, bool, fn(&std::path::Path));

/// Installs copies of `reference` (with `settings` added) with pnpm 12 and with tack, damages
/// each as `case` says, installs again, and asserts the same exit code, output lines and tree.
/// Returns each case's lines, as pnpm printed them.
fn damaged_like_pnpm(
    reference: &TestProject,
    settings: &str,
    cases: &[DamageCase],
) -> Vec<(&'static str, Vec<String>)> {
    let mut outputs = Vec::new();
    for &(what, cwd, frozen, damage) in cases {
        let seen = ["pnpm", "tack"].map(|tool| {
            let project = clone_inputs(reference);
            project.add_settings(settings);
            assert_success(
                &project.run_tool(tool, &["install", "--frozen-lockfile"]),
                tool,
            );
            damage(&project.dir());
            let args: &[&str] = match frozen {
                true => &["install", "--frozen-lockfile"],
                false => &["install"],
            };
            let out = project.run_tool_in(cwd, tool, args);
            let lines = tack_suite::conformance::comparable_output(&out.stdout);
            (out.status.code(), lines, project_tree(&project))
        });
        let [(pnpm_code, pnpm_lines, pnpm_tree), (tack_code, tack_lines, tack_tree)] = seen;
        assert_eq!(
            tack_code, pnpm_code,
            "{what}: tack's exit code, then pnpm's"
        );
        assert_eq!(tack_lines, pnpm_lines, "{what}: tack's output, then pnpm's");
        let differences = tree::diff(&pnpm_tree, &tack_tree);
        assert!(
            differences.is_empty(),
            "{what}:\n{}",
            differences.join("\n")
        );
        outputs.push((what, pnpm_lines));
    }
    outputs
}

/// The lines `outputs` ([`damaged_like_pnpm`]) has for the case `what`.
fn lines_of(outputs: &[(&str, Vec<String>)], what: &str) -> Vec<String> {
    outputs
        .iter()
        .find(|(w, _)| *w == what)
        .map(|(_, lines)| lines.clone())
        .unwrap_or_default()
}

/// A project's link to a direct dependency deleted by hand (or left dangling) and the project
/// installed again, side by side with pnpm 12 on copies of one workspace: the same output
/// lines, exit code and tree. pnpm 12's `install --frozen-lockfile` links the projects again
/// when one of their links does not resolve (deleted or dangling, at the root, scoped or in a
/// workspace project), which also puts back the hoisted links and `.bin` shims, replaces a
/// link aimed elsewhere and moves a directory or file in the way aside to `.ignored_<name>`;
/// it says "Already up to date" and lists the links it made. Without such a link it changes
/// nothing, whatever else is damaged. A plain `install` (its quick check) relinks only for a
/// dangling link. (tack answered "Already up to date" from its no-op gate, which did not look
/// at the links, and its install over a trusted tree did not check them either.)
#[test]
fn deleted_or_dangling_project_links_are_linked_again_like_pnpm() {
    let registry = registry::start();
    let reference = links_workspace(&registry.url());
    let cases: [DamageCase; 9] = [
        ("a deleted link at the root", ".", true, |dir| {
            fs_err::remove_file(dir.join("node_modules/is-odd")).unwrap();
        }),
        ("a deleted scope", ".", true, |dir| {
            fs_err::remove_dir_all(dir.join("node_modules/@tack-test")).unwrap();
        }),
        ("a deleted link in a project", ".", true, |dir| {
            fs_err::remove_file(dir.join("packages/a/node_modules/is-number")).unwrap();
        }),
        (
            "a deleted link, from its project",
            "packages/a",
            true,
            |dir| {
                fs_err::remove_file(dir.join("packages/a/node_modules/is-number")).unwrap();
            },
        ),
        ("a dangling link", ".", true, |dir| {
            relink(dir, "node_modules/peer-host", "gone");
        }),
        (
            "links replaced, a shim and a hoisted link deleted",
            ".",
            true,
            |dir| {
                damage_pnpm_leaves(dir);
            },
        ),
        (
            "the same and a deleted link to a project",
            ".",
            true,
            |dir| {
                damage_pnpm_leaves(dir);
                fs_err::remove_file(dir.join("packages/a/node_modules/b")).unwrap();
            },
        ),
        ("a deleted link, plain install", ".", false, |dir| {
            fs_err::remove_file(dir.join("node_modules/is-odd")).unwrap();
        }),
        ("a dangling link, plain install", ".", false, |dir| {
            relink(dir, "node_modules/is-odd", "gone");
        }),
    ];
    let outputs = damaged_like_pnpm(&reference, "", &cases);
    // What pnpm 12 did, so that a change of pnpm's shows here rather than as a tack bug.
    let lines = |what: &str| lines_of(&outputs, what);
    let relinked = lines("a deleted link at the root");
    assert!(
        relinked.contains(&"Already up to date".to_string())
            && relinked.contains(&"+ is-odd 3.0.1".to_string()),
        "{relinked:?}"
    );
    assert!(
        lines("a deleted link, from its project").contains(&"+ is-number 7.0.0".to_string()),
        "{outputs:?}"
    );
    let left = lines("links replaced, a shim and a hoisted link deleted");
    assert!(!left.iter().any(|l| l.starts_with("+ ")), "{left:?}");
    let all = lines("the same and a deleted link to a project");
    assert!(
        all.contains(&"+ @tack-test/scoped 1.0.0".to_string())
            && all.contains(&"+ is-odd 3.0.1".to_string()),
        "{all:?}"
    );
    assert_eq!(
        lines("a deleted link, plain install"),
        ["Already up to date", "Scope: all 3 workspace projects"],
        "{outputs:?}"
    );
    assert!(
        lines("a dangling link, plain install").contains(&"+ is-odd 3.0.1".to_string()),
        "{outputs:?}"
    );
}

/// Writes the file at `rel` again with the content it has: new times, nothing else.
fn rewrite(dir: &std::path::Path, rel: &str) {
    let path = dir.join(rel);
    let content = fs_err::read(&path).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    fs_err::write(&path, content).unwrap();
}

/// Inputs written again with the same content (a `touch`, a fresh checkout, a cached tree
/// restored over a new clone) and a setting that changes no package, side by side with pnpm
/// 12: the same lines, and the tree left as it was. A plain `install` is a no-op (pnpm 12's
/// quick check looks at the content once a file's mtime moved); with `--frozen-lockfile`, and
/// after the setting, pnpm 12 goes through its install and says only that the lockfile is up
/// to date. (tack took every moved mtime for a change, and its install over the untouched tree
/// also said "Already up to date".)
#[test]
fn inputs_written_again_unchanged_change_nothing_like_pnpm() {
    let registry = registry::start();
    let reference = links_workspace(&registry.url());
    let cases: [DamageCase; 6] = [
        ("the lockfile written again", ".", false, |dir| {
            rewrite(dir, "pnpm-lock.yaml");
        }),
        ("the lockfile written again, frozen", ".", true, |dir| {
            rewrite(dir, "pnpm-lock.yaml");
        }),
        ("every input written again", ".", false, |dir| {
            for rel in [
                "pnpm-lock.yaml",
                "pnpm-workspace.yaml",
                "package.json",
                "packages/a/package.json",
                "packages/b/package.json",
            ] {
                rewrite(dir, rel);
            }
        }),
        (
            "a project's manifest written again, frozen",
            ".",
            true,
            |dir| {
                rewrite(dir, "packages/a/package.json");
            },
        ),
        (
            "pnpm-workspace.yaml written again, frozen",
            ".",
            true,
            |dir| {
                rewrite(dir, "pnpm-workspace.yaml");
            },
        ),
        (
            "a setting that changes no package, frozen",
            ".",
            true,
            |dir| {
                let path = dir.join("pnpm-workspace.yaml");
                let yaml = fs_err::read_to_string(&path).unwrap();
                fs_err::write(&path, format!("{yaml}modulesCacheMaxAge: 100\n")).unwrap();
            },
        ),
    ];
    let outputs = damaged_like_pnpm(&reference, "", &cases);
    let noop = ["Already up to date", "Scope: all 3 workspace projects"];
    let frozen = [
        "Lockfile is up to date, resolution step is skipped",
        "Scope: all 3 workspace projects",
    ];
    for (what, lines) in &outputs {
        let expected: &[&str] = if what.ends_with("frozen") {
            &frozen
        } else {
            &noop
        };
        assert_eq!(lines, expected, "{what}: pnpm 12 printed");
    }
}

/// A filtered install over an installed workspace says "Already up to date", as pnpm 12 says
/// it, though nothing is linked again (an unfiltered one over the same tree says only that the
/// lockfile is up to date).
#[test]
fn a_filtered_install_over_an_installed_tree_says_already_up_to_date_like_pnpm() {
    let registry = registry::start();
    let reference = links_workspace(&registry.url());
    let [pnpm, tack] = ["pnpm", "tack"].map(|tool| {
        let project = clone_inputs(&reference);
        assert_success(
            &project.run_tool(tool, &["install", "--frozen-lockfile"]),
            tool,
        );
        let out = project.run_tool(tool, &["install", "--frozen-lockfile", "--filter", "b"]);
        assert_success(&out, tool);
        tack_suite::conformance::comparable_output(&out.stdout)
    });
    assert_eq!(tack, pnpm, "tack's lines, then pnpm's");
    assert!(pnpm.contains(&"Already up to date".to_string()), "{pnpm:?}");
}

/// A lockfile and manifest written with other content of the same size, their old mtimes put
/// back (`tar x`, `cp -p`, `rsync -a`): pnpm 12 installs the new lockfile, its change time
/// having moved. (tack took the mtime and size for unchanged and answered with its no-op.)
#[test]
fn an_edit_with_its_old_mtime_put_back_is_installed_like_pnpm() {
    let registry = registry::start();
    let manifest = |range: &str| {
        format!(
            r#"{{"name": "p", "version": "1.0.0", "dependencies": {{"is-number": "{range}"}}}}"#
        )
    };
    let first = tack_suite::conformance::resolved_project(&manifest("6.0.0"), &registry.url());
    let second = tack_suite::conformance::resolved_project(&manifest("7.0.0"), &registry.url());
    let [pnpm, tack] = ["pnpm", "tack"].map(|tool| {
        let project = clone_inputs(&first);
        assert_success(
            &project.run_tool(tool, &["install", "--frozen-lockfile"]),
            tool,
        );
        for rel in ["package.json", "pnpm-lock.yaml"] {
            let path = project.dir().join(rel);
            let mtime = fs_err::metadata(&path).unwrap().modified().unwrap();
            let text = fs_err::read(second.dir().join(rel)).unwrap();
            assert_eq!(
                text.len() as u64,
                fs_err::metadata(&path).unwrap().len(),
                "{rel}"
            );
            fs_err::write(&path, text).unwrap();
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(mtime)
                .unwrap();
        }
        let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        assert_success(&out, tool);
        let link = fs_err::read_link(project.dir().join("node_modules/is-number")).unwrap();
        (
            tack_suite::conformance::comparable_output(&out.stdout),
            link,
        )
    });
    assert_eq!(tack, pnpm, "tack's lines and link, then pnpm's");
    assert!(
        pnpm.1.to_string_lossy().contains("is-number@7.0.0"),
        "{pnpm:?}"
    );
}

/// Under `nodeLinker: hoisted` the direct dependencies are package directories: one deleted is
/// imported again, as pnpm 12 imports it (the no-op gate finds its completion marker gone),
/// while a project's deleted or dangling link to another project is left as pnpm 12 leaves it.
#[test]
fn hoisted_direct_dependencies_are_put_back_like_pnpm() {
    let registry = registry::start();
    let reference = links_workspace(&registry.url());
    let cases: [DamageCase; 3] = [
        ("a deleted package directory", ".", true, |dir| {
            fs_err::remove_dir_all(dir.join("node_modules/is-odd")).unwrap();
        }),
        ("a deleted link to a project", ".", true, |dir| {
            fs_err::remove_file(dir.join("packages/a/node_modules/b")).unwrap();
        }),
        ("a dangling link to a project", ".", true, |dir| {
            relink(dir, "packages/a/node_modules/b", "gone");
        }),
    ];
    let outputs = damaged_like_pnpm(&reference, "nodeLinker: hoisted\n", &cases);
    assert!(
        lines_of(&outputs, "a deleted package directory").contains(&"Packages: +2".to_string()),
        "{outputs:?}"
    );
}

/// After an install without the project's optional dependencies (`--no-optional`, `--dev`), a
/// full install does not list the one skipped for this platform as removed: the last install's
/// record never had it. pnpm 12 lists it only over a record that has it (`--prod`), and says
/// "Already up to date" when nothing else changes. (tack listed `- only-darwin 1.0.0` after
/// each, and so never said "Already up to date" after `--no-optional`.)
#[test]
fn a_skipped_optional_dependency_the_last_install_left_out_is_not_listed_as_removed() {
    let registry = registry::start();
    let resolver = TestProject::new();
    resolver
        .write(
            "package.json",
            r#"{"name": "opt", "version": "1.0.0", "dependencies": {"is-odd": "3.0.1"},
                "devDependencies": {"is-number": "7.0.0"},
                "optionalDependencies": {"only-darwin": "1.0.0"}}"#,
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write("pnpm-workspace.yaml", "minimumReleaseAge: 0\n");
    resolver.lock_with_pnpm();
    let [pnpm, tack] = ["pnpm", "tack"].map(|tool| {
        let mut seen = Vec::new();
        for first in ["--no-optional", "--dev", "--prod"] {
            let project = clone_inputs(&resolver);
            assert_success(
                &project.run_tool(tool, &["install", "--frozen-lockfile", first]),
                tool,
            );
            let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
            assert_success(&out, tool);
            let mut lines = summary_lines(&out);
            if stdout(&out).contains("Already up to date") {
                lines.push("Already up to date".to_string());
            }
            seen.push((first, lines));
        }
        seen
    });
    assert_eq!(tack, pnpm, "tack's summaries, then pnpm's");
    assert_eq!(pnpm[0].1, ["Already up to date"], "{pnpm:?}");
    assert!(
        pnpm[2].1.contains(&"- only-darwin 1.0.0".to_string()),
        "{pnpm:?}"
    );
}

/// A `link:` dependency that `--prod` leaves out (a workspace project, a directory) is listed by
/// its alias alone, as pnpm 12 lists it: `- bb`, where one gone from the lockfile is named by its
/// manifest (`- bb <- b 1.0.0`). (tack named it by its manifest either way.)
#[test]
fn links_left_out_by_prod_are_listed_by_alias_like_pnpm() {
    let resolver = TestProject::new();
    resolver
        .write(
            "package.json",
            r#"{"name": "root", "private": true,
                "devDependencies": {"x": "link:./local/x", "bb": "workspace:b@*"}}"#,
        )
        .write(
            "local/x/package.json",
            r#"{"name": "xname", "version": "2.0.0"}"#,
        )
        .write(
            "packages/b/package.json",
            r#"{"name": "b", "version": "1.0.0"}"#,
        )
        .write("pnpm-workspace.yaml", "packages:\n  - packages/*\n");
    resolver.lock_with_pnpm();
    let [pnpm, tack] = ["pnpm", "tack"].map(|tool| {
        let project = clone_inputs(&resolver);
        assert_success(
            &project.run_tool(tool, &["install", "--frozen-lockfile"]),
            tool,
        );
        let out = project.run_tool(tool, &["install", "--frozen-lockfile", "--prod"]);
        assert_success(&out, tool);
        summary_lines(&out)
    });
    assert_eq!(tack, pnpm, "tack's summary, then pnpm's");
    assert_eq!(pnpm, ["devDependencies:", "- bb", "- x"], "{pnpm:?}");
}

/// A re-install over another lockfile lists a removed package by its alias and version, never by
/// the name an `npm:` alias points to, and lists nothing for an alias that points to another
/// package at the same version, as pnpm 12 pairs them: `- y 7.0.0`, and nothing for `x`. (tack
/// printed `- y <- is-number 7.0.0`, and `x` removed and added again.)
#[test]
fn removed_aliases_are_listed_by_alias_and_version_like_pnpm() {
    let registry = registry::start();
    let before = r#"{"name": "aliases", "version": "1.0.0", "dependencies": {
        "x": "npm:tack-bin-string@1.0.0", "y": "npm:is-number@7.0.0", "is-odd": "3.0.1"}}"#;
    let after = r#"{"name": "aliases", "version": "1.0.0", "dependencies": {
        "x": "npm:tack-build-dep@1.0.0", "is-odd": "3.0.1"}}"#;
    let mut seen = Vec::new();
    for tool in ["pnpm", "tack"] {
        let project = TestProject::new();
        project
            .write("package.json", before)
            .write(".npmrc", &format!("registry={}\n", registry.url()))
            .write(
                "pnpm-workspace.yaml",
                "minimumReleaseAge: 0\nstrictDepBuilds: false\n",
            );
        project.lock_with_pnpm();
        assert_success(
            &project.run_tool(tool, &["install", "--frozen-lockfile"]),
            tool,
        );
        project.write("package.json", after);
        assert_success(
            &project.pnpm(&["install", "--lockfile-only", "--no-frozen-lockfile"]),
            "resolving the new manifest",
        );
        let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        assert_success(&out, tool);
        seen.push(summary_lines(&out));
    }
    assert_eq!(seen[1], seen[0], "tack's summary, then pnpm's");
    assert_eq!(seen[0], ["dependencies:", "- y 7.0.0"], "{seen:?}");
}

/// The counts of an install after `--no-optional`, and of one with `--no-optional` after a full
/// install, as pnpm 12 prints them: a package whose optional child comes or goes is linked anew
/// and counted (`Packages: +2`, `+1 -1`). After `--prod` in a project without dev dependencies
/// nothing changes but the groups, and pnpm 12 says "Already up to date". (tack counted only the
/// optional child, and said nothing after `--prod`.)
#[test]
fn packages_whose_optional_children_come_or_go_are_counted_like_pnpm() {
    let registry = registry::start();
    registry.add_package(
        tack_test_registry::PackageDef::new("tack-with-optional-child", "1.0.0")
            .field("dependencies", serde_json::json!({"is-odd": "3.0.1"}))
            .field(
                "optionalDependencies",
                serde_json::json!({"is-number": "7.0.0"}),
            )
            .file("index.js", b"module.exports = 1;\n".to_vec(), 0o644),
    );
    let resolver = TestProject::new();
    resolver
        .write(
            "package.json",
            r#"{"name": "opt-children", "version": "1.0.0",
                "dependencies": {"tack-with-optional-child": "1.0.0"}}"#,
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write("pnpm-workspace.yaml", "minimumReleaseAge: 0\n");
    resolver.lock_with_pnpm();
    let [pnpm, tack] = ["pnpm", "tack"].map(|tool| {
        let mut seen = Vec::new();
        for [first, then] in [["--no-optional", ""], ["", "--no-optional"], ["--prod", ""]] {
            let project = clone_inputs(&resolver);
            let install = |flag: &str| {
                let mut args = vec!["install", "--frozen-lockfile"];
                args.extend((!flag.is_empty()).then_some(flag));
                let out = project.run_tool(tool, &args);
                assert_success(&out, tool);
                out
            };
            install(first);
            let out = stdout(&install(then));
            let lines: Vec<String> = out
                .lines()
                .filter(|l| l.starts_with("Packages:") || l.starts_with("Already up to date"))
                .map(str::to_string)
                .collect();
            seen.push(lines);
        }
        seen
    });
    assert_eq!(tack, pnpm, "tack's counts, then pnpm's");
    assert_eq!(
        pnpm,
        [
            vec!["Packages: +2"],
            vec!["Packages: +1 -1"],
            vec!["Already up to date"]
        ],
        "{pnpm:?}"
    );
}

/// A filtered install leaves the links it does not make as pnpm 12 leaves them: the root's
/// publicly hoisted links of the packages kept for the projects it does not select
/// (`shamefullyHoist`: project `a`'s `is-odd`), and, under `dedupeDirectDeps`, a project's
/// link already in place that the root's hoisting would let it do without. (tack removed both,
/// so project `b` loaded the root's `is-number` at another version.)
#[test]
fn a_filtered_install_keeps_the_hoisted_and_deduplicated_links_it_does_not_make_like_pnpm() {
    let registry = registry::start();
    for settings in [
        "shamefullyHoist: true\n",
        "shamefullyHoist: true\ndedupeDirectDeps: true\n",
    ] {
        let resolver = TestProject::new();
        resolver
            .write("package.json", r#"{"name": "root", "private": true}"#)
            .write(
                "packages/a/package.json",
                r#"{"name": "a", "version": "1.0.0",
                    "dependencies": {"is-odd": "3.0.1", "is-number": "7.0.0"}}"#,
            )
            .write(
                "packages/b/package.json",
                r#"{"name": "b", "version": "1.0.0", "dependencies": {"is-number": "6.0.0"}}"#,
            )
            .write(".npmrc", &format!("registry={}\n", registry.url()))
            .write(
                "pnpm-workspace.yaml",
                &format!("minimumReleaseAge: 0\n{settings}packages:\n  - packages/*\n"),
            );
        resolver.lock_with_pnpm();
        for filter in ["a", "b"] {
            let [pnpm, tack] = ["pnpm", "tack"].map(|tool| {
                let project = clone_inputs(&resolver);
                assert_success(
                    &project.run_tool(tool, &["install", "--frozen-lockfile"]),
                    tool,
                );
                let args = ["install", "--frozen-lockfile", "--filter", filter];
                assert_success(&project.run_tool(tool, &args), tool);
                project
            });
            let differences = tree::diff(&project_tree(&pnpm), &project_tree(&tack));
            assert!(
                differences.is_empty(),
                "{settings} --filter {filter}:\n{}",
                differences.join("\n")
            );
            if filter == "b" {
                assert!(
                    pnpm.dir().join("node_modules/is-odd").exists(),
                    "{settings}"
                );
                let b = std::fs::canonicalize(pnpm.dir().join("packages/b/node_modules/is-number"));
                assert!(
                    b.is_ok_and(|dir| dir.to_string_lossy().contains("is-number@6.0.0")),
                    "{settings}"
                );
            }
        }
    }
}

/// `--force` imports every package again but keeps what each holds in its own `node_modules`
/// (a build's cache: core-js keeps `node_modules/.tmp/core-js-banners` there so as not to print
/// its banner twice), as pnpm 12 keeps it, for a package built again and for one that is not.
/// (tack removed the package directory whole.)
#[test]
fn force_keeps_what_packages_hold_in_their_own_node_modules_like_pnpm() {
    let registry = registry::start();
    let resolver = TestProject::new();
    resolver
        .write(
            "package.json",
            r#"{"name": "forced", "version": "1.0.0",
                "dependencies": {"is-odd": "3.0.1", "tack-build-dep": "1.0.0"}}"#,
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write(
            "pnpm-workspace.yaml",
            "minimumReleaseAge: 0\nallowBuilds:\n  tack-build-dep: true\n",
        );
    resolver.lock_with_pnpm();
    let caches = [
        "node_modules/.pnpm/is-odd@3.0.1/node_modules/is-odd/node_modules/.tmp/cache",
        "node_modules/.pnpm/tack-build-dep@1.0.0/node_modules/tack-build-dep/node_modules/.cache/x",
    ];
    let [pnpm, tack] = ["pnpm", "tack"].map(|tool| {
        let project = clone_inputs(&resolver);
        assert_success(
            &project.run_tool(tool, &["install", "--frozen-lockfile"]),
            tool,
        );
        for cache in caches {
            project.write(cache, "kept\n");
        }
        let args = ["install", "--frozen-lockfile", "--force"];
        assert_success(&project.run_tool(tool, &args), tool);
        project
    });
    let differences = tree::diff(&project_tree(&pnpm), &project_tree(&tack));
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    for cache in caches {
        assert!(pnpm.dir().join(cache).is_file(), "pnpm kept {cache}");
    }
}

/// A filtered install over another lockfile removes nothing the last install hoisted and
/// counts nothing removed, as pnpm 12 does: `Packages: +1`, and `.pnpm/node_modules/is-odd`
/// stays though the lockfile dropped it. (tack printed `+1 -2` and removed the link.)
#[test]
fn a_filtered_install_over_another_lockfile_prunes_no_hoisted_link_like_pnpm() {
    let registry = registry::start();
    let project_manifest =
        |deps: &str| format!(r#"{{"name": "a", "version": "1.0.0", "dependencies": {deps}}}"#);
    let mut seen = Vec::new();
    for tool in ["pnpm", "tack"] {
        let project = TestProject::new();
        project
            .write("package.json", r#"{"name": "root", "private": true}"#)
            .write(
                "packages/a/package.json",
                &project_manifest(r#"{"is-odd": "3.0.1"}"#),
            )
            .write(".npmrc", &format!("registry={}\n", registry.url()))
            .write(
                "pnpm-workspace.yaml",
                "minimumReleaseAge: 0\npackages:\n  - packages/*\n",
            );
        project.lock_with_pnpm();
        assert_success(
            &project.run_tool(tool, &["install", "--frozen-lockfile"]),
            tool,
        );
        project.write(
            "packages/a/package.json",
            &project_manifest(r#"{"is-number": "7.0.0"}"#),
        );
        assert_success(
            &project.pnpm(&["install", "--lockfile-only", "--no-frozen-lockfile"]),
            "resolving the new manifest",
        );
        let args = ["install", "--frozen-lockfile", "--filter", "a"];
        let out = project.run_tool(tool, &args);
        assert_success(&out, tool);
        let counts: Vec<String> = stdout(&out)
            .lines()
            .filter(|l| l.starts_with("Packages:"))
            .map(str::to_string)
            .collect();
        seen.push((counts, project_tree(&project)));
    }
    let differences = tree::diff(&seen[0].1, &seen[1].1);
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    assert_eq!(seen[1].0, seen[0].0, "tack's counts, then pnpm's");
    assert_eq!(seen[0].0, ["Packages: +1"]);
}

/// A direct dependency removed from `package.json` that another package still uses, then added
/// back: no package is added or removed, and pnpm 12 says "Already up to date" before it lists
/// it (`- is-number 6.0.0`, then `+ is-number 6.0.0`). (tack left the line out.)
#[test]
fn already_up_to_date_is_said_whenever_no_package_comes_or_goes_like_pnpm() {
    let registry = registry::start();
    let with = r#"{"name": "p", "version": "1.0.0",
        "dependencies": {"is-odd": "3.0.1", "is-number": "6.0.0"}}"#;
    let without = r#"{"name": "p", "version": "1.0.0", "dependencies": {"is-odd": "3.0.1"}}"#;
    let mut seen = Vec::new();
    for tool in ["pnpm", "tack"] {
        let project = TestProject::new();
        project
            .write("package.json", with)
            .write(".npmrc", &format!("registry={}\n", registry.url()))
            .write("pnpm-workspace.yaml", "minimumReleaseAge: 0\n");
        project.lock_with_pnpm();
        assert_success(
            &project.run_tool(tool, &["install", "--frozen-lockfile"]),
            tool,
        );
        let mut runs = Vec::new();
        for manifest in [without, with] {
            project.write("package.json", manifest);
            assert_success(
                &project.pnpm(&["install", "--lockfile-only", "--no-frozen-lockfile"]),
                "resolving",
            );
            let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
            assert_success(&out, tool);
            let mut lines = summary_lines(&out);
            if stdout(&out).contains("Already up to date") {
                lines.insert(0, "Already up to date".to_string());
            }
            runs.push(lines);
        }
        seen.push(runs);
    }
    assert_eq!(seen[1], seen[0], "tack's summaries, then pnpm's");
    assert_eq!(
        seen[0][0],
        ["Already up to date", "dependencies:", "- is-number 6.0.0"]
    );
}
