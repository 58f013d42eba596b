//! Settings that ask for a `node_modules` layout tack does not build. tack builds pnpm's
//! isolated layout only; a project that asks for pnpm's hoisted or Plug'n'Play layout, for the
//! global virtual store, or for no symlinks would otherwise get an isolated tree it did not ask
//! for (these settings used to be read and ignored). Such an install is refused before anything
//! is read from the lockfile, fetched or written.

use tack_config::{Config, NodeLinker};

use crate::error::CliError;

/// `Err` naming the first setting of `config` that asks for a layout tack does not build.
pub fn refuse_unsupported_layout(config: &Config) -> Result<(), CliError> {
    let asked = match config.node_linker {
        NodeLinker::Hoisted => Some("nodeLinker: hoisted"),
        NodeLinker::Pnp => Some("nodeLinker: pnp"),
        NodeLinker::Isolated if config.settings.enable_global_virtual_store == Some(true) => {
            Some("enableGlobalVirtualStore: true")
        }
        NodeLinker::Isolated if !config.symlink => Some("symlink: false"),
        NodeLinker::Isolated => None,
    };
    match asked {
        None => Ok(()),
        Some(setting) => Err(CliError::new(
            "ERR_TACK_UNSUPPORTED_LAYOUT",
            format!(
                "`{setting}` asks for a node_modules layout tack does not build: tack builds \
                 pnpm's isolated layout (nodeLinker: isolated) only"
            ),
        )
        .with_help(
            "Install this project with pnpm (`pnpm install --frozen-lockfile`), or remove the \
             setting from pnpm-workspace.yaml, the global config.yaml, PNPM_CONFIG_* or the \
             command line. Nothing was fetched and node_modules was not touched.",
        )),
    }
}
