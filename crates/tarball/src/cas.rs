//! The bridge from an unpacked tarball to pnpm's store: CAS writes through
//! [`StoreDir::write_cas_file`] or, for a fetcher's downloads, one shared [`CasWriter`]
//! that writes each file once per install (both hold `cas_write_lock` inside
//! `ensure_file`), and the conversion to the `index.db` row shape.

use std::io::Read;

use indexmap::IndexMap;
use tack_store_dir::{CafsFileInfo, CasWriter, PackageFilesIndex, StoreDir};

use crate::error::FetchError;
use crate::extract::{
    unpack_tarball, CasSink, CasWriteError, ExtractCaps, HashedFile, UnpackedPackage,
};

pub(crate) fn write_error(e: &tack_store_dir::StoreError) -> CasWriteError {
    CasWriteError {
        message: e.to_string(),
        disk_full: e.code() == "ERR_TACK_FS_ENOSPC",
    }
}

impl CasSink for StoreDir {
    fn write(&self, content: &[u8], exec: bool) -> Result<String, CasWriteError> {
        self.write_cas_file(content, exec)
            .map_err(|e| write_error(&e))
    }
}

impl CasSink for CasWriter {
    fn write(&self, content: &[u8], exec: bool) -> Result<String, CasWriteError> {
        CasWriter::write(self, content, exec).map_err(|e| write_error(&e))
    }

    fn write_hashed(&self, files: &[HashedFile<'_>]) -> Vec<Result<String, CasWriteError>> {
        files
            .iter()
            .map(|f| {
                CasWriter::write_hashed(self, &f.digest, f.content, f.exec)
                    .map_err(|e| write_error(&e))
            })
            .collect()
    }
}

/// Unpacks a gzipped tarball from `reader` into `store` and returns its index row
/// (not queued anywhere: the caller decides when the row may be published).
///
/// `pkg_id` names the package in errors. No integrity check happens here.
pub fn extract_tarball<R: Read>(
    reader: R,
    pkg_id: &str,
    store: &StoreDir,
    caps: ExtractCaps,
) -> Result<PackageFilesIndex, FetchError> {
    unpack_tarball(reader, pkg_id, store, &caps).map(into_index_row)
}

/// The `index.db` row for an unpacked package.
pub fn into_index_row(unpacked: UnpackedPackage) -> PackageFilesIndex {
    let files: IndexMap<String, CafsFileInfo> = unpacked
        .files
        .into_iter()
        .map(|(path, f)| {
            let info = CafsFileInfo {
                digest: f.digest,
                mode: f.mode,
                size: f.size,
                checked_at: Some(f.checked_at),
            };
            (path, info)
        })
        .collect();
    PackageFilesIndex {
        manifest: unpacked.manifest,
        requires_build: Some(unpacked.requires_build),
        requires_prepare: None,
        algo: "sha512".to_string(),
        files,
        side_effects: None,
        tar_integrity: None,
    }
}
