//! Filesystem primitives shared by every tack crate: atomic publish of metadata files,
//! `ensure_file` for content-addressed writes, the per-path `cas_write_lock`, the
//! hardlink/reflink/copy import ladder and relative symlinks.
//!
//! They live in one small crate because the store and the linker must agree on exactly
//! how a file reaches disk: a torn CAS file or a half-published state file poisons every
//! project that shares the store.
//!
//! Unix only (Linux gets `O_TMPFILE` and `FICLONE`; other Unixes use the portable fallbacks).

mod atomic_write;
mod cas_name;
mod dir_fd;
mod ensure_file;
mod error;
mod import;
mod lexical_path;
mod lock;
mod new_file;
mod path_search;
pub mod phase_timer;
mod place_file;
mod retry;
mod symlink;
mod temp;

pub use atomic_write::AtomicWrite;
pub use cas_name::CasName;
pub use dir_fd::{DirFd, FileStat};
pub use ensure_file::{ensure_file, EnsureOutcome};
pub use error::{advice, is_disk_full, FsError, DISK_FULL_ADVICE};
pub use import::{ImportMethod, ImportedVia, Importer};
pub use lexical_path::normalize_lexically;
pub use lock::cas_write_lock;
pub use new_file::write_new_file;
pub use path_search::find_executable;
pub use place_file::{place_file, write_in_dir, CasPlace, Placed};
pub use symlink::{relative_path, symlink_dir, symlink_dir_made};
pub use temp::{temp_sibling, TEMP_INFIX};
