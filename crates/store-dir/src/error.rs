//! `StoreError`: everything that can go wrong in the store, with a stable code and a
//! message that names the path and says what to do next.

use std::path::PathBuf;

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot {action} {path}: {source}. {}",
        tack_fs::advice(
            source,
            "the store directory is writable, or point `storeDir` elsewhere"
        )
    )]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write a file into the store: {0}")]
    Fs(#[from] tack_fs::FsError),
    #[error("store index {path} failed: {source}. {}", sqlite_advice(source))]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the store index writer thread stopped unexpectedly while writing {path}")]
    WriterGone { path: PathBuf },
}

impl StoreError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Io { source, .. } if tack_fs::is_disk_full(source) => "ERR_TACK_FS_ENOSPC",
            StoreError::Io { .. } => "ERR_TACK_STORE_IO",
            StoreError::Fs(e) => e.code(),
            StoreError::Sqlite { source, .. } if sqlite_disk_full(source) => "ERR_TACK_FS_ENOSPC",
            StoreError::Sqlite { .. } => "ERR_TACK_STORE_INDEX",
            StoreError::WriterGone { .. } => "ERR_TACK_STORE_INDEX_WRITER",
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        StoreError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// SQLite reports a full disk (or quota) as `SQLITE_FULL`.
fn sqlite_disk_full(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
}

fn sqlite_advice(e: &rusqlite::Error) -> String {
    if sqlite_disk_full(e) {
        tack_fs::DISK_FULL_ADVICE.to_string()
    } else {
        "If the file is corrupt, delete it together with its -wal and -shm files (the store \
         will re-index packages as they are fetched)"
            .to_string()
    }
}
