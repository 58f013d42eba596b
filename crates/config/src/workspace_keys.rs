//! Which top-level keys of a project's `pnpm-workspace.yaml` pnpm 12 accepts, and what it says of
//! the others. tack reads only the settings that shape an install, but a key pnpm accepts and tack
//! does not use (`savePrefix`, `auditConfig`, `$schema`, …) is no mistake of the user's: it passes
//! in silence. The rest gets pnpm 12's three warnings: a machine setting written in a project file,
//! an unknown key (with the nearest known one), a kebab-case spelling of a known key.
//!
//! The machine's global `config.yaml` takes a smaller set of keys ([`is_global_setting`]).
//!
//! The lists were taken from pnpm 12.21 itself: every candidate key was written into a workspace
//! manifest and sorted by what pnpm answered (accepted, "not recognized", "cannot be set in a
//! project's pnpm-workspace.yaml"), and given to `pnpm config set --global`.

use crate::error::Warning;

/// What pnpm 12 makes of one top-level key of a project's `pnpm-workspace.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyVerdict {
    /// A key pnpm 12 reads from the file.
    Accepted,
    /// A machine setting (or no setting at all): ignored in a project file, with this advice.
    MachineOnly(&'static str),
    /// A kebab-case spelling of the accepted key it holds; ignored.
    NotCamelCase(String),
    /// Unknown to pnpm 12; ignored. The nearest accepted key, when one is close.
    Unknown(Option<&'static str>),
}

/// Judges `key` as pnpm 12 does.
pub fn judge(key: &str) -> KeyVerdict {
    if ACCEPTED.binary_search(&key).is_ok() {
        return KeyVerdict::Accepted;
    }
    if let Ok(index) = MACHINE_ONLY.binary_search_by(|(known, _)| known.cmp(&key)) {
        return KeyVerdict::MachineOnly(MACHINE_ONLY[index].1);
    }
    let camel = camel_case(key);
    if camel != key && ACCEPTED.binary_search(&camel.as_str()).is_ok() {
        return KeyVerdict::NotCamelCase(camel);
    }
    KeyVerdict::Unknown(nearest(key))
}

/// Whether pnpm 12 takes `key` from the machine's global `config.yaml`.
pub fn is_global_setting(key: &str) -> bool {
    GLOBAL_ACCEPTED.binary_search(&key).is_ok()
}

/// The warnings for the keys of one file, in pnpm 12's order: machine settings, unknown keys,
/// kebab-case keys. `file` names the file as the user knows it.
pub fn warnings_for(rejected: &[(String, KeyVerdict)], file: &str) -> Vec<Warning> {
    let mut machine = Vec::new();
    let mut unknown = Vec::new();
    let mut kebab = Vec::new();
    for (key, verdict) in rejected {
        match verdict {
            KeyVerdict::Accepted => {}
            KeyVerdict::MachineOnly(advice) => machine.push(format!("\"{key}\" ({advice})")),
            KeyVerdict::Unknown(Some(near)) => {
                unknown.push(format!("\"{key}\" (did you mean \"{near}\"?)"))
            }
            KeyVerdict::Unknown(None) => unknown.push(format!("\"{key}\"")),
            KeyVerdict::NotCamelCase(camel) => kebab.push(format!("\"{key}\" (use \"{camel}\")")),
        }
    }
    [
        (
            "ERR_TACK_MACHINE_SETTING",
            format!("cannot be set in a project's {file} and were ignored"),
            machine,
        ),
        (
            "ERR_TACK_UNKNOWN_SETTING",
            format!("in {file} are not recognized by this version of pnpm and were ignored"),
            unknown,
        ),
        (
            "ERR_TACK_SETTING_NOT_CAMEL_CASE",
            format!("in {file} were ignored because they are not written in camelCase"),
            kebab,
        ),
    ]
    .into_iter()
    .filter(|(_, _, keys)| !keys.is_empty())
    .map(|(code, what, keys)| {
        Warning::as_pnpm(
            code,
            format!("The following settings {what}: {}.", keys.join(", ")),
        )
    })
    .collect()
}

/// Whether `key` is one of the settings pnpm 12 applies to an install and tack does not.
pub fn is_not_applied(key: &str) -> bool {
    NOT_APPLIED.binary_search(&key).is_ok()
}

/// The warning for the keys of one file that pnpm 12 would apply and tack does not.
pub fn not_applied_warning(keys: &[String], file: &str) -> Warning {
    let list: Vec<String> = keys.iter().map(|key| format!("\"{key}\"")).collect();
    Warning::new(
        "ERR_TACK_SETTING_NOT_APPLIED",
        format!(
            "The following settings in {file} are not applied by tack and were ignored: {}. \
             Install with pnpm where they matter",
            list.join(", ")
        ),
    )
}

/// `node-linker` → `nodeLinker`; a camelCase key stays as it is.
pub fn kebab_to_camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '-' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `key` in camelCase as pnpm 12 spells a setting it checks a key against: words split at
/// `-`, `_`, `.` and spaces, a key without lowercase letters lowercased first (`LOCKFILE` →
/// `lockfile`, `hoist-pattern` → `hoistPattern`), the first letter lowercase.
fn camel_case(key: &str) -> String {
    let lowered;
    let key = if key.chars().any(|c| c.is_lowercase()) {
        key
    } else {
        lowered = key.to_lowercase();
        &lowered
    };
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if matches!(c, '-' | '_' | '.' | ' ') {
            upper = !out.is_empty();
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else if out.is_empty() {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The known key most like `key`, as pnpm 12 suggests one: case-insensitive, by the share
/// of the longer name that an edit does not touch (one minus the edit distance over the
/// longer length), at least 0.4 of it; the first of equally close keys. The keys pnpm 12
/// suggests are its settings, those it takes for the machine only among them
/// (`globalDir`), but not the command-line options it accepts in silence ([`NOT_SUGGESTED`]).
fn nearest(key: &str) -> Option<&'static str> {
    let lower = key.to_lowercase();
    let mut best: Option<(f64, &'static str)> = None;
    // In one sorted list: of equally close keys, pnpm 12 names the first in that order.
    let mut known_keys: Vec<&'static str> = ACCEPTED
        .iter()
        .chain(MACHINE_ONLY.iter().map(|(known, _)| known))
        .chain(SUGGESTED_ONLY)
        .copied()
        .filter(|known| !known.starts_with('$') && NOT_SUGGESTED.binary_search(known).is_err())
        .collect();
    known_keys.sort_unstable();
    for known in known_keys {
        let longer = lower.chars().count().max(known.chars().count()).max(1);
        let distance = edit_distance(&lower, &known.to_lowercase());
        let similarity = 1.0 - distance as f64 / longer as f64;
        if similarity >= 0.4 && best.is_none_or(|(score, _)| similarity > score) {
            best = Some((similarity, known));
        }
    }
    best.map(|(_, known)| known)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// A key pnpm 12 suggests for an unknown one but does not accept (`_auth: x` is "not
/// recognized", did you mean "_auth"?).
const SUGGESTED_ONLY: &[&str] = &["_auth"];

/// Known keys pnpm 12 never suggests for an unknown one, sorted (binary search): read off
/// pnpm 12 by asking it about every known key with a suffix added (`caQz` is "did you mean
/// cargo?").
const NOT_SUGGESTED: &[&str] = &[
    "access",
    "allProjects",
    "allProjectsGraph",
    "ca",
    "cafile",
    "cert",
    "cliOptions",
    "configDir",
    "cpu",
    "depth",
    "description",
    "dev",
    "dir",
    "explicitlySetKeys",
    "filter",
    "finders",
    "force",
    "git",
    "global",
    "hooks",
    "include",
    "json",
    "key",
    "libc",
    "long",
    "maxsockets",
    "message",
    "noproxy",
    "only",
    "os",
    "otp",
    "packageManager",
    "parseable",
    "prefix",
    "prodAllProjectsGraph",
    "prodOnlySelectedProjectDirs",
    "production",
    "rootProjectManifest",
    "rootProjectManifestDir",
    "save",
    "selectedProjectsGraph",
    "umask",
    "userconfig",
    "version",
    "wantedPackageManager",
    "yes",
];

/// Every top-level key pnpm 12 accepts in a project's `pnpm-workspace.yaml`, sorted (binary
/// search).
pub(crate) const ACCEPTED: &[&str] = &[
    "$schema",
    "access",
    "addMissingPeerTypes",
    "aggregateOutput",
    "allowBuilds",
    "allowNew",
    "allowUnusedPatches",
    "allowedDeprecatedVersions",
    "audit",
    "auditConfig",
    "auditIgnorePrune",
    "auditLevel",
    "autoConfirmAllPrompts",
    "autoDedupe",
    "autoInstallPeers",
    "bail",
    "blockExoticSubdeps",
    "bootConfig",
    "ca",
    "cacheDir",
    "cafile",
    "cargo",
    "catalog",
    "catalogMode",
    "catalogPrune",
    "catalogs",
    "cert",
    "changedFilesIgnorePattern",
    "childConcurrency",
    "cleanupUnusedCatalogs",
    "color",
    "concurrencyGroups",
    "configDependencies",
    "cpu",
    "dangerouslyAllowAllBuilds",
    "dedupeDirectDeps",
    "dedupeInjectedDeps",
    "dedupePeerDependents",
    "dedupePeers",
    "deployAllFiles",
    "depth",
    "description",
    "dev",
    "disallowWorkspaceCycles",
    "dlxCacheMaxAge",
    "embedReadme",
    "enableGlobalVirtualStore",
    "enableModulesDir",
    "enablePnp",
    "enablePrePostScripts",
    "engineStrict",
    "excludeLinksFromLockfile",
    "executionEnv",
    "extendNodePath",
    "externalDependencies",
    "extraBinPaths",
    "extraEnv",
    "failIfNoMatch",
    "fetchMinSpeedKiBps",
    "fetchRetries",
    "fetchRetryFactor",
    "fetchRetryMaxtimeout",
    "fetchRetryMintimeout",
    "fetchTimeout",
    "fetchWarnTimeoutMs",
    "filter",
    "force",
    "forceIgnoresPlatform",
    "forceLegacyDeploy",
    "frozenLockfile",
    "frozenStore",
    "git",
    "gitBranchLockfile",
    "gitChecks",
    "gitShallowHosts",
    "gitTagVersion",
    "global",
    "globalPnpmfile",
    "globalPrefix",
    "globalVirtualStoreDir",
    "hoist",
    "hoistPattern",
    "hoistWorkspacePackages",
    "hoistingLimits",
    "httpProxy",
    "httpsProxy",
    "ignoreCompatibilityDb",
    "ignoreCurrentSpecifiers",
    "ignorePnpmfile",
    "ignoreScripts",
    "ignoreWorkspace",
    "ignoreWorkspaceCycles",
    "ignoreWorkspaceRootCheck",
    "ignoredBuiltDependencies",
    "ignoredOptionalDependencies",
    "include",
    "includeWorkspaceRoot",
    "initAuthorEmail",
    "initAuthorName",
    "initAuthorUrl",
    "initLicense",
    "initPackageManager",
    "initType",
    "initVersion",
    "injectWorkspacePackages",
    "json",
    "key",
    "legacyDirFiltering",
    "libc",
    "linkWorkspacePackages",
    "localAddress",
    "lockfile",
    "lockfileDir",
    "lockfileIncludeTarballUrl",
    "loglevel",
    "long",
    "maxSockets",
    "maxTarballUnpackedSize",
    "maxsockets",
    "mergeGitBranchLockfiles",
    "mergeGitBranchLockfilesBranchPattern",
    "message",
    "minimumReleaseAge",
    "minimumReleaseAgeExclude",
    "minimumReleaseAgeExcludePrune",
    "minimumReleaseAgeIgnoreMissingTime",
    "minimumReleaseAgeStrict",
    "modulesCacheMaxAge",
    "modulesDir",
    "modulesDirsByProjectName",
    "namedRegistries",
    "networkConcurrency",
    "neverBuiltDependencies",
    "noProxy",
    "nodeDownloadMirrors",
    "nodeExperimentalPackageMap",
    "nodeLinker",
    "nodeOptions",
    "nodePackageMap",
    "nodePackageMapType",
    "nodeVersion",
    "noproxy",
    "offline",
    "only",
    "onlyBuiltDependencies",
    "onlyBuiltDependenciesFile",
    "optimisticRepeatInstall",
    "optional",
    "os",
    "otp",
    "overrides",
    "packageConfigs",
    "packageExtensions",
    "packageImportMethod",
    "packageLock",
    "packages",
    "parseable",
    "patchedDependencies",
    "patchesDir",
    "peerDependencyRules",
    "peersSuffixMaxLength",
    "pending",
    "permissions",
    "pipelineBase",
    "pipelines",
    "pmOnFail",
    "pnpmExecPath",
    "pnpmfile",
    "pnprServer",
    "preferFrozenLockfile",
    "preferOffline",
    "preferSymlinkedExecutables",
    "preferWorkspacePackages",
    "prefix",
    "production",
    "progress",
    "projectScopedOptionalPeers",
    "provenance",
    "proxy",
    "publicHoistPattern",
    "publishBranch",
    "publishWaitTimeout",
    "python",
    "recursive",
    "recursiveInstall",
    "registries",
    "registriesByPrefix",
    "registriesByScope",
    "registry",
    "registryOptionsByUrl",
    "registrySupportsTimeField",
    "remoteCache",
    "remoteSideEffectsCache",
    "reporter",
    "reporterHidePrefix",
    "requiredScripts",
    "resolutionMode",
    "resolvePeersFromWorkspaceRoot",
    "reverse",
    "runtime",
    "runtimeOnFail",
    "save",
    "saveCatalogName",
    "saveExact",
    "savePeer",
    "savePrefix",
    "saveTypes",
    "saveWorkspaceProtocol",
    "scriptShell",
    "shamefullyHoist",
    "sharedWorkspaceLockfile",
    "shellEmulator",
    "sideEffectsCache",
    "sideEffectsCacheRead",
    "sideEffectsCacheReadonly",
    "sideEffectsCacheWrite",
    "skills",
    "skipManifestObfuscation",
    "sort",
    "storeDir",
    "storeIndexFormat",
    "stream",
    "strictDepBuilds",
    "strictPeerDependencies",
    "strictSsl",
    "strictStorePkgContentCheck",
    "supportedArchitectures",
    "symlink",
    "syncInjectedDepsAfterScripts",
    "tag",
    "tagVersionPrefix",
    "tasks",
    "testPattern",
    "trustLockfile",
    "trustPolicy",
    "trustPolicyExclude",
    "trustPolicyExcludePrune",
    "trustPolicyIgnoreAfter",
    "tryLoadDefaultPnpmfile",
    "umask",
    "unsafePerm",
    "update",
    "updateConfig",
    "updateNotifier",
    "useBetaCli",
    "useGitBranchLockfile",
    "useLockfile",
    "useRunningStoreServer",
    "useStderr",
    "useStoreServer",
    "userAgent",
    "verifyDepsBeforeRun",
    "verifyStoreIntegrity",
    "version",
    "versioning",
    "virtualStoreDir",
    "virtualStoreDirMaxLength",
    "virtualStoreOnly",
    "virtualStoreType",
    "workspaceConcurrency",
    "workspacePackagePatterns",
    "workspacePrefix",
    "yes",
];

/// Keys pnpm 12 ignores in a project's `pnpm-workspace.yaml`, with its advice, sorted.
pub(crate) const MACHINE_ONLY: &[(&str, &str)] = &[
    ("allProjects", "This is not a pnpm setting"),
    ("allProjectsGraph", "This is not a pnpm setting"),
    ("authConfig", "This is not a pnpm setting"),
    ("bin", "Set it for the machine instead: pnpm config set --global global-bin-dir"),
    ("ci", "Set it for the machine instead: pnpm config set --global ci"),
    ("cliOptions", "This is not a pnpm setting"),
    ("configByUri", "This is not a pnpm setting"),
    ("configDir", "This is not a pnpm setting"),
    ("dir", "Pass --dir on the command line instead"),
    ("explicitlySetKeys", "This is not a pnpm setting"),
    ("finders", "This is not a pnpm setting"),
    ("globalBinDir", "Set it for the machine instead: pnpm config set --global global-bin-dir"),
    ("globalDir", "Set it for the machine instead: pnpm config set --global global-dir"),
    ("globalPkgDir", "Set it for the machine instead: pnpm config set --global global-dir"),
    ("globalShims", "Set it for the machine instead: pnpm config set --global global-shims"),
    ("hooks", "This is not a pnpm setting"),
    ("macosBackup", "Set macosBackup.excludeModulesDir or macosBackup.excludeStoreDir in the global config.yaml instead"),
    ("npmrcAuthFile", "Set it for the machine instead: pnpm config set --global npmrc-auth-file"),
    ("packageManager", "This is not a pnpm setting"),
    ("packageManagerNetworkConfig", "This is not a pnpm setting"),
    ("packageManagerRegistries", "This is not a pnpm setting"),
    ("pnpmHomeDir", "This is not a pnpm setting"),
    ("prodAllProjectsGraph", "This is not a pnpm setting"),
    ("prodOnlySelectedProjectDirs", "This is not a pnpm setting"),
    ("rootProjectManifest", "This is not a pnpm setting"),
    ("rootProjectManifestDir", "This is not a pnpm setting"),
    ("scope", "Set it for the machine instead: pnpm config set --global scope"),
    ("selectedProjectsGraph", "This is not a pnpm setting"),
    ("stateDir", "Set it for the machine instead: pnpm config set --global state-dir"),
    ("symlinkedLockfileTargetDirs", "Set it for the machine instead: pnpm config set --global symlinked-lockfile-target-dirs"),
    ("tools", "Set it in the global config.yaml or with PNPM_CONFIG_TOOLS instead"),
    ("userConfig", "This is not a pnpm setting"),
    ("userconfig", "Set it for the machine instead: pnpm config set --global npmrc-auth-file"),
    ("wantedPackageManager", "This is not a pnpm setting"),
    ("workspaceDir", "This is not a pnpm setting"),
];

/// Keys pnpm 12 accepts in a project's `pnpm-workspace.yaml` and applies to an install (the
/// scripts' environment, the store's checks, the side-effects cache's directions, Node.js
/// runtimes and package maps) that tack does not apply, sorted. Those that would change the
/// layout are refused (`install::unsupported_settings`).
pub(crate) const NOT_APPLIED: &[&str] = &[
    "extraBinPaths",
    "extraEnv",
    "maxSockets",
    "maxTarballUnpackedSize",
    "maxsockets",
    "nodeExperimentalPackageMap",
    "nodeOptions",
    "nodePackageMap",
    "nodePackageMapType",
    "remoteCache",
    "remoteSideEffectsCache",
    "runtime",
    "runtimeOnFail",
    "sideEffectsCacheRead",
    "sideEffectsCacheWrite",
    "strictStorePkgContentCheck",
    "syncInjectedDepsAfterScripts",
    "umask",
    "userAgent",
];

/// Keys pnpm 12 applies from any settings layer (the settings files, `PNPM_CONFIG_*`, the
/// command line) whose values change what is installed or where in ways tack does not
/// build: another store index, no direct links, no `node_modules`, no lockfile, a lockfile
/// elsewhere, the global virtual store, modules directories per project. Sorted.
pub const LAYOUT_REQUEST_KEYS: &[&str] = &[
    "enableModulesDir",
    "hoistingLimits",
    "lockfile",
    "lockfileDir",
    "modulesDirsByProjectName",
    "packageLock",
    "storeIndexFormat",
    "useLockfile",
    "virtualStoreOnly",
    "virtualStoreType",
];

/// Every key pnpm 12 takes from the machine's global `config.yaml` (what `pnpm config set
/// --global` accepts), sorted. The others (`nodeLinker`, `publicHoistPattern`, …) are ignored
/// there.
pub(crate) const GLOBAL_ACCEPTED: &[&str] = &[
    "access",
    "bail",
    "blockExoticSubdeps",
    "ca",
    "cacheDir",
    "cafile",
    "cert",
    "childConcurrency",
    "ci",
    "color",
    "dangerouslyAllowAllBuilds",
    "depth",
    "description",
    "dlxCacheMaxAge",
    "enableGlobalVirtualStore",
    "enableModulesDir",
    "engineStrict",
    "excludeLinksFromLockfile",
    "extendNodePath",
    "fetchMinSpeedKiBps",
    "fetchRetries",
    "fetchRetryFactor",
    "fetchRetryMaxtimeout",
    "fetchRetryMintimeout",
    "fetchTimeout",
    "fetchWarnTimeoutMs",
    "force",
    "forceIgnoresPlatform",
    "frozenStore",
    "git",
    "gitChecks",
    "gitShallowHosts",
    "gitTagVersion",
    "global",
    "globalBinDir",
    "globalDir",
    "globalPnpmfile",
    "globalShims",
    "globalVirtualStoreDir",
    "httpProxy",
    "httpsProxy",
    "ignoreScripts",
    "initAuthorEmail",
    "initAuthorName",
    "initAuthorUrl",
    "initLicense",
    "initPackageManager",
    "initType",
    "initVersion",
    "json",
    "key",
    "localAddress",
    "loglevel",
    "long",
    "maxsockets",
    "message",
    "minimumReleaseAge",
    "minimumReleaseAgeExclude",
    "minimumReleaseAgeIgnoreMissingTime",
    "minimumReleaseAgeStrict",
    "modulesCacheMaxAge",
    "namedRegistries",
    "networkConcurrency",
    "noProxy",
    "nodeDownloadMirrors",
    "nodeExperimentalPackageMap",
    "nodeOptions",
    "nodePackageMapType",
    "nodeVersion",
    "noproxy",
    "npmrcAuthFile",
    "only",
    "optimisticRepeatInstall",
    "optional",
    "otp",
    "packageImportMethod",
    "packageLock",
    "parseable",
    "pnprServer",
    "preferFrozenLockfile",
    "preferOffline",
    "preferSymlinkedExecutables",
    "prefix",
    "progress",
    "provenance",
    "proxy",
    "publishWaitTimeout",
    "registries",
    "registry",
    "registrySupportsTimeField",
    "reporter",
    "resolutionMode",
    "save",
    "saveExact",
    "savePrefix",
    "scope",
    "scriptShell",
    "shellEmulator",
    "sideEffectsCache",
    "sideEffectsCacheReadonly",
    "stateDir",
    "storeDir",
    "storeIndexFormat",
    "strictDepBuilds",
    "strictSsl",
    "symlinkedLockfileTargetDirs",
    "tag",
    "tagVersionPrefix",
    "trustLockfile",
    "trustPolicy",
    "trustPolicyExclude",
    "trustPolicyIgnoreAfter",
    "umask",
    "unsafePerm",
    "updateNotifier",
    "useBetaCli",
    "useStderr",
    "userAgent",
    "userconfig",
    "verifyDepsBeforeRun",
    "verifyStoreIntegrity",
    "version",
    "virtualStoreDir",
    "virtualStoreDirMaxLength",
    "virtualStoreType",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lists_are_sorted_for_binary_search() {
        assert!(ACCEPTED.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(MACHINE_ONLY.windows(2).all(|pair| pair[0].0 < pair[1].0));
        assert!(NOT_SUGGESTED.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(GLOBAL_ACCEPTED.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(NOT_APPLIED.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(NOT_APPLIED
            .iter()
            .all(|key| judge(key) == KeyVerdict::Accepted));
    }

    #[test]
    fn every_setting_tack_reads_from_the_file_is_one_pnpm_accepts() {
        for key in crate::settings::SETTING_KEYS {
            if crate::settings::GLOBAL_ONLY_KEYS.contains(key) || key.contains('.') {
                continue;
            }
            assert_eq!(judge(key), KeyVerdict::Accepted, "{key}");
        }
    }

    #[test]
    fn judges_keys_as_pnpm_12_does() {
        assert_eq!(judge("savePrefix"), KeyVerdict::Accepted);
        assert_eq!(judge("$schema"), KeyVerdict::Accepted);
        assert_eq!(
            judge("ci"),
            KeyVerdict::MachineOnly("Set it for the machine instead: pnpm config set --global ci")
        );
        assert_eq!(
            judge("node-linker"),
            KeyVerdict::NotCamelCase("nodeLinker".into())
        );
        assert_eq!(judge("nodeLinkr"), KeyVerdict::Unknown(Some("nodeLinker")));
        // pnpm 12 suggests a key at least 40% like the unknown one (`foo` is 40% `color`).
        assert_eq!(judge("foo"), KeyVerdict::Unknown(Some("color")));
        assert_eq!(judge("zzzzzzzzzz"), KeyVerdict::Unknown(None));
        assert_eq!(
            judge("LOCKFILE"),
            KeyVerdict::NotCamelCase("lockfile".into())
        );
    }

    #[test]
    fn warns_once_per_kind_in_pnpm_order() {
        // What pnpm 12.21 printed for these keys.
        let rejected: Vec<(String, KeyVerdict)> = [
            "zzzzzzzzzz",
            "save-prefix",
            "ci",
            "nodeLinkr",
            "foo",
            "LOCKFILE",
            "storeDirectory",
        ]
        .iter()
        .map(|key| (key.to_string(), judge(key)))
        .collect();
        let messages: Vec<String> = warnings_for(&rejected, "pnpm-workspace.yaml")
            .into_iter()
            .map(|warning| warning.message)
            .collect();
        assert_eq!(
            messages,
            [
                "The following settings cannot be set in a project's pnpm-workspace.yaml and were \
                 ignored: \"ci\" (Set it for the machine instead: pnpm config set --global ci).",
                "The following settings in pnpm-workspace.yaml are not recognized by this version \
                 of pnpm and were ignored: \"zzzzzzzzzz\", \"nodeLinkr\" (did you mean \
                 \"nodeLinker\"?), \"foo\" (did you mean \"color\"?), \"storeDirectory\" (did \
                 you mean \"storeDir\"?).",
                "The following settings in pnpm-workspace.yaml were ignored because they are not \
                 written in camelCase: \"save-prefix\" (use \"savePrefix\"), \"LOCKFILE\" (use \
                 \"lockfile\").",
            ]
        );
    }
}
