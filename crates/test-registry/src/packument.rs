//! Renders a package's versions as an npm packument: the full document, or the abbreviated
//! "corgi" one clients ask for with `Accept: application/vnd.npm.install-v1+json`.

use std::cmp::Ordering;
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
    ordered.sort_by(|a, b| compare_versions(a.0, b.0));
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
    if abbreviated {
        out.insert("modified".into(), Value::String(FIXED_TIME.into()));
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
    time.insert("modified".into(), Value::String(FIXED_TIME.into()));
    for (version, _) in &ordered {
        time.insert((*version).clone(), Value::String(FIXED_TIME.into()));
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

/// Orders `major.minor.patch[-pre][+build]` versions; a release sorts above its prereleases.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (Vec<u64>, Option<&str>) {
        let v = v.split('+').next().unwrap_or(v);
        let (core, pre) = match v.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (v, None),
        };
        (
            core.split('.').map(|n| n.parse().unwrap_or(0)).collect(),
            pre,
        )
    }
    let (ca, pa) = split(a);
    let (cb, pb) = split(b);
    ca.cmp(&cb).then_with(|| match (pa, pb) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => compare_prerelease(x, y),
    })
}

fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let mut xs = a.split('.');
    let mut ys = b.split('.');
    loop {
        match (xs.next(), ys.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}
