//! Which `patchedDependencies` entry applies to a package (`name@version` first, then a
//! `name@<range>` key, then a bare `name`), and the `allowUnusedPatches` check for entries
//! that matched nothing.

use crate::error::BuildError;
use crate::graph::PatchRef;
use crate::policy::name_of_spec;
use indexmap::IndexMap;
use std::collections::HashSet;

/// The `patchedDependencies` setting, with paths resolved and hashes known.
#[derive(Debug, Clone, Default)]
pub struct PatchedDependencies {
    entries: IndexMap<String, PatchRef>,
}

impl PatchedDependencies {
    /// Wrap `key → patch` entries (`key` as written in `pnpm-workspace.yaml`).
    pub fn new(entries: IndexMap<String, PatchRef>) -> Self {
        PatchedDependencies { entries }
    }

    /// Every key, in configuration order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The entry (key and patch) for `name@version`, if any.
    pub fn find(&self, name: &str, version: &str) -> Option<(&str, &PatchRef)> {
        let exact = format!("{name}@{version}");
        if let Some((k, p)) = self.entries.get_key_value(&exact) {
            return Some((k.as_str(), p));
        }
        if let Ok(v) = node_semver::Version::parse(version) {
            for (k, p) in &self.entries {
                let key_name = name_of_spec(k);
                if key_name != name || key_name.len() == k.len() {
                    continue;
                }
                let range = &k[key_name.len() + 1..];
                if node_semver::Range::parse(range).is_ok_and(|r| r.satisfies(&v)) {
                    return Some((k.as_str(), p));
                }
            }
        }
        self.entries
            .get_key_value(name)
            .map(|(k, p)| (k.as_str(), p))
    }
}

/// Check that every patch key was used. Returns the warning text for unused patches when
/// `allow_unused` is on, or `ERR_PNPM_UNUSED_PATCH` when it is off.
pub fn check_unused_patches<'a>(
    keys: impl IntoIterator<Item = &'a str>,
    used: &HashSet<String>,
    allow_unused: bool,
) -> Result<Option<String>, BuildError> {
    let unused: Vec<String> = keys
        .into_iter()
        .filter(|k| !used.contains(*k))
        .map(str::to_string)
        .collect();
    if unused.is_empty() {
        return Ok(None);
    }
    if allow_unused {
        return Ok(Some(format!(
            "The following patches were not used: {}",
            unused.join(", ")
        )));
    }
    Err(BuildError::UnusedPatches { keys: unused })
}
