//! The in-memory set of packages the registry serves: versions by name, raw bytes served
//! for exact paths (hostile tarballs), and the lookups the HTTP layer needs.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::package::{tarball_path, PackageDef, VersionEntry};

/// Packages and raw overrides, guarded by the registry's lock.
#[derive(Debug, Default)]
pub struct Catalog {
    packages: BTreeMap<String, BTreeMap<String, VersionEntry>>,
    /// Tarball path → (name, version), for O(1) tarball lookups.
    tarballs: HashMap<String, (String, String)>,
    raw: HashMap<String, Bytes>,
}

impl Catalog {
    /// Packs and adds (or replaces) a version.
    pub fn add(&mut self, def: PackageDef) {
        let (name, version) = (def.name.clone(), def.version.clone());
        let entry = VersionEntry::from_def(def);
        self.insert(name, version, entry);
    }

    /// Adds an already built version.
    pub fn insert(&mut self, name: String, version: String, entry: VersionEntry) {
        self.tarballs.insert(
            tarball_path(&name, &version),
            (name.clone(), version.clone()),
        );
        self.packages
            .entry(name)
            .or_default()
            .insert(version, entry);
    }

    /// Serves `bytes` verbatim for requests to `path`, ahead of anything else.
    pub fn serve_raw(&mut self, path: &str, bytes: Bytes) {
        self.raw.insert(normalize(path), bytes);
    }

    pub fn raw(&self, path: &str) -> Option<Bytes> {
        self.raw.get(path).cloned()
    }

    pub fn versions(&self, name: &str) -> Option<&BTreeMap<String, VersionEntry>> {
        self.packages.get(name)
    }

    pub fn has_package(&self, name: &str) -> bool {
        self.packages.contains_key(name)
    }

    pub fn version(&self, name: &str, version: &str) -> Option<&VersionEntry> {
        self.packages.get(name).and_then(|v| v.get(version))
    }

    /// The tarball served at `path` (already decoded), if a known version owns it.
    pub fn tarball(&self, path: &str) -> Option<Bytes> {
        let (name, version) = self.tarballs.get(path)?;
        self.version(name, version).map(|e| e.tarball.clone())
    }

    /// Applies packument overrides to an existing version; false when it does not exist.
    pub fn override_manifest(
        &mut self,
        name: &str,
        version: &str,
        overrides: &Map<String, Value>,
    ) -> bool {
        match self.packages.get_mut(name).and_then(|v| v.get_mut(version)) {
            Some(entry) => {
                entry.apply_overrides(overrides);
                true
            }
            None => false,
        }
    }

    /// Every `(name, version)` held, sorted.
    pub fn list(&self) -> Vec<(String, String)> {
        self.packages
            .iter()
            .flat_map(|(n, vs)| vs.keys().map(move |v| (n.clone(), v.clone())))
            .collect()
    }
}

/// Makes sure a path starts with `/`.
pub fn normalize(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}
