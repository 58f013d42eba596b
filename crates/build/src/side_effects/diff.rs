//! After a build or patch: re-scan the package dir and diff it against the package's store
//! files. `added` holds files that are new or whose digest or mode changed (their content is
//! written to the CAS), `deleted` holds store files that disappeared. `node_modules/` is not
//! scanned (it holds the package's dependency links and `.bin`) and bundled files under it
//! are never reported as deleted. Symlinks are not followed.

use crate::error::BuildError;
use indexmap::IndexMap;
use sha2::{Digest, Sha512};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};
use tack_store_dir::{CafsFileInfo, SideEffectsDiff, StoreDir};

/// Diff `pkg_dir` against `base_files` (the index row's `files`), writing changed content to
/// `store`. Modes are compared on the permission bits.
pub fn compute_side_effects_diff(
    pkg_dir: &Path,
    base_files: &IndexMap<String, CafsFileInfo>,
    store: &StoreDir,
) -> Result<SideEffectsDiff, BuildError> {
    let mut current: IndexMap<String, std::fs::Metadata> = IndexMap::new();
    scan(pkg_dir, "", &mut current)?;
    let mut added: IndexMap<String, CafsFileInfo> = IndexMap::new();
    for (rel, meta) in &current {
        let path = pkg_dir.join(rel);
        let mode = meta.permissions().mode() & 0o7777;
        let base = base_files.get(rel);
        let content = fs_err::read(&path).map_err(|e| BuildError::io("read", &path, e))?;
        let digest = hex::encode(Sha512::digest(&content));
        let unchanged = base.is_some_and(|b| b.digest == digest && (b.mode & 0o7777) == mode);
        if unchanged {
            continue;
        }
        let executable = mode & 0o111 != 0;
        let written = store.write_cas_file(&content, executable)?;
        added.insert(
            rel.clone(),
            CafsFileInfo {
                digest: written,
                mode,
                size: content.len() as u64,
                checked_at: None,
            },
        );
    }
    // Checked now, after every file is written: a `checkedAt` older than a file's mtime would
    // have every later integrity check (tack's or pnpm's) hash that file again.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as f64)
        .unwrap_or(0.0);
    for info in added.values_mut() {
        info.checked_at = Some(now);
    }
    let deleted: Vec<String> = base_files
        .keys()
        .filter(|k| !k.starts_with("node_modules/") && !current.contains_key(*k))
        .cloned()
        .collect();
    Ok(SideEffectsDiff {
        added: (!added.is_empty()).then_some(added),
        deleted: (!deleted.is_empty()).then_some(deleted),
    })
}

/// Collect regular files under `dir` as `/`-separated relative paths, skipping the top-level
/// `node_modules` and symlinks.
fn scan(
    dir: &Path,
    prefix: &str,
    out: &mut IndexMap<String, std::fs::Metadata>,
) -> Result<(), BuildError> {
    let mut entries: Vec<_> = fs_err::read_dir(dir)
        .map_err(|e| BuildError::io("list", dir, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| BuildError::io("list", dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if prefix.is_empty() && name == "node_modules" {
            continue;
        }
        let path = entry.path();
        let meta =
            std::fs::symlink_metadata(&path).map_err(|e| BuildError::io("stat", &path, e))?;
        let rel = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        };
        if meta.is_dir() {
            scan(&path, &rel, out)?;
        } else if meta.is_file() {
            out.insert(rel, meta);
        }
    }
    Ok(())
}
