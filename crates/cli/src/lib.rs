//! The `tack` command line: argument parsing, commands and the reporter.
//!
//! `main.rs` only parses arguments and maps the result to an exit code; `install` and `store`
//! hold the commands, and everything reports through [`reporter::Reporter`].

pub mod allocator;
pub mod args;
pub mod error;
mod fetch;
pub mod install;
pub mod install_flags;
pub mod reporter;
mod store;

use std::process::ExitCode;

use args::{Cli, Command};
use error::CliError;
use reporter::Reporter;

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    let silent = cli.silent || cli.loglevel.as_deref() == Some("silent");
    let kind = if silent {
        Some(args::ReporterKind::Silent)
    } else {
        cli.reporter
    };
    let options = reporter::ReporterOptions {
        no_progress: cli.no_progress,
        use_stderr: cli.use_stderr,
    };
    let reporter = std::sync::Arc::new(Reporter::with_options(kind, ci, options));
    // The store's warnings (an index set aside, a row that does not decode) go through the
    // reporter, so that `--reporter silent` and `ndjson` hold for them too.
    let for_store = std::sync::Arc::downgrade(&reporter);
    tack_store_dir::set_warning_sink(std::sync::Arc::new(move |message: &str| {
        match for_store.upgrade() {
            Some(reporter) => reporter.warn(message),
            None => eprintln!("WARN: {message}"),
        }
    }));
    match &cli.command {
        Command::Install(args) => install::run(cli.dir.as_deref(), args, &reporter),
        Command::Store { .. } if !cli.config.is_empty() => Err(CliError::new(
            "ERR_TACK_UNSUPPORTED_FLAG",
            "`--config.<key>=<value>` applies to `tack install` only",
        )
        .with_help(
            "Give the store commands `--store-dir DIR`, or set the setting in pnpm-workspace.yaml.",
        )),
        Command::Store { command } => store::run(cli.dir.as_deref(), command, &reporter),
    }
}

impl_from_coded!(
    tack_config::ConfigError,
    tack_lockfile::LockfileError,
    tack_store_dir::StoreError,
    tack_linker::LinkError,
    tack_tarball::FetchError,
    tack_fs::FsError,
);
