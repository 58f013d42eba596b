//! Errors raised while reading `pnpm-lock.yaml`. Every variant names the file and says what to do
//! next; `code()` gives pnpm's `ERR_PNPM_*` code where pnpm has one, so users can search for it.

use std::path::PathBuf;

/// Why a lockfile could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockfileError {
    /// The file exists but could not be read.
    #[error("cannot read lockfile {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The file is not valid YAML, or does not have the shape of a v9 lockfile.
    #[error(
        "the lockfile at {} is broken: {message} (line {line}, column {column}). \
         Fix or delete it and run `pnpm install` to regenerate it",
        path.display()
    )]
    Broken {
        path: PathBuf,
        line: u64,
        column: u64,
        message: String,
    },

    /// A dependency's reference that cannot be a dep path (see `reference_check.rs`).
    #[error(
        "the lockfile at {} is broken: the reference {reference:?} of {alias:?} in {place} is \
         no dependency path ({reason}). Restore pnpm-lock.yaml from version control, or run \
         `pnpm install` to rewrite it",
        path.display()
    )]
    BrokenReference {
        path: PathBuf,
        /// `importer "."`, `snapshot "is-odd@3.0.1"`.
        place: String,
        alias: String,
        reference: String,
        reason: String,
    },

    /// The file contains git merge-conflict markers.
    #[error(
        "the lockfile at {} contains git merge conflict markers (line {line}). \
         Resolve the conflict (or run `pnpm install`, which merges lockfile conflicts) and try again",
        path.display()
    )]
    MergeConflict { path: PathBuf, line: u64 },

    /// The lockfile was written by a pnpm with another lockfile major version.
    #[error(
        "lockfile {} has lockfileVersion '{version}', which is not compatible with this installer \
         (it reads lockfileVersion 9.x). Run `pnpm install` with pnpm 9 or newer to rewrite it",
        path.display()
    )]
    BreakingChange { path: PathBuf, version: String },

    /// pnpm 12's experimental `lockfile.format: v13` output.
    #[error(
        "lockfile {} uses pnpm's experimental v13 lockfile format, which tack does not read. \
         Set `lockfile.format` back to `v9` (or remove it) in pnpm-workspace.yaml and re-run `pnpm install`",
        path.display()
    )]
    UnsupportedFormat { path: PathBuf },

    /// The file is larger than any real lockfile could be.
    #[error(
        "lockfile {} is {size} bytes, more than the {limit}-byte limit; refusing to parse it",
        path.display()
    )]
    TooLarge {
        path: PathBuf,
        size: usize,
        limit: usize,
    },
}

impl LockfileError {
    /// A stable code: pnpm's where it exists, else `ERR_TACK_*`.
    pub fn code(&self) -> &'static str {
        match self {
            LockfileError::Io { .. } => "ERR_TACK_LOCKFILE_IO",
            LockfileError::Broken { .. }
            | LockfileError::BrokenReference { .. }
            | LockfileError::MergeConflict { .. } => "ERR_PNPM_BROKEN_LOCKFILE",
            // pnpm 12 (observed with a `lockfileVersion: '6.0'` file) reports another major
            // as a broken lockfile; older pnpm said `ERR_PNPM_LOCKFILE_BREAKING_CHANGE`.
            LockfileError::BreakingChange { .. } => "ERR_PNPM_BROKEN_LOCKFILE",
            LockfileError::UnsupportedFormat { .. } => "ERR_TACK_LOCKFILE_FORMAT_V13",
            LockfileError::TooLarge { .. } => "ERR_TACK_LOCKFILE_TOO_LARGE",
        }
    }
}
