//! The pnpm settings tack understands, by their camelCase names, as they appear in
//! `pnpm-workspace.yaml`, in `PNPM_CONFIG_*` env vars and on the CLI. Every field is optional: a
//! layer only sets what it mentions, and [`crate::precedence`] merges the layers.

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::error::ConfigError;

/// `supportedArchitectures`: which platforms optional packages are installed for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct SupportedArchitectures {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub libc: Option<Vec<String>>,
}

/// Catalogs by name: dependency name → specifier.
pub type Catalogs = IndexMap<String, IndexMap<String, String>>;

/// A string map whose YAML values may be plain numbers (`react: 18`).
fn lenient_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<IndexMap<String, String>>, D::Error> {
    let raw: Option<IndexMap<String, Value>> = Option::deserialize(deserializer)?;
    Ok(raw.map(|map| map.into_iter().map(|(k, v)| (k, value_text(v))).collect()))
}

fn lenient_nested_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Catalogs>, D::Error> {
    let raw: Option<IndexMap<String, IndexMap<String, Value>>> = Option::deserialize(deserializer)?;
    Ok(raw.map(|outer| {
        outer
            .into_iter()
            .map(|(name, inner)| {
                let inner = inner.into_iter().map(|(k, v)| (k, value_text(v))).collect();
                (name, inner)
            })
            .collect()
    }))
}

/// A string, or a list of strings joined by commas (`noProxy: [a, b]`).
fn comma_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let raw: Option<Value> = Option::deserialize(deserializer)?;
    Ok(raw.map(|value| match value {
        Value::Array(items) => items
            .into_iter()
            .map(value_text)
            .collect::<Vec<_>>()
            .join(","),
        other => value_text(other),
    }))
}

/// One string or a list of them (`pnpmfile: hooks.cjs` or `pnpmfile: [a.cjs, b.cjs]`).
fn one_or_many<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let raw: Option<OneOrMany> = Option::deserialize(deserializer)?;
    Ok(raw.map(|value| match value {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    }))
}

fn value_text(value: Value) -> String {
    match value {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

macro_rules! settings {
    ($( $(#[$meta:meta])* $field:ident : $ty:ty => $key:literal ),* $(,)?) => {
        /// One layer of pnpm settings (see the module doc). Serialized, it is the settings a
        /// layer sets, by their camelCase names (the no-op gate records the merged ones).
        #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
        pub struct Settings {
            $(
                $(#[$meta])*
                #[serde(default, rename = $key, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
        }

        /// Every camelCase key [`Settings`] reads.
        pub const SETTING_KEYS: &[&str] = &[$($key),*];

        impl Settings {
            /// Overlays `higher` on `self`: each key `higher` sets wins.
            pub fn merge(&mut self, higher: Settings) {
                $( if higher.$field.is_some() { self.$field = higher.$field; } )*
            }
        }
    };
}

settings! {
    store_dir: String => "storeDir",
    node_linker: String => "nodeLinker",
    hoist: bool => "hoist",
    hoist_pattern: Vec<String> => "hoistPattern",
    public_hoist_pattern: Vec<String> => "publicHoistPattern",
    shamefully_hoist: bool => "shamefullyHoist",
    hoist_workspace_packages: bool => "hoistWorkspacePackages",
    symlink: bool => "symlink",
    package_import_method: String => "packageImportMethod",
    virtual_store_dir: String => "virtualStoreDir",
    virtual_store_dir_max_length: usize => "virtualStoreDirMaxLength",
    modules_dir: String => "modulesDir",
    modules_cache_max_age: u64 => "modulesCacheMaxAge",
    network_concurrency: usize => "networkConcurrency",
    fetch_retries: u32 => "fetchRetries",
    fetch_retry_factor: f64 => "fetchRetryFactor",
    fetch_retry_mintimeout: u64 => "fetchRetryMintimeout",
    fetch_retry_maxtimeout: u64 => "fetchRetryMaxtimeout",
    fetch_timeout: u64 => "fetchTimeout",
    verify_store_integrity: bool => "verifyStoreIntegrity",
    strict_dep_builds: bool => "strictDepBuilds",
    allow_builds: IndexMap<String, Value> => "allowBuilds",
    dangerously_allow_all_builds: bool => "dangerouslyAllowAllBuilds",
    only_built_dependencies: Vec<String> => "onlyBuiltDependencies",
    never_built_dependencies: Vec<String> => "neverBuiltDependencies",
    ignored_built_dependencies: Vec<String> => "ignoredBuiltDependencies",
    #[serde(deserialize_with = "lenient_map")]
    overrides: IndexMap<String, String> => "overrides",
    patched_dependencies: IndexMap<String, String> => "patchedDependencies",
    allow_unused_patches: bool => "allowUnusedPatches",
    #[serde(deserialize_with = "lenient_map")]
    catalog: IndexMap<String, String> => "catalog",
    #[serde(deserialize_with = "lenient_nested_map")]
    catalogs: Catalogs => "catalogs",
    supported_architectures: SupportedArchitectures => "supportedArchitectures",
    ignored_optional_dependencies: Vec<String> => "ignoredOptionalDependencies",
    use_git_branch_lockfile: bool => "useGitBranchLockfile",
    minimum_release_age: u64 => "minimumReleaseAge",
    minimum_release_age_exclude: Vec<String> => "minimumReleaseAgeExclude",
    minimum_release_age_ignore_missing_time: bool => "minimumReleaseAgeIgnoreMissingTime",
    trust_lockfile: bool => "trustLockfile",
    child_concurrency: usize => "childConcurrency",
    side_effects_cache: bool => "sideEffectsCache",
    side_effects_cache_readonly: bool => "sideEffectsCacheReadonly",
    inject_workspace_packages: bool => "injectWorkspacePackages",
    dedupe_injected_deps: bool => "dedupeInjectedDeps",
    link_workspace_packages: Value => "linkWorkspacePackages",
    shared_workspace_lockfile: bool => "sharedWorkspaceLockfile",
    dedupe_peers: bool => "dedupePeers",
    auto_install_peers: bool => "autoInstallPeers",
    exclude_links_from_lockfile: bool => "excludeLinksFromLockfile",
    peers_suffix_max_length: u64 => "peersSuffixMaxLength",
    strict_peer_dependencies: bool => "strictPeerDependencies",
    engine_strict: bool => "engineStrict",
    node_version: String => "nodeVersion",
    frozen_lockfile: bool => "frozenLockfile",
    prefer_frozen_lockfile: bool => "preferFrozenLockfile",
    lockfile: bool => "lockfile",
    offline: bool => "offline",
    prefer_offline: bool => "preferOffline",
    ignore_scripts: bool => "ignoreScripts",
    optional: bool => "optional",
    production: bool => "production",
    dev: bool => "dev",
    enable_pre_post_scripts: bool => "enablePrePostScripts",
    registries: IndexMap<String, String> => "registries",
    package_extensions: Value => "packageExtensions",
    peer_dependency_rules: Value => "peerDependencyRules",
    enable_global_virtual_store: bool => "enableGlobalVirtualStore",
    reporter: String => "reporter",
    resolution_mode: String => "resolutionMode",
    save_exact: bool => "saveExact",
    save_prefix: String => "savePrefix",
    lockfile_include_tarball_url: bool => "lockfileIncludeTarballUrl",
    git_branch_lockfile: bool => "gitBranchLockfile",
    merge_git_branch_lockfiles_branch_pattern: Vec<String> => "mergeGitBranchLockfilesBranchPattern",
    trust_policy: String => "trustPolicy",
    pm_on_fail: String => "pmOnFail",
    trust_policy_exclude: Vec<String> => "trustPolicyExclude",
    trust_policy_ignore_after: u64 => "trustPolicyIgnoreAfter",
    update_notifier: bool => "updateNotifier",
    state_dir: String => "stateDir",
    cache_dir: String => "cacheDir",
    global_dir: String => "globalDir",
    global_bin_dir: String => "globalBinDir",
    config_dependencies: Value => "configDependencies",
    only_built_dependencies_file: String => "onlyBuiltDependenciesFile",
    unsafe_perm: bool => "unsafePerm",
    git_shallow_hosts: Vec<String> => "gitShallowHosts",
    script_shell: String => "scriptShell",
    shell_emulator: bool => "shellEmulator",
    extend_node_path: bool => "extendNodePath",
    prefer_symlinked_executables: bool => "preferSymlinkedExecutables",
    deploy_all_files: bool => "deployAllFiles",
    dedupe_direct_deps: bool => "dedupeDirectDeps",
    ignore_workspace_cycles: bool => "ignoreWorkspaceCycles",
    disallow_workspace_cycles: bool => "disallowWorkspaceCycles",
    resolve_peers_from_workspace_root: bool => "resolvePeersFromWorkspaceRoot",
    permissions: Value => "permissions",
    lockfile_format: Value => "lockfile.format",
    registry: String => "registry",
    strict_ssl: bool => "strictSsl",
    proxy: String => "proxy",
    http_proxy: String => "httpProxy",
    https_proxy: String => "httpsProxy",
    #[serde(deserialize_with = "comma_list")]
    no_proxy: String => "noProxy",
    local_address: String => "localAddress",
    #[serde(deserialize_with = "one_or_many")]
    pnpmfile: Vec<String> => "pnpmfile",
    ignore_pnpmfile: bool => "ignorePnpmfile",
    npmrc_auth_file: String => "npmrcAuthFile",
}

/// Settings pnpm 12 reads only from the machine's configuration (the global `config.yaml`, the
/// environment, the command line): a project's `pnpm-workspace.yaml` cannot set them.
pub const GLOBAL_ONLY_KEYS: &[&str] = &["stateDir", "globalDir", "globalBinDir", "npmrcAuthFile"];

impl Settings {
    /// The network settings that are `.npmrc` keys too, by their `.npmrc` names: pnpm 12 reads
    /// them from `pnpm-workspace.yaml` as well, where they override every `.npmrc`.
    pub fn npmrc_values(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut put = |key: &'static str, value: Option<String>| {
            if let Some(value) = value {
                out.push((key, value));
            }
        };
        put("registry", self.registry.clone());
        put("strict-ssl", self.strict_ssl.map(|v| v.to_string()));
        put("proxy", self.proxy.clone());
        put("http-proxy", self.http_proxy.clone());
        put("https-proxy", self.https_proxy.clone());
        put("no-proxy", self.no_proxy.clone());
        put("local-address", self.local_address.clone());
        out
    }
}

/// Keys that may appear in `pnpm-workspace.yaml` but are not settings.
pub const NON_SETTING_KEYS: &[&str] = &["packages", "lockfile"];

impl Settings {
    /// Builds a layer from camelCase key → JSON value pairs, naming the offending key on a bad
    /// value.
    pub fn from_map(map: Map<String, Value>, source_name: &str) -> Result<Settings, ConfigError> {
        let object = Value::Object(map);
        match Settings::deserialize(&object) {
            Ok(settings) => Ok(settings),
            Err(err) => {
                let Value::Object(map) = object else {
                    return Err(invalid(source_name, "?", err));
                };
                for (key, value) in map {
                    let single = Value::Object(Map::from_iter([(key.clone(), value)]));
                    if let Err(err) = Settings::deserialize(&single) {
                        return Err(invalid(source_name, &key, err));
                    }
                }
                Err(invalid(source_name, "?", err))
            }
        }
    }
}

fn invalid(source_name: &str, key: &str, err: serde_json::Error) -> ConfigError {
    ConfigError::InvalidSetting {
        source_name: source_name.to_string(),
        key: key.to_string(),
        message: err.to_string(),
    }
}

/// The settings that are lists of strings.
pub const LIST_KEYS: &[&str] = &[
    "hoistPattern",
    "publicHoistPattern",
    "onlyBuiltDependencies",
    "neverBuiltDependencies",
    "ignoredBuiltDependencies",
    "ignoredOptionalDependencies",
    "minimumReleaseAgeExclude",
];

/// Converts a setting given as text (env var, CLI) to the JSON value its field expects: booleans,
/// numbers, JSON arrays/objects, and comma-separated lists for list settings.
pub fn text_to_value(key: &str, text: &str) -> Value {
    let trimmed = text.trim();
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        if let Ok(value) = serde_json::from_str::<Value>(trimmed) {
            return value;
        }
    }
    if LIST_KEYS.contains(&key) {
        let items = trimmed
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Value::String(s.to_string()));
        return Value::Array(items.collect());
    }
    match trimmed {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => match trimmed.parse::<u64>() {
            Ok(number) => Value::from(number),
            Err(_) => match trimmed.parse::<f64>() {
                Ok(number) if key.starts_with("fetchRetry") => Value::from(number),
                _ => Value::String(text.to_string()),
            },
        },
    }
}

/// `STORE_DIR`, `store_dir`, `store-dir` → `storeDir`.
pub fn env_key_to_camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper_next = false;
    for c in key.chars() {
        if c == '_' || c == '-' {
            upper_next = !out.is_empty();
            continue;
        }
        if upper_next {
            out.extend(c.to_uppercase());
            upper_next = false;
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_keys() {
        assert_eq!(env_key_to_camel("STORE_DIR"), "storeDir");
        assert_eq!(env_key_to_camel("store-dir"), "storeDir");
        assert_eq!(env_key_to_camel("NODE_LINKER"), "nodeLinker");
        assert_eq!(
            env_key_to_camel("virtual_store_dir_max_length"),
            "virtualStoreDirMaxLength"
        );
    }

    #[test]
    fn text_values() {
        assert_eq!(text_to_value("hoist", "false"), Value::Bool(false));
        assert_eq!(text_to_value("networkConcurrency", "8"), Value::from(8));
        assert_eq!(
            text_to_value("hoistPattern", "*eslint*, *babel*"),
            serde_json::json!(["*eslint*", "*babel*"])
        );
        assert_eq!(text_to_value("storeDir", "/s"), Value::from("/s"));
    }

    #[test]
    fn bad_value_names_the_key() {
        let map = Map::from_iter([
            ("hoist".to_string(), Value::Bool(true)),
            ("networkConcurrency".to_string(), Value::from("lots")),
        ]);
        let err = Settings::from_map(map, "pnpm-workspace.yaml").unwrap_err();
        assert!(err.to_string().contains("networkConcurrency"), "{err}");
    }
}
