//! `write_new_file`: write a file into a directory this install has just created.
//!
//! [`crate::AtomicWrite`] publishes through a temp sibling and a rename, so a reader never
//! sees a torn file. That costs a temp name, a rename and a failed open to compare with what
//! was there, about seven syscalls a file. The `.bin` shims of a package slot that the
//! install has just created are the case where none of that buys anything: nothing can be in
//! the directory yet, and nothing reads a shim before the install ends. A shim torn by a
//! crash is also harmless: the install's no-op markers are written last, so the next install
//! takes the full path, compares every shim with its expected text and rewrites it.
//!
//! So the file is created exclusively (`O_CREAT | O_EXCL`), written and closed: three
//! syscalls. If the name exists after all (a concurrent install of the same tree), nothing
//! is touched and the caller falls back to the careful path.

use crate::ensure_file::umask_keeps;
use crate::error::FsError;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `path` with `content` and exactly `mode`, unless it exists: then returns
/// `Ok(false)` and leaves the existing entry alone. On a write error the partial file is
/// removed before the error is returned.
pub fn write_new_file(path: &Path, content: &[u8], mode: u32) -> Result<bool, FsError> {
    let mut file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(FsError::io("create", path, e)),
    };
    let written = file.write_all(content).and_then(|()| {
        if umask_keeps(mode) {
            Ok(())
        } else {
            file.set_permissions(std::fs::Permissions::from_mode(mode))
        }
    });
    if let Err(e) = written {
        drop(file);
        // Best effort: the error that matters is the write's.
        let _ = std::fs::remove_file(path);
        return Err(FsError::io("write", path, e));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn creates_the_file_with_its_content_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shim");
        assert!(write_new_file(&path, b"#!/bin/sh\n", 0o755).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"#!/bin/sh\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o755);
    }

    #[test]
    fn leaves_an_existing_file_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shim");
        std::fs::write(&path, b"theirs").unwrap();
        assert!(!write_new_file(&path, b"ours", 0o755).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"theirs");
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing/shim");
        let err = write_new_file(&path, b"x", 0o755).unwrap_err();
        assert!(err.to_string().contains("missing/shim"), "{err}");
    }
}
