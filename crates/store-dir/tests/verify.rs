//! The verifier: corruption is detected and removed, intact files pass, and the
//! writer×verifier race (a verifier deleting a file a writer is still writing) cannot
//! happen because the slow path waits for `cas_write_lock`.

use sha2::{Digest, Sha512};
use std::io::Write;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tack_store_dir::{
    check_pkg_files_integrity, verify_file, CafsFileInfo, PackageFilesIndex, StoreDir,
    VerifiedFilesCache,
};

fn store() -> (tempfile::TempDir, StoreDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreDir::new(dir.path().join("v11"));
    store.ensure_layout().unwrap();
    (dir, store)
}

fn mtime_ms(path: &Path) -> f64 {
    std::fs::metadata(path)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

/// Write `content` to the store and describe it as a row would right after the write.
fn put(store: &StoreDir, content: &[u8], executable: bool) -> (std::path::PathBuf, CafsFileInfo) {
    let digest = store.write_cas_file(content, executable).unwrap();
    let path = store.cas_path(&digest, executable);
    let info = CafsFileInfo {
        digest,
        mode: if executable { 0o755 } else { 0o644 },
        size: content.len() as u64,
        checked_at: Some(mtime_ms(&path)),
    };
    (path, info)
}

/// Move a file's mtime `secs` seconds into the future (as if it was touched later).
fn touch_later(path: &Path, secs: u64) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() + Duration::from_secs(secs))
        .unwrap();
}

#[test]
fn layout_and_cas_paths() {
    let (_d, store) = store();
    for shard in ["00", "7f", "ff"] {
        assert!(store.root().join("files").join(shard).is_dir());
    }
    assert!(store.tmp_dir().is_dir());
    let digest = hex::encode(Sha512::digest(b"hello"));
    let p = store.cas_path(&digest, true);
    assert_eq!(
        p,
        store
            .root()
            .join("files")
            .join(&digest[..2])
            .join(format!("{}-exec", &digest[2..]))
    );
    assert_eq!(store.write_cas_file(b"hello", true).unwrap(), digest);
    assert_eq!(std::fs::read(&p).unwrap(), b"hello");
    store.ensure_layout().unwrap();
}

/// An install only makes `files/` and `tmp/`: each shard appears with its first file.
#[test]
fn a_root_only_store_makes_shards_as_files_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreDir::new(dir.path().join("v11"));
    store.ensure_root().unwrap();
    assert!(store.files_dir().is_dir() && store.tmp_dir().is_dir());
    let digest = hex::encode(Sha512::digest(b"first file"));
    let shard = store.files_dir().join(&digest[..2]);
    assert!(!shard.exists());
    assert_eq!(store.write_cas_file(b"first file", false).unwrap(), digest);
    assert_eq!(
        std::fs::read(store.cas_path(&digest, false)).unwrap(),
        b"first file"
    );
    assert_eq!(std::fs::read_dir(store.files_dir()).unwrap().count(), 1);
}

#[test]
fn intact_files_pass_with_and_without_rehash() {
    let (_d, store) = store();
    let (path, info) = put(&store, b"intact content", false);
    assert!(verify_file(&path, &info));
    // No checkedAt: re-hashed under the lock, still good, kept.
    let old = CafsFileInfo {
        checked_at: None,
        ..info.clone()
    };
    assert!(verify_file(&path, &old));
    assert!(path.exists());
}

#[test]
fn truncated_file_is_a_miss_and_removed() {
    let (_d, store) = store();
    let (path, info) = put(&store, &[7u8; 10_000], false);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(100)
        .unwrap();
    touch_later(&path, 5);
    assert!(!verify_file(&path, &info));
    assert!(!path.exists());
}

#[test]
fn modified_same_size_file_is_a_miss_and_removed() {
    let (_d, store) = store();
    let (path, info) = put(&store, b"original bytes!", true);
    let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all(b"tampered bytes!").unwrap();
    drop(f);
    touch_later(&path, 5);
    assert!(!verify_file(&path, &info));
    assert!(!path.exists());
}

#[test]
fn deleted_file_is_a_miss() {
    let (_d, store) = store();
    let (path, info) = put(&store, b"soon gone", false);
    std::fs::remove_file(&path).unwrap();
    assert!(!verify_file(&path, &info));
}

#[test]
fn directory_at_cas_path_is_a_miss_and_removed() {
    let (_d, store) = store();
    let digest = hex::encode(Sha512::digest(b"dir"));
    let path = store.cas_path(&digest, false);
    std::fs::create_dir_all(path.join("inner")).unwrap();
    std::fs::write(path.join("inner/f"), b"x").unwrap();
    let info = CafsFileInfo {
        digest,
        mode: 0o644,
        size: 3,
        checked_at: Some(mtime_ms(&path) + 10_000.0),
    };
    assert!(!verify_file(&path, &info));
    assert!(!path.exists());
}

#[test]
fn row_with_one_bad_file_fails_and_good_files_are_cached() {
    let (_d, store) = store();
    let mut files = indexmap::IndexMap::new();
    let (_, good) = put(&store, b"good", false);
    let (bad_path, bad) = put(&store, b"bad!", true);
    files.insert("good.js".to_string(), good);
    files.insert("bin/bad".to_string(), bad);
    let row = PackageFilesIndex {
        algo: "sha512".into(),
        files,
        ..Default::default()
    };
    let cache = VerifiedFilesCache::default();
    let r = check_pkg_files_integrity(&store, &row, &cache);
    assert!(r.passed);
    assert_eq!(r.files.len(), 2);
    assert_eq!(r.files[1].rel_path, "bin/bad");
    assert!(r.files[1].executable);
    assert_eq!(r.files[1].cas_path, bad_path);
    let (good_digest, bad_digest) = (
        row.files["good.js"].digest.clone(),
        row.files["bin/bad"].digest.clone(),
    );
    assert!(cache.contains(&good_digest, false) && cache.contains(&bad_digest, true));
    assert!(
        !cache.contains(&good_digest, true),
        "the -exec variant is another CAS file"
    );

    std::fs::remove_file(&bad_path).unwrap();
    // Cached paths are not re-checked within one install…
    assert!(check_pkg_files_integrity(&store, &row, &cache).passed);
    // …but a fresh install sees the damage.
    let fresh = VerifiedFilesCache::default();
    let r = check_pkg_files_integrity(&store, &row, &fresh);
    assert!(!r.passed);
    assert!(fresh.contains(&good_digest, false));
    assert!(!fresh.contains(&bad_digest, true));

    // A malformed digest never becomes a path.
    let mut evil = row.clone();
    evil.files.get_index_mut(0).unwrap().1.digest = "../../etc/passwd".into();
    assert!(!check_pkg_files_integrity(&store, &evil, &VerifiedFilesCache::default()).passed);
}

/// The writer×verifier race, made deterministic: the test thread plays a writer that holds
/// `cas_write_lock` with a half-written file in place. The verifier must wait for the lock
/// instead of deleting the partial file, then pass once the writer finished.
#[test]
fn verifier_waits_for_writer_holding_the_lock() {
    let (_d, store) = store();
    let content = vec![42u8; 256 * 1024];
    let digest = hex::encode(Sha512::digest(&content));
    let path = store.cas_path(&digest, false);
    let info = CafsFileInfo {
        digest,
        mode: 0o644,
        size: content.len() as u64,
        // An old checkedAt: the fresh file looks modified, so the fast path cannot trust it.
        checked_at: Some(1_000.0),
    };

    let guard = tack_fs::cas_write_lock(&path).lock();
    std::fs::write(&path, &content[..1000]).unwrap();

    let (tx, rx) = mpsc::channel();
    let verifier = {
        let path = path.clone();
        let info = info.clone();
        std::thread::spawn(move || {
            let passed = verify_file(&path, &info);
            tx.send(passed).unwrap();
        })
    };
    // While the writer holds the lock the verifier must not finish (and must not delete).
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(500)),
        Err(mpsc::RecvTimeoutError::Timeout),
        "verifier returned while the writer held the lock"
    );
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 1000);

    // The writer completes the file and releases the lock.
    std::fs::write(&path, &content).unwrap();
    drop(guard);

    assert!(
        rx.recv().unwrap(),
        "verifier did not pass the completed file"
    );
    verifier.join().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), content);
}

/// Variant: the file disappears while the verifier waits for the lock (after its fast-path
/// stat saw it). A clean miss, no panic.
#[test]
fn file_vanishing_before_the_lock_is_a_clean_miss() {
    let (_d, store) = store();
    let content = b"will vanish".to_vec();
    let (path, mut info) = put(&store, &content, false);
    info.checked_at = Some(1_000.0);

    let guard = tack_fs::cas_write_lock(&path).lock();
    let (tx, rx) = mpsc::channel();
    let verifier = {
        let path = path.clone();
        std::thread::spawn(move || tx.send(verify_file(&path, &info)).unwrap())
    };
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    std::fs::remove_file(&path).unwrap();
    drop(guard);
    assert!(!rx.recv().unwrap());
    verifier.join().unwrap();
}

/// A plain CAS file made executable through a hard link (a bin's target, chmodded by the bin
/// step) is still intact, but the cache remembers it so the importer copies it; an `-exec`
/// file that lost its exec bits is remembered the same way; untouched files are not.
#[test]
fn files_whose_exec_bits_changed_are_intact_and_remembered() {
    use std::os::unix::fs::PermissionsExt;
    let (_d, store) = store();
    let (plain_path, plain) = put(&store, b"#!/usr/bin/env node\n", false);
    let (exec_path, exec) = put(&store, b"#!/bin/sh\n", true);
    let (_, untouched) = put(&store, b"module.exports = 1\n", false);
    std::fs::set_permissions(&plain_path, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&exec_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut files = indexmap::IndexMap::new();
    files.insert("cli.js".to_string(), plain.clone());
    files.insert("run.sh".to_string(), exec.clone());
    files.insert("index.js".to_string(), untouched.clone());
    let row = PackageFilesIndex {
        algo: "sha512".into(),
        files,
        ..Default::default()
    };
    let cache = VerifiedFilesCache::default();
    assert!(!cache.mode_changed(&plain.digest, false));
    assert!(check_pkg_files_integrity(&store, &row, &cache).passed);
    assert!(cache.mode_changed(&plain.digest, false));
    assert!(cache.mode_changed(&exec.digest, true));
    assert!(!cache.mode_changed(&untouched.digest, false));
    assert!(
        !cache.mode_changed(&plain.digest, true),
        "the -exec variant is another CAS file"
    );
}
