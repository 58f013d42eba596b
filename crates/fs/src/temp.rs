//! Temp siblings: the names, the exclusive creation and the clean-up guard shared by every
//! writer that publishes by rename.
//!
//! Every temp name contains [`TEMP_INFIX`] so that a sweeper (`tack store prune`, a crash
//! recovery pass) can recognise orphans left by a killed process and delete them without
//! guessing. Names also carry the pid and a process-wide counter, so two writers (threads or
//! processes) never pick the same name, and creation uses `O_EXCL` so a stale file with the
//! same name is never reused.

use crate::error::FsError;
use crate::retry::retry_fd_pressure;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The infix every temp sibling's file name contains.
pub const TEMP_INFIX: &str = ".tack-tmp-";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh temp sibling name for `target`: `<dir>/.<name>.tack-tmp-<pid>-<n>`.
///
/// A leading dot keeps it out of naive directory listings; the name is truncated so the
/// result stays under the usual 255-byte file name limit even for 128-char CAS names.
pub fn temp_sibling(target: &Path) -> Result<PathBuf, FsError> {
    let parent = parent_dir(target)?;
    let base = target
        .file_name()
        .ok_or_else(|| FsError::NoParent {
            path: target.to_path_buf(),
        })?
        .to_string_lossy();
    let base: String = base.chars().take(160).collect();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = OsString::from(".");
    name.push(&base);
    name.push(TEMP_INFIX);
    name.push(format!("{}-{n}", std::process::id()));
    Ok(parent.join(name))
}

/// The directory `target` lives in (`.` for a bare file name).
pub(crate) fn parent_dir(target: &Path) -> Result<&Path, FsError> {
    match target.parent() {
        Some(p) if p.as_os_str().is_empty() => Ok(Path::new(".")),
        Some(p) => Ok(p),
        None => Err(FsError::NoParent {
            path: target.to_path_buf(),
        }),
    }
}

/// Creates an exclusive temp sibling of `target` with `mode` (before umask) and returns it
/// with a guard that deletes it unless disarmed.
pub(crate) fn create_temp_sibling(target: &Path, mode: u32) -> Result<(File, TempGuard), FsError> {
    let mut last = None;
    for _ in 0..16 {
        let path = temp_sibling(target)?;
        let res = retry_fd_pressure(|| {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .custom_flags(libc::O_CLOEXEC)
                .open(&path)
        });
        match res {
            Ok(f) => return Ok((f, TempGuard::new(path))),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some((path, e)),
            Err(e) => return Err(FsError::io("create temp file", path, e)),
        }
    }
    let (path, e) = last.unwrap_or_else(|| {
        (
            target.to_path_buf(),
            io::Error::from(io::ErrorKind::AlreadyExists),
        )
    });
    Err(FsError::io("create temp file", path, e))
}

/// Deletes a temp file when dropped, unless [`TempGuard::disarm`] was called (after a
/// successful rename). This is what makes "every error path leaves no temp file" hold.
#[derive(Debug)]
pub(crate) struct TempGuard {
    path: Option<PathBuf>,
}

impl TempGuard {
    pub(crate) fn new(path: PathBuf) -> Self {
        TempGuard { path: Some(path) }
    }

    pub(crate) fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// The temp file has been renamed away: nothing to delete.
    pub(crate) fn disarm(&mut self) {
        self.path = None;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_marked() {
        let a = temp_sibling(Path::new("/d/file.txt")).unwrap();
        let b = temp_sibling(Path::new("/d/file.txt")).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.parent(), Some(Path::new("/d")));
        assert!(a.to_string_lossy().contains(TEMP_INFIX));
    }

    #[test]
    fn long_names_stay_short() {
        let long = "a".repeat(250);
        let t = temp_sibling(&Path::new("/d").join(long)).unwrap();
        assert!(t.file_name().unwrap().len() < 255);
    }

    #[test]
    fn bare_name_parent_is_dot() {
        assert_eq!(parent_dir(Path::new("x")).unwrap(), Path::new("."));
        assert!(parent_dir(Path::new("/")).is_err());
    }
}
