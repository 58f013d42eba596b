//! `configDependencies` of `pnpm-workspace.yaml`: packages pnpm installs before anything else,
//! without dependencies or scripts, into `node_modules/.pnpm-config/<name>`, so that settings
//! can point at files they ship (patches, pnpmfiles) on a fresh checkout.
//!
//! This module reads what the workspace declares and where pnpm looks for what a config
//! dependency provides; fetching and linking them is the installer's job. pnpm 12 accepts
//! three forms of a declaration:
//! - a specifier, `name: 1.0.0`, whose version and integrity the lockfile's env document holds;
//! - a pinned version, `name: "1.0.0+sha512-…"` (pnpm 10's form);
//! - an object, `name: {integrity: "1.0.0+sha512-…", tarball: <url>}`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::ConfigError;
use crate::Config;

/// Where config dependencies are linked, below the lockfile's directory.
pub const CONFIG_MODULES_DIR: &str = "node_modules/.pnpm-config";

/// The pnpmfiles a plugin config dependency may ship, in pnpm 12's order of preference.
const PLUGIN_PNPMFILES: [&str; 2] = ["pnpmfile.mjs", "pnpmfile.cjs"];

/// One declared config dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigDependency {
    /// `name` or `@scope/name`.
    pub name: String,
    /// What the declaration asks for.
    pub wanted: WantedConfigDependency,
}

/// The right-hand side of a declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WantedConfigDependency {
    /// A specifier the lockfile resolved (`1.0.0`).
    Specifier(String),
    /// A version and integrity given in place, and optionally the tarball's URL.
    Pinned {
        version: String,
        integrity: String,
        tarball: Option<String>,
    },
}

/// The declared config dependencies, sorted by name; empty when there are none.
pub fn config_dependencies(config: &Config) -> Result<Vec<ConfigDependency>, ConfigError> {
    let Some(declared) = &config.settings.config_dependencies else {
        return Ok(Vec::new());
    };
    let Some(map) = declared.as_object() else {
        return Err(invalid(
            "configDependencies",
            "it is not a map of names to versions",
        ));
    };
    let mut deps = Vec::with_capacity(map.len());
    for (name, value) in map {
        if !is_valid_name(name) {
            return Err(ConfigError::InvalidConfigDependencyName { name: name.clone() });
        }
        let wanted = match value {
            Value::String(text) => parse_text(name, text)?,
            Value::Object(fields) => {
                let integrity = fields.get("integrity").and_then(Value::as_str);
                let tarball = fields.get("tarball").and_then(Value::as_str);
                match integrity.map(|text| parse_text(name, text)).transpose()? {
                    Some(WantedConfigDependency::Pinned {
                        version, integrity, ..
                    }) => WantedConfigDependency::Pinned {
                        version,
                        integrity,
                        tarball: tarball.map(str::to_string),
                    },
                    _ => {
                        return Err(invalid(
                            name,
                            "its object has no `integrity: <version>+<integrity>`",
                        ))
                    }
                }
            }
            _ => {
                return Err(invalid(
                    name,
                    "its value is neither a version nor an object",
                ))
            }
        };
        deps.push(ConfigDependency {
            name: name.clone(),
            wanted,
        });
    }
    deps.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(deps)
}

/// `1.0.0` or `1.0.0+sha512-…`: the integrity starts at the last `+` followed by a hash
/// algorithm's name, so that a version's own build metadata (`1.0.0+build.5`) stays in it.
fn parse_text(name: &str, text: &str) -> Result<WantedConfigDependency, ConfigError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(invalid(name, "its version is empty"));
    }
    let pinned = text.match_indices('+').rev().find_map(|(at, _)| {
        let integrity = &text[at + 1..];
        ["sha512-", "sha384-", "sha256-", "sha1-"]
            .iter()
            .any(|algorithm| integrity.starts_with(algorithm))
            .then(|| (&text[..at], integrity))
    });
    Ok(match pinned {
        Some(("", _)) => return Err(invalid(name, "its pinned version is empty")),
        Some((version, integrity)) => WantedConfigDependency::Pinned {
            version: version.to_string(),
            integrity: integrity.to_string(),
            tarball: None,
        },
        None => WantedConfigDependency::Specifier(text.to_string()),
    })
}

fn invalid(name: &str, reason: &str) -> ConfigError {
    ConfigError::InvalidConfigDependency {
        name: name.to_string(),
        reason: reason.to_string(),
    }
}

/// An npm package name that is safe as a path below `.pnpm-config`: `name` or `@scope/name`,
/// no `.`-led or empty segment, no separator beyond the scope's.
fn is_valid_name(name: &str) -> bool {
    let segment = |s: &str| {
        !s.is_empty() && !s.starts_with('.') && !s.contains(['\\', '\0', '/']) && s.len() <= 214
    };
    match name.strip_prefix('@') {
        Some(scoped) => scoped
            .split_once('/')
            .is_some_and(|(scope, rest)| segment(scope) && segment(rest)),
        None => segment(name),
    }
}

/// Whether pnpm loads the pnpmfile of a config dependency so named: `pnpm-plugin-*`,
/// `@pnpm/plugin-*` and `@<scope>/pnpm-plugin-*`.
pub fn is_plugin(name: &str) -> bool {
    name.starts_with("pnpm-plugin-")
        || name.starts_with("@pnpm/plugin-")
        || (name.starts_with('@') && name.contains("/pnpm-plugin-"))
}

/// `node_modules/.pnpm-config` of the workspace.
pub fn config_modules_dir(config: &Config) -> PathBuf {
    config.lockfile_dir.join(CONFIG_MODULES_DIR)
}

/// The pnpmfiles of the installed plugin config dependencies, by name: each plugin's
/// `pnpmfile.mjs`, else its `pnpmfile.cjs`; a plugin without either (or not installed) adds
/// none. pnpm loads them before the workspace's own pnpmfile, and hashes them with it into the
/// lockfile's `pnpmfileChecksum`.
pub fn plugin_pnpmfiles(config: &Config) -> Vec<PathBuf> {
    let Some(map) = config
        .settings
        .config_dependencies
        .as_ref()
        .and_then(Value::as_object)
    else {
        return Vec::new();
    };
    let dir = config_modules_dir(config);
    let mut names: Vec<&String> = map
        .keys()
        .filter(|name| is_valid_name(name) && is_plugin(name))
        .collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|name| plugin_pnpmfile(&dir.join(name)))
        .collect()
}

fn plugin_pnpmfile(package_dir: &Path) -> Option<PathBuf> {
    PLUGIN_PNPMFILES
        .iter()
        .map(|file| package_dir.join(file))
        .find(|path| path.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_version_keeps_its_build_metadata() {
        assert_eq!(
            parse_text("x", "1.0.0+build.5+sha512-AAAA").expect("parses"),
            WantedConfigDependency::Pinned {
                version: "1.0.0+build.5".into(),
                integrity: "sha512-AAAA".into(),
                tarball: None
            }
        );
        assert_eq!(
            parse_text("x", "1.0.0+build.5").expect("parses"),
            WantedConfigDependency::Specifier("1.0.0+build.5".into())
        );
    }

    #[test]
    fn plugin_names_follow_pnpm() {
        assert!(is_plugin("pnpm-plugin-foo"));
        assert!(is_plugin("@pnpm/plugin-trusted-deps"));
        assert!(is_plugin("@acme/pnpm-plugin-x"));
        assert!(!is_plugin("@pnpm/pacquet"));
        assert!(!is_plugin("my-pnpm-plugin-x"));
    }

    #[test]
    fn names_that_would_escape_the_config_modules_dir_are_invalid() {
        for bad in [
            "..", "../x", "@scope", "@/x", "@a/b/c", ".hidden", "a/b", "",
        ] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
        for good in ["x", "@a/b", "UpperCase"] {
            assert!(is_valid_name(good), "{good:?}");
        }
    }
}
