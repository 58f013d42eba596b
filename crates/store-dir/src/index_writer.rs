//! `IndexWriter`: writes index rows from a background thread, in batches, so fetchers
//! never wait on SQLite.
//!
//! Producers call [`IndexWriter::queue`] (a channel send). One thread gathers rows for up to
//! [`GATHER`] after the first one arrives (or until [`BATCH`] rows, or until the writer is
//! sealed), parked rather than woken by each row, keeps the last row per key, encodes them
//! and commits them in one `BEGIN IMMEDIATE … COMMIT`. Rows arrive one download at a time,
//! so committing each as it came meant one transaction per package: a cold install of ~900
//! packages wrote ~9,600 WAL pages, because every commit rewrites the B-tree pages it
//! touched. Gathering costs nothing on the critical path: a row that is not committed yet
//! only means a re-fetch if the process dies, never a wrong row. Callers queue a row only
//! after every file it names is complete in the CAS; the writer does not check.
//!
//! The producer whose row fills a batch wakes the thread, so a burst of rows is committed
//! as it comes rather than at the end of the window: most packages of a cold install finish
//! in its last 150 ms (small archives are unpacked last, see `unpack_queue.rs`), and waiting
//! out the window left about 600 rows, in three transactions and two checkpoints, to commit
//! after the last download (10–16 ms with nothing else to do). Once sealed, the writer
//! commits everything left in one transaction.
//!
//! Each batch committed before the writer is sealed is checkpointed at once (copied from
//! the WAL into `index.db`), while the install still has other work; the close then only
//! checkpoints the last batch.

use crate::error::StoreError;
use crate::index_db::StoreIndex;
use crate::index_row::PackageFilesIndex;
use crate::layout::StoreDir;
use crate::msgpackr;
use indexmap::IndexMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Most rows committed in one transaction.
pub const BATCH: usize = 256;

/// How long rows are gathered after the first one before they are committed together.
pub const GATHER: Duration = Duration::from_millis(150);

/// A row on its way to the writer thread, with its key.
type Queued = (String, Arc<PackageFilesIndex>);

/// Handle to the background index writer. Dropping it without [`IndexWriter::finish`]
/// still flushes every queued row (the thread drains the channel before exiting), but
/// errors are then only printed.
pub struct IndexWriter {
    /// `None` once sealed: the thread then drains what is queued and closes the index.
    tx: parking_lot::Mutex<Option<Sender<Queued>>>,
    /// Taken by the first [`IndexWriter::finish`]; behind a lock so that any holder of a
    /// shared handle can wait for the last commit (a fetcher task that the runtime has
    /// not dropped yet may still hold another one).
    handle: parking_lot::Mutex<Option<JoinHandle<Result<(), StoreError>>>>,
    /// The writer thread, woken by [`IndexWriter::seal`] and by the row that fills a batch
    /// (see [`Gathering::gather`]).
    thread: std::thread::Thread,
    path: PathBuf,
    /// Transactions committed so far.
    commits: Arc<AtomicUsize>,
    /// What the writer thread and the producers share to decide when to wake it.
    shared: Arc<Shared>,
}

/// The counts by which a producer knows that its row fills the batch being gathered.
#[derive(Debug)]
struct Shared {
    /// Rows queued since the writer started.
    queued: AtomicUsize,
    /// The value of `queued` at which the gathering thread must be woken (`usize::MAX`
    /// while it is not gathering).
    wake_at: AtomicUsize,
    /// Set by [`IndexWriter::seal`]: no batch limit any more, everything left goes into
    /// the last transaction.
    sealed: AtomicBool,
}

impl std::fmt::Debug for IndexWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexWriter")
            .field("path", &self.path)
            .finish()
    }
}

impl IndexWriter {
    /// Start the writer thread, which opens the index (creating it if needed). The open
    /// happens on that thread: creating a new `index.db` (schema, WAL, syncs) took about
    /// 9 ms, which a cold install would otherwise spend before its first download. An open
    /// that fails is reported by [`IndexWriter::finish`]; rows queued meanwhile are lost,
    /// which costs a re-fetch later, never a wrong row.
    pub fn spawn(store: &StoreDir) -> Result<Self, StoreError> {
        Self::spawn_gathering(store, GATHER)
    }

    /// [`IndexWriter::spawn`] with another gathering window than [`GATHER`] (the tests
    /// use a long one to see that sealing does not wait it out).
    pub fn spawn_gathering(store: &StoreDir, window: Duration) -> Result<Self, StoreError> {
        let path = store.index_db_path();
        let (tx, rx) = channel();
        let commits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&commits);
        let shared = Arc::new(Shared {
            queued: AtomicUsize::new(0),
            wake_at: AtomicUsize::new(usize::MAX),
            sealed: AtomicBool::new(false),
        });
        let writer_side = Arc::clone(&shared);
        let store = store.clone();
        let handle = std::thread::Builder::new()
            .name("tack-index-writer".into())
            .spawn(move || {
                let gathering = Gathering {
                    rx,
                    window,
                    shared: &writer_side,
                    received: 0,
                };
                run(StoreIndex::open(&store)?, gathering, &counter)
            })
            .map_err(|e| StoreError::io("start the index writer thread for", path.clone(), e))?;
        Ok(IndexWriter {
            tx: parking_lot::Mutex::new(Some(tx)),
            thread: handle.thread().clone(),
            handle: parking_lot::Mutex::new(Some(handle)),
            path,
            commits,
            shared,
        })
    }

    /// Queue a row. Never blocks on SQLite. A row queued after [`IndexWriter::seal`] is
    /// dropped (it costs a re-fetch later, never a wrong row). A shared row is not
    /// copied: the install imports from the same one.
    pub fn queue(&self, key: String, row: impl Into<Arc<PackageFilesIndex>>) {
        if let Some(tx) = &*self.tx.lock() {
            // A send only fails when the thread is gone; `finish` reports that.
            let _ = tx.send((key, row.into()));
            // Counted after the send, so that the thread finds every row it is woken for.
            let queued = self.shared.queued.fetch_add(1, Ordering::SeqCst) + 1;
            if queued >= self.shared.wake_at.load(Ordering::SeqCst) {
                self.thread.unpark();
            }
        }
    }

    /// Says no more rows are coming: the thread commits what is queued and closes the
    /// index (SQLite checkpoints its WAL then, two fsyncs) without waiting for
    /// [`IndexWriter::finish`], so the caller can do other work meanwhile.
    pub fn seal(&self) {
        self.shared.sealed.store(true, Ordering::SeqCst);
        drop(self.tx.lock().take());
        // The thread may be parked, gathering a batch: it commits at once instead of at
        // the end of its gathering time.
        self.thread.unpark();
    }

    /// Flush every queued row and stop the thread, waiting until the last one is
    /// committed. Returns how many transactions were committed, or the first write error.
    /// Works through a shared handle: the process must not exit before the last commit
    /// just because some other holder has not been dropped yet. A second call returns at
    /// once.
    pub fn finish(&self) -> Result<usize, StoreError> {
        self.stop()?;
        Ok(self.commits.load(Ordering::Relaxed))
    }

    /// Transactions committed so far.
    pub fn commits(&self) -> usize {
        self.commits.load(Ordering::Relaxed)
    }

    fn stop(&self) -> Result<(), StoreError> {
        self.seal();
        let handle = self.handle.lock().take();
        match handle {
            Some(handle) => handle.join().map_err(|_| StoreError::WriterGone {
                path: self.path.clone(),
            })?,
            None => Ok(()),
        }
    }
}

impl Drop for IndexWriter {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            crate::warnings::warn(&e.to_string());
        }
    }
}

/// The writer thread's side of the channel.
struct Gathering<'a> {
    rx: Receiver<Queued>,
    window: Duration,
    shared: &'a Shared,
    /// Rows taken from the channel so far.
    received: usize,
}

impl Gathering<'_> {
    /// The first row of the next batch; `None` once sealed and drained.
    fn first(&mut self) -> Option<Queued> {
        let row = self.rx.recv().ok()?;
        self.received += 1;
        Some(row)
    }

    /// Adds to `batch` what comes within the window, up to [`BATCH`] rows unless sealed.
    /// Returns whether the writer is sealed and drained (nothing more will come).
    fn gather(&mut self, batch: &mut IndexMap<String, Arc<PackageFilesIndex>>) -> bool {
        let deadline = Instant::now() + self.window;
        let mut taken = batch.len();
        let drained = loop {
            if taken >= BATCH && !self.shared.sealed.load(Ordering::SeqCst) {
                break false;
            }
            match self.rx.try_recv() {
                Ok((key, row)) => {
                    batch.insert(key, row);
                    taken += 1;
                    self.received += 1;
                }
                // Sealed and drained: nothing more is coming, so commit now.
                Err(TryRecvError::Disconnected) => break true,
                Err(TryRecvError::Empty) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break false;
                    }
                    // The rest of the batch is gathered by parking, not by waiting on the
                    // channel: a receiver blocked in `recv` is woken by every send (a futex
                    // call from the download's thread, a context switch on this one, about
                    // 900 of each in a cold install), while a parked one is woken only by
                    // the deadline, by `seal`, or by the row that fills the batch.
                    // At least one more row: a sealed batch may be over the limit, and its
                    // thread waits for the next row or for the sender to go.
                    let wake_at = self.received + BATCH.saturating_sub(taken).max(1);
                    self.shared.wake_at.store(wake_at, Ordering::SeqCst);
                    // A row counted before `wake_at` was stored did not wake this thread.
                    if self.shared.queued.load(Ordering::SeqCst) < wake_at {
                        std::thread::park_timeout(deadline - now);
                    }
                }
            }
        };
        self.shared.wake_at.store(usize::MAX, Ordering::SeqCst);
        drained
    }
}

fn run(
    index: StoreIndex,
    mut rows: Gathering<'_>,
    commits: &AtomicUsize,
) -> Result<(), StoreError> {
    let mut first_error = None;
    while let Some(first) = rows.first() {
        let mut batch: IndexMap<String, Arc<PackageFilesIndex>> = IndexMap::new();
        batch.insert(first.0, first.1);
        let sealed = rows.gather(&mut batch);
        let encoded: Vec<(&str, Vec<u8>)> = batch
            .iter()
            .map(|(k, row)| (k.as_str(), msgpackr::encode(row)))
            .collect();
        let result = index.put_many_raw(&encoded);
        if result.is_ok() && !sealed {
            // More batches may follow: what this one added to the WAL is copied into the
            // database now, while the install still runs. Left to the close, SQLite's
            // checkpoint of the whole install's WAL (two fsyncs) was 22-29 ms at the end
            // of a cold install, with nothing else left to do. A checkpoint that fails
            // loses nothing (the rows are committed in the WAL), and the close tries again.
            let _ = index.checkpoint_passive();
        }
        commits.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = result {
            // Best effort: a lost row only costs a re-fetch later. Keep going, report once.
            if first_error.is_none() {
                first_error = Some(e);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}
