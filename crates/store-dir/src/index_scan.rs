//! Reading many rows of `index.db` by walking the table in key order instead of looking
//! each key up.
//!
//! `package_index` is a `WITHOUT ROWID` table, so its b-tree holds whole rows, and a row of
//! more than a page spills onto overflow pages. SQLite's lookup compares the key it seeks
//! against such a cell by copying the whole row out first: for the medium fixture, 881
//! lookups made 7,264 row copies (four to eight per lookup, up to 424 KB each) and about
//! 700 page faults for the buffers, about a twentieth of a warm install's user time. A walk
//! reads every key once from its cell and copies out only the rows asked for. It costs a
//! visit of every row the table holds, so it is taken only when the table is not much
//! larger than what is asked ([`StoreIndex::scan_is_cheaper`]).

use crate::error::StoreError;
use crate::index_db::{retry_busy, StoreIndex};
use std::collections::HashMap;

/// Pages of `index.db` per key asked for, up to which one walk over the table is cheaper
/// than a lookup per key: a lookup copies a few whole rows, a walk reads every row's key.
const SCAN_PAGES_PER_KEY: i64 = 16;

impl StoreIndex {
    /// Whether reading `keys` rows is cheaper by one walk over the table than by lookups.
    pub(crate) fn scan_is_cheaper(&self, keys: usize) -> bool {
        let conn = self.conn.lock();
        let pages: rusqlite::Result<i64> = conn.query_row("PRAGMA page_count", [], |r| r.get(0));
        let wanted = i64::try_from(keys).unwrap_or(i64::MAX);
        pages.is_ok_and(|pages| pages <= wanted.saturating_mul(SCAN_PAGES_PER_KEY))
    }

    /// [`StoreIndex::get_many_raw_each`] by walking the table in key order: a batch ends
    /// once it holds `first_chunk` rows (then twice as many, and so on), and the next walk
    /// starts after its last key. Each batch is read whole before it is handed out, so a
    /// busy database retries that batch alone.
    pub fn scan_raw_each<K: AsRef<str>>(
        &self,
        keys: &[K],
        first_chunk: usize,
        mut each: impl FnMut(Vec<(String, Vec<u8>)>),
    ) -> Result<(), StoreError> {
        let mut wanted: HashMap<&str, usize> = HashMap::with_capacity(keys.len());
        for key in keys {
            *wanted.entry(key.as_ref()).or_default() += 1;
        }
        let mut size = first_chunk.max(1);
        let mut after: Option<String> = None;
        let conn = self.conn.lock();
        loop {
            let (batch, last) = retry_busy(&self.path, || {
                let mut stmt = conn.prepare_cached(match after {
                    None => "SELECT key, data FROM package_index ORDER BY key",
                    Some(_) => "SELECT key, data FROM package_index WHERE key > ?1 ORDER BY key",
                })?;
                let mut rows = match &after {
                    None => stmt.query([])?,
                    Some(last) => stmt.query([last])?,
                };
                let mut batch = Vec::new();
                while let Some(row) = rows.next()? {
                    let key = row.get_ref(0)?;
                    let key = key.as_str().map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(
                            0,
                            rusqlite::types::Type::Text,
                            Box::new(e),
                        )
                    })?;
                    // Only a wanted row's data is read: the others' overflow pages are
                    // never touched.
                    let Some(&times) = wanted.get(key) else {
                        continue;
                    };
                    let data: Vec<u8> = row.get(1)?;
                    for _ in 1..times {
                        batch.push((key.to_owned(), data.clone()));
                    }
                    batch.push((key.to_owned(), data));
                    if batch.len() >= size {
                        return Ok((batch, Some(key.to_owned())));
                    }
                }
                Ok((batch, None))
            })?;
            if !batch.is_empty() {
                each(batch);
            }
            match last {
                Some(last) => after = Some(last),
                None => return Ok(()),
            }
            size = size.saturating_mul(2);
        }
    }
}
