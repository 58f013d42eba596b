//! What the build step tells the CLI reporter while it works: script starts and ends, each
//! output line tagged with its package prefix, warnings, and skipped optional builds. A plain
//! callback, so the CLI decides how to render (TTY, append-only, ndjson).

/// One thing worth reporting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildEvent<'a> {
    /// `<prefix> <stage>$ <script>`.
    ScriptStarted {
        prefix: &'a str,
        stage: &'a str,
        script: &'a str,
    },
    /// One line the script printed.
    Output {
        prefix: &'a str,
        stage: &'a str,
        line: &'a str,
        stderr: bool,
    },
    /// The script ended.
    ScriptFinished {
        prefix: &'a str,
        stage: &'a str,
        success: bool,
        exit_code: Option<i32>,
    },
    /// A patch was applied to the package.
    Patched {
        prefix: &'a str,
        patch_file: &'a str,
    },
    /// Something the user should know that does not fail the install.
    Warning { message: &'a str },
    /// The build of an optional package failed and the package was skipped (pnpm's
    /// `pnpm:skipped-optional-dependency`, reason `build_failure`).
    SkippedOptional {
        name: &'a str,
        version: &'a str,
        /// The directory the package was built in.
        dir: &'a std::path::Path,
        /// What failed.
        details: &'a str,
    },
}

/// The reporter callback. Called from several threads at once.
pub type Reporter<'a> = dyn Fn(&BuildEvent<'_>) + Sync + 'a;

/// A reporter that drops everything.
pub fn silent(_: &BuildEvent<'_>) {}
