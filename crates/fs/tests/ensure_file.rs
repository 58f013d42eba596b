//! `ensure_file`: CAS writes that readers (threads or other processes) never see torn.

mod common;

use common::{mode_of, strict_umask, temps};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tack_fs::{ensure_file, EnsureOutcome};

/// Content big enough (4 MiB) that a non-atomic write stays observable half-done for a
/// while: the stress tests must be able to catch a writer that exposes a partial file.
fn content(seed: u32) -> Vec<u8> {
    let mut v = vec![(seed % 251) as u8; 4 * 1024 * 1024 + seed as usize];
    for (i, b) in v.iter_mut().enumerate().step_by(4093) {
        *b = (i / 4093 % 256) as u8 ^ seed as u8;
    }
    v
}

fn cas_paths(root: &Path, n: u32) -> Vec<PathBuf> {
    (0..n)
        .map(|i| root.join(format!("files/{:02x}/{i:0126x}", i % 4)))
        .collect()
}

#[test]
fn creates_with_explicit_modes() {
    strict_umask();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("files/ab")).unwrap();
    let plain = dir.path().join("files/ab/cdef");
    let exec = dir.path().join("files/ab/cdef-exec");
    assert_eq!(
        ensure_file(&plain, b"hello", false).unwrap(),
        EnsureOutcome::Created
    );
    assert_eq!(
        ensure_file(&exec, b"#!/bin/sh\n", true).unwrap(),
        EnsureOutcome::Created
    );
    assert_eq!(std::fs::read(&plain).unwrap(), b"hello");
    assert_eq!(mode_of(&plain), 0o644);
    assert_eq!(mode_of(&exec), 0o755);
    assert_eq!(
        ensure_file(&plain, b"hello", false).unwrap(),
        EnsureOutcome::Existing
    );
    assert_eq!(
        ensure_file(&exec, b"#!/bin/sh\n", true).unwrap(),
        EnsureOutcome::Existing
    );
    assert!(temps(dir.path()).is_empty());
}

/// Under the usual umask the mode comes from the create call alone (no `fchmod`); the result
/// must be the same as under a strict one.
#[test]
fn creates_with_exact_modes_under_a_permissive_umask() {
    // SAFETY: umask has no preconditions; each test runs in its own process under nextest.
    unsafe {
        libc::umask(0o022);
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("files/ab")).unwrap();
    let plain = dir.path().join("files/ab/0123");
    let exec = dir.path().join("files/ab/0123-exec");
    ensure_file(&plain, b"x", false).unwrap();
    ensure_file(&exec, b"x", true).unwrap();
    assert_eq!(mode_of(&plain), 0o644);
    assert_eq!(mode_of(&exec), 0o755);
}

#[test]
fn empty_content_and_missing_shard() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("files/00/empty");
    assert_eq!(ensure_file(&p, b"", false).unwrap(), EnsureOutcome::Created);
    assert_eq!(std::fs::read(&p).unwrap(), b"");
    assert_eq!(
        ensure_file(&p, b"", false).unwrap(),
        EnsureOutcome::Existing
    );
}

#[test]
fn torn_and_wrong_files_are_healed() {
    let dir = tempfile::tempdir().unwrap();
    let c = content(1);
    let p = dir.path().join("torn");
    std::fs::write(&p, &c[..c.len() / 2]).unwrap();
    let ino_before = std::fs::metadata(&p).unwrap().ino();
    assert_eq!(ensure_file(&p, &c, false).unwrap(), EnsureOutcome::Healed);
    assert_eq!(std::fs::read(&p).unwrap(), c);
    // Healed by rename: a new inode, so a reader holding the torn one is not disturbed.
    assert_ne!(std::fs::metadata(&p).unwrap().ino(), ino_before);

    // Same size, different bytes (a flipped byte deep in the file).
    let mut wrong = c.clone();
    wrong[200_000] ^= 0xff;
    std::fs::write(&p, &wrong).unwrap();
    assert_eq!(ensure_file(&p, &c, false).unwrap(), EnsureOutcome::Healed);
    assert_eq!(std::fs::read(&p).unwrap(), c);

    // Longer than expected.
    let mut long = c.clone();
    long.push(0);
    std::fs::write(&p, &long).unwrap();
    assert_eq!(ensure_file(&p, &c, false).unwrap(), EnsureOutcome::Healed);
    assert_eq!(std::fs::read(&p).unwrap(), c);
    assert!(temps(dir.path()).is_empty());
}

#[test]
fn directory_and_symlink_in_the_way_are_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("blob");
    std::fs::create_dir_all(p.join("sub")).unwrap();
    std::fs::write(p.join("sub/x"), b"x").unwrap();
    assert_eq!(
        ensure_file(&p, b"data", false).unwrap(),
        EnsureOutcome::Healed
    );
    assert!(std::fs::symlink_metadata(&p).unwrap().is_file());
    assert_eq!(std::fs::read(&p).unwrap(), b"data");

    // A symlink to a file with the right bytes is still not a CAS file.
    let other = dir.path().join("other");
    std::fs::write(&other, b"data2").unwrap();
    let q = dir.path().join("blob2");
    std::os::unix::fs::symlink(&other, &q).unwrap();
    assert_eq!(
        ensure_file(&q, b"data2", true).unwrap(),
        EnsureOutcome::Healed
    );
    assert!(std::fs::symlink_metadata(&q).unwrap().is_file());
    assert_eq!(mode_of(&q), 0o755);
    assert_eq!(std::fs::read(&other).unwrap(), b"data2");
}

#[test]
fn wrong_mode_on_existing_file_is_fixed() {
    strict_umask();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x-exec");
    std::fs::write(&p, b"bin").unwrap();
    assert_ne!(mode_of(&p), 0o755);
    assert_eq!(
        ensure_file(&p, b"bin", true).unwrap(),
        EnsureOutcome::Existing
    );
    assert_eq!(mode_of(&p), 0o755);
}

#[test]
fn errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("notadir");
    std::fs::write(&blocker, b"").unwrap();
    let err = ensure_file(&blocker.join("child"), b"x", false).unwrap_err();
    assert!(
        err.to_string().contains("notadir"),
        "{err} does not name the path"
    );
    assert!(!err.code().is_empty());
}

/// Checks that every path is absent or complete until `stop` is set. A cheap `stat` per
/// path and pass (size and mode must already be final) keeps the loop tight enough to land
/// inside a writer's window; each file's bytes are read in full the first time it is seen.
fn reader_loop(paths: &[PathBuf], expected: &[(Vec<u8>, u32)], stop: &AtomicBool) {
    use std::os::unix::fs::PermissionsExt;
    let mut seen = vec![false; paths.len()];
    while !stop.load(Ordering::SeqCst) {
        for (i, (p, (want, mode))) in paths.iter().zip(expected).enumerate() {
            match std::fs::symlink_metadata(p) {
                Ok(m) => {
                    assert!(
                        m.is_file()
                            && m.len() == want.len() as u64
                            && m.permissions().mode() & 0o777 == *mode,
                        "torn entry {}: {} of {} bytes, mode {:o}",
                        p.display(),
                        m.len(),
                        want.len(),
                        m.permissions().mode()
                    );
                    if !seen[i] {
                        seen[i] = true;
                        match std::fs::read(p) {
                            Ok(got) => assert!(got == *want, "torn read of {}", p.display()),
                            Err(e) => panic!("read {}: {e}", p.display()),
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => panic!("stat {}: {e}", p.display()),
            }
        }
    }
}

fn expectations(n: u32) -> Vec<(Vec<u8>, u32)> {
    (0..n)
        .map(|i| (content(i), if i % 3 == 0 { 0o755 } else { 0o644 }))
        .collect()
}

#[test]
fn many_threads_same_paths_never_torn() {
    let dir = tempfile::tempdir().unwrap();
    let paths = cas_paths(dir.path(), 16);
    let expected = expectations(16);
    for p in &paths {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    }
    let stop = AtomicBool::new(false);
    let created = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let reader = s.spawn(|| reader_loop(&paths, &expected, &stop));
        let writers: Vec<_> = (0..6)
            .map(|_| {
                s.spawn(|| {
                    for (p, (c, mode)) in paths.iter().zip(&expected) {
                        if ensure_file(p, c, *mode == 0o755).unwrap() == EnsureOutcome::Created {
                            created.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, Ordering::SeqCst);
        reader.join().unwrap();
    });
    // Exactly one writer created each path; the others found it complete.
    assert_eq!(created.load(Ordering::SeqCst), paths.len());
    for (p, (c, mode)) in paths.iter().zip(&expected) {
        assert_eq!(&std::fs::read(p).unwrap(), c);
        assert_eq!(mode_of(p), *mode);
    }
    assert!(temps(dir.path()).is_empty());
}

const WORKER_ENV: &str = "TACK_FS_STRESS_ROOT";
const PATHS: u32 = 16;

/// Worker mode for `many_processes_same_paths_never_torn`: when the env var is set this
/// "test" waits for the go file, then writes every path. Otherwise it does nothing.
#[test]
fn stress_worker() {
    let Ok(root) = std::env::var(WORKER_ENV) else {
        return;
    };
    let root = PathBuf::from(root);
    while !root.join("go").exists() {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let paths = cas_paths(&root, PATHS);
    std::thread::scope(|s| {
        for t in 0..2u32 {
            let paths = &paths;
            s.spawn(move || {
                // Two orders so threads and processes collide at different points.
                let order: Vec<u32> = if t == 0 {
                    (0..PATHS).collect()
                } else {
                    (0..PATHS).rev().collect()
                };
                for i in order {
                    ensure_file(&paths[i as usize], &content(i), i % 3 == 0).unwrap();
                }
            });
        }
    });
}

#[test]
fn many_processes_same_paths_never_torn() {
    let dir = tempfile::tempdir().unwrap();
    let paths = cas_paths(dir.path(), PATHS);
    let expected = expectations(PATHS);
    // Shards are left missing on purpose: the writers race to create them too.
    let exe = std::env::current_exe().unwrap();
    let mut workers: Vec<_> = (0..4)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "stress_worker",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(WORKER_ENV, dir.path())
                .spawn()
                .unwrap()
        })
        .collect();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let reader = s.spawn(|| reader_loop(&paths, &expected, &stop));
        std::fs::write(dir.path().join("go"), b"").unwrap();
        for w in &mut workers {
            let status = w.wait().unwrap();
            assert!(status.success(), "worker failed: {status}");
        }
        stop.store(true, Ordering::SeqCst);
        reader.join().unwrap();
    });
    for (p, (c, mode)) in paths.iter().zip(&expected) {
        assert_eq!(&std::fs::read(p).unwrap(), c, "{}", p.display());
        assert_eq!(mode_of(p), *mode, "{}", p.display());
    }
    assert!(temps(dir.path()).is_empty());
}

/// An existing CAS file with the right content keeps exec bits a bin's chmod gave it through a
/// hard link (taking them back would take them from that bin, in every tree that links the
/// file); an `-exec` file that lost its exec bits gets them back.
#[test]
fn existing_files_keep_gained_exec_bits_and_regain_lost_ones() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("files/ab")).unwrap();
    let plain = dir.path().join("files/ab/0123");
    let exec = dir.path().join("files/ab/0123-exec");
    ensure_file(&plain, b"x", false).unwrap();
    ensure_file(&exec, b"x", true).unwrap();
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&exec, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(
        ensure_file(&plain, b"x", false).unwrap(),
        EnsureOutcome::Existing
    );
    assert_eq!(
        ensure_file(&exec, b"x", true).unwrap(),
        EnsureOutcome::Existing
    );
    assert_eq!(mode_of(&plain), 0o755);
    assert_eq!(mode_of(&exec), 0o755);
}

/// An existing CAS file that lost its read bits gets them back (its exec bits as they are).
#[test]
fn existing_files_regain_lost_read_bits() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("files/ab")).unwrap();
    let plain = dir.path().join("files/ab/4567");
    ensure_file(&plain, b"y", false).unwrap();
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(
        ensure_file(&plain, b"y", false).unwrap(),
        EnsureOutcome::Existing
    );
    assert_eq!(mode_of(&plain), 0o644);
}
