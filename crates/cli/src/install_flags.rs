//! The flags of `pnpm install` (pnpm 12.21's `pnpm install --help`) that tack's own
//! arguments do not name: a CI script that passes one to pnpm passes it to tack too, and clap
//! used to stop it with a usage error. Each flag here is taken as one of three kinds:
//! - it changes nothing tack does ([`CompatFlags`]: options of recursive script runs, of
//!   resolution, of output tack does not have, state tack does not keep);
//! - it sets a setting, as `--config.<key>=<value>` would ([`CompatFlags::settings`]);
//! - it asks for something tack does not do, and the install is refused before anything is
//!   read or written ([`CompatFlags::refused`]).

use std::path::PathBuf;

use clap::Args;

/// See the module docs. Hidden from `--help`: they are pnpm's, documented there.
#[derive(Debug, Args, Clone, Default)]
pub struct CompatFlags {
    // Changes nothing tack does.
    #[arg(long, hide = true)]
    pub auto_dedupe: bool,
    #[arg(long, hide = true)]
    pub no_auto_dedupe: bool,
    #[arg(short = 'y', long, hide = true)]
    pub yes: bool,
    /// Runtime dependencies (`node@runtime:`) are not installed by tack either way.
    #[arg(long, hide = true)]
    pub no_runtime: bool,
    #[arg(long, hide = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    #[arg(long, hide = true, num_args = 0..=1, default_missing_value = "always", value_name = "COLOR")]
    pub color: Option<String>,
    #[arg(long, hide = true)]
    pub stream: bool,
    #[arg(long, hide = true)]
    pub aggregate_output: bool,
    #[arg(long, hide = true)]
    pub sort: bool,
    #[arg(long, hide = true)]
    pub no_sort: bool,
    #[arg(long, hide = true)]
    pub reverse: bool,
    #[arg(long, hide = true)]
    pub parallel: bool,
    #[arg(long, hide = true, value_name = "N")]
    pub workspace_concurrency: Option<String>,
    #[arg(long, hide = true)]
    pub include_workspace_root: bool,
    #[arg(long, hide = true)]
    pub no_include_workspace_root: bool,
    #[arg(long, hide = true, value_name = "PATTERN")]
    pub test_pattern: Vec<String>,
    #[arg(long, hide = true, value_name = "PATTERN")]
    pub changed_files_ignore_pattern: Vec<String>,
    #[arg(long, hide = true)]
    pub no_frozen_store: bool,

    // Settings.
    #[arg(long, hide = true, value_name = "MS")]
    pub fetch_timeout: Option<String>,
    #[arg(long, hide = true, value_name = "MS")]
    pub fetch_warn_timeout_ms: Option<String>,
    #[arg(long, hide = true, value_name = "KIBPS")]
    pub fetch_min_speed_ki_bps: Option<String>,
    #[arg(long, hide = true, value_name = "USER_AGENT")]
    pub user_agent: Option<String>,
    #[arg(long, hide = true, value_name = "URL")]
    pub https_proxy: Option<String>,
    #[arg(long, hide = true, value_name = "URL")]
    pub http_proxy: Option<String>,
    #[arg(long = "no-proxy", hide = true, value_name = "HOSTS")]
    pub no_proxy_hosts: Option<String>,
    #[arg(long, hide = true, value_name = "FILE")]
    pub npmrc_auth_file: Option<String>,
    /// Refused unless it is the workspace root (see `unsupported_settings`).
    #[arg(long, hide = true, value_name = "DIR")]
    pub lockfile_dir: Option<String>,
    #[arg(long, hide = true)]
    pub virtual_store_only: bool,

    /// Import every package again and relink the tree, however complete it looks.
    #[arg(long)]
    pub force: bool,
    /// Like `--filter`, walking the projects' graph without their dev dependencies.
    #[arg(long, value_name = "SELECTOR")]
    pub filter_prod: Vec<String>,

    // Refused.
    #[arg(long, hide = true)]
    pub dry_run: bool,
    #[arg(long, hide = true)]
    pub update_checksums: bool,
    #[arg(long, hide = true)]
    pub merge_git_branch_lockfiles: bool,
    #[arg(long, hide = true, value_name = "PATTERN")]
    pub merge_git_branch_lockfiles_branch_pattern: Option<String>,
    #[arg(long, hide = true, value_name = "URL")]
    pub pnpr_server: Option<String>,
    #[arg(long, hide = true)]
    pub ignore_workspace: bool,
    #[arg(long, hide = true)]
    pub frozen_store: bool,
    #[arg(long, hide = true, value_name = "GLOB")]
    pub workspace_packages: Vec<String>,
    #[arg(long, hide = true, value_name = "PATH")]
    pub env_file: Vec<PathBuf>,
    #[arg(long, hide = true)]
    pub no_trust_lockfile: bool,
}

impl CompatFlags {
    /// The flags that set a setting, as `(camelCaseKey, value)` for the command-line layer.
    pub fn settings(&self) -> Vec<(String, String)> {
        let text = [
            ("fetchTimeout", &self.fetch_timeout),
            ("fetchWarnTimeoutMs", &self.fetch_warn_timeout_ms),
            ("fetchMinSpeedKiBps", &self.fetch_min_speed_ki_bps),
            ("userAgent", &self.user_agent),
            ("httpsProxy", &self.https_proxy),
            ("httpProxy", &self.http_proxy),
            ("noProxy", &self.no_proxy_hosts),
            ("npmrcAuthFile", &self.npmrc_auth_file),
            ("lockfileDir", &self.lockfile_dir),
        ];
        let mut settings: Vec<(String, String)> = text
            .into_iter()
            .filter_map(|(key, value)| Some((key.to_string(), value.clone()?)))
            .collect();
        if self.no_trust_lockfile {
            settings.push(("trustLockfile".to_string(), "false".to_string()));
        }
        if self.virtual_store_only {
            settings.push(("virtualStoreOnly".to_string(), "true".to_string()));
        }
        settings
    }

    /// The first flag given that asks for something tack does not do, with why.
    pub fn refused(&self) -> Option<(&'static str, &'static str)> {
        const RESOLUTION: &str = "needs dependency resolution, which tack does not do: it \
                                  installs from the lockfile as it is";
        [
            (
                self.dry_run,
                "--dry-run",
                "is not supported: tack has no mode that reports an install without making it",
            ),
            (self.update_checksums, "--update-checksums", RESOLUTION),
            (
                self.merge_git_branch_lockfiles,
                "--merge-git-branch-lockfiles",
                RESOLUTION,
            ),
            (
                self.merge_git_branch_lockfiles_branch_pattern.is_some(),
                "--merge-git-branch-lockfiles-branch-pattern",
                RESOLUTION,
            ),
            (
                self.pnpr_server.is_some(),
                "--pnpr-server",
                "is not supported: tack resolves and fetches nothing through a pnpr server",
            ),
            (
                self.ignore_workspace,
                "--ignore-workspace",
                "is not supported: tack installs a workspace from its one shared lockfile",
            ),
            (
                self.frozen_store,
                "--frozen-store",
                "is not supported: tack writes to the store it installs from",
            ),
            (
                !self.workspace_packages.is_empty(),
                "--workspace-packages",
                "is not supported: tack takes the projects from pnpm-workspace.yaml's `packages`",
            ),
            (
                !self.env_file.is_empty(),
                "--env-file",
                "is not supported: set the variables in the environment instead",
            ),
        ]
        .into_iter()
        .find_map(|(given, flag, why)| given.then_some((flag, why)))
    }
}
