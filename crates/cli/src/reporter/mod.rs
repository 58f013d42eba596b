//! Progress and summary output, in pnpm's wording, so that people and tools that read pnpm's
//! output can read tack's.
//!
//! The install pipeline sends [`Event`]s; the [`Reporter`] counts them and renders them as
//! a live TTY line (`default`), plain lines (`append-only`, the default in CI or when stdout is
//! not a terminal), pnpm's NDJSON log events (`ndjson`), or nothing (`silent`).

mod ndjson;
mod text;

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

pub use crate::args::ReporterKind;

/// A dependency group, as printed in the summary, in pnpm 12's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DepGroup {
    Dependencies,
    OptionalDependencies,
    DevDependencies,
}

impl DepGroup {
    pub fn label(self) -> &'static str {
        match self {
            DepGroup::Dependencies => "dependencies",
            DepGroup::DevDependencies => "devDependencies",
            DepGroup::OptionalDependencies => "optionalDependencies",
        }
    }
}

/// One line of the final summary: `+ name version`, `+ alias <- name version`, or
/// `+ alias <- path` for a `link:` dependency.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SummaryEntry {
    pub group: DepGroup,
    pub alias: String,
    pub added: bool,
    pub target: SummaryTarget,
}

/// What a summary line names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SummaryTarget {
    /// A package at a version (`file:` dependencies have their `file:` specifier here).
    Package { name: String, version: String },
    /// A `link:` dependency: its path as the lockfile gives it (`../b`, `local/linked`).
    Link(String),
    /// Nothing but the alias: a `link:` dependency that the lockfile still has, removed because
    /// its group is left out (`--prod`), which pnpm 12 lists as `- b`.
    AliasOnly,
}

impl SummaryTarget {
    pub fn package(name: impl Into<String>, version: impl Into<String>) -> Self {
        SummaryTarget::Package {
            name: name.into(),
            version: version.into(),
        }
    }
}

/// Where the lockfile's supply-chain check stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// The registry is being asked about `entries` versions.
    Started { entries: usize },
    /// Every version passed.
    Passed { entries: usize, elapsed: Duration },
    /// Some version was rejected, or the registry's metadata could not be read.
    Failed { entries: usize, elapsed: Duration },
    /// This lockfile passed this policy before, at `verified_at` (RFC 3339), `ago`.
    Cached { verified_at: String, ago: Duration },
}

/// What the install pipeline tells the reporter.
#[derive(Debug, Clone)]
pub enum Event {
    /// Where the store and the virtual store are.
    Context {
        store_dir: String,
        virtual_store_dir: String,
    },
    /// An install of every project of a workspace of `projects` (the root included).
    Scope {
        projects: usize,
    },
    /// `--filter` selectors that match none of the workspace's `projects`.
    ScopeNone {
        projects: usize,
    },
    /// `--filter` selectors that chose `selected` of the workspace's `projects`.
    ScopeSelected {
        selected: usize,
        projects: usize,
    },
    /// The lockfile needs no resolution.
    LockfileUpToDate,
    /// One package of the lockfile is part of this install.
    Resolved {
        package_id: String,
    },
    /// A package's files were found, verified, in the store.
    FoundInStore {
        package_id: String,
    },
    /// A package was downloaded into the store.
    Fetched {
        package_id: String,
    },
    /// A package was imported into the virtual store.
    Imported {
        package_id: String,
    },
    /// A download is retried.
    Retry {
        package_id: String,
        attempt: u32,
        reason: String,
    },
    /// An optional package does not fit this platform and is skipped.
    SkippedOptional {
        package_id: String,
        reason: String,
    },
    /// The build of an optional package failed: it is skipped, and taken out of the tree.
    /// pnpm 12 logs this at debug level only (its reporter prints nothing for it).
    SkippedOptionalBuild {
        /// The directory the package was built in.
        dir: String,
        name: String,
        version: String,
        /// What failed.
        details: String,
    },
    Warning(String),
    /// A warning pnpm 12 prints before its reporter starts, on stderr (the ignored `pnpm`
    /// field of package.json).
    EarlyWarning(String),
    /// A message pnpm prints as plain lines on stdout (no `WARN` prefix).
    Info(String),
    /// pnpm 11+'s supply-chain check of the lockfile at `lockfile_path`
    /// (`pnpm:lockfile-verification`).
    LockfileVerification {
        lockfile_path: String,
        status: Verification,
    },
    /// A lifecycle script of a dependency or project, or a patch being applied: `prefix` is
    /// the package dir relative to the lockfile dir.
    Script {
        prefix: String,
        stage: String,
        line: ScriptLine,
    },
    /// Importing finished; `added`/`removed` count packages.
    ImportingDone {
        added: usize,
        removed: usize,
    },
    Summary(Vec<SummaryEntry>),
    AlreadyUpToDate,
    Done {
        elapsed: Duration,
    },
}

/// What a [`Event::Script`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptLine {
    /// The script starts (its text).
    Started(String),
    /// One line it printed.
    Output { line: String, stderr: bool },
    /// It ended.
    Finished {
        success: bool,
        exit_code: Option<i32>,
    },
    /// A patch file was applied.
    Patched(String),
}

/// Counters behind the `Progress:` line.
#[derive(Debug, Default)]
pub struct Counters {
    pub resolved: AtomicUsize,
    pub reused: AtomicUsize,
    pub downloaded: AtomicUsize,
    pub added: AtomicUsize,
}

impl Counters {
    pub fn progress_line(&self, done: bool) -> String {
        format!(
            "Progress: resolved {}, reused {}, downloaded {}, added {}{}",
            self.resolved.load(Ordering::Relaxed),
            self.reused.load(Ordering::Relaxed),
            self.downloaded.load(Ordering::Relaxed),
            self.added.load(Ordering::Relaxed),
            if done { ", done" } else { "" }
        )
    }

    /// Nothing counted yet.
    pub fn is_zero(&self) -> bool {
        [&self.resolved, &self.reused, &self.downloaded, &self.added]
            .iter()
            .all(|c| c.load(Ordering::Relaxed) == 0)
    }

    fn count(&self, event: &Event) {
        let counter = match event {
            Event::Resolved { .. } => &self.resolved,
            Event::FoundInStore { .. } => &self.reused,
            Event::Fetched { .. } => &self.downloaded,
            Event::Imported { .. } => &self.added,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// pnpm's output flags besides the reporter's kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReporterOptions {
    /// `--no-progress`: the `Progress:` line is left out.
    pub no_progress: bool,
    /// `--use-stderr`: what goes to stdout goes to stderr.
    pub use_stderr: bool,
}

/// Renders events for one run. Shared by every task of the install (`Send + Sync`).
pub struct Reporter {
    kind: ReporterKind,
    counters: Counters,
    text: Mutex<text::TextState>,
}

impl Reporter {
    /// Picks the kind the way pnpm does: an explicit `--reporter` wins; otherwise
    /// `append-only` in CI or when stdout is not a terminal.
    pub fn new(explicit: Option<ReporterKind>, ci: bool) -> Self {
        Self::with_options(explicit, ci, ReporterOptions::default())
    }

    /// [`Reporter::new`] with pnpm's output flags.
    pub fn with_options(
        explicit: Option<ReporterKind>,
        ci: bool,
        options: ReporterOptions,
    ) -> Self {
        let kind = explicit.unwrap_or_else(|| {
            if ci || !std::io::stdout().is_terminal() {
                ReporterKind::AppendOnly
            } else {
                ReporterKind::Default
            }
        });
        Reporter {
            kind,
            counters: Counters::default(),
            text: Mutex::new(text::TextState::new(kind, options)),
        }
    }

    /// Run from a workspace project other than the root: `prefix` is the workspace root
    /// relative to it (`../..`). pnpm 12 then prints the install's progress under that prefix
    /// and leaves out the workspace's own lines.
    pub fn set_workspace_prefix(&self, prefix: String) {
        self.text.lock().workspace_prefix = Some(prefix);
    }

    pub fn kind(&self) -> ReporterKind {
        self.kind
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn emit(&self, event: Event) {
        self.counters.count(&event);
        match self.kind {
            ReporterKind::Silent => {}
            ReporterKind::Ndjson => ndjson::emit(&event),
            ReporterKind::Default | ReporterKind::AppendOnly => {
                self.text.lock().emit(&event, &self.counters)
            }
        }
    }

    /// Prints a warning on stderr (all kinds but `silent` and `ndjson`, which logs it).
    pub fn warn(&self, message: impl Into<String>) {
        self.emit(Event::Warning(message.into()));
    }
}
