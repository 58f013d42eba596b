//! `package.json`: the fields an installer reads, plus the raw JSON for everything else
//! (lifecycle env vars, bins of workspace projects).

use std::path::Path;

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

use crate::error::ConfigError;

/// A parsed `package.json`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub dependencies: IndexMap<String, String>,
    #[serde(default)]
    pub dev_dependencies: IndexMap<String, String>,
    #[serde(default)]
    pub optional_dependencies: IndexMap<String, String>,
    #[serde(default)]
    pub peer_dependencies: IndexMap<String, String>,
    #[serde(default)]
    pub dependencies_meta: IndexMap<String, Value>,
    /// A string (single bin named after the package) or a map of name → path.
    #[serde(default)]
    pub bin: Option<Value>,
    #[serde(default)]
    pub directories: Option<Value>,
    #[serde(default)]
    pub scripts: IndexMap<String, String>,
    #[serde(default)]
    pub engines: IndexMap<String, String>,
    #[serde(default)]
    pub os: Option<Vec<String>>,
    #[serde(default)]
    pub cpu: Option<Vec<String>>,
    #[serde(default)]
    pub libc: Option<Vec<String>>,
    #[serde(default)]
    pub publish_config: Option<Value>,
    /// The whole document as written.
    #[serde(skip)]
    pub raw: Value,
}

impl Manifest {
    /// Parses manifest text; `path` names the file in errors.
    pub fn from_str(text: &str, path: &Path) -> Result<Manifest, ConfigError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let invalid = |err: serde_json::Error| ConfigError::InvalidManifest {
            path: path.to_path_buf(),
            line: err.line(),
            column: err.column(),
            message: err.to_string(),
        };
        let raw: Value = serde_json::from_str(text).map_err(invalid)?;
        let mut manifest: Manifest =
            Manifest::deserialize(&raw).map_err(|err| ConfigError::InvalidManifest {
                path: path.to_path_buf(),
                line: 0,
                column: 0,
                message: err.to_string(),
            })?;
        manifest.raw = raw;
        Ok(manifest)
    }

    /// `publishConfig.directory`, compared with the lockfile's `publishDirectory`.
    pub fn publish_directory(&self) -> Option<&str> {
        self.publish_config
            .as_ref()
            .and_then(|c| c.get("directory"))
            .and_then(Value::as_str)
    }

    /// Whether the project declares any dependency at all.
    pub fn has_dependencies(&self) -> bool {
        !(self.dependencies.is_empty()
            && self.dev_dependencies.is_empty()
            && self.optional_dependencies.is_empty()
            && self.peer_dependencies.is_empty())
    }
}

/// Reads and parses the `package.json` at `path`.
pub fn read_manifest(path: &Path) -> Result<Manifest, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Manifest::from_str(&text, path)
}

impl Manifest {
    /// pnpm 12's warning for a `pnpm` field, which it no longer reads (its settings moved to
    /// `pnpm-workspace.yaml`): `None` without one.
    pub fn ignored_pnpm_field_warning(&self) -> Option<String> {
        let keys: Vec<String> = self
            .raw
            .get("pnpm")?
            .as_object()?
            .keys()
            .map(|key| format!("\"pnpm.{key}\""))
            .collect();
        (!keys.is_empty()).then(|| {
            format!(
                "The \"pnpm\" field in package.json is no longer read by pnpm. The following keys \
                 were ignored: {}. See https://pnpm.io/settings for the new home of each setting.",
                keys.join(", ")
            )
        })
    }
}
