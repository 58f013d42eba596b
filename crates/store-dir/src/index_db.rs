//! `StoreIndex`: the SQLite package index `<store>/index.db`, with pnpm's schema, key
//! format and PRAGMAs, so pnpm and tack read each other's rows.
//!
//! Reads and writes are batched (one `IN (…)` query per 900 keys, or one walk over the
//! table when the keys are most of it, see [`crate::index_scan`]; one transaction per batch
//! of rows) because a per-package connection or statement was pacquet's worst bottleneck.
//! A row that does not decode is reported as a cache miss, never an error.

use crate::error::StoreError;
use crate::index_repair;
use crate::index_row::PackageFilesIndex;
use crate::layout::StoreDir;
use crate::msgpackr;
use crate::warnings;
use parking_lot::Mutex;
use rayon::prelude::*;
use rusqlite::{params_from_iter, Connection, ErrorCode, OptionalExtension, TransactionBehavior};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// SQLite's default limit on bound parameters is 999; stay under it.
const CHUNK: usize = 900;
/// How many times a whole operation is retried when SQLite stays busy past `busy_timeout`.
const BUSY_RETRIES: u32 = 20;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS package_index (
              key TEXT PRIMARY KEY,
              data BLOB NOT NULL
            ) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS package_index_alias (
      key TEXT PRIMARY KEY,
      target TEXT NOT NULL
    ) WITHOUT ROWID;";

/// A row that was present but could not be decoded; treated as a miss.
#[derive(Debug, Clone)]
pub struct CorruptRow {
    pub key: String,
    pub error: msgpackr::DecodeError,
}

/// One connection to `index.db`. `Sync`: the connection sits behind a mutex.
pub struct StoreIndex {
    pub(crate) conn: Mutex<Connection>,
    pub(crate) path: PathBuf,
}

impl std::fmt::Debug for StoreIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreIndex")
            .field("path", &self.path)
            .finish()
    }
}

impl StoreIndex {
    /// Open (creating if needed) `<store>/index.db` with pnpm's PRAGMAs and schema.
    pub fn open(store: &StoreDir) -> Result<Self, StoreError> {
        let root = store.root();
        std::fs::create_dir_all(root).map_err(|e| StoreError::io("create directory", root, e))?;
        let path = store.index_db_path();
        let _opening = index_repair::OPEN_LOCK.lock();
        let conn = match retry_busy(&path, || connect(&path)) {
            Err(StoreError::Sqlite { source, .. })
                if source.sqlite_error_code() == Some(ErrorCode::NotADatabase) =>
            {
                if let Some(aside) = index_repair::set_aside_if_garbage(&path)? {
                    warnings::warn(&format!(
                        "the store index {} was not a SQLite database ({source}); it was moved to \
                         {} and a new index was started (packages will be fetched and indexed \
                         again)",
                        path.display(),
                        aside.display()
                    ));
                }
                retry_busy(&path, || connect(&path))?
            }
            opened => opened?,
        };
        Ok(StoreIndex {
            conn: Mutex::new(conn),
            path,
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Look up many keys at once. Missing keys are absent from the result; rows that do
    /// not decode are absent too, with a warning (see `warnings.rs`).
    pub fn get_many(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, PackageFilesIndex>, StoreError> {
        let (rows, corrupt) = self.get_many_checked(keys)?;
        for c in corrupt {
            warnings::warn(&format!(
                "ignoring corrupt store index row {:?} in {}: {} (the package will be fetched again)",
                c.key,
                self.path.display(),
                c.error
            ));
        }
        Ok(rows)
    }

    /// Like [`StoreIndex::get_many`], but returns the corrupt rows instead of printing them.
    pub fn get_many_checked(
        &self,
        keys: &[String],
    ) -> Result<(HashMap<String, PackageFilesIndex>, Vec<CorruptRow>), StoreError> {
        let raw = self.get_many_raw(keys)?;
        tack_fs::phase_timer::mark("index query");
        // Decoding is most of the cost (every file's path and digest become strings): it is
        // spread over the cores.
        let decoded: Vec<(String, Result<PackageFilesIndex, _>)> = raw
            .into_par_iter()
            .map(|(key, data)| {
                let row = msgpackr::decode(&data);
                (key, row)
            })
            .collect();
        let mut rows = HashMap::with_capacity(decoded.len());
        let mut corrupt = Vec::new();
        for (key, row) in decoded {
            match row {
                Ok(row) => {
                    rows.insert(key, row);
                }
                Err(error) => corrupt.push(CorruptRow { key, error }),
            }
        }
        Ok((rows, corrupt))
    }

    /// The raw `data` blobs of many keys, handed to `each` a batch at a time: the first
    /// batch has up to `first_chunk` rows and each next one up to twice as many, so the
    /// caller can start working on the first rows while the rest are read. A row appears
    /// once per time its key is passed. The rows are looked up, or, when they are a large
    /// part of the table, read in one walk over it (see [`StoreIndex::scan_raw_each`]).
    pub fn get_many_raw_each<K: AsRef<str>>(
        &self,
        keys: &[K],
        first_chunk: usize,
        each: impl FnMut(Vec<(String, Vec<u8>)>),
    ) -> Result<(), StoreError> {
        if self.scan_is_cheaper(keys.len()) {
            self.scan_raw_each(keys, first_chunk, each)
        } else {
            self.lookup_raw_each(keys, first_chunk, each)
        }
    }

    /// [`StoreIndex::get_many_raw_each`] by lookups: one `IN (…)` query per batch of keys,
    /// so a batch holds up to `first_chunk`, then twice as many keys (up to the statement's
    /// limit), and only the rows found.
    pub fn lookup_raw_each<K: AsRef<str>>(
        &self,
        keys: &[K],
        first_chunk: usize,
        mut each: impl FnMut(Vec<(String, Vec<u8>)>),
    ) -> Result<(), StoreError> {
        let mut size = first_chunk.clamp(1, CHUNK);
        let mut rest = keys;
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(size.min(rest.len()));
            each(self.get_many_raw(chunk)?);
            rest = tail;
            size = (size * 2).min(CHUNK);
        }
        Ok(())
    }

    /// The raw `data` blobs of many keys.
    pub fn get_many_raw<K: AsRef<str>>(
        &self,
        keys: &[K],
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let conn = self.conn.lock();
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(CHUNK) {
            let sql = format!(
                "SELECT key, data FROM package_index WHERE key IN ({})",
                placeholders(chunk.len())
            );
            let got = retry_busy(&self.path, || {
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt
                    .query_map(params_from_iter(chunk.iter().map(AsRef::as_ref)), |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
                    })?;
                rows.collect::<Result<Vec<_>, _>>()
            })?;
            out.extend(got);
        }
        Ok(out)
    }

    /// Insert or replace rows in one transaction (retried while the database is busy).
    /// Every file a row names must already be complete in the CAS.
    pub fn put_many(&self, rows: &[(String, PackageFilesIndex)]) -> Result<(), StoreError> {
        let encoded: Vec<(&str, Vec<u8>)> = rows
            .iter()
            .map(|(k, row)| (k.as_str(), msgpackr::encode(row)))
            .collect();
        self.put_many_raw(&encoded)
    }

    /// Insert or replace already-encoded rows in one transaction.
    pub fn put_many_raw(&self, rows: &[(&str, Vec<u8>)]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.lock();
        retry_busy(&self.path, || {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT OR REPLACE INTO package_index (key, data) VALUES (?1, ?2)",
                )?;
                for (key, data) in rows {
                    stmt.execute(rusqlite::params![key, data])?;
                }
            }
            tx.commit()
        })
    }

    /// Read, change and write back rows in one write transaction: `update` gets each key's
    /// row as it is now (`None` when it is missing or does not decode) and returns the row
    /// to store, or `None` to leave it. A row another process writes between an earlier
    /// read and this write is therefore changed, not overwritten with the older copy (two
    /// installs caching different builds of one package keep both entries). `update` runs
    /// again for every key if the transaction is retried.
    pub fn update_many<K: AsRef<str>>(
        &self,
        keys: &[K],
        mut update: impl FnMut(&str, Option<PackageFilesIndex>) -> Option<PackageFilesIndex>,
    ) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.lock();
        retry_busy(&self.path, || {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut read =
                    tx.prepare_cached("SELECT data FROM package_index WHERE key = ?1")?;
                let mut write = tx.prepare_cached(
                    "INSERT OR REPLACE INTO package_index (key, data) VALUES (?1, ?2)",
                )?;
                for key in keys {
                    let key = key.as_ref();
                    let current = read
                        .query_row([key], |row| row.get::<_, Vec<u8>>(0))
                        .optional()?
                        .and_then(|data| msgpackr::decode(&data).ok());
                    if let Some(row) = update(key, current) {
                        write.execute(rusqlite::params![key, msgpackr::encode(&row)])?;
                    }
                }
            }
            tx.commit()
        })
    }

    /// Copies what the WAL holds into the database file, without waiting for readers or
    /// writers (`PRAGMA wal_checkpoint(PASSIVE)`). SQLite checkpoints whatever is left when
    /// the last connection closes; done along the way, that close has little left to copy
    /// and sync.
    pub fn checkpoint_passive(&self) -> Result<(), StoreError> {
        let conn = self.conn.lock();
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(|source| StoreError::Sqlite {
                path: self.path.clone(),
                source,
            })
    }

    /// Delete rows by key (missing keys are ignored).
    pub fn delete(&self, keys: &[String]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.lock();
        retry_busy(&self.path, || {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for chunk in keys.chunks(CHUNK) {
                let sql = format!(
                    "DELETE FROM package_index WHERE key IN ({})",
                    placeholders(chunk.len())
                );
                tx.execute(&sql, params_from_iter(chunk.iter()))?;
            }
            tx.commit()
        })
    }

    /// Every key in the index.
    pub fn all_keys(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.conn.lock();
        retry_busy(&self.path, || {
            let mut stmt = conn.prepare("SELECT key FROM package_index")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect::<Result<Vec<_>, _>>()
        })
    }
}

/// One connection with pnpm's PRAGMAs and schema.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    configure(&conn)?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_millis(5000))?;
    // journal_mode returns a row; query it rather than execute.
    conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))?;
    conn.execute_batch(
        "PRAGMA synchronous=NORMAL;
         PRAGMA mmap_size=536870912;
         PRAGMA cache_size=-32000;
         PRAGMA temp_store=MEMORY;
         PRAGMA wal_autocheckpoint=10000;",
    )
}

fn placeholders(n: usize) -> String {
    let mut s = String::with_capacity(n * 2);
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push('?');
    }
    s
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Run `op`, retrying with a growing pause while SQLite reports busy/locked beyond its own
/// `busy_timeout` (e.g. a WAL lock held across a checkpoint by another process).
pub(crate) fn retry_busy<T>(
    path: &Path,
    mut op: impl FnMut() -> rusqlite::Result<T>,
) -> Result<T, StoreError> {
    let mut attempt = 0;
    loop {
        match op() {
            Ok(v) => return Ok(v),
            Err(e) if is_busy(&e) && attempt < BUSY_RETRIES => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(10 * u64::from(attempt)));
            }
            Err(source) => {
                return Err(StoreError::Sqlite {
                    path: path.to_owned(),
                    source,
                })
            }
        }
    }
}
