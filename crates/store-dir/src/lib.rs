//! pnpm's v11 content-addressable store: the `files/XX/<hash>[-exec]` layout, the SQLite
//! package index `index.db` with msgpackr-records values, and the integrity verifier.
//!
//! Ordering contract for writers: an index row is written (queued to [`IndexWriter`] or
//! passed to [`StoreIndex::put_many`]) only after every file it names is complete in the
//! CAS. Readers rely on it: a row whose file is missing means the store was damaged, not
//! that a write is still in flight.

mod cas_writer;
pub mod commands;
mod error;
mod global_links;
mod index_db;
mod index_repair;
mod index_row;
mod index_scan;
mod index_writer;
mod layout;
pub mod msgpackr;
mod multi_sha512;
pub mod slot_hash;
mod store_path;
mod verify;
mod warnings;

pub use cas_writer::CasWriter;
pub use error::StoreError;
pub use global_links::{links_dir, register_project, registered_projects, GlobalLink};
pub use index_db::StoreIndex;
pub use index_row::{
    git_hosted_store_index_key, store_index_key, CafsFileInfo, CafsFileRef, PackageFilesIndex,
    SideEffectsDiff,
};
pub use index_writer::{IndexWriter, BATCH as INDEX_BATCH, GATHER as INDEX_GATHER};
pub use layout::{is_valid_digest, StoreDir, STORE_VERSION};
pub use multi_sha512::sha512_many;
pub use store_path::{on_same_device, resolve_store_dir, StoreDirInputs};
pub use verify::{
    check_pkg_files_integrity, verify_file, verify_files, verify_row_files, StoreFileRef,
    VerifiedFilesCache, VerifyResult,
};
pub use warnings::{set_warning_sink, WarningSink};
