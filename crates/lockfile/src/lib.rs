//! `pnpm-lock.yaml` (lockfileVersion 9.0): parsing, dep paths, package ids and the
//! virtual-store directory names that pnpm derives from them.
//!
//! This crate never touches the network or the store: it turns lockfile text into types and
//! computes the names pnpm derives from dep paths.

mod block_yaml;
mod de;
mod dep_path;
mod env_document;
mod error;
mod lockfile_name;
mod read;
mod reference_check;
mod resolution;
mod sections;
mod tarball_url;
mod types;
mod vstore_name;
mod write;
mod yaml_scalar;

pub use dep_path::{
    package_id, parse_dep_path, ref_to_dep_path, remove_suffix, write_ref_dep_path, DepPathParts,
};
pub use env_document::{EnvLockfile, LockedConfigDependency};
pub use error::LockfileError;
pub use lockfile_name::{current_git_branch, lockfile_name, WANTED_LOCKFILE};
#[doc(hidden)]
pub use read::fast_read_disagreement;
pub use read::MAX_LOCKFILE_BYTES;
pub use resolution::{is_git_host_archive_url, Resolution};
pub use tarball_url::tarball_url;
pub use types::{
    BundledDependencies, DepGroup, ImporterDep, Lockfile, LockfileSettings, PackageInfo,
    PeerDependencyMeta, ProjectSnapshot, SnapshotEntry,
};
pub use vstore_name::{dep_path_to_filename, DEFAULT_VIRTUAL_STORE_DIR_MAX_LENGTH};
