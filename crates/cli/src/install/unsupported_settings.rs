//! Settings that ask for something tack does not do. tack builds pnpm's isolated layout from
//! one shared lockfile; a project that asks for pnpm's hoisted or Plug'n'Play layout, for the
//! global virtual store, for no symlinks, for a lockfile per project, or for config
//! dependencies (installed into `node_modules/.pnpm-config` before anything else) would
//! otherwise get a tree it did not ask for: these settings used to be read and ignored. Such an
//! install is refused before anything is read from the lockfile, fetched or written.

use tack_config::{Config, NodeLinker};

use crate::error::CliError;

/// `Err` naming the first setting of `config` that asks for something tack does not do.
pub fn refuse_unsupported_settings(config: &Config) -> Result<(), CliError> {
    let settings = &config.settings;
    let asked = match config.node_linker {
        NodeLinker::Hoisted => Some("nodeLinker: hoisted"),
        NodeLinker::Pnp => Some("nodeLinker: pnp"),
        NodeLinker::Isolated if settings.enable_global_virtual_store == Some(true) => {
            Some("enableGlobalVirtualStore: true")
        }
        NodeLinker::Isolated if !config.symlink => Some("symlink: false"),
        NodeLinker::Isolated if settings.shared_workspace_lockfile == Some(false) => {
            Some("sharedWorkspaceLockfile: false")
        }
        NodeLinker::Isolated
            if settings
                .config_dependencies
                .as_ref()
                .is_some_and(|deps| deps.as_object().is_none_or(|map| !map.is_empty())) =>
        {
            Some("configDependencies")
        }
        NodeLinker::Isolated => None,
    };
    match asked {
        None => Ok(()),
        Some(setting) => Err(CliError::new(
            "ERR_TACK_UNSUPPORTED_SETTING",
            format!(
                "`{setting}` asks for something tack does not do: tack installs pnpm's isolated \
                 layout (nodeLinker: isolated) from one shared lockfile, without config \
                 dependencies"
            ),
        )
        .with_help(
            "Install this project with pnpm (`pnpm install --frozen-lockfile`), or remove the \
             setting from pnpm-workspace.yaml, the global config.yaml, PNPM_CONFIG_* or the \
             command line. Nothing was fetched and node_modules was not touched.",
        )),
    }
}
