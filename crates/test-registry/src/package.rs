//! One package version as the registry holds it: its manifest, its packed tarball and the
//! `dist` facts derived from the bytes. Built from files (fixtures, `add_package`) or from an
//! existing tarball (the mirror).

use std::io::Read;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::digest::{sha1_hex, sha512_integrity};
use crate::pack::pack_tarball;

/// The publish date every version carries: fixed and old, so `minimumReleaseAge` never
/// rejects a fixture.
pub const FIXED_TIME: &str = "2020-01-01T00:00:00.000Z";

/// A package version to add to the registry.
#[derive(Debug, Clone, Default)]
pub struct PackageDef {
    pub name: String,
    pub version: String,
    /// `(path relative to the package root, bytes, mode)`. When no `package.json` is among
    /// them, one is generated from `name`, `version` and the non-`dist` overrides.
    pub files: Vec<(String, Vec<u8>, u32)>,
    /// Merged over the manifest in the packument (top-level keys replace; a `dist` object is
    /// merged key by key into the computed `dist`, and a `null` value deletes the key).
    pub manifest_overrides: Map<String, Value>,
    /// The version's publish time in the packument's `time` (RFC 3339); [`FIXED_TIME`] when
    /// `None`.
    pub published: Option<String>,
}

impl PackageDef {
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        PackageDef {
            name: name.into(),
            version: version.into(),
            ..PackageDef::default()
        }
    }

    /// Adds a file (mode 0o644 unless `mode` has an exec bit).
    pub fn file(mut self, path: impl Into<String>, bytes: impl Into<Vec<u8>>, mode: u32) -> Self {
        self.files.push((path.into(), bytes.into(), mode));
        self
    }

    /// Sets the publish time the packument gives this version (RFC 3339).
    pub fn published(mut self, time: impl Into<String>) -> Self {
        self.published = Some(time.into());
        self
    }

    /// Sets one manifest field (goes into the generated `package.json` and the packument).
    pub fn field(mut self, key: impl Into<String>, value: Value) -> Self {
        self.manifest_overrides.insert(key.into(), value);
        self
    }
}

/// A version ready to serve.
#[derive(Debug, Clone)]
pub struct VersionEntry {
    /// The manifest as published (package.json plus overrides, without `dist`).
    pub manifest: Map<String, Value>,
    pub tarball: Bytes,
    /// The computed dist, after overrides.
    pub dist: Map<String, Value>,
    /// See [`PackageDef::published`].
    pub published: Option<String>,
}

impl VersionEntry {
    /// Packs `def` and derives its dist.
    pub fn from_def(def: PackageDef) -> VersionEntry {
        let PackageDef {
            name,
            version,
            mut files,
            manifest_overrides,
            published,
        } = def;
        let has_manifest = files.iter().any(|(p, _, _)| p == "package.json");
        let mut manifest = if has_manifest {
            files
                .iter()
                .find(|(p, _, _)| p == "package.json")
                .and_then(|(_, b, _)| serde_json::from_slice::<Map<String, Value>>(b).ok())
                .unwrap_or_default()
        } else {
            let mut m = Map::new();
            m.insert("name".into(), Value::String(name.clone()));
            m.insert("version".into(), Value::String(version.clone()));
            for (k, v) in &manifest_overrides {
                if k != "dist" && !v.is_null() {
                    m.insert(k.clone(), v.clone());
                }
            }
            let text = serde_json::to_vec_pretty(&Value::Object(m.clone())).unwrap_or_default();
            files.push(("package.json".into(), text, 0o644));
            m
        };
        manifest
            .entry("name")
            .or_insert_with(|| Value::String(name.clone()));
        manifest
            .entry("version")
            .or_insert_with(|| Value::String(version.clone()));
        let unpacked: u64 = files.iter().map(|(_, b, _)| b.len() as u64).sum();
        let count = files.len() as u64;
        let tarball = Bytes::from(pack_tarball(&files));
        let mut entry = VersionEntry::from_tarball(manifest, tarball, count, unpacked);
        entry.published = published;
        entry.apply_overrides(&manifest_overrides);
        entry
    }

    /// Wraps an already packed tarball.
    pub fn from_tarball(
        manifest: Map<String, Value>,
        tarball: Bytes,
        file_count: u64,
        unpacked_size: u64,
    ) -> VersionEntry {
        let mut dist = Map::new();
        dist.insert(
            "integrity".into(),
            Value::String(sha512_integrity(&tarball)),
        );
        dist.insert("shasum".into(), Value::String(sha1_hex(&tarball)));
        dist.insert("fileCount".into(), Value::from(file_count));
        dist.insert("unpackedSize".into(), Value::from(unpacked_size));
        VersionEntry {
            manifest,
            tarball,
            dist,
            published: None,
        }
    }

    /// Reads `package/package.json`, the file count and the unpacked size out of a gzipped
    /// tarball (the mirror's path).
    pub fn from_tgz(tarball: Bytes) -> Result<VersionEntry, String> {
        let gz = flate2::read::GzDecoder::new(tarball.as_ref());
        let mut archive = tar::Archive::new(gz);
        let mut manifest = None;
        let mut count = 0u64;
        let mut size = 0u64;
        let entries = archive.entries().map_err(|e| e.to_string())?;
        for entry in entries {
            let mut entry = entry.map_err(|e| e.to_string())?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            count += 1;
            size += entry.size();
            let path = entry.path().map_err(|e| e.to_string())?;
            let mut parts = path.components();
            parts.next();
            if manifest.is_none() && parts.as_path() == std::path::Path::new("package.json") {
                let mut text = Vec::new();
                entry.read_to_end(&mut text).map_err(|e| e.to_string())?;
                manifest = serde_json::from_slice::<Map<String, Value>>(&text).ok();
            }
        }
        let manifest = manifest.ok_or_else(|| "no readable package/package.json".to_string())?;
        Ok(VersionEntry::from_tarball(manifest, tarball, count, size))
    }

    /// Applies packument overrides (see [`PackageDef::manifest_overrides`]).
    pub fn apply_overrides(&mut self, overrides: &Map<String, Value>) {
        for (k, v) in overrides {
            if k == "dist" {
                if let Value::Object(d) = v {
                    for (dk, dv) in d {
                        if dv.is_null() {
                            self.dist.remove(dk);
                        } else {
                            self.dist.insert(dk.clone(), dv.clone());
                        }
                    }
                }
            } else if v.is_null() {
                self.manifest.remove(k);
            } else {
                self.manifest.insert(k.clone(), v.clone());
            }
        }
    }

    /// The advertised `dist.integrity`, if any.
    pub fn integrity(&self) -> Option<String> {
        self.dist
            .get("integrity")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
}

/// The scope-less part of a package name (`@scope/name` → `name`).
pub fn scopeless(name: &str) -> &str {
    match name.strip_prefix('@') {
        Some(rest) => rest.split_once('/').map(|(_, n)| n).unwrap_or(rest),
        None => name,
    }
}

/// The URL path of a version's tarball: `/<name>/-/<scopeless>-<version>.tgz`.
pub fn tarball_path(name: &str, version: &str) -> String {
    let version = version.split('+').next().unwrap_or(version);
    format!("/{name}/-/{}-{version}.tgz", scopeless(name))
}
