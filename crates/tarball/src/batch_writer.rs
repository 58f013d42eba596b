//! Writes a hashed batch of files into the CAS, on more than one thread when cores would
//! otherwise idle.
//!
//! Writing a file is a few syscalls (create, write, link), about 50 µs; a package of a
//! thousand files is 50 ms of one thread. While other packages unpack beside it the cores
//! are busy anyway, and handing its files to other threads only adds context switches
//! (about 3,000 in a cold install of the medium fixture, when every batch went to the pool
//! while its own thread waited). Once fewer unpacks run than there are cores, the cores
//! left idle can help.
//!
//! That moment usually comes in the middle of a large package: the largest ones start
//! first (see `unpack_queue.rs`) and are still being written when the small ones are done.
//! Decided once per batch, as it used to be, a package whose batch began while others ran
//! was written alone to its end: in a cold install of the small fixture, lodash's 1,050
//! files were the last 30 ms of the install with one core idle. So the batch is claimed
//! [`CLAIM_FILES`] at a time from a shared cursor by the unpack's own thread, which checks
//! before each claim whether a pool thread could claim beside it: whether fewer unpacks run,
//! and fewer unpack workers, than the pool has threads. The workers are counted too because
//! one that is between two packages is not unpacking for a moment, and a helper that joined
//! then would compete for a core that is about to be busy again, writing into the same
//! package directory as the batch's own thread. For the same reason a helper leaves as soon
//! as another unpack starts: on the many-files fixture (40 packages of 600 files), helpers
//! that stayed to the end of their batch cost about 40% more context switches and 2–3% of
//! the cold install.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::extract::{CasSink, CasWriteError, HashedFile};
use crate::unpack_queue::running_workers;

/// A batch smaller than this is written by its own thread alone.
const PARALLEL_FROM_FILES: usize = 16;
/// Files per claim: under a millisecond of writing, so a helper joins soon after a core
/// frees up and the last claims end close together.
const CLAIM_FILES: usize = 16;

/// Unpacks in progress in the process: counted so that a batch is shared with the CAS pool
/// only when cores would otherwise idle.
static ACTIVE_UNPACKS: AtomicUsize = AtomicUsize::new(0);

/// One count of [`ACTIVE_UNPACKS`], for as long as it lives.
pub(crate) struct ActiveUnpack;

impl ActiveUnpack {
    pub(crate) fn start() -> Self {
        ACTIVE_UNPACKS.fetch_add(1, Ordering::Relaxed);
        ActiveUnpack
    }
}

impl Drop for ActiveUnpack {
    fn drop(&mut self) {
        ACTIVE_UNPACKS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Writes `files` through `sink`, with the results in the order of `files`.
pub(crate) fn write_batch(
    sink: &dyn CasSink,
    files: &[HashedFile<'_>],
) -> Vec<Result<String, CasWriteError>> {
    write_batch_while(sink, files, &busy_in_process)
}

/// The cores the process's unpacks want: those unpacking, or the unpack workers running if
/// more (this unpack counts itself in [`ACTIVE_UNPACKS`], and its worker, if it has one).
fn busy_in_process() -> usize {
    ACTIVE_UNPACKS
        .load(Ordering::Relaxed)
        .max(running_workers())
}

/// [`write_batch`] with the count of busy cores given: the tests count their own, so that
/// other tests unpacking in the same process do not change what they see.
fn write_batch_while(
    sink: &dyn CasSink,
    files: &[HashedFile<'_>],
    busy: &(dyn Fn() -> usize + Sync),
) -> Vec<Result<String, CasWriteError>> {
    let pool = match cas_pool() {
        Some(pool) if files.len() >= PARALLEL_FROM_FILES => pool,
        _ => return sink.write_hashed(files),
    };
    let threads = pool.current_num_threads();
    let results: Vec<OnceLock<Result<String, CasWriteError>>> =
        files.iter().map(|_| OnceLock::new()).collect();
    let cursor = AtomicUsize::new(0);
    // Writes the next claim; `false` once the batch is all claimed.
    let claim = || {
        let start = cursor.fetch_add(CLAIM_FILES, Ordering::Relaxed);
        if start >= files.len() {
            return false;
        }
        let end = (start + CLAIM_FILES).min(files.len());
        for (slot, result) in results[start..end]
            .iter()
            .zip(sink.write_hashed(&files[start..end]))
        {
            let _ = slot.set(result);
        }
        true
    };
    // Each helper takes a core too.
    let helpers = AtomicUsize::new(0);
    // A helper leaves as soon as another unpack wants its core, and the batch's own thread
    // asks for one again if a core frees up later.
    let help = || {
        while busy() + helpers.load(Ordering::Relaxed) <= threads && claim() {}
        helpers.fetch_sub(1, Ordering::Relaxed);
    };
    pool.in_place_scope(|scope| loop {
        if busy() + helpers.load(Ordering::Relaxed) < threads {
            helpers.fetch_add(1, Ordering::Relaxed);
            scope.spawn(|_| help());
        }
        if !claim() {
            break;
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner().unwrap_or_else(|| {
                Err(CasWriteError {
                    message: "a file of the batch was never written".to_string(),
                    disk_full: false,
                })
            })
        })
        .collect()
}

/// A dedicated pool for CAS writes, so a big tarball cannot stall whatever else uses
/// rayon's global pool (the linker). `None` when no thread could be spawned: then files
/// are written on the calling thread.
fn cas_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("tack-cas-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::thread::ThreadId;
    use std::time::Duration;

    /// Names a file by its content, and notes which threads wrote.
    #[derive(Default)]
    struct Recorder {
        writers: parking_lot::Mutex<HashSet<ThreadId>>,
    }

    impl CasSink for Recorder {
        fn write(&self, content: &[u8], _exec: bool) -> Result<String, CasWriteError> {
            // As slow as a real write, so that a helper has time to claim.
            std::thread::sleep(Duration::from_micros(100));
            self.writers.lock().insert(std::thread::current().id());
            Ok(String::from_utf8_lossy(content).into_owned())
        }
    }

    fn contents(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("file {i}")).collect()
    }

    fn batch(contents: &[String]) -> Vec<HashedFile<'_>> {
        contents
            .iter()
            .map(|c| HashedFile {
                path: c,
                digest: [0; 64],
                content: c.as_bytes(),
                exec: false,
            })
            .collect()
    }

    fn names(results: Vec<Result<String, CasWriteError>>) -> Vec<String> {
        results.into_iter().map(|r| r.unwrap()).collect()
    }

    #[test]
    fn a_large_batch_is_shared_while_no_other_unpack_runs() {
        let contents = contents(300);
        let sink = Recorder::default();
        // This unpack alone, whatever other tests unpack meanwhile.
        let busy = AtomicUsize::new(1);
        let results = write_batch_while(&sink, &batch(&contents), &|| busy.load(Ordering::SeqCst));
        assert_eq!(
            names(results),
            contents,
            "results in the order of the files"
        );
        let writers = sink.writers.lock().len();
        if cas_pool().is_some_and(|pool| pool.current_num_threads() > 1) {
            assert!(writers >= 2, "written by {writers} thread(s)");
        }
    }

    /// Starts `threads` other unpacks once `at` files are written, then notes who writes
    /// after `after`.
    struct Crowding {
        written: AtomicUsize,
        at: usize,
        after: usize,
        /// The unpacks running: this one, then `threads` more.
        busy: AtomicUsize,
        late_writers: parking_lot::Mutex<HashSet<ThreadId>>,
        threads: usize,
    }

    impl CasSink for Crowding {
        fn write(&self, content: &[u8], _exec: bool) -> Result<String, CasWriteError> {
            std::thread::sleep(Duration::from_micros(200));
            let n = self.written.fetch_add(1, Ordering::SeqCst) + 1;
            if n == self.at {
                self.busy.fetch_add(self.threads, Ordering::SeqCst);
            }
            if n > self.after {
                self.late_writers.lock().insert(std::thread::current().id());
            }
            Ok(String::from_utf8_lossy(content).into_owned())
        }
    }

    #[test]
    fn a_helper_leaves_when_other_unpacks_start() {
        let threads = cas_pool().map_or(1, |pool| pool.current_num_threads());
        let contents = contents(600);
        let sink = Crowding {
            written: AtomicUsize::new(0),
            at: 100,
            // A helper finishes the claim it holds (16 files) before it leaves.
            after: 300,
            busy: AtomicUsize::new(1),
            late_writers: parking_lot::Mutex::new(HashSet::new()),
            threads,
        };
        let busy = || sink.busy.load(Ordering::SeqCst);
        let results = write_batch_while(&sink, &batch(&contents), &busy);
        assert_eq!(names(results), contents);
        assert_eq!(
            sink.late_writers.lock().clone(),
            HashSet::from([std::thread::current().id()]),
            "once other unpacks run, only the batch's own thread writes"
        );
    }

    #[test]
    fn a_batch_is_not_shared_while_other_unpack_workers_run() {
        use crate::unpack_queue::{GroupLimits, UnpackQueue};
        let contents = contents(300);
        let sink = Recorder::default();
        let threads = cas_pool().map_or(1, |pool| pool.current_num_threads());
        // Workers that hold a body or are about to take one, though only this unpack has
        // started (a worker between two packages).
        let limits = GroupLimits {
            member_max_bytes: 1,
            group_max_bytes: 1,
            max_members: 1,
        };
        let queue = UnpackQueue::new(threads, limits);
        for _ in 0..threads {
            assert!(queue.push(1, ()), "a worker starts");
        }
        let _this_unpack = ActiveUnpack::start();
        let results = write_batch(&sink, &batch(&contents));
        assert_eq!(names(results), contents);
        assert_eq!(
            sink.writers.lock().clone(),
            HashSet::from([std::thread::current().id()]),
            "only the unpack's own thread writes"
        );
    }

    #[test]
    fn a_batch_is_written_by_its_own_thread_while_the_cores_are_busy() {
        let contents = contents(300);
        let sink = Recorder::default();
        let threads = cas_pool().map_or(1, |pool| pool.current_num_threads());
        let _busy: Vec<ActiveUnpack> = (0..threads).map(|_| ActiveUnpack::start()).collect();
        let results = write_batch(&sink, &batch(&contents));
        assert_eq!(names(results), contents);
        let writers = sink.writers.lock().clone();
        assert_eq!(
            writers,
            HashSet::from([std::thread::current().id()]),
            "only the unpack's own thread writes"
        );
    }
}
