//! The patch hash pnpm writes to `pnpm-lock.yaml#patchedDependencies`: the sha256 hex of the
//! patch file with CRLF line endings turned into LF, so a checkout with `autocrlf` hashes the
//! same.

use crate::error::BuildError;
use sha2::{Digest, Sha256};
use std::path::Path;

/// Hash patch content (CRLF→LF, sha256, lowercase hex).
pub fn patch_hash(content: &[u8]) -> String {
    let mut hasher = Sha256::new();
    let mut start = 0;
    let mut i = 0;
    while i + 1 < content.len() {
        if content[i] == b'\r' && content[i + 1] == b'\n' {
            hasher.update(&content[start..i]);
            start = i + 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    hasher.update(&content[start..]);
    hex::encode(hasher.finalize())
}

/// Hash a patch file.
pub fn patch_file_hash(path: &Path) -> Result<String, BuildError> {
    let content = fs_err::read(path).map_err(|e| BuildError::io("read the patch file", path, e))?;
    Ok(patch_hash(&content))
}

/// Check a patch file against the hash recorded in the lockfile.
pub fn check_patch_hash(path: &Path, expected: &str) -> Result<(), BuildError> {
    let actual = patch_file_hash(path)?;
    if actual.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(BuildError::PatchHashMismatch {
            patch_file: path.to_path_buf(),
            expected: expected.to_string(),
            actual,
        })
    }
}
