//! `patchedDependencies`: which patch belongs to which package, the patch hash pnpm records
//! in the lockfile, the unused-patch check, and a strict unified-diff applier (see
//! [`parse`] and [`apply`]).

pub mod apply;
pub mod hash;
pub mod parse;
pub mod select;

pub use apply::{apply_patch, apply_patch_file};
pub use hash::{check_patch_hash, patch_file_hash, patch_hash};
pub use parse::{parse_patch, FilePatch, Hunk, HunkLine};
pub use select::{check_unused_patches, PatchedDependencies};
