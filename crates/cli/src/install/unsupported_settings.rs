//! Settings that ask for something tack does not do. tack builds pnpm's isolated and hoisted
//! layouts from one shared lockfile; a project that asks for pnpm's Plug'n'Play layout, for
//! no symlinks, for a lockfile per project, or for config
//! dependencies (installed into `node_modules/.pnpm-config` before anything else), or for
//! another store index, no lockfile or no `node_modules` would otherwise get a tree it did not
//! ask for: these settings used to be read and ignored. Such an
//! install is refused before anything is read from the lockfile, fetched or written.

use std::path::Path;

use serde_json::Value;
use tack_config::{Config, NodeLinker};

use crate::error::CliError;

/// The first setting (of any layer, see [`Config::layout_requests`]) that pnpm 12 applies
/// and tack does not, with a value that changes what is installed or where: another store
/// index format, no direct links, no `node_modules`, no lockfile, a lockfile elsewhere than
/// the workspace root, modules directories per project.
fn layout_changing_key(
    raw: &serde_json::Map<String, Value>,
    workspace_root: &Path,
) -> Option<&'static str> {
    let is = |key: &str, wanted: &Value| raw.get(key) == Some(wanted);
    let set = |key: &str| raw.get(key).is_some_and(|value| !value.is_null());
    if raw
        .get("storeIndexFormat")
        .is_some_and(|format| format != "sqlite")
    {
        return Some("storeIndexFormat");
    }
    // pnpm 12's experimental lockfile format, which tack neither reads nor writes.
    if raw
        .get("lockfile")
        .and_then(|options| options.get("format"))
        .is_some_and(|format| format != "v9")
    {
        return Some("lockfile.format");
    }
    [
        (
            "virtualStoreOnly: true",
            is("virtualStoreOnly", &Value::Bool(true)),
        ),
        (
            "enableModulesDir: false",
            is("enableModulesDir", &Value::Bool(false)),
        ),
        ("useLockfile: false", is("useLockfile", &Value::Bool(false))),
        ("packageLock: false", is("packageLock", &Value::Bool(false))),
        (
            "lockfileDir",
            set("lockfileDir")
                && raw
                    .get("lockfileDir")
                    .and_then(Value::as_str)
                    .is_none_or(|dir| Path::new(dir) != workspace_root),
        ),
        (
            "virtualStoreType: global",
            is("virtualStoreType", &Value::from("global")),
        ),
        (
            "modulesDirsByProjectName",
            raw.get("modulesDirsByProjectName")
                .and_then(Value::as_object)
                .is_some_and(|map| !map.is_empty()),
        ),
    ]
    .into_iter()
    .find_map(|(name, asked)| asked.then_some(name))
}

/// `hoistingLimits` as some layer sets it: `Err` for a value pnpm 12 refuses to load.
fn hoisting_limits(raw: &serde_json::Map<String, Value>) -> Result<Option<&str>, CliError> {
    match raw.get("hoistingLimits") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(limit))
            if matches!(limit.as_str(), "none" | "workspaces" | "dependencies") =>
        {
            Ok(Some(limit))
        }
        Some(other) => Err(CliError::new(
            "ERR_PNPM_INVALID_SETTING",
            format!(
                "hoistingLimits: {other} is not a valid value: expected one of none, workspaces, \
                 dependencies"
            ),
        )
        .with_help("Fix the setting in pnpm-workspace.yaml (or where it is set) and try again.")),
    }
}

/// `Err` naming the first setting of `config` that asks for something tack does not do.
pub fn refuse_unsupported_settings(config: &Config) -> Result<(), CliError> {
    let settings = &config.settings;
    let limits = hoisting_limits(&config.layout_requests)?;
    let asked = match config.node_linker {
        NodeLinker::Pnp => Some("nodeLinker: pnp"),
        // The hoisted layout with its hoisting stopped at the projects or at every direct
        // dependency; the isolated layout does not read the setting.
        NodeLinker::Hoisted if limits == Some("workspaces") => Some("hoistingLimits: workspaces"),
        NodeLinker::Hoisted if limits == Some("dependencies") => {
            Some("hoistingLimits: dependencies")
        }
        NodeLinker::Isolated if !config.symlink => Some("symlink: false"),
        _ if settings.shared_workspace_lockfile == Some(false) => {
            Some("sharedWorkspaceLockfile: false")
        }
        _ if settings.lockfile == Some(false) => Some("lockfile: false"),
        _ => layout_changing_key(&config.layout_requests, &config.workspace_root),
    };
    match asked {
        None => Ok(()),
        Some(setting) => Err(CliError::new(
            "ERR_TACK_UNSUPPORTED_SETTING",
            format!(
                "`{setting}` asks for something tack does not do: tack installs pnpm's isolated \
                 and hoisted layouts (nodeLinker: isolated or hoisted) from one shared \
                 lockfile"
            ),
        )
        .with_help(
            "Install this project with pnpm (`pnpm install --frozen-lockfile`), or remove the \
             setting from pnpm-workspace.yaml, the global config.yaml, PNPM_CONFIG_* or the \
             command line. Nothing was fetched and node_modules was not touched.",
        )),
    }
}
