//! The `allowBuilds` build policy: which dependencies may run their lifecycle scripts.
//!
//! pnpm 11+ reads `allowBuilds` (plus `dangerouslyAllowAllBuilds`) from
//! `pnpm-workspace.yaml`; the pnpm 10 lists `onlyBuiltDependencies` / `neverBuiltDependencies`
//! are read as `true` / `false` entries. A package's verdict is `Some(true)` (run),
//! `Some(false)` (never run, silently) or `None` (ignored: reported, and fatal under
//! `strictDepBuilds`). Keys are package names, `name@version` (with `||` unions), or dep
//! paths / source keys; rules are checked in pnpm's order: a `false` dep path, a `false`
//! name, a `true` dep path, a `true` name. A `true` name rule only vouches for packages whose
//! dep path is registry-shaped (`name@semver`): a git or tarball dep that merely claims a
//! trusted name is not approved by it.

use crate::error::BuildError;
use indexmap::IndexMap;
use std::collections::HashSet;

/// The evaluated `allowBuilds` policy.
#[derive(Debug, Clone, Default)]
pub struct BuildPolicy {
    allow_all: bool,
    /// False when no policy is configured at all (everything is ignored).
    configured: bool,
    allowed_specs: HashSet<String>,
    disallowed_specs: HashSet<String>,
    allowed_dep_paths: HashSet<String>,
    disallowed_dep_paths: HashSet<String>,
}

impl BuildPolicy {
    /// Build the policy. `allow_builds` values other than `true`/`false` (pnpm writes the
    /// placeholder `set this to true or false`) leave the package undecided. The legacy lists
    /// add entries for keys `allow_builds` does not already decide.
    pub fn new(
        allow_builds: &IndexMap<String, serde_json::Value>,
        dangerously_allow_all: bool,
        only_built: Option<&[String]>,
        never_built: Option<&[String]>,
    ) -> Self {
        let mut rules: IndexMap<String, bool> = IndexMap::new();
        for (key, value) in allow_builds {
            if let Some(b) = value.as_bool() {
                rules.insert(key.clone(), b);
            }
        }
        for (list, verdict) in [(only_built, true), (never_built, false)] {
            for key in list.unwrap_or_default() {
                if !allow_builds.contains_key(key) {
                    rules.entry(key.clone()).or_insert(verdict);
                }
            }
        }
        let configured = !allow_builds.is_empty() || only_built.is_some() || never_built.is_some();
        let mut policy = BuildPolicy {
            allow_all: dangerously_allow_all,
            configured,
            ..BuildPolicy::default()
        };
        for (key, verdict) in rules {
            let key = key.trim();
            if is_dep_path_key(key) {
                let normalized = strip_peers_suffix(key).to_string();
                if verdict {
                    policy.allowed_dep_paths.insert(normalized);
                } else {
                    policy.disallowed_dep_paths.insert(normalized);
                }
            } else {
                let target = if verdict {
                    &mut policy.allowed_specs
                } else {
                    &mut policy.disallowed_specs
                };
                for spec in expand_version_specs(key) {
                    target.insert(spec);
                }
            }
        }
        policy
    }

    /// A policy that allows every build (`dangerouslyAllowAllBuilds: true`).
    pub fn allow_all() -> Self {
        BuildPolicy {
            allow_all: true,
            configured: true,
            ..BuildPolicy::default()
        }
    }

    /// The verdict for one package. `dep_path` is its lockfile dep path (peers and patch
    /// suffixes allowed); whether a `true` name rule can vouch for it is derived from its shape.
    pub fn allows(&self, dep_path: &str, name: &str, version: &str) -> Option<bool> {
        self.allows_with_trust(dep_path, name, version, is_registry_dep_path(dep_path))
    }

    /// Like [`BuildPolicy::allows`], with the caller deciding whether the package identity is
    /// trustworthy (false for git-hosted or tarball resolutions even when the key looks like
    /// `name@semver`).
    pub fn allows_with_trust(
        &self,
        dep_path: &str,
        name: &str,
        version: &str,
        trusted_identity: bool,
    ) -> Option<bool> {
        if self.allow_all {
            return Some(true);
        }
        if !self.configured {
            return None;
        }
        let dep_path = strip_peers_suffix(dep_path);
        let with_version = format!("{name}@{version}");
        if self.disallowed_dep_paths.contains(dep_path) {
            return Some(false);
        }
        if self.disallowed_specs.contains(name) || self.disallowed_specs.contains(&with_version) {
            return Some(false);
        }
        if self.allowed_dep_paths.contains(dep_path) {
            return Some(true);
        }
        if self.allowed_specs.contains(name) || self.allowed_specs.contains(&with_version) {
            return trusted_identity.then_some(true);
        }
        None
    }
}

/// The `ERR_PNPM_IGNORED_BUILDS` error for these packages (`name@version` each), or `None`
/// when the list is empty. Call it after linking, when `strictDepBuilds` is on.
pub fn ignored_builds_error(packages: &[String]) -> Option<BuildError> {
    if packages.is_empty() {
        return None;
    }
    let mut packages = packages.to_vec();
    packages.sort();
    packages.dedup();
    Some(BuildError::IgnoredBuilds { packages })
}

/// The package name of a `name@version` spec (`@scope/name@1.0.0` → `@scope/name`).
pub(crate) fn name_of_spec(spec: &str) -> &str {
    match spec.get(1..).and_then(|rest| rest.find('@')) {
        Some(i) => &spec[..i + 1],
        None => spec,
    }
}

/// `name@1.0.0 || 2.0.0` → `name@1.0.0`, `name@2.0.0`; a bare name stays as it is.
fn expand_version_specs(spec: &str) -> Vec<String> {
    let name = name_of_spec(spec);
    if name.len() == spec.len() {
        return vec![spec.to_string()];
    }
    spec[name.len() + 1..]
        .split("||")
        .map(|v| format!("{name}@{}", v.trim()))
        .collect()
}

/// The dep path without its peers suffix (the patch suffix `(patch_hash=…)` is kept), as
/// pnpm's `getPkgIdWithPatchHash` does.
pub(crate) fn strip_peers_suffix(dep_path: &str) -> &str {
    let Some(open) = suffix_start(dep_path) else {
        return dep_path;
    };
    let rest = &dep_path[open..];
    if rest.starts_with("(patch_hash=") {
        if let Some(close) = rest.find(')') {
            return &dep_path[..open + close + 1];
        }
    }
    &dep_path[..open]
}

/// Where the `(…)` suffixes of a dep path begin: the first `(` after the version separator.
fn suffix_start(dep_path: &str) -> Option<usize> {
    let at = dep_path.get(1..)?.find('@')? + 1;
    dep_path[at..].find('(').map(|i| at + i)
}

/// Split `name@version` (suffixes removed) into its parts.
pub(crate) fn split_name_version(dep_path: &str) -> Option<(&str, &str)> {
    let base = match suffix_start(dep_path) {
        Some(i) => &dep_path[..i],
        None => dep_path,
    };
    let name = name_of_spec(base);
    if name.len() == base.len() || name.is_empty() {
        return None;
    }
    Some((name, &base[name.len() + 1..]))
}

/// Whether a dep path is registry-shaped: `name@<valid semver>` plus optional suffixes.
pub fn is_registry_dep_path(dep_path: &str) -> bool {
    match split_name_version(dep_path) {
        Some((_, version)) => node_semver::Version::parse(version).is_ok(),
        None => false,
    }
}

/// Whether an `allowBuilds` key addresses a dep path (or a git/tarball source) rather than a
/// name or `name@version` spec.
fn is_dep_path_key(key: &str) -> bool {
    if strip_peers_suffix(key) != key {
        return true;
    }
    if key.contains("||") {
        return false;
    }
    match split_name_version(key) {
        Some((_, version)) => {
            if node_semver::Version::parse(version).is_ok() {
                false
            } else {
                version.contains(':') || version.contains('/') || version.contains('#')
            }
        }
        None => !key.starts_with('@') && (key.contains('/') || key.contains(':')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes() {
        assert_eq!(strip_peers_suffix("a@1.0.0(b@2.0.0)"), "a@1.0.0");
        assert_eq!(
            strip_peers_suffix("a@1.0.0(patch_hash=abc)(b@2.0.0)"),
            "a@1.0.0(patch_hash=abc)"
        );
        assert_eq!(strip_peers_suffix("@s/a@1.0.0"), "@s/a@1.0.0");
        assert_eq!(
            split_name_version("@s/a@1.0.0(x@1.0.0)"),
            Some(("@s/a", "1.0.0"))
        );
        assert!(is_registry_dep_path("@s/a@1.0.0(x@1.0.0)"));
        assert!(!is_registry_dep_path(
            "a@git+https://example.invalid/a.git#abc"
        ));
        assert_eq!(
            expand_version_specs("@s/a@1.0.0 || 2.0.0"),
            vec!["@s/a@1.0.0".to_string(), "@s/a@2.0.0".to_string()]
        );
    }
}
