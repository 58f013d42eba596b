//! `IndexWriter`: writes index rows from a background thread, in batches, so fetchers
//! never wait on SQLite.
//!
//! Producers call [`IndexWriter::queue`] (a channel send). One thread drains up to
//! [`BATCH`] rows at a time, keeps the last row per key, encodes them and commits them in
//! one `BEGIN IMMEDIATE … COMMIT`. Callers queue a row only after every file it names is
//! complete in the CAS; the writer does not check.

use crate::error::StoreError;
use crate::index_db::StoreIndex;
use crate::index_row::PackageFilesIndex;
use crate::layout::StoreDir;
use crate::msgpackr;
use indexmap::IndexMap;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;

/// Most rows committed in one transaction.
pub const BATCH: usize = 256;

/// Handle to the background index writer. Dropping it without [`IndexWriter::finish`]
/// still flushes every queued row (the thread drains the channel before exiting), but
/// errors are then only printed.
pub struct IndexWriter {
    /// `None` once sealed: the thread then drains what is queued and closes the index.
    tx: parking_lot::Mutex<Option<Sender<(String, PackageFilesIndex)>>>,
    handle: Option<JoinHandle<Result<(), StoreError>>>,
    path: PathBuf,
}

impl std::fmt::Debug for IndexWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexWriter")
            .field("path", &self.path)
            .finish()
    }
}

impl IndexWriter {
    /// Open the index and start the writer thread.
    pub fn spawn(store: &StoreDir) -> Result<Self, StoreError> {
        let index = StoreIndex::open(store)?;
        let path = index.path().to_owned();
        let (tx, rx) = channel();
        let handle = std::thread::Builder::new()
            .name("tack-index-writer".into())
            .spawn(move || run(index, rx))
            .map_err(|e| StoreError::io("start the index writer thread for", path.clone(), e))?;
        Ok(IndexWriter {
            tx: parking_lot::Mutex::new(Some(tx)),
            handle: Some(handle),
            path,
        })
    }

    /// Queue a row. Never blocks on SQLite. A row queued after [`IndexWriter::seal`] is
    /// dropped (it costs a re-fetch later, never a wrong row).
    pub fn queue(&self, key: String, row: PackageFilesIndex) {
        if let Some(tx) = &*self.tx.lock() {
            // A send only fails when the thread is gone; `finish` reports that.
            let _ = tx.send((key, row));
        }
    }

    /// Says no more rows are coming: the thread commits what is queued and closes the
    /// index (SQLite checkpoints its WAL then, two fsyncs) without waiting for
    /// [`IndexWriter::finish`], so the caller can do other work meanwhile.
    pub fn seal(&self) {
        drop(self.tx.lock().take());
    }

    /// Flush every queued row and stop the thread. Returns the first write error, if any.
    pub fn finish(mut self) -> Result<(), StoreError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), StoreError> {
        self.seal();
        match self.handle.take() {
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
            eprintln!("WARN: {e}");
        }
    }
}

fn run(index: StoreIndex, rx: Receiver<(String, PackageFilesIndex)>) -> Result<(), StoreError> {
    let mut first_error = None;
    while let Ok(first) = rx.recv() {
        let mut batch: IndexMap<String, PackageFilesIndex> = IndexMap::new();
        batch.insert(first.0, first.1);
        let mut taken = 1;
        while taken < BATCH {
            match rx.try_recv() {
                Ok((k, row)) => {
                    batch.insert(k, row);
                    taken += 1;
                }
                Err(_) => break,
            }
        }
        let encoded: Vec<(&str, Vec<u8>)> = batch
            .iter()
            .map(|(k, row)| (k.as_str(), msgpackr::encode(row)))
            .collect();
        if let Err(e) = index.put_many_raw(&encoded) {
            // Best effort: a lost row only costs a re-fetch later. Keep going, report once.
            if first_error.is_none() {
                first_error = Some(e);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}
