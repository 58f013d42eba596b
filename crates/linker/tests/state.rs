//! State files: `.modules.yaml` content and its compatibility checks, `lock.yaml`, and the
//! workspace state used for the no-op check.

mod common;
use common::*;
use tack_linker::*;

fn small_plan(root: &std::path::Path, cas: &Cas) -> LinkPlan {
    let mut a = cas.package("a", "1.0.0", "", &[]);
    a.children = vec![("b".into(), dep("b@1.0.0"))];
    let b = cas.package("b", "1.0.0", "", &[]);
    let mut plan = LinkPlan::new(root);
    plan.modules_state.store_dir = "/store/v11".into();
    plan.modules_state.skipped = vec!["fsevents@2.3.3".into()];
    plan.packages = vec![a, b];
    plan.importers = vec![importer(".", root, &[("a", dep("a@1.0.0"))])];
    plan
}

#[test]
fn modules_yaml_has_pnpm_12_fields_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("proj");
    let cas = Cas::new(tmp.path());
    link(&small_plan(&root, &cas)).unwrap();
    let text = std::fs::read_to_string(root.join("node_modules/.modules.yaml")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "hoistedDependencies",
            "hoistPattern",
            "included",
            "layoutVersion",
            "nodeLinker",
            "packageManager",
            "pendingBuilds",
            "prunedAt",
            "publicHoistPattern",
            "skipped",
            "storeDir",
            "virtualStoreDir",
            "virtualStoreDirMaxLength",
            "allowBuilds"
        ]
    );
    assert!(text.starts_with(
        "{\n  \"hoistedDependencies\": {\n    \"b@1.0.0\": {\n      \"b\": \"private\""
    ));
    assert!(!text.ends_with('\n'));
    assert_eq!(v["virtualStoreDir"], ".pnpm");
    assert_eq!(v["layoutVersion"], 5);
    assert_eq!(v["packageManager"], "pnpm@12.21.0");
    assert_eq!(v["storeDir"], "/store/v11");
    assert_eq!(v["skipped"], serde_json::json!(["fsevents@2.3.3"]));
    assert_eq!(
        v["included"],
        serde_json::json!({"dependencies": true, "devDependencies": true, "optionalDependencies": true})
    );
    assert!(v["prunedAt"].as_str().unwrap().ends_with(" GMT"));
}

#[test]
fn compat_checks_purge_or_refuse_like_pnpm_12() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("proj");
    let cas = Cas::new(tmp.path());
    let plan = small_plan(&root, &cas);
    link(&plan).unwrap();
    let existing = read_modules_yaml(&root.join("node_modules")).unwrap();
    assert_eq!(check_compat(&existing, &plan).unwrap(), CompatAction::Keep);

    let mut old = existing.clone();
    old.layout_version = serde_json::json!(4);
    assert_eq!(
        check_compat(&old, &plan).unwrap_err().code(),
        "ERR_PNPM_MODULES_BREAKING_CHANGE"
    );

    let vs = root.join("node_modules/.vs");
    for (field, change) in [
        (
            "storeDir",
            Box::new(|p: &mut LinkPlan| p.modules_state.store_dir = "/elsewhere/v11".into())
                as Box<dyn Fn(&mut LinkPlan)>,
        ),
        (
            "virtualStoreDir",
            Box::new(move |p: &mut LinkPlan| p.virtual_store_dir = vs.clone()),
        ),
        (
            "hoistPattern",
            Box::new(|p: &mut LinkPlan| p.hoist_pattern = vec![]),
        ),
        (
            "publicHoistPattern",
            Box::new(|p: &mut LinkPlan| p.public_hoist_pattern = Some(vec!["*".into()])),
        ),
        (
            "virtualStoreDirMaxLength",
            Box::new(|p: &mut LinkPlan| p.virtual_store_dir_max_length = 60),
        ),
    ] {
        let mut other = plan.clone();
        change(&mut other);
        assert_eq!(
            check_compat(&existing, &other).unwrap(),
            CompatAction::PurgeAndReinstall {
                reason: field.to_string()
            }
        );
    }
}

#[test]
fn lock_yaml_and_workspace_state_are_written() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("proj");
    std::fs::create_dir_all(&root).unwrap();
    let manifest = root.join("package.json");
    let lockfile = root.join("pnpm-lock.yaml");
    std::fs::write(&manifest, "{}").unwrap();
    std::fs::write(&lockfile, "lockfileVersion: '9.0'\n").unwrap();
    let cas = Cas::new(tmp.path());
    let mut plan = small_plan(&root, &cas);
    plan.importers[0].name = Some("proj".into());
    plan.current_lockfile_yaml = std::sync::OnceLock::from("lockfileVersion: '9.0'\n".to_string());
    plan.workspace_state = Some(WorkspaceStateInput {
        stamped_files: Vec::new(),
        validated_files: vec![lockfile.clone(), manifest.clone()],
        ..Default::default()
    });
    link(&plan).unwrap();
    let nm = root.join("node_modules");
    assert_eq!(
        std::fs::read_to_string(nm.join(".pnpm/lock.yaml")).unwrap(),
        "lockfileVersion: '9.0'\n"
    );
    let state = read_workspace_state(&nm).unwrap();
    assert_eq!(
        state.projects[&root.to_string_lossy().into_owned()]
            .name
            .as_deref(),
        Some("proj")
    );
    let files = [lockfile.clone(), manifest.clone()];
    assert!(state.inputs_unchanged(&files));
    // pnpm 12's digest of the lockfile: the first 32 hex digits of its SHA-256.
    assert_eq!(
        state.validation.as_ref().unwrap().files[lockfile.to_string_lossy().as_ref()]
            .digest
            .as_deref(),
        Some("f0bcde463fa201480015b9caa7db2017")
    );
    // Written again as it was: a new mtime, the same content.
    std::thread::sleep(std::time::Duration::from_millis(5));
    std::fs::write(&manifest, "{}").unwrap();
    assert!(state.inputs_unchanged(&files));
    // The same size, other content.
    std::fs::write(&manifest, "[]").unwrap();
    assert!(!state.inputs_unchanged(&files));
    // The same size and the recorded mtime put back (`tar x`, `cp -p`): the change time moved.
    let recorded = &state.validation.as_ref().unwrap().files[manifest.to_string_lossy().as_ref()];
    let mtime = std::time::UNIX_EPOCH
        + std::time::Duration::from_nanos(u64::try_from(recorded.mtime_ns).unwrap());
    std::fs::File::options()
        .write(true)
        .open(&manifest)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_eq!(stamp(&manifest).unwrap().mtime_ns, recorded.mtime_ns);
    assert!(!state.inputs_unchanged(&files));
    std::fs::write(&manifest, "{\"name\":\"x\"}").unwrap();
    assert!(!state.inputs_unchanged(&files));

    plan.current_lockfile_yaml = std::sync::OnceLock::new();
    link(&plan).unwrap();
    assert!(!nm.join(".pnpm/lock.yaml").exists());
}
