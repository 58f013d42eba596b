//! Errors raised while loading configuration and checking a lockfile against it. Each variant names
//! the file (and line/column where known) and says what to do next; `code()` is pnpm's where one
//! exists.

use std::path::PathBuf;

/// Why configuration could not be loaded, or a frozen install cannot proceed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{} is not valid JSON: {message} (line {line}, column {column}). Fix the file and try again",
        path.display()
    )]
    InvalidManifest {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    /// A dependency the lockfile refers to without a `snapshots:` entry for it (a merge
    /// conflict resolved by hand, most often).
    #[error(
        "Broken lockfile: no entry for '{dep_path}' in pnpm-lock.yaml. This is probably a badly \
         resolved merge conflict: restore pnpm-lock.yaml from version control, or run \
         `pnpm install --fix-lockfile`"
    )]
    MissingSnapshot { dep_path: String },

    /// A workspace project's `package.json` that is not JSON (pnpm 12 gives it another code
    /// than the root's).
    #[error(
        "{} is not valid JSON: {message} (line {line}, column {column}). Fix the file and try again",
        path.display()
    )]
    InvalidProjectManifest {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    /// A `package.json` whose document is an array, a string, a number or `null`.
    #[error(
        "{}: the manifest root must be an object ({{\"name\": …, \"dependencies\": …}}). Fix the \
         file and try again",
        path.display()
    )]
    ManifestNotObject { path: PathBuf },

    #[error(
        "{} is not valid YAML: {message} (line {line}, column {column}). Fix the file and try again",
        path.display()
    )]
    InvalidWorkspaceYaml {
        path: PathBuf,
        line: u64,
        column: u64,
        message: String,
    },

    #[error("{}: setting `{key}` has an invalid value: {message}", source_name)]
    InvalidSetting {
        source_name: String,
        key: String,
        message: String,
    },

    #[error("invalid workspace package pattern `{pattern}` in {}: {message}", path.display())]
    InvalidWorkspaceGlob {
        path: PathBuf,
        pattern: String,
        message: String,
    },

    #[error(
        "`tokenHelper` is set in the project config {}; a token helper may only be configured in the \
         user config (~/.npmrc) or auth.ini",
        path.display()
    )]
    TokenHelperInProjectConfig { path: PathBuf },

    #[error(
        "no registry is configured and `npm config get registry` gave no answer. Set `registry=<url>` \
         in ~/.npmrc or the project's .npmrc, or pass --registry"
    )]
    NoRegistry,

    #[error(
        "Cannot proceed with the frozen installation. The current \"{field}\" configuration doesn't \
         match the value found in the lockfile. Update your lockfile using \"pnpm install --no-frozen-lockfile\""
    )]
    LockfileConfigMismatch { field: String },

    #[error(
        "Headless installation requires a pnpm-lock.yaml file, but none was found in {}. \
         Run `pnpm install` without --frozen-lockfile to create one",
        dir.display()
    )]
    NoLockfile { dir: PathBuf },

    #[error(
        "Cannot install with \"frozen-lockfile\" because pnpm-lock.yaml has no `importers[\"{importer_id}\"]` \
         entry. Regenerate the lockfile with `pnpm install --lockfile-only`"
    )]
    MissingImporter { importer_id: String },

    #[error(
        "Cannot install with \"frozen-lockfile\" because pnpm-lock.yaml is not up to date with {manifest}.\n\
         \x20 Failure reason:\n{reason}\n\
         Regenerate the lockfile with `pnpm install --lockfile-only` so that pnpm-lock.yaml reflects the \
         current package.json, then re-run `pnpm install --frozen-lockfile`"
    )]
    OutdatedLockfile { manifest: String, reason: String },

    #[error(
        "cannot read the patch file {} for {key} (listed in patchedDependencies): {source}. \
         Restore the file or remove the entry",
        path.display()
    )]
    PatchFileNotFound {
        key: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "pnpmfile at \"{}\" is not found. Create it, or change the `pnpmfile` setting that names \
         it (pnpm-workspace.yaml, PNPM_CONFIG_PNPMFILE or --config.pnpmfile)", path.display()
    )]
    PnpmfileNotFound { path: PathBuf },

    #[error(
        "configDependencies in pnpm-workspace.yaml has an invalid entry {name:?}: {reason}. \
         Write it as `<name>: <version>` and lock it with `pnpm install`"
    )]
    InvalidConfigDependency { name: String, reason: String },

    #[error(
        "configDependencies in pnpm-workspace.yaml names an invalid package {name:?}: package \
         names are `name` or `@scope/name`, without path segments like `..`"
    )]
    InvalidConfigDependencyName { name: String },

    /// `wanted` and `current` are JSON objects, as pnpm 12 prints them.
    #[error(
        "Unsupported engine for {package}: wanted: {wanted} (current: {current}). \
         Use a node version that satisfies the range, or unset engineStrict"
    )]
    UnsupportedEngine {
        package: String,
        wanted: String,
        current: String,
    },

    #[error(
        "Unsupported engine for {}: wanted: {wanted} (current: {current}). Use a pnpm and node \
         in those ranges, or change `engines` in its package.json", dir.display()
    )]
    UnsupportedProjectEngine {
        dir: PathBuf,
        wanted: String,
        current: String,
    },

    /// `wanted` and `current` are JSON objects, as pnpm 12 prints them.
    #[error(
        "Unsupported platform for {package}: wanted {wanted} (current: {current}). \
         Install on a supported platform, or unset engineStrict"
    )]
    UnsupportedPlatform {
        package: String,
        wanted: String,
        current: String,
    },
}

impl ConfigError {
    /// The error for a workspace project's manifest: a document that is not JSON gets pnpm
    /// 12's code for a project's manifest.
    pub fn in_workspace_project(self) -> ConfigError {
        match self {
            ConfigError::InvalidManifest {
                path,
                line,
                column,
                message,
            } => ConfigError::InvalidProjectManifest {
                path,
                line,
                column,
                message,
            },
            other => other,
        }
    }

    /// A stable code: pnpm's where it exists, else `ERR_TACK_*`.
    pub fn code(&self) -> &'static str {
        match self {
            ConfigError::Io { .. } => "ERR_TACK_CONFIG_IO",
            ConfigError::InvalidManifest { .. } => "ERR_PNPM_JSON_PARSE",
            ConfigError::InvalidProjectManifest { .. } => {
                "ERR_PNPM_PACKAGE_MANIFEST_SERIALIZATION_ERROR"
            }
            ConfigError::ManifestNotObject { .. } => "ERR_PNPM_INVALID_MANIFEST",
            ConfigError::MissingSnapshot { .. } => "ERR_PNPM_LOCKFILE_MISSING_DEPENDENCY",
            // pnpm 12 calls an unreadable pnpm-workspace.yaml an invalid setting.
            ConfigError::InvalidWorkspaceYaml { .. } => "ERR_PNPM_INVALID_SETTING",
            ConfigError::InvalidSetting { .. } => "ERR_PNPM_INVALID_SETTING",
            ConfigError::InvalidWorkspaceGlob { .. } => "ERR_PNPM_INVALID_WORKSPACE_CONFIGURATION",
            ConfigError::TokenHelperInProjectConfig { .. } => {
                "ERR_PNPM_TOKEN_HELPER_IN_PROJECT_CONFIG"
            }
            ConfigError::NoRegistry => "ERR_TACK_NO_REGISTRY",
            ConfigError::LockfileConfigMismatch { .. } => "ERR_PNPM_LOCKFILE_CONFIG_MISMATCH",
            ConfigError::NoLockfile { .. } => "ERR_PNPM_NO_LOCKFILE",
            ConfigError::OutdatedLockfile { .. } => "ERR_PNPM_OUTDATED_LOCKFILE",
            ConfigError::MissingImporter { .. } => "ERR_PNPM_PACKAGE_MANAGER_NO_IMPORTER",
            ConfigError::PatchFileNotFound { .. } => "ERR_PNPM_PATCH_NOT_FOUND",
            ConfigError::PnpmfileNotFound { .. } => "ERR_PNPM_PNPMFILE_NOT_FOUND",
            ConfigError::InvalidConfigDependency { .. } => "ERR_PNPM_INVALID_CONFIG_DEP_VERSION",
            ConfigError::InvalidConfigDependencyName { .. } => "ERR_PNPM_INVALID_DEPENDENCY_NAME",
            ConfigError::UnsupportedEngine { .. }
            | ConfigError::UnsupportedProjectEngine { .. } => "ERR_PNPM_UNSUPPORTED_ENGINE",
            ConfigError::UnsupportedPlatform { .. } => "ERR_PNPM_UNSUPPORTED_PLATFORM",
        }
    }
}

/// A non-fatal problem found while loading configuration, shown to the user by the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// A stable code, e.g. `ERR_TACK_UNKNOWN_SETTING`.
    pub code: &'static str,
    pub message: String,
    /// The message is pnpm 12's, word for word, and is shown as pnpm 12 shows it: without
    /// the code.
    pub as_pnpm: bool,
}

impl Warning {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Warning {
        Warning {
            code,
            message: message.into(),
            as_pnpm: false,
        }
    }

    /// A warning pnpm 12 gives in the same words (and without a code).
    pub(crate) fn as_pnpm(code: &'static str, message: impl Into<String>) -> Warning {
        Warning {
            as_pnpm: true,
            ..Warning::new(code, message)
        }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.as_pnpm {
            true => write!(f, "{}", self.message),
            false => write!(f, "{}: {}", self.code, self.message),
        }
    }
}
