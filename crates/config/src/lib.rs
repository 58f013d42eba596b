//! Configuration as pnpm reads it: `package.json`, `pnpm-workspace.yaml`, `.npmrc` files,
//! the environment and CLI flags, merged with pnpm's precedence in one place ([`precedence`]).
//! Also the checks that compare that configuration with a lockfile: the frozen-lockfile checks
//! ([`frozen`], with the lockfile checksums of [`checksums`]) and installability
//! ([`installability`]).

pub mod checksums;
mod config;
mod config_deps;
mod error;
pub mod frozen;
pub mod input_stamp;
pub mod installability;
mod manifest;
mod matcher;
pub mod node_probe;
pub mod npmrc;
pub mod overrides;
pub mod precedence;
pub mod project_engines;
mod projects;
pub mod registry;
pub mod settings;
mod snapshot_graph;
pub mod workspace_keys;
mod workspace_manifest;

pub use config::{
    Config, FrozenMode, IncludedDeps, NodeLinker, PackageImportMethod, Registries, TrustPolicy,
};
pub use config_deps::{
    config_dependencies, config_modules_dir, is_plugin, plugin_pnpmfiles, ConfigDependency,
    WantedConfigDependency, CONFIG_MODULES_DIR,
};
pub use error::{ConfigError, Warning};
pub use manifest::{read_manifest, Manifest};
pub use matcher::Matcher;
pub use npmrc::{Npmrc, NpmrcTrust};
pub use precedence::{CliOverrides, ConfigInputs};
pub use projects::{find_workspace_projects, Project};
pub use settings::{Settings, SupportedArchitectures};
pub use workspace_manifest::{
    find_workspace_root, ManifestScope, WorkspaceManifest, WORKSPACE_MANIFEST_FILENAME,
};
