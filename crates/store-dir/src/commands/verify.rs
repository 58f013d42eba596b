//! `store verify`: re-hash every file of every index row. Bad files are removed, rows that
//! name a bad (or missing) file are dropped so the next install fetches them again.

use crate::error::StoreError;
use crate::index_db::StoreIndex;
use crate::index_row::CafsFileInfo;
use crate::layout::{is_valid_digest, StoreDir};
use crate::msgpackr;
use crate::verify::verify_file;
use std::collections::HashMap;
use std::path::PathBuf;

const ROW_CHUNK: usize = 900;

/// What [`verify_store`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub checked_packages: u64,
    /// Distinct CAS files re-hashed.
    pub checked_files: u64,
    /// Keys of rows that named a missing or bad file; they were deleted from the index.
    pub bad_packages: Vec<String>,
    /// CAS paths that were missing or failed the check (bad ones were removed).
    pub bad_files: Vec<PathBuf>,
    /// Keys of rows that did not decode; they were deleted from the index.
    pub corrupt_rows: Vec<String>,
}

impl VerifyReport {
    /// Whether everything checked out.
    pub fn ok(&self) -> bool {
        self.bad_packages.is_empty() && self.corrupt_rows.is_empty()
    }
}

/// Re-hash every file named by every row of `store`'s index.
pub fn verify_store(store: &StoreDir) -> Result<VerifyReport, StoreError> {
    let mut report = VerifyReport::default();
    let index = StoreIndex::open(store)?;
    let keys = index.all_keys()?;
    let mut seen: HashMap<PathBuf, bool> = HashMap::new();
    for chunk in keys.chunks(ROW_CHUNK) {
        for (key, data) in index.get_many_raw(chunk)? {
            report.checked_packages += 1;
            let row = match msgpackr::decode(&data) {
                Ok(row) => row,
                Err(_) => {
                    report.corrupt_rows.push(key);
                    continue;
                }
            };
            let mut row_ok = row.algo == "sha512";
            let all_files = row.files.values().chain(
                row.side_effects
                    .iter()
                    .flat_map(|se| se.values())
                    .flat_map(|diff| diff.added.iter().flat_map(|a| a.values())),
            );
            for info in all_files {
                if !is_valid_digest(&info.digest) {
                    row_ok = false;
                    continue;
                }
                let path = store.cas_path(&info.digest, info.is_executable());
                let good = match seen.get(&path) {
                    Some(&good) => good,
                    None => {
                        report.checked_files += 1;
                        // No checkedAt: forces the re-hash (under cas_write_lock).
                        let forced = CafsFileInfo {
                            checked_at: None,
                            ..info.clone()
                        };
                        let good = verify_file(&path, &forced);
                        if !good {
                            report.bad_files.push(path.clone());
                        }
                        seen.insert(path, good);
                        good
                    }
                };
                row_ok &= good;
            }
            if !row_ok {
                report.bad_packages.push(key);
            }
        }
    }
    index.delete(&report.bad_packages)?;
    index.delete(&report.corrupt_rows)?;
    Ok(report)
}
