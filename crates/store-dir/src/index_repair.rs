//! Setting aside an `index.db` that is not a SQLite database, so the install goes on.
//!
//! A store restored from a damaged CI cache, or an `index.db` that a crash left full of
//! zeros, makes SQLite refuse the file (`SQLITE_NOTADB`). pnpm 12 then installs anyway,
//! without an index, fetching every package on every install. tack moves the file aside
//! (`index.db.corrupt-<seconds>-<pid>`, with its `-wal` and `-shm`), starts a new index and
//! says so: the content files stay, the packages are fetched and indexed again once, and pnpm
//! and tack both use the new index afterwards. Nothing that might be a database is moved:
//! only a non-empty file whose first bytes are not SQLite's header.
//!
//! Concurrent installs (tack's own threads, other processes) can meet the same garbage at
//! once. Each takes an exclusive `flock` on the garbage file before moving it, then checks
//! that the path still names that file: the first one moves it, the others find a new file
//! there and only open it. In a process, openings of `index.db` are serialised by
//! [`OPEN_LOCK`], so the descriptor this module opens and closes is never one whose close
//! would drop the POSIX locks SQLite holds on a live database of the same process.

use crate::error::StoreError;
use parking_lot::Mutex;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Held while this process opens `index.db` or sets it aside (see the module doc).
pub(crate) static OPEN_LOCK: Mutex<()> = Mutex::new(());

/// The first 16 bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Moves `index_db` (and its `-wal` and `-shm`) aside if it is a non-empty file that does not
/// start with SQLite's header. Returns where it went, or `None` when there was nothing to move
/// (another process moved it first, or the file is a database after all).
pub(crate) fn set_aside_if_garbage(index_db: &Path) -> Result<Option<PathBuf>, StoreError> {
    // Read-write where allowed: NFS emulates `flock` with POSIX locks, and an exclusive one
    // needs a descriptor open for writing.
    let opened = File::options()
        .read(true)
        .write(true)
        .open(index_db)
        .or_else(|_| File::open(index_db));
    let mut file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io("open", index_db, e)),
    };
    lock_exclusive(&file).map_err(|e| StoreError::io("lock", index_db, e))?;
    // Another install may have moved the garbage aside while this one waited for the lock.
    let held = file
        .metadata()
        .map_err(|e| StoreError::io("read metadata of", index_db, e))?;
    let current = match std::fs::metadata(index_db) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io("read metadata of", index_db, e)),
    };
    if (held.dev(), held.ino()) != (current.dev(), current.ino()) || held.len() == 0 {
        return Ok(None);
    }
    let mut head = Vec::with_capacity(SQLITE_HEADER.len());
    (&mut file)
        .take(SQLITE_HEADER.len() as u64)
        .read_to_end(&mut head)
        .map_err(|e| StoreError::io("read", index_db, e))?;
    if head == SQLITE_HEADER {
        return Ok(None);
    }
    let aside = aside_path(index_db);
    // The journal files first: once the main file is gone, a new database may be created
    // at the path at any moment, and its own `-wal` must not be taken for the old one's.
    for suffix in ["-wal", "-shm"] {
        let from = with_suffix(index_db, suffix);
        match std::fs::rename(&from, with_suffix(&aside, suffix)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io("move aside", from, e)),
        }
    }
    std::fs::rename(index_db, &aside).map_err(|e| StoreError::io("move aside", index_db, e))?;
    Ok(Some(aside))
}

/// `index.db.corrupt-<seconds>-<pid>`, beside the original.
fn aside_path(index_db: &Path) -> PathBuf {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    with_suffix(
        index_db,
        &format!(".corrupt-{seconds}-{}", std::process::id()),
    )
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A blocking exclusive `flock`; it is released when `file` is closed.
fn lock_exclusive(file: &File) -> std::io::Result<()> {
    loop {
        // SAFETY: `flock` takes a descriptor this `File` owns for the whole call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}
