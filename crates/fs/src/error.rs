//! The one error type of `tack-fs`.
//!
//! Every variant carries the path (or paths) it is about, because an installer that says
//! "No such file or directory" without naming the file is useless to debug. `code()` gives a
//! stable machine-readable code so the CLI can render and tests can match errors without
//! parsing messages.

use std::io;
use std::path::PathBuf;

/// Errors raised by the filesystem primitives.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// An IO call on one path failed.
    #[error(
        "{op} {path} failed: {source}. {}",
        advice(source, "the path is writable")
    )]
    Io {
        /// What was being done (`"open"`, `"write"`, `"rename"`, …).
        op: &'static str,
        /// The path the call was about.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// An IO call that involves two paths (link, rename, copy) failed.
    #[error(
        "{op} {from} -> {to} failed: {source}. {}",
        advice(source, "both paths exist and are writable")
    )]
    Io2 {
        /// What was being done (`"hardlink"`, `"rename"`, `"copy"`, …).
        op: &'static str,
        /// The source path.
        from: PathBuf,
        /// The destination path.
        to: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// The content written for `path` does not have the sha512 the caller expected.
    /// Nothing was published: the target is unchanged.
    #[error(
        "sha512 mismatch while writing {path}: expected {expected}, got {actual}. \
         The target was left unchanged; the source data is corrupt or was truncated"
    )]
    HashMismatch {
        /// The target that was not written.
        path: PathBuf,
        /// The hex digest the caller expected.
        expected: String,
        /// The hex digest of the bytes actually received.
        actual: String,
    },

    /// The data source (a reader) failed before the end of its data. Nothing was published.
    #[error("reading the content for {path} failed: {source}. The target was left unchanged")]
    Source {
        /// The target that was not written.
        path: PathBuf,
        /// The reader's error.
        #[source]
        source: io::Error,
    },

    /// The async producer went away (dropped or cancelled) before signalling end of stream.
    /// Nothing was published.
    #[error(
        "the data stream for {path} ended without an end-of-stream signal (producer dropped or \
         cancelled). The target was left unchanged; retry the operation"
    )]
    StreamAborted {
        /// The target that was not written.
        path: PathBuf,
    },

    /// A real directory sits where a symlink should go; tack refuses to delete it.
    #[error(
        "{path} is a directory, not a symlink. Remove it (or move it away) and run the command again"
    )]
    DirectoryInTheWay {
        /// The would-be link path.
        path: PathBuf,
    },

    /// `ImportMethod::Reflink` was requested but the filesystem cannot clone files.
    #[error(
        "cannot reflink {from} -> {to}: {source}. The filesystem does not support copy-on-write \
         clones (or the paths are on different filesystems); use package-import-method=auto or copy"
    )]
    ReflinkUnsupported {
        /// The CAS file.
        from: PathBuf,
        /// The destination.
        to: PathBuf,
        /// The error the `FICLONE` ioctl returned.
        #[source]
        source: io::Error,
    },

    /// A path has no parent directory (for example `/`), so no temp sibling can be made.
    #[error("{path} has no parent directory; pass a path to a file")]
    NoParent {
        /// The offending path.
        path: PathBuf,
    },
}

impl FsError {
    /// A stable error code: pnpm's `ERR_PNPM_*` where one exists, else `ERR_TACK_*`.
    pub fn code(&self) -> &'static str {
        match self {
            FsError::Io { source, .. } | FsError::Io2 { source, .. } if is_disk_full(source) => {
                "ERR_TACK_FS_ENOSPC"
            }
            FsError::Io { .. } => "ERR_TACK_FS_IO",
            FsError::Io2 { .. } => "ERR_TACK_FS_IO",
            FsError::HashMismatch { .. } => "ERR_TACK_FS_HASH_MISMATCH",
            FsError::Source { .. } => "ERR_TACK_FS_SOURCE",
            FsError::StreamAborted { .. } => "ERR_TACK_FS_STREAM_ABORTED",
            FsError::DirectoryInTheWay { .. } => "ERR_TACK_SYMLINK_DIR_IN_THE_WAY",
            FsError::ReflinkUnsupported { .. } => "ERR_TACK_REFLINK_UNSUPPORTED",
            FsError::NoParent { .. } => "ERR_TACK_FS_NO_PARENT",
        }
    }

    /// The underlying IO error, if this error wraps one.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            FsError::Io { source, .. }
            | FsError::Io2 { source, .. }
            | FsError::Source { source, .. }
            | FsError::ReflinkUnsupported { source, .. } => Some(source),
            _ => None,
        }
    }

    /// True when the disk (or quota) is full: the caller should stop, not retry.
    pub fn is_enospc(&self) -> bool {
        self.io_error().is_some_and(is_disk_full)
    }

    /// True when the error is "not found" (a missing source, a vanished directory).
    pub fn is_not_found(&self) -> bool {
        self.io_error()
            .is_some_and(|e| e.kind() == io::ErrorKind::NotFound)
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        FsError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn io2(
        op: &'static str,
        from: impl Into<PathBuf>,
        to: impl Into<PathBuf>,
        source: io::Error,
    ) -> Self {
        FsError::Io2 {
            op,
            from: from.into(),
            to: to.into(),
            source,
        }
    }
}

/// What to do next when a write failed because the disk or a quota is full.
pub const DISK_FULL_ADVICE: &str = "The disk is full (or a quota is reached): free some space, or \
    move the store or the project to a bigger filesystem, then run the install again; it resumes \
    where it stopped";

/// What to do next after `e`: for a full disk or quota, that (nothing else helps); otherwise
/// "Check that <check>".
pub fn advice(e: &io::Error, check: &str) -> String {
    if is_disk_full(e) {
        DISK_FULL_ADVICE.to_string()
    } else {
        format!("Check that {check}")
    }
}

/// Whether `e` is ENOSPC or EDQUOT: the disk or the user's quota is full.
pub fn is_disk_full(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}
