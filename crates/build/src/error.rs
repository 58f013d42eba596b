//! `BuildError`: everything that can go wrong while building dependencies, patching them or
//! computing their side-effects cache entries. Each variant names the package, the script or
//! patch and the path involved, says what to do next, and has a stable `code()` (pnpm's where
//! pnpm has one).

use std::path::PathBuf;

/// A failure of the build step.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Packages need their build scripts run but `allowBuilds` neither approves nor denies
    /// them, and `strictDepBuilds` is on.
    #[error(
        "Ignored build scripts: {}. Run \"pnpm approve-builds\" to pick which dependencies should be \
         allowed to run scripts, or approve them in pnpm-workspace.yaml, e.g. `allowBuilds: {{ {}: true }}` \
         (use `false` to skip a package's scripts; set `strictDepBuilds: false` to only warn)",
        packages.join(", "),
        packages.first().map(|p| crate::policy::name_of_spec(p)).unwrap_or("<name>")
    )]
    IgnoredBuilds {
        /// `name@version` of every package whose build was ignored, sorted.
        packages: Vec<String>,
    },

    /// A lifecycle script exited unsuccessfully (boxed: it carries the script's output).
    #[error("{0}")]
    ScriptFailed(Box<ScriptFailure>),

    /// The script's shell could not be started.
    #[error("cannot start the {stage} script of {package} in {dir}: {source}. Check that `sh` is on PATH and the directory exists")]
    ScriptSpawn {
        package: String,
        stage: String,
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The bin-linking callback failed for a package about to be built.
    #[error("cannot link the bins of {package} into {dir}/node_modules/.bin: {message}")]
    BinLink {
        package: String,
        dir: PathBuf,
        message: String,
    },

    /// A patch does not apply to the package.
    #[error(
        "Could not apply patch {patch_file} to {package}: {file}: hunk `{hunk}` {reason}. \
         The package was left unchanged. Regenerate the patch for this version (pnpm patch {package})"
    )]
    PatchFailed {
        package: String,
        patch_file: PathBuf,
        /// The file inside the package the hunk is about.
        file: String,
        /// The hunk's `@@ … @@` header (or the file header for whole-file operations).
        hunk: String,
        reason: String,
    },

    /// A patch file is not a valid unified diff.
    #[error("patch file {patch_file} is not a valid unified diff (line {line}): {reason}. Regenerate it with `pnpm patch`")]
    PatchParse {
        patch_file: PathBuf,
        line: usize,
        reason: String,
    },

    /// A patch file's hash differs from the one recorded in the lockfile.
    #[error(
        "patch file {patch_file} has hash {actual}, but pnpm-lock.yaml records {expected}. \
         The patch changed after the lockfile was written: run `pnpm install` to update the lockfile"
    )]
    PatchHashMismatch {
        patch_file: PathBuf,
        expected: String,
        actual: String,
    },

    /// Entries of `patchedDependencies` match no package, and `allowUnusedPatches` is off.
    #[error(
        "The following patches were not used: {}. Either remove them from \"patchedDependencies\" or update \
         them to match packages in your dependencies (or set `allowUnusedPatches: true`)",
        keys.join(", ")
    )]
    UnusedPatches { keys: Vec<String> },

    /// A side-effects cache entry names a path that would escape the package directory.
    #[error("side-effects cache entry `{cache_key}` names the unsafe path `{path}`; refusing to use it. Delete the package's row from the store index (or run `pnpm store prune`)")]
    UnsafeSideEffectsPath { cache_key: String, path: String },

    /// A package built in a staging directory could not be moved to its package directory.
    #[error("cannot move the package built in {stage} to {pkg_dir}: {source}. Nothing was left in the slot; check that the store is writable and run the install again")]
    Publish {
        stage: PathBuf,
        pkg_dir: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// An optional package whose build failed could not be taken out of the tree, so it
    /// would stay installed half-built.
    #[error(
        "cannot remove {package}, an optional dependency whose build failed: {message}. Fix the \
         path's permissions (or remove the package's directory by hand) and install again"
    )]
    DiscardFailed { package: String, message: String },

    /// A filesystem operation failed.
    #[error("cannot {op} {path}: {source}. Check that the path exists and is writable")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Writing a file atomically failed.
    #[error(transparent)]
    Fs(#[from] tack_fs::FsError),

    /// Writing to the store failed.
    #[error(transparent)]
    Store(#[from] tack_store_dir::StoreError),
}

impl BuildError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            BuildError::IgnoredBuilds { .. } => "ERR_PNPM_IGNORED_BUILDS",
            // pnpm 12's code for a failed lifecycle script, a dependency's or a project's own
            // (pnpm 11 said `ELIFECYCLE`).
            BuildError::ScriptFailed { .. } => "ERR_PNPM_EXECUTOR_LIFECYCLE_SCRIPT_FAILED",
            BuildError::ScriptSpawn { .. } => "ERR_TACK_SCRIPT_SPAWN",
            BuildError::BinLink { .. } => "ERR_TACK_BIN_LINK",
            BuildError::PatchFailed { .. } | BuildError::PatchParse { .. } => {
                "ERR_PNPM_PATCH_FAILED"
            }
            BuildError::PatchHashMismatch { .. } => "ERR_TACK_PATCH_HASH_MISMATCH",
            BuildError::UnusedPatches { .. } => "ERR_PNPM_UNUSED_PATCH",
            BuildError::UnsafeSideEffectsPath { .. } => "ERR_TACK_SIDE_EFFECTS_PATH",
            BuildError::Io { .. }
            | BuildError::Publish { .. }
            | BuildError::DiscardFailed { .. } => "ERR_TACK_BUILD_IO",
            BuildError::Fs(e) => e.code(),
            BuildError::Store(e) => e.code(),
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BuildError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// The details of a failed lifecycle script.
#[derive(Debug, Clone)]
pub struct ScriptFailure {
    /// `name@version` (or the project dir for a project script).
    pub package: String,
    /// The package name, for the hint.
    pub name: String,
    /// A workspace project's own script, which `allowBuilds` does not govern.
    pub own_project: bool,
    /// The package directory the script ran in.
    pub dir: PathBuf,
    /// `preinstall`, `install`, `postinstall`, …
    pub stage: String,
    /// The script text.
    pub script: String,
    /// `exit code N` or `signal N`.
    pub status: String,
    /// Exit code, when the process exited normally.
    pub exit_code: Option<i32>,
    /// The last lines of the script's combined output.
    pub last_lines: Vec<String>,
    /// Everything the script printed (for append-only reporters that show it in full).
    pub output: Vec<String>,
}

impl std::fmt::Display for ScriptFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let way_out = if self.own_project {
            "install with --ignore-scripts to skip the projects' own scripts".to_string()
        } else {
            format!(
                "deny it with `allowBuilds: {{ {}: false }}` in pnpm-workspace.yaml",
                self.name
            )
        };
        write!(
            f,
            "{} {}: `{}` failed with {} in {}.\n{}Fix the script or its environment, or {way_out}",
            self.package,
            self.stage,
            self.script,
            self.status,
            self.dir.display(),
            tail_block(&self.last_lines),
        )
    }
}

/// The last output lines of a failed script, indented, followed by a newline (empty when
/// the script printed nothing).
pub(crate) fn tail_block(lines: &[String]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let mut out = String::from("Last output:\n");
    for line in lines {
        out.push_str("  │ ");
        out.push_str(line);
        out.push('\n');
    }
    out
}
