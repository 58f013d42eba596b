//! Command-line arguments, parsed with clap. The flag names and aliases follow pnpm's so that a
//! CI script can swap `pnpm` for `tack` without other edits.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A pnpm-compatible installer: `tack install --frozen-lockfile` fills pnpm's store and
/// links the node_modules tree that pnpm 12 builds.
#[derive(Debug, Parser)]
#[command(name = "tack", version, about, propagate_version = true)]
pub struct Cli {
    /// Run as if tack was started in this directory.
    #[arg(short = 'C', long = "dir", global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// How progress is reported. Defaults to `append-only` in CI or when stdout is not a TTY.
    #[arg(long, global = true, value_enum)]
    pub reporter: Option<ReporterKind>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install every dependency of the project from its lockfile.
    #[command(visible_alias = "i")]
    Install(InstallArgs),
    /// Inspect and maintain the content-addressable store.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
}

#[derive(Debug, Args, Clone, Default)]
pub struct InstallArgs {
    /// Fail instead of updating the lockfile (the only mode tack supports; implied in CI).
    #[arg(long)]
    pub frozen_lockfile: bool,
    /// Accepted for pnpm compatibility; tack never rewrites the lockfile.
    #[arg(long, conflicts_with = "frozen_lockfile")]
    pub no_frozen_lockfile: bool,
    /// Never touch the network: every package must already be in the store.
    #[arg(long)]
    pub offline: bool,
    /// Use the store first; accepted for pnpm compatibility.
    #[arg(long)]
    pub prefer_offline: bool,
    /// Install only `dependencies` and `optionalDependencies`.
    #[arg(short = 'P', long)]
    pub prod: bool,
    /// Install only `devDependencies`.
    #[arg(short = 'D', long)]
    pub dev: bool,
    /// Skip optional dependencies.
    #[arg(long)]
    pub no_optional: bool,
    /// Run no lifecycle scripts; packages that need a build are recorded as pending.
    #[arg(long)]
    pub ignore_scripts: bool,
    /// The store directory (`v11` is appended unless the path ends with it).
    #[arg(long, value_name = "DIR")]
    pub store_dir: Option<PathBuf>,
    /// Accepted for pnpm compatibility: tack never re-verifies lockfile entries against the
    /// registry's metadata, so the lockfile is always trusted.
    #[arg(long)]
    pub trust_lockfile: bool,
    /// Only install the selected workspace projects (and the projects they depend on).
    #[arg(short = 'F', long = "filter", value_name = "SELECTOR")]
    pub filter: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Print the store directory, `v11` included.
    Path(StoreArgs),
    /// Check the packages in node_modules/.pnpm against the store index.
    Status(StoreArgs),
    /// Remove store files that no project links to, and index rows whose files are gone.
    Prune(StoreArgs),
    /// Re-hash every file of every index row; drop rows with a bad file.
    Verify(StoreArgs),
}

#[derive(Debug, Args, Clone, Default)]
pub struct StoreArgs {
    /// The store directory (`v11` is appended unless the path ends with it).
    #[arg(long, value_name = "DIR")]
    pub store_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReporterKind {
    Default,
    AppendOnly,
    Ndjson,
    Silent,
}
