//! Stamps of an install's input files (the lockfile, the manifests, the settings files), as
//! the workspace state records them: mtime, change time and size, and pnpm 12's digest of the
//! content. The no-op gate of the next install compares them with the files as they are then.
//!
//! A stamp must describe the content the install used. So it is taken before the file is
//! read, and its digest is of the bytes read ([`read_stamped`]): content changed after the
//! stat moves the file's times, which sends the next install to the digest, and that is of
//! what was used. Stamped after the read, an edit in between would be recorded as installed.

use serde::{Deserialize, Serialize};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// One file's stamp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileStamp {
    /// Modification time, ns since the epoch.
    pub mtime_ns: i128,
    /// Change time, ns since the epoch.
    pub ctime_ns: i128,
    /// Size in bytes.
    pub size: u64,
    /// A regular file's content digest ([`content_digest`]); none for a directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl FileStamp {
    fn of(m: &std::fs::Metadata) -> FileStamp {
        FileStamp {
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
            size: m.size(),
            digest: None,
        }
    }
}

/// The current stamp of `path`, `None` if it cannot be stat'ed.
pub fn stamp(path: &Path) -> Option<FileStamp> {
    std::fs::metadata(path).ok().map(|m| FileStamp::of(&m))
}

/// The stamp of the regular file at `path` with its content digest, read after the stamp is
/// taken: content that changes in between is recorded with the stamp of older content, which
/// the next install takes for a change.
pub fn stamp_with_digest(path: &Path) -> Option<FileStamp> {
    let mut stamp = stamp(path)?;
    stamp.digest = content_digest(path);
    Some(stamp)
}

/// pnpm 12's digest of a file in the workspace state: the first 32 hex digits of the content's
/// SHA-256. `None` when the file cannot be read.
pub fn content_digest(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|bytes| digest_of(&bytes))
}

/// [`content_digest`] of bytes already read.
pub fn digest_of(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut digest = hex::encode(Sha256::digest(bytes));
    digest.truncate(32);
    digest
}

/// Reads the file at `path`, with its stamp taken before the read and the digest of the bytes
/// read (see the module doc).
pub fn read_stamped(path: &Path) -> std::io::Result<(Vec<u8>, FileStamp)> {
    let mut stamp = FileStamp::of(&std::fs::metadata(path)?);
    let bytes = std::fs::read(path)?;
    stamp.digest = Some(digest_of(&bytes));
    Ok((bytes, stamp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamped_read_digests_the_bytes_it_returns() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("package.json");
        std::fs::write(&path, b"{\"name\":\"a\"}").expect("write");
        let (bytes, stamped) = read_stamped(&path).expect("read");
        assert_eq!(bytes, b"{\"name\":\"a\"}");
        assert_eq!(stamped.digest.as_deref(), Some(digest_of(&bytes).as_str()));
        assert_eq!(Some(stamped), stamp_with_digest(&path));
        // pnpm 12's digest: 32 hex digits of the SHA-256.
        assert_eq!(digest_of(b"").len(), 32);
        assert_eq!(digest_of(b""), "e3b0c44298fc1c149afbf4c8996fb924");
    }

    #[test]
    fn a_missing_file_has_no_stamp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("gone.json");
        assert!(stamp(&path).is_none());
        assert!(read_stamped(&path).is_err());
    }
}
