//! The resolved configuration of one install: every setting with pnpm's default filled in. Built by
//! [`crate::precedence`] from the layered sources.

use std::collections::BTreeMap;
use std::path::PathBuf;

use indexmap::IndexMap;
use serde_json::Value;

use crate::settings::{Settings, SupportedArchitectures};
use crate::workspace_manifest::WorkspaceManifest;

/// Registries by scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registries {
    /// The default registry, ending with `/`.
    pub default: String,
    /// `@scope` → registry URL ending with `/`.
    pub scopes: BTreeMap<String, String>,
}

impl Registries {
    /// The registry for a package name (`@scope/x` uses its scope's registry when configured).
    pub fn for_package(&self, name: &str) -> &str {
        if name.starts_with('@') {
            if let Some((scope, _)) = name.split_once('/') {
                if let Some(url) = self.scopes.get(scope) {
                    return url;
                }
            }
        }
        &self.default
    }
}

/// `nodeLinker`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeLinker {
    Isolated,
    Hoisted,
    Pnp,
}

/// `trustPolicy`: whether the lockfile check refuses a version published with weaker evidence
/// of trust than an earlier version of the same package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustPolicy {
    /// `off`, the default.
    Off,
    /// `no-downgrade`.
    NoDowngrade,
}

/// `packageImportMethod`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageImportMethod {
    Auto,
    Hardlink,
    Copy,
    Clone,
    CloneOrCopy,
}

/// Which dependency groups are installed (`--prod`, `--dev`, `--no-optional`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncludedDeps {
    pub dependencies: bool,
    pub dev_dependencies: bool,
    pub optional_dependencies: bool,
}

impl IncludedDeps {
    /// Whether a project's own `optionalDependencies` are installed. pnpm 12 counts them as
    /// production dependencies: `--dev` leaves them out (while `.modules.yaml` still says
    /// optional dependencies are included, and the optional dependencies of the packages
    /// installed are installed).
    pub fn project_optional_dependencies(&self) -> bool {
        self.optional_dependencies && self.dependencies
    }
}

impl Default for IncludedDeps {
    fn default() -> Self {
        IncludedDeps {
            dependencies: true,
            dev_dependencies: true,
            optional_dependencies: true,
        }
    }
}

/// Whether the install must use the lockfile as is (§5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrozenMode {
    /// `--frozen-lockfile` or `frozenLockfile: true`.
    Frozen,
    /// CI without an explicit flag: frozen when a non-empty lockfile exists.
    IfLockfileExists,
    /// `preferFrozenLockfile` (default): headless when the lockfile is up to date.
    Prefer,
    /// `--no-frozen-lockfile` with `preferFrozenLockfile: false`.
    Off,
}

/// pnpm 12's `childConcurrency` when nothing sets it: five builds at once whatever the
/// number of cores (observed: five one-second scripts of ten overlap on a two-core machine,
/// and under `taskset` on one core).
pub const DEFAULT_CHILD_CONCURRENCY: usize = 5;

/// Every resolved setting.
#[derive(Debug, Clone)]
pub struct Config {
    pub cwd: PathBuf,
    /// The workspace root (dir of `pnpm-workspace.yaml`), or the project dir without a workspace.
    pub workspace_root: PathBuf,
    pub workspace_manifest: Option<WorkspaceManifest>,
    /// The lockfile directory (the workspace root).
    pub lockfile_dir: PathBuf,
    pub registries: Registries,
    /// Merged `.npmrc`-layer keys (registries, `//host/:_authToken`, TLS, proxies) for the fetcher.
    pub raw_npmrc: BTreeMap<String, String>,
    /// An explicitly configured store dir, absolute (the store crate appends `v11` and applies
    /// fallbacks).
    pub store_dir: Option<PathBuf>,
    pub node_linker: NodeLinker,
    pub trust_policy: TrustPolicy,
    pub hoist: bool,
    pub hoist_pattern: Vec<String>,
    /// `None`: unset (an explicit `shamefullyHoist: false`), which is not `[]` in `.modules.yaml`.
    pub public_hoist_pattern: Option<Vec<String>>,
    pub shamefully_hoist: bool,
    pub hoist_workspace_packages: bool,
    pub symlink: bool,
    pub package_import_method: PackageImportMethod,
    /// Absolute virtual store dir (default `<workspace root>/node_modules/.pnpm`).
    pub virtual_store_dir: PathBuf,
    pub virtual_store_dir_max_length: usize,
    /// The modules dir name (default `node_modules`).
    pub modules_dir: String,
    /// `modulesCacheMaxAge`, in minutes (default a week): packages the lockfile no longer has
    /// stay in the virtual store until the last prune is this old; 0 prunes every time.
    pub modules_cache_max_age: u64,
    pub network_concurrency: usize,
    pub fetch_retries: u32,
    pub fetch_retry_factor: f64,
    pub fetch_retry_mintimeout: u64,
    pub fetch_retry_maxtimeout: u64,
    pub fetch_timeout: u64,
    pub strict_ssl: bool,
    pub verify_store_integrity: bool,
    pub strict_dep_builds: bool,
    pub allow_builds: IndexMap<String, Value>,
    pub dangerously_allow_all_builds: bool,
    pub only_built_dependencies: Option<Vec<String>>,
    pub never_built_dependencies: Option<Vec<String>>,
    pub overrides: IndexMap<String, String>,
    /// `name@version` or `name` → patch file path (as written, relative to the workspace root).
    pub patched_dependencies: IndexMap<String, String>,
    pub allow_unused_patches: bool,
    /// The `pnpmfile` setting's files, absolute (relative ones are of the workspace root);
    /// `None`: the default `.pnpmfile.mjs`/`.pnpmfile.cjs`.
    pub pnpmfiles: Option<Vec<PathBuf>>,
    /// `ignorePnpmfile`: no pnpmfile is loaded and the lockfile's checksum is not compared.
    pub ignore_pnpmfile: bool,
    /// Catalogs by name; `catalog:` of `pnpm-workspace.yaml` is `default`.
    pub catalogs: IndexMap<String, IndexMap<String, String>>,
    pub supported_architectures: SupportedArchitectures,
    pub ignored_optional_dependencies: Vec<String>,
    pub use_git_branch_lockfile: bool,
    /// Minutes (pnpm 11+ default 1440).
    pub minimum_release_age: u64,
    /// How many dependency builds run at once ([`DEFAULT_CHILD_CONCURRENCY`] unless set).
    pub child_concurrency: usize,
    pub side_effects_cache: bool,
    pub side_effects_cache_readonly: bool,
    pub inject_workspace_packages: bool,
    pub dedupe_peers: bool,
    pub auto_install_peers: bool,
    pub exclude_links_from_lockfile: bool,
    pub peers_suffix_max_length: u64,
    pub engine_strict: bool,
    pub node_version: Option<String>,
    pub frozen: FrozenMode,
    pub offline: bool,
    pub prefer_offline: bool,
    pub ignore_scripts: bool,
    pub include: IncludedDeps,
    pub reporter: Option<String>,
    /// Whether a CI environment was detected.
    pub ci: bool,
    /// pnpm 12's `lockfile:` map in `pnpm-workspace.yaml`.
    pub lockfile_options: Option<Value>,
    /// The merged settings layers, for settings not lifted into fields above.
    pub settings: Settings,
    /// The settings of [`crate::workspace_keys::LAYOUT_REQUEST_KEYS`] that some layer sets
    /// (the global `config.yaml`, `pnpm-workspace.yaml`, `PNPM_CONFIG_*`, the command line;
    /// later layers win), for the install to refuse what it does not do. `lockfileDir` is
    /// absolute.
    pub layout_requests: serde_json::Map<String, Value>,
}

impl Config {
    /// Whether this install runs frozen, given whether a non-empty lockfile exists.
    pub fn is_frozen(&self, lockfile_exists: bool) -> bool {
        match self.frozen {
            FrozenMode::Frozen => true,
            FrozenMode::IfLockfileExists => lockfile_exists,
            FrozenMode::Prefer | FrozenMode::Off => false,
        }
    }
}
