//! Import from the CAS: hardlink keeps the inode, copy/reflink set the exec bit from the
//! `-exec` suffix, `Auto` falls down the ladder on real cross-device pairs and remembers it.

mod common;

use common::{mode_of, strict_umask, temps};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use tack_fs::{ensure_file, FsError, ImportMethod, ImportedVia, Importer};

fn ino(p: &Path) -> (u64, u64) {
    let m = std::fs::metadata(p).unwrap();
    (m.dev(), m.ino())
}

/// A CAS file `files/ab/<name>` under `root` holding `content`.
fn cas(root: &Path, name: &str, content: &[u8]) -> PathBuf {
    let p = root.join("files/ab").join(name);
    ensure_file(&p, content, name.ends_with("-exec")).unwrap();
    p
}

/// Two directories on different filesystems (different `st_dev`), chosen among the places
/// a test can write. /dev/shm is tmpfs on Linux CI hosts, the temp dir and the target dir
/// usually are not.
fn cross_device_pair() -> (tempfile::TempDir, tempfile::TempDir) {
    let mut candidates = vec![PathBuf::from("/dev/shm"), std::env::temp_dir()];
    candidates.push(PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    let dirs: Vec<tempfile::TempDir> = candidates
        .iter()
        .filter_map(|c| tempfile::tempdir_in(c).ok())
        .collect();
    for i in 0..dirs.len() {
        for j in i + 1..dirs.len() {
            if ino(dirs[i].path()).0 != ino(dirs[j].path()).0 {
                let mut dirs = dirs;
                let b = dirs.remove(j);
                let a = dirs.remove(i);
                return (a, b);
            }
        }
    }
    panic!(
        "no two writable directories on different filesystems among {candidates:?}: \
         mount a tmpfs on /dev/shm to run this test"
    );
}

#[test]
fn importer_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Importer>();
}

#[test]
fn hardlink_keeps_the_inode() {
    let dir = tempfile::tempdir().unwrap();
    let src = cas(dir.path(), "aa11-exec", b"#!/bin/sh\necho hi\n");
    let dst = dir.path().join("bin.js");
    let via = Importer::new(ImportMethod::Hardlink)
        .import_file(&src, &dst)
        .unwrap();
    assert_eq!(via, ImportedVia::Hardlink);
    assert_eq!(ino(&src), ino(&dst));
    assert_eq!(mode_of(&dst), 0o755);
}

#[test]
fn auto_on_one_filesystem_hardlinks() {
    let dir = tempfile::tempdir().unwrap();
    let src = cas(dir.path(), "aa12", b"x");
    let dst = dir.path().join("x.js");
    let imp = Importer::new(ImportMethod::Auto);
    assert_eq!(imp.import_file(&src, &dst).unwrap(), ImportedVia::Hardlink);
    assert_eq!(ino(&src), ino(&dst));
    assert_eq!(imp.current_tier(), ImportedVia::Hardlink);
}

#[test]
fn copy_sets_mode_from_the_suffix() {
    strict_umask();
    let dir = tempfile::tempdir().unwrap();
    let exec = cas(dir.path(), "bb22-exec", b"#!/usr/bin/env node\n");
    let plain = cas(dir.path(), "bb23", b"module.exports = 1\n");
    // A CAS file whose inode mode disagrees with its name: the name wins.
    std::fs::set_permissions(&plain, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let imp = Importer::new(ImportMethod::Copy);
    let d1 = dir.path().join("cli.js");
    let d2 = dir.path().join("index.js");
    assert_eq!(imp.import_file(&exec, &d1).unwrap(), ImportedVia::Copy);
    assert_eq!(imp.import_file(&plain, &d2).unwrap(), ImportedVia::Copy);
    assert_eq!(mode_of(&d1), 0o755);
    assert_eq!(mode_of(&d2), 0o644);
    assert_ne!(ino(&exec), ino(&d1));
    assert_eq!(std::fs::read(&d1).unwrap(), b"#!/usr/bin/env node\n");
    assert_eq!(std::fs::read(&d2).unwrap(), b"module.exports = 1\n");
}

#[test]
fn existing_destination_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let src = cas(dir.path(), "cc33", b"new content");
    for method in [
        ImportMethod::Copy,
        ImportMethod::Hardlink,
        ImportMethod::Auto,
    ] {
        let dst = dir.path().join(format!("{method:?}.js"));
        std::fs::write(&dst, b"stale").unwrap();
        Importer::new(method).import_file(&src, &dst).unwrap();
        assert_eq!(std::fs::read(&dst).unwrap(), b"new content", "{method:?}");
        // Importing again over itself (already the right hardlink or copy) is fine too.
        Importer::new(method).import_file(&src, &dst).unwrap();
        assert_eq!(std::fs::read(&dst).unwrap(), b"new content", "{method:?}");
    }
    // A copy over a hardlink of the CAS file must not write through into the store.
    let linked = dir.path().join("linked.js");
    Importer::new(ImportMethod::Hardlink)
        .import_file(&src, &linked)
        .unwrap();
    let other = cas(dir.path(), "cc34", b"other");
    Importer::new(ImportMethod::Copy)
        .import_file(&other, &linked)
        .unwrap();
    assert_eq!(std::fs::read(&linked).unwrap(), b"other");
    assert_eq!(std::fs::read(&src).unwrap(), b"new content");
    assert!(temps(dir.path()).is_empty());
}

#[test]
fn missing_source_is_an_error_not_a_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let imp = Importer::new(ImportMethod::Auto);
    let err = imp
        .import_file(&dir.path().join("files/ab/nope"), &dir.path().join("x"))
        .unwrap_err();
    assert!(err.is_not_found());
    assert!(err.to_string().contains("nope"));
    // A per-file error does not demote the remembered tier.
    assert_eq!(imp.current_tier(), ImportedVia::Hardlink);
    assert!(!dir.path().join("x").exists());
}

#[test]
fn auto_falls_back_across_filesystems_and_remembers() {
    strict_umask();
    let (a, b) = cross_device_pair();
    let src = cas(a.path(), "dd44-exec", b"#!/bin/sh\n");
    let imp = Importer::new(ImportMethod::Auto);
    let dst = b.path().join("run.sh");
    // Hardlink fails with EXDEV, FICLONE across filesystems fails too: a copy.
    assert_eq!(imp.import_file(&src, &dst).unwrap(), ImportedVia::Copy);
    assert_eq!(std::fs::read(&dst).unwrap(), b"#!/bin/sh\n");
    assert_eq!(mode_of(&dst), 0o755);
    assert_eq!(imp.current_tier(), ImportedVia::Copy);
    // The tier is remembered: even a same-filesystem pair is now copied, not retried.
    let same = a.path().join("same.sh");
    assert_eq!(imp.import_file(&src, &same).unwrap(), ImportedVia::Copy);
    assert_ne!(ino(&src), ino(&same));
}

#[test]
fn hardlink_across_filesystems_copies() {
    let (a, b) = cross_device_pair();
    let src = cas(a.path(), "ee55", b"data");
    let dst = b.path().join("data.txt");
    let via = Importer::new(ImportMethod::Hardlink)
        .import_file(&src, &dst)
        .unwrap();
    assert_eq!(via, ImportedVia::Copy);
    assert_eq!(std::fs::read(&dst).unwrap(), b"data");
    assert_eq!(mode_of(&dst), 0o644);
}

#[test]
fn reflink_without_support_is_a_clear_error() {
    // Across two filesystems FICLONE fails (EXDEV) whatever they are.
    let (a, b) = cross_device_pair();
    let src = cas(a.path(), "ff66", b"data");
    let dst = b.path().join("data.txt");
    let err = Importer::new(ImportMethod::Reflink)
        .import_file(&src, &dst)
        .unwrap_err();
    assert_eq!(err.code(), "ERR_TACK_REFLINK_UNSUPPORTED");
    assert!(matches!(err, FsError::ReflinkUnsupported { .. }));
    let msg = err.to_string();
    assert!(msg.contains("ff66") && msg.contains("data.txt") && msg.contains("copy"));
    assert!(
        !dst.exists(),
        "a failed reflink must not leave an empty file"
    );
}

/// A loop-mounted xfs with reflink support, unmounted on drop.
struct ReflinkFs {
    dir: tempfile::TempDir,
    mnt: PathBuf,
}

impl ReflinkFs {
    /// Uses `TACK_TEST_REFLINK_DIR` when set (any btrfs/xfs directory), else builds an xfs
    /// image and loop-mounts it (needs root and `mkfs.xfs` from xfsprogs).
    fn new() -> (Option<ReflinkFs>, PathBuf) {
        if let Some(d) = std::env::var_os("TACK_TEST_REFLINK_DIR") {
            return (None, PathBuf::from(d));
        }
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let img = dir.path().join("xfs.img");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        std::fs::File::create(&img)
            .unwrap()
            .set_len(320 * 1024 * 1024)
            .unwrap();
        let run = |cmd: &mut Command| {
            let out = cmd.output().unwrap_or_else(|e| {
                panic!(
                    "cannot run {cmd:?}: {e}. Install xfsprogs (apt-get install xfsprogs) and \
                     run as root, or set TACK_TEST_REFLINK_DIR to a btrfs/xfs directory"
                )
            });
            assert!(
                out.status.success(),
                "{cmd:?} failed: {}. Run as root with loop devices, or set \
                 TACK_TEST_REFLINK_DIR to a btrfs/xfs directory",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(Command::new("mkfs.xfs")
            .args(["-q", "-m", "reflink=1"])
            .arg(&img));
        run(Command::new("mount")
            .args(["-o", "loop"])
            .arg(&img)
            .arg(&mnt));
        let path = mnt.clone();
        (Some(ReflinkFs { dir, mnt }), path)
    }
}

impl Drop for ReflinkFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mnt).status();
        let _ = &self.dir;
    }
}

#[test]
fn reflink_on_a_reflink_filesystem() {
    strict_umask();
    let (_guard, root) = ReflinkFs::new();
    let work = tempfile::tempdir_in(&root).unwrap();
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 249) as u8).collect();
    let src = cas(work.path(), "ab77-exec", &big);
    let plain = cas(work.path(), "ab78", b"plain");
    let imp = Importer::new(ImportMethod::Reflink);
    let d1 = work.path().join("tool");
    let d2 = work.path().join("plain.txt");
    assert_eq!(imp.import_file(&src, &d1).unwrap(), ImportedVia::Reflink);
    assert_eq!(imp.import_file(&plain, &d2).unwrap(), ImportedVia::Reflink);
    assert_eq!(std::fs::read(&d1).unwrap(), big);
    assert_ne!(ino(&src), ino(&d1), "a reflink is a new inode");
    assert_eq!(mode_of(&d1), 0o755);
    assert_eq!(mode_of(&d2), 0o644);
    // Writing to the clone leaves the CAS file alone.
    std::fs::write(&d1, b"changed").unwrap();
    assert_eq!(std::fs::read(&src).unwrap(), big);
    // Replacing an existing destination works through the temp + rename path.
    assert_eq!(imp.import_file(&src, &d1).unwrap(), ImportedVia::Reflink);
    assert_eq!(std::fs::read(&d1).unwrap(), big);
    assert!(temps(work.path()).is_empty());
    drop(work);
}
