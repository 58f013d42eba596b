//! Helpers shared by the integration tests: directory snapshots and temp-file detection.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// Every path under `root` (recursively, not following symlinks), sorted.
pub fn snapshot(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(root, &mut out);
    out.sort();
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd {
        let e = e.unwrap();
        let p = e.path();
        out.push(p.clone());
        if e.file_type().unwrap().is_dir() {
            walk(&p, out);
        }
    }
}

/// Paths under `root` whose name contains the temp infix.
pub fn temps(root: &Path) -> Vec<PathBuf> {
    snapshot(root)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .contains(tack_fs::TEMP_INFIX)
        })
        .collect()
}

pub fn sha512_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha512::digest(bytes))
}

pub fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Sets a restrictive umask so tests prove modes are set explicitly. nextest runs each
/// test in its own process, so this does not leak into other tests.
pub fn strict_umask() {
    // SAFETY: umask has no preconditions.
    unsafe {
        libc::umask(0o077);
    }
}
