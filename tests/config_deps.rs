//! Config dependencies (`configDependencies` in `pnpm-workspace.yaml`): tack installs them
//! before anything else, where pnpm 12 does (`node_modules/.pnpm-config/<name>`, linked to
//! the store's `links/`), so that a patch or a plugin's pnpmfile they ship is there for the
//! frozen-lockfile checks and the install. Every tree is compared with real pnpm 12's.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::json;
use tack_suite::conformance::{
    clone_inputs, comparable_output, install_both, project_tree, IS_ODD_PATCH,
};
use tack_suite::project::{assert_success, TestProject};
use tack_suite::{registry, tree};
use tack_test_registry::{PackageDef, TestRegistry};

const PATCH_PATH: &str = "node_modules/.pnpm-config/tack-config-files/patches/is-odd@3.0.1.patch";

/// Publishes the two config dependencies: one with files settings point at, one plugin with
/// a pnpmfile (whose checksum pnpm puts in the lockfile).
fn publish_config_packages(registry: &TestRegistry) {
    registry.add_package(
        PackageDef::new("tack-config-files", "1.0.0")
            .file(
                "patches/is-odd@3.0.1.patch",
                IS_ODD_PATCH.as_bytes().to_vec(),
                0o644,
            )
            .file("allow.json", b"[\"tack-build-dep\"]\n".to_vec(), 0o644),
    );
    registry.add_package(PackageDef::new("@tack-test/pnpm-plugin-cfg", "1.0.0").file(
        "pnpmfile.cjs",
        b"module.exports = { hooks: { readPackage (pkg) { return pkg } } }\n".to_vec(),
        0o644,
    ));
}

/// A project on `registry` that depends on `is-odd` as `specifier`, with `settings` for its
/// `pnpm-workspace.yaml` (after `minimumReleaseAge: 0`). Not locked yet.
fn new_project(registry: &TestRegistry, specifier: &str, settings: &str) -> TestProject {
    let project = TestProject::new();
    project.write(
        "package.json",
        &json!({"name": "cfg", "version": "1.0.0", "dependencies": {"is-odd": specifier}})
            .to_string(),
    );
    project.write(".npmrc", &format!("registry={}\n", registry.url()));
    project.write(
        "pnpm-workspace.yaml",
        &format!("minimumReleaseAge: 0\n{settings}"),
    );
    project
}

/// A project whose `is-odd` is patched from a config dependency, locked by pnpm 12.
fn locked_project(registry: &TestRegistry) -> TestProject {
    publish_config_packages(registry);
    let project = new_project(
        registry,
        "3.0.1",
        &format!(
            "configDependencies:\n  tack-config-files: 1.0.0\n  '@tack-test/pnpm-plugin-cfg': 1.0.0\npatchedDependencies:\n  is-odd@3.0.1: {PATCH_PATH}\n"
        ),
    );
    project.lock_with_pnpm();
    let lockfile = fs_err::read_to_string(project.dir().join("pnpm-lock.yaml")).expect("lockfile");
    assert!(
        lockfile.starts_with("---\n") && lockfile.contains("pnpmfileChecksum:"),
        "pnpm locked the config dependencies and the plugin's pnpmfile:\n{lockfile}"
    );
    project
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn links_tree(project: &TestProject) -> tree::Tree {
    tree::snapshot(&project.store().join("v11/links"), &|_| false)
}

fn config_link(project: &TestProject, name: &str) -> PathBuf {
    project.dir().join("node_modules/.pnpm-config").join(name)
}

#[test]
fn config_dependencies_are_installed_where_pnpm_installs_them_and_patch_the_tree() {
    let registry = registry::start();
    let reference = locked_project(&registry);
    let (tack, pnpm) = (clone_inputs(&reference), clone_inputs(&reference));
    let tack_out = tack.tack(&["install", "--frozen-lockfile"]);
    assert_success(&tack_out, "tack install");
    let pnpm_out = pnpm.pnpm(&["install", "--frozen-lockfile"]);
    assert_success(&pnpm_out, "pnpm install");

    let differences = tree::diff(&project_tree(&pnpm), &project_tree(&tack));
    assert!(
        differences.is_empty(),
        "tack's tree differs from pnpm 12's:\n{}",
        differences.join("\n")
    );
    let differences = tree::diff(&links_tree(&pnpm), &links_tree(&tack));
    assert!(
        differences.is_empty(),
        "tack's store links/ differs from pnpm 12's:\n{}",
        differences.join("\n")
    );
    assert_eq!(
        comparable_output(&tack_out.stdout),
        comparable_output(&pnpm_out.stdout)
    );
    assert!(stdout(&tack_out).contains(
        "Installed config dependencies: @tack-test/pnpm-plugin-cfg@1.0.0, tack-config-files@1.0.0"
    ));

    // The patch from the config dependency was applied, and its files are reached through
    // the link.
    let is_odd = fs_err::read_to_string(
        tack.dir()
            .join("node_modules/.pnpm")
            .join(patched_dir(&tack))
            .join("node_modules/is-odd/index.js"),
    )
    .expect("is-odd");
    assert!(is_odd.contains("a patched number"), "{is_odd}");
    let allow = fs_err::read_to_string(config_link(&tack, "tack-config-files").join("allow.json"))
        .expect("read through the link");
    assert!(allow.contains("tack-build-dep"));

    // pnpm 12 over tack's install and store finds its config dependencies in place.
    let pnpm_after = tack.pnpm(&["install", "--frozen-lockfile"]);
    assert_success(&pnpm_after, "pnpm install over tack's");
    assert!(
        !stdout(&pnpm_after).contains("config dependencies"),
        "{}",
        stdout(&pnpm_after)
    );

    // The state pnpm 12 records for them.
    let state: serde_json::Value = serde_json::from_str(
        &fs_err::read_to_string(
            tack.dir()
                .join("node_modules/.pnpm-workspace-state-v1.json"),
        )
        .expect("state"),
    )
    .expect("json");
    assert_eq!(
        state["configDependencies"],
        json!({"@tack-test/pnpm-plugin-cfg": "1.0.0", "tack-config-files": "1.0.0"})
    );
    let plugin_pnpmfile = config_link(&tack, "@tack-test/pnpm-plugin-cfg").join("pnpmfile.cjs");
    assert_eq!(
        state["pnpmfiles"],
        json!([plugin_pnpmfile.to_string_lossy()])
    );
}

/// The virtual-store directory of the patched `is-odd`.
fn patched_dir(project: &TestProject) -> String {
    fs_err::read_dir(project.dir().join("node_modules/.pnpm"))
        .expect("virtual store")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .find(|name| name.starts_with("is-odd@3.0.1_patch_hash="))
        .expect("a patched is-odd")
}

#[test]
fn a_store_pnpm_filled_is_reused_and_a_repeat_install_says_nothing_of_them() {
    let registry = registry::start();
    let project = locked_project(&registry);
    assert_success(
        &project.pnpm(&["install", "--frozen-lockfile"]),
        "pnpm install",
    );
    let marker = project
        .store()
        .join("v11/links")
        .join("@/tack-config-files/1.0.0");
    let pnpm_links = links_tree(&project);
    fs_err::remove_dir_all(project.dir().join("node_modules")).expect("remove node_modules");
    registry.clear_requests();

    let out = project.tack(&["install", "--frozen-lockfile"]);
    assert_success(&out, "tack install over pnpm's store");
    assert_eq!(
        registry.request_count("/tack-config-files/-/tack-config-files-1.0.0.tgz"),
        0,
        "the config dependency came from the store"
    );
    assert!(tree::diff(&pnpm_links, &links_tree(&project)).is_empty());
    assert!(marker.is_dir());
    assert!(stdout(&out).contains("Installed config dependencies:"));

    // Everything in place: neither line.
    let again = project.tack(&["install", "--frozen-lockfile"]);
    assert_success(&again, "repeat install");
    assert!(
        !stdout(&again).contains("config dependencies"),
        "{}",
        stdout(&again)
    );

    // One link gone: put back, and only it named, as pnpm 12 does.
    fs_err::remove_file(config_link(&project, "tack-config-files")).expect("unlink");
    let repaired = project.tack(&["install", "--frozen-lockfile"]);
    assert_success(&repaired, "install after a lost link");
    assert!(stdout(&repaired).contains("Installing config dependencies..."));
    assert!(
        stdout(&repaired).contains("Installed config dependencies: tack-config-files@1.0.0\n"),
        "{}",
        stdout(&repaired)
    );
    assert!(config_link(&project, "tack-config-files")
        .join("package.json")
        .is_file());
}

#[test]
fn a_package_directory_below_links_without_its_marker_is_imported_again() {
    let registry = registry::start();
    let project = locked_project(&registry);
    assert_success(&project.tack(&["install", "--frozen-lockfile"]), "install");
    let package_dir = fs_err::canonicalize(config_link(&project, "tack-config-files"))
        .expect("the link resolves");
    // An import cut off before its marker: the files so far, no package.json.
    fs_err::remove_file(package_dir.join("package.json")).expect("remove the marker");
    fs_err::remove_file(package_dir.join("allow.json")).expect("remove a file");
    fs_err::remove_file(config_link(&project, "tack-config-files")).expect("unlink");

    assert_success(
        &project.tack(&["install", "--frozen-lockfile"]),
        "install over the partial directory",
    );
    assert!(package_dir.join("package.json").is_file());
    assert!(package_dir.join("allow.json").is_file());
}

#[test]
fn undeclared_entries_and_pnpm_10_directories_are_replaced() {
    let registry = registry::start();
    let project = locked_project(&registry);
    let config_dir = project.dir().join("node_modules/.pnpm-config");
    // pnpm 10 imported config dependencies as directories; a dependency no longer declared
    // left its link.
    fs_err::create_dir_all(config_dir.join("tack-config-files/patches")).expect("old dir");
    fs_err::write(config_dir.join("tack-config-files/package.json"), "{}").expect("old file");
    std::os::unix::fs::symlink("../somewhere", config_dir.join("gone-config")).expect("link");
    fs_err::create_dir_all(config_dir.join("@old/scoped-config")).expect("old scoped");

    let out = project.tack(&["install", "--frozen-lockfile"]);
    assert_success(&out, "install");
    let names: Vec<String> = tree::snapshot(&config_dir, &|_| false)
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        names,
        [
            "@old",
            "@tack-test",
            "@tack-test/pnpm-plugin-cfg",
            "tack-config-files"
        ]
    );
    assert!(
        fs_err::symlink_metadata(config_link(&project, "tack-config-files"))
            .expect("link")
            .is_symlink()
    );
    assert!(config_link(&project, "tack-config-files")
        .join(PATCH_PATH.rsplit_once("tack-config-files/").expect("rel").1)
        .is_file());
}

/// The lockfile's env document, edited by `edit`.
fn edit_lockfile(project: &TestProject, edit: impl FnOnce(&str) -> String) {
    let path = project.dir().join("pnpm-lock.yaml");
    let text = fs_err::read_to_string(&path).expect("lockfile");
    fs_err::write(&path, edit(&text)).expect("write lockfile");
}

/// Runs both tools on copies of `project` and checks that each fails with `code` and
/// leaves no `node_modules`.
fn assert_both_refuse(project: &TestProject, code: &str) -> Output {
    let mut tack_out = None;
    for tool in ["pnpm", "tack"] {
        let copy = clone_inputs(project);
        let out = copy.run_tool(tool, &["install", "--frozen-lockfile"]);
        assert!(!out.status.success(), "{tool} installed:\n{}", stdout(&out));
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(text.contains(code), "{tool} did not say {code}:\n{text}");
        assert!(
            !copy.dir().join("node_modules/.pnpm").exists(),
            "{tool} installed packages"
        );
        assert!(!copy.dir().join("node_modules/.pnpm-config").exists());
        tack_out = Some(out);
    }
    tack_out.expect("ran")
}

#[test]
fn a_config_dependency_the_lockfile_does_not_lock_is_refused_as_pnpm_refuses_it() {
    let registry = registry::start();
    let project = locked_project(&registry);
    let yaml = project.dir().join("pnpm-workspace.yaml");
    let text = fs_err::read_to_string(&yaml).expect("yaml");
    fs_err::write(
        &yaml,
        text.replace("tack-config-files: 1.0.0", "tack-config-files: ^1.0.0"),
    )
    .expect("write yaml");
    let out = assert_both_refuse(&project, "ERR_PNPM_FROZEN_LOCKFILE_WITH_OUTDATED_LOCKFILE");
    assert!(
        stderr(&out).contains("tack-config-files"),
        "{}",
        stderr(&out)
    );

    // A lockfile without the env document (written before the config dependencies were).
    let project = locked_project(&registry);
    edit_lockfile(&project, |text| {
        let main = text[4..].find("\n---\n").expect("two documents") + 4 + 5;
        text[main..].to_string()
    });
    assert_both_refuse(&project, "ERR_PNPM_FROZEN_LOCKFILE_WITH_OUTDATED_LOCKFILE");
}

#[test]
fn an_env_document_without_the_package_entry_is_corrupted() {
    let registry = registry::start();
    let project = locked_project(&registry);
    edit_lockfile(&project, |text| {
        let entry = text
            .lines()
            .skip_while(|line| !line.starts_with("  tack-config-files@1.0.0:"))
            .take(2)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(entry.contains("resolution"), "{entry}");
        text.replacen(&format!("{entry}\n"), "", 1)
    });
    let copy = clone_inputs(&project);
    let out = copy.tack(&["install", "--frozen-lockfile"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("ERR_PNPM_ENV_LOCKFILE_CORRUPTED")
            && stderr(&out).contains("tack-config-files@1.0.0"),
        "{}",
        stderr(&out)
    );
    assert!(!copy.dir().join("node_modules").exists());
}

#[test]
fn a_config_dependency_whose_tarball_fails_its_integrity_is_not_linked() {
    let registry = registry::start();
    let project = locked_project(&registry);
    // The registry now serves other bytes under the locked version.
    registry.add_package(PackageDef::new("tack-config-files", "1.0.0").file(
        "patches/is-odd@3.0.1.patch",
        b"tampered".to_vec(),
        0o644,
    ));
    let copy = clone_inputs(&project);
    // Refused at once, not after the retries' back-off.
    copy.add_settings("fetchRetries: 0\n");
    let out = copy.tack(&["install", "--frozen-lockfile"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("ERR_PNPM_TARBALL_INTEGRITY"),
        "{}",
        stderr(&out)
    );
    assert!(!config_link(&copy, "tack-config-files").exists());
    assert!(!copy.dir().join("node_modules/.pnpm").exists());
    let links = copy.store().join("v11/links/@/tack-config-files");
    let complete = tree::snapshot(&links, &|_| false)
        .keys()
        .any(|rel| rel.ends_with("package.json"));
    assert!(!complete, "a package directory was left complete-looking");
    assert!(!Path::new(&copy.dir().join(PATCH_PATH)).exists());
}

/// Installs copies of `reference` with both tools and compares their trees.
fn assert_both_install_alike(reference: &TestProject) -> TestProject {
    let (tack, pnpm) = install_both(reference);
    let differences = tree::diff(&project_tree(&pnpm), &project_tree(&tack));
    assert!(
        differences.is_empty(),
        "tack's tree differs from pnpm 12's:\n{}",
        differences.join("\n")
    );
    tack
}

#[test]
fn a_plugins_update_config_hook_supplies_the_catalog_as_in_pnpm() {
    let registry = registry::start();
    registry.add_package(
        PackageDef::new("pnpm-plugin-tack-catalog", "1.0.0").file(
            "pnpmfile.cjs",
            b"module.exports = { hooks: { updateConfig (config) {\n  config.catalogs = { ...config.catalogs, default: { ...(config.catalogs || {}).default, 'is-odd': '3.0.1' } }\n  return config\n} } }\n".to_vec(),
            0o644,
        ),
    );
    let project = new_project(
        &registry,
        "catalog:",
        "configDependencies:\n  pnpm-plugin-tack-catalog: 1.0.0\n",
    );
    project.lock_with_pnpm();
    let tack = assert_both_install_alike(&project);
    assert!(tack
        .dir()
        .join("node_modules/is-odd/package.json")
        .is_file());
}

#[test]
fn the_workspace_pnpmfiles_update_config_hook_changes_the_tree_as_in_pnpm() {
    let registry = registry::start();
    let project = new_project(&registry, "3.0.1", "");
    project.write(
        ".pnpmfile.cjs",
        "module.exports = { hooks: { updateConfig (config) {\n  console.log('a hook that prints')\n  return { ...config, publicHoistPattern: ['is-number'] }\n} } }\n",
    );
    project.lock_with_pnpm();
    let tack = assert_both_install_alike(&project);
    assert!(
        fs_err::symlink_metadata(tack.dir().join("node_modules/is-number"))
            .expect("is-number hoisted to the root, as the hook asks")
            .is_symlink()
    );
    // The no-op gate sees the same settings on the next run.
    let again = tack.tack(&["install", "--frozen-lockfile"]);
    assert_success(&again, "repeat install");
    assert!(
        stdout(&again).contains("Lockfile is up to date"),
        "{}",
        stdout(&again)
    );
    assert!(!stdout(&again).contains("Packages:"), "{}", stdout(&again));

    // A hook that throws stops the install before anything is written.
    let broken = clone_inputs(&project);
    broken.write(
        ".pnpmfile.cjs",
        "module.exports = { hooks: { updateConfig () { throw new Error('no config today') } } }\n",
    );
    let out = broken.tack(&["install", "--frozen-lockfile"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("ERR_PNPM_PNPMFILE_FAIL") && stderr(&out).contains("no config today"),
        "{}",
        stderr(&out)
    );
    assert!(!broken.dir().join("node_modules").exists());
}

/// Sets the modification time of everything below `dir` an hour back, past `store prune`'s
/// grace period for files and slots an install may have just written.
fn age_tree(dir: &Path) {
    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for entry in fs_err::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        let meta = fs_err::symlink_metadata(&path).expect("stat");
        if meta.is_dir() {
            age_tree(&path);
        }
        if !meta.is_symlink() {
            fs_err::File::open(&path)
                .expect("open")
                .set_modified(past)
                .expect("set mtime");
        }
    }
}

#[test]
fn store_prune_removes_the_slots_no_project_links_any_more_as_pnpm_does() {
    let registry = registry::start();
    let reference = locked_project(&registry);
    let (tack, pnpm) = install_both(&reference);
    // The plugin is dropped from the declarations and the lockfile; each tool installs again,
    // which unlinks it from `.pnpm-config`, and prunes its store.
    let dropped = new_project(
        &registry,
        "3.0.1",
        &format!(
            "configDependencies:\n  tack-config-files: 1.0.0\npatchedDependencies:\n  is-odd@3.0.1: {PATCH_PATH}\n"
        ),
    );
    dropped.lock_with_pnpm();
    let mut outputs = Vec::new();
    for (project, tool) in [(&tack, "tack"), (&pnpm, "pnpm")] {
        for file in ["pnpm-workspace.yaml", "pnpm-lock.yaml"] {
            fs_err::copy(dropped.dir().join(file), project.dir().join(file)).expect("copy");
        }
        assert_success(
            &project.run_tool(tool, &["install", "--frozen-lockfile"]),
            "install without the plugin",
        );
        age_tree(&project.store());
        let store = project.store();
        let out = match tool {
            "pnpm" => project.pnpm(&["store", "prune"]),
            _ => project.tack(&[
                "store",
                "prune",
                "--store-dir",
                store.to_str().expect("utf-8"),
            ]),
        };
        assert_success(&out, "store prune");
        // Both write these lines to stderr.
        assert!(out.stdout.is_empty(), "{tool}: {}", stdout(&out));
        outputs.push(comparable_output(&out.stderr));
    }
    let [tack_out, pnpm_out] = &outputs[..] else {
        unreachable!()
    };
    assert!(
        pnpm_out.contains(&"Removed 1 package from global virtual store".to_string()),
        "{pnpm_out:?}"
    );
    assert_eq!(tack_out, pnpm_out);
    let differences = tree::diff(&links_tree(&pnpm), &links_tree(&tack));
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    let links = tack.store().join("v11/links");
    assert!(
        !links.join("@tack-test").exists(),
        "the plugin's scope went"
    );
    assert!(links.join("@/tack-config-files/1.0.0").is_dir());
    // What stays linked still installs from the store.
    fs_err::remove_dir_all(tack.dir().join("node_modules")).expect("remove node_modules");
    assert_success(
        &tack.tack(&["install", "--frozen-lockfile", "--offline"]),
        "offline install after the prune",
    );
}
