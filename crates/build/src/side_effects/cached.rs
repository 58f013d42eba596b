//! Use a side-effects cache entry: the base files of an index row with the entry's `added`
//! files laid over them and its `deleted` files removed — the file list the linker imports
//! instead of running the package's scripts again. Paths that could escape the package dir
//! are rejected, since the entry came from a shared store.

use crate::error::BuildError;
use crate::patch::apply::is_safe_relative;
use indexmap::IndexMap;
use tack_store_dir::{CafsFileInfo, PackageFilesIndex};

/// The files of `row` as built under `cache_key`, or `None` when the row has no such entry.
pub fn apply_side_effects(
    row: &PackageFilesIndex,
    cache_key: &str,
) -> Result<Option<IndexMap<String, CafsFileInfo>>, BuildError> {
    let Some(entry) = row.side_effects.as_ref().and_then(|m| m.get(cache_key)) else {
        return Ok(None);
    };
    let unsafe_path = |path: &str| BuildError::UnsafeSideEffectsPath {
        cache_key: cache_key.to_string(),
        path: path.to_string(),
    };
    let mut files = row.files.clone();
    if let Some(deleted) = &entry.deleted {
        for path in deleted {
            if !is_safe_relative(path) {
                return Err(unsafe_path(path));
            }
            files.shift_remove(path);
        }
    }
    if let Some(added) = &entry.added {
        for (path, info) in added {
            if !is_safe_relative(path) {
                return Err(unsafe_path(path));
            }
            if !tack_store_dir::is_valid_digest(&info.digest) {
                return Err(unsafe_path(&format!("{path} (digest {})", info.digest)));
            }
            files.insert(path.clone(), info.clone());
        }
    }
    Ok(Some(files))
}
