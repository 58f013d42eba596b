//! `cas_write_lock`: the process-local lock every writer of a CAS path holds.
//!
//! Why it exists: packages often ship byte-identical files (a shared `LICENSE`, an empty
//! `index.js`), and identical files map to the same content-addressed path. Two threads
//! extracting two tarballs can then write the same CAS path at the same moment. Without
//! serialisation the second writer sees the first one's half-written file, decides it is
//! torn and "heals" it by renaming over the live blob while a third thread is hardlinking
//! it, which produces ENOENT/EEXIST flakes and, worse, torn reads.
//!
//! Why stripes and not one lock per path: a cold install touches ~170k CAS files. A
//! `DashMap<PathBuf, Arc<Mutex<()>>>` costs a `PathBuf` and an `Arc` allocation per file and
//! is never pruned. 256 static mutexes cost nothing per call (no allocation, one hash of the
//! path bytes), and two unrelated paths that share a stripe only wait for each other for the
//! length of one small write.
//!
//! The lock is process-local. Safety across processes comes from how files reach their
//! final path (`O_TMPFILE`+`linkat`, exclusive temp + `link`/`rename`), never from this lock.
//!
//! Caveat: the mutex is not re-entrant and stripes are shared, so never hold one
//! `cas_write_lock` guard while taking another (or while calling [`crate::ensure_file`],
//! which takes it itself): two different paths may map to the same stripe and deadlock.

use parking_lot::Mutex;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const STRIPES: usize = 256;

static LOCKS: [Mutex<()>; STRIPES] = [const { Mutex::new(()) }; STRIPES];

/// The lock a writer of the CAS path `path` must hold while it writes or heals that path.
///
/// Allocation-free: the path bytes are hashed (FNV-1a) to pick one of 256 static stripes.
/// The same path always maps to the same stripe within and across runs.
pub fn cas_write_lock(path: &Path) -> &'static Mutex<()> {
    &LOCKS[stripe_of(path)]
}

fn stripe_of(path: &Path) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in path.as_os_str().as_bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // Fold the high bits in: FNV's low byte alone mixes the last input byte weakly.
    ((hash ^ (hash >> 32) ^ (hash >> 16)) as usize) % STRIPES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_path_same_lock() {
        let a = cas_write_lock(Path::new("/s/files/ab/cdef"));
        let b = cas_write_lock(Path::new("/s/files/ab/cdef"));
        assert!(std::ptr::eq(a, b));
    }

    #[test]
    fn paths_spread_over_stripes() {
        let mut used = std::collections::HashSet::new();
        for i in 0..4096 {
            used.insert(stripe_of(Path::new(&format!(
                "/store/files/{:02x}/{i:0126x}",
                i % 256
            ))));
        }
        assert!(used.len() > 200, "only {} stripes used", used.len());
    }

    #[test]
    fn lock_excludes() {
        let l = cas_write_lock(Path::new("/x/y"));
        let g = l.lock();
        assert!(l.try_lock().is_none());
        drop(g);
        assert!(l.try_lock().is_some());
    }
}
