//! The in-memory shape of a v9 `pnpm-lock.yaml`, field for field. Sections keep the file's order
//! (`IndexMap`) so a lockfile read and written again comes out the same.

use indexmap::IndexMap;
use serde::Deserialize;

use crate::resolution::Resolution;

/// A parsed `pnpm-lock.yaml` (the main document; pnpm 11's leading env document is skipped).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lockfile {
    /// The version string as written, e.g. `9.0`.
    pub lockfile_version: String,
    #[serde(default)]
    pub settings: Option<LockfileSettings>,
    /// `catalogs.<catalog name>.<dep>` → `{specifier, version}`; the default catalog is `default`.
    #[serde(default)]
    pub catalogs: IndexMap<String, IndexMap<String, ImporterDep>>,
    /// `overrides.<selector>` → spec, after catalog resolution.
    #[serde(default)]
    pub overrides: IndexMap<String, String>,
    #[serde(default)]
    pub package_extensions_checksum: Option<String>,
    #[serde(default)]
    pub pnpmfile_checksum: Option<String>,
    /// `<name>@<version>` or `<name>` → sha256 hex of the patch file. pnpm 9's `{path, hash}`
    /// objects are migrated to their hash on read.
    #[serde(default, deserialize_with = "crate::de::patched_dependencies")]
    pub patched_dependencies: Option<IndexMap<String, String>>,
    /// One entry per project, keyed `.` or the POSIX path relative to the lockfile dir.
    #[serde(default)]
    pub importers: IndexMap<String, ProjectSnapshot>,
    /// Keyed by dep path without peers/patch suffix.
    #[serde(default)]
    pub packages: IndexMap<String, PackageInfo>,
    /// Keyed by the full dep path.
    #[serde(default)]
    pub snapshots: IndexMap<String, SnapshotEntry>,
    #[serde(default)]
    pub ignored_optional_dependencies: Vec<String>,
    /// `time.<depPath>` → ISO date (time-based resolution mode only).
    #[serde(default)]
    pub time: IndexMap<String, String>,
}

/// `settings:` recorded in the lockfile; absent fields keep pnpm's defaults when compared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockfileSettings {
    #[serde(default)]
    pub auto_install_peers: Option<bool>,
    #[serde(default)]
    pub exclude_links_from_lockfile: Option<bool>,
    #[serde(default)]
    pub dedupe_peers: Option<bool>,
    #[serde(default)]
    pub peers_suffix_max_length: Option<u64>,
    #[serde(default)]
    pub inject_workspace_packages: Option<bool>,
}

/// `{specifier, version}` as found in importers and catalogs. `version` is a *ref* (§1.3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ImporterDep {
    pub specifier: String,
    pub version: String,
}

/// One `importers.<id>` entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSnapshot {
    #[serde(default)]
    pub dependencies: IndexMap<String, ImporterDep>,
    #[serde(default)]
    pub dev_dependencies: IndexMap<String, ImporterDep>,
    #[serde(default)]
    pub optional_dependencies: IndexMap<String, ImporterDep>,
    /// `dependenciesMeta.<dep>` → e.g. `{injected: true}`; kept as JSON for deep comparison.
    #[serde(default)]
    pub dependencies_meta: IndexMap<String, serde_json::Value>,
    #[serde(default)]
    pub publish_directory: Option<String>,
}

impl ProjectSnapshot {
    /// Every direct dependency of the project: `(alias, dep, group)`, prod first, then dev, then
    /// optional.
    pub fn all_deps(&self) -> impl Iterator<Item = (&String, &ImporterDep, DepGroup)> {
        let prod = self
            .dependencies
            .iter()
            .map(|(a, d)| (a, d, DepGroup::Prod));
        let dev = self
            .dev_dependencies
            .iter()
            .map(|(a, d)| (a, d, DepGroup::Dev));
        let opt = self
            .optional_dependencies
            .iter()
            .map(|(a, d)| (a, d, DepGroup::Optional));
        prod.chain(dev).chain(opt)
    }
}

/// Which `package.json` field a direct dependency comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DepGroup {
    Prod,
    Dev,
    Optional,
}

/// `bundledDependencies`: a list of names, or `true` for "all of them".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundledDependencies {
    All(bool),
    Names(Vec<String>),
}

/// Read through a visitor rather than `#[serde(untagged)]`: an untagged enum buffers the value
/// first, and a bundled package named like a YAML 1.1 boolean (`y`, `on`) came back out of
/// that buffer as a boolean, not a name, so such a lockfile was refused as broken. Each name
/// is read as a string here, as pnpm reads it.
impl<'de> Deserialize<'de> for BundledDependencies {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> serde::de::Visitor<'de> for Either {
            type Value = BundledDependencies;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of package names, or true")
            }
            fn visit_bool<E: serde::de::Error>(self, all: bool) -> Result<Self::Value, E> {
                Ok(BundledDependencies::All(all))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                Ok(BundledDependencies::Names(names))
            }
        }
        deserializer.deserialize_any(Either)
    }
}

/// `peerDependenciesMeta.<peer>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PeerDependencyMeta {
    #[serde(default)]
    pub optional: bool,
}

/// One `packages.<depPath without suffix>` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageInfo {
    pub resolution: Resolution,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub engines: IndexMap<String, String>,
    #[serde(default)]
    pub cpu: Option<Vec<String>>,
    #[serde(default)]
    pub os: Option<Vec<String>>,
    #[serde(default)]
    pub libc: Option<Vec<String>>,
    #[serde(default)]
    pub deprecated: Option<String>,
    #[serde(default)]
    pub has_bin: bool,
    #[serde(default)]
    pub prepare: Option<bool>,
    #[serde(default)]
    pub requires_build: Option<bool>,
    #[serde(default, alias = "bundleDependencies")]
    pub bundled_dependencies: Option<BundledDependencies>,
    #[serde(default)]
    pub peer_dependencies: IndexMap<String, String>,
    #[serde(default)]
    pub peer_dependencies_meta: IndexMap<String, PeerDependencyMeta>,
}

/// One `snapshots.<depPath>` entry: the package's resolved edges.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotEntry {
    #[serde(default)]
    pub dependencies: IndexMap<String, String>,
    #[serde(default)]
    pub optional_dependencies: IndexMap<String, String>,
    #[serde(default)]
    pub transitive_peer_dependencies: Vec<String>,
    /// Every path to this package goes through an optional edge.
    #[serde(default)]
    pub optional: bool,
    #[serde(default)]
    pub id: Option<String>,
}

impl Lockfile {
    /// The `packages` entry for a snapshot key (its dep path with the peers/patch suffix removed).
    pub fn package(&self, dep_path: &str) -> Option<&PackageInfo> {
        self.packages.get(crate::dep_path::remove_suffix(dep_path))
    }

    /// pnpm's package id for a snapshot key (store key, progress logs).
    pub fn package_id(&self, dep_path: &str) -> String {
        let id = self
            .snapshots
            .get(dep_path)
            .and_then(|s| s.id.as_deref())
            .or_else(|| self.package(dep_path).and_then(|p| p.id.as_deref()));
        crate::dep_path::package_id(dep_path, id)
    }

    /// The package name and version of a snapshot, preferring the `packages` entry's fields over
    /// the key (`nameVerFromPkgSnapshot`).
    pub fn name_version(&self, dep_path: &str) -> (String, String) {
        let parts = crate::dep_path::parse_dep_path(dep_path);
        let info = self.package(dep_path);
        let name = info
            .and_then(|p| p.name.clone())
            .unwrap_or_else(|| parts.name.to_string());
        let version = info
            .and_then(|p| p.version.clone())
            .unwrap_or_else(|| parts.version.to_string());
        (name, version)
    }
}
