//! Re-install: partial dirs repaired, removed packages deleted with their links and bins,
//! an unchanged re-link writes nothing, and a tree linked from the same lockfile is trusted.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use tack_linker::*;

fn plan_ab(root: &Path, cas: &Cas, with_b: bool) -> LinkPlan {
    let js = "#!/usr/bin/env node\n";
    let mut a = cas.package("a", "1.0.0", "", &[("index.js", "a"), ("lib/x.js", "x")]);
    a.children = vec![("c".into(), dep("c@1.0.0"))];
    let c = cas.package("c", "1.0.0", "", &[("index.js", "c")]);
    let b = cas.package("b", "1.0.0", r#""bin":"bin/b.js""#, &[("bin/b.js", js)]);
    let mut plan = LinkPlan::new(root);
    plan.packages = vec![a, c];
    let mut deps = vec![("a", dep("a@1.0.0"))];
    if with_b {
        plan.packages.push(b);
        deps.push(("b", dep("b@1.0.0")));
    }
    plan.importers = vec![importer(".", root, &deps)];
    record_lockfile_of(&mut plan);
    plan
}

/// Sets the lockfile the plan records to a stand-in for the one the CLI renders: like it,
/// it changes whenever an importer's dependencies or a package's children change.
fn record_lockfile_of(plan: &mut LinkPlan) {
    let mut yaml = String::from("lockfileVersion: '9.0'\n");
    for imp in &plan.importers {
        let deps: Vec<String> = imp
            .deps
            .iter()
            .map(|d| format!("{}: {:?}", d.alias, d.target))
            .collect();
        yaml.push_str(&format!("{}: {deps:?}\n", imp.id));
    }
    for pkg in &plan.packages {
        yaml.push_str(&format!("{}: {:?}\n", pkg.dep_path, pkg.children));
    }
    plan.current_lockfile_yaml = std::sync::OnceLock::from(yaml);
}

/// A project in a temp dir with a CAS of its own, linked once from [`plan_ab`].
struct Linked {
    root: std::path::PathBuf,
    cas: Cas,
    plan: LinkPlan,
    _tmp: tempfile::TempDir,
}

fn linked_ab(with_b: bool) -> Linked {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("proj");
    let cas = Cas::new(tmp.path());
    let plan = plan_ab(&root, &cas, with_b);
    link(&plan).unwrap();
    Linked {
        root,
        cas,
        plan,
        _tmp: tmp,
    }
}

#[test]
fn a_package_dir_without_package_json_is_wiped_and_reimported() {
    let Linked {
        root, plan, _tmp, ..
    } = linked_ab(false);
    let a = root.join("node_modules/.pnpm/a@1.0.0/node_modules/a");
    std::fs::remove_file(a.join("package.json")).unwrap();
    std::fs::remove_file(a.join("lib/x.js")).unwrap();
    std::fs::write(a.join("junk.js"), "left by a crash").unwrap();
    let report = link(&plan).unwrap();
    assert_eq!((report.repaired, report.reused), (1, 1));
    assert!(a.join("package.json").is_file() && a.join("lib/x.js").is_file());
    assert!(!a.join("junk.js").exists());
}

/// A package the lockfile no longer has loses its links and bins at once; its directory in
/// the virtual store stays, as in pnpm, until the last prune is `modulesCacheMaxAge` old
/// (`.modules.yaml#prunedAt`, kept as it was until then).
#[test]
fn removed_packages_lose_their_links_and_bins_and_their_dirs_once_a_prune_is_due() {
    let Linked {
        root, cas, _tmp, ..
    } = linked_ab(true);
    let nm = root.join("node_modules");
    assert!(nm.join(".bin/b").is_file() && nm.join("b").exists());
    let pruned_at = read_modules_yaml(&nm).unwrap().pruned_at;
    let report = link(&plan_ab(&root, &cas, false)).unwrap();
    assert!(report.removed_packages.is_empty());
    assert!(nm
        .join(".pnpm/b@1.0.0/node_modules/b/package.json")
        .is_file());
    assert!(std::fs::symlink_metadata(nm.join("b")).is_err());
    assert!(!nm.join(".bin/b").exists());
    assert!(nm.join("a").exists());
    assert_eq!(read_modules_yaml(&nm).unwrap().pruned_at, pruned_at);

    // A week and a minute later, the next link prunes, and says when.
    let mut modules = read_modules_yaml(&nm).unwrap();
    modules.pruned_at = "Mon, 01 Jan 2024 00:00:00 GMT".to_string();
    write_modules_yaml(&nm, &modules).unwrap();
    let report = link(&plan_ab(&root, &cas, false)).unwrap();
    assert_eq!(report.removed_packages, ["b@1.0.0"]);
    assert!(!nm.join(".pnpm/b@1.0.0").exists());
    assert_ne!(read_modules_yaml(&nm).unwrap().pruned_at, modules.pruned_at);
}

/// `modulesCacheMaxAge: 0` prunes every time.
#[test]
fn a_cache_age_of_zero_prunes_at_once() {
    let Linked {
        root, cas, _tmp, ..
    } = linked_ab(true);
    let nm = root.join("node_modules");
    let mut plan = plan_ab(&root, &cas, false);
    plan.modules_cache_max_age_minutes = 0;
    let report = link(&plan).unwrap();
    assert_eq!(report.removed_packages, ["b@1.0.0"]);
    assert!(!nm.join(".pnpm/b@1.0.0").exists());
}

#[test]
fn a_stale_child_link_is_removed_from_a_reused_package() {
    let Linked {
        root,
        mut plan,
        _tmp,
        ..
    } = linked_ab(false);
    plan.packages[0].children.clear();
    record_lockfile_of(&mut plan);
    link(&plan).unwrap();
    assert!(
        std::fs::symlink_metadata(root.join("node_modules/.pnpm/a@1.0.0/node_modules/c")).is_err()
    );
}

#[test]
fn the_links_of_a_tree_linked_from_the_same_lockfile_are_trusted() {
    let Linked {
        root, plan, _tmp, ..
    } = linked_ab(true);
    let child = root.join("node_modules/.pnpm/a@1.0.0/node_modules/c");
    let bin = root.join("node_modules/.bin/b");
    std::fs::remove_file(&child).unwrap();
    std::fs::remove_file(&bin).unwrap();
    // The recorded lockfile and layout are this plan's: the child links are not checked, as
    // pnpm does not check them. Bins are: manifests and builds change them, not lockfiles.
    let report = link(&plan).unwrap();
    assert_eq!(report.reused, 3);
    assert!(std::fs::symlink_metadata(&child).is_err());
    assert!(bin.is_file());
    // Without the record, every link is checked and the missing ones are made again.
    std::fs::remove_file(root.join("node_modules/.pnpm/lock.yaml")).unwrap();
    link(&plan).unwrap();
    assert!(child.join("index.js").is_file());
}

#[test]
fn the_record_of_another_lockfile_or_layout_is_deleted_before_anything_changes() {
    let Linked {
        root,
        cas,
        plan: with_b,
        _tmp,
    } = linked_ab(true);
    let record = root.join("node_modules/.pnpm/lock.yaml");
    let wanted = |plan: &LinkPlan| plan.current_lockfile_yaml.get().cloned();
    let check = |plan: &LinkPlan| {
        let recorded = std::fs::read(&record).ok();
        check_recorded_tree(plan, wanted(plan).as_deref(), recorded.as_deref()).unwrap()
    };
    // The same lockfile is trusted, and its record goes too until the install ends: an
    // install that stops partway leaves none, even of the lockfile it was installing again.
    assert!(check(&with_b));
    assert!(!record.exists());
    link(&with_b).unwrap();
    assert!(record.is_file());
    // Another one (or none) is not trusted, and deletes it.
    let without_b = plan_ab(&root, &cas, false);
    assert!(!check(&without_b));
    assert!(!record.exists());
    assert!(!check(&with_b));
    // So does the same lockfile in another layout (here nothing is hoisted any more).
    link(&with_b).unwrap();
    assert!(record.is_file());
    let mut unhoisted = plan_ab(&root, &cas, true);
    unhoisted.hoist_pattern.clear();
    assert!(!check(&unhoisted));
    assert!(!record.exists());
}

/// (inode, mtime ns, ctime ns) of every entry under `dir` (lstat), keyed by path.
fn snapshot(dir: &Path, out: &mut BTreeMap<String, (u64, i64, i64)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let m = std::fs::symlink_metadata(&path).unwrap();
        let key = path.to_string_lossy().into_owned();
        out.insert(
            key,
            (
                m.ino(),
                m.mtime() * 1_000_000_000 + m.mtime_nsec(),
                m.ctime_nsec(),
            ),
        );
        if m.is_dir() {
            snapshot(&path, out);
        }
    }
}

#[test]
fn an_unchanged_relink_touches_nothing() {
    let Linked {
        root, plan, _tmp, ..
    } = linked_ab(true);
    let mut before = BTreeMap::new();
    snapshot(&root, &mut before);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let report = link(&plan).unwrap();
    assert_eq!((report.imported, report.repaired, report.reused), (0, 0, 3));
    let mut after = BTreeMap::new();
    snapshot(&root, &mut after);
    assert_eq!(before.len(), after.len());
    // The record of the last complete install is deleted while an install runs and written
    // again at its end (see `check_recorded_tree`): that file, and so the virtual store's
    // own entry, change; nothing else does.
    let vstore = root.join("node_modules/.pnpm");
    let rewritten = [vstore.join("lock.yaml"), vstore];
    for (path, stamp) in &before {
        if rewritten
            .iter()
            .any(|p| p.to_string_lossy() == path.as_str())
        {
            continue;
        }
        assert_eq!(Some(stamp), after.get(path), "{path} changed");
    }
}

/// A hoisted `@scope/name` that goes leaves its `@scope` directory in `<vs>/node_modules`, empty,
/// as pnpm 12 does (observed: `.pnpm/node_modules/@socket.io` after `socket.io` was dropped);
/// a direct dependency's empty `@scope` goes with its link, as in pnpm.
#[test]
fn an_emptied_hoisting_scope_stays_and_a_project_scope_goes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("proj");
    let cas = Cas::new(tmp.path());
    let plan_with = |with: bool| {
        let mut a = cas.package("a", "1.0.0", "", &[("index.js", "a")]);
        let scoped = cas.package("@s/hoisted", "1.0.0", "", &[("index.js", "h")]);
        let direct = cas.package("@d/direct", "1.0.0", "", &[("index.js", "d")]);
        let mut plan = LinkPlan::new(&root);
        let mut deps = vec![("a", dep("a@1.0.0"))];
        if with {
            a.children = vec![("@s/hoisted".into(), dep("@s/hoisted@1.0.0"))];
            plan.packages = vec![a, scoped, direct];
            deps.push(("@d/direct", dep("@d/direct@1.0.0")));
        } else {
            plan.packages = vec![a];
        }
        plan.importers = vec![importer(".", &root, &deps)];
        record_lockfile_of(&mut plan);
        plan
    };
    link(&plan_with(true)).unwrap();
    let nm = root.join("node_modules");
    assert!(nm.join(".pnpm/node_modules/@s/hoisted").exists());
    assert!(nm.join("@d/direct").exists());
    link(&plan_with(false)).unwrap();
    assert!(std::fs::symlink_metadata(nm.join(".pnpm/node_modules/@s/hoisted")).is_err());
    assert!(nm.join(".pnpm/node_modules/@s").is_dir());
    assert!(!nm.join("@d").exists());
}

/// pnpm 12 removes only the hoisted links of packages the lockfile dropped: a link to a
/// package still installed stays though nothing hoists it now, and an emptied `@scope` goes
/// only when a dropped package in it had a peer suffix. A link recorded for a package with a
/// peer suffix goes as soon as nothing hoists its alias, installed or not.
#[test]
fn stale_hoisted_links_go_only_with_their_packages() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("proj");
    let cas = Cas::new(tmp.path());
    let plan_with = |first: bool| {
        let mut a = cas.package("a", "1.0.0", "", &[("index.js", "a")]);
        let kept = cas.package("kept", "1.0.0", "", &[("index.js", "k")]);
        let mut peered = cas.package("@p/peered", "1.0.0", "", &[("index.js", "p")]);
        peered.dep_path = "@p/peered@1.0.0(kept@1.0.0)".into();
        peered.dir_name = "@p+peered@1.0.0_kept@1.0.0".into();
        let mut live = cas.package("live", "1.0.0", "", &[("index.js", "l")]);
        live.dep_path = "live@1.0.0(kept@1.0.0)".into();
        live.dir_name = "live@1.0.0_kept@1.0.0".into();
        let mut plan = LinkPlan::new(&root);
        let mut deps = vec![("a", dep("a@1.0.0"))];
        if first {
            a.children = vec![
                ("kept".into(), dep("kept@1.0.0")),
                ("@p/peered".into(), dep("@p/peered@1.0.0(kept@1.0.0)")),
                ("live".into(), dep("live@1.0.0(kept@1.0.0)")),
            ];
            plan.packages = vec![a, kept, peered, live];
        } else {
            // `kept` and `live` are now direct dependencies: reserved, so no longer hoisted.
            deps.push(("kept", dep("kept@1.0.0")));
            deps.push(("live", dep("live@1.0.0(kept@1.0.0)")));
            plan.packages = vec![a, kept, live];
        }
        plan.importers = vec![importer(".", &root, &deps)];
        record_lockfile_of(&mut plan);
        plan
    };
    link(&plan_with(true)).unwrap();
    let hoisted = root.join("node_modules/.pnpm/node_modules");
    assert!(hoisted.join("kept").exists() && hoisted.join("@p/peered").exists());
    link(&plan_with(false)).unwrap();
    assert!(
        hoisted.join("kept").exists(),
        "a link to an installed package stays"
    );
    assert!(
        !hoisted.join("@p").exists(),
        "its scope goes with a peer-suffixed package"
    );
    assert!(
        std::fs::symlink_metadata(hoisted.join("live")).is_err(),
        "a peer-suffixed package's link goes though it is installed"
    );
}
