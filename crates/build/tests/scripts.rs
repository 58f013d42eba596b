//! Dependency and project lifecycle scripts run for real with `sh -c`.

mod common;

use common::{graph, node, write_exe, Events, Tree};
use indexmap::IndexMap;
use serde_json::json;
use tack_build::{
    build_dependencies, run_project_scripts, BuildError, BuildOptions, BuildPolicy, Project,
};

fn record_scripts(log: &std::path::Path, name: &str) -> tack_build::LifecycleScripts {
    let s = |stage: &str| Some(format!("echo {name}:{stage} >> '{}'", log.display()));
    tack_build::LifecycleScripts {
        preinstall: s("preinstall"),
        install: s("install"),
        postinstall: s("postinstall"),
    }
}

fn opts(tree: &Tree, policy: &BuildPolicy) -> BuildOptions<'static> {
    // Leak the policy so the options can be 'static in tests.
    let policy: &'static BuildPolicy = Box::leak(Box::new(policy.clone()));
    BuildOptions {
        env: tree.env(),
        policy,
        child_concurrency: 4,
        ignore_scripts: false,
        link_bins: None,
        discard_failed: None,
    }
}

#[test]
fn approved_scripts_run_deps_first_in_stage_order_with_env_and_path() {
    let tree = Tree::new();
    let log = tree.root().join("order.log");
    let mut dep = node(&tree, "dep", "1.0.0", &[]);
    dep.requires_build = true;
    dep.scripts = record_scripts(&log, "dep");
    let mut app = node(&tree, "app", "2.0.0", &["dep@1.0.0", "plain@1.0.0"]);
    app.requires_build = true;
    app.scripts = record_scripts(&log, "app");
    let env_out = tree.root().join("env.txt");
    // postinstall also runs a bin from the package's own node_modules/.bin and dumps its env.
    app.scripts.postinstall = Some(format!(
        "echo app:postinstall >> '{log}' && hello-bin && hello-bin >> '{log}' && env > '{env}'",
        log = log.display(),
        env = env_out.display()
    ));
    write_exe(
        &app.dir.join("node_modules/.bin/hello-bin"),
        "#!/bin/sh\necho hello-from-bin\n",
    );
    let plain = node(&tree, "plain", "1.0.0", &[]);
    let app_dir = app.dir.clone();
    let g = graph(vec![dep, app, plain], &["app@2.0.0"]);
    let policy = BuildPolicy::allow_all();
    let events = Events::default();
    let report = build_dependencies(&g, &opts(&tree, &policy), &|e| events.record(e)).unwrap();

    let order = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        order.lines().collect::<Vec<_>>(),
        vec![
            "dep:preinstall",
            "dep:install",
            "dep:postinstall",
            "app:preinstall",
            "app:install",
            "app:postinstall",
            "hello-from-bin",
        ]
    );
    assert_eq!(report.built.len(), 2);
    assert!(report.built.iter().all(|b| b.ran_scripts));
    assert!(report.ignored_builds.is_empty());

    let env: std::collections::HashMap<String, String> = std::fs::read_to_string(&env_out)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let root = tree.root();
    assert_eq!(env["INIT_CWD"], root.display().to_string());
    assert_eq!(env["PNPM_SCRIPT_SRC_DIR"], app_dir.display().to_string());
    assert_eq!(env["npm_lifecycle_event"], "postinstall");
    assert_eq!(env["npm_package_name"], "app");
    assert_eq!(env["npm_package_version"], "2.0.0");
    assert_eq!(env["npm_command"], "install");
    let ua = &env["npm_config_user_agent"];
    assert!(
        ua.starts_with("pnpm/12.21.0 npm/? node/v20.0.0 ") && ua.ends_with(" tack/0.1.0"),
        "{ua}"
    );
    let vs = tree.vs();
    let expected_prefix = [
        app_dir.join("node_modules/.bin"),
        vs.join("app@2.0.0/node_modules/.bin"),
        root.join("node_modules/.bin"),
        vs.join("node_modules/.bin"),
    ]
    .iter()
    .map(|p| p.display().to_string())
    .collect::<Vec<_>>()
    .join(":");
    assert!(
        env["PATH"].starts_with(&format!("{expected_prefix}:")),
        "PATH was {}",
        env["PATH"]
    );

    // Output was streamed with the package prefix.
    let all = events.all();
    let prefix = "node_modules/.pnpm/app@2.0.0/node_modules/app";
    assert!(
        all.contains(&format!("{prefix} | hello-from-bin")),
        "{all:#?}"
    );
    assert!(
        all.iter()
            .any(|e| e.starts_with(&format!("{prefix} postinstall$ echo"))),
        "{all:#?}"
    );
}

#[test]
fn policy_decides_which_packages_run_and_undecided_ones_are_reported() {
    let tree = Tree::new();
    let log = tree.root().join("order.log");
    let mut nodes = Vec::new();
    for name in ["approved", "denied", "undecided"] {
        let mut n = node(&tree, name, "1.0.0", &[]);
        n.requires_build = true;
        n.scripts = record_scripts(&log, name);
        nodes.push(n);
    }
    let g = graph(
        nodes,
        &["approved@1.0.0", "denied@1.0.0", "undecided@1.0.0"],
    );
    let mut allow = IndexMap::new();
    allow.insert("approved".to_string(), json!(true));
    allow.insert("denied".to_string(), json!(false));
    let policy = BuildPolicy::new(&allow, false, None, None);
    let report = build_dependencies(&g, &opts(&tree, &policy), &|_| {}).unwrap();
    let order = std::fs::read_to_string(&log).unwrap();
    assert_eq!(order.lines().count(), 3, "{order}");
    assert!(order.lines().all(|l| l.starts_with("approved:")), "{order}");
    assert_eq!(report.ignored_builds, vec!["undecided@1.0.0".to_string()]);
    let err = tack_build::ignored_builds_error(&report.ignored_builds).unwrap();
    assert_eq!(err.code(), "ERR_PNPM_IGNORED_BUILDS");
}

#[test]
fn ignore_scripts_runs_nothing_and_reports_pending_builds() {
    let tree = Tree::new();
    let log = tree.root().join("order.log");
    let mut n = node(&tree, "a", "1.0.0", &[]);
    n.requires_build = true;
    n.scripts = record_scripts(&log, "a");
    let g = graph(vec![n], &["a@1.0.0"]);
    let policy = BuildPolicy::allow_all();
    let mut o = opts(&tree, &policy);
    o.ignore_scripts = true;
    let report = build_dependencies(&g, &o, &|_| {}).unwrap();
    assert!(!log.exists());
    assert_eq!(report.pending_builds, vec!["a@1.0.0".to_string()]);
    assert!(report.built.is_empty());
}

#[test]
fn failing_script_reports_package_script_exit_code_and_output() {
    let tree = Tree::new();
    let mut n = node(&tree, "broken", "1.2.3", &[]);
    n.requires_build = true;
    n.scripts.postinstall = Some("echo first-line; echo second-line >&2; exit 3".to_string());
    let g = graph(vec![n], &["broken@1.2.3"]);
    let policy = BuildPolicy::allow_all();
    let err = build_dependencies(&g, &opts(&tree, &policy), &|_| {}).unwrap_err();
    assert_eq!(err.code(), "ERR_PNPM_EXECUTOR_LIFECYCLE_SCRIPT_FAILED");
    let BuildError::ScriptFailed(f) = &err else {
        panic!("unexpected error {err:?}")
    };
    assert_eq!(f.exit_code, Some(3));
    assert_eq!(f.stage, "postinstall");
    assert!(f.output.contains(&"first-line".to_string()));
    let msg = err.to_string();
    for needle in [
        "broken@1.2.3",
        "postinstall",
        "exit code 3",
        "first-line",
        "second-line",
    ] {
        assert!(msg.contains(needle), "missing {needle} in {msg}");
    }
}

/// A failing optional package is skipped: logged (no warning, as pnpm 12), and handed to
/// the discard callback before the packages that depend on it build, so they find it gone.
#[test]
fn a_failing_optional_package_is_skipped_and_discarded_before_its_dependents_build() {
    let tree = Tree::new();
    let marker = tree.root().join("after.txt");
    let mut opt = node(&tree, "opt", "1.0.0", &[]);
    opt.requires_build = true;
    opt.optional = true;
    opt.scripts.install = Some("exit 1".to_string());
    let opt_dir = opt.dir.clone();
    let mut parent = node(&tree, "parent", "1.0.0", &["opt@1.0.0"]);
    parent.requires_build = true;
    parent.scripts.postinstall = Some(format!(
        "test ! -e '{}' && touch '{}'",
        opt_dir.display(),
        marker.display()
    ));
    let g = graph(vec![opt, parent], &["parent@1.0.0"]);
    let policy = BuildPolicy::allow_all();
    let events = Events::default();
    let discarded = std::sync::Mutex::new(Vec::new());
    let discard = |node: &tack_build::BuildNode| -> Result<(), String> {
        discarded.lock().unwrap().push(node.dep_path.clone());
        std::fs::remove_dir_all(&node.dir).map_err(|e| e.to_string())
    };
    let discarding = BuildOptions {
        discard_failed: Some(&discard),
        ..opts(&tree, &policy)
    };
    let report = build_dependencies(&g, &discarding, &|e| events.record(e)).unwrap();
    assert_eq!(report.skipped_optional.len(), 1);
    assert_eq!(report.skipped_optional[0].dep_path, "opt@1.0.0");
    let all = events.all();
    assert!(
        all.iter()
            .any(|e| e.starts_with("SKIPPED opt@1.0.0: ") && e.contains("exit 1")),
        "{all:?}"
    );
    assert!(!all.iter().any(|e| e.starts_with("WARN")), "{all:?}");
    assert_eq!(*discarded.lock().unwrap(), vec!["opt@1.0.0".to_string()]);
    assert!(
        marker.exists(),
        "the rest of the build went on, without the optional package"
    );

    // A package that cannot be taken out fails the build, as in pnpm 12.
    let mut opt = node(&tree, "opt", "1.0.0", &[]);
    opt.requires_build = true;
    opt.optional = true;
    opt.scripts.install = Some("exit 1".to_string());
    let g = graph(vec![opt], &["opt@1.0.0"]);
    let refuse = |_: &tack_build::BuildNode| -> Result<(), String> { Err("refused".into()) };
    let refusing = BuildOptions {
        discard_failed: Some(&refuse),
        ..opts(&tree, &policy)
    };
    let err = build_dependencies(&g, &refusing, &|_| {}).unwrap_err();
    assert_eq!(err.code(), "ERR_TACK_BUILD_IO");
    assert!(err.to_string().contains("opt@1.0.0"), "{err}");
}

#[test]
fn binding_gyp_runs_node_gyp_rebuild_unless_gypfile_false() {
    let tree = Tree::new();
    let fake_bin = tree.root().join("fake-bin");
    let calls = tree.root().join("gyp-calls.txt");
    write_exe(
        &fake_bin.join("node-gyp"),
        &format!("#!/bin/sh\necho \"$(pwd) $*\" >> '{}'\n", calls.display()),
    );
    let mut gyp = node(&tree, "native", "1.0.0", &[]);
    gyp.requires_build = true;
    std::fs::write(gyp.dir.join("binding.gyp"), "{}").unwrap();
    let mut nogyp = node(&tree, "nogyp", "1.0.0", &[]);
    nogyp.requires_build = true;
    nogyp.gypfile = Some(false);
    std::fs::write(nogyp.dir.join("binding.gyp"), "{}").unwrap();
    let native_dir = gyp.dir.clone();
    let g = graph(vec![gyp, nogyp], &["native@1.0.0", "nogyp@1.0.0"]);
    let policy = BuildPolicy::allow_all();
    let mut o = opts(&tree, &policy);
    let mut path = std::ffi::OsString::from(fake_bin.as_os_str());
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap());
    o.env.base_path = Some(path);
    build_dependencies(&g, &o, &|_| {}).unwrap();
    let calls = std::fs::read_to_string(&calls).unwrap();
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        vec![format!("{} rebuild", native_dir.display())]
    );
}

#[test]
fn only_allow_pnpm_is_skipped() {
    let tree = Tree::new();
    let mut n = node(&tree, "strict", "1.0.0", &[]);
    n.requires_build = true;
    n.scripts.preinstall = Some("npx only-allow pnpm".to_string());
    let g = graph(vec![n], &["strict@1.0.0"]);
    let policy = BuildPolicy::allow_all();
    let events = Events::default();
    let report = build_dependencies(&g, &opts(&tree, &policy), &|e| events.record(e)).unwrap();
    assert!(events.all().is_empty(), "{:?}", events.all());
    assert!(!report.built[0].ran_scripts);
}

#[test]
fn project_scripts_run_in_order_unless_ignored() {
    let tree = Tree::new();
    let log = tree.root().join("project.log");
    let mut scripts = serde_json::Map::new();
    for stage in tack_build::PROJECT_STAGES {
        scripts.insert(
            stage.to_string(),
            json!(format!("echo $npm_lifecycle_event >> '{}'", log.display())),
        );
    }
    let project = Project {
        dir: tree.root(),
        manifest: json!({"name": "root", "version": "1.0.0", "scripts": scripts}),
        preinstall_done: false,
    };
    let stages = tack_build::PROJECT_STAGES;
    let rounds = vec![vec![project]];
    run_project_scripts(&rounds, &stages, &tree.env(), true, 4, &|_| {}).unwrap();
    assert!(!log.exists());
    let outputs = run_project_scripts(&rounds, &stages, &tree.env(), false, 4, &|_| {}).unwrap();
    assert_eq!(outputs.len(), 6);
    assert_eq!(
        std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .collect::<Vec<_>>(),
        tack_build::PROJECT_STAGES.to_vec()
    );
}
