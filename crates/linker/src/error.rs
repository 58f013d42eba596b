//! The linker's error type.
//!
//! Every variant names the package and the path involved and says what to do next, and
//! `code()` gives a stable code (pnpm's `ERR_PNPM_*` where pnpm has one) so the CLI can
//! render errors and tests can match them without parsing messages.

use std::io;
use std::path::PathBuf;

/// Errors raised while linking `node_modules`.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// A filesystem primitive failed.
    #[error("linking {package} failed: {source}")]
    Fs {
        /// The package (dep path) or state file being written.
        package: String,
        /// The underlying error (it names the path).
        #[source]
        source: tack_fs::FsError,
    },

    /// An IO call failed on one path.
    #[error(
        "{op} {path} failed while linking {package}: {source}. {}",
        tack_fs::advice(source, "the path is writable")
    )]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The package (dep path) or state file concerned.
        package: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A file path, package name or alias would escape its directory (`..`, absolute, empty).
    #[error(
        "{package} has an unsafe {what} {value:?}: it would be written outside its directory. \
         The package or lockfile may be malicious; remove it from the lockfile"
    )]
    UnsafePath {
        /// The package (dep path) or importer.
        package: String,
        /// What kind of name (`file path`, `name`, `alias`).
        what: &'static str,
        /// The offending text.
        value: String,
    },

    /// A dependency edge names a dep path the plan has no package for.
    #[error(
        "{from} depends on {dep_path}, which is not in the link plan. \
         The lockfile is inconsistent; run `pnpm install` to repair it"
    )]
    UnknownDepPath {
        /// The package or importer with the edge.
        from: String,
        /// The missing dep path.
        dep_path: String,
    },

    /// A `package.json` could not be parsed (needed for its bins).
    #[error("cannot parse {path} of {package}: {source}. Reinstall the package")]
    BadManifest {
        /// The package.
        package: String,
        /// The manifest path.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },

    /// `.modules.yaml` records an incompatible layout version.
    #[error(
        "The modules directory {modules_dir} was created with layout version {found}, but this \
         version needs {expected}. Remove node_modules and install again"
    )]
    ModulesBreakingChange {
        /// The modules dir.
        modules_dir: PathBuf,
        /// The recorded layout version.
        found: String,
        /// The supported layout version.
        expected: u32,
    },

    /// A state file could not be serialized.
    #[error("cannot serialize {path}: {source}")]
    Serialize {
        /// The state file.
        path: PathBuf,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },
}

impl LinkError {
    /// A stable code: pnpm's `ERR_PNPM_*` where one exists, else `ERR_TACK_*`.
    pub fn code(&self) -> &'static str {
        match self {
            LinkError::Fs { source, .. } => source.code(),
            LinkError::Io { source, .. } if tack_fs::is_disk_full(source) => "ERR_TACK_FS_ENOSPC",
            LinkError::Io { .. } => "ERR_TACK_LINK_IO",
            LinkError::UnsafePath { .. } => "ERR_TACK_UNSAFE_PATH",
            LinkError::UnknownDepPath { .. } => "ERR_TACK_LINK_UNKNOWN_DEP_PATH",
            LinkError::BadManifest { .. } => "ERR_PNPM_JSON_PARSE",
            LinkError::ModulesBreakingChange { .. } => "ERR_PNPM_MODULES_BREAKING_CHANGE",
            LinkError::Serialize { .. } => "ERR_TACK_SERIALIZE",
        }
    }

    pub(crate) fn fs(package: impl Into<String>, source: tack_fs::FsError) -> Self {
        LinkError::Fs {
            package: package.into(),
            source,
        }
    }

    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
        package: impl Into<String>,
        source: io::Error,
    ) -> Self {
        LinkError::Io {
            op,
            path: path.into(),
            package: package.into(),
            source,
        }
    }
}
