//! Interop with pnpm 12 on one store and one project: either tool can install over the
//! other's tree, and each can install offline from a store the other filled.

use tack_suite::conformance::{clone_inputs, prepare, project_tree};
use tack_suite::project::{assert_success, TestProject};
use tack_suite::{basic_fixture, registry, tree};

#[test]
fn tack_installs_over_a_pnpm_tree() {
    let registry = registry::start();
    let project = TestProject::new();
    prepare(&project, &basic_fixture(), &registry.url());
    assert_success(
        &project.pnpm(&["install", "--frozen-lockfile"]),
        "pnpm install",
    );
    let expected = project_tree(&project);
    registry.clear_requests();

    let out = project.tack(&["install", "--frozen-lockfile"]);
    assert_success(&out, "tack install over pnpm's tree");
    let differences = tree::diff(&expected, &project_tree(&project));
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    assert!(
        registry.requests().is_empty(),
        "tack re-downloaded what pnpm stored: {:?}",
        registry.requests()
    );
    let status = project.tack(&[
        "store",
        "status",
        "--store-dir",
        project.store().to_str().unwrap(),
    ]);
    assert_success(&status, "tack store status");
}

#[test]
fn pnpm_installs_over_a_tack_tree_offline() {
    let registry = registry::start();
    let project = TestProject::new();
    prepare(&project, &basic_fixture(), &registry.url());
    assert_success(
        &project.tack(&["install", "--frozen-lockfile"]),
        "tack install",
    );
    let expected = project_tree(&project);

    let out = project.pnpm(&["install", "--frozen-lockfile", "--offline"]);
    assert_success(&out, "pnpm install --offline over tack's tree");
    let differences = tree::diff(&expected, &project_tree(&project));
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// Fills a store with `filler_tool`, then has pnpm install a second project offline from it.
fn pnpm_second_project(registry_url: &str, fill_with_tack: bool) -> TestProject {
    let filler = TestProject::new();
    prepare(&filler, &basic_fixture(), registry_url);
    let out = if fill_with_tack {
        filler.tack(&["install", "--frozen-lockfile"])
    } else {
        filler.pnpm(&["install", "--frozen-lockfile"])
    };
    assert_success(&out, "filling the store");
    let other = clone_inputs(&filler);
    let out = other
        .command(&tack_suite::pnpm_bin())
        .args(["install", "--frozen-lockfile", "--offline", "--store-dir"])
        .arg(filler.store())
        .output()
        .unwrap();
    assert_success(&out, "pnpm install --offline from the filled store");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("reused"), "stdout: {text}");
    // Keep the filler's temp dir (and store) alive as long as the result is inspected.
    std::mem::forget(filler);
    other
}

#[test]
fn pnpm_installs_offline_from_a_store_tack_filled() {
    let registry = registry::start();
    // pnpm's second project on a store pnpm filled is the reference (pnpm copies, rather than
    // hard-links, a file whose mode a bin chmod changed through the first project's link).
    let reference = pnpm_second_project(&registry.url(), false);
    let subject = pnpm_second_project(&registry.url(), true);
    let differences = tree::diff(&project_tree(&reference), &project_tree(&subject));
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// tack's second project on a store pnpm filled equals pnpm's own second project on it
/// (pnpm's first one is not the reference: a bin chmodded through the first project's link
/// makes pnpm 12 copy that file the second time, and tack does the same).
#[test]
fn tack_installs_offline_from_a_store_pnpm_filled() {
    let registry = registry::start();
    let reference = pnpm_second_project(&registry.url(), false);
    let filler = TestProject::new();
    prepare(&filler, &basic_fixture(), &registry.url());
    assert_success(
        &filler.pnpm(&["install", "--frozen-lockfile"]),
        "pnpm install",
    );

    let other = clone_inputs(&filler);
    let out = other
        .command(&tack_suite::tack_bin())
        .args(["install", "--frozen-lockfile", "--offline", "--store-dir"])
        .arg(filler.store())
        .output()
        .unwrap();
    assert_success(&out, "tack install --offline from pnpm's store");
    let differences = tree::diff(&project_tree(&reference), &project_tree(&other));
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// A git dependency tack cannot fetch fails with pnpm's code, naming the package and what to
/// do, and records nothing for it: a repository that cannot be cloned
/// (`ERR_PNPM_GIT_FETCH_FAILED`), a `path` that names no directory of the commit
/// (`ERR_PNPM_INVALID_PATH`), and an archive without an integrity from a host that is no git
/// host's (`ERR_PNPM_MISSING_TARBALL_INTEGRITY`, before any request).
#[test]
fn git_dependencies_that_cannot_be_fetched_fail_clearly_and_record_nothing() {
    let registry = registry::start();
    let repo = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| tack_suite::git::git_in(repo.path(), args);
    fs_err::write(
        repo.path().join("package.json"),
        r#"{"name": "sub", "version": "1.0.0"}"#,
    )
    .unwrap();
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "x"]);
    let sha = git(&["rev-parse", "HEAD"]);
    let here = format!("file://{}", repo.path().display());
    let missing = format!("file://{}/missing.git", repo.path().display());
    let cases = [
        (
            format!("git+{missing}#{sha}"),
            format!("{{commit: {sha}, repo: {missing}, type: git}}"),
            "ERR_PNPM_GIT_FETCH_FAILED",
        ),
        (
            format!("git+{here}#{sha}&path:/packages/nope"),
            format!("{{commit: {sha}, path: /packages/nope, repo: {here}, type: git}}"),
            "ERR_PNPM_INVALID_PATH",
        ),
        (
            format!("{}o/r/tar.gz/{sha}", registry.url()),
            format!(
                "{{gitHosted: true, tarball: {}o/r/tar.gz/{sha}}}",
                registry.url()
            ),
            "ERR_PNPM_MISSING_TARBALL_INTEGRITY",
        ),
    ];
    for (version, resolution, code) in cases {
        let project = TestProject::new();
        prepare(&project, &basic_fixture(), &registry.url());
        let manifest = serde_json::json!({
            "name": "with-git", "version": "1.0.0",
            "dependencies": {"sub": version}
        });
        project.write("package.json", &manifest.to_string());
        project.write(
            "pnpm-lock.yaml",
            &format!(
                "lockfileVersion: '9.0'\n\nsettings:\n  autoInstallPeers: true\n  excludeLinksFromLockfile: false\n\n\
                 importers:\n\n  .:\n    dependencies:\n      \
                 sub:\n        specifier: {version}\n        version: {version}\n\n\
                 packages:\n\n  sub@{version}:\n    resolution: {resolution}\n    version: 1.0.0\n\n\
                 snapshots:\n\n  sub@{version}: {{}}\n"
            ),
        );
        registry.clear_requests();
        let out = project.tack(&["install", "--frozen-lockfile"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{version}: tack installed it");
        // Not wrapped when stderr is not a terminal (a CI log): the URL is whole.
        for want in [code, "sub"] {
            assert!(
                stderr.contains(want),
                "{version}: no {want:?} in:\n{stderr}"
            );
        }
        let index = project.store().join("v11/index.db");
        if index.exists() {
            let store = tack_store_dir::StoreDir::new(project.store().join("v11"));
            let keys = tack_store_dir::StoreIndex::open(&store)
                .unwrap()
                .all_keys()
                .unwrap();
            assert!(
                !keys.iter().any(|k| k.ends_with("\tbuilt")),
                "{version}: {keys:?}"
            );
        }
        if code == "ERR_PNPM_MISSING_TARBALL_INTEGRITY" {
            assert!(registry.requests().is_empty(), "{:?}", registry.requests());
            assert!(!project.dir().join("node_modules").exists());
        }
    }
}

/// A `hoistingLimits` value pnpm 12 does not know fails its configuration load with
/// `ERR_PNPM_INVALID_SETTING`, and tack's install the same way, before anything is written.
/// (tack took any value in silence.)
#[test]
fn an_unknown_hoisting_limit_is_an_invalid_setting_like_pnpm() {
    let registry = registry::start();
    for tool in ["pnpm", "tack"] {
        let project = TestProject::new();
        prepare(&project, &basic_fixture(), &registry.url());
        project.add_settings("hoistingLimits: x\n");
        let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(1), "{tool}: {all}");
        assert!(all.contains("ERR_PNPM_INVALID_SETTING"), "{tool}: {all}");
        assert!(all.contains("hoistingLimits"), "{tool}: {all}");
        assert!(!project.dir().join("node_modules").exists(), "{tool}");
    }
}

/// Settings that ask for something tack does not do (pnpm's Plug'n'Play linker, no symlinks,
/// a lockfile per project, config dependencies) are refused before anything is fetched or
/// written, also over a tree installed before the setting appeared. (tack read them and built its
/// isolated tree anyway.)
#[test]
fn settings_tack_does_not_do_are_refused_before_anything_is_written() {
    let registry = registry::start();
    // A setting from `pnpm-workspace.yaml`, or (over a tree installed before) from the
    // environment or the command line, where pnpm 12 takes it from as well.
    type Case<'a> = (&'a str, Option<(&'a str, &'a str)>, Option<&'a str>);
    let cases: Vec<Case> = vec![
        ("nodeLinker: pnp", None, None),
        ("symlink: false", None, None),
        ("sharedWorkspaceLockfile: false", None, None),
        ("storeIndexFormat: files", None, None),
        ("virtualStoreOnly: true", None, None),
        ("enableModulesDir: false", None, None),
        ("lockfile: false", None, None),
        ("useLockfile: false", None, None),
        ("lockfileDir: ../elsewhere", None, None),
        ("virtualStoreType: global", None, None),
        ("modulesDirsByProjectName:\n  root: nm", None, None),
        ("lockfile:\n  format: v13", None, None),
        (
            "hoistingLimits: workspaces\nnodeLinker: hoisted",
            None,
            None,
        ),
        (
            "hoistingLimits: dependencies\nnodeLinker: hoisted",
            None,
            None,
        ),
        (
            "nodeLinker: pnp",
            Some(("PNPM_CONFIG_NODE_LINKER", "pnp")),
            None,
        ),
        (
            "virtualStoreOnly: true",
            Some(("PNPM_CONFIG_VIRTUAL_STORE_ONLY", "true")),
            None,
        ),
        (
            "enableModulesDir: false",
            Some(("PNPM_CONFIG_ENABLE_MODULES_DIR", "false")),
            None,
        ),
        (
            "lockfileDir",
            Some(("PNPM_CONFIG_LOCKFILE_DIR", "elsewhere")),
            None,
        ),
        (
            "virtualStoreOnly: true",
            None,
            Some("--config.virtual-store-only=true"),
        ),
        (
            "storeIndexFormat",
            None,
            Some("--config.store-index-format=files"),
        ),
    ];
    for (setting, env, arg) in cases {
        let project = TestProject::new();
        prepare(&project, &basic_fixture(), &registry.url());
        let installed_first = env.is_some() || arg.is_some();
        if installed_first {
            assert_success(
                &project.tack(&["install", "--frozen-lockfile"]),
                "the first install",
            );
        } else {
            project.add_settings(&format!("{setting}\n"));
        }
        let before = tack_suite::stamps::stamps(&project.dir());
        registry.clear_requests();
        let mut cmd = project.command(&tack_suite::tack_bin());
        cmd.args(["install", "--frozen-lockfile", "--store-dir"])
            .arg(project.store());
        if let Some((key, value)) = env {
            cmd.env(key, value);
        }
        cmd.args(arg);
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{setting}: tack installed");
        let named = setting.split(['\n', ':']).next().unwrap_or(setting);
        for want in ["ERR_TACK_UNSUPPORTED_SETTING", named, "pnpm install"] {
            assert!(stderr.contains(want), "{setting}: no {want:?} in {stderr}");
        }
        assert_eq!(
            registry.requests().len(),
            0,
            "{setting}: the registry was asked"
        );
        assert_eq!(
            tack_suite::stamps::stamps(&project.dir()),
            before,
            "{setting}: the project changed"
        );
        if !installed_first {
            assert!(!project.dir().join("node_modules").exists(), "{setting}");
        }
    }
}
