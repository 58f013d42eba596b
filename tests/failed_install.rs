//! Installs that fail part-way, side by side with pnpm 12: neither leaves a tree that looks
//! usable. pnpm 12 links a project only once every package is in place, so a download that
//! fails leaves it no `node_modules`, or only its virtual store; tack links a new virtual
//! store's top level while packages still download, and takes those links back (and the
//! `.bin` entries it wrote for them) when the install fails. A reinstall that fails over a
//! complete tree leaves that tree as it was, with both tools. Either way, the next install,
//! the fault gone, builds the tree a clean install builds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use tack_suite::conformance::{clone_inputs, prepare, project_tree, publish, resolve_with_pnpm};
use tack_suite::project::{assert_success, TestProject};
use tack_suite::setup::FAST_FETCH_SETTINGS;
use tack_suite::tree::{self, Entry};
use tack_suite::{basic_fixture, registry};
use tack_test_registry::{Fault, FaultKind, TestRegistry};

const TARBALL: &str = "/is-odd/-/is-odd-3.0.1.tgz";
/// tack's sentinel for an install under way.
const SENTINEL: &str = "node_modules/.tack-install-in-progress";

fn code(out: &Output) -> Option<String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr
        .lines()
        .find_map(|line| line.strip_prefix("Error: "))
        .map(|code| code.trim().to_string())
}

/// Runs `install --frozen-lockfile` with `tool` on a copy of `reference`, which must fail
/// with `expected`; returns the copy.
fn failed_install(reference: &TestProject, tool: &str, expected: &str) -> TestProject {
    let project = clone_inputs(reference);
    let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
    assert_eq!(
        (out.status.code(), code(&out).as_deref()),
        (Some(1), Some(expected)),
        "{tool}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    project
}

/// Every entry of the project's `node_modules` directories outside the root's virtual store
/// (`node_modules/.pnpm`), tack's sentinel left out.
fn outside_virtual_store(project: &TestProject) -> BTreeMap<String, Entry> {
    let mut entries = tree::snapshot(&project.dir(), &|rel: &str| {
        rel.starts_with("node_modules/.pnpm/") || rel == SENTINEL
    });
    entries.retain(|rel, _| rel.split('/').any(|part| part == "node_modules"));
    entries
}

/// [`outside_virtual_store`] without the empty root `node_modules` and its virtual store.
fn top_level(project: &TestProject) -> BTreeMap<String, Entry> {
    let mut entries = outside_virtual_store(project);
    entries.remove("node_modules");
    entries.remove("node_modules/.pnpm");
    entries
}

/// The entries of `entries` that lead into the virtual store: a symlink whose target is in
/// it, or a `.bin` entry that runs a file of one of its packages.
fn into_virtual_store(project: &TestProject, entries: &BTreeMap<String, Entry>) -> Vec<String> {
    let vstore = project.dir().join("node_modules/.pnpm");
    entries
        .iter()
        .filter(|(rel, entry)| match entry {
            Entry::Symlink(text) => {
                let link = project.dir().join(rel.as_str());
                let parent = link.parent().unwrap_or(Path::new("/"));
                normalize(&parent.join(text)).starts_with(&vstore)
            }
            Entry::File { .. } if rel.contains("/.bin/") => {
                let shim =
                    fs_err::read_to_string(project.dir().join(rel.as_str())).unwrap_or_default();
                // A package's slot is named `<name>@<version>…`.
                shim.split(".pnpm/").skip(1).any(|rest| {
                    rest.split('/')
                        .next()
                        .is_some_and(|slot| slot.contains('@'))
                })
            }
            _ => false,
        })
        .map(|(rel, entry)| format!("{rel} ({entry:?})"))
        .collect()
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Installs `project` again, the fault gone, and asserts it ends with the tree of a clean
/// install of the same inputs, sentinel gone.
fn recovers_as_a_clean_install(project: &TestProject, registry: &TestRegistry, case: &str) {
    recovers_with(project, registry, case, |tree| tree);
}

/// [`recovers_as_a_clean_install`], both trees seen through `view`.
fn recovers_with(
    project: &TestProject,
    registry: &TestRegistry,
    case: &str,
    view: impl Fn(tree::Tree) -> tree::Tree,
) {
    registry.clear_faults();
    let clean = clone_inputs(project);
    assert_success(
        &clean.tack(&["install", "--frozen-lockfile"]),
        &format!("{case}: clean tack install"),
    );
    assert_success(
        &project.tack(&["install", "--frozen-lockfile"]),
        &format!("{case}: tack install after the failed one"),
    );
    let diff = tree::diff(&view(project_tree(&clean)), &view(project_tree(project)));
    assert!(
        diff.is_empty(),
        "{case}: the recovered tree differs from a clean install:\n{}",
        diff.join("\n")
    );
    assert!(!project.dir().join(SENTINEL).exists(), "{case}");
}

/// The basic fixture with `minimumReleaseAge: 0` (no supply-chain check holds the links
/// back, so tack links the project while packages download) and quick retries.
fn basic(registry: &TestRegistry) -> TestProject {
    let project = TestProject::new();
    prepare(&project, &basic_fixture(), &registry.url());
    project.add_settings(FAST_FETCH_SETTINGS);
    project
}

/// A download that fails (a 404; a tarball whose integrity is not the lockfile's, arriving
/// after every other package is in place and the project's `.bin` written) leaves neither
/// tool a link or a `.bin` entry outside the virtual store, nor the failed package's
/// directory looking complete. tack keeps the virtual store's complete packages for the next
/// install, as pnpm 12 does when it got that far, and its sentinel.
#[test]
fn a_failed_download_leaves_no_top_level_like_pnpm() {
    let registry = registry::start();
    let other_integrity = registry
        .integrity("is-number", "7.0.0")
        .expect("is-number@7.0.0 is a fixture");
    let cases: [(&str, Fault, bool, &str); 2] = [
        (
            "404",
            Fault::status(TARBALL, 404),
            false,
            "ERR_PNPM_TARBALL_HTTP_STATUS",
        ),
        (
            "integrity mismatch, late",
            Fault::new(TARBALL, FaultKind::Delay(Duration::from_millis(1500))),
            true,
            "ERR_PNPM_TARBALL_INTEGRITY",
        ),
    ];
    for (case, fault, wrong_integrity, expected) in cases {
        registry.clear_faults();
        registry.inject(fault);
        let reference = basic(&registry);
        let lockfile = reference.dir().join("pnpm-lock.yaml");
        let locked = fs_err::read_to_string(&lockfile).unwrap();
        if wrong_integrity {
            let own = registry.integrity("is-odd", "3.0.1").unwrap();
            assert!(locked.contains(&own), "{case}");
            fs_err::write(&lockfile, locked.replace(&own, &other_integrity)).unwrap();
        }
        let pnpm = failed_install(&reference, "pnpm", expected);
        let tack = failed_install(&reference, "tack", expected);
        assert_eq!(
            top_level(&tack),
            top_level(&pnpm),
            "{case}: what each tool left outside its virtual store (tack, pnpm)"
        );
        assert!(top_level(&tack).is_empty(), "{case}");
        for (tool, project) in [("pnpm", &pnpm), ("tack", &tack)] {
            let manifest = "node_modules/.pnpm/is-odd@3.0.1/node_modules/is-odd/package.json";
            assert!(
                !project.dir().join(manifest).exists(),
                "{case}, {tool}: the failed package looks complete"
            );
        }
        assert!(tack.dir().join(SENTINEL).is_file(), "{case}");
        fs_err::write(tack.dir().join("pnpm-lock.yaml"), &locked).unwrap();
        recovers_as_a_clean_install(&tack, &registry, case);
    }
}

/// A reinstall over a complete tree whose new dependency fails to download leaves the tree
/// as it was, with both tools: every link and `.bin` entry that was there stays, and none
/// dangles. tack only drops its record of the last complete install and leaves its
/// sentinel, so that the next install, the download back, checks the tree and completes it.
#[test]
fn a_failed_reinstall_leaves_the_complete_tree_as_it_was_like_pnpm() {
    let registry = registry::start();
    publish(
        &registry,
        "tack-late",
        "1.0.0",
        serde_json::json!({"bin": {"tack-late": "index.js"}}),
    );
    let reference = basic(&registry);
    let changed = clone_inputs(&reference);
    let manifest = changed.dir().join("package.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(&manifest).unwrap()).unwrap();
    json["dependencies"]["tack-late"] = "1.0.0".into();
    fs_err::write(&manifest, json.to_string()).unwrap();
    changed.lock_with_pnpm();
    registry.inject(Fault::status("/tack-late/-/", 404));

    for tool in ["pnpm", "tack"] {
        let project = clone_inputs(&reference);
        assert_success(
            &project.run_tool(tool, &["install", "--frozen-lockfile"]),
            &format!("{tool}: first install"),
        );
        let before = outside_virtual_store(&project);
        assert!(before.contains_key("node_modules/is-odd"), "{tool}");
        for file in ["package.json", "pnpm-lock.yaml"] {
            fs_err::copy(changed.dir().join(file), project.dir().join(file)).unwrap();
        }
        let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        assert_eq!(
            code(&out).as_deref(),
            Some("ERR_PNPM_TARBALL_HTTP_STATUS"),
            "{tool}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let after = outside_virtual_store(&project);
        let diff = tree::diff(&before, &after);
        assert!(
            diff.is_empty(),
            "{tool}: the failed reinstall changed the tree:\n{}",
            diff.join("\n")
        );
        let dangling: Vec<&String> = after
            .keys()
            .filter(|rel| !project.dir().join(rel.as_str()).exists())
            .collect();
        assert!(dangling.is_empty(), "{tool}: dangling {dangling:?}");
        if tool == "tack" {
            assert!(project.dir().join(SENTINEL).is_file());
            registry.clear_faults();
            recovers_as_a_clean_install(&project, &registry, "reinstall");
            assert!(project.dir().join("node_modules/.bin/tack-late").is_file());
        }
    }
}

/// In a workspace, a failed download leaves no project a link into the virtual store (its
/// registry packages, a `file:` directory, an injected workspace project) nor a `.bin` entry
/// running one, as pnpm 12 leaves none. tack keeps what links to another workspace project
/// (`workspace:`), which it may have made: such a link points at a complete directory of the
/// user's, and may have been there before the install.
#[test]
fn a_failed_workspace_install_links_no_project_to_the_virtual_store_like_pnpm() {
    let registry = registry::start();
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workspace");
    let reference = resolve_with_pnpm(&fixture, &registry.url());
    registry.inject(Fault::status(TARBALL, 404));
    let expected = "ERR_PNPM_TARBALL_HTTP_STATUS";
    let pnpm = failed_install(&reference, "pnpm", expected);
    let tack = failed_install(&reference, "tack", expected);
    assert!(top_level(&pnpm).is_empty(), "pnpm: {:?}", top_level(&pnpm));
    let left = top_level(&tack);
    let linked = into_virtual_store(&tack, &left);
    assert!(linked.is_empty(), "tack left {linked:?}");
    // Links to workspace projects, their commands, and the directories holding them.
    let other: Vec<&String> = left
        .iter()
        .filter(|(rel, entry)| match entry {
            Entry::Dir => !rel.ends_with("node_modules") && !rel.ends_with("/.bin"),
            Entry::Symlink(_) => !tack.dir().join(rel.as_str()).join("package.json").is_file(),
            Entry::File { .. } => !rel.contains("/.bin/"),
        })
        .map(|(rel, _)| rel)
        .collect();
    assert!(other.is_empty(), "tack left {other:?}");
    recovers_as_a_clean_install(&tack, &registry, "workspace");
}

/// Over a tree an earlier install left damaged (a package directory without its
/// `package.json`, as a killed install leaves one), an install that fails to download that
/// package again takes its link away: it would point at a package that is not complete. The
/// links to complete packages, there and valid before, stay. (pnpm 12 has no counterpart:
/// over the same tree it trusts its record and installs nothing.)
#[test]
fn a_failed_install_unlinks_a_package_left_incomplete() {
    let registry = registry::start();
    let project = basic(&registry);
    assert_success(
        &project.tack(&["install", "--frozen-lockfile"]),
        "first install",
    );
    let before = outside_virtual_store(&project);
    fs_err::remove_file(
        project
            .dir()
            .join("node_modules/.pnpm/is-odd@3.0.1/node_modules/is-odd/package.json"),
    )
    .unwrap();
    // Nothing in the store: every package is downloaded again, and is-odd cannot be.
    fs_err::remove_dir_all(project.store().join("v11")).unwrap();
    registry.inject(Fault::status(TARBALL, 404));
    let out = project.tack(&["install", "--frozen-lockfile"]);
    assert_eq!(
        code(&out).as_deref(),
        Some("ERR_PNPM_TARBALL_HTTP_STATUS"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut expected = before.clone();
    expected.remove("node_modules/is-odd");
    let diff = tree::diff(&expected, &outside_virtual_store(&project));
    assert!(diff.is_empty(), "{}", diff.join("\n"));
    // The files the first install imported are no longer the store's (it was wiped), so
    // they are not hard links any more: only that differs.
    recovers_with(&project, &registry, "damaged tree", |mut tree| {
        for entry in tree.values_mut() {
            if let Entry::File { hardlinked, .. } = entry {
                *hardlinked = false;
            }
        }
        tree
    });
    assert!(project.dir().join("node_modules/is-odd").is_dir());
}

/// Installs copies of `reference` over the tree `other_tool` leaves, with pnpm 12 and tack,
/// each failing with `expected`; asserts that both leave that tree's top level as it was, and
/// returns tack's copy.
fn fails_leaving_the_top_level_as_pnpm_does(
    reference: &TestProject,
    expected: &str,
    other_tool: impl Fn(&TestProject),
) -> TestProject {
    let [pnpm, tack] = ["pnpm", "tack"].map(|tool| {
        let project = clone_inputs(reference);
        other_tool(&project);
        let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        assert_eq!(
            code(&out).as_deref(),
            Some(expected),
            "{tool}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        project
    });
    let before = {
        let untouched = clone_inputs(reference);
        other_tool(&untouched);
        top_level(&untouched)
    };
    assert!(!before.is_empty(), "the other tool left nothing");
    assert_eq!(top_level(&pnpm), before, "pnpm");
    assert_eq!(top_level(&tack), before, "tack");
    tack
}

/// Over another package manager's `node_modules` (real directories, as npm installs), a
/// failed download leaves that tree as it was, as pnpm 12 leaves it: tack had moved the
/// directories in the way of its early links aside (`.ignored_<name>`, as pnpm 12 does when
/// it links) and moves them back with the links gone. The next install moves them aside.
#[test]
fn a_failed_install_over_another_package_managers_tree_leaves_it_like_pnpm() {
    let registry = registry::start();
    let reference = basic(&registry);
    registry.inject(Fault::status(TARBALL, 404));
    let expected = "ERR_PNPM_TARBALL_HTTP_STATUS";
    let npm_tree = |project: &TestProject| {
        for name in ["is-number", "use-peer"] {
            project.write(
                &format!("node_modules/{name}/package.json"),
                &format!(r#"{{"name": "{name}", "version": "0.0.1"}}"#),
            );
        }
        project.write("node_modules/.package-lock.json", "{}");
    };
    let tack = fails_leaving_the_top_level_as_pnpm_does(&reference, expected, npm_tree);

    registry.clear_faults();
    assert_success(
        &tack.tack(&["install", "--frozen-lockfile"]),
        "tack install after the failed one",
    );
    let moved = tack
        .dir()
        .join("node_modules/.ignored_is-number/package.json");
    assert!(
        moved.is_file(),
        "the next install moves the directory aside"
    );
    assert!(tack.dir().join("node_modules/is-number/index.js").is_file());
}

/// Over another package manager's `node_modules`, an install that fails after tack wrote the
/// project's `.bin` (its last download fails late) leaves that tool's `.bin` entries, as pnpm 12
/// leaves them: the entries no package of the lockfile writes are pruned only once every package
/// is in place (tack pruned them with its early `.bin`, and they were lost).
#[test]
fn a_failed_install_over_another_package_managers_tree_keeps_its_bin_entries_like_pnpm() {
    let registry = registry::start();
    let reference = basic(&registry);
    let lockfile = reference.dir().join("pnpm-lock.yaml");
    let locked = fs_err::read_to_string(&lockfile).unwrap();
    let own = registry.integrity("is-odd", "3.0.1").unwrap();
    let other = registry.integrity("is-number", "7.0.0").unwrap();
    assert!(locked.contains(&own));
    fs_err::write(&lockfile, locked.replace(&own, &other)).unwrap();
    registry.inject(Fault::new(
        TARBALL,
        FaultKind::Delay(Duration::from_millis(1500)),
    ));
    let npm_tree = |project: &TestProject| {
        project.write(
            "node_modules/npm-tool/package.json",
            r#"{"name": "npm-tool", "version": "0.0.1", "bin": "cli.js"}"#,
        );
        project.write("node_modules/npm-tool/cli.js", "#!/usr/bin/env node\n");
        project.write("node_modules/.package-lock.json", "{}");
        std::fs::create_dir_all(project.dir().join("node_modules/.bin")).unwrap();
        std::os::unix::fs::symlink(
            "../npm-tool/cli.js",
            project.dir().join("node_modules/.bin/npm-tool"),
        )
        .unwrap();
    };
    let tack = fails_leaving_the_top_level_as_pnpm_does(
        &reference,
        "ERR_PNPM_TARBALL_INTEGRITY",
        npm_tree,
    );
    // The late failure came after tack's `.bin` was written.
    assert!(
        tack.dir().join(SENTINEL).is_file(),
        "tack's install did not get under way"
    );

    registry.clear_faults();
    fs_err::write(tack.dir().join("pnpm-lock.yaml"), &locked).unwrap();
    assert_success(
        &tack.tack(&["install", "--frozen-lockfile"]),
        "tack install after the failed one",
    );
    // A complete install prunes it, as pnpm 12's does.
    let bin = tack.dir().join("node_modules/.bin");
    assert!(std::fs::symlink_metadata(bin.join("npm-tool")).is_err());
    assert!(bin.join("tack-bin-string").exists());
}

/// A symlink of another tool where a direct dependency's link goes (`npm link`, a tree of
/// symlinks) is what it was after a failed download, as pnpm 12 leaves it: tack's early link
/// replaced it, and the failed install puts it back.
#[test]
fn a_failed_install_puts_back_a_symlink_its_early_link_replaced_like_pnpm() {
    let registry = registry::start();
    let reference = basic(&registry);
    registry.inject(Fault::status(TARBALL, 404));
    let linked_tree = |project: &TestProject| {
        project.write(
            "linked/is-number/package.json",
            r#"{"name": "is-number", "version": "0.0.1"}"#,
        );
        fs_err::create_dir_all(project.dir().join("node_modules")).unwrap();
        std::os::unix::fs::symlink(
            "../linked/is-number",
            project.dir().join("node_modules/is-number"),
        )
        .unwrap();
    };
    let tack = fails_leaving_the_top_level_as_pnpm_does(
        &reference,
        "ERR_PNPM_TARBALL_HTTP_STATUS",
        linked_tree,
    );
    recovers_as_a_clean_install(&tack, &registry, "symlink in the way");
}
