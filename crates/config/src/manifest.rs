//! `package.json`: the fields an installer reads, plus the raw JSON for everything else
//! (lifecycle env vars, bins of workspace projects).

use std::path::Path;

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

use crate::error::ConfigError;

/// A parsed `package.json`. A field of another type than npm's (`"engines": "node >= 4"`,
/// `"version": 1`, `"optionalDependencies": null`, a script that is a number) is read as
/// absent, or a map as its string entries, as pnpm 12 reads it: such a manifest installs.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    #[serde(default, deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub version: Option<String>,
    #[serde(default, deserialize_with = "string_map")]
    pub dependencies: IndexMap<String, String>,
    #[serde(default, deserialize_with = "string_map")]
    pub dev_dependencies: IndexMap<String, String>,
    #[serde(default, deserialize_with = "string_map")]
    pub optional_dependencies: IndexMap<String, String>,
    #[serde(default, deserialize_with = "string_map")]
    pub peer_dependencies: IndexMap<String, String>,
    /// As written: pnpm 12 compares it with the lockfile's whole, so a value that is no object
    /// (`[]`, `1`) makes the lockfile outdated instead of reading as absent. `null` is absent.
    #[serde(default)]
    pub dependencies_meta: Option<Value>,
    /// A string (single bin named after the package) or a map of name → path.
    #[serde(default)]
    pub bin: Option<Value>,
    #[serde(default)]
    pub directories: Option<Value>,
    #[serde(default, deserialize_with = "string_map")]
    pub scripts: IndexMap<String, String>,
    #[serde(default, deserialize_with = "string_map")]
    pub engines: IndexMap<String, String>,
    #[serde(default, deserialize_with = "lenient")]
    pub os: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient")]
    pub cpu: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient")]
    pub libc: Option<Vec<String>>,
    #[serde(default)]
    pub publish_config: Option<Value>,
    /// The whole document as written.
    #[serde(skip)]
    pub raw: Value,
}

/// The field as `T`, or `T`'s default when it has another type.
fn lenient<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned + Default,
{
    let value = Value::deserialize(deserializer)?;
    Ok(T::deserialize(value).unwrap_or_default())
}

/// The string entries of an object field; nothing for another type.
fn string_map<'de, D>(deserializer: D) -> Result<IndexMap<String, String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(match Value::deserialize(deserializer)? {
        Value::Object(map) => map
            .into_iter()
            .filter_map(|(key, value)| match value {
                Value::String(text) => Some((key, text)),
                _ => None,
            })
            .collect(),
        _ => IndexMap::new(),
    })
}

impl Manifest {
    /// Parses manifest text; `path` names the file in errors.
    pub fn from_str(text: &str, path: &Path) -> Result<Manifest, ConfigError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let invalid = |err: serde_json::Error| ConfigError::InvalidManifest {
            path: path.to_path_buf(),
            line: err.line(),
            column: err.column(),
            // serde_json's text ends with the position, which the error prints on its own.
            message: err
                .to_string()
                .trim_end_matches(&format!(" at line {} column {}", err.line(), err.column()))
                .to_string(),
        };
        let raw: Value = serde_json::from_str(text).map_err(invalid)?;
        if !raw.is_object() {
            return Err(ConfigError::ManifestNotObject {
                path: path.to_path_buf(),
            });
        }
        // Every field is read leniently, so only a document that is no object fails here.
        let mut manifest: Manifest =
            Manifest::deserialize(&raw).map_err(|_| ConfigError::ManifestNotObject {
                path: path.to_path_buf(),
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

/// [`read_manifest`], with the file's stamp taken before the read and digested from the bytes
/// read ([`crate::input_stamp::read_stamped`]): what the workspace state records of it.
pub fn read_manifest_stamped(
    path: &Path,
) -> Result<(Manifest, crate::input_stamp::FileStamp), ConfigError> {
    let io = |source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    };
    let (bytes, stamp) = crate::input_stamp::read_stamped(path).map_err(io)?;
    let text = String::from_utf8(bytes)
        .map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    Ok((Manifest::from_str(&text, path)?, stamp))
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
