//! Snapshots of a `node_modules` tree for conformance checks: every path's type, each
//! symlink's target text, each file's content hash and exec bit, and whether a file is
//! hard-linked (link count > 1) or a private copy.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir,
    Symlink(String),
    File {
        sha256: String,
        executable: bool,
        hardlinked: bool,
    },
}

/// Paths (relative, `/`-separated) to entries, sorted.
pub type Tree = BTreeMap<String, Entry>;

/// Walks `root` without following symlinks. Paths for which `skip` returns true are left
/// out, with everything below them.
pub fn snapshot(root: &Path, skip: &dyn Fn(&str) -> bool) -> Tree {
    let mut tree = Tree::new();
    walk(root, root, skip, &mut tree);
    tree
}

fn walk(root: &Path, dir: &Path, skip: &dyn Fn(&str) -> bool, tree: &mut Tree) {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let entry = entry.expect("dir entry");
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .expect("under root")
            .to_string_lossy()
            .replace('\\', "/");
        if skip(&rel) {
            continue;
        }
        let meta = fs_err::symlink_metadata(&path).expect("metadata");
        if meta.file_type().is_symlink() {
            let target = fs_err::read_link(&path).expect("readlink");
            tree.insert(rel, Entry::Symlink(target.to_string_lossy().into_owned()));
        } else if meta.is_dir() {
            tree.insert(rel, Entry::Dir);
            walk(root, &path, skip, tree);
        } else {
            let bytes = fs_err::read(&path).expect("read file");
            tree.insert(
                rel,
                Entry::File {
                    sha256: hex::encode(Sha256::digest(&bytes)),
                    executable: meta.permissions().mode() & 0o111 != 0,
                    hardlinked: meta.nlink() > 1,
                },
            );
        }
    }
}

/// Lists the differences between two trees, one line each, for assertion messages.
pub fn diff(expected: &Tree, actual: &Tree) -> Vec<String> {
    let mut out = Vec::new();
    for (path, want) in expected {
        match actual.get(path) {
            None => out.push(format!("missing: {path} ({want:?})")),
            Some(got) if got != want => {
                out.push(format!("differs: {path}: pnpm {want:?}, tack {got:?}"))
            }
            _ => {}
        }
    }
    for (path, got) in actual {
        if !expected.contains_key(path) {
            out.push(format!("extra: {path} ({got:?})"));
        }
    }
    out
}

/// [`diff`] for a tree an install recovered over a store an earlier install of the same
/// project left behind: an executable file may be a copy where the clean install linked it.
/// Linking a bin chmods its target's store file through the link, and a later import copies
/// such a file (with the mode its store name gives) instead of linking it, as pnpm 12 does.
pub fn diff_recovered(expected: &Tree, actual: &Tree) -> Vec<String> {
    let mut relaxed = actual.clone();
    for (path, got) in relaxed.iter_mut() {
        if let (
            Entry::File {
                executable: true,
                hardlinked,
                ..
            },
            Some(Entry::File {
                hardlinked: true, ..
            }),
        ) = (&mut *got, expected.get(path))
        {
            *hardlinked = true;
        }
    }
    diff(expected, &relaxed)
}
