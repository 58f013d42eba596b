//! Metadata snapshots of a tree (inode, mtime, ctime per path), to prove that a run wrote
//! nothing, or that a re-install left unchanged packages alone.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// `(inode, mtime ns, ctime ns)` of one entry, not following symlinks.
pub type Stamp = (u64, i128, i128);

/// Every path under `root` (relative, `/`-separated) with its stamp.
pub fn stamps(root: &Path) -> BTreeMap<String, Stamp> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Stamp>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let rel = path
            .strip_prefix(root)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.insert(
            rel,
            (
                meta.ino(),
                i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
                i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
            ),
        );
        if meta.is_dir() {
            walk(root, &path, out);
        }
    }
}
