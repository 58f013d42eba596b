//! Command-line arguments, parsed with clap. The flag names and aliases follow pnpm's so that a
//! CI script can swap `pnpm` for `tack` without other edits.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A pnpm-compatible installer: `tack install --frozen-lockfile` fills pnpm's store and
/// links the node_modules tree that pnpm 12 builds.
// `args_override_self`: an option given twice takes its last value, as pnpm 12 takes
// `--store-dir` (CI scripts append their own flags to command lines that have them).
#[derive(Debug, Parser)]
#[command(
    name = "tack",
    version,
    about,
    propagate_version = true,
    args_override_self = true
)]
pub struct Cli {
    /// Run as if tack was started in this directory.
    #[arg(short = 'C', long = "dir", global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// How progress is reported. Defaults to `append-only` in CI or when stdout is not a TTY.
    #[arg(long, global = true, value_enum)]
    pub reporter: Option<ReporterKind>,

    /// Print nothing but errors (`--reporter silent`).
    #[arg(short = 's', long, global = true)]
    pub silent: bool,

    /// Accepted for pnpm compatibility; `silent` is `--silent`, other levels change nothing.
    #[arg(long, global = true, value_name = "LEVEL")]
    pub loglevel: Option<String>,

    /// Leave out the `Progress:` line.
    #[arg(long, global = true)]
    pub no_progress: bool,

    /// Write to stderr what would go to stdout.
    #[arg(long, global = true)]
    pub use_stderr: bool,

    /// The `--config.<key>=<value>` arguments (see [`Cli::parse_with_config`]).
    #[arg(skip)]
    pub config: Vec<(String, String)>,

    #[command(subcommand)]
    pub command: Command,
}

// One value per process, parsed once: boxing the install's arguments would gain nothing.
#[allow(clippy::large_enum_variant)]
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
    #[arg(short = 'P', long, visible_alias = "production")]
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
    /// Load no pnpmfile: the lockfile's `pnpmfileChecksum` is not compared (`ignorePnpmfile`).
    #[arg(long)]
    pub ignore_pnpmfile: bool,
    /// The store directory (`v11` is appended unless the path ends with it).
    #[arg(long, value_name = "DIR")]
    pub store_dir: Option<PathBuf>,
    /// The default registry, over every configuration file (as pnpm's `--registry`).
    #[arg(long, value_name = "URL")]
    pub registry: Option<String>,
    /// Trust the lockfile: skip the check of its versions against `minimumReleaseAge`
    /// (pnpm's `trustLockfile`).
    #[arg(long)]
    pub trust_lockfile: bool,
    /// Only install the selected workspace projects (and the projects they depend on).
    #[arg(short = 'F', long = "filter", value_name = "SELECTOR")]
    pub filter: Vec<String>,
    /// Fail when the `--filter` selectors match no workspace project (without it, such an
    /// install does nothing and succeeds, as pnpm's does).
    #[arg(long, overrides_with = "no_fail_if_no_match")]
    pub fail_if_no_match: bool,
    #[arg(long, hide = true, overrides_with = "fail_if_no_match")]
    pub no_fail_if_no_match: bool,
    /// Allow this package's build scripts (`!<name>` denies them), on top of `allowBuilds`.
    #[arg(long, value_name = "NAME")]
    pub allow_build: Vec<String>,
    /// Skip the check that the lockfile satisfies every `package.json` (the settings are
    /// still checked).
    #[arg(long)]
    pub ignore_manifest_check: bool,
    /// Negations of the flags above, last one wins as in pnpm.
    #[arg(long, hide = true, overrides_with = "no_optional")]
    pub optional: bool,
    #[arg(long, hide = true, overrides_with = "ignore_scripts")]
    pub no_ignore_scripts: bool,
    #[arg(long, hide = true, overrides_with = "offline")]
    pub no_offline: bool,
    #[arg(long, hide = true, overrides_with = "prefer_offline")]
    pub no_prefer_offline: bool,
    #[arg(long, hide = true, overrides_with = "prefer_frozen_lockfile")]
    pub no_prefer_frozen_lockfile: bool,
    /// The other flags of `pnpm install` (see [`crate::install_flags`]).
    #[command(flatten)]
    pub compat: crate::install_flags::CompatFlags,
    /// Accepted for pnpm compatibility: an install in a workspace installs every project.
    #[arg(short = 'r', long)]
    pub recursive: bool,
    /// Install the workspace's root project only (`--filter .`).
    #[arg(short = 'w', long)]
    pub workspace_root: bool,
    /// `preferFrozenLockfile` (the lockfile is never rewritten either way).
    #[arg(long)]
    pub prefer_frozen_lockfile: bool,
    /// Hoist everything into the root `node_modules` (`shamefullyHoist`).
    #[arg(long)]
    pub shamefully_hoist: bool,
    /// `nodeLinker`: isolated or hoisted (`pnp` is refused).
    #[arg(long, value_name = "LINKER")]
    pub node_linker: Option<String>,
    /// `packageImportMethod`: auto, hardlink, copy, clone or clone-or-copy.
    #[arg(long, value_name = "METHOD")]
    pub package_import_method: Option<String>,
    /// `virtualStoreDir`.
    #[arg(long, value_name = "DIR")]
    pub virtual_store_dir: Option<PathBuf>,
    /// `networkConcurrency`.
    #[arg(long, value_name = "N")]
    pub network_concurrency: Option<usize>,
    /// `childConcurrency`.
    #[arg(long, value_name = "N")]
    pub child_concurrency: Option<usize>,
    /// Install optional dependencies for this OS too (`supportedArchitectures.os`).
    #[arg(long, value_name = "OS")]
    pub os: Vec<String>,
    /// Install optional dependencies for this CPU too (`supportedArchitectures.cpu`).
    #[arg(long, value_name = "CPU")]
    pub cpu: Vec<String>,
    /// Install optional dependencies for this libc too (`supportedArchitectures.libc`).
    #[arg(long, value_name = "LIBC")]
    pub libc: Vec<String>,
    /// Flags that need dependency resolution, which tack does not do: refused with a clear
    /// error rather than by the argument parser.
    #[arg(long, hide = true)]
    pub lockfile_only: bool,
    #[arg(long, hide = true)]
    pub fix_lockfile: bool,
    #[arg(long, hide = true)]
    pub resolution_only: bool,
    /// `--config.<key>=<value>` settings, taken out of the arguments before parsing (see
    /// [`Cli::parse_with_config`]).
    #[arg(skip)]
    pub config: Vec<(String, String)>,
}

impl Cli {
    /// Parses the process's arguments, taking pnpm's `--config.<key>=<value>` settings (any
    /// setting, by its kebab-case or camelCase name; `--config.<key>` alone is `true`) out
    /// first: clap cannot name them ahead.
    pub fn parse_with_config() -> Cli {
        let (args, config) = split_config_args(std::env::args_os());
        let mut cli = Cli::parse_from(args);
        if let Command::Install(install) = &mut cli.command {
            install.config = config.clone();
        }
        cli.config = config;
        cli
    }
}

/// The arguments without `--config.*`, and those as `(camelCaseKey, value)`.
fn split_config_args(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> (Vec<std::ffi::OsString>, Vec<(String, String)>) {
    let mut rest = Vec::new();
    let mut config = Vec::new();
    for arg in args {
        match arg.to_str().and_then(|a| a.strip_prefix("--config.")) {
            Some(setting) => {
                let (key, value) = setting.split_once('=').unwrap_or((setting, "true"));
                config.push((
                    tack_config::workspace_keys::kebab_to_camel(key),
                    value.to_string(),
                ));
            }
            None => rest.push(arg),
        }
    }
    (rest, config)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_settings_are_taken_out_before_parsing() {
        let args = [
            "tack",
            "install",
            "--config.node-linker=hoisted",
            "--config.shamefullyHoist",
            "-r",
        ]
        .map(std::ffi::OsString::from);
        let (rest, config) = split_config_args(args);
        assert_eq!(
            rest,
            ["tack", "install", "-r"].map(std::ffi::OsString::from)
        );
        assert_eq!(
            config,
            [
                ("nodeLinker".to_string(), "hoisted".to_string()),
                ("shamefullyHoist".to_string(), "true".to_string())
            ]
        );
    }
}
