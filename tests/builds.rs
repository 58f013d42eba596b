//! The build step of `tack install`: dependency lifecycle scripts under `allowBuilds`, the
//! projects' own scripts, `--ignore-scripts`, patches and the side-effects cache (shared with
//! real pnpm 12 both ways). The fixture packages `tack-build-*` log every script run to
//! `build-log.txt` in the project dir (`INIT_CWD`), outside any package dir. `tack-gyp-addon`
//! is a Node-API C addon built by the implicit `node-gyp rebuild`.

use std::os::unix::fs::MetadataExt;
use std::process::Output;

use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha512};
use tack_suite::conformance::{
    clone_inputs, comparable_output, normalized_modules_yaml, project_tree, publish,
    publish_with_file,
};
use tack_suite::project::{assert_success, TestProject};
use tack_suite::registry;
use tack_suite::tree;

const DEP_DIR: &str = "node_modules/.pnpm/tack-build-dep@1.0.0/node_modules/tack-build-dep";

const APPROVE_ALL: &str = "allowBuilds:\n  tack-build-dep: true\n  tack-build-parent: true\n  tack-build-optional-fail: true\n  tack-build-fail: true\n";

/// A project with `manifest`, resolved by pnpm against the test registry (scripts ignored),
/// then copied without `node_modules` into a fresh project with an empty store.
fn resolved(registry_url: &str, manifest: Value, workspace_yaml: &str) -> TestProject {
    let resolver = TestProject::new();
    write_inputs(&resolver, registry_url, &manifest, workspace_yaml);
    let out = resolver.pnpm(&["install", "--no-frozen-lockfile", "--ignore-scripts"]);
    assert_success(&out, "pnpm install (resolving)");
    let project = clone_inputs(&resolver);
    let _ = fs_err::remove_file(project.dir().join("build-log.txt"));
    project
}

fn write_inputs(project: &TestProject, registry_url: &str, manifest: &Value, workspace_yaml: &str) {
    project.write("package.json", &manifest.to_string());
    project.write(".npmrc", &format!("registry={registry_url}\n"));
    project.write(
        "pnpm-workspace.yaml",
        &format!("minimumReleaseAge: 0\n{workspace_yaml}"),
    );
}

fn set_workspace_yaml(project: &TestProject, extra: &str) {
    project.write(
        "pnpm-workspace.yaml",
        &format!("minimumReleaseAge: 0\n{extra}"),
    );
}

fn build_manifest() -> Value {
    json!({
        "name": "builds-project",
        "version": "1.0.0",
        "dependencies": {"tack-build-parent": "1.0.0"},
        "optionalDependencies": {"tack-build-optional-fail": "1.0.0"},
        "scripts": {
            "preinstall": "echo pre >> root-scripts.txt",
            "postinstall": "echo post >> root-scripts.txt",
            "prepare": "echo prepare >> root-scripts.txt"
        }
    })
}

fn read(project: &TestProject, rel: &str) -> String {
    fs_err::read_to_string(project.dir().join(rel)).unwrap_or_default()
}

fn log(project: &TestProject) -> String {
    read(project, "build-log.txt")
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn modules_yaml(project: &TestProject) -> Value {
    serde_json::from_str(&read(project, "node_modules/.modules.yaml")).expect(".modules.yaml")
}

fn clear_node_modules(project: &TestProject) {
    fs_err::remove_dir_all(project.dir().join("node_modules")).expect("remove node_modules");
}

/// `tack store status` against the project's store.
fn store_status(project: &TestProject) -> Output {
    let store = project.store();
    project.tack(&[
        "store",
        "status",
        "--store-dir",
        store.to_str().expect("utf-8 path"),
    ])
}

#[test]
fn approved_builds_run_in_order_and_the_side_effects_cache_is_hit_the_second_time() {
    let registry = registry::start();
    let project = resolved(&registry.url(), build_manifest(), APPROVE_ALL);

    let out = project.tack(&["install", "--frozen-lockfile"]);
    assert_success(&out, "tack install");
    // Dependencies first (tack-build-parent's install checks that tack-build-dep is built).
    assert_eq!(
        log(&project),
        "tack-build-dep preinstall\ntack-build-dep postinstall\ntack-build-parent install\n"
    );
    let all = text(&out);
    assert!(
        all.contains("tack-build-dep postinstall: tack-build-dep: built"),
        "script output is streamed with its package prefix:\n{all}"
    );
    // The optional package's failing install script is skipped without a warning (as in
    // pnpm 12: its script's lines say it failed), and the package is taken out of the tree.
    assert!(
        all.contains("tack-build-optional-fail install: Failed"),
        "{all}"
    );
    assert!(!all.contains("WARN"), "{all}");
    assert!(
        fs_err::symlink_metadata(project.dir().join("node_modules/tack-build-optional-fail"))
            .is_err()
    );
    // The project's own scripts ran after the dependencies, in pnpm's order.
    assert_eq!(read(&project, "root-scripts.txt"), "pre\npost\nprepare\n");
    assert_eq!(
        read(&project, &format!("{DEP_DIR}/built.txt")),
        "built by postinstall\n"
    );

    // The postinstall rewrote index.js in a copy: the CAS file keeps the tarball's content.
    let index_js = project.dir().join(format!("{DEP_DIR}/index.js"));
    assert_eq!(
        fs_err::read_to_string(&index_js).unwrap(),
        "module.exports = 'built';\n"
    );
    assert_eq!(
        fs_err::metadata(&index_js).unwrap().nlink(),
        1,
        "built packages are copied"
    );
    let original = "module.exports = 'not built';\n";
    let digest = hex::encode(Sha512::digest(original.as_bytes()));
    let cas = project
        .store()
        .join("v11/files")
        .join(&digest[..2])
        .join(&digest[2..]);
    assert_eq!(fs_err::read_to_string(&cas).unwrap(), original);
    assert_success(&store_status(&project), "tack store status after a build");
    let modules = modules_yaml(&project);
    assert!(modules.get("ignoredBuilds").is_none(), "{modules}");

    // Second install from an empty node_modules: tack-build-dep comes built from the cache.
    clear_node_modules(&project);
    let out = project.tack(&["install", "--frozen-lockfile"]);
    assert_success(&out, "tack install (cached)");
    assert_eq!(
        log(&project).matches("tack-build-dep").count(),
        2,
        "tack-build-dep's scripts ran again:\n{}",
        log(&project)
    );
    assert_eq!(
        read(&project, &format!("{DEP_DIR}/built.txt")),
        "built by postinstall\n"
    );
    assert_eq!(
        fs_err::read_to_string(&index_js).unwrap(),
        "module.exports = 'built';\n"
    );
    assert_success(
        &store_status(&project),
        "tack store status after a cached build",
    );
}

/// A warm install reads index rows without their manifests; a package it builds has its
/// row written back with the side-effects cache entry, and that row keeps its manifest.
#[test]
fn a_build_from_rows_read_lean_writes_them_back_whole() {
    let registry = registry::start();
    let project = resolved(&registry.url(), build_manifest(), APPROVE_ALL);
    let out = project.tack(&["install", "--frozen-lockfile", "--ignore-scripts"]);
    assert_success(&out, "tack install --ignore-scripts");
    clear_node_modules(&project);
    let out = project.tack(&["install", "--frozen-lockfile"]);
    assert_success(&out, "tack install from the store, with builds");
    assert!(log(&project).contains("tack-build-dep postinstall"));

    let store = tack_store_dir::StoreDir::new(project.store().join("v11"));
    let index = tack_store_dir::StoreIndex::open(&store).expect("index.db");
    let rows = index
        .get_many(&index.all_keys().expect("keys"))
        .expect("rows");
    let built: Vec<_> = rows
        .iter()
        .filter(|(_, row)| row.side_effects.is_some())
        .collect();
    assert!(!built.is_empty(), "no side-effects cache entry was written");
    for (key, row) in built {
        let manifest = row
            .manifest
            .as_ref()
            .unwrap_or_else(|| panic!("{key}: no manifest"));
        assert!(manifest.get("scripts").is_some(), "{key}: {manifest}");
    }
}

/// esbuild's postinstall swaps its JS launcher for the native binary; the `.bin` shim written
/// before the build would run `node` on it. Bins are linked again after builds, and a target
/// without a shebang gets pnpm's direct-exec shim.
#[test]
fn a_bin_replaced_by_its_build_is_linked_again_to_run_directly() {
    let registry = registry::start();
    let manifest = json!({
        "name": "bin-build-project",
        "version": "1.0.0",
        "dependencies": {"tack-build-bin": "1.0.0"}
    });
    let project = resolved(
        &registry.url(),
        manifest,
        "allowBuilds:\n  tack-build-bin: true\n",
    );
    let out = project.tack(&["install", "--frozen-lockfile"]);
    assert_success(&out, "tack install");
    let run = std::process::Command::new(project.dir().join("node_modules/.bin/tack-build-bin"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "native-tool\n",
        "the shim does not run the rebuilt bin directly: {}",
        String::from_utf8_lossy(&run.stderr)
    );
}

#[test]
fn unapproved_builds_fail_after_linking_then_run_once_approved() {
    let registry = registry::start();
    let project = resolved(&registry.url(), build_manifest(), "");

    let out = project.tack(&["install", "--frozen-lockfile"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("ERR_PNPM_IGNORED_BUILDS"), "{all}");
    for pkg in [
        "tack-build-dep@1.0.0",
        "tack-build-parent@1.0.0",
        "tack-build-optional-fail@1.0.0",
    ] {
        // miette wraps long lines in a box: compare without the wrapping.
        let flat: String = all
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '│')
            .collect();
        assert!(flat.contains(pkg), "{pkg} is not named:\n{all}");
    }
    assert!(all.contains("allowBuilds"), "says how to approve:\n{all}");
    // The tree is linked and nothing ran.
    assert!(project
        .dir()
        .join("node_modules/tack-build-parent/index.js")
        .exists());
    assert_eq!(log(&project), "");
    let modules = modules_yaml(&project);
    assert_eq!(
        modules["ignoredBuilds"],
        json!([
            "tack-build-dep@1.0.0",
            "tack-build-optional-fail@1.0.0",
            "tack-build-parent@1.0.0"
        ])
    );

    // Approving in pnpm-workspace.yaml gets past the no-op gate and builds the reused dirs.
    set_workspace_yaml(&project, APPROVE_ALL);
    let out = project.tack(&["install", "--frozen-lockfile"]);
    assert_success(&out, "tack install after approving");
    assert_eq!(
        log(&project),
        "tack-build-dep preinstall\ntack-build-dep postinstall\ntack-build-parent install\n"
    );
    assert!(modules_yaml(&project).get("ignoredBuilds").is_none());
}

/// An install killed while a dependency's build script runs leaves that build pending: the
/// next install builds the package instead of trusting its reused dir as built.
/// Starts `tack install` in `project` (which depends on `tack-build-slow`, approved) and
/// kills it, with its script, once the slow build has started: the build waits for
/// `slow-release` in the project, which does not exist yet.
fn kill_install_during_the_slow_build(project: &TestProject) {
    use std::os::unix::process::CommandExt;
    use std::time::{Duration, Instant};
    use tack_suite::kill::Running;

    let mut cmd = project.command(&tack_suite::tack_bin());
    cmd.args(["install", "--frozen-lockfile", "--store-dir"])
        .arg(project.store())
        .process_group(0);
    let run = Running::spawn(cmd);
    let started = project.dir().join("slow-started");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !started.exists() {
        assert!(Instant::now() < deadline, "the slow build never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(50));
    let script_pid: i32 = read(project, "slow-started").trim().parse().expect("pid");
    // SAFETY: kill(2) on the install's process group and on its script's pid, both still
    // running (the script waits for slow-release, which does not exist yet).
    unsafe {
        libc::kill(-run.pid(), libc::SIGKILL);
        libc::kill(script_pid, libc::SIGKILL);
    }
    let killed = run.wait(Duration::from_secs(30));
    assert!(!killed.success(), "{}", killed.describe());
}

/// An install killed during a dependency's build has recorded nothing (pnpm 12 writes
/// `.modules.yaml` and `.pnpm/lock.yaml` once the dependencies are built), and the next install
/// builds the package instead of trusting its unbuilt directory.
#[test]
fn an_install_killed_during_a_build_records_nothing_and_the_next_install_builds_it() {
    let registry = registry::start();
    let manifest = json!({
        "name": "slow-project",
        "version": "1.0.0",
        "dependencies": {"tack-build-slow": "1.0.0"}
    });
    let project = resolved(
        &registry.url(),
        manifest,
        "allowBuilds:\n  tack-build-slow: true\n",
    );
    kill_install_during_the_slow_build(&project);
    let built = project
        .dir()
        .join("node_modules/.pnpm/tack-build-slow@1.0.0/node_modules/tack-build-slow/built.txt");
    assert!(!built.exists(), "the killed build must not have finished");
    assert_eq!(state_files_left(&project), Vec::<&str>::new());

    project.write("slow-release", "");
    let out = project.tack(&["install", "--frozen-lockfile"]);
    assert_success(&out, "tack install after the killed one");
    assert!(
        built.exists(),
        "the next install must build it: {}",
        text(&out)
    );
    assert_eq!(modules_yaml(&project)["pendingBuilds"], json!([]));
}

/// An install killed during a build, after the lockfile changed under a complete tree, leaves
/// the next install something to do. The killed install had written its state for the new
/// lockfile before the build; the no-op check then found the last install's list of package
/// markers, all still there, and answered "Already up to date" with the build never run.
#[test]
fn an_install_killed_during_a_build_after_a_lockfile_change_is_not_up_to_date() {
    let registry = registry::start();
    let allow = "allowBuilds:\n  tack-build-slow: true\n";
    let project = resolved(
        &registry.url(),
        json!({"name": "p", "version": "1.0.0", "dependencies": {"is-odd": "3.0.1"}}),
        allow,
    );
    assert_success(
        &project.tack(&["install", "--frozen-lockfile"]),
        "first install",
    );
    let changed = resolved(
        &registry.url(),
        json!({"name": "p", "version": "1.0.0",
               "dependencies": {"is-odd": "3.0.1", "tack-build-slow": "1.0.0"}}),
        allow,
    );
    for file in ["package.json", "pnpm-lock.yaml"] {
        project.write(file, &read(&changed, file));
    }

    kill_install_during_the_slow_build(&project);

    project.write("slow-release", "");
    let out = project.tack(&["install", "--frozen-lockfile"]);
    assert_success(&out, "tack install after the killed one");
    assert!(
        text(&out).contains("postinstall$ node slow.js"),
        "{}",
        text(&out)
    );
    assert!(
        project
            .dir()
            .join("node_modules/.pnpm/tack-build-slow@1.0.0/node_modules/tack-build-slow/built.txt")
            .exists(),
        "the next install must build it: {}",
        text(&out)
    );
}

/// A second tack install of a project waits for the one running (it says so) instead of
/// working in the same package directories; both then succeed.
#[test]
fn a_second_install_of_a_project_waits_for_the_first() {
    use std::time::{Duration, Instant};
    use tack_suite::kill::Running;

    let registry = registry::start();
    let project = resolved(
        &registry.url(),
        json!({"name": "p", "version": "1.0.0", "dependencies": {"tack-build-slow": "1.0.0"}}),
        "allowBuilds:\n  tack-build-slow: true\n",
    );
    let install = || {
        let mut cmd = project.command(&tack_suite::tack_bin());
        cmd.args(["install", "--frozen-lockfile", "--store-dir"])
            .arg(project.store());
        Running::spawn(cmd)
    };
    let first = install();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !project.dir().join("slow-started").exists() {
        assert!(Instant::now() < deadline, "the slow build never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let second = install();
    std::thread::sleep(Duration::from_millis(500));
    project.write("slow-release", "");
    let first = first.wait(Duration::from_secs(60));
    let second = second.wait(Duration::from_secs(60));
    assert!(first.success(), "{}", first.describe());
    assert!(second.success(), "{}", second.describe());
    assert!(
        second
            .describe()
            .contains("Waiting for another tack install"),
        "{}",
        second.describe()
    );
}

/// A package copied for its build by an install that stopped before its end (its directory
/// complete, never built, and no record of a complete install of it) is imported and built
/// again by the next install; it used to be taken for built. The state is made by hand: the
/// built output and the record of the last complete install removed.
#[test]
fn a_package_copied_for_a_build_that_never_ran_is_built_by_the_next_install() {
    let registry = registry::start();
    let project = resolved(
        &registry.url(),
        json!({"name": "p", "version": "1.0.0", "dependencies": {"tack-build-dep": "1.0.0"}}),
        "allowBuilds:\n  tack-build-dep: true\nsideEffectsCache: false\n",
    );
    assert_success(
        &project.tack(&["install", "--frozen-lockfile"]),
        "first install",
    );
    let built = project.dir().join(DEP_DIR).join("built.txt");
    assert!(built.exists());
    for rel in [
        format!("{DEP_DIR}/built.txt"),
        "node_modules/.pnpm/lock.yaml".to_string(),
        "node_modules/.pnpm/.tack-markers".to_string(),
    ] {
        fs_err::remove_file(project.dir().join(rel)).expect("simulate the stopped install");
    }
    let out = project.tack(&["install", "--frozen-lockfile"]);
    assert_success(&out, "the next install");
    assert!(
        built.exists(),
        "the next install must build it: {}",
        text(&out)
    );
}

/// Run with `strictDepBuilds: false`, tack prints what pnpm 12 prints, line for line and in
/// pnpm's order: the package counts, the final progress line, the ignored builds with pnpm's
/// advice (plain lines, not a warning), the summary. tack printed the counts after the
/// progress line, and the ignored builds as a warning of its own wording.
#[test]
fn an_install_with_ignored_builds_prints_what_pnpm_prints() {
    let registry = registry::start();
    let reference = resolved(
        &registry.url(),
        json!({"name": "p", "version": "1.0.0",
               "dependencies": {"tack-build-dep": "1.0.0", "is-odd": "3.0.1"}}),
        "strictDepBuilds: false\n",
    );
    let mut outputs = Vec::new();
    for tool in ["pnpm", "tack"] {
        let project = clone_inputs(&reference);
        let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        assert_success(&out, tool);
        outputs.push(tack_suite::conformance::comparable_output(&out.stdout));
    }
    assert_eq!(outputs[0], outputs[1]);
    assert!(
        outputs[1]
            .iter()
            .any(|l| l == "Ignored build scripts: tack-build-dep@1.0.0."),
        "{:#?}",
        outputs[1]
    );
}

#[test]
fn ignore_scripts_runs_nothing_and_records_pending_builds() {
    let registry = registry::start();
    let project = resolved(&registry.url(), build_manifest(), APPROVE_ALL);
    let out = project.tack(&["install", "--frozen-lockfile", "--ignore-scripts"]);
    assert_success(&out, "tack install --ignore-scripts");
    assert_eq!(log(&project), "");
    assert_eq!(read(&project, "root-scripts.txt"), "");
    let modules = modules_yaml(&project);
    // The root's own scripts were skipped too: pnpm 12 records it first.
    assert_eq!(
        modules["pendingBuilds"],
        json!([
            ".",
            "tack-build-dep@1.0.0",
            "tack-build-optional-fail@1.0.0",
            "tack-build-parent@1.0.0"
        ])
    );
}

#[test]
fn a_failing_build_exits_1_naming_the_package_script_and_exit_code() {
    let registry = registry::start();
    let manifest =
        json!({"name": "p", "version": "1.0.0", "dependencies": {"tack-build-fail": "1.0.0"}});
    let project = resolved(&registry.url(), manifest, APPROVE_ALL);
    let out = project.tack(&["install", "--frozen-lockfile"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    for needle in [
        "ERR_PNPM_EXECUTOR_LIFECYCLE_SCRIPT_FAILED",
        "tack-build-fail@1.0.0",
        "postinstall",
        "exit code 3",
        "tack-build-fail: about to fail",
    ] {
        assert!(all.contains(needle), "{needle:?} missing:\n{all}");
    }
    // Nothing marks the tree as up to date: the next run tries the build again.
    let again = project.tack(&["install", "--frozen-lockfile"]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(text(&again).contains("exit code 3"));
}

const GOOD_PATCH: &str = tack_suite::conformance::IS_ODD_PATCH;

/// Takes the postinstall out of `tack-build-dep` (its preinstall stays).
const DROP_POSTINSTALL_PATCH: &str = "diff --git a/package.json b/package.json
--- a/package.json
+++ b/package.json
@@ -5,7 +5,6 @@
   \"main\": \"index.js\",
   \"license\": \"MIT\",
   \"scripts\": {
-    \"preinstall\": \"node log.js preinstall\",
-    \"postinstall\": \"node build.js\"
+    \"preinstall\": \"node log.js preinstall\"
   }
 }
";

/// A patch that takes a script out: the scripts run are the patched package.json's, as in
/// pnpm 12 (tack ran the store copy's, so the dropped postinstall ran anyway).
#[test]
fn a_patched_package_runs_its_patched_scripts_like_pnpm() {
    let registry = registry::start();
    let resolver = TestProject::new();
    let manifest =
        json!({"name": "p", "version": "1.0.0", "dependencies": {"tack-build-dep": "1.0.0"}});
    write_inputs(
        &resolver,
        &registry.url(),
        &manifest,
        "allowBuilds:\n  tack-build-dep: true\npatchedDependencies:\n  tack-build-dep@1.0.0: patches/tack-build-dep@1.0.0.patch\n",
    );
    resolver.write("patches/tack-build-dep@1.0.0.patch", DROP_POSTINSTALL_PATCH);
    assert_success(
        &resolver.pnpm(&["install", "--no-frozen-lockfile", "--ignore-scripts"]),
        "pnpm install (resolving a patch)",
    );
    for tool in ["pnpm", "tack"] {
        let project = clone_inputs(&resolver);
        let _ = fs_err::remove_file(project.dir().join("build-log.txt"));
        let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        assert_success(&out, tool);
        // Through the project's link: a patched package's slot name carries the patch hash.
        let dir = project.dir().join("node_modules/tack-build-dep");
        let manifest = read(&project, "node_modules/tack-build-dep/package.json");
        assert!(
            manifest.contains("\"preinstall\"") && !manifest.contains("\"postinstall\""),
            "{tool}: the patch is applied: {manifest}"
        );
        assert!(
            !dir.join("built.txt").exists(),
            "{tool} ran the dropped postinstall: {}",
            text(&out)
        );
        assert!(
            log(&project).contains("preinstall"),
            "{tool}: {}",
            text(&out)
        );
    }
}

fn patched_project(registry_url: &str) -> TestProject {
    let resolver = TestProject::new();
    let manifest = json!({"name": "p", "version": "1.0.0", "dependencies": {"is-odd": "3.0.1"}});
    write_inputs(
        &resolver,
        registry_url,
        &manifest,
        "patchedDependencies:\n  is-odd@3.0.1: patches/is-odd@3.0.1.patch\n",
    );
    resolver.write("patches/is-odd@3.0.1.patch", GOOD_PATCH);
    let out = resolver.pnpm(&["install", "--no-frozen-lockfile", "--ignore-scripts"]);
    assert_success(&out, "pnpm install (resolving a patch)");
    clone_inputs(&resolver)
}

/// An install's stdout lines in the order printed, without those that differ by tool or by run.
fn lines_in_order(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.contains("supply-chain") && !l.starts_with("Done in"))
        .map(str::to_string)
        .collect()
}

/// Ignored builds are not printed again over a tree the install leaves as it was (a setting
/// that changes no package), where pnpm 12 says only that the lockfile is up to date; over a
/// tree whose project link it made again they are, after "Already up to date", as pnpm 12
/// orders them. (tack printed them both times, and "Already up to date" after them.)
#[test]
fn ignored_builds_are_printed_again_only_by_an_install_that_links_like_pnpm() {
    let registry = registry::start();
    let manifest = json!({"name": "p", "version": "1.0.0",
                          "dependencies": {"tack-build-dep": "1.0.0", "is-odd": "3.0.1"}});
    let reference = resolved(&registry.url(), manifest, "strictDepBuilds: false\n");
    let [pnpm, tack] = ["pnpm", "tack"].map(|tool| {
        let project = clone_inputs(&reference);
        assert_success(
            &project.run_tool(tool, &["install", "--frozen-lockfile"]),
            tool,
        );
        project.add_settings("modulesCacheMaxAge: 100\n");
        let untouched = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        assert_success(&untouched, tool);
        fs_err::remove_file(project.dir().join("node_modules/is-odd")).unwrap();
        let relinked = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        assert_success(&relinked, tool);
        [lines_in_order(&untouched), lines_in_order(&relinked)]
    });
    assert_eq!(tack, pnpm, "tack's lines, then pnpm's");
    // What pnpm 12 printed, so that a change of pnpm's shows here rather than as a tack bug.
    assert_eq!(
        pnpm[0],
        ["Lockfile is up to date, resolution step is skipped"]
    );
    let at = |line: &str| pnpm[1].iter().position(|l| l.starts_with(line));
    assert!(
        at("Already up to date") < at("Ignored build scripts")
            && at("Ignored build scripts").is_some(),
        "{:?}",
        pnpm[1]
    );
}

/// The ignored builds are printed before the project's own scripts run, as pnpm 12 prints
/// them. (tack printed them after the root's `postinstall` output.)
#[test]
fn ignored_builds_are_printed_before_the_project_scripts_like_pnpm() {
    let registry = registry::start();
    let reference = resolved(
        &registry.url(),
        json!({"name": "p", "version": "1.0.0",
               "scripts": {"postinstall": "echo root-post"},
               "dependencies": {"tack-build-dep": "1.0.0"}}),
        "strictDepBuilds: false\n",
    );
    let mut outputs = Vec::new();
    for tool in ["pnpm", "tack"] {
        let project = clone_inputs(&reference);
        let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        assert_success(&out, tool);
        outputs.push(tack_suite::conformance::comparable_output(&out.stdout));
    }
    assert_eq!(outputs[0], outputs[1]);
    let at = |text: &str| outputs[1].iter().position(|l| l.contains(text));
    let (Some(ignored), Some(script)) = (at("Ignored build scripts"), at("postinstall: root-post"))
    else {
        panic!("a line is missing: {:#?}", outputs[1]);
    };
    assert!(ignored < script, "{:#?}", outputs[1]);
}

/// Applying a patch prints nothing in pnpm 12: the output is pnpm's, line for line. (tack
/// printed `node_modules/.pnpm/is-odd@3.0.1…: applied patch patches/is-odd@3.0.1.patch`.)
#[test]
fn an_install_that_patches_prints_what_pnpm_prints() {
    let registry = registry::start();
    let reference = patched_project(&registry.url());
    let mut outputs = Vec::new();
    for tool in ["pnpm", "tack"] {
        let project = clone_inputs(&reference);
        let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        assert_success(&out, tool);
        let patched = fs_err::read_to_string(project.dir().join("node_modules/is-odd/index.js"));
        assert!(patched.unwrap().contains("patched"), "{tool} did not patch");
        outputs.push(tack_suite::conformance::comparable_output(&out.stdout));
    }
    assert_eq!(outputs[0], outputs[1]);
}

/// A patch of a package this install leaves out (a devDependency under `--prod`; likewise an
/// optional one this platform skips) is no unused patch: pnpm 12 installs, and tack failed
/// with `ERR_PNPM_UNUSED_PATCH`.
#[test]
fn a_patch_of_a_package_left_out_by_prod_is_not_unused_like_pnpm() {
    let registry = registry::start();
    let resolver = TestProject::new();
    let manifest = json!({"name": "p", "version": "1.0.0",
        "dependencies": {"is-number": "7.0.0"}, "devDependencies": {"is-odd": "3.0.1"}});
    write_inputs(
        &resolver,
        &registry.url(),
        &manifest,
        "patchedDependencies:\n  is-odd@3.0.1: patches/is-odd@3.0.1.patch\n",
    );
    resolver.write("patches/is-odd@3.0.1.patch", GOOD_PATCH);
    assert_success(
        &resolver.pnpm(&["install", "--no-frozen-lockfile", "--ignore-scripts"]),
        "pnpm install (resolving a patch)",
    );
    for tool in ["pnpm", "tack"] {
        let project = clone_inputs(&resolver);
        let out = project.run_tool(tool, &["install", "--frozen-lockfile", "--prod"]);
        assert_success(&out, tool);
        assert!(
            project.dir().join("node_modules/is-number").exists(),
            "{tool}"
        );
        assert!(
            !project.dir().join("node_modules/is-odd").exists(),
            "{tool}"
        );
    }
}

/// An install stopped after its state files were written and before its patches ran (killed
/// during an earlier build, or ended by one that failed) leaves an unpatched copy under a
/// record that has it, and its sentinel: the next install imports the package again and
/// patches it. (It was taken for patched, and stayed unpatched.) The state is made by hand.
#[test]
fn a_patch_an_interrupted_install_never_applied_is_applied_by_the_next() {
    let registry = registry::start();
    let project = patched_project(&registry.url());
    assert_success(
        &project.tack(&["install", "--frozen-lockfile"]),
        "first install",
    );
    let index = project.dir().join("node_modules/is-odd/index.js");
    let patched = fs_err::read_to_string(&index).expect("index.js");
    assert!(patched.contains("expected a patched number"), "{patched}");
    // What the stopped install left: the copy as imported, before its patch.
    fs_err::remove_file(&index).expect("unlink the patched copy");
    fs_err::write(
        &index,
        patched.replace("expected a patched number", "expected a number"),
    )
    .expect("unpatched copy");
    fs_err::write(
        project.dir().join("node_modules/.tack-install-in-progress"),
        "",
    )
    .expect("sentinel");
    let _ = fs_err::remove_file(project.dir().join("node_modules/.pnpm/.tack-markers"));
    let out = project.tack(&["install", "--frozen-lockfile"]);
    assert_success(&out, "the next install");
    let again = fs_err::read_to_string(&index).expect("index.js");
    assert!(
        again.contains("expected a patched number"),
        "{again}\n{}",
        text(&out)
    );
    assert!(!project
        .dir()
        .join("node_modules/.tack-install-in-progress")
        .exists());
}

/// `scriptShell` names the shell scripts run in, as in pnpm 12: a script written for bash
/// (`[[ … ]]`, `$BASH_VERSION`) runs. tack always ran `sh`, where it fails or sees no bash.
#[test]
fn scripts_run_in_the_script_shell_like_pnpm() {
    let registry = registry::start();
    let manifest = json!({"name": "ss", "version": "1.0.0",
        "dependencies": {"is-odd": "3.0.1"},
        "scripts": {"postinstall": "[[ 1 == 1 ]] && echo \"$BASH_VERSION\" > shell.txt"}});
    let reference = resolved(&registry.url(), manifest, "scriptShell: bash\n");
    for tool in ["pnpm", "tack"] {
        let project = clone_inputs(&reference);
        let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        assert_success(&out, tool);
        let shell = read(&project, "shell.txt");
        assert!(!shell.trim().is_empty(), "{tool}: no bash: {}", text(&out));
    }
}

/// `permissions.<pkg>.build` (pnpm 12.11+) decides over `allowBuilds`: `true` approves a
/// build no `allowBuilds` entry names, `false` denies one `allowBuilds` approves, and
/// `.modules.yaml` records the decision, as pnpm 12.21 does. tack read the setting and
/// ignored it.
#[test]
fn build_permissions_decide_over_allow_builds_like_pnpm() {
    let registry = registry::start();
    let manifest =
        json!({"name": "p", "version": "1.0.0", "dependencies": {"tack-build-dep": "1.0.0"}});
    for (settings, built) in [
        ("permissions:\n  tack-build-dep:\n    build: true\n", true),
        (
            "allowBuilds:\n  tack-build-dep: true\npermissions:\n  tack-build-dep:\n    build: false\n",
            false,
        ),
    ] {
        let reference = resolved(&registry.url(), manifest.clone(), settings);
        let mut recorded = Vec::new();
        for tool in ["pnpm", "tack"] {
            let project = clone_inputs(&reference);
            let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
            assert_success(&out, tool);
            assert_eq!(
                project.dir().join(DEP_DIR).join("built.txt").exists(),
                built,
                "{tool}, {settings}: {}",
                text(&out)
            );
            recorded.push(modules_yaml(&project)["allowBuilds"].clone());
        }
        assert_eq!(recorded[0], recorded[1], "{settings}");
    }
}

/// `allowBuilds` goes into `.modules.yaml` with its keys sorted by code unit, as pnpm 12
/// records it, whatever their order in pnpm-workspace.yaml.
#[test]
fn allow_builds_is_recorded_with_sorted_keys_like_pnpm() {
    let registry = registry::start();
    let manifest =
        json!({"name": "p", "version": "1.0.0", "dependencies": {"tack-build-dep": "1.0.0"}});
    let settings = "allowBuilds:\n  tack-build-dep: true\n  zeta: false\n  JSONStream: false\n  \"@x/y\": true\n  abc: false\n";
    let reference = resolved(&registry.url(), manifest, settings);
    let mut recorded = Vec::new();
    for tool in ["pnpm", "tack"] {
        let project = clone_inputs(&reference);
        let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        assert_success(&out, tool);
        let keys: Vec<String> = modules_yaml(&project)["allowBuilds"]
            .as_object()
            .expect("allowBuilds recorded")
            .keys()
            .cloned()
            .collect();
        recorded.push(keys);
    }
    assert_eq!(
        recorded[0],
        ["@x/y", "JSONStream", "abc", "tack-build-dep", "zeta"],
        "pnpm's order"
    );
    assert_eq!(recorded[1], recorded[0]);
}

/// An approval taken back after the package was built makes it an ignored build again, as
/// pnpm 12 reports it (`ERR_PNPM_IGNORED_BUILDS`, and `ignoredBuilds` recorded). tack took
/// the built package for approved and answered the re-install with success.
#[test]
fn a_revoked_build_approval_is_an_ignored_build_like_pnpm() {
    let registry = registry::start();
    let manifest =
        json!({"name": "p", "version": "1.0.0", "dependencies": {"tack-build-dep": "1.0.0"}});
    let reference = resolved(&registry.url(), manifest, APPROVE_ALL);
    let mut recorded = Vec::new();
    for tool in ["pnpm", "tack"] {
        let project = clone_inputs(&reference);
        assert_success(
            &project.run_tool(tool, &["install", "--frozen-lockfile"]),
            tool,
        );
        set_workspace_yaml(&project, "");
        let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        assert!(
            !out.status.success() && text(&out).contains("ERR_PNPM_IGNORED_BUILDS"),
            "{tool}: {}",
            text(&out)
        );
        recorded.push(modules_yaml(&project)["ignoredBuilds"].clone());
    }
    assert_eq!(recorded[0], recorded[1]);
    assert_eq!(recorded[1], json!(["tack-build-dep@1.0.0"]));
}

#[test]
fn a_patch_is_applied_to_a_copy() {
    let registry = registry::start();
    let project = patched_project(&registry.url());
    let lock = read(&project, "pnpm-lock.yaml");
    assert!(lock.contains("patch_hash="), "{lock}");
    let out = project.tack(&["install", "--frozen-lockfile"]);
    assert_success(&out, "tack install with a patch");
    let index = project.dir().join("node_modules/is-odd/index.js");
    let content = fs_err::read_to_string(&index).unwrap();
    assert!(content.contains("expected a patched number"), "{content}");
    assert_eq!(
        fs_err::metadata(&index).unwrap().nlink(),
        1,
        "patched packages are copied"
    );
    assert_success(&store_status(&project), "tack store status after a patch");

    // From the side-effects cache the second time, still patched.
    clear_node_modules(&project);
    let out = project.tack(&["install", "--frozen-lockfile"]);
    assert_success(&out, "tack install with a cached patch");
    let content = fs_err::read_to_string(&index).unwrap();
    assert!(content.contains("expected a patched number"), "{content}");
}

/// A patch file edited after an install no longer matches the lockfile's hash: pnpm 12 refuses
/// the next frozen install, and the no-op gate must not call the tree up to date (it did: the
/// patch files were not among the inputs it stamps).
#[test]
fn an_edited_patch_is_not_a_noop() {
    let registry = registry::start();
    let project = patched_project(&registry.url());
    assert_success(
        &project.tack(&["install", "--frozen-lockfile"]),
        "tack install with a patch",
    );
    std::thread::sleep(std::time::Duration::from_millis(20));
    project.write(
        "patches/is-odd@3.0.1.patch",
        &GOOD_PATCH.replace("a patched number", "a patched odd number"),
    );
    let out = project.tack(&["install", "--frozen-lockfile"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("ERR_PNPM_LOCKFILE_CONFIG_MISMATCH"), "{all}");
    assert!(all.contains("patchedDependencies"), "{all}");
}

/// Replaces the project's `is-odd` patch with one whose hunk no longer matches the package,
/// and records its hash in the lockfile, so that the install gets as far as patching.
fn break_the_patch(project: &TestProject) {
    let broken = GOOD_PATCH.replace("expected a number');\n+", "expected no number');\n+");
    let old_hash = hex::encode(Sha256::digest(GOOD_PATCH.as_bytes()));
    let new_hash = hex::encode(Sha256::digest(broken.as_bytes()));
    project.write("patches/is-odd@3.0.1.patch", &broken);
    let lock = read(project, "pnpm-lock.yaml");
    assert!(
        lock.contains(&old_hash),
        "the lockfile records the patch hash:\n{lock}"
    );
    project.write("pnpm-lock.yaml", &lock.replace(&old_hash, &new_hash));
}

#[test]
fn a_patch_that_does_not_apply_fails_with_err_pnpm_patch_failed() {
    let registry = registry::start();
    let project = patched_project(&registry.url());
    break_the_patch(&project);

    let out = project.tack(&["install", "--frozen-lockfile"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("ERR_PNPM_PATCH_FAILED"), "{all}");
    assert!(all.contains("is-odd@3.0.1"), "{all}");
}

#[test]
fn pnpm_uses_the_side_effects_cache_tack_wrote() {
    let registry = registry::start();
    let project = resolved(&registry.url(), build_manifest(), APPROVE_ALL);
    assert_success(
        &project.tack(&["install", "--frozen-lockfile"]),
        "tack install",
    );
    assert_eq!(log(&project).matches("tack-build-dep").count(), 2);

    clear_node_modules(&project);
    let out = project.pnpm(&["install", "--frozen-lockfile"]);
    assert_success(&out, "pnpm install on tack's store");
    assert_eq!(
        log(&project).matches("tack-build-dep").count(),
        2,
        "pnpm ran tack-build-dep's scripts again:\n{}\n{}",
        log(&project),
        text(&out)
    );
    assert_eq!(
        read(&project, &format!("{DEP_DIR}/built.txt")),
        "built by postinstall\n"
    );
}

#[test]
fn tack_uses_the_side_effects_cache_pnpm_wrote() {
    let registry = registry::start();
    let project = resolved(&registry.url(), build_manifest(), APPROVE_ALL);
    assert_success(
        &project.pnpm(&["install", "--frozen-lockfile"]),
        "pnpm install",
    );
    assert_eq!(log(&project).matches("tack-build-dep").count(), 2);

    clear_node_modules(&project);
    let out = project.tack(&["install", "--frozen-lockfile"]);
    assert_success(&out, "tack install on pnpm's store");
    assert_eq!(
        log(&project).matches("tack-build-dep").count(),
        2,
        "tack ran tack-build-dep's scripts again:\n{}\n{}",
        log(&project),
        text(&out)
    );
    assert_eq!(
        read(&project, &format!("{DEP_DIR}/built.txt")),
        "built by postinstall\n"
    );
    assert_success(&store_status(&project), "tack store status");
}

/// pnpm 12's side-effects cache key hashes every child the lockfile lists for a package: an
/// optional one this platform skips (as esbuild's platform packages) hashed like any other,
/// one `--no-optional` leaves out as `""`. tack finds pnpm's cached build either way. (tack
/// hashed only the children it installed, missed pnpm's entry and ran the build again.)
#[test]
fn the_side_effects_cache_key_counts_skipped_optional_children_like_pnpm() {
    let registry = registry::start();
    let manifest = json!({"name": "p", "version": "1.0.0",
        "dependencies": {"tack-build-platform": "1.0.0"}});
    for flags in [&[][..], &["--no-optional"][..]] {
        let project = resolved(
            &registry.url(),
            manifest.clone(),
            "allowBuilds:\n  tack-build-platform: true\n",
        );
        let args: Vec<&str> = ["install", "--frozen-lockfile"]
            .iter()
            .chain(flags)
            .copied()
            .collect();
        assert_success(&project.pnpm(&args), "pnpm install");
        assert_eq!(
            log(&project),
            "tack-build-platform postinstall\n",
            "{flags:?}"
        );
        clear_node_modules(&project);
        let out = project.tack(&args);
        assert_success(&out, "tack install on pnpm's store");
        assert_eq!(
            log(&project),
            "tack-build-platform postinstall\n",
            "{flags:?}: tack built again:\n{}",
            text(&out)
        );
        assert_eq!(
            read(&project, "node_modules/tack-build-platform/built.txt"),
            "built by postinstall\n"
        );
    }
}

/// A built package inside a dependency cycle (`cyc-b` of `cyc-a ⇄ cyc-b`) and one reaching it
/// (`cyc-top`): pnpm 12.17+ hashes the cycle as a whole for the side-effects cache key, and
/// tack finds both of pnpm's cached builds. (tack cut the cycle as older pnpm did, missed
/// both entries and built again.)
#[test]
fn the_side_effects_cache_key_hashes_a_cycle_like_pnpm() {
    let registry = registry::start();
    // Each build writes a file into its package, or pnpm caches nothing for it.
    let logs = |name: &str| {
        json!({"postinstall": format!(
            "node -e \"const fs = require('fs'); fs.writeFileSync('built.txt', 'x'); \
             fs.appendFileSync(process.env.INIT_CWD + '/build-log.txt', '{name}\\\\n')\""
        )})
    };
    publish(
        &registry,
        "cyc-a",
        "1.0.0",
        json!({"dependencies": {"cyc-b": "1.0.0"}}),
    );
    publish(
        &registry,
        "cyc-b",
        "1.0.0",
        json!({"dependencies": {"cyc-a": "1.0.0"}, "scripts": logs("cyc-b")}),
    );
    publish(
        &registry,
        "cyc-top",
        "1.0.0",
        json!({"dependencies": {"cyc-a": "1.0.0"}, "scripts": logs("cyc-top")}),
    );
    let project = resolved(
        &registry.url(),
        json!({"name": "p", "version": "1.0.0", "dependencies": {"cyc-top": "1.0.0"}}),
        "allowBuilds:\n  cyc-b: true\n  cyc-top: true\n",
    );
    assert_success(
        &project.pnpm(&["install", "--frozen-lockfile"]),
        "pnpm install",
    );
    let built = log(&project);
    assert_eq!(built.lines().count(), 2, "{built}");
    clear_node_modules(&project);
    let out = project.tack(&["install", "--frozen-lockfile"]);
    assert_success(&out, "tack install on pnpm's store");
    assert_eq!(log(&project), built, "tack built again:\n{}", text(&out));
}

/// A build from a tarball URL (not the registry's own, so it stays a tarball entry) and one
/// from a git clone: pnpm 12.21 hashes their ids with `name@` for the side-effects key, and the
/// git one with the object-hash of its resolution after it; tack finds both cached builds.
/// (tack dropped `name@` and hashed a git package as `:undefined`, and built both again.)
#[test]
fn the_side_effects_cache_keys_of_tarball_url_and_git_packages_are_pnpm_12s() {
    let registry = registry::start();
    let repo = tempfile::tempdir().unwrap();
    let script = "node -e \"const fs = require('fs'); fs.writeFileSync('built.txt', 'x'); \
                  fs.appendFileSync(process.env.INIT_CWD + '/build-log.txt', 'gd\\\\n')\"";
    fs_err::write(
        repo.path().join("package.json"),
        json!({"name": "gd", "version": "1.0.0", "scripts": {"postinstall": script}}).to_string(),
    )
    .unwrap();
    for args in [&["init", "-q"][..], &["add", "-A"], &["commit", "-qm", "x"]] {
        tack_suite::git::git_in(repo.path(), args);
    }
    let tarball = format!(
        "{}tack-build-dep/-/tack-build-dep-1.0.0.tgz",
        registry.url().replace("127.0.0.1", "localhost")
    );
    let project = resolved(
        &registry.url(),
        json!({"name": "p", "version": "1.0.0", "dependencies": {
            "tack-build-dep": tarball,
            "gd": format!("git+file://{}", repo.path().display()),
        }}),
        "dangerouslyAllowAllBuilds: true\n",
    );
    let lockfile = read(&project, "pnpm-lock.yaml");
    assert!(lockfile.contains("tack-build-dep@http"), "{lockfile}");
    assert_success(
        &project.pnpm(&["install", "--frozen-lockfile"]),
        "pnpm install",
    );
    let built = log(&project);
    assert!(
        built.contains("tack-build-dep postinstall") && built.contains("gd"),
        "{built}"
    );
    clear_node_modules(&project);
    let out = project.tack(&["install", "--frozen-lockfile"]);
    assert_success(&out, "tack install on pnpm's store");
    assert_eq!(log(&project), built, "tack built again:\n{}", text(&out));
}

const GYP_DIR: &str = "node_modules/tack-gyp-addon";

/// The prefix of the `node` on PATH (two levels above its real path), whose `include/node`
/// holds the headers node-gyp compiles against, so the test never downloads headers.
fn node_prefix() -> std::path::PathBuf {
    let path = std::env::var_os("PATH").expect("PATH is set");
    let node = std::env::split_paths(&path)
        .map(|dir| dir.join("node"))
        .find(|p| p.is_file())
        .expect("node is on PATH");
    let real = fs_err::canonicalize(&node).expect("real path of node");
    let prefix = real
        .parent()
        .and_then(|bin| bin.parent())
        .expect("node lives in <prefix>/bin")
        .to_path_buf();
    let header = prefix.join("include/node/node_api.h");
    assert!(
        header.is_file(),
        "{} is missing: the node-gyp test compiles against the headers of the node on PATH \
         ({}); install node's development headers there",
        header.display(),
        real.display()
    );
    prefix
}

/// A project depending on `tack-gyp-addon@version`, with `workspace_yaml` settings.
fn gyp_project(registry_url: &str, version: &str, workspace_yaml: &str) -> TestProject {
    let manifest = json!({
        "name": "p",
        "version": "1.0.0",
        "dependencies": {"tack-gyp-addon": version}
    });
    resolved(registry_url, manifest, workspace_yaml)
}

/// `tack install --frozen-lockfile` with node-gyp pointed at the local node headers.
fn tack_install_with_nodedir(project: &TestProject) -> Output {
    project
        .command(&tack_suite::tack_bin())
        .args(["install", "--frozen-lockfile", "--store-dir"])
        .arg(project.store())
        .env("npm_config_nodedir", node_prefix())
        .output()
        .expect("run tack")
}

#[test]
fn a_binding_gyp_package_is_built_with_node_gyp_when_allowed() {
    let registry = registry::start();
    let project = gyp_project(
        &registry.url(),
        "1.0.0",
        "allowBuilds:\n  tack-gyp-addon: true\n",
    );

    let out = tack_install_with_nodedir(&project);
    assert_success(&out, "tack install of a node-gyp addon");
    let addon = project.dir().join(GYP_DIR).join("build/Release/addon.node");
    assert!(
        addon.is_file(),
        "node-gyp rebuild did not produce {}:\n{}",
        addon.display(),
        text(&out)
    );
    let run = project
        .command(std::path::Path::new("node"))
        .args(["-e", "console.log(require('tack-gyp-addon').hello())"])
        .output()
        .expect("run node");
    assert_success(&run, "loading the built addon");
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "world");
    // node-gyp wrote build/ into a copy: the CAS still holds only the tarball's files.
    assert_eq!(
        fs_err::metadata(project.dir().join(GYP_DIR).join("addon.c"))
            .unwrap()
            .nlink(),
        1,
        "built packages are copied"
    );
    assert_success(
        &store_status(&project),
        "tack store status after a node-gyp build",
    );
}

/// pnpm 12: `gypfile: false` turns a `binding.gyp` into a plain file. The package needs no
/// `allowBuilds` entry (an unapproved build would fail the install) and nothing is built.
#[test]
fn a_binding_gyp_package_with_gypfile_false_is_not_built_and_needs_no_approval() {
    let registry = registry::start();
    let project = gyp_project(&registry.url(), "1.0.1", "");

    let out = tack_install_with_nodedir(&project);
    assert_success(&out, "tack install of a gypfile: false package");
    let modules = modules_yaml(&project);
    assert!(modules.get("ignoredBuilds").is_none(), "{modules}");
    let pkg = project.dir().join(GYP_DIR);
    assert!(pkg.join("binding.gyp").is_file(), "the package is linked");
    assert!(
        !pkg.join("build").exists(),
        "node-gyp ran despite gypfile: false:\n{}",
        text(&out)
    );
    assert!(!text(&out).contains("node-gyp"), "{}", text(&out));
}

/// Writes the script's whole environment to `env-<package name>.json` in `INIT_CWD`.
const DUMP_ENV_JS: &str = "const fs = require('fs'), path = require('path');\n\
    fs.writeFileSync(path.join(process.env.INIT_CWD, 'env-' + process.env.npm_package_name + '.json'), JSON.stringify(process.env));\n";

/// The environment each of `env-root`, `env-dep` and the workspace project `env-sub` saw
/// in its postinstall.
fn script_envs(project: &TestProject) -> [serde_json::Map<String, Value>; 3] {
    ["env-root", "env-dep", "env-sub"].map(|name| {
        let path = format!("env-{name}.json");
        let env: Value = serde_json::from_str(&read(project, &path))
            .unwrap_or_else(|e| panic!("{path} was not written by the postinstall: {e}"));
        let _ = fs_err::remove_file(project.dir().join(&path));
        env.as_object().expect("an object").clone()
    })
}

#[test]
fn scripts_see_the_environment_pnpm_gives_them() {
    let project = TestProject::new();
    project.write(
        "package.json",
        &json!({
            "name": "env-root",
            "version": "1.2.3",
            "description": "not exported",
            "bin": "root-cli.js",
            "config": {"port": "8080", "dash-key.x": "y", "nested": {"list": ["a", 2, null, false, true]}},
            "engines": {"node": ">=18"},
            "dependencies": {"env-dep": "file:./env-dep"},
            "scripts": {"postinstall": "node dump-env.js"}
        })
        .to_string(),
    );
    project.write("dump-env.js", DUMP_ENV_JS);
    project.write("root-cli.js", "#!/usr/bin/env node\n");
    project.write(
        "env-dep/package.json",
        &json!({
            "name": "env-dep",
            "version": "0.1.0",
            "bin": {"env-dep-cli": "cli.js"},
            "config": {"a": "b"},
            "engines": {"node": ">=16", "npm": ">=7"},
            "scripts": {"postinstall": "node dump-env.js"}
        })
        .to_string(),
    );
    project.write("env-dep/dump-env.js", DUMP_ENV_JS);
    project.write("env-dep/cli.js", "#!/usr/bin/env node\n");
    project.write(
        "packages/sub/package.json",
        &json!({
            "name": "env-sub",
            "version": "2.0.0",
            "dependencies": {"env-dep": "file:../../env-dep"},
            "scripts": {"postinstall": "node dump-env.js"}
        })
        .to_string(),
    );
    project.write("packages/sub/dump-env.js", DUMP_ENV_JS);
    project.write(
        "pnpm-workspace.yaml",
        "packages: ['packages/*']\ndangerouslyAllowAllBuilds: true\n",
    );

    assert_success(&project.pnpm(&["install"]), "pnpm install");
    let by_pnpm = script_envs(&project);
    clear_node_modules(&project);
    assert_success(
        &project.tack(&["install", "--frozen-lockfile"]),
        "tack install",
    );
    let by_tack = script_envs(&project);

    // Same values as pnpm's. `npm_package_version` of a `file:` dependency is the manifest's
    // version, not the lockfile's `file:env-dep`.
    const SAME: [&str; 10] = [
        "INIT_CWD",
        "PNPM_SCRIPT_SRC_DIR",
        "npm_lifecycle_event",
        "npm_lifecycle_script",
        "npm_command",
        "NODE",
        "npm_node_execpath",
        "TMPDIR",
        "pnpm_config_verify_deps_before_run",
        "npm_package_json",
    ];
    for (pnpm, tack) in by_pnpm.iter().zip(&by_tack) {
        let package = &pnpm["npm_package_name"];
        let npm_package = |env: &serde_json::Map<String, Value>| -> Vec<(String, Value)> {
            let mut vars: Vec<_> = env
                .iter()
                .filter(|(k, _)| k.starts_with("npm_package_"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            vars.sort_by(|a, b| a.0.cmp(&b.0));
            vars
        };
        assert_eq!(
            npm_package(tack),
            npm_package(pnpm),
            "npm_package_* of {package}"
        );
        for key in SAME {
            assert!(pnpm.contains_key(key), "pnpm sets {key} (for {package})");
            assert_eq!(tack.get(key), pnpm.get(key), "{key} of {package}");
        }
        // The same PATH up to the caller's own, in the same order; node-gyp's bin dir is
        // pnpm's bundled one there and npm's here (when npm has one), so it is left out.
        let own_path = std::env::var("PATH").unwrap_or_default();
        let added = |env: &serde_json::Map<String, Value>| -> Vec<String> {
            let path = env["PATH"].as_str().expect("PATH");
            let added = path
                .strip_suffix(own_path.as_str())
                .expect("ends with PATH");
            added
                .split(':')
                .filter(|d| !d.is_empty() && !d.ends_with("node-gyp-bin"))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(added(tack), added(pnpm), "PATH of {package}");
        // pnpm's first, so that `npx only-allow pnpm` lets tack install; tack's last.
        assert!(
            tack["npm_config_user_agent"]
                .as_str()
                .is_some_and(|ua| ua.starts_with("pnpm/12.21.0 ") && ua.contains(" tack/")),
            "{tack:?}"
        );
        assert!(
            tack.contains_key("npm_execpath"),
            "npm_execpath of {package}"
        );
        // pnpm's TMPDIR exists when the script runs.
        let tmp = tack["TMPDIR"].as_str().expect("TMPDIR");
        assert!(std::path::Path::new(tmp).is_dir(), "{tmp}");
    }
}

/// `unsafePerm: true` keeps the user's own `TMPDIR` for scripts; without it (as root, like
/// CI) scripts get the package-local `node_modules/.tmp`. Same as pnpm 12 either way.
#[test]
fn unsafe_perm_decides_the_scripts_tmpdir_like_pnpm() {
    let project = TestProject::new();
    project.write(
        "package.json",
        &json!({
            "name": "env-root",
            "version": "1.0.0",
            "scripts": {"postinstall": "node dump-env.js"}
        })
        .to_string(),
    );
    project.write("dump-env.js", DUMP_ENV_JS);
    let user_tmp = project.root().join("user-tmp");
    fs_err::create_dir_all(&user_tmp).unwrap();
    let tmpdir_seen = |program: &std::path::Path, args: &[&str]| -> String {
        let mut cmd = project.command(program);
        cmd.args(args)
            .arg("--store-dir")
            .arg(project.store())
            .env("TMPDIR", &user_tmp);
        assert_success(&cmd.output().expect("run"), &format!("{args:?}"));
        let env: Value = serde_json::from_str(&read(&project, "env-env-root.json")).expect("env");
        let _ = fs_err::remove_dir_all(project.dir().join("node_modules"));
        env["TMPDIR"].as_str().expect("TMPDIR").to_string()
    };
    // As root, unsafePerm defaults to false; the test asserts the setting, not the uid.
    for (yaml, expected) in [
        (
            "unsafePerm: false\n",
            project.dir().join("node_modules/.tmp"),
        ),
        ("unsafePerm: true\n", user_tmp.clone()),
    ] {
        project.write("pnpm-workspace.yaml", yaml);
        let by_pnpm = tmpdir_seen(&tack_suite::pnpm_bin(), &["install"]);
        let by_tack = tmpdir_seen(&tack_suite::tack_bin(), &["install", "--frozen-lockfile"]);
        assert_eq!(by_pnpm, expected.to_str().unwrap(), "pnpm with {yaml:?}");
        assert_eq!(by_tack, by_pnpm, "tack with {yaml:?}");
    }
}

/// A project whose `preinstall` lets only pnpm install it (what `npx only-allow pnpm` checks:
/// the first word of `npm_config_user_agent`) installs with tack as with pnpm 12. (tack's
/// user agent started with `tack/`, and the install failed.)
#[test]
fn a_preinstall_that_allows_only_pnpm_lets_tack_install() {
    let registry = registry::start();
    let check = "node -e \"const ua = process.env.npm_config_user_agent || ''; \
                 if (!/^pnpm\\//.test(ua)) { console.error('Use pnpm: ' + ua); process.exit(1) }\"";
    let manifest = json!({"name": "only-pnpm", "version": "1.0.0",
        "scripts": {"preinstall": check},
        "dependencies": {"is-odd": "3.0.1"}});
    let project = tack_suite::conformance::resolved_project(&manifest.to_string(), &registry.url());
    for tool in ["pnpm", "tack"] {
        let copy = clone_inputs(&project);
        let out = copy.run_tool(tool, &["install", "--frozen-lockfile"]);
        assert_success(&out, tool);
        assert!(copy.dir().join("node_modules/is-odd").exists(), "{tool}");
    }
}

/// The projects' own install scripts run as pnpm 12 runs them: the root's `preinstall` before
/// anything is installed; every project after the workspace projects it depends on (here `ms`
/// before `ui`, which needs it, and `ui`, injected, before `app`), each project's stages in
/// order. (tack ran the root's `preinstall` after the install, and the projects in name order:
/// `ms` last.)
#[test]
fn project_scripts_run_in_pnpm_s_order() {
    let registry = registry::start();
    let log = "\"$INIT_CWD/order.log\"";
    let scripts = |name: &str| {
        let mut scripts = serde_json::Map::new();
        for stage in ["preinstall", "install", "postinstall", "prepare"] {
            scripts.insert(stage.into(), json!(format!("echo {name}:{stage} >> {log}")));
        }
        if name == "root" {
            scripts.insert(
                "preinstall".into(),
                json!(format!(
                    "if test -d node_modules/.pnpm; then echo root:late >> {log}; else echo root:preinstall >> {log}; fi"
                )),
            );
        }
        Value::Object(scripts)
    };
    let project = TestProject::new();
    project
        .write(
            "package.json",
            &json!({"name": "root", "version": "1.0.0", "private": true, "scripts": scripts("root")})
                .to_string(),
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write(
            "pnpm-workspace.yaml",
            "packages:\n  - packages/*\nminimumReleaseAge: 0\nstrictDepBuilds: false\n",
        )
        .write(
            "packages/app/package.json",
            &json!({"name": "app", "version": "1.0.0", "scripts": scripts("app"),
                    "dependencies": {"ui": "workspace:*", "is-odd": "^3.0.1"},
                    "dependenciesMeta": {"ui": {"injected": true}}})
            .to_string(),
        )
        .write(
            "packages/ui/package.json",
            &json!({"name": "ui", "version": "1.0.0", "scripts": scripts("ui"),
                    "dependencies": {"ms": "workspace:*"}})
            .to_string(),
        )
        .write(
            "packages/ms/package.json",
            &json!({"name": "ms", "version": "9.9.9", "scripts": scripts("ms")}).to_string(),
        );
    project.lock_with_pnpm();
    for tool in ["pnpm", "tack"] {
        let copy = clone_inputs(&project);
        let out = copy.run_tool(tool, &["install", "--frozen-lockfile"]);
        assert_success(&out, tool);
        let text = fs_err::read_to_string(copy.dir().join("order.log")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.first(), Some(&"root:preinstall"), "{tool}: {lines:?}");
        let at = |line: &str| {
            lines
                .iter()
                .position(|l| *l == line)
                .unwrap_or_else(|| panic!("{tool}: no {line} in {lines:?}"))
        };
        for name in ["root", "ms", "ui", "app"] {
            let stages = ["preinstall", "install", "postinstall", "prepare"];
            let positions: Vec<usize> = stages.iter().map(|s| at(&format!("{name}:{s}"))).collect();
            assert!(
                positions.windows(2).all(|w| w[0] < w[1]),
                "{tool}: {lines:?}"
            );
        }
        assert!(at("ms:prepare") < at("ui:preinstall"), "{tool}: {lines:?}");
        assert!(at("ui:prepare") < at("app:preinstall"), "{tool}: {lines:?}");
    }
}

/// Under `--prod` the root project runs `preinstall`, `install` and `postinstall`, not the
/// `prepare` stages (they are for development), as pnpm 12 does; with `--dev` it runs all six.
/// (tack ran the `prepare` stages under `--prod` too.)
#[test]
fn prod_installs_run_no_prepare_scripts_like_pnpm() {
    let registry = registry::start();
    let mut scripts = serde_json::Map::new();
    for stage in [
        "preinstall",
        "install",
        "postinstall",
        "preprepare",
        "prepare",
        "postprepare",
    ] {
        scripts.insert(stage.into(), json!(format!("echo {stage} >> stages.log")));
    }
    let manifest = json!({"name": "root", "version": "1.0.0", "scripts": scripts,
                          "dependencies": {"is-odd": "^3.0.1"}});
    let project = resolved(&registry.url(), manifest, "");
    for flag in ["--prod", "--dev"] {
        let mut logs = Vec::new();
        for tool in ["pnpm", "tack"] {
            let copy = clone_inputs(&project);
            let out = copy.run_tool(tool, &["install", "--frozen-lockfile", flag]);
            assert_success(&out, &format!("{tool} {flag}"));
            logs.push(read(&copy, "stages.log"));
        }
        assert_eq!(logs[1], logs[0], "{flag}: tack's stages, then pnpm's");
        assert_eq!(
            logs[0].contains("prepare"),
            flag == "--dev",
            "{flag}: {}",
            logs[0]
        );
    }
}

/// Under `--ignore-scripts` the projects whose own install scripts were skipped are recorded in
/// `pendingBuilds` before the packages, as pnpm 12 records them. (tack recorded the packages
/// only.)
#[test]
fn ignored_project_scripts_are_pending_builds_like_pnpm() {
    let registry = registry::start();
    let project = TestProject::new();
    project
        .write(
            "package.json",
            r#"{"name": "root", "version": "1.0.0", "scripts": {"postinstall": "echo root"},
                "dependencies": {"tack-build-dep": "1.0.0"}}"#,
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write(
            "pnpm-workspace.yaml",
            "packages:\n  - packages/*\nminimumReleaseAge: 0\nstrictDepBuilds: false\n",
        )
        .write(
            "packages/zz/package.json",
            r#"{"name": "zz", "version": "1.0.0", "scripts": {"prepare": "echo zz"}}"#,
        )
        .write(
            "packages/plain/package.json",
            r#"{"name": "plain", "version": "1.0.0", "scripts": {"test": "echo t"}}"#,
        );
    project.lock_with_pnpm();
    let mut pending = Vec::new();
    for tool in ["pnpm", "tack"] {
        let copy = clone_inputs(&project);
        let out = copy.run_tool(tool, &["install", "--frozen-lockfile", "--ignore-scripts"]);
        assert_success(&out, tool);
        pending.push(modules_yaml(&copy)["pendingBuilds"].clone());
    }
    assert_eq!(pending[1], pending[0], "tack's pendingBuilds, then pnpm's");
    assert_eq!(pending[0][0], ".", "{}", pending[0]);
}

/// Projects that do not depend on each other run their scripts at the same time, as in pnpm 12
/// (`childConcurrency` of them): here each one's `postinstall` waits for the other's to start,
/// which one at a time never happens (the first gives up after 20 s and fails). tack ran the
/// projects one after the other.
#[test]
fn independent_projects_run_their_scripts_at_the_same_time_like_pnpm() {
    let script = |me: &str, other: &str| {
        format!(
            "touch \"$INIT_CWD/{me}.started\"; i=0; while [ ! -f \"$INIT_CWD/{other}.started\" ]; \
             do i=$((i+1)); if [ $i -gt 200 ]; then echo {me} waited alone; exit 1; fi; sleep 0.1; done"
        )
    };
    let project = TestProject::new();
    project
        .write(
            "package.json",
            r#"{"name": "root", "version": "1.0.0", "private": true}"#,
        )
        .write(
            "pnpm-workspace.yaml",
            "packages:\n  - packages/*\nchildConcurrency: 2\n",
        )
        .write(
            "packages/a/package.json",
            &json!({"name": "a", "version": "1.0.0", "scripts": {"postinstall": script("a", "b")}})
                .to_string(),
        )
        .write(
            "packages/b/package.json",
            &json!({"name": "b", "version": "1.0.0", "scripts": {"postinstall": script("b", "a")}})
                .to_string(),
        );
    for tool in ["pnpm", "tack"] {
        let copy = clone_inputs(&project);
        let out = copy.run_tool(tool, &["install"]);
        assert_success(&out, tool);
        for name in ["a", "b"] {
            assert!(
                copy.dir().join(format!("{name}.started")).exists(),
                "{tool}"
            );
        }
    }
}

/// Two peer variants of one built package (`tack-build-peer` with `peer-host` 1.0.0 and
/// 1.1.0) share one store index row, each build under its own side-effects key. Both keys
/// must be in the row, so the next install takes both builds from the cache: the row used to
/// be written once per variant, each time from the copy read before the builds, and the
/// second write dropped the first variant's entry.
#[test]
fn peer_variants_of_a_built_package_both_keep_their_side_effects_cache_entry() {
    let registry = registry::start();
    let fixture = TestProject::new();
    fixture
        .write(
            "package.json",
            r#"{"name":"root","version":"1.0.0","private":true,
               "dependencies":{"tack-build-peer":"1.0.0","peer-host":"1.0.0"}}"#,
        )
        .write(
            "packages/b/package.json",
            r#"{"name":"b","version":"1.0.0",
               "dependencies":{"tack-build-peer":"1.0.0","peer-host":"1.1.0"}}"#,
        )
        .write(
            "pnpm-workspace.yaml",
            "packages:\n  - packages/*\nallowBuilds:\n  tack-build-peer: true\n",
        );
    let resolved = tack_suite::conformance::resolve_with_pnpm(&fixture.dir(), &registry.url());
    let project = clone_inputs(&resolved);
    let _ = fs_err::remove_file(project.dir().join("build-log.txt"));
    assert_success(
        &project.tack(&["install", "--frozen-lockfile"]),
        "tack install",
    );
    assert_eq!(
        log(&project).matches("tack-build-peer postinstall").count(),
        2,
        "{}",
        log(&project)
    );

    let store = tack_store_dir::StoreDir::new(project.store().join("v11"));
    let index = tack_store_dir::StoreIndex::open(&store).expect("index.db");
    let rows = index
        .get_many(&index.all_keys().expect("keys"))
        .expect("rows");
    let (key, row) = rows
        .iter()
        .find(|(key, _)| key.contains("tack-build-peer@1.0.0"))
        .expect("a row for tack-build-peer");
    let cached = row.side_effects.as_ref().map_or(0, |entries| entries.len());
    assert_eq!(cached, 2, "{key}: {:?}", row.side_effects);
    drop(index);

    clear_node_modules(&project);
    fs_err::remove_dir_all(project.dir().join("packages/b/node_modules")).unwrap();
    assert_success(
        &project.tack(&["install", "--frozen-lockfile"]),
        "tack install from the store",
    );
    assert_eq!(
        log(&project).matches("tack-build-peer postinstall").count(),
        2,
        "a variant was built again instead of taken from the cache:\n{}",
        log(&project)
    );
}

/// A row deleted while a build runs (`tack store verify` or `prune` dropped it, and its files
/// may be gone with it) stays deleted: the build's side-effects entry used to be written into
/// the copy of the row read before the build, which brought the row back.
#[test]
fn a_row_deleted_during_a_build_is_not_written_back() {
    use std::time::{Duration, Instant};
    use tack_suite::kill::Running;

    let registry = registry::start();
    let manifest = json!({
        "name": "slow-project",
        "version": "1.0.0",
        "dependencies": {"tack-build-slow": "1.0.0"}
    });
    let project = resolved(
        &registry.url(),
        manifest,
        "allowBuilds:\n  tack-build-slow: true\n",
    );
    let mut cmd = project.command(&tack_suite::tack_bin());
    cmd.args(["install", "--frozen-lockfile", "--store-dir"])
        .arg(project.store());
    let run = Running::spawn(cmd);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !project.dir().join("slow-started").exists() {
        assert!(Instant::now() < deadline, "the slow build never started");
        std::thread::sleep(Duration::from_millis(10));
    }

    let store = tack_store_dir::StoreDir::new(project.store().join("v11"));
    let index = tack_store_dir::StoreIndex::open(&store).expect("index.db");
    let keys: Vec<String> = index
        .all_keys()
        .expect("keys")
        .into_iter()
        .filter(|key| key.contains("tack-build-slow@1.0.0"))
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    index.delete(&keys).expect("delete the row");
    project.write("slow-release", "");
    let finished = run.wait(Duration::from_secs(60));
    assert!(finished.success(), "{}", finished.describe());

    assert!(
        index.get_many(&keys).expect("rows").is_empty(),
        "the deleted row was written back"
    );
    assert!(project
        .dir()
        .join("node_modules/.pnpm/tack-build-slow@1.0.0/node_modules/tack-build-slow/built.txt")
        .exists());
}

/// `--allow-build <name>` adds to `allowBuilds` for this install (`!<name>` denies), as with
/// pnpm 12; tack stopped the flag with a usage error.
#[test]
fn allow_build_flags_decide_like_pnpm() {
    let registry = registry::start();
    let manifest = json!({
        "name": "allow-build-project",
        "version": "1.0.0",
        "dependencies": {"tack-build-dep": "1.0.0"}
    });
    let project = resolved(&registry.url(), manifest, "");
    let pnpm_project = clone_inputs(&project);
    for (tool, project) in [("tack", &project), ("pnpm", &pnpm_project)] {
        let out = project.run_tool(
            tool,
            &[
                "install",
                "--frozen-lockfile",
                "--allow-build",
                "tack-build-dep",
            ],
        );
        assert_success(&out, &format!("{tool} --allow-build"));
        assert_eq!(
            log(project),
            "tack-build-dep preinstall\ntack-build-dep postinstall\n",
            "{tool}: {}",
            text(&out)
        );
        assert_eq!(
            modules_yaml(project)["allowBuilds"],
            json!({"tack-build-dep": true}),
            "{tool}"
        );
    }

    // Denied on the command line over an approval in the workspace manifest.
    set_workspace_yaml(&project, "allowBuilds:\n  tack-build-dep: true\n");
    clear_node_modules(&project);
    let _ = fs_err::remove_file(project.dir().join("build-log.txt"));
    let out = project.tack(&[
        "install",
        "--frozen-lockfile",
        "--allow-build",
        "!tack-build-dep",
    ]);
    assert_eq!(log(&project), "", "{}", text(&out));
    assert!(project.dir().join(DEP_DIR).join("package.json").is_file());
}

/// `--force` imports a built package again from the side-effects cache, as pnpm 12 does: its
/// scripts do not run again, and the files its build wrote are back.
#[test]
fn force_imports_a_built_package_from_the_side_effects_cache_like_pnpm() {
    let registry = registry::start();
    let manifest = json!({
        "name": "force-build",
        "version": "1.0.0",
        "dependencies": {"tack-build-dep": "1.0.0"}
    });
    let reference = resolved(&registry.url(), manifest, APPROVE_ALL);
    for tool in ["pnpm", "tack"] {
        let project = clone_inputs(&reference);
        let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        assert_success(&out, &format!("{tool} install"));
        let built = project.dir().join(format!("{DEP_DIR}/built.txt"));
        fs_err::remove_file(&built).expect("delete built.txt");
        let out = project.run_tool(tool, &["install", "--frozen-lockfile", "--force"]);
        assert_success(&out, &format!("{tool} install --force"));
        assert_eq!(
            log(&project),
            "tack-build-dep preinstall\ntack-build-dep postinstall\n",
            "{tool}: the scripts ran once"
        );
        assert_eq!(
            read(&project, &format!("{DEP_DIR}/built.txt")),
            "built by postinstall\n",
            "{tool}: built.txt is back"
        );
        assert_eq!(
            read(&project, &format!("{DEP_DIR}/index.js")),
            "module.exports = 'built';\n",
            "{tool}: index.js is the built one"
        );
    }
}

/// A package published for [`failed_optional_builds_leave_the_tree_pnpm_leaves`]: a command
/// `name` and a postinstall that fails until the project has a file `ok`.
fn publish_failing_cli(registry: &tack_test_registry::TestRegistry, name: &str) {
    let script = format!("test -f \"$INIT_CWD/ok\" || {{ echo '{name}: failing'; exit 3; }}");
    publish_with_file(
        registry,
        name,
        "1.0.0",
        json!({"bin": {name: "cli.js"}, "scripts": {"postinstall": script}}),
        (
            "cli.js",
            b"#!/usr/bin/env node\nconsole.log('cli');\n",
            0o755,
        ),
    );
}

/// Notes in the project's `build-log.txt` whether `opt-fail-deep`, its optional dependency,
/// can be found when its own postinstall runs (after that of `opt-fail-deep`).
const PROBE_JS: &str = "let seen = 'absent';
try { require.resolve('opt-fail-deep/package.json'); seen = 'present'; } catch (e) {}
require('fs').appendFileSync(process.env.INIT_CWD + '/build-log.txt',
  'opt-fail-parent sees opt-fail-deep ' + seen + '\\n');
";

/// `stdout` for comparing two tools' runs: [`comparable_output`], with the script lines
/// sorted apart (scripts of one chunk run at the same time, their lines interleave).
fn comparable_with_scripts(out: &Output) -> (Vec<String>, Vec<String>) {
    let (mut scripts, rest): (Vec<String>, Vec<String>) = comparable_output(&out.stdout)
        .into_iter()
        .partition(|line| line.contains(" postinstall"));
    scripts.sort();
    (rest, scripts)
}

/// The trees (and `.modules.yaml`) of pnpm's and tack's copies are the same.
fn assert_same_trees(pnpm: &TestProject, tack: &TestProject, when: &str) {
    let differences = tree::diff(&project_tree(pnpm), &project_tree(tack));
    assert!(
        differences.is_empty(),
        "{when}: tack's tree differs from pnpm 12's:\n{}",
        differences.join("\n")
    );
    assert_eq!(
        normalized_modules_yaml(pnpm),
        normalized_modules_yaml(tack),
        "{when}: .modules.yaml differs"
    );
}

/// An optional dependency whose build fails is taken out of the tree as pnpm 12 takes it out:
/// its package directory goes, and so do the links to it from the projects (the root, a
/// workspace project) and from the hidden hoisting directory, with its command there, before
/// the packages that depend on it build. The projects' `.bin` shims and the links from the
/// slots of its dependents stay; `.modules.yaml` and `.pnpm/lock.yaml` keep it (nothing is
/// `skipped`); nothing is printed but the script's lines, and the install succeeds. The next
/// install imports it again, builds its dependents again and retries its build; once the
/// build succeeds, it is linked again. Checked against pnpm 12 at each step.
#[test]
fn failed_optional_builds_leave_the_tree_pnpm_leaves() {
    let registry = registry::start();
    publish_failing_cli(&registry, "opt-fail-cli");
    publish_failing_cli(&registry, "opt-fail-deep");
    publish_with_file(
        &registry,
        "opt-fail-parent",
        "1.0.0",
        json!({
            "optionalDependencies": {"opt-fail-deep": "1.0.0"},
            "scripts": {"postinstall": "node probe.js"}
        }),
        ("probe.js", PROBE_JS.as_bytes(), 0o644),
    );
    let manifest = json!({
        "name": "opt-fail-root",
        "version": "1.0.0",
        "private": true,
        "dependencies": {"opt-fail-parent": "1.0.0"},
        "optionalDependencies": {"opt-fail-cli": "1.0.0"}
    });
    let resolver = TestProject::new();
    write_inputs(
        &resolver,
        &registry.url(),
        &manifest,
        concat!(
            "packages: ['packages/*']\nallowBuilds:\n  opt-fail-cli: true\n",
            "  opt-fail-deep: true\n  opt-fail-parent: true\n  tack-build-fail: true\n",
        ),
    );
    resolver.write(
        "packages/a/package.json",
        &json!({
            "name": "a",
            "version": "1.0.0",
            "optionalDependencies": {"tack-build-fail": "1.0.0"}
        })
        .to_string(),
    );
    let out = resolver.pnpm(&["install", "--no-frozen-lockfile", "--ignore-scripts"]);
    assert_success(&out, "pnpm install (resolving)");
    let pnpm = clone_inputs(&resolver);
    let tack = clone_inputs(&resolver);

    let install = |when: &str| {
        let by_pnpm = pnpm.pnpm(&["install", "--frozen-lockfile"]);
        assert_success(&by_pnpm, &format!("pnpm install ({when})"));
        let by_tack = tack.tack(&["install", "--frozen-lockfile"]);
        assert_success(&by_tack, &format!("tack install ({when})"));
        assert_eq!(
            comparable_with_scripts(&by_pnpm),
            comparable_with_scripts(&by_tack),
            "{when}: tack's output differs from pnpm 12's"
        );
        assert!(!text(&by_tack).contains("WARN"), "{}", text(&by_tack));
        assert_same_trees(&pnpm, &tack, when);
        assert_eq!(log(&pnpm), log(&tack), "{when}: the build logs differ");
        by_tack
    };
    let gone = |rel: &str| fs_err::symlink_metadata(tack.dir().join(rel)).is_err();

    let out = install("first install");
    for failed in ["opt-fail-cli", "opt-fail-deep", "tack-build-fail"] {
        assert!(
            text(&out).contains(&format!("{failed} postinstall: Failed")),
            "{}",
            text(&out)
        );
        assert!(gone(&format!(
            "node_modules/.pnpm/{failed}@1.0.0/node_modules/{failed}"
        )));
    }
    assert!(gone("node_modules/opt-fail-cli"));
    assert!(gone("node_modules/.pnpm/node_modules/opt-fail-deep"));
    assert!(gone("node_modules/.pnpm/node_modules/.bin/opt-fail-deep"));
    assert!(gone("packages/a/node_modules/tack-build-fail"));
    assert!(
        !gone("node_modules/.bin/opt-fail-cli"),
        "pnpm keeps the shim"
    );
    assert!(!gone(
        "node_modules/.pnpm/opt-fail-parent@1.0.0/node_modules/opt-fail-deep"
    ));
    assert_eq!(modules_yaml(&tack)["skipped"], json!([]));
    assert_eq!(
        log(&tack),
        "opt-fail-parent sees opt-fail-deep absent\n",
        "the failed package is gone before its dependent builds"
    );

    // The next install is no no-op: the failed builds are retried (and fail again), the
    // dependent built again.
    let out = install("second install");
    assert!(
        text(&out).contains("opt-fail-cli postinstall: Failed"),
        "{}",
        text(&out)
    );
    assert!(gone("node_modules/opt-fail-cli"));
    assert_eq!(
        log(&tack),
        "opt-fail-parent sees opt-fail-deep absent\n".repeat(2)
    );

    // Once the builds succeed, the packages are linked again.
    pnpm.write("ok", "");
    tack.write("ok", "");
    install("third install, the builds succeed");
    assert!(!gone("node_modules/opt-fail-cli"));
    assert!(!gone("node_modules/.pnpm/node_modules/opt-fail-deep"));
    assert!(gone("packages/a/node_modules/tack-build-fail"));
    assert!(
        log(&tack).ends_with("opt-fail-parent sees opt-fail-deep present\n"),
        "{}",
        log(&tack)
    );
}

/// A skipped optional build is logged as pnpm 12 logs it under `--reporter ndjson`: one
/// debug `pnpm:skipped-optional-dependency` record with reason `build_failure`, naming the
/// package and the directory it was built in, with what failed as its details.
#[test]
fn a_skipped_optional_build_is_logged_as_pnpm_logs_it_with_the_ndjson_reporter() {
    let registry = registry::start();
    let manifest = json!({
        "name": "opt-fail-ndjson",
        "version": "1.0.0",
        "optionalDependencies": {"tack-build-fail": "1.0.0"}
    });
    let reference = resolved(
        &registry.url(),
        manifest,
        "allowBuilds:\n  tack-build-fail: true\n",
    );
    let records = |tool: &str| -> Vec<Value> {
        let project = clone_inputs(&reference);
        let args = ["install", "--frozen-lockfile", "--reporter", "ndjson"];
        let out = project.run_tool(tool, &args);
        assert_success(&out, &format!("{tool} --reporter ndjson"));
        let dir = project.dir().display().to_string();
        text(&out)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|record| record["name"] == "pnpm:skipped-optional-dependency")
            .map(|record| {
                let details = record["details"].as_str().unwrap_or_default();
                json!({
                    "level": record["level"],
                    "reason": record["reason"],
                    "name": record["package"]["name"],
                    "version": record["package"]["version"],
                    "id": record["package"]["id"].as_str().map(|id| id.replace(&dir, "<dir>")),
                    "names the script": details.contains("tack-build-fail@1.0.0 postinstall"),
                })
            })
            .collect()
    };
    let by_pnpm = records("pnpm");
    assert_eq!(by_pnpm.len(), 1, "{by_pnpm:?}");
    assert_eq!(by_pnpm, records("tack"));
}

/// A build that notes its start in the project's `builds.log`, waits until five builds have
/// started (or three seconds have passed), and notes its end.
const WAIT_FOR_FIVE_JS: &str = "const fs = require('fs');
const log = process.env.INIT_CWD + '/builds.log';
fs.appendFileSync(log, '+\\n');
const started = Date.now();
const wait = () => {
  const starts = fs.readFileSync(log, 'utf8').split('\\n').filter((l) => l === '+').length;
  if (starts >= 5 || Date.now() - started > 3000) fs.appendFileSync(log, '-\\n');
  else setTimeout(wait, 20);
};
wait();
";

/// The most builds `builds.log` shows running at once.
fn most_at_once(project: &TestProject) -> usize {
    let (mut now, mut most) = (0usize, 0usize);
    for line in read(project, "builds.log").lines() {
        if line == "+" {
            now += 1;
            most = most.max(now);
        } else {
            now = now.saturating_sub(1);
        }
    }
    most
}

/// Without `childConcurrency`, pnpm 12 runs five dependency builds at once, however many cores
/// the machine has. (tack ran at most four, and as many as the cores below that: two on a
/// two-core machine.)
#[test]
fn five_builds_run_at_once_by_default_like_pnpm() {
    let registry = registry::start();
    let mut dependencies = serde_json::Map::new();
    for i in 1..=6 {
        let name = format!("tack-wait-build-{i}");
        publish_with_file(
            &registry,
            &name,
            "1.0.0",
            json!({"scripts": {"postinstall": "node wait.js"}}),
            ("wait.js", WAIT_FOR_FIVE_JS.as_bytes(), 0o644),
        );
        dependencies.insert(name, json!("1.0.0"));
    }
    let manifest = json!({"name": "p", "version": "1.0.0", "dependencies": dependencies});
    let reference = resolved(
        &registry.url(),
        manifest,
        "dangerouslyAllowAllBuilds: true\n",
    );
    let [pnpm, tack] = ["pnpm", "tack"].map(|tool| {
        let project = clone_inputs(&reference);
        let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        assert_success(&out, tool);
        most_at_once(&project)
    });
    assert_eq!(pnpm, 5, "pnpm 12's builds at once");
    assert_eq!(tack, pnpm, "tack's builds at once, then pnpm's");
}

/// A workspace locked by pnpm: the root depends on `is-odd`, project `b` on `is-number`,
/// project `c` on what `c_deps` says (a manifest's field, `"dependencies": {...}`); `settings`
/// go into `pnpm-workspace.yaml`.
fn workspace_of_b_and_c(registry_url: &str, c_deps: &str, settings: &str) -> TestProject {
    let resolver = TestProject::new();
    resolver
        .write(
            "package.json",
            r#"{"name": "root", "private": true, "dependencies": {"is-odd": "3.0.1"}}"#,
        )
        .write(
            "packages/b/package.json",
            r#"{"name": "b", "version": "1.0.0", "dependencies": {"is-number": "7.0.0"}}"#,
        )
        .write(
            "packages/c/package.json",
            &format!(r#"{{"name": "c", "version": "1.0.0", {c_deps}}}"#),
        )
        .write(".npmrc", &format!("registry={registry_url}\n"))
        .write(
            "pnpm-workspace.yaml",
            &format!("minimumReleaseAge: 0\n{settings}packages:\n  - packages/*\n"),
        );
    resolver.lock_with_pnpm();
    resolver
}

/// `tool`'s full install of `project`, then one filtered to `b`, then a full one again, with
/// `.modules.yaml#<key>` after each.
fn full_filtered_full(project: &TestProject, tool: &str, key: &str) -> Vec<Option<Value>> {
    let mut recorded = Vec::new();
    for filter in [&[][..], &["--filter", "b"], &[]] {
        let mut args = vec!["install", "--frozen-lockfile"];
        args.extend_from_slice(filter);
        assert_success(&project.run_tool(tool, &args), tool);
        recorded.push(modules_yaml(project).get(key).cloned());
    }
    recorded
}

/// A filtered install that leaves out the project with an ignored build keeps that build
/// recorded as ignored in `.modules.yaml`, as pnpm 12 keeps it, and so does the full install
/// after it; approving the build afterwards runs it. (tack dropped the entry, the next install
/// took the package for built, and the approval built nothing.)
#[test]
fn a_filtered_install_keeps_the_ignored_builds_of_the_projects_it_leaves_out_like_pnpm() {
    let registry = registry::start();
    let resolver = workspace_of_b_and_c(
        &registry.url(),
        r#""dependencies": {"tack-build-dep": "1.0.0"}"#,
        "strictDepBuilds: false\n",
    );
    let [pnpm, tack] = ["pnpm", "tack"].map(|tool| {
        let project = clone_inputs(&resolver);
        let recorded = full_filtered_full(&project, tool, "ignoredBuilds");
        project.add_settings("allowBuilds:\n  tack-build-dep: true\n");
        assert_success(
            &project.run_tool(tool, &["install", "--frozen-lockfile"]),
            tool,
        );
        (
            recorded,
            project.dir().join(DEP_DIR).join("built.txt").is_file(),
        )
    });
    assert_eq!(tack, pnpm, "tack's ignoredBuilds and build, then pnpm's");
    assert_eq!(pnpm.0[1], Some(json!(["tack-build-dep@1.0.0"])), "{pnpm:?}");
    assert!(pnpm.1, "pnpm 12 built the approved package");
}

/// A filtered install that leaves out the project with an optional dependency skipped for its
/// platform keeps that package in `.modules.yaml#skipped`, as pnpm 12 keeps it. (tack wrote the
/// filtered install's own list, empty here, and the next install took the package for one
/// never looked at.)
#[test]
fn a_filtered_install_keeps_the_skipped_packages_of_the_projects_it_leaves_out_like_pnpm() {
    let registry = registry::start();
    let resolver = workspace_of_b_and_c(
        &registry.url(),
        r#""optionalDependencies": {"only-darwin": "1.0.0"}"#,
        "",
    );
    let [pnpm, tack] = ["pnpm", "tack"].map(|tool| {
        let project = clone_inputs(&resolver);
        full_filtered_full(&project, tool, "skipped")
    });
    assert_eq!(tack, pnpm, "tack's skipped packages, then pnpm's");
    assert_eq!(pnpm[1], Some(json!(["only-darwin@1.0.0"])), "{pnpm:?}");
}

/// The root project's `preinstall` runs on every install, over an unchanged tree too, and over
/// a tree that needs nothing (a manifest edited outside its dependencies) no project script
/// runs but that one, as pnpm 12 runs them. (tack's no-op ran nothing, and its install over an
/// edited manifest ran every script again.)
#[test]
fn over_a_tree_that_needs_nothing_only_the_root_preinstall_runs_like_pnpm() {
    let registry = registry::start();
    let manifest = |extra: &str| {
        format!(
            r#"{{"name": "scripted", "version": "1.0.0",{extra}
                "scripts": {{"preinstall": "echo pre >> log.txt", "install": "echo inst >> log.txt",
                            "postinstall": "echo post >> log.txt"}},
                "dependencies": {{"is-odd": "3.0.1"}}}}"#
        )
    };
    let resolver = TestProject::new();
    resolver
        .write("package.json", &manifest(""))
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write("pnpm-workspace.yaml", "minimumReleaseAge: 0\n");
    resolver.lock_with_pnpm();
    let [pnpm, tack] = ["pnpm", "tack"].map(|tool| {
        let project = clone_inputs(&resolver);
        let mut logs = Vec::new();
        for step in ["first", "again", "edited"] {
            if step == "edited" {
                project.write("package.json", &manifest(r#" "description": "edited","#));
            }
            assert_success(
                &project.run_tool(tool, &["install", "--frozen-lockfile"]),
                tool,
            );
            let log = fs_err::read_to_string(project.dir().join("log.txt")).unwrap_or_default();
            logs.push(log.lines().collect::<Vec<_>>().join(" "));
            let _ = fs_err::remove_file(project.dir().join("log.txt"));
        }
        logs
    });
    assert_eq!(tack, pnpm, "tack's scripts, then pnpm's");
    assert_eq!(pnpm, ["pre inst post", "pre", "pre"], "{pnpm:?}");
}

/// Runs `tool`'s install of `project`, which must fail, and returns [`state_files_left`].
fn fails_leaving(project: &TestProject, tool: &str) -> Vec<&'static str> {
    let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
    assert_eq!(out.status.code(), Some(1), "{tool}: {}", text(&out));
    state_files_left(project)
}

/// Which of the install's state files a failed install leaves behind.
fn state_files_left(project: &TestProject) -> Vec<&'static str> {
    ["node_modules/.modules.yaml", "node_modules/.pnpm/lock.yaml"]
        .into_iter()
        .filter(|rel| project.dir().join(rel).exists())
        .collect()
}

/// A patch that no longer applies fails the install before pnpm 12 records it: neither
/// `.modules.yaml` nor `.pnpm/lock.yaml` is written, so nothing says the tree is installed.
/// (tack's linker wrote both before the patch step ran.)
#[test]
fn a_failed_patch_leaves_the_state_files_pnpm_leaves() {
    let registry = registry::start();
    let resolver = patched_project(&registry.url());
    break_the_patch(&resolver);
    let mut left = Vec::new();
    for tool in ["pnpm", "tack"] {
        left.push(fails_leaving(&clone_inputs(&resolver), tool));
    }
    assert_eq!(
        left[0], left[1],
        "pnpm 12 left {:?}, tack {:?}",
        left[0], left[1]
    );
}

/// The same for a dependency's failing postinstall, in either layout; and once the build can
/// succeed, the next install prints what pnpm 12's prints and leaves the tree and
/// `.modules.yaml` pnpm 12 leaves.
#[test]
fn a_failed_build_leaves_the_state_files_pnpm_leaves() {
    let registry = registry::start();
    publish_failing_cli(&registry, "fails-until-ok");
    let manifest = json!({"name": "p", "version": "1.0.0",
                          "dependencies": {"fails-until-ok": "1.0.0", "is-odd": "3.0.1"}});
    for layout in ["", "nodeLinker: hoisted\n"] {
        let resolver = resolved(
            &registry.url(),
            manifest.clone(),
            &format!("allowBuilds:\n  fails-until-ok: true\n{layout}"),
        );
        let mut left = Vec::new();
        let mut again = Vec::new();
        let mut projects = Vec::new();
        for tool in ["pnpm", "tack"] {
            let project = clone_inputs(&resolver);
            left.push(fails_leaving(&project, tool));
            project.write("ok", "");
            let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
            assert_success(&out, tool);
            again.push(comparable_with_scripts(&out));
            projects.push(project);
        }
        assert_eq!(
            again[0], again[1],
            "{layout}the install after the failed one"
        );
        assert_eq!(
            left[0], left[1],
            "{layout}pnpm 12 left {:?}, tack {:?}",
            left[0], left[1]
        );
        assert_same_trees(
            &projects[0],
            &projects[1],
            &format!("{layout}after the failed build"),
        );
    }
}

/// The root's `preinstall` prints first, as pnpm 12 prints it: before the lockfile's verdict
/// and "Lockfile is up to date", on a first install and on one over a complete tree (where
/// it is all that runs). (tack ran it once the store's context was printed.)
#[test]
fn the_root_preinstall_prints_first_like_pnpm() {
    let registry = registry::start();
    let manifest = json!({"name": "p", "version": "1.0.0",
                          "scripts": {"preinstall": "echo hello-pre"},
                          "dependencies": {"is-odd": "3.0.1"}});
    let resolver = resolved(&registry.url(), manifest, "");
    let mut runs = Vec::new();
    for tool in ["pnpm", "tack"] {
        let project = clone_inputs(&resolver);
        let mut lines = Vec::new();
        for _ in 0..2 {
            let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
            assert_success(&out, tool);
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                stdout.starts_with(". preinstall$ echo hello-pre\n"),
                "{tool}:\n{stdout}"
            );
            // The store's context names the import method of the first package pnpm imports.
            lines.push(
                lines_in_order(&out)
                    .into_iter()
                    .filter(|l| !l.starts_with("Packages are ") && !l.contains("store is at"))
                    .collect::<Vec<_>>(),
            );
        }
        runs.push(lines);
    }
    assert_eq!(runs[0], runs[1], "pnpm 12's lines, then tack's");
}
