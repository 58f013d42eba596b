//! `store prune` and `store verify` on real stores, and pnpm's store-path rules.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tack_store_dir::commands::prune::{prune, PruneOptions};
use tack_store_dir::commands::prune_links::LinksOutcome;
use tack_store_dir::commands::verify::verify_store;
use tack_store_dir::{
    resolve_store_dir, CafsFileInfo, PackageFilesIndex, SideEffectsDiff, StoreDir, StoreDirInputs,
    StoreIndex,
};

fn store() -> (tempfile::TempDir, StoreDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreDir::new(dir.path().join("v11"));
    store.ensure_layout().unwrap();
    (dir, store)
}

fn age(path: &Path, secs: u64) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(secs))
        .unwrap();
}

fn row_of(store: &StoreDir, files: &[(&str, &[u8])]) -> (PackageFilesIndex, Vec<PathBuf>) {
    let mut map = indexmap::IndexMap::new();
    let mut paths = Vec::new();
    for (name, content) in files {
        let digest = store.write_cas_file(content, false).unwrap();
        paths.push(store.cas_path(&digest, false));
        map.insert(
            name.to_string(),
            CafsFileInfo {
                digest,
                mode: 0o644,
                size: content.len() as u64,
                checked_at: Some(1.0),
            },
        );
    }
    (
        PackageFilesIndex {
            algo: "sha512".into(),
            files: map,
            ..Default::default()
        },
        paths,
    )
}

#[test]
fn prune_removes_unlinked_old_files_and_their_rows() {
    let (dir, store) = store();
    let (linked_row, linked) = row_of(&store, &[("package.json", b"{\"name\":\"linked\"}")]);
    let (orphan_row, orphan) = row_of(&store, &[("package.json", b"{\"name\":\"orphan\"}")]);
    let (_, young) = row_of(&store, &[("x", b"just written")]);
    // A project links the first file.
    std::fs::hard_link(&linked[0], dir.path().join("project-file")).unwrap();
    for p in [&linked[0], &orphan[0]] {
        age(p, 3600);
    }
    std::fs::write(store.tmp_dir().join("old-staging"), b"x").unwrap();
    age(&store.tmp_dir().join("old-staging"), 3600);
    std::fs::write(store.tmp_dir().join("young-staging"), b"x").unwrap();
    let index = StoreIndex::open(&store).unwrap();
    index
        .put_many(&[("linked".into(), linked_row), ("orphan".into(), orphan_row)])
        .unwrap();

    let report = prune(&store, &PruneOptions::default()).unwrap();
    assert_eq!(report.removed_files, 1);
    assert_eq!(report.removed_bytes, "{\"name\":\"orphan\"}".len() as u64);
    assert_eq!(report.removed_packages, 1);
    assert_eq!(report.skipped_young_files, 1);
    assert_eq!(report.removed_tmp_entries, 1);
    assert!(linked[0].exists() && young[0].exists() && !orphan[0].exists());
    assert_eq!(index.all_keys().unwrap(), ["linked"]);
    assert!(store.tmp_dir().join("young-staging").exists());

    // A zero grace period takes the young orphan too.
    let report = prune(
        &store,
        &PruneOptions {
            grace_period: Duration::ZERO,
            ..PruneOptions::default()
        },
    )
    .unwrap();
    assert_eq!(report.removed_files, 1);
    assert!(!young[0].exists() && linked[0].exists());
}

#[test]
fn verify_drops_bad_rows_and_removes_bad_files() {
    let (_dir, store) = store();
    let (good_row, _) = row_of(&store, &[("a", b"good file"), ("shared", b"shared")]);
    let (bad_row, bad_paths) = row_of(&store, &[("b", b"will be tampered"), ("shared", b"shared")]);
    std::fs::write(&bad_paths[0], b"tampered bytes!!").unwrap();
    let index = StoreIndex::open(&store).unwrap();
    index
        .put_many(&[("good".into(), good_row), ("bad".into(), bad_row)])
        .unwrap();
    index.put_many_raw(&[("corrupt", vec![0xc1])]).unwrap();

    let report = verify_store(&store).unwrap();
    assert!(!report.ok());
    assert_eq!(report.checked_packages, 3);
    assert_eq!(report.checked_files, 3);
    assert_eq!(report.bad_packages, ["bad"]);
    assert_eq!(report.corrupt_rows, ["corrupt"]);
    assert_eq!(report.bad_files, [bad_paths[0].clone()]);
    assert!(!bad_paths[0].exists());
    assert_eq!(index.all_keys().unwrap(), ["good"]);

    let again = verify_store(&store).unwrap();
    assert!(again.ok(), "{again:?}");
}

fn inputs(project: &Path) -> StoreDirInputs {
    StoreDirInputs {
        project_dir: project.to_owned(),
        home: Some(project.join("home")),
        ..Default::default()
    }
}

#[test]
fn store_path_rules() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("proj");
    std::fs::create_dir_all(&project).unwrap();
    let home = project.join("home");

    let mut i = inputs(&project);
    assert_eq!(
        resolve_store_dir(&i),
        home.join(".local/share/pnpm/store/v11")
    );
    i.xdg_data_home = Some(dir.path().join("xdg"));
    assert_eq!(resolve_store_dir(&i), dir.path().join("xdg/pnpm/store/v11"));
    i.pnpm_home = Some(dir.path().join("pnpm-home"));
    assert_eq!(
        resolve_store_dir(&i),
        dir.path().join("pnpm-home/store/v11")
    );

    i.store_dir = Some("../shared-store".into());
    assert_eq!(resolve_store_dir(&i), dir.path().join("shared-store/v11"));
    i.store_dir = Some("~/my-store/v11".into());
    assert_eq!(resolve_store_dir(&i), home.join("my-store/v11"));
    i.store_dir = Some("/abs/store/".into());
    assert_eq!(resolve_store_dir(&i), PathBuf::from("/abs/store/v11"));
}

#[test]
fn home_store_on_another_filesystem_moves_to_the_mount_point() {
    // /dev/shm is a tmpfs: a different device from the temp dir's filesystem.
    let shm = Path::new("/dev/shm");
    let project_fs = tempfile::tempdir().unwrap();
    let project = project_fs.path().join("proj");
    std::fs::create_dir_all(&project).unwrap();
    use std::os::unix::fs::MetadataExt;
    let dev = |p: &Path| std::fs::metadata(p).unwrap().dev();
    assert_ne!(
        dev(shm),
        dev(&project),
        "test needs /dev/shm on its own filesystem"
    );

    let home = tempfile::tempdir_in(shm).unwrap();
    let i = StoreDirInputs {
        project_dir: project.clone(),
        pnpm_home: Some(home.path().join("pnpm")),
        ..Default::default()
    };
    let resolved = resolve_store_dir(&i);
    // The project's filesystem is mounted at `/` here (or a parent of the temp dir).
    assert!(
        resolved.ends_with(".pnpm-store/v11"),
        "{}",
        resolved.display()
    );
    assert!(project.starts_with(resolved.parent().unwrap().parent().unwrap()));
    assert_eq!(
        dev(resolved.ancestors().find(|p| p.exists()).unwrap()),
        dev(&project)
    );

    // A project that is itself the mount point: pnpm 12 uses node_modules/.pnpm-store.
    let i = StoreDirInputs {
        project_dir: shm.to_owned(),
        pnpm_home: Some(project_fs.path().join("pnpm")),
        ..Default::default()
    };
    assert_eq!(
        resolve_store_dir(&i),
        shm.join("node_modules/.pnpm-store/v11")
    );

    // Same filesystem: the home store.
    let i = StoreDirInputs {
        project_dir: project.clone(),
        pnpm_home: Some(project_fs.path().join("pnpm")),
        ..Default::default()
    };
    assert_eq!(
        resolve_store_dir(&i),
        project_fs.path().join("pnpm/store/v11")
    );
}

/// A build's own files are linked by no project once its copied package is gone, so prune
/// removes them; the side-effects entry that adds them goes too (the next install would take
/// the build from the cache and miss its files), and the row and its other entries stay.
#[test]
fn prune_drops_the_side_effects_entries_whose_files_it_removed() {
    let (dir, store) = store();
    let (mut row, files) = row_of(&store, &[("package.json", b"{\"name\":\"built\"}")]);
    std::fs::hard_link(&files[0], dir.path().join("project-file")).unwrap();
    let (built, built_files) = row_of(&store, &[("built.txt", b"built by postinstall\n")]);
    let (kept, kept_files) = row_of(&store, &[("other.txt", b"another build\n")]);
    std::fs::hard_link(&kept_files[0], dir.path().join("kept-file")).unwrap();
    for path in [&files[0], &built_files[0], &kept_files[0]] {
        age(path, 3600);
    }
    let diff = |added: PackageFilesIndex| SideEffectsDiff {
        added: Some(added.files),
        deleted: None,
    };
    row.side_effects = Some(indexmap::IndexMap::from([
        ("gone-build".to_string(), diff(built)),
        ("kept-build".to_string(), diff(kept)),
    ]));
    let index = StoreIndex::open(&store).unwrap();
    index.put_many(&[("built".into(), row.clone())]).unwrap();

    let report = prune(&store, &PruneOptions::default()).unwrap();
    assert_eq!(report.removed_files, 1);
    assert!(!built_files[0].exists());
    assert_eq!(report.removed_packages, 0);
    assert_eq!(report.removed_side_effects, 1);
    let stored = &index.get_many(&["built".to_string()]).unwrap()["built"];
    assert_eq!(stored.files, row.files);
    let entries: Vec<&String> = stored.side_effects.as_ref().unwrap().keys().collect();
    assert_eq!(entries, ["kept-build"]);

    // Nothing more to drop the second time.
    let report = prune(&store, &PruneOptions::default()).unwrap();
    assert_eq!((report.removed_files, report.removed_side_effects), (0, 0));
}

/// Makes the slot `<links>/<rel>` holding `node_modules/<name>/package.json`, an hour old.
fn slot(store: &StoreDir, rel: &str, name: &str) -> PathBuf {
    let slot = store.root().join("links").join(rel);
    let package = slot.join("node_modules").join(name);
    std::fs::create_dir_all(&package).unwrap();
    std::fs::write(package.join("package.json"), b"{}").unwrap();
    age_dir(&slot);
    package
}

fn age_dir(dir: &Path) {
    std::fs::File::open(dir)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
}

/// A project registered in the store, as an install registers it.
fn project(root: &Path, store: &StoreDir, name: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("node_modules")).unwrap();
    tack_store_dir::register_project(store, &dir).unwrap();
    dir
}

#[test]
fn prune_removes_the_global_virtual_store_slots_no_registered_project_links() {
    let (dir, store) = store();
    let used = slot(&store, "@/used/1.0.0/aaa", "used");
    let dep = slot(&store, "@/dep/2.0.0/bbb", "dep");
    let orphan = slot(&store, "@scope/orphan/1.0.0/ccc", "@scope/orphan");
    let young = store.root().join("links/@/young/1.0.0/ddd");
    std::fs::create_dir_all(young.join("node_modules")).unwrap();
    // Not pnpm 12's four levels: left alone.
    let foreign = store.root().join("links/contexts/xyz/@/foreign/1.0.0/eee");
    std::fs::create_dir_all(&foreign).unwrap();

    // Nobody registered: nothing is removed.
    let report = prune(&store, &PruneOptions::default()).unwrap();
    assert_eq!(report.links, LinksOutcome::NoProjects);
    assert!(orphan.exists());

    // A registered project that links no slot: the slots' users are unknown.
    let app = project(dir.path(), &store, "app");
    let report = prune(&store, &PruneOptions::default()).unwrap();
    assert_eq!(report.links, LinksOutcome::Unused { projects: 1 });
    assert!(orphan.exists());

    // The project links `used` from a dot directory of a workspace package's node_modules;
    // `used` links `dep` as its own dependency. A second project record points at a
    // directory that is gone.
    let modules = app.join("packages/a/node_modules/.pnpm-config");
    std::fs::create_dir_all(&modules).unwrap();
    std::os::unix::fs::symlink(&used, modules.join("used")).unwrap();
    let used_modules = used.parent().unwrap();
    std::os::unix::fs::symlink(
        "../../../../dep/2.0.0/bbb/node_modules/dep",
        used_modules.join("dep"),
    )
    .unwrap();
    let gone = project(dir.path(), &store, "gone");
    std::fs::remove_dir_all(&gone).unwrap();

    let report = prune(&store, &PruneOptions::default()).unwrap();
    assert_eq!(
        report.links,
        LinksOutcome::Swept {
            projects: 1,
            removed: 1,
            kept_young: 1
        }
    );
    assert!(used.join("package.json").is_file() && dep.join("package.json").is_file());
    assert!(
        !store.root().join("links/@scope").exists(),
        "emptied parents go"
    );
    assert!(young.exists() && foreign.exists());
    let records: Vec<_> = std::fs::read_dir(store.root().join("projects"))
        .unwrap()
        .collect();
    assert_eq!(records.len(), 1, "the gone project's record was removed");
    let leftovers: Vec<_> = std::fs::read_dir(store.tmp_dir()).unwrap().collect();
    assert!(leftovers.is_empty(), "the slot was deleted from tmp/");
}

#[test]
fn prune_keeps_the_files_of_packages_in_use_and_rows_it_cannot_read() {
    let (_dir, store) = store();
    // A patched package: its base files have no link but the store's.
    let (base_row, base) = row_of(&store, &[("package.json", b"{\"name\":\"patched\"}")]);
    let (orphan_row, orphan) = row_of(&store, &[("package.json", b"{\"name\":\"orphan\"}")]);
    for path in [&base[0], &orphan[0]] {
        age(path, 3600);
    }
    let index = StoreIndex::open(&store).unwrap();
    index
        .put_many(&[("in-use".into(), base_row), ("orphan".into(), orphan_row)])
        .unwrap();
    index
        .put_many_raw(&[("unreadable", vec![0xc1, 0xff, 0x00])])
        .unwrap();

    let options = PruneOptions {
        in_use_keys: ["in-use".to_string()].into(),
        ..PruneOptions::default()
    };
    let report = prune(&store, &options).unwrap();
    assert_eq!((report.removed_files, report.removed_packages), (1, 1));
    assert_eq!(report.undecodable_rows, 1);
    assert!(base[0].exists() && !orphan[0].exists());
    let mut keys = index.all_keys().unwrap();
    keys.sort();
    assert_eq!(keys, ["in-use", "unreadable"]);
}

/// The damaged indexes installs set aside (`index.db.corrupt-<seconds>-<pid>`, with their
/// `-wal` and `-shm`) are removed once they were set aside longer ago than the grace
/// period; a recent one, and anything else named like `index.db`, stays.
#[test]
fn prune_removes_the_damaged_indexes_set_aside_long_ago() {
    let (_dir, store) = store();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let root = store.root().to_path_buf();
    let old = format!("index.db.corrupt-{}-4242", now - 3600);
    let recent = format!("index.db.corrupt-{}-4243", now - 5);
    let named = |name: &str| root.join(name);
    for name in [
        old.clone(),
        format!("{old}-wal"),
        format!("{old}-shm"),
        recent.clone(),
        "index.db.corrupt-notanumber-1".to_string(),
        "index.db.bak".to_string(),
    ] {
        std::fs::write(named(&name), [0u8; 64]).unwrap();
    }
    // The index itself, in use.
    StoreIndex::open(&store).unwrap();

    let report = prune(&store, &PruneOptions::default()).unwrap();

    assert_eq!(report.removed_set_aside_indexes, 1, "{report:?}");
    for gone in [old.clone(), format!("{old}-wal"), format!("{old}-shm")] {
        assert!(!named(&gone).exists(), "{gone} was kept");
    }
    for kept in [
        recent.as_str(),
        "index.db.corrupt-notanumber-1",
        "index.db.bak",
        "index.db",
    ] {
        assert!(named(kept).exists(), "{kept} was removed");
    }
}
