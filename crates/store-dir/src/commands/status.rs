//! `store status`: which packages in `node_modules` no longer match their index row
//! (someone edited a file, often through a hard link, which edits the store file too).
//!
//! The CLI prints `ERR_PNPM_MODIFIED_DEPENDENCY` with the list, or "Packages in the store
//! are untouched" when [`StatusReport::modified`] is empty.

use crate::index_row::{CafsFileInfo, PackageFilesIndex};
use crate::verify::sha512_hex_of_file;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// One package whose files differ from its index row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModifiedPackage {
    /// The package's directory in `node_modules/.pnpm/<dir>/node_modules/<name>`.
    pub package_dir: PathBuf,
    /// Relative paths of the files that are missing or differ.
    pub files: Vec<String>,
}

/// Result of [`status`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusReport {
    pub checked_packages: usize,
    pub checked_files: usize,
    pub modified: Vec<ModifiedPackage>,
}

impl StatusReport {
    /// Whether every package matched its row.
    pub fn untouched(&self) -> bool {
        self.modified.is_empty()
    }
}

/// Compare each package directory with its index row: a file is modified when it is
/// missing, its size differs, or (when its mtime is past the row's `checkedAt`) its sha512
/// differs. Nothing is changed on disk.
pub fn status<'a>(
    packages: impl IntoIterator<Item = (&'a Path, &'a PackageFilesIndex)>,
) -> StatusReport {
    let mut report = StatusReport::default();
    for (package_dir, row) in packages {
        report.checked_packages += 1;
        let mut files = Vec::new();
        for (rel_path, info) in &row.files {
            report.checked_files += 1;
            if !file_matches(&package_dir.join(rel_path), info) {
                files.push(rel_path.clone());
            }
        }
        if !files.is_empty() {
            report.modified.push(ModifiedPackage {
                package_dir: package_dir.to_owned(),
                files,
            });
        }
    }
    report
}

fn file_matches(path: &Path, info: &CafsFileInfo) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if !meta.is_file() || meta.len() != info.size {
        return false;
    }
    let mtime_ms = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(f64::MAX, |d| d.as_secs_f64() * 1000.0);
    if let Some(checked_at) = info.checked_at {
        if mtime_ms - checked_at <= 100.0 {
            return true;
        }
    }
    sha512_hex_of_file(path).is_ok_and(|hex| hex == info.digest)
}
