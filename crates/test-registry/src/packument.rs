//! Renders a package's versions as an npm packument: the full document, or the abbreviated
//! "corgi" one clients ask for with `Accept: application/vnd.npm.install-v1+json`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::package::{tarball_path, VersionEntry, FIXED_TIME};

/// The media type of the abbreviated packument.
pub const ABBREVIATED_MEDIA_TYPE: &str = "application/vnd.npm.install-v1+json";

/// Manifest fields kept in the abbreviated packument.
const ABBREVIATED_FIELDS: &[&str] = &[
    "name",
    "version",
    "deprecated",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "bundleDependencies",
    "bundledDependencies",
    "acceptDependencies",
    "bin",
    "directories",
    "engines",
    "os",
    "cpu",
    "libc",
    "funding",
    "_hasShrinkwrap",
];

/// Renders the packument of `name` whose tarballs live under `base` (`http://127.0.0.1:P`).
pub fn render(
    name: &str,
    versions: &BTreeMap<String, VersionEntry>,
    base: &str,
    abbreviated: bool,
) -> Value {
    let mut ordered: Vec<(&String, &VersionEntry)> = versions.iter().collect();
    // Semver order (node-semver's rules: a release above its prereleases); fixture versions
    // always parse, anything else sorts first.
    ordered.sort_by_key(|(version, _)| node_semver::Version::parse(version).ok());
    let mut out = Map::new();
    if !abbreviated {
        out.insert("_id".into(), Value::String(name.into()));
    }
    out.insert("name".into(), Value::String(name.into()));
    let mut tags = Map::new();
    if let Some(latest) = latest(&ordered) {
        tags.insert("latest".into(), Value::String(latest.into()));
    }
    out.insert("dist-tags".into(), Value::Object(tags));
    let published =
        |entry: &VersionEntry| entry.published.clone().unwrap_or_else(|| FIXED_TIME.into());
    // The latest change is the latest publish (RFC 3339 in one format sorts as text).
    let modified = ordered
        .iter()
        .map(|(_, entry)| published(entry))
        .max()
        .unwrap_or_else(|| FIXED_TIME.into());
    if abbreviated {
        out.insert("modified".into(), Value::String(modified.clone()));
    }
    let mut vs = Map::new();
    for (version, entry) in &ordered {
        vs.insert(
            (*version).clone(),
            Value::Object(version_doc(name, version, entry, base, abbreviated)),
        );
    }
    out.insert("versions".into(), Value::Object(vs));
    let mut time = Map::new();
    time.insert("created".into(), Value::String(FIXED_TIME.into()));
    time.insert("modified".into(), Value::String(modified));
    for (version, entry) in &ordered {
        time.insert((*version).clone(), Value::String(published(entry)));
    }
    out.insert("time".into(), Value::Object(time));
    Value::Object(out)
}

fn version_doc(
    name: &str,
    version: &str,
    entry: &VersionEntry,
    base: &str,
    abbreviated: bool,
) -> Map<String, Value> {
    let mut doc = Map::new();
    if abbreviated {
        for field in ABBREVIATED_FIELDS {
            if let Some(v) = entry.manifest.get(*field) {
                doc.insert((*field).into(), v.clone());
            }
        }
        if has_install_script(&entry.manifest) {
            doc.insert("hasInstallScript".into(), Value::Bool(true));
        }
    } else {
        doc = entry.manifest.clone();
        doc.insert("_id".into(), Value::String(format!("{name}@{version}")));
    }
    doc.insert("name".into(), Value::String(name.into()));
    doc.insert("version".into(), Value::String(version.into()));
    let mut dist = Map::new();
    dist.insert(
        "tarball".into(),
        Value::String(format!("{base}{}", tarball_path(name, version))),
    );
    for (k, v) in &entry.dist {
        dist.insert(k.clone(), v.clone());
    }
    doc.insert("dist".into(), Value::Object(dist));
    doc
}

fn has_install_script(manifest: &Map<String, Value>) -> bool {
    manifest
        .get("scripts")
        .and_then(Value::as_object)
        .is_some_and(|s| {
            ["preinstall", "install", "postinstall"]
                .iter()
                .any(|k| s.contains_key(*k))
        })
}

/// The highest release version, or the highest prerelease when there is no release.
fn latest<'a>(ordered: &[(&'a String, &VersionEntry)]) -> Option<&'a str> {
    ordered
        .iter()
        .rev()
        .find(|(v, _)| !v.contains('-'))
        .or_else(|| ordered.last())
        .map(|(v, _)| v.as_str())
}
