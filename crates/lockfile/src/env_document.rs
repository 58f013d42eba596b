//! pnpm 11's "env lockfile": the first YAML document of `pnpm-lock.yaml`, which locks the
//! workspace's config dependencies (`configDependencies` in `pnpm-workspace.yaml`) apart from
//! the project's own packages (§1.1).
//!
//! The main reader skips it; config dependencies are installed before anything else, from
//! this document alone, so it is read on its own and only when a workspace has any.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::LockfileError;
use crate::read::{broken, parse_options};
use crate::resolution::Resolution;

/// The env document: what each config dependency is locked to, and where its bytes are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvLockfile {
    /// `importers['.'].configDependencies`: name → locked specifier and version.
    pub config_dependencies: BTreeMap<String, LockedConfigDependency>,
    /// `packages`: `name@version` → its resolution.
    pub packages: BTreeMap<String, Resolution>,
}

/// One entry of `importers['.'].configDependencies`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LockedConfigDependency {
    /// What `pnpm-workspace.yaml` asked for when the lockfile was written.
    pub specifier: String,
    /// The version it was locked to.
    pub version: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDocument {
    #[serde(default)]
    importers: BTreeMap<String, RawImporter>,
    #[serde(default)]
    packages: BTreeMap<String, RawPackage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawImporter {
    #[serde(default)]
    config_dependencies: BTreeMap<String, LockedConfigDependency>,
}

#[derive(Deserialize)]
struct RawPackage {
    resolution: Resolution,
}

impl EnvLockfile {
    /// The env document of the lockfile at `path`: `Ok(None)` when there is no lockfile or it
    /// starts with no env document.
    pub fn read_from_path(path: &Path) -> Result<Option<EnvLockfile>, LockfileError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(LockfileError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        EnvLockfile::from_lockfile_text(&text, path)
    }

    /// The env document of lockfile text; `path_for_errors` only names the file in errors.
    pub fn from_lockfile_text(
        text: &str,
        path_for_errors: &Path,
    ) -> Result<Option<EnvLockfile>, LockfileError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let text: std::borrow::Cow<'_, str> = if text.contains('\r') {
            text.replace("\r\n", "\n").into()
        } else {
            text.into()
        };
        let Some(body) = text.strip_prefix("---\n") else {
            return Ok(None);
        };
        let document = match body.find("\n---\n") {
            Some(end) => &body[..end + 1],
            None => body,
        };
        let raw: RawDocument = serde_saphyr::from_str_with_options(document, parse_options())
            .map_err(|err| broken(path_for_errors, &err, 1))?;
        let config_dependencies = raw
            .importers
            .into_iter()
            .find(|(id, _)| id == ".")
            .map(|(_, importer)| importer.config_dependencies)
            .unwrap_or_default();
        let packages = raw
            .packages
            .into_iter()
            .map(|(key, package)| (key, package.resolution))
            .collect();
        Ok(Some(EnvLockfile {
            config_dependencies,
            packages,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCKFILE: &str = "---\nlockfileVersion: '9.0'\n\nimporters:\n\n  .:\n    configDependencies:\n      '@scope/pnpm-plugin-x':\n        specifier: 1.0.0\n        version: 1.0.0\n      tack-config:\n        specifier: ^2.0.0\n        version: 2.1.0\n\npackages:\n\n  '@scope/pnpm-plugin-x@1.0.0':\n    resolution: {integrity: sha512-AAAA}\n\n  tack-config@2.1.0:\n    resolution: {integrity: sha512-BBBB, tarball: https://example.invalid/t.tgz}\n\nsnapshots:\n\n  '@scope/pnpm-plugin-x@1.0.0': {}\n\n  tack-config@2.1.0: {}\n\n---\nlockfileVersion: '9.0'\n\nimporters:\n\n  .: {}\n";

    #[test]
    fn reads_the_locked_config_dependencies_and_their_resolutions() {
        let env = EnvLockfile::from_lockfile_text(LOCKFILE, Path::new("pnpm-lock.yaml"))
            .expect("parses")
            .expect("has an env document");
        assert_eq!(
            env.config_dependencies["tack-config"],
            LockedConfigDependency {
                specifier: "^2.0.0".into(),
                version: "2.1.0".into()
            }
        );
        assert_eq!(
            env.packages["@scope/pnpm-plugin-x@1.0.0"],
            Resolution::Registry {
                integrity: "sha512-AAAA".into()
            }
        );
        assert_eq!(
            env.packages["tack-config@2.1.0"].integrity(),
            Some("sha512-BBBB")
        );
    }

    #[test]
    fn a_lockfile_without_an_env_document_has_none() {
        let main_only = "lockfileVersion: '9.0'\n\nimporters:\n\n  .: {}\n";
        let env = EnvLockfile::from_lockfile_text(main_only, Path::new("pnpm-lock.yaml"));
        assert_eq!(env.expect("parses"), None);
    }

    #[test]
    fn a_broken_env_document_names_its_line() {
        let broken =
            "---\nimporters:\n  .:\n    configDependencies: [\n---\nlockfileVersion: '9.0'\n";
        let err = EnvLockfile::from_lockfile_text(broken, Path::new("pnpm-lock.yaml"))
            .expect_err("refused");
        assert_eq!(err.code(), "ERR_PNPM_BROKEN_LOCKFILE");
        assert!(err.to_string().contains("pnpm-lock.yaml"), "{err}");
    }
}
