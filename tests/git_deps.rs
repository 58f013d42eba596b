//! Git dependencies, side by side with real pnpm 12: a git host's archive of a commit
//! (`gitHosted` tarball, served here by the test registry) and a repository cloned at a commit
//! (`type: git`, a local repository over `file://`). pnpm does not link such a package as it
//! comes: it prepares it when the build policy allows it, keeps what `npm pack` would keep,
//! and records that under `<pkgId>\tbuilt` (or `\tnot-built`). tack must build the same tree,
//! write the same keys, and be able to use pnpm's rows.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tack_suite::conformance::{
    clone_inputs, comparable_output, normalized_modules_yaml, project_tree,
};
use tack_suite::git::git_in;
use tack_suite::project::{assert_success, TestProject};
use tack_suite::{registry, tree};
use tack_test_registry::{pack_tarball, sha512_integrity, TestRegistry};

/// Serves a git host's archive of `files` at `/o/<repo>/tar.gz/<sha>` and returns its URL and
/// integrity.
fn serve_archive(
    registry: &TestRegistry,
    repo: &str,
    sha: &str,
    files: &[(&str, &str, u32)],
) -> (String, String) {
    let files: Vec<(String, Vec<u8>, u32)> = files
        .iter()
        .map(|(path, text, mode)| (path.to_string(), text.as_bytes().to_vec(), *mode))
        .collect();
    let bytes = pack_tarball(&files);
    let integrity = sha512_integrity(&bytes);
    let path = format!("/o/{repo}/tar.gz/{sha}");
    registry.serve_raw(&path, bytes);
    (format!("{}{}", registry.url(), &path[1..]), integrity)
}

/// A project depending on git-hosted archives, with the lockfile pnpm writes for them:
/// `(alias, version, resolution fields, has bin)` per dependency.
fn archive_project(registry: &TestRegistry, deps: &[(&str, &str, String, bool)]) -> TestProject {
    let project = TestProject::new();
    let manifest_deps: serde_json::Map<String, serde_json::Value> = deps
        .iter()
        .map(|(alias, version, _, _)| (alias.to_string(), (*version).into()))
        .collect();
    let manifest =
        serde_json::json!({"name": "p", "version": "1.0.0", "dependencies": manifest_deps});
    let mut importer = String::new();
    let mut packages = String::new();
    let mut snapshots = String::new();
    for (alias, version, resolution, has_bin) in deps {
        importer.push_str(&format!(
            "      {alias}:\n        specifier: {version}\n        version: {version}\n"
        ));
        let bin = if *has_bin { "    hasBin: true\n" } else { "" };
        packages.push_str(&format!(
            "  {alias}@{version}:\n    resolution: {{{resolution}}}\n    version: 1.0.0\n{bin}\n"
        ));
        snapshots.push_str(&format!("  {alias}@{version}: {{}}\n\n"));
    }
    project
        .write("package.json", &manifest.to_string())
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write("pnpm-workspace.yaml", "minimumReleaseAge: 0\n")
        .write(
            "pnpm-lock.yaml",
            &format!(
                "lockfileVersion: '9.0'\n\nsettings:\n  autoInstallPeers: true\n  excludeLinksFromLockfile: false\n\n\
                 importers:\n\n  .:\n    dependencies:\n{importer}\npackages:\n\n{packages}snapshots:\n\n{snapshots}"
            ),
        );
    project
}

/// Runs `tool` in `project` with `args` and an environment in which a nested `npm install`
/// (a git dependency's preparation) needs no network.
fn run(project: &TestProject, tool: &str, args: &[&str]) -> Output {
    run_env(project, tool, args, &[])
}

/// [`run`] with more environment variables.
fn run_env(project: &TestProject, tool: &str, args: &[&str], env: &[(&str, &Path)]) -> Output {
    tool_command(project, tool, args, env)
        .output()
        .expect("run the tool")
}

/// The command [`run_env`] runs.
fn tool_command(
    project: &TestProject,
    tool: &str,
    args: &[&str],
    env: &[(&str, &Path)],
) -> Command {
    let program = if tool == "pnpm" {
        tack_suite::pnpm_bin()
    } else {
        tack_suite::tack_bin()
    };
    let mut cmd = project.command(&program);
    cmd.args(args)
        .arg("--store-dir")
        .arg(project.store())
        .env("npm_config_audit", "false")
        .env("npm_config_fund", "false")
        .env("npm_config_update_notifier", "false")
        .envs(env.iter().copied());
    cmd
}

/// The `index.db` keys of a project's store, sorted.
fn index_keys(project: &TestProject) -> Vec<String> {
    let store = tack_store_dir::StoreDir::new(project.store().join("v11"));
    let mut keys = tack_store_dir::StoreIndex::open(&store)
        .expect("open index.db")
        .all_keys()
        .expect("read the keys");
    keys.sort();
    keys
}

/// Installs clones of `reference` with pnpm and with tack (`install --frozen-lockfile` plus
/// `args`), asserts both succeed with the same tree, `.modules.yaml`, output and prepared
/// keys, and returns `(pnpm's project, tack's project)`.
fn install_both(reference: &TestProject, args: &[&str]) -> (TestProject, TestProject) {
    let mut full = vec!["install", "--frozen-lockfile"];
    full.extend_from_slice(args);
    let [pnpm, tack] = ["pnpm", "tack"].map(|tool| {
        let project = clone_inputs(reference);
        let out = run(&project, tool, &full);
        assert_success(&out, &format!("{tool} {full:?}"));
        (project, out)
    });
    let differences = tree::diff(&project_tree(&pnpm.0), &project_tree(&tack.0));
    assert!(
        differences.is_empty(),
        "{args:?}: tack's tree differs from pnpm 12's:\n{}",
        differences.join("\n")
    );
    assert_eq!(
        normalized_modules_yaml(&pnpm.0),
        normalized_modules_yaml(&tack.0),
        "{args:?}"
    );
    // pnpm also prints the output of a preparation's nested install, prefixed with its
    // scratch directory; tack does not (see `git_fetch`).
    let output = |out: &Output| -> Vec<String> {
        comparable_output(&out.stdout)
            .into_iter()
            .filter(|l| !l.contains(" npm-install"))
            .collect()
    };
    assert_eq!(output(&pnpm.1), output(&tack.1), "{args:?}");
    let prepared = |p: &TestProject| -> Vec<String> {
        index_keys(p)
            .into_iter()
            .filter(|k| k.ends_with("\tbuilt") || k.ends_with("\tnot-built"))
            .collect()
    };
    let pnpm_keys = prepared(&pnpm.0);
    // pnpm writes no prepared row for an archive it stores whole and unprepared.
    if !pnpm_keys.is_empty() {
        assert_eq!(pnpm_keys, prepared(&tack.0), "{args:?}: prepared rows");
    }
    (pnpm.0, tack.0)
}

const PACKED: &[(&str, &str, u32)] = &[
    (
        "package.json",
        r#"{"name": "files-pkg", "version": "1.0.0", "files": ["index.js", "lib", "node_modules"], "bin": {"fcli": "bin/cli.js"}}"#,
        0o644,
    ),
    // A nested `node_modules` is packed like any directory; the package's own never is.
    (
        "lib/node_modules/nested/index.js",
        "module.exports = 'nested';\n",
        0o644,
    ),
    ("node_modules/own/index.js", "not packed\n", 0o644),
    ("index.js", "module.exports = 'files';\n", 0o644),
    ("bin/cli.js", "#!/usr/bin/env node\nconsole.log(1)\n", 0o755),
    ("lib/keep.js", "module.exports = 1;\n", 0o644),
    ("lib/x.js", "dropped by lib/.npmignore\n", 0o644),
    ("lib/.npmignore", "x.js\n", 0o644),
    ("lib/.npmrc", "x=1\n", 0o644),
    ("README.md", "# files\n", 0o644),
    ("README_INTERNAL.md", "not packed\n", 0o644),
    ("LICENSE", "MIT\n", 0o644),
    ("CHANGELOG.md", "not packed\n", 0o644),
    ("extra.js", "not listed\n", 0o644),
    ("test/t.js", "not listed\n", 0o644),
    ("package-lock.json", "{}\n", 0o644),
];

const MONOREPO: &[(&str, &str, u32)] = &[
    (
        "package.json",
        r#"{"name": "mono-root", "private": true}"#,
        0o644,
    ),
    (".gitignore", "*.secret\n", 0o644),
    (
        "packages/sub/package.json",
        r#"{"name": "sub-pkg", "version": "1.0.0"}"#,
        0o644,
    ),
    ("packages/sub/index.js", "module.exports = 'sub';\n", 0o644),
    (
        "packages/sub/x.secret",
        "the root's .gitignore is not read\n",
        0o644,
    ),
    ("packages/sub/.npmignore", "ignored.txt\n", 0o644),
    ("packages/sub/ignored.txt", "dropped\n", 0o644),
    ("other/o.js", "another package\n", 0o644),
];

/// A git host's archive is installed as pnpm 12 installs it: the top directory stripped,
/// the `path` sub-directory taken, what `npm pack` keeps linked, the same `\tbuilt` rows
/// recorded (tack can install from pnpm's store offline), and nothing fetched again once the
/// store has it.
#[test]
fn git_host_archives_are_installed_packed_like_pnpm() {
    let registry = registry::start();
    let (url, integrity) = serve_archive(&registry, "files", &"a1".repeat(20), PACKED);
    let (mono, mono_integrity) = serve_archive(&registry, "mono", &"d4".repeat(20), MONOREPO);
    let reference = archive_project(
        &registry,
        &[
            (
                "files-pkg",
                &url,
                format!("gitHosted: true, integrity: {integrity}, tarball: {url}"),
                true,
            ),
            (
                "sub-pkg",
                &format!("{mono}#path:/packages/sub"),
                format!("gitHosted: true, integrity: {mono_integrity}, path: /packages/sub, tarball: {mono}"),
                false,
            ),
        ],
    );
    let (pnpm, tack) = install_both(&reference, &[]);
    let pkg = tack.dir().join("node_modules/files-pkg");
    for (file, kept) in [
        ("index.js", true),
        ("lib/keep.js", true),
        ("README.md", true),
        ("LICENSE", true),
        ("README_INTERNAL.md", false),
        ("lib/x.js", false),
        ("extra.js", false),
        ("test/t.js", false),
        ("lib/node_modules/nested/index.js", true),
        ("node_modules/own", false),
    ] {
        assert_eq!(pkg.join(file).exists(), kept, "{file}");
    }
    let sub = tack.dir().join("node_modules/sub-pkg");
    assert!(sub.join("x.secret").is_file() && !sub.join("ignored.txt").exists());
    assert!(tack.dir().join("node_modules/.bin/fcli").exists());

    // pnpm's rows serve tack, with no network.
    let offline = clone_inputs(&reference);
    let mut cmd = offline.command(&tack_suite::tack_bin());
    cmd.args(["install", "--frozen-lockfile", "--offline", "--store-dir"])
        .arg(pnpm.store());
    assert_success(&cmd.output().unwrap(), "tack --offline over pnpm's store");
    let differences = tree::diff(&project_tree(&pnpm), &project_tree(&offline));
    assert!(differences.is_empty(), "{}", differences.join("\n"));

    // tack's own rows serve its next install without a request.
    fs_err::remove_dir_all(tack.dir().join("node_modules")).unwrap();
    registry.clear_requests();
    assert_success(
        &run(&tack, "tack", &["install", "--frozen-lockfile"]),
        "tack again",
    );
    assert!(registry.requests().is_empty(), "{:?}", registry.requests());
    assert!(tack.dir().join("node_modules/sub-pkg/index.js").is_file());
}

/// A git repository in `dir` with `files` committed (a `->` text makes a symlink); returns
/// the commit.
fn git_repo(dir: &Path, files: &[(&str, &str, u32)]) -> String {
    fs_err::create_dir_all(dir).unwrap();
    for (path, text, mode) in files {
        let target = dir.join(path);
        fs_err::create_dir_all(target.parent().unwrap()).unwrap();
        if let Some(link) = text.strip_prefix("->") {
            std::os::unix::fs::symlink(link, &target).unwrap();
            continue;
        }
        fs_err::write(&target, text).unwrap();
        let perms = std::os::unix::fs::PermissionsExt::from_mode(*mode);
        fs_err::set_permissions(&target, perms).unwrap();
    }
    git_in(dir, &["init", "-q"]);
    git_in(dir, &["add", "-A", "-f"]);
    git_in(dir, &["commit", "-qm", "x"]);
    git_in(dir, &["rev-parse", "HEAD"])
}

/// A repository cloned at a commit is installed as pnpm 12 installs it: `.git` gone, a
/// committed symlink to a file stored as that file, ignored files left out, the `path`
/// sub-directory taken, and the same `\tbuilt` rows recorded.
#[test]
fn git_clones_are_installed_packed_like_pnpm() {
    let registry = registry::start();
    let repos = tempfile::tempdir().unwrap();
    let x = repos.path().join("x");
    git_repo(
        &x,
        &[
            (
                "package.json",
                r#"{"name": "x", "version": "1.2.3", "bin": {"x": "cli.js"}}"#,
                0o644,
            ),
            ("cli.js", "#!/usr/bin/env node\n", 0o755),
            ("index.js", "module.exports = 'x';\n", 0o644),
            ("link.js", "->index.js", 0o644),
            (".gitignore", "secret.txt\n", 0o644),
            ("secret.txt", "committed but ignored\n", 0o644),
            ("sub/node_modules/n/index.js", "nested\n", 0o644),
            ("sub/node_modules/.bin/n", "->../n/index.js", 0o644),
            ("node_modules/own/index.js", "not packed\n", 0o644),
        ],
    );
    let y = repos.path().join("y");
    git_repo(&y, MONOREPO);
    let reference = TestProject::new();
    reference
        .write(
            "package.json",
            &serde_json::json!({"name": "p", "version": "1.0.0", "dependencies": {
                "x": format!("git+file://{}", x.display()),
                "sub-pkg": format!("git+file://{}#path:/packages/sub", y.display()),
            }})
            .to_string(),
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write("pnpm-workspace.yaml", "minimumReleaseAge: 0\n");
    reference.lock_with_pnpm();
    let (_, tack) = install_both(&reference, &[]);
    let pkg = tack.dir().join("node_modules/x");
    let link = fs_err::symlink_metadata(pkg.join("link.js")).unwrap();
    assert!(link.is_file(), "link.js is stored as a file");
    assert!(!pkg.join("secret.txt").exists() && !pkg.join(".git").exists());
    assert!(pkg.join("sub/node_modules/n/index.js").is_file());
    assert!(fs_err::symlink_metadata(pkg.join("sub/node_modules/.bin/n")).is_ok());
    assert!(!pkg.join("node_modules/own").exists());
    assert!(tack.dir().join("node_modules/sub-pkg/x.secret").is_file());
    install_both(&reference, &["--ignore-scripts"]);
}

/// A git dependency whose `prepare` has to run follows pnpm 12's build policy: refused with
/// `ERR_PNPM_GIT_DEP_PREPARE_NOT_ALLOWED` unless `allowBuilds` names its dep path; prepared
/// (a nested `npm install`) when it does; installed unprepared with `false` or
/// `--ignore-scripts`.
#[test]
fn git_dependencies_that_need_preparing_follow_the_build_policy_like_pnpm() {
    let registry = registry::start();
    let (url, integrity) = serve_archive(
        &registry,
        "prep",
        &"e5".repeat(20),
        &[
            (
                "package.json",
                r#"{"name": "prep-pkg", "version": "1.0.0", "files": ["index.js", "built.txt"],
                    "scripts": {"prepare": "node -e \"require('fs').writeFileSync('built.txt', 'built')\""}}"#,
                0o644,
            ),
            ("index.js", "module.exports = 'prep';\n", 0o644),
        ],
    );
    let reference = archive_project(
        &registry,
        &[(
            "prep-pkg",
            &url,
            format!("gitHosted: true, integrity: {integrity}, tarball: {url}"),
            false,
        )],
    );
    let refused = ["pnpm", "tack"].map(|tool| {
        let project = clone_inputs(&reference);
        let out = run(&project, tool, &["install", "--frozen-lockfile"]);
        (project, out)
    });
    for (tool, (project, out)) in ["pnpm", "tack"].iter().zip(&refused) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{tool}: {stderr}");
        assert!(
            stderr.contains("ERR_PNPM_GIT_DEP_PREPARE_NOT_ALLOWED"),
            "{tool}: {stderr}"
        );
        // Nothing is linked into the project: pnpm 12 makes no `node_modules`, tack keeps
        // only its virtual store and its sentinel (it had linked `prep-pkg` already).
        let linked: Vec<String> = fs_err::read_dir(project.dir().join("node_modules"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name != ".pnpm" && name != ".tack-install-in-progress")
            .collect();
        assert!(linked.is_empty(), "{tool} left {linked:?}");
    }
    let tack_stderr = String::from_utf8_lossy(&refused[1].1.stderr);
    assert!(
        tack_stderr.contains(&format!("prep-pkg@{url}: true")),
        "{tack_stderr}"
    );

    let (_, tack) = install_both(&reference, &["--ignore-scripts"]);
    assert!(!tack.dir().join("node_modules/prep-pkg/built.txt").exists());

    let key = format!("prep-pkg@{url}");
    let denied = clone_inputs(&reference);
    denied.add_settings(&format!("allowBuilds:\n  '{key}': false\n"));
    let (_, tack) = install_both(&denied, &[]);
    assert!(!tack.dir().join("node_modules/prep-pkg/built.txt").exists());

    let allowed = clone_inputs(&reference);
    allowed.add_settings(&format!("allowBuilds:\n  '{key}': true\n"));
    let (_, tack) = install_both(&allowed, &[]);
    let built: PathBuf = tack.dir().join("node_modules/prep-pkg/built.txt");
    assert_eq!(fs_err::read_to_string(built).unwrap(), "built");
}

/// A repository whose submodule is another repository of this machine (`file://`) fails as it
/// does with pnpm 12 (git's own refusal of `file` submodules): no repository can pull local
/// files into the store. (tack's protocol list once applied to the submodule step too, and
/// lifted that refusal.)
#[test]
fn local_submodules_are_refused_like_pnpm() {
    let registry = registry::start();
    let repos = tempfile::tempdir().unwrap();
    let private = repos.path().join("private");
    git_repo(
        &private,
        &[("secret-data.txt", "not for the store\n", 0o644)],
    );
    let x = repos.path().join("x");
    git_repo(
        &x,
        &[(
            "package.json",
            r#"{"name": "x", "version": "1.0.0"}"#,
            0o644,
        )],
    );
    let url = format!("file://{}", private.display());
    git_in(&x, &["submodule", "add", "-q", &url, "priv"]);
    git_in(&x, &["commit", "-qm", "with a local submodule"]);
    let sha = git_in(&x, &["rev-parse", "HEAD"]);
    let repo = format!("file://{}", x.display());
    let version = format!("git+{repo}#{sha}");
    let reference = archive_project(
        &registry,
        &[(
            "x",
            &version,
            format!("commit: {sha}, repo: {repo}, type: git"),
            false,
        )],
    );
    for tool in ["pnpm", "tack"] {
        let project = clone_inputs(&reference);
        let out = run(&project, tool, &["install", "--frozen-lockfile"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{tool}: {stderr}");
        assert!(
            stderr.contains("ERR_PNPM_GIT_FETCH_FAILED"),
            "{tool}: {stderr}"
        );
        assert!(
            !project
                .dir()
                .join("node_modules/x/priv/secret-data.txt")
                .exists(),
            "{tool}"
        );
    }
}

/// A git package whose `prepare` script is `script`, committed in `dir`; returns its
/// `git+file://` specifier.
fn prepared_repo(dir: &Path, name: &str, script: &str, extra: serde_json::Value) -> String {
    let mut manifest =
        serde_json::json!({"name": name, "version": "1.0.0", "scripts": {"prepare": script}});
    if let (Some(to), Some(from)) = (manifest.as_object_mut(), extra.as_object()) {
        to.extend(from.clone());
    }
    git_repo(
        dir,
        &[
            ("package.json", &manifest.to_string(), 0o644),
            ("index.js", "module.exports = 1;\n", 0o644),
        ],
    );
    format!("git+file://{}", dir.display())
}

/// When one git dependency's preparation fails, the install does not leave the others'
/// behind: a nested install still running is stopped with its whole process group (here a
/// `sleep` its `prepare` started in the background), and no scratch directory stays in the
/// temp dir. Before, tack returned the error and the `sleep` outlived it.
#[test]
fn a_failed_install_stops_the_other_preparations_and_removes_their_scratch_dirs() {
    let registry = registry::start();
    let repos = tempfile::tempdir().unwrap();
    let pid_file = repos.path().join("sleep.pid");
    // Fails only once the other preparation has started its `sleep`.
    let failing = prepared_repo(
        &repos.path().join("failing"),
        "failing",
        &format!(
            "i=0; while [ ! -s {} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; exit 7",
            pid_file.display()
        ),
        serde_json::json!({}),
    );
    let project = sleeping_project(&registry, repos.path(), &[("failing", &failing)]);
    let tmp = repos.path().join("tmp");
    fs_err::create_dir_all(&tmp).unwrap();
    let started = std::time::Instant::now();
    let out = run_env(
        &project,
        "tack",
        &["install", "--frozen-lockfile"],
        &[("TMPDIR", &tmp)],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("ERR_PNPM_PREPARE_PACKAGE") && stderr.contains("failing@1.0.0"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "the install waited for the other preparation to end by itself"
    );
    assert_ended(&pid_file);
    let left: Vec<_> = fs_err::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "scratch directories left behind: {left:?}");
    assert!(!project.dir().join("node_modules/slow").exists());
}

/// A project depending on `slow`, a git dependency whose `prepare` starts a two-minute
/// `sleep` in the background and writes its pid to `<repos>/sleep.pid`, and on `others`
/// (`(name, specifier)`), all allowed to build; locked by pnpm.
fn sleeping_project(registry: &TestRegistry, repos: &Path, others: &[(&str, &str)]) -> TestProject {
    let pid_file = repos.join("sleep.pid");
    let slow = prepared_repo(
        &repos.join("slow"),
        "slow",
        &format!("sleep 120 & echo $! > {}; wait", pid_file.display()),
        serde_json::json!({}),
    );
    let mut deps = serde_json::json!({"slow": slow});
    let mut allowed = format!("minimumReleaseAge: 0\nallowBuilds:\n  'slow@{slow}': true\n");
    for (name, spec) in others {
        deps[*name] = (*spec).into();
        allowed.push_str(&format!("  '{name}@{spec}': true\n"));
    }
    let project = TestProject::new();
    project
        .write(
            "package.json",
            &serde_json::json!({"name": "p", "version": "1.0.0", "dependencies": deps}).to_string(),
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write("pnpm-workspace.yaml", &allowed);
    project.lock_with_pnpm();
    project
}

/// Asserts that the process whose pid is in `pid_file` has ended (killed, then reaped by
/// init, which may take a moment).
fn assert_ended(pid_file: &Path) {
    let pid = fs_err::read_to_string(pid_file).expect("the slow prepare started its sleep");
    let proc_dir = PathBuf::from(format!("/proc/{}", pid.trim()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while proc_dir.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        !proc_dir.exists(),
        "the slow preparation's sleep outlived the install"
    );
}

/// `SIGTERM` (or Ctrl-C) during a preparation ends the nested install too. It runs in a
/// process group of its own, which a signal to tack's group does not reach, so tack passes
/// the signal on before it dies of it. (`SIGTERM` here: a background job of a script, this
/// `sleep`, ignores `SIGINT`, as under any shell.)
#[test]
fn a_signal_to_tack_reaches_a_running_preparation() {
    let registry = registry::start();
    let repos = tempfile::tempdir().unwrap();
    let project = sleeping_project(&registry, repos.path(), &[]);
    let pid_file = repos.path().join("sleep.pid");
    let mut child = tool_command(&project, "tack", &["install", "--frozen-lockfile"], &[])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start tack");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !pid_file.is_file() || fs_err::read_to_string(&pid_file).unwrap().trim().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the preparation never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // SAFETY: signalling a child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().expect("wait for tack");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGTERM),
        "tack dies of the signal, as it would without a handler"
    );
    assert_ended(&pid_file);
}

/// The peer variants of one git dependency (two projects of a workspace give it different
/// peers) get the tree pnpm 12 builds from one checkout and one preparation: they share a
/// store key, so the row is the same. (pnpm 12 prepares once per variant, which tack did too.)
#[test]
fn peer_variants_of_a_git_dependency_are_prepared_once() {
    let registry = registry::start();
    let repos = tempfile::tempdir().unwrap();
    // An optional peer: the nested `npm install` would fetch a required one from npm's
    // default registry, not this one (with pnpm as with tack).
    let x = prepared_repo(
        &repos.path().join("x"),
        "x",
        "echo run >> \"$PREPARED_LOG\"",
        serde_json::json!({"peerDependencies": {"peer-host": "^1.0.0"},
            "peerDependenciesMeta": {"peer-host": {"optional": true}}}),
    );
    let reference = TestProject::new();
    for (dir, peer) in [("a", "1.0.0"), ("b", "1.1.0")] {
        reference.write(
            &format!("packages/{dir}/package.json"),
            &serde_json::json!({"name": dir, "version": "1.0.0",
                "dependencies": {"x": x, "peer-host": peer}})
            .to_string(),
        );
    }
    reference
        .write("package.json", r#"{"name": "root", "private": true}"#)
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write(
            "pnpm-workspace.yaml",
            &format!(
                "packages:\n  - packages/*\nminimumReleaseAge: 0\nallowBuilds:\n  'x@{x}': true\n"
            ),
        );
    reference.lock_with_pnpm();
    let lockfile = fs_err::read_to_string(reference.dir().join("pnpm-lock.yaml")).unwrap();
    assert!(
        lockfile.contains("(peer-host@1.0.0)") && lockfile.contains("(peer-host@1.1.0)"),
        "pnpm locked two variants:\n{lockfile}"
    );
    let [pnpm, tack] = ["pnpm", "tack"].map(|tool| {
        let log = repos.path().join(format!("{tool}.log"));
        let project = clone_inputs(&reference);
        let out = run_env(
            &project,
            tool,
            &["install", "--frozen-lockfile"],
            &[("PREPARED_LOG", &log)],
        );
        assert_success(&out, tool);
        let runs = fs_err::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count();
        (project, runs)
    });
    let differences = tree::diff(&project_tree(&pnpm.0), &project_tree(&tack.0));
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    for dir in ["a", "b"] {
        let index = tack
            .0
            .dir()
            .join(format!("packages/{dir}/node_modules/x/index.js"));
        assert!(index.is_file(), "{}", index.display());
    }
    assert_eq!(
        (pnpm.1, tack.1),
        (2, 1),
        "preparations by pnpm 12 and by tack"
    );
}

/// A preparation's nested install sees the environment pnpm 12 gives it (a fake `npm` first
/// on PATH records it): the lifecycle variables, `npm_package_*`, `NODE`, `TMPDIR` in the
/// package, pnpm's user agent, `npm_execpath`, and a PATH of the package's `.bin` before the
/// caller's. tack used to set only a handful of them.
#[test]
fn a_preparation_sees_the_environment_pnpm_gives_it() {
    let registry = registry::start();
    let repos = tempfile::tempdir().unwrap();
    let fake_bin = repos.path().join("fake-bin");
    fs_err::create_dir_all(&fake_bin).unwrap();
    let npm = fake_bin.join("npm");
    fs_err::write(
        &npm,
        "#!/bin/sh\nexec node -e 'require(\"fs\").writeFileSync(process.env.ENV_DUMP, JSON.stringify(process.env))'\n",
    )
    .unwrap();
    fs_err::set_permissions(&npm, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let x = prepared_repo(
        &repos.path().join("x"),
        "x",
        "true",
        serde_json::json!({"engines": {"node": ">=18"}, "bin": {"x-cli": "index.js"}}),
    );
    let reference = TestProject::new();
    reference
        .write(
            "package.json",
            &serde_json::json!({"name": "p", "version": "1.0.0", "dependencies": {"x": x}})
                .to_string(),
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write(
            "pnpm-workspace.yaml",
            &format!("minimumReleaseAge: 0\nallowBuilds:\n  'x@{x}': true\n"),
        );
    reference.lock_with_pnpm();
    let path = path_with_first(&fake_bin);
    let [pnpm, tack] = ["pnpm", "tack"].map(|tool| {
        let dump = repos.path().join(format!("{tool}-env.json"));
        let project = clone_inputs(&reference);
        let out = run_env(
            &project,
            tool,
            &["install", "--frozen-lockfile"],
            &[("ENV_DUMP", &dump), ("PATH", &path)],
        );
        assert_success(&out, tool);
        let env: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&fs_err::read_to_string(&dump).unwrap()).unwrap();
        // The scratch directory differs by tool and run.
        let pkg = env["PNPM_SCRIPT_SRC_DIR"].as_str().unwrap().to_string();
        let mut vars: Vec<(String, String)> = env
            .iter()
            .filter(|(k, _)| {
                k.starts_with("npm_")
                    || k.starts_with("pnpm_")
                    || k.starts_with("PNPM_")
                    || ["NODE", "INIT_CWD", "TMPDIR", "PATH"].contains(&k.as_str())
            })
            .map(|(k, v)| {
                let v = v.as_str().unwrap().replace(&pkg, "<pkg>");
                let v = match k.as_str() {
                    // Each tool's own binary, and its own node-gyp.
                    "npm_execpath" | "npm_config_node_gyp" => "<set>".to_string(),
                    "npm_config_user_agent" => v.split(" tack/").next().unwrap().to_string(),
                    "PATH" => v
                        .split(':')
                        .filter(|d| !d.ends_with("node-gyp-bin"))
                        .collect::<Vec<_>>()
                        .join(":"),
                    _ => v,
                };
                (k.clone(), v)
            })
            .collect();
        vars.sort();
        vars
    });
    assert_eq!(tack, pnpm);
    assert!(
        pnpm.iter()
            .any(|(k, v)| k == "TMPDIR" && v == "<pkg>/node_modules/.tmp"),
        "{pnpm:?}"
    );
}

/// A `git daemon` serving the repositories under a directory on a free loopback port, stopped
/// when dropped.
struct GitDaemon {
    child: std::process::Child,
    port: u16,
}

impl GitDaemon {
    fn start(base: &Path) -> GitDaemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("git")
            .arg("daemon")
            .arg("--reuseaddr")
            .arg("--export-all")
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("run git daemon (part of git)");
        let daemon = GitDaemon { child, port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return daemon;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("git daemon did not listen on port {port}");
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A repository of `x` with only its manifest.
const X_MANIFEST: &[(&str, &str, u32)] = &[(
    "package.json",
    r#"{"name": "x", "version": "1.0.0"}"#,
    0o644,
)];

/// A project depending on `x` at the git specifier `spec`, with `settings` added to its
/// `pnpm-workspace.yaml`, locked by pnpm.
fn locked_git_dependency(registry: &TestRegistry, spec: &str, settings: &str) -> TestProject {
    let project = TestProject::new();
    project
        .write(
            "package.json",
            &serde_json::json!({"name": "p", "version": "1.0.0", "dependencies": {"x": spec}})
                .to_string(),
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write(
            "pnpm-workspace.yaml",
            &format!("minimumReleaseAge: 0\n{settings}"),
        );
    project.lock_with_pnpm();
    project
}

/// A directory holding a `git` that appends its arguments and its `GIT_SSH_COMMAND` and
/// `GIT_ALLOW_PROTOCOL` to `$GIT_LOG`, then runs the real one; returns a PATH with it first.
fn recording_git(dir: &Path) -> PathBuf {
    let real = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join("git"))
        .find(|p| p.is_file())
        .expect("git on PATH");
    fs_err::create_dir_all(dir).unwrap();
    let git = dir.join("git");
    fs_err::write(
        &git,
        format!(
            "#!/bin/sh\necho \"$* | GIT_SSH_COMMAND=${{GIT_SSH_COMMAND-unset}} GIT_ALLOW_PROTOCOL=${{GIT_ALLOW_PROTOCOL-unset}}\" >> \"$GIT_LOG\"\nexec '{}' \"$@\"\n",
            real.display()
        ),
    )
    .unwrap();
    fs_err::set_permissions(&git, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path_with_first(dir)
}

/// The test's PATH with `dir` first.
fn path_with_first(dir: &Path) -> PathBuf {
    let path = std::env::join_paths(
        std::iter::once(dir.to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    PathBuf::from(path)
}

/// A repository whose host is one of `gitShallowHosts` is fetched at the locked commit only
/// (`git init`, then `git fetch --depth 1 origin <commit>`), as pnpm 12 does; any other is
/// cloned whole. The host name decides, not the port, and the default hosts are git hosts,
/// not this one. Checked against pnpm with a `git` on PATH that records its arguments; the
/// locked commit is not the branch's tip.
#[test]
fn repositories_on_shallow_hosts_are_fetched_at_one_commit_like_pnpm() {
    let registry = registry::start();
    let repos = tempfile::tempdir().unwrap();
    let x = repos.path().join("x");
    let first = git_repo(
        &x,
        &[
            (
                "package.json",
                r#"{"name": "x", "version": "1.0.0"}"#,
                0o644,
            ),
            ("a.js", "module.exports = 1;\n", 0o644),
        ],
    );
    fs_err::write(x.join("b.js"), "module.exports = 2;\n").unwrap();
    git_in(&x, &["add", "b.js"]);
    git_in(&x, &["commit", "-qm", "two"]);
    let daemon = GitDaemon::start(repos.path());
    let path = recording_git(&repos.path().join("fake-bin"));
    let port = daemon.port;
    let cases = [
        ("gitShallowHosts: ['127.0.0.1']\n".to_string(), true),
        (format!("gitShallowHosts: ['127.0.0.1:{port}']\n"), false),
        (String::new(), false),
    ];
    for (n, (setting, shallow)) in cases.iter().enumerate() {
        let spec = format!("git://127.0.0.1:{port}/x#{first}");
        let reference = locked_git_dependency(&registry, &spec, setting);
        for tool in ["pnpm", "tack"] {
            let log = repos.path().join(format!("{tool}-{n}.log"));
            let project = clone_inputs(&reference);
            let out = run_env(
                &project,
                tool,
                &["install", "--frozen-lockfile"],
                &[("GIT_LOG", &log), ("PATH", &path)],
            );
            assert_success(&out, &format!("{tool}, {setting:?}"));
            let pkg = project.dir().join("node_modules/x");
            assert!(pkg.join("a.js").is_file() && !pkg.join("b.js").exists());
            let calls = fs_err::read_to_string(&log).unwrap();
            let fetched = calls
                .lines()
                .any(|l| l.starts_with("fetch") && l.contains("--depth 1 origin"));
            let cloned = calls.lines().any(|l| l.starts_with("clone"));
            assert_eq!(
                (fetched, cloned),
                (*shallow, !*shallow),
                "{tool}, {setting:?}: git was run as\n{calls}"
            );
        }
    }
}

/// A repository locked as an SSH remote that cannot be fetched fails with pnpm 12's code, and
/// the help says what pnpm's hint says: an SSH key for that host is needed, and an entry
/// written before pnpm 11.21 is recorded again over HTTPS by `pnpm update`.
#[test]
fn an_unreachable_ssh_remote_fails_with_pnpm_s_hint() {
    let registry = registry::start();
    let repos = tempfile::tempdir().unwrap();
    let commit = git_repo(&repos.path().join("x"), X_MANIFEST);
    let daemon = GitDaemon::start(repos.path());
    let served = format!("git://127.0.0.1:{}/x", daemon.port);
    let project = locked_git_dependency(&registry, &format!("{served}#{commit}"), "");
    // Port 1 refuses the connection at once.
    let ssh = "ssh://git@127.0.0.1:1/x";
    for file in ["package.json", "pnpm-lock.yaml"] {
        let text = fs_err::read_to_string(project.dir().join(file)).unwrap();
        assert!(text.contains(&served), "{file}");
        project.write(file, &text.replace(&served, ssh));
    }
    for tool in ["pnpm", "tack"] {
        let project = clone_inputs(&project);
        let out = run(&project, tool, &["install", "--frozen-lockfile"]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{tool}: {text}");
        assert!(text.contains("ERR_PNPM_GIT_FETCH_FAILED"), "{tool}: {text}");
        assert!(text.contains("SSH key for 127.0.0.1"), "{tool}: {text}");
        assert!(text.contains("pnpm update x"), "{tool}: {text}");
        assert!(!project.dir().join("node_modules/x").exists(), "{tool}");
    }
}

/// The clone runs with pnpm 12's environment, which leaves the user's own choices in place:
/// ssh in batch mode and pnpm's protocol list by default, but no `GIT_SSH_COMMAND` over a
/// configured `core.sshCommand` (a deploy key) or a `GIT_SSH`, a protocol git's config forbids
/// left out, and a `GIT_ALLOW_PROTOCOL` of the user's kept. Recorded for both tools by a `git`
/// on PATH.
#[test]
fn a_clone_keeps_the_user_s_ssh_and_protocol_settings_like_pnpm() {
    let registry = registry::start();
    let repos = tempfile::tempdir().unwrap();
    let commit = git_repo(&repos.path().join("x"), X_MANIFEST);
    let daemon = GitDaemon::start(repos.path());
    let path = recording_git(&repos.path().join("fake-bin"));
    let spec = format!("git://127.0.0.1:{}/x#{commit}", daemon.port);
    let reference = locked_git_dependency(&registry, &spec, "");
    let config = repos.path().join("gitconfig");
    let ssh = PathBuf::from("/usr/bin/ssh");
    let git_only = PathBuf::from("git");
    // The user's global git config, the user's environment, and what the clone must see.
    type Case<'a> = (&'a str, Vec<(&'a str, &'a Path)>, &'a str);
    let cases: [Case; 3] = [
        (
            "",
            vec![],
            "GIT_SSH_COMMAND=ssh -o BatchMode=yes GIT_ALLOW_PROTOCOL=file:git:http:https:ssh",
        ),
        (
            "[core]\n\tsshCommand = ssh -i deploy-key\n[protocol \"ssh\"]\n\tallow = never\n",
            vec![],
            "GIT_SSH_COMMAND=unset GIT_ALLOW_PROTOCOL=file:git:http:https",
        ),
        (
            "",
            vec![("GIT_SSH", &ssh), ("GIT_ALLOW_PROTOCOL", &git_only)],
            "GIT_SSH_COMMAND=unset GIT_ALLOW_PROTOCOL=git",
        ),
    ];
    for (n, (gitconfig, env, expected)) in cases.iter().enumerate() {
        fs_err::write(&config, gitconfig).unwrap();
        let recorded = ["pnpm", "tack"].map(|tool| {
            let log = repos.path().join(format!("{tool}-{n}.log"));
            let project = clone_inputs(&reference);
            let mut vars: Vec<(&str, &Path)> = vec![
                ("GIT_LOG", &log),
                ("PATH", &path),
                ("GIT_CONFIG_GLOBAL", &config),
            ];
            vars.extend(env.iter().copied());
            let out = run_env(&project, tool, &["install", "--frozen-lockfile"], &vars);
            assert_success(&out, &format!("{tool}, case {n}"));
            let calls = fs_err::read_to_string(&log).unwrap();
            let clone = calls
                .lines()
                .find(|l| l.starts_with("clone"))
                .unwrap_or_else(|| panic!("{tool}, case {n}: no clone in\n{calls}"));
            clone.split(" | ").nth(1).unwrap().to_string()
        });
        assert_eq!(recorded[1], recorded[0], "case {n}: tack, then pnpm");
        assert_eq!(recorded[1], *expected, "case {n}");
    }
}
