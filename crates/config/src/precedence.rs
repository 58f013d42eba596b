//! The one place where configuration sources are merged, in pnpm 11/12's order. Lowest first:
//!
//! | # | settings (`pnpm-workspace.yaml` keys)                  | registry / auth / TLS / proxy (`.npmrc` keys)                      |
//! |---|--------------------------------------------------------|--------------------------------------------------------------------|
//! | 1 | pnpm defaults ([`build_config`])                       | npm's own registry (global npmrc, then `npm config get registry`, cached) — only when no layer below sets `registry` |
//! | 2 | `<configDir>/config.yaml` (global)                     | user `~/.npmrc` (or `NPM_CONFIG_USERCONFIG` / `npm_config_userconfig` / `PNPM_CONFIG_USERCONFIG`) |
//! | 3 | `<workspace root>/pnpm-workspace.yaml`                 | `<configDir>/auth.ini`                                             |
//! | 4 | env `PNPM_CONFIG_<KEY>` / `pnpm_config_<key>`          | workspace-root `.npmrc`, then the project's `.npmrc` (project trust: no `${VAR}` in secrets/URLs) |
//! | 5 | CLI flags                                              | `registries:` in `pnpm-workspace.yaml` (pnpm 12)                   |
//! | 6 |                                                        | env `npm_config_<key>`, then `pnpm_config_<key>` (e.g. `npm_config_//host/:_authToken`) |
//! | 7 |                                                        | CLI `--registry`                                                   |
//!
//! `configDir` is `$XDG_CONFIG_HOME/pnpm` or `~/.config/pnpm`. `CI` (with no
//! `--[no-]frozen-lockfile`) makes the install frozen whenever a lockfile exists. `.npmrc` keys
//! other than the ones above are ignored, as pnpm 12 ignores them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::config::{
    Config, FrozenMode, IncludedDeps, NodeLinker, PackageImportMethod, Registries, TrustPolicy,
};
use crate::error::{ConfigError, Warning};
use crate::npmrc::{is_npmrc_key, parse_ini, Npmrc, NpmrcTrust};
use crate::registry::{normalize_registry, npm_default_registry, RegistryProbe};
use crate::settings::{env_key_to_camel, text_to_value, Settings, LIST_KEYS, SETTING_KEYS};
use crate::workspace_keys;
use crate::workspace_manifest::{find_workspace_root, ManifestScope, WorkspaceManifest};

/// pnpm's default `modulesCacheMaxAge`: a week, in minutes.
const DEFAULT_MODULES_CACHE_MAX_AGE: u64 = 7 * 24 * 60;

/// Flags given on the command line; `None`/`false` means "not given".
#[derive(Debug, Clone, Default)]
pub struct CliOverrides {
    pub store_dir: Option<PathBuf>,
    pub registry: Option<String>,
    pub offline: bool,
    pub prefer_offline: bool,
    /// `--frozen-lockfile` (`Some(true)`) / `--no-frozen-lockfile` (`Some(false)`).
    pub frozen_lockfile: Option<bool>,
    pub prefer_frozen_lockfile: Option<bool>,
    pub prod: bool,
    pub dev: bool,
    pub no_optional: bool,
    pub ignore_scripts: bool,
    pub reporter: Option<String>,
    pub node_linker: Option<String>,
    pub package_import_method: Option<String>,
    pub virtual_store_dir: Option<PathBuf>,
    pub network_concurrency: Option<usize>,
    pub child_concurrency: Option<usize>,
    /// `--os`, `--cpu`, `--libc` (they set `supportedArchitectures`).
    pub os: Vec<String>,
    pub cpu: Vec<String>,
    pub libc: Vec<String>,
    /// Any other `--config.<key>=<value>` / `--<key>=<value>` setting, by camelCase key.
    pub settings: Vec<(String, String)>,
    /// `--allow-build <name>` (`!<name>` denies): added to `allowBuilds`, over every layer.
    pub allow_build: Vec<String>,
}

/// Everything [`Config::load`] reads besides the files it finds itself.
#[derive(Default)]
pub struct ConfigInputs {
    pub cwd: PathBuf,
    /// The workspace root when already known; else the nearest ancestor with `pnpm-workspace.yaml`,
    /// else `cwd`.
    pub workspace_root: Option<PathBuf>,
    /// The process environment (passed in so tests are hermetic).
    pub env: BTreeMap<String, String>,
    pub cli: CliOverrides,
    /// Replaces `npm config get registry` (tests).
    pub npm_registry_probe: Option<RegistryProbe>,
    /// The settings the pnpmfiles' `updateConfig` hooks changed, by pnpm's names: applied over
    /// every other layer, as pnpm applies the hooks to the finished configuration.
    pub update_config: Option<Map<String, Value>>,
}

impl Config {
    /// Loads and merges every source; non-fatal problems come back as warnings.
    pub fn load(inputs: ConfigInputs) -> Result<(Config, Vec<Warning>), ConfigError> {
        let mut warnings = Vec::new();
        let env = &inputs.env;
        let home = env.get("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
        let config_dir = pnpm_config_dir(env, home.as_deref());
        let workspace_root = inputs
            .workspace_root
            .clone()
            .or_else(|| find_workspace_root(&inputs.cwd))
            .unwrap_or_else(|| inputs.cwd.clone());

        // Settings layers.
        let mut settings = Settings::default();
        let mut layout_requests = LayoutRequests::default();
        if let Some(dir) = &config_dir {
            let path = dir.join("config.yaml");
            if let Ok(text) = std::fs::read_to_string(&path) {
                let global = WorkspaceManifest::from_str(
                    &text,
                    &path,
                    ManifestScope::Global,
                    &mut warnings,
                )?;
                let accepted = global
                    .raw
                    .iter()
                    .filter(|(key, _)| workspace_keys::is_global_setting(key));
                layout_requests.take(accepted, dir);
                settings.merge(absolutize(global.settings, dir, home.as_deref()));
            }
        }
        let workspace_manifest = WorkspaceManifest::read_from_dir(&workspace_root, &mut warnings)?;
        if let Some(ws) = &workspace_manifest {
            layout_requests.take(ws.raw.iter(), &workspace_root);
            settings.merge(absolutize(
                ws.settings.clone(),
                &workspace_root,
                home.as_deref(),
            ));
        }
        // The settings files' own network settings go between the `.npmrc` files and the
        // environment; the command line's after everything.
        let file_settings = settings.clone();
        let (env_map, rejected_env) = env_settings_map(env, &mut warnings);
        let env_settings = Settings::from_map(env_map, "environment (PNPM_CONFIG_*)")?;
        settings.merge(absolutize(env_settings, &inputs.cwd, home.as_deref()));
        // A relative `--store-dir` is of the workspace root, as in pnpm 12 (observed from a
        // project directory); `PNPM_CONFIG_STORE_DIR` is of the working directory.
        layout_requests.take_env(env, &inputs.cwd);
        layout_requests.take_text(&inputs.cli.settings, &inputs.cwd);
        let cli_layer = cli_settings(&inputs.cli)?;
        settings.merge(absolutize(
            cli_layer.clone(),
            &workspace_root,
            home.as_deref(),
        ));
        for name in &inputs.cli.allow_build {
            let (name, allowed) = match name.strip_prefix('!') {
                Some(denied) => (denied, false),
                None => (name.as_str(), true),
            };
            settings
                .allow_builds
                .get_or_insert_with(IndexMap::new)
                .insert(name.to_string(), Value::Bool(allowed));
        }
        if let Some(changed) = &inputs.update_config {
            let hooked = Settings::from_map(changed.clone(), "a pnpmfile's updateConfig hook")?;
            settings.merge(absolutize(hooked, &workspace_root, home.as_deref()));
        }

        // `.npmrc` layers.
        let raw_npmrc = npmrc_layers(
            &inputs,
            NpmrcPlaces {
                workspace_root: &workspace_root,
                config_dir: config_dir.as_deref(),
                home: home.as_deref(),
            },
            SettingsLayers {
                files: &file_settings,
                cli: &cli_layer,
                rejected_env: &rejected_env,
                npmrc_auth_file: settings.npmrc_auth_file.as_deref(),
            },
            &mut warnings,
        )?;
        let registries = registries(
            &raw_npmrc,
            env,
            home.as_deref(),
            inputs.npm_registry_probe.as_ref(),
        )?;

        let ci = is_ci(env);
        let mut config = build_config(
            &inputs,
            workspace_root,
            workspace_manifest,
            settings,
            raw_npmrc,
            registries,
            ci,
        )?;
        config.layout_requests = layout_requests.0;
        Ok((config, warnings))
    }
}

/// The layers' values of [`workspace_keys::LAYOUT_REQUEST_KEYS`], merged as the settings are
/// (see [`Config::layout_requests`]).
#[derive(Default)]
struct LayoutRequests(Map<String, Value>);

impl LayoutRequests {
    /// One layer's values; a relative `lockfileDir` is of `base`.
    fn take<'a>(&mut self, layer: impl Iterator<Item = (&'a String, &'a Value)>, base: &Path) {
        for (key, value) in layer {
            if workspace_keys::LAYOUT_REQUEST_KEYS
                .binary_search(&key.as_str())
                .is_err()
            {
                continue;
            }
            let value = match (key.as_str(), value) {
                ("lockfileDir", Value::String(dir)) => {
                    Value::from(base.join(dir).display().to_string())
                }
                _ => value.clone(),
            };
            self.0.insert(key.clone(), value);
        }
    }

    /// `--config.<key>=<value>` and flags, as text.
    fn take_text(&mut self, layer: &[(String, String)], base: &Path) {
        let values: Vec<(String, Value)> = layer
            .iter()
            .map(|(key, text)| (key.clone(), text_to_value(key, text)))
            .collect();
        self.take(values.iter().map(|(key, value)| (key, value)), base);
    }

    /// `PNPM_CONFIG_<KEY>` / `pnpm_config_<key>` (pnpm 12 takes these keys from there, and not
    /// from `npm_config_*`).
    fn take_env(&mut self, env: &BTreeMap<String, String>, base: &Path) {
        let layer: Vec<(String, String)> = env
            .iter()
            .filter_map(|(name, text)| {
                let rest = strip_prefix_ci(name, "pnpm_config_")?;
                Some((env_key_to_camel(rest), text.clone()))
            })
            .collect();
        self.take_text(&layer, base);
    }
}

/// `$XDG_CONFIG_HOME/pnpm` or `~/.config/pnpm`.
fn pnpm_config_dir(env: &BTreeMap<String, String>, home: Option<&Path>) -> Option<PathBuf> {
    match env.get("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir).join("pnpm")),
        None => home.map(|h| h.join(".config/pnpm")),
    }
}

/// Resolves a layer's `storeDir` against the layer's base dir, expanding `~/`.
fn absolutize(mut settings: Settings, base: &Path, home: Option<&Path>) -> Settings {
    if let Some(dir) = &settings.store_dir {
        settings.store_dir = Some(resolve_path(dir, base, home).display().to_string());
    }
    settings
}

fn resolve_path(dir: &str, base: &Path, home: Option<&Path>) -> PathBuf {
    if let (Some(rest), Some(home)) = (dir.strip_prefix("~/"), home) {
        return home.join(rest);
    }
    if dir == "~" {
        if let Some(home) = home {
            return home.to_path_buf();
        }
    }
    base.join(dir)
}

/// Splits an env var name into its config key, for the `pnpm_config_` / `npm_config_` prefixes.
fn strip_prefix_ci<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    let head = name.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &name[prefix.len()..])
}

/// `npm_config_strict_ssl` → `strict-ssl`; `//host/:_authToken` and `@scope:registry` kept
/// verbatim.
fn npm_env_key(rest: &str) -> String {
    if rest.starts_with("//") || rest.starts_with('@') {
        return rest.to_string();
    }
    let lower = rest.to_lowercase();
    let mut key = String::with_capacity(lower.len());
    for (i, c) in lower.chars().enumerate() {
        key.push(if c == '_' && i > 0 { '-' } else { c });
    }
    match key.as_str() {
        "_authtoken" => "_authToken".to_string(),
        "tokenhelper" => "tokenHelper".to_string(),
        _ => key,
    }
}

/// `PNPM_CONFIG_<KEY>` / `pnpm_config_<key>` vars that name a setting. A value pnpm 12 would
/// not take is left out with a warning, as pnpm 12 leaves it out (observed, silently): a list
/// setting not written as a JSON array (`PNPM_CONFIG_PUBLIC_HOIST_PATTERN='["*eslint*"]'`), a
/// value of the wrong type (`PNPM_CONFIG_HOIST=maybe`).
fn env_settings_map(
    env: &BTreeMap<String, String>,
    warnings: &mut Vec<Warning>,
) -> (Map<String, Value>, Vec<String>) {
    let mut map = Map::new();
    let mut rejected = Vec::new();
    for (name, text) in env {
        let Some(rest) = strip_prefix_ci(name, "pnpm_config_") else {
            continue;
        };
        if rest.starts_with("//") || rest.starts_with('@') {
            continue;
        }
        let key = env_key_to_camel(rest);
        if !SETTING_KEYS.contains(&key.as_str()) {
            continue;
        }
        let value = if LIST_KEYS.contains(&key.as_str()) {
            match serde_json::from_str::<Value>(text.trim()) {
                Ok(list @ Value::Array(_)) => list,
                _ => {
                    warnings.push(Warning::new(
                        "ERR_TACK_INVALID_SETTING",
                        format!(
                            "{name} is ignored: `{key}` is a list, which the environment gives as \
                             a JSON array (e.g. {name}='[\"*eslint*\"]'), as for pnpm 12"
                        ),
                    ));
                    rejected.push(name.clone());
                    continue;
                }
            }
        } else {
            text_to_value(&key, text)
        };
        let fits = |value: &Value| {
            Settings::from_map(Map::from_iter([(key.clone(), value.clone())]), name)
        };
        // Text that reads as a number or a boolean is still text to a text setting
        // (`PNPM_CONFIG_STORE_DIR=123`).
        let value = match fits(&value) {
            Ok(_) => value,
            Err(_) if fits(&Value::String(text.clone())).is_ok() => Value::String(text.clone()),
            Err(err) => {
                warnings.push(Warning::new(
                    "ERR_TACK_INVALID_SETTING",
                    format!("{err}; it is ignored, as pnpm 12 ignores it"),
                ));
                rejected.push(name.clone());
                continue;
            }
        };
        map.insert(key, value);
    }
    (map, rejected)
}

/// The CLI flags as a settings layer.
fn cli_settings(cli: &CliOverrides) -> Result<Settings, ConfigError> {
    let mut map = Map::new();
    for (key, value) in &cli.settings {
        map.insert(key.clone(), text_to_value(key, value));
    }
    let mut put = |key: &str, value: Value| {
        map.insert(key.to_string(), value);
    };
    if let Some(dir) = &cli.store_dir {
        put("storeDir", Value::from(dir.display().to_string()));
    }
    if cli.offline {
        put("offline", Value::Bool(true));
    }
    if cli.prefer_offline {
        put("preferOffline", Value::Bool(true));
    }
    if let Some(frozen) = cli.frozen_lockfile {
        put("frozenLockfile", Value::Bool(frozen));
    }
    if let Some(prefer) = cli.prefer_frozen_lockfile {
        put("preferFrozenLockfile", Value::Bool(prefer));
    }
    if cli.ignore_scripts {
        put("ignoreScripts", Value::Bool(true));
    }
    if let Some(reporter) = &cli.reporter {
        put("reporter", Value::from(reporter.clone()));
    }
    if let Some(linker) = &cli.node_linker {
        put("nodeLinker", Value::from(linker.clone()));
    }
    if let Some(method) = &cli.package_import_method {
        put("packageImportMethod", Value::from(method.clone()));
    }
    if let Some(dir) = &cli.virtual_store_dir {
        put("virtualStoreDir", Value::from(dir.display().to_string()));
    }
    if let Some(n) = cli.network_concurrency {
        put("networkConcurrency", Value::from(n));
    }
    if let Some(n) = cli.child_concurrency {
        put("childConcurrency", Value::from(n));
    }
    if !(cli.os.is_empty() && cli.cpu.is_empty() && cli.libc.is_empty()) {
        let list = |items: &[String]| -> Value {
            if items.is_empty() {
                Value::Null
            } else {
                Value::from(items.to_vec())
            }
        };
        let mut arch = Map::new();
        arch.insert("os".into(), list(&cli.os));
        arch.insert("cpu".into(), list(&cli.cpu));
        arch.insert("libc".into(), list(&cli.libc));
        put("supportedArchitectures", Value::Object(arch));
    }
    Settings::from_map(map, "command line")
}

/// Where the `.npmrc` files are.
struct NpmrcPlaces<'a> {
    workspace_root: &'a Path,
    config_dir: Option<&'a Path>,
    home: Option<&'a Path>,
}

/// The settings layers that set `.npmrc` keys too.
struct SettingsLayers<'a> {
    /// The global `config.yaml` and `pnpm-workspace.yaml`, merged.
    files: &'a Settings,
    /// `--config.<key>` and the flags.
    cli: &'a Settings,
    /// `PNPM_CONFIG_*` variables whose values were left out (see [`env_settings_map`]).
    rejected_env: &'a [String],
    /// `npmrcAuthFile`, as written.
    npmrc_auth_file: Option<&'a str>,
}

/// Merges the `.npmrc` layers (rows 2–7 of the table, right column).
fn npmrc_layers(
    inputs: &ConfigInputs,
    places: NpmrcPlaces<'_>,
    layers: SettingsLayers<'_>,
    warnings: &mut Vec<Warning>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let NpmrcPlaces {
        workspace_root,
        config_dir,
        home,
    } = places;
    let env = &inputs.env;
    let mut merged = BTreeMap::new();
    let user_rc = [
        "PNPM_CONFIG_USERCONFIG",
        "pnpm_config_userconfig",
        "NPM_CONFIG_USERCONFIG",
        "npm_config_userconfig",
    ]
    .iter()
    .find_map(|k| env.get(*k).filter(|v| !v.is_empty()).map(PathBuf::from))
    // `npmrcAuthFile` of the global `config.yaml` (or the environment) names the user's
    // `.npmrc` in pnpm 12 (observed: its registry was asked, `~/.npmrc`'s not).
    .or_else(|| {
        let file = layers.npmrc_auth_file?;
        let base = config_dir.unwrap_or(&inputs.cwd);
        Some(resolve_path(file, base, home))
    })
    .or_else(|| home.map(|h| h.join(".npmrc")));
    let mut files: Vec<(PathBuf, NpmrcTrust)> = Vec::new();
    if let Some(path) = user_rc {
        files.push((path, NpmrcTrust::User));
    }
    if let Some(dir) = config_dir {
        files.push((dir.join("auth.ini"), NpmrcTrust::User));
    }
    // One project file, as pnpm 12 reads it: the workspace root's (a workspace project's own
    // `.npmrc` is not read), or the project's outside a workspace.
    files.push((workspace_root.join(".npmrc"), NpmrcTrust::Project));
    // Where a source's unscoped credentials go when it names no registry of its own: npm's
    // default registry, as pnpm 12 pins them to the public one (looked up only if needed).
    let mut default_registry: Option<String> = None;
    let mut npm_default = || -> Result<String, ConfigError> {
        if default_registry.is_none() {
            default_registry = Some(npm_default_registry(
                env,
                inputs.npm_registry_probe.as_ref(),
            )?);
        }
        Ok(default_registry.clone().unwrap_or_default())
    };
    for (path, trust) in files {
        if let Some(mut rc) = Npmrc::read(&path, trust, env, warnings)? {
            let origin = path.display().to_string();
            pin_unscoped_credentials(&mut rc.values, &origin, &mut npm_default, warnings)?;
            merged.extend(rc.values);
        }
    }
    // `registry`, `strictSsl`, the proxies and `localAddress` from the settings files override
    // every `.npmrc`, as in pnpm 12 (observed: `registry:` in `pnpm-workspace.yaml` wins over the
    // project `.npmrc`'s).
    insert_npmrc_values(&mut merged, layers.files);
    if let Some(registries) = &layers.files.registries {
        for (scope, url) in registries {
            let key = if scope == "default" {
                "registry".to_string()
            } else {
                format!("{scope}:registry")
            };
            merged.insert(key, url.clone());
        }
    }
    let mut from_env = BTreeMap::new();
    for prefix in ["npm_config_", "pnpm_config_"] {
        for (name, value) in env {
            let Some(rest) = strip_prefix_ci(name, prefix) else {
                continue;
            };
            if layers.rejected_env.contains(name) {
                continue;
            }
            let key = npm_env_key(rest);
            // npm's own variables reach pnpm 12 only URL-scoped (`npm_config_//host/:_authToken`):
            // it ignores `npm_config_registry` (observed: the default registry was asked) and
            // so `npm_config_strict_ssl` and the proxies too. `PNPM_CONFIG_*` sets any key.
            let npm_family = prefix == "npm_config_";
            if is_npmrc_key(&key) && (!npm_family || key.starts_with("//")) {
                from_env.insert(key, value.clone());
            }
        }
    }
    // The environment is a source of its own: its unscoped credentials go to its own
    // `registry`, else npm's default, never to a registry another layer names.
    if let Some(registry) = from_env.get("registry").cloned() {
        pin_to(&mut from_env, &registry, "the environment", warnings);
    }
    pin_unscoped_credentials(&mut from_env, "the environment", &mut npm_default, warnings)?;
    merged.extend(from_env);
    insert_npmrc_values(&mut merged, layers.cli);
    if let Some(registry) = &inputs.cli.registry {
        merged.insert("registry".to_string(), registry.clone());
    }
    Ok(merged)
}

/// Sets the `.npmrc` keys of `settings`'s network settings in `merged`, over what it holds.
fn insert_npmrc_values(merged: &mut BTreeMap<String, String>, settings: &Settings) {
    for (key, value) in settings.npmrc_values() {
        // `no-proxy` and `noproxy` are one setting; the proxy reads `no-proxy` first.
        if key == "no-proxy" {
            merged.remove("noproxy");
        }
        merged.insert(key.to_string(), value);
    }
}

/// The credentials `.npmrc` can give unscoped (`_authToken=…`), which apply to one registry.
const UNSCOPED_CREDENTIALS: [&str; 4] = ["_authToken", "_auth", "username", "_password"];

/// Pins the unscoped credentials left in one source's `values` (a source that names no
/// `registry` of its own; one that does had them pinned to it when read) to npm's default
/// registry. Unpinned, they went to whatever registry the merged configuration ended with: a
/// checked-in project `.npmrc` with `registry=https://elsewhere/` received the token of the
/// user's `~/.npmrc`. pnpm 12 pins them the same way, at load time, per source.
fn pin_unscoped_credentials(
    values: &mut BTreeMap<String, String>,
    origin: &str,
    npm_default: &mut impl FnMut() -> Result<String, ConfigError>,
    warnings: &mut Vec<Warning>,
) -> Result<(), ConfigError> {
    if UNSCOPED_CREDENTIALS
        .iter()
        .any(|key| values.contains_key(*key))
    {
        let registry = npm_default()?;
        pin_to(values, &registry, origin, warnings);
    }
    Ok(())
}

/// Rewrites the unscoped credentials of `values` as `//host/path/:<key>` for `registry`.
fn pin_to(
    values: &mut BTreeMap<String, String>,
    registry: &str,
    origin: &str,
    warnings: &mut Vec<Warning>,
) {
    let scope = crate::npmrc::nerf_dart(registry);
    for key in UNSCOPED_CREDENTIALS {
        if let Some(value) = values.remove(key) {
            warnings.push(Warning::new(
                "ERR_TACK_UNSCOPED_AUTH",
                format!(
                    "{origin}: unscoped `{key}` is deprecated; it was applied to {scope} only. \
                     Write it as `{scope}:{key}=…`"
                ),
            ));
            values.insert(format!("{scope}:{key}"), value);
        }
    }
}

/// The default and scoped registries, with npm's own registry as the last resort.
fn registries(
    raw: &BTreeMap<String, String>,
    env: &BTreeMap<String, String>,
    home: Option<&Path>,
    probe: Option<&RegistryProbe>,
) -> Result<Registries, ConfigError> {
    let default = match raw.get("registry").filter(|r| !r.trim().is_empty()) {
        Some(url) => normalize_registry(url),
        None => match global_npmrc_registry(env, home) {
            Some(url) => normalize_registry(&url),
            None => npm_default_registry(env, probe)?,
        },
    };
    let scopes = raw
        .iter()
        .filter_map(|(key, url)| {
            let scope = key.strip_suffix(":registry")?;
            scope
                .starts_with('@')
                .then(|| (scope.to_string(), normalize_registry(url)))
        })
        .collect();
    Ok(Registries { default, scopes })
}

/// `registry` from npm's global config (`npm_config_globalconfig`, else
/// `<npm_config_prefix>/etc/npmrc`).
fn global_npmrc_registry(env: &BTreeMap<String, String>, _home: Option<&Path>) -> Option<String> {
    let path = ["NPM_CONFIG_GLOBALCONFIG", "npm_config_globalconfig"]
        .iter()
        .find_map(|k| env.get(*k).map(PathBuf::from))
        .or_else(|| {
            ["NPM_CONFIG_PREFIX", "npm_config_prefix", "PREFIX"]
                .iter()
                .find_map(|k| env.get(*k).map(|p| PathBuf::from(p).join("etc/npmrc")))
        })?;
    let text = std::fs::read_to_string(path).ok()?;
    parse_ini(&text)
        .into_iter()
        .rev()
        .find(|(k, _)| k == "registry")
        .map(|(_, v)| v)
        .filter(|v| !v.contains("${"))
}

/// Whether this runs in CI, by pnpm 12's rule (that of the `ci-info` package): `CI=false`
/// says no whatever else is set; otherwise any of the variables CI services set, non-empty,
/// says yes (`CI=0` included).
fn is_ci(env: &BTreeMap<String, String>) -> bool {
    if env.get("CI").is_some_and(|v| v == "false") {
        return false;
    }
    let set = |name: &str| env.get(name).is_some_and(|v| !v.is_empty());
    CI_VARIABLES.iter().any(|name| set(name))
        || env
            .get("NODE")
            .is_some_and(|node| node.contains("/app/.heroku/node/bin/node"))
}

/// The variables that mark a CI environment: generic ones, then one per CI service.
const CI_VARIABLES: &[&str] = &[
    // Generic.
    "CI",
    "CONTINUOUS_INTEGRATION",
    "BUILD_ID",
    "BUILD_NUMBER",
    "RUN_ID",
    "CI_APP_ID",
    "CI_BUILD_ID",
    "CI_BUILD_NUMBER",
    "CI_NAME",
    // Services, alphabetically by the variable.
    "AC_APPCIRCLE",
    "AGOLA_GIT_REF",
    "ALPIC_HOST",
    "APPCENTER_BUILD_ID",
    "APPVEYOR",
    "BITBUCKET_COMMIT",
    "BITRISE_IO",
    "BUDDY_WORKSPACE_ID",
    "BUILDER_OUTPUT",
    "BUILDKITE",
    "CF_BUILD_ID",
    "CF_PAGES",
    "CI_XCODE_PROJECT",
    "CIRCLECI",
    "CIRRUS_CI",
    "CM_BUILD_ID",
    "CODEBUILD_BUILD_ARN",
    "DRONE",
    "DSARI",
    "EARTHLY_CI",
    "EAS_BUILD",
    "GERRIT_PROJECT",
    "GITEA_ACTIONS",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "GO_PIPELINE_LABEL",
    "HARNESS_BUILD_ID",
    "HUDSON_URL",
    "LAYERCI",
    "MAGNUM",
    "NETLIFY",
    "NEVERCODE",
    "NOW_BUILDER",
    "PROW_JOB_ID",
    "RELEASE_BUILD_ID",
    "RENDER",
    "SAILCI",
    "SCREWDRIVER",
    "SEMAPHORE",
    "STRIDER",
    "TEAMCITY_VERSION",
    "TF_BUILD",
    "TRAVIS",
    "VELA",
    "VERCEL",
    "WORKERS_CI",
    "XCS",
    "bamboo_planKey",
];

fn invalid(key: &str, value: &str, allowed: &str) -> ConfigError {
    ConfigError::InvalidSetting {
        source_name: "configuration".to_string(),
        key: key.to_string(),
        message: format!("`{value}` is not one of {allowed}"),
    }
}

/// `allowBuilds` with the `permissions` setting's build decisions over it (pnpm 12.11+:
/// `permissions: {esbuild: {build: true}}` approves, `build: false` denies, whatever
/// `allowBuilds` says; observed with pnpm 12.21, which also records the merged map).
fn allow_builds_with_permissions(s: &Settings) -> IndexMap<String, Value> {
    let mut allow = s.allow_builds.clone().unwrap_or_default();
    if let Some(Value::Object(permissions)) = &s.permissions {
        for (package, granted) in permissions {
            if let Some(build) = granted.get("build").and_then(Value::as_bool) {
                allow.insert(package.clone(), Value::Bool(build));
            }
        }
    }
    allow
}

/// Fills pnpm's defaults in for every setting no layer set.
fn build_config(
    inputs: &ConfigInputs,
    workspace_root: PathBuf,
    workspace_manifest: Option<WorkspaceManifest>,
    s: Settings,
    raw_npmrc: BTreeMap<String, String>,
    registries: Registries,
    ci: bool,
) -> Result<Config, ConfigError> {
    let pnpmfiles = s.pnpmfile.as_ref().map(|files| {
        files
            .iter()
            .map(|file| tack_fs::normalize_lexically(&workspace_root.join(file)))
            .collect()
    });
    let node_linker = match s.node_linker.as_deref().unwrap_or("isolated") {
        "isolated" => NodeLinker::Isolated,
        "hoisted" => NodeLinker::Hoisted,
        "pnp" => NodeLinker::Pnp,
        other => return Err(invalid("nodeLinker", other, "isolated, hoisted, pnp")),
    };
    // Parsed here, though only the lockfile check reads it, so that a misspelt policy stops
    // every install as it stops pnpm 12's, instead of turning the policy off.
    let trust_policy = match s.trust_policy.as_deref().unwrap_or("off") {
        "off" => TrustPolicy::Off,
        "no-downgrade" => TrustPolicy::NoDowngrade,
        other => return Err(invalid("trustPolicy", other, "off, no-downgrade")),
    };
    let package_import_method = match s.package_import_method.as_deref().unwrap_or("auto") {
        "auto" => PackageImportMethod::Auto,
        "hardlink" => PackageImportMethod::Hardlink,
        "copy" => PackageImportMethod::Copy,
        "clone" => PackageImportMethod::Clone,
        "clone-or-copy" => PackageImportMethod::CloneOrCopy,
        other => {
            return Err(invalid(
                "packageImportMethod",
                other,
                "auto, hardlink, copy, clone, clone-or-copy",
            ))
        }
    };
    let shamefully_hoist = s.shamefully_hoist.unwrap_or(false);
    // As pnpm 12 derives it: `shamefullyHoist: true` hoists everything publicly; an explicit
    // `false` leaves the pattern unset, so nothing is hoisted publicly and `.modules.yaml`
    // records no `publicHoistPattern`.
    let public_hoist_pattern = match s.shamefully_hoist {
        Some(true) => Some(vec!["*".to_string()]),
        Some(false) => None,
        None => Some(s.public_hoist_pattern.clone().unwrap_or_default()),
    };
    let modules_dir = s
        .modules_dir
        .clone()
        .unwrap_or_else(|| "node_modules".into());
    let virtual_store_dir = match &s.virtual_store_dir {
        Some(dir) => workspace_root.join(dir),
        None => workspace_root.join(&modules_dir).join(".pnpm"),
    };
    let mut catalogs: IndexMap<String, IndexMap<String, String>> = IndexMap::new();
    if let Some(default) = &s.catalog {
        catalogs.insert("default".to_string(), default.clone());
    }
    for (name, entries) in s.catalogs.clone().unwrap_or_default() {
        catalogs.entry(name).or_default().extend(entries);
    }
    let frozen = match (inputs.cli.frozen_lockfile, s.frozen_lockfile) {
        (Some(true), _) | (None, Some(true)) => FrozenMode::Frozen,
        (Some(false), _) | (None, Some(false)) => {
            if s.prefer_frozen_lockfile.unwrap_or(true) {
                FrozenMode::Prefer
            } else {
                FrozenMode::Off
            }
        }
        (None, None) if ci && inputs.cli.prefer_frozen_lockfile.is_none() => {
            FrozenMode::IfLockfileExists
        }
        (None, None) => {
            if s.prefer_frozen_lockfile.unwrap_or(true) {
                FrozenMode::Prefer
            } else {
                FrozenMode::Off
            }
        }
    };
    // `production` and `dev` count only as the `--prod` and `--dev` flags: pnpm 12 installs
    // every group whatever `pnpm-workspace.yaml`, `PNPM_CONFIG_*` or `--config.` say of them
    // (observed), while it honours `optional: false` from any of them.
    let include = IncludedDeps {
        dependencies: !inputs.cli.dev,
        dev_dependencies: !inputs.cli.prod,
        optional_dependencies: !inputs.cli.no_optional && s.optional != Some(false),
    };
    let strict_ssl = raw_npmrc
        .get("strict-ssl")
        .is_none_or(|v| !matches!(v.as_str(), "false" | "0"));
    Ok(Config {
        cwd: inputs.cwd.clone(),
        lockfile_dir: workspace_root.clone(),
        workspace_root,
        workspace_manifest,
        registries,
        raw_npmrc,
        store_dir: s.store_dir.as_ref().map(PathBuf::from),
        node_linker,
        trust_policy,
        hoist: s.hoist.unwrap_or(true),
        hoist_pattern: s.hoist_pattern.clone().unwrap_or_else(|| vec!["*".into()]),
        public_hoist_pattern,
        shamefully_hoist,
        hoist_workspace_packages: s.hoist_workspace_packages.unwrap_or(true),
        symlink: s.symlink.unwrap_or(true),
        package_import_method,
        virtual_store_dir,
        virtual_store_dir_max_length: s
            .virtual_store_dir_max_length
            .unwrap_or(tack_lockfile::DEFAULT_VIRTUAL_STORE_DIR_MAX_LENGTH),
        modules_dir,
        modules_cache_max_age: s
            .modules_cache_max_age
            .unwrap_or(DEFAULT_MODULES_CACHE_MAX_AGE),
        network_concurrency: s.network_concurrency.unwrap_or(16),
        fetch_retries: s.fetch_retries.unwrap_or(2),
        fetch_retry_factor: s.fetch_retry_factor.unwrap_or(10.0),
        fetch_retry_mintimeout: s.fetch_retry_mintimeout.unwrap_or(10_000),
        fetch_retry_maxtimeout: s.fetch_retry_maxtimeout.unwrap_or(60_000),
        fetch_timeout: s.fetch_timeout.unwrap_or(60_000),
        strict_ssl,
        verify_store_integrity: s.verify_store_integrity.unwrap_or(true),
        strict_dep_builds: s.strict_dep_builds.unwrap_or(true),
        allow_builds: allow_builds_with_permissions(&s),
        dangerously_allow_all_builds: s.dangerously_allow_all_builds.unwrap_or(false),
        only_built_dependencies: s.only_built_dependencies.clone(),
        never_built_dependencies: s.never_built_dependencies.clone(),
        overrides: s.overrides.clone().unwrap_or_default(),
        patched_dependencies: s.patched_dependencies.clone().unwrap_or_default(),
        allow_unused_patches: s.allow_unused_patches.unwrap_or(false),
        pnpmfiles,
        ignore_pnpmfile: s.ignore_pnpmfile.unwrap_or(false),
        catalogs,
        supported_architectures: s.supported_architectures.clone().unwrap_or_default(),
        ignored_optional_dependencies: s.ignored_optional_dependencies.clone().unwrap_or_default(),
        use_git_branch_lockfile: s
            .use_git_branch_lockfile
            .or(s.git_branch_lockfile)
            .unwrap_or(false),
        minimum_release_age: s.minimum_release_age.unwrap_or(1440),
        child_concurrency: s
            .child_concurrency
            .unwrap_or(crate::config::DEFAULT_CHILD_CONCURRENCY),
        side_effects_cache: s.side_effects_cache.unwrap_or(true),
        side_effects_cache_readonly: s.side_effects_cache_readonly.unwrap_or(false),
        inject_workspace_packages: s.inject_workspace_packages.unwrap_or(false),
        dedupe_peers: s.dedupe_peers.unwrap_or(false),
        auto_install_peers: s.auto_install_peers.unwrap_or(true),
        exclude_links_from_lockfile: s.exclude_links_from_lockfile.unwrap_or(false),
        peers_suffix_max_length: s.peers_suffix_max_length.unwrap_or(1000),
        engine_strict: s.engine_strict.unwrap_or(false),
        node_version: s.node_version.clone(),
        frozen,
        offline: s.offline.unwrap_or(false),
        prefer_offline: s.prefer_offline.unwrap_or(false),
        ignore_scripts: s.ignore_scripts.unwrap_or(false),
        include,
        reporter: s.reporter.clone(),
        ci,
        lockfile_options: None,
        settings: s,
        layout_requests: Map::new(),
    })
    .map(|mut config| {
        config.lockfile_options = config
            .workspace_manifest
            .as_ref()
            .and_then(|ws| ws.lockfile_options.clone());
        config
    })
}
