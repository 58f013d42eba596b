//! `pnpm-workspace.yaml`: the project globs and, since pnpm 10, nearly every setting. The same
//! format is the machine's global `config.yaml`. Keys pnpm 12 would not take from the file are
//! reported as pnpm 12 reports them ([`crate::workspace_keys`]).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{ConfigError, Warning};
use crate::settings::{Settings, GLOBAL_ONLY_KEYS, NON_SETTING_KEYS, SETTING_KEYS};
use crate::workspace_keys::{self, KeyVerdict};

/// pnpm's workspace manifest file name.
pub const WORKSPACE_MANIFEST_FILENAME: &str = "pnpm-workspace.yaml";

/// A parsed `pnpm-workspace.yaml`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkspaceManifest {
    /// Where it was read from.
    pub path: PathBuf,
    /// `packages:` globs, including `!` negations, as written.
    pub packages: Vec<String>,
    /// The settings it sets.
    pub settings: Settings,
    /// The `lockfile:` map of pnpm 12 (`format`, `integrityTarget`), when present.
    pub lockfile_options: Option<Value>,
    /// The whole document.
    pub raw: Map<String, Value>,
    /// The file's stamp, taken as it was read ([`crate::input_stamp`]); `None` for a document
    /// not read from its file here.
    pub stamp: Option<crate::input_stamp::FileStamp>,
}

/// Whose file it is: it decides which settings it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestScope {
    /// A project's `pnpm-workspace.yaml`: machine settings (`stateDir`, `ci`, …) are ignored.
    Project,
    /// The machine's global `config.yaml`.
    Global,
}

impl WorkspaceManifest {
    /// Parses `text`; keys it cannot hold are reported in `warnings`.
    pub fn from_str(
        text: &str,
        path: &Path,
        scope: ManifestScope,
        warnings: &mut Vec<Warning>,
    ) -> Result<WorkspaceManifest, ConfigError> {
        let raw = parse_yaml(text, path)?;
        let source_name = path.display().to_string();
        let mut settings_map = Map::new();
        let mut packages = Vec::new();
        let mut lockfile_options = None;
        let mut rejected = Vec::new();
        let mut not_applied = Vec::new();
        for (key, value) in &raw {
            match admit(scope, key) {
                Admission::Read => {}
                Admission::Rejected(verdict) => {
                    rejected.push((key.clone(), verdict));
                    continue;
                }
                Admission::NotGlobal => {
                    warnings.push(Warning::new(
                        "ERR_TACK_UNKNOWN_SETTING",
                        format!(
                            "{source_name}: the key \"{key}\" isn't supported by the global \
                             config.yaml file and is ignored, as by pnpm 12. Set it in the \
                             project's pnpm-workspace.yaml instead"
                        ),
                    ));
                    continue;
                }
            }
            match key.as_str() {
                "packages" => {
                    packages = serde_json::from_value(value.clone()).map_err(|err| {
                        ConfigError::InvalidSetting {
                            source_name: source_name.clone(),
                            key: key.clone(),
                            message: err.to_string(),
                        }
                    })?;
                }
                "lockfile" if value.is_object() => lockfile_options = Some(value.clone()),
                _ if SETTING_KEYS.contains(&key.as_str()) => {
                    settings_map.insert(key.clone(), value.clone());
                }
                _ if NON_SETTING_KEYS.contains(&key.as_str()) => {}
                // A key pnpm 12 applies to an install that tack does not apply.
                _ if workspace_keys::is_not_applied(key) => not_applied.push(key.clone()),
                // A key pnpm 12 accepts that has nothing to do with an install (`savePrefix`,
                // `$schema`, `auditConfig`, …).
                _ => {}
            }
        }
        let file_name = path.file_name().map_or_else(
            || source_name.clone(),
            |name| name.to_string_lossy().into_owned(),
        );
        warnings.extend(workspace_keys::warnings_for(&rejected, &file_name));
        if !not_applied.is_empty() {
            warnings.push(workspace_keys::not_applied_warning(
                &not_applied,
                &file_name,
            ));
        }
        let settings = Settings::from_map(settings_map, &source_name)?;
        Ok(WorkspaceManifest {
            path: path.to_path_buf(),
            packages,
            settings,
            lockfile_options,
            raw,
            stamp: None,
        })
    }

    /// Reads `<dir>/pnpm-workspace.yaml`; `Ok(None)` when there is none.
    pub fn read_from_dir(
        dir: &Path,
        warnings: &mut Vec<Warning>,
    ) -> Result<Option<WorkspaceManifest>, ConfigError> {
        let path = dir.join(WORKSPACE_MANIFEST_FILENAME);
        match crate::input_stamp::read_stamped(&path) {
            Ok((bytes, stamp)) => {
                let text = String::from_utf8(bytes).map_err(|e| ConfigError::Io {
                    path: path.clone(),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                })?;
                let mut manifest =
                    WorkspaceManifest::from_str(&text, &path, ManifestScope::Project, warnings)?;
                manifest.stamp = Some(stamp);
                Ok(Some(manifest))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ConfigError::Io { path, source }),
        }
    }
}

/// The document as a map; an empty file is an empty map.
fn parse_yaml(text: &str, path: &Path) -> Result<Map<String, Value>, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    // YAML 1.2's booleans only, as the `yaml` package pnpm reads these files with: `off`,
    // `no` and `yes` are strings (`trustPolicy: off`).
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    let raw: Option<Map<String, Value>> = serde_saphyr::from_str_with_options(text, options)
        .map_err(|err| {
            let (line, column) = err.location().map_or((0, 0), |l| (l.line(), l.column()));
            ConfigError::InvalidWorkspaceYaml {
                path: path.to_path_buf(),
                line,
                column,
                message: err.to_string().lines().next().unwrap_or("").to_string(),
            }
        })?;
    Ok(raw.unwrap_or_default())
}

/// Whether a top-level key is read, by the file's scope.
enum Admission {
    /// Read (a setting tack reads, or a key pnpm 12 accepts there).
    Read,
    /// Not read from a project file, for this reason.
    Rejected(KeyVerdict),
    /// Not read from the global `config.yaml`.
    NotGlobal,
}

fn admit(scope: ManifestScope, key: &str) -> Admission {
    match scope {
        ManifestScope::Global if workspace_keys::is_global_setting(key) => Admission::Read,
        ManifestScope::Global => Admission::NotGlobal,
        ManifestScope::Project
            if SETTING_KEYS.contains(&key) && !GLOBAL_ONLY_KEYS.contains(&key) =>
        {
            Admission::Read
        }
        ManifestScope::Project => match workspace_keys::judge(key) {
            KeyVerdict::Accepted => Admission::Read,
            verdict => Admission::Rejected(verdict),
        },
    }
}

/// The nearest ancestor of `start` (inclusive) holding a `pnpm-workspace.yaml`.
pub fn find_workspace_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join(WORKSPACE_MANIFEST_FILENAME).is_file())
        .map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_settings_and_warns_on_unknown_keys() {
        let text =
            "packages:\n  - 'packages/*'\n  - '!**/test/**'\nnodeLinker: hoisted\nhoist: false\n\
                    catalog:\n  react: 18\noverrides:\n  foo: 1.0.0\nnodeLinkr: typo\n\
                    supportedArchitectures:\n  os: [current, linux]\nlockfile:\n  format: v13\n";
        let mut warnings = Vec::new();
        let ws = WorkspaceManifest::from_str(
            text,
            Path::new("/w/pnpm-workspace.yaml"),
            ManifestScope::Project,
            &mut warnings,
        )
        .unwrap();
        assert_eq!(ws.packages, vec!["packages/*", "!**/test/**"]);
        assert_eq!(ws.settings.node_linker.as_deref(), Some("hoisted"));
        assert_eq!(ws.settings.hoist, Some(false));
        assert_eq!(ws.settings.catalog.as_ref().unwrap()["react"], "18");
        assert_eq!(
            ws.settings.supported_architectures.unwrap().os.unwrap(),
            vec!["current", "linux"]
        );
        assert!(ws.lockfile_options.is_some());
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].message.contains("nodeLinkr"));
    }

    #[test]
    fn a_project_file_ignores_machine_settings_and_passes_keys_pnpm_accepts() {
        let text = "$schema: x\nsavePrefix: '~'\nstateDir: /s\nstoreDir: /st\nci: true\n\
                    registry: http://r.test/\n";
        let mut warnings = Vec::new();
        let path = Path::new("/w/pnpm-workspace.yaml");
        let ws =
            WorkspaceManifest::from_str(text, path, ManifestScope::Project, &mut warnings).unwrap();
        assert_eq!(ws.settings.state_dir, None);
        assert_eq!(ws.settings.store_dir.as_deref(), Some("/st"));
        assert_eq!(ws.settings.registry.as_deref(), Some("http://r.test/"));
        let messages: Vec<&str> = warnings.iter().map(|w| w.message.as_str()).collect();
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(messages[0].starts_with(
            "The following settings cannot be set in a project's pnpm-workspace.yaml and were \
             ignored: \"stateDir\" (Set it for the machine instead"
        ));
        assert!(messages[0].contains("\"ci\""), "{messages:?}");

        let mut warnings = Vec::new();
        let global =
            WorkspaceManifest::from_str(text, path, ManifestScope::Global, &mut warnings).unwrap();
        assert_eq!(global.settings.state_dir.as_deref(), Some("/s"));
    }

    #[test]
    fn settings_pnpm_applies_and_tack_does_not_are_named_in_one_warning() {
        let text = "extraEnv:\n  A: b\nnodeOptions: --x\nsavePrefix: '~'\n";
        let mut warnings = Vec::new();
        let path = Path::new("/w/pnpm-workspace.yaml");
        WorkspaceManifest::from_str(text, path, ManifestScope::Project, &mut warnings).unwrap();
        let messages: Vec<&str> = warnings.iter().map(|w| w.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "The following settings in pnpm-workspace.yaml are not applied by tack and were \
              ignored: \"extraEnv\", \"nodeOptions\". Install with pnpm where they matter"
            ]
        );
    }

    #[test]
    fn the_global_config_takes_only_the_settings_pnpm_takes_from_it() {
        let text = "nodeLinker: hoisted\nstoreDir: /st\npublicHoistPattern: ['*x*']\n\
                    color: always\nloglevel: warn\n";
        let mut warnings = Vec::new();
        let path = Path::new("/h/.config/pnpm/config.yaml");
        let global =
            WorkspaceManifest::from_str(text, path, ManifestScope::Global, &mut warnings).unwrap();
        assert_eq!(global.settings.node_linker, None);
        assert_eq!(global.settings.public_hoist_pattern, None);
        assert_eq!(global.settings.store_dir.as_deref(), Some("/st"));
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0]
            .message
            .contains("\"nodeLinker\" isn't supported by the global"));
    }

    #[test]
    fn yaml_errors_name_line() {
        let mut warnings = Vec::new();
        let err = WorkspaceManifest::from_str(
            "packages:\n  - a\nhoist: [\n",
            Path::new("/w/pnpm-workspace.yaml"),
            ManifestScope::Project,
            &mut warnings,
        )
        .unwrap_err();
        assert_eq!(err.code(), "ERR_PNPM_INVALID_SETTING");
        assert!(err.to_string().contains("/w/pnpm-workspace.yaml"), "{err}");
        let ConfigError::InvalidWorkspaceYaml { line, .. } = err else {
            panic!()
        };
        assert!(line >= 3);
    }

    #[test]
    fn wrong_type_names_key() {
        let mut warnings = Vec::new();
        let err = WorkspaceManifest::from_str(
            "hoist: maybe\n",
            Path::new("pnpm-workspace.yaml"),
            ManifestScope::Project,
            &mut warnings,
        )
        .unwrap_err();
        assert!(err.to_string().contains("`hoist`"), "{err}");
    }
}
